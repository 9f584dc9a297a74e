"""Translate a TrainSettings into the library objects: LoraConfig, BitsAndBytesConfig, TrainingArguments.

Each function builds its object without loading a model, so tests check the translation directly.
Heavy imports stay inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from text2sql_cli.errors import EnvironmentNotSupported
from text2sql_cli.training.config import TrainSettings

CHECKPOINT_DIR = "checkpoints"


def lora_config(cfg: TrainSettings) -> Any:
    from peft import LoraConfig, TaskType

    return LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=cfg.target_modules(),
        bias="none",
    )


def require_cuda_for_quant(cfg: TrainSettings, cuda_available: bool | None = None) -> None:
    """bitsandbytes imports on CPU but k-bit training needs CUDA: say so before loading anything."""
    if cfg.quant == "none":
        return
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if not cuda_available:
        raise EnvironmentNotSupported(
            f"--quant {cfg.quant} (QLoRA) needs a CUDA GPU and none is visible",
            hint="run on a GPU machine with bitsandbytes installed (pip install 'text2sql-cli[gpu]'), "
            "or train in full precision here with --quant none",
        )


def compute_dtype(bf16_supported: bool) -> Any:
    import torch

    return torch.bfloat16 if bf16_supported else torch.float16


def bnb_config(cfg: TrainSettings, bf16_supported: bool) -> Any:
    """NF4 with double quantization (4bit) or LLM.int8 (8bit); None for --quant none."""
    if cfg.quant == "none":
        return None
    from transformers import BitsAndBytesConfig

    if cfg.quant == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype(bf16_supported),
    )


def mixed_precision(cuda_available: bool, bf16_supported: bool) -> str:
    """'bf16', 'fp16' or 'no': 16-bit autocast on a GPU, fp32 on CPU (CPU fp16 is slow and lossy)."""
    if not cuda_available:
        return "no"
    return "bf16" if bf16_supported else "fp16"


def shared_arguments(cfg: TrainSettings, out: Path, *, precision: str, use_cpu: bool) -> dict[str, Any]:
    """The TrainingArguments fields SFT and GRPO (GRPOConfig) set alike: batch, schedule, mixed
    precision, logging, checkpoints, seeds and device."""
    return {
        "output_dir": str(out / CHECKPOINT_DIR),
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": cfg.grad_accum,
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps,
        "learning_rate": cfg.lr,
        "lr_scheduler_type": cfg.lr_scheduler,
        # transformers 5 takes a float in [0, 1) here as the warmup share of all steps
        "warmup_steps": cfg.warmup_ratio,
        "weight_decay": cfg.weight_decay,
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "logging_steps": cfg.log_every,
        "logging_first_step": True,
        "save_strategy": "steps",
        "save_steps": cfg.save_every,
        "save_total_limit": cfg.save_total_limit,
        "report_to": cfg.report_to,
        "seed": cfg.seed,
        "data_seed": cfg.seed,
        "use_cpu": use_cpu,
        # t2s.training.callbacks.RichProgress shows progress; tqdm would draw a second bar
        "disable_tqdm": True,
    }


def training_arguments(
    cfg: TrainSettings, out: Path, *, precision: str = "no", has_eval: bool = False, use_cpu: bool = False
) -> Any:
    from transformers import TrainingArguments

    return TrainingArguments(
        **shared_arguments(cfg, out, precision=precision, use_cpu=use_cpu),
        per_device_eval_batch_size=cfg.batch_size,
        optim="adamw_torch",
        activation_checkpointing=cfg.gradient_checkpointing,  # transformers 5 name of gradient checkpointing
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=cfg.log_every if has_eval else None,
        # our collator builds exactly the columns the model takes
        remove_unused_columns=False,
        # every LoRA parameter takes part in every step; skipping the search saves a DDP pass
        ddp_find_unused_parameters=False,
        dataloader_pin_memory=not use_cpu,
    )
