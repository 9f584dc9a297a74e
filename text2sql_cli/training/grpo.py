"""`t2s train --method grpo`: GRPO with an execution reward, through TRL's GRPOTrainer, with LoRA.

Start from a base model (a new LoRA adapter, shaped by --r/--alpha/--targets) or from an SFT run
(`--init runs/sft`: its base, its adapter, trained further, and its saved template). For each
prompt TRL samples `--num-generations` completions; `rewards.ExecutionReward` scores them by
running them against gold (Arctic-Text2SQL-R1's 1 / 0.1 / 0 by default), and the group-relative
advantages train the adapter. `--beta` > 0 adds a KL term to the starting model.

The run directory is laid out like an SFT run (run.py), so infer, eval, export, sweep and report
use it unchanged: the adapter (over the same base), tokenizer, `t2s_template.json`,
`train_log.jsonl` ({step, loss, lr, reward, reward_std, frac_reward_zero_std, kl, ...} per logged
step; frac_reward_zero_std is the share of prompt groups whose completions all got the same
reward, which give no gradient) and `run.json` (written last) with `method: grpo`, the reward
settings and the count of each verdict over all completions.

Limits: the prompt is the template's plain text (a `chat` template is refused: TRL would add a
second BOS); no --resume and no --eval-file yet; `--use-vllm` needs CUDA and the vllm package
(TRL's colocate mode).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from text2sql_cli.artifacts import RUN_FILE, TRAIN_LOG, RunRecord, sha256_file, write_run
from text2sql_cli.errors import EnvironmentNotSupported, InputError, UsageError
from text2sql_cli.sql.goldmatch import default_mode
from text2sql_cli.training.config import TrainSettings
from text2sql_cli.training.options import shared_arguments
from text2sql_cli.training.rewards import RewardSettings
from text2sql_cli.training.run import (
    TrainResult,
    check_paths,
    loss_summary,
    precision_label,
    run_info,
    train_until_stopped,
    training_info,
)

LOG_FILE = TRAIN_LOG

REWARD_LOG_KEYS = ("reward", "reward_std", "frac_reward_zero_std", "kl", "completions/mean_length")


def resolve_init(cfg: TrainSettings) -> TrainSettings:
    """With --init: the SFT run's base model (when --base is not given) and template; checked."""
    if cfg.init is None:
        return cfg
    init = Path(cfg.init)
    if not (init / "adapter_config.json").is_file():
        raise UsageError(
            f"--init {init}: not a t2s run dir (no adapter_config.json)", hint="give an SFT run dir"
        )
    base = cfg.base
    if base is None:
        try:
            meta = json.loads((init / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = {}
        base = meta.get("base_model") or json.loads((init / "adapter_config.json").read_text()).get(
            "base_model_name_or_path"
        )
    from text2sql_cli.prompts import load_template

    saved = load_template(init)
    update: dict[str, Any] = {"base": base}
    if saved is not None:
        if "template" in cfg.model_fields_set and cfg.template != saved.name:
            raise UsageError(
                f"--template {cfg.template} differs from the template {saved.name!r} {init} was trained with",
                hint="drop --template: GRPO continues with the SFT run's template",
            )
        update["template"] = saved.name
    return cfg.model_copy(update=update)


def check_grpo(cfg: TrainSettings, cuda: bool) -> None:
    """Everything GRPO refuses, before any model loads, all at once."""
    problems = []
    if cfg.resume:
        problems.append("--resume is not supported with --method grpo yet (start a new --out)")
    if cfg.eval_file is not None:
        problems.append("--eval-file is for SFT (GRPO logs rewards, not a validation loss)")
    if cfg.template == "chat":
        problems.append("--template chat is not supported with --method grpo (TRL would add a second BOS)")
    generation_batch = cfg.batch_size * cfg.grad_accum
    if generation_batch % cfg.num_generations:
        problems.append(
            f"--batch-size x --grad-accum ({generation_batch}) must be a multiple of --num-generations "
            f"({cfg.num_generations}): each prompt's completions form one group"
        )
    if _targets_lm_head(cfg):
        problems.append(
            "a LoRA adapter on lm_head cannot be trained with GRPO (TRL computes log-probabilities from "
            "lm_head.weight directly): "
            + (
                "--init's SFT run adapted lm_head; train it without"
                if cfg.init
                else "drop lm_head from --targets"
            )
        )
    if cfg.db_dir is not None and not Path(cfg.db_dir).is_dir():
        problems.append(f"--db-dir {cfg.db_dir}: no such directory")
    if problems:
        raise UsageError("; ".join(problems))
    if cfg.use_vllm and (not cuda or importlib.util.find_spec("vllm") is None):
        raise EnvironmentNotSupported(
            "--use-vllm needs a CUDA GPU and the vllm package"
            + ("" if cuda else " (this machine has no CUDA GPU)"),
            hint="pip install vllm on a GPU machine, or drop --use-vllm (transformers generates)",
        )


def _targets_lm_head(cfg: TrainSettings) -> bool:
    if cfg.init is None:
        targets = cfg.target_modules()
        return isinstance(targets, list) and "lm_head" in targets
    adapter = json.loads((Path(cfg.init) / "adapter_config.json").read_text(encoding="utf-8"))
    targets = adapter.get("target_modules") or []
    return "lm_head" in (targets if isinstance(targets, list) else [targets])


def reward_settings(cfg: TrainSettings) -> RewardSettings:
    return RewardSettings(
        scheme=cfg.reward,
        format_weight=cfg.format_reward,
        instances=cfg.reward_instances,
        seed=cfg.seed,
        timeout=cfg.reward_timeout,
        db_dir=str(cfg.db_dir) if cfg.db_dir else None,
        mode=default_mode(cfg.db_dir),  # `t2s eval`'s comparison for the same databases
    )


def prompt_rows(cfg: TrainSettings, template: Any, tokenizer: Any) -> tuple[list[dict], dict[str, Any]]:
    """The dataset TRL samples from: the rendered prompt plus the columns the reward needs."""
    from text2sql_cli.data import load_examples, parse_columns

    path = Path(cfg.data)
    examples, _ = load_examples(path, columns=parse_columns(cfg.columns), drop_na=cfg.drop_na)
    if not examples:
        raise InputError(path, "has no rows", hint="give a file with at least one row")
    rows, too_long = [], 0
    for e in examples:
        prompt = template.render_prompt(e.context, e.question, tokenizer)
        if len(tokenizer(prompt)["input_ids"]) + cfg.max_completion_len > cfg.max_len:
            too_long += 1
            continue
        rows.append(
            {"prompt": prompt, "id": e.id, "db_id": str(e.db_id), "context": e.context, "gold": e.answer}
        )
    if not rows:
        raise InputError(
            path, f"no prompt fits --max-len {cfg.max_len} with --max-completion-len {cfg.max_completion_len}"
        )
    info = {
        "path": str(path.resolve()),
        "sha256": sha256_file(path),
        "rows": len(rows),
        "skipped_too_long": too_long,
    }
    return rows, info


def grpo_arguments(cfg: TrainSettings, out: Path, *, precision: str, use_cpu: bool) -> Any:
    from trl import GRPOConfig

    return GRPOConfig(
        **shared_arguments(cfg, out, precision=precision, use_cpu=use_cpu),  # batch_size: completions
        **({"gradient_checkpointing": True} if cfg.gradient_checkpointing else {}),  # deprecated alias warns
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_len,
        temperature=cfg.temperature,
        beta=cfg.beta,
        use_vllm=cfg.use_vllm,
        vllm_mode="colocate",
        reward_weights=[1.0, cfg.format_reward] if cfg.format_reward > 0 else None,
        log_completions=False,
    )


def train_grpo(cfg: TrainSettings, *, callbacks: tuple[Any, ...] = (), on_ready: Any = None) -> TrainResult:
    """Train with GRPO as `cfg` says and write a self-describing run directory (module docstring)."""
    from text2sql_cli.prompts import get_template
    from text2sql_cli.training.options import require_cuda_for_quant

    cfg = resolve_init(cfg)
    check_paths(cfg)
    if Path(cfg.base).expanduser().is_dir():
        cfg = cfg.model_copy(update={"base": str(Path(cfg.base).expanduser().resolve())})
    import torch

    cuda = torch.cuda.is_available()
    check_grpo(cfg, cuda)
    require_cuda_for_quant(cfg, cuda)
    template = get_template(cfg.template)
    from text2sql_cli.quiet import quiet_known_noise

    with quiet_known_noise():
        return _run(cfg, template, cuda, callbacks, on_ready)


def _run(
    cfg: TrainSettings, template: Any, cuda: bool, callbacks: tuple[Any, ...], on_ready: Any = None
) -> TrainResult:
    import torch
    from transformers.utils import logging as hf_logging
    from trl import GRPOTrainer

    from text2sql_cli.prompts import save_template
    from text2sql_cli.training.callbacks import RichProgress, StopOnSignal
    from text2sql_cli.training.options import lora_config, mixed_precision
    from text2sql_cli.training.rewards import ExecutionReward, FormatReward
    from text2sql_cli.training.run import load_model, load_tokenizer

    hf_logging.set_verbosity_warning()
    out = Path(cfg.out)
    bf16 = cuda and torch.cuda.is_bf16_supported(including_emulation=False)
    tokenizer = load_tokenizer(cfg)
    tokenizer.padding_side = "left"  # GRPOTrainer generates from left-padded prompts
    rows, data_info = prompt_rows(cfg, template, tokenizer)
    from datasets import Dataset

    if on_ready is not None:
        on_ready()
    from transformers import set_seed

    set_seed(cfg.seed)  # seeded runs repeat: the base's and the adapter's draws start from --seed
    model = load_model(cfg, cuda=cuda, bf16=bf16)
    peft_config = None
    if cfg.init is not None:
        model = _load_init_adapter(model, Path(cfg.init).resolve())
    else:
        peft_config = lora_config(cfg)
    precision = mixed_precision(cuda, bf16)
    settings = reward_settings(cfg)
    execution = ExecutionReward(settings, tuple(template.stop))
    rewards: list[Any] = [execution] + ([FormatReward(tuple(template.stop))] if cfg.format_reward > 0 else [])
    stopper, progress = StopOnSignal(), RichProgress()
    (out / LOG_FILE).unlink(missing_ok=True)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=grpo_arguments(cfg, out, precision=precision, use_cpu=not cuda),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[RewardLog(out / LOG_FILE), stopper, progress, *callbacks],
    )
    is_main = trainer.is_world_process_zero()
    output, runtime_s = train_until_stopped(trainer, stopper, progress)
    step = trainer.state.global_step
    if stopper.stopped_at is not None:
        from text2sql_cli.training.run import last_checkpoint

        return TrainResult(out, False, step, checkpoint=last_checkpoint(out), is_main=is_main)
    trainer.save_model(str(out))
    if is_main:
        tokenizer.save_pretrained(str(out))
    losses = loss_summary(out / LOG_FILE)
    training = training_info(
        cfg, trainer, output, losses, runtime_s, precision_label(precision, cfg.quant), cuda
    )
    world = trainer.args.world_size
    training |= {
        **reward_summary(out / LOG_FILE),
        "prompts_per_step": cfg.batch_size * cfg.grad_accum * world // cfg.num_generations,
    }
    info = run_info(cfg, template, data={"train": data_info, "eval": None}, training=training) | {
        "method": "grpo",
        "init": str(Path(cfg.init).resolve()) if cfg.init else None,
        "reward": settings.record(),
        "reward_verdicts": dict(execution.statuses),
    }
    if is_main:
        save_template(out, template)
        write_run(out, RunRecord.model_validate(info))  # last: its existence means the run completed
    trainer.accelerator.wait_for_everyone()
    return TrainResult(out, True, step, is_main=is_main, info=info, **losses)


def _load_init_adapter(model, adapter_dir: Path):
    """The SFT run's adapter, trainable; any sign that its weights did not all land is an error."""
    import warnings

    from peft import PeftModel

    from text2sql_cli.errors import ModelLoadError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)
    except Exception as err:  # peft raises many kinds; the message matters
        raise ModelLoadError(
            f"--init {adapter_dir}: cannot load its adapter: {type(err).__name__}: {err}"
        ) from None
    missing = [str(w.message) for w in caught if "missing adapter keys" in str(w.message)]
    if missing:
        raise ModelLoadError(f"--init {adapter_dir}: the adapter did not load completely: {missing[0][:300]}")
    return model


def reward_summary(path: Path) -> dict[str, float | None]:
    from text2sql_cli.io import read_jsonl

    rows = read_jsonl(path, tolerate_torn_tail=True) if path.exists() else []
    rewards = [r["reward"] for r in rows if r.get("reward") is not None]
    return {
        "first_reward": rewards[0] if rewards else None,
        "final_reward": rewards[-1] if rewards else None,
        "mean_reward": sum(rewards) / len(rewards) if rewards else None,
    }


def _reward_log_class():
    from text2sql_cli.training.callbacks import LossLog

    class _RewardLog(LossLog):
        """LossLog's line per logged step, with GRPO's reward statistics added."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            from text2sql_cli.io import JsonlAppender

            row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "loss": logs["loss"]}
            row |= {"lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm")}
            row |= {key.replace("completions/", "completion_"): logs.get(key) for key in REWARD_LOG_KEYS}
            row |= {k: v for k, v in logs.items() if k.startswith("rewards/") and k.endswith("/mean")}
            with JsonlAppender(self.path) as log:
                log.write(row)

    return _RewardLog


def RewardLog(path: Path):  # noqa: N802 - a class built lazily (callbacks.py imports transformers)
    return _reward_log_class()(path)
