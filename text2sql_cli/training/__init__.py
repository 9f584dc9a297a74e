"""LoRA / QLoRA supervised fine-tuning for Text-to-SQL (`t2s train`).

- `config`: TrainSettings (flags, YAML, T2S_TRAIN_* env, presets); torch-free.
- `options`: TrainSettings -> LoraConfig / BitsAndBytesConfig / TrainingArguments.
- `data`: rows -> token ids through prompts.encode, completion-only labels, pad and packing collators.
- `run`: `train(cfg)`, the run directory and run.json.
- `grpo`, `rewards`: `--method grpo`, TRL's GRPOTrainer with an execution reward.
- `callbacks`: the rich progress bar, the loss log and checkpoint-on-signal (imports transformers;
  loaded lazily).

`text2sql_cli.quiet` (shared with infer and export) silences named, known-harmless library messages.

Importing this package loads no torch, transformers or peft.
"""

from text2sql_cli.training.config import PRESETS, TrainSettings, load_config_file, resolve_config
from text2sql_cli.training.run import RUN_FILE, TrainResult
from text2sql_cli.training.run import train as train_sft


def train(cfg: TrainSettings, *, callbacks: tuple = (), on_ready=None) -> TrainResult:
    """`t2s train`: SFT (run.py), or GRPO with an execution reward for --method grpo (grpo.py).
    `on_ready()` is called once the inputs are checked, just before the base model loads."""
    if cfg.method == "grpo":
        from text2sql_cli.training.grpo import train_grpo

        return train_grpo(cfg, callbacks=callbacks, on_ready=on_ready)
    return train_sft(cfg, callbacks=callbacks, on_ready=on_ready)


__all__ = [
    "PRESETS",
    "RUN_FILE",
    "TrainSettings",
    "TrainResult",
    "load_config_file",
    "resolve_config",
    "train",
]
