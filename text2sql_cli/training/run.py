"""`train(cfg)`: LoRA / QLoRA SFT with transformers' Trainer and t2s' own collators.

The run directory (RUN = --out):
    adapter_config.json, adapter_model.safetensors   standard PEFT adapter
    tokenizer files                                   the base tokenizer (pad token set)
    t2s_template.json                                 the prompt template (prompts.save_template)
    train_log.jsonl                                   {step, epoch, loss, lr, grad_norm} / {step, eval_loss}
    checkpoints/checkpoint-N/                         Trainer checkpoints (for --resume)
    checkpoints/t2s_start.json                        the resolved options and data sha256 at start
    merged/                                           with --merge: standalone 16-bit model
    run.json                                          written last: its existence means training completed

Under DDP (`accelerate launch -m text2sql_cli train ...`) only the main process writes files.

`--resume` continues the run that checkpoints/t2s_start.json describes, so that run.json stays a
true record of how the adapter was trained. Before any model loads it refuses (exit 2):
- a run whose last checkpoint (or run.json) already reached the target steps (--max-steps, or
  --epochs when --max-steps is -1): there is nothing to resume. Raising --max-steps / --epochs
  continues from that checkpoint to the new target;
- options that differ from the start record, except the ones safe to change mid-run
  (RESUME_SAFE): max_steps, epochs (how far to train), save_every, save_total_limit, log_every,
  report_to (bookkeeping), resume, merge, push_to_hub (what happens after training) and out (the
  run itself). --data and --eval-file are compared by content (sha256), so a moved file is fine
  and a changed one is not. Everything else (base, revision, template, LoRA shape, optimiser,
  batch, max_len, packing, loss, seed, quant, preset...) must match;
- a checkpoint directory without t2s_start.json (started by an older t2s): its options cannot be
  checked, so it is not resumed.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from text2sql_cli import __version__
from text2sql_cli.artifacts import (
    RUN_FILE,
    TRAIN_LOG,
    RunRecord,
    blocking_file,
    looks_local,
    read_run,
    sha256_file,
    write_run,
)
from text2sql_cli.errors import InputError, ModelLoadError, T2SError, UsageError
from text2sql_cli.training.config import TrainSettings
from text2sql_cli.training.options import CHECKPOINT_DIR

LOG_FILE = TRAIN_LOG
START_FILE = "t2s_start.json"  # under OUT/checkpoints
# options that may differ between the start of a run and a --resume of it (module docstring)
RESUME_SAFE = frozenset(
    {
        "max_steps",
        "epochs",
        "save_every",
        "save_total_limit",
        "log_every",
        "report_to",
        "resume",
        "merge",
        "push_to_hub",
        "out",
    }
)
DATA_OPTIONS = ("data", "eval_file")  # compared by sha256, not by path


@dataclass
class TrainResult:
    out: Path
    completed: bool
    global_step: int
    final_loss: float | None = None
    best_loss: float | None = None
    final_eval_loss: float | None = None
    best_eval_loss: float | None = None
    checkpoint: Path | None = None
    is_main: bool = True
    info: dict[str, Any] = field(default_factory=dict)


def library_versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found: dict[str, str | None] = {"python": platform.python_version(), "t2s": __version__}
    for name in ("torch", "transformers", "peft", "accelerate", "trl", "bitsandbytes", "datasets"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def last_checkpoint(out: Path) -> Path | None:
    """The highest-numbered complete checkpoint-N folder (transformers' get_last_checkpoint rule,
    skipping incomplete ones), found without importing transformers, so a refused --resume answers
    at once and quietly."""
    complete = [p for p in _checkpoints(out) if checkpoint_complete(p)]
    return complete[-1] if complete else None


def incomplete_checkpoints(out: Path) -> list[Path]:
    """checkpoint-N folders newer than the last complete one: a save that was interrupted."""
    last = last_checkpoint(out)
    floor = _checkpoint_step(last) if last is not None else -1
    return [p for p in _checkpoints(out) if _checkpoint_step(p) > floor and not checkpoint_complete(p)]


def checkpoint_complete(path: Path) -> bool:
    """The Trainer writes trainer_state.json after the weights, optimizer and RNG state, so a
    checkpoint whose trainer_state.json parses was saved to the end; a kill mid-save leaves it
    missing or torn."""
    import json

    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict)


def _checkpoints(out: Path) -> list[Path]:
    import re

    folder = out / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [
        (int(m.group(1)), p)
        for p in folder.iterdir()
        if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and p.is_dir()
    ]
    return [p for _, p in sorted(found)]


def check_paths(cfg: TrainSettings) -> None:
    """Report every problem with the required options and the run directory at once."""
    problems = [f"{flag} is required" for flag in cfg.missing()]
    for name in ("data", "eval_file"):
        path = getattr(cfg, name)
        if path is not None and not Path(path).is_file():
            problems.append(f"--{name.replace('_', '-')} {path}: no such file")
    base = cfg.base or ""
    if base and looks_local(base) and not Path(base).expanduser().is_dir():
        problems.append(f"--base {base}: no such model directory")
    if cfg.out is not None and blocking_file(cfg.out) is not None:
        problems.append(
            f"--out {cfg.out}: {blocking_file(cfg.out)} is a file, not a directory (give a directory path)"
        )
    elif cfg.out is not None:
        # a checkpoints folder holding no checkpoint (a run that died before its first save) is no run
        has_run = (cfg.out / RUN_FILE).exists() or last_checkpoint(cfg.out) is not None
        if has_run and not cfg.resume:
            problems.append(
                f"--out {cfg.out} already holds a run (use --resume to continue it, or another --out)"
            )
        if cfg.resume and last_checkpoint(cfg.out) is None:
            torn = incomplete_checkpoints(cfg.out)
            why = f" ({', '.join(p.name for p in torn)} incomplete: interrupted while saving)" if torn else ""
            problems.append(f"--resume: no complete checkpoint under {cfg.out / CHECKPOINT_DIR}{why}")
        from text2sql_cli.errors import T2SError
        from text2sql_cli.io import check_writable

        try:
            check_writable(cfg.out)  # before the model loads, not after training
        except T2SError as err:
            problems.append(str(err))
    tracker = {"tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",)}.get(cfg.report_to, ())
    if tracker and not any(importlib.util.find_spec(m) for m in tracker):
        problems.append(
            f"--report-to {cfg.report_to}: the {tracker[0]} package is not installed (pip install "
            f"{tracker[0]})"
        )
    if cfg.push_to_hub and os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        # found out now, not after hours of training
        problems.append(
            f"--push-to-hub {cfg.push_to_hub}: HF_HUB_OFFLINE is set (unset it, or push later with t2s "
            "model export)"
        )
    if problems:
        raise UsageError("; ".join(problems))


def start_record(cfg: TrainSettings, data_sha256: dict[str, str | None]) -> dict[str, Any]:
    """What OUT/checkpoints/t2s_start.json holds: the resolved options and the data files' sha256."""
    return {"format": 1, "config": cfg.public_dump(), "data_sha256": data_sha256}


def _data_sha256(cfg: TrainSettings) -> dict[str, str | None]:
    return {
        name: sha256_file(Path(getattr(cfg, name))) if getattr(cfg, name) is not None else None
        for name in DATA_OPTIONS
    }


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _checkpoint_step(path: Path) -> int:
    return int(path.name.rsplit("-", 1)[-1])


def check_resume(cfg: TrainSettings) -> Path:
    """For --resume (after check_paths): the checkpoint to continue from, or a UsageError when the
    options or data differ from the run's start record or the target steps are already reached."""
    import json

    out = Path(cfg.out)
    checkpoint = last_checkpoint(out)
    assert checkpoint is not None  # check_paths refused that
    torn = incomplete_checkpoints(out)
    if torn and os.environ.get("RANK", "0") == "0":
        names = ", ".join(p.name for p in torn)
        print(
            f"{names} is incomplete (interrupted while saving); resuming from {checkpoint.name}",
            file=sys.stderr,
        )
    start_path = out / CHECKPOINT_DIR / START_FILE
    if not start_path.is_file():
        raise UsageError(
            f"--resume: {start_path} is missing (the run was started by an older t2s), so its options "
            "cannot be checked; "
            "start a new run with another --out"
        )
    try:
        start = json.loads(start_path.read_text(encoding="utf-8"))
        started_cfg, started_sha = dict(start["config"]), dict(start["data_sha256"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UsageError(f"--resume: cannot read {start_path} ({err})".replace("\n", " ")) from None
    now = cfg.public_dump()

    def was(name: str) -> Any:  # an option newer than the start record had its default then
        return started_cfg.get(name, type(cfg).model_fields[name].default)

    differ = [
        f"{_flag(name)} {now.get(name)!r} (started with {was(name)!r})"
        for name in now
        if name not in RESUME_SAFE and name not in DATA_OPTIONS and now.get(name) != was(name)
    ]
    for name, sha in _data_sha256(cfg).items():
        if sha != started_sha.get(name):
            was = started_sha.get(name)
            differ.append(
                f"{_flag(name)} {'(none)' if sha is None else 'content ' + sha[:12]} (started with "
                f"{'(none)' if was is None else 'content ' + was[:12]})"
            )
    if differ:
        raise UsageError(
            f"--resume: {out} was started with other options: {'; '.join(differ)}; "
            "resume with the options it started with, or start a new run with another --out"
        )

    step = _checkpoint_step(checkpoint)
    epoch = 0.0
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
        step, epoch = int(state.get("global_step", step)), float(state.get("epoch") or 0.0)
    except (OSError, ValueError, TypeError):
        pass  # the folder name gives the step; an unknown epoch only weakens the epochs check below
    completed = (out / RUN_FILE).exists()
    if completed:
        try:
            done = read_run(out).training
            step, epoch = max(step, int(done["global_step"])), max(epoch, float(done.get("epoch") or 0.0))
        except (T2SError, OSError, ValueError, KeyError, TypeError):
            pass
    reached = step >= cfg.max_steps if cfg.max_steps > 0 else epoch >= cfg.epochs - 1e-9
    if reached:
        what = (
            f"{out} already completed {step} steps"
            if completed
            else f"{out}'s last checkpoint is already at step {step}"
        )
        target = f"--max-steps {cfg.max_steps}" if cfg.max_steps > 0 else f"--epochs {cfg.epochs:g}"
        raise UsageError(f"{what} ({target}); nothing to resume; raise --max-steps/--epochs to train further")
    return checkpoint


def target_steps(cfg: TrainSettings, rows: int, world_size: int) -> int:
    """The optimizer steps the Trainer will run to (its own arithmetic, for the resume guard)."""
    import math

    if cfg.max_steps > 0:
        return cfg.max_steps
    batches = math.ceil(rows / (cfg.batch_size * world_size))
    per_epoch = max(math.ceil(batches / cfg.grad_accum), 1)
    return math.ceil(cfg.epochs * per_epoch)


def load_tokenizer(cfg: TrainSettings) -> Any:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(
            cfg.base, revision=cfg.revision, trust_remote_code=cfg.trust_remote_code
        )
    except (OSError, ValueError) as err:
        raise ModelLoadError(
            f"cannot load the tokenizer of {cfg.base!r}: {str(err).splitlines()[0]}",
            hint=(
                "check the hub id or directory, the network (HF_HUB_OFFLINE=1 blocks downloads) and "
                "--revision"
            ),
        ) from None
    if tok.pad_token_id is None:  # labels mask padding, so reusing EOS as pad is harmless
        tok.pad_token = tok.eos_token
    return tok


def load_model(cfg: TrainSettings, *, cuda: bool, bf16: bool) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    from text2sql_cli.training.options import bnb_config, compute_dtype

    kwargs: dict[str, Any] = {"revision": cfg.revision, "trust_remote_code": cfg.trust_remote_code}
    kwargs["dtype"] = compute_dtype(bf16) if cuda else torch.float32
    quant = bnb_config(cfg, bf16)
    if quant is not None:
        from accelerate import PartialState

        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": PartialState().local_process_index}
    try:
        model = AutoModelForCausalLM.from_pretrained(cfg.base, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelLoadError(
            f"cannot load base model {cfg.base!r}: {str(err).splitlines()[0]}",
            hint=(
                "check the hub id or directory, the network (HF_HUB_OFFLINE=1 blocks downloads) and "
                "--revision"
            ),
        ) from None
    if quant is not None:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=cfg.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    return model


def _tokenize(cfg: TrainSettings, path: Path, template: Any, tokenizer: Any) -> tuple[Any, dict[str, Any]]:
    from text2sql_cli.data import load_examples, parse_columns
    from text2sql_cli.training.data import tokenize_examples

    examples, _ = load_examples(path, columns=parse_columns(cfg.columns), drop_na=cfg.drop_na)
    if not examples:  # else the max-len message below would blame the length of rows that do not exist
        raise InputError(path, "has no rows", hint="give a file with at least one row")
    tok = tokenize_examples(examples, template, tokenizer, max_len=cfg.max_len, loss=cfg.loss)
    if not tok.rows:
        raise InputError(
            path,
            f"no row fits --max-len {cfg.max_len} ({tok.skipped_too_long} of {len(examples)} too long)",
            hint="raise --max-len",
        )
    info = {
        "path": str(path.resolve()),
        "sha256": sha256_file(path),
        "rows": len(tok.rows),
        "skipped_too_long": tok.skipped_too_long,
        "prompt_tokens": tok.prompt_tokens,
        "completion_tokens": tok.completion_tokens,
    }
    return tok.rows, info


def _trim_log(path: Path, max_step: int) -> None:
    """On resume, drop log lines written after the checkpoint we continue from."""
    from text2sql_cli.io import read_jsonl, write_jsonl

    if path.exists():
        write_jsonl(
            path, [r for r in read_jsonl(path, tolerate_torn_tail=True) if r.get("step", 0) <= max_step]
        )


def loss_summary(path: Path) -> dict[str, float | None]:
    from text2sql_cli.io import read_jsonl

    rows = read_jsonl(path, tolerate_torn_tail=True) if path.exists() else []
    train = [r["loss"] for r in rows if r.get("loss") is not None and r.get("split", "train") == "train"]
    evals = [r["eval_loss"] for r in rows if r.get("eval_loss") is not None]
    return {
        "final_loss": train[-1] if train else None,
        "best_loss": min(train) if train else None,
        "final_eval_loss": evals[-1] if evals else None,
        "best_eval_loss": min(evals) if evals else None,
    }


def precision_label(mixed_precision: str, quant: str = "none") -> str:
    """The numeric format of the trainable weights and the forward pass, in t2s infer's words:
    TrainingArguments' "no" (no autocast) means plain fp32, bf16/fp16 are autocast; a quantized
    base is prefixed (4bit+bf16)."""
    label = "fp32" if mixed_precision == "no" else mixed_precision
    return label if quant == "none" else f"{quant}+{label}"


def train_until_stopped(trainer: Any, stopper: Any, progress: Any, resume_from: Path | None = None):
    """trainer.train() with RichProgress in place of the Trainer's own output and the signal
    handler installed; the bar is closed however training ends (the Trainer does not call
    on_train_end when training raises). Returns (the Trainer's output, seconds it took)."""
    from transformers import PrinterCallback, ProgressCallback

    # Trainer adds PrinterCallback (print(logs) dicts) under disable_tqdm=True, ProgressCallback
    # (tqdm) otherwise; RichProgress shows the same on stderr and train_log.jsonl keeps the numbers
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    started = time.time()
    stopper.install()
    try:
        output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    finally:
        progress.close()
        stopper.uninstall()
    return output, round(time.time() - started, 2)


def training_info(
    cfg: TrainSettings,
    trainer: Any,
    output: Any,
    losses: dict[str, float | None],
    runtime_s: float,
    precision: str,
    cuda: bool,
    *,
    resumed_from_step: int | None = None,
) -> dict[str, Any]:
    """run.json's `training` record of a completed run (SFT and GRPO)."""
    world = trainer.args.world_size
    return {
        "global_step": trainer.state.global_step,
        "epoch": trainer.state.epoch,
        **losses,
        "train_runtime_s": runtime_s,
        "train_loss_mean": output.training_loss,
        "resumed_from_step": resumed_from_step,
        "world_size": world,
        "effective_batch_size": cfg.batch_size * cfg.grad_accum * world,
        "precision": precision,
        "device": "cuda" if cuda else "cpu",
    }


def run_info(
    cfg: TrainSettings, template: Any, *, data: dict[str, Any], training: dict[str, Any]
) -> dict[str, Any]:
    """What run.json records of a completed run (SFT and GRPO; GRPO adds its method and reward)."""
    return {
        "format": 1,
        "kind": "lora-adapter",
        "status": "completed",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base_model": cfg.base,
        "revision": cfg.revision,
        "trust_remote_code": cfg.trust_remote_code,
        "template": template.name,
        "quant": cfg.quant,
        "config": cfg.public_dump(),
        "config_sources": cfg.sources(),  # flag, --config, env, .env, preset or default per option
        "data": data,
        "versions": library_versions(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "training": training,
        "merged": None,
    }


def train(cfg: TrainSettings, *, callbacks: tuple[Any, ...] = (), on_ready: Any = None) -> TrainResult:
    """Train a LoRA adapter as `cfg` says and write the run directory. Raises T2SError subclasses
    for anything the user can fix; returns `completed=False` after a signal-triggered checkpoint.
    `callbacks` are extra TrainerCallbacks (benchmarks time steps with one)."""
    from text2sql_cli.prompts import get_template
    from text2sql_cli.training.options import require_cuda_for_quant

    check_paths(cfg)
    if Path(cfg.base).expanduser().is_dir():  # run.json and adapter_config must work from any cwd
        cfg = cfg.model_copy(update={"base": str(Path(cfg.base).expanduser().resolve())})
    if cfg.resume:
        check_resume(cfg)  # before any model loads
    template = get_template(cfg.template)
    require_cuda_for_quant(cfg)

    from text2sql_cli.quiet import quiet_known_noise

    with quiet_known_noise():  # before the first peft/bitsandbytes import
        return _run(cfg, template, callbacks, on_ready)


def _run(cfg: TrainSettings, template: Any, callbacks: tuple[Any, ...], on_ready: Any = None) -> TrainResult:
    import torch
    from transformers import Trainer
    from transformers.utils import logging as hf_logging

    from text2sql_cli.training.callbacks import LossLog, RichProgress, StopOnSignal
    from text2sql_cli.training.data import PadCollator, packing_collator
    from text2sql_cli.training.options import lora_config, mixed_precision, training_arguments

    hf_logging.set_verbosity_warning()
    out = Path(cfg.out)
    cuda = torch.cuda.is_available()
    # including_emulation=False: a T4/V100 "supports" bf16 only by emulation (slow); use fp16 there.
    bf16 = cuda and torch.cuda.is_bf16_supported(including_emulation=False)
    tokenizer = load_tokenizer(cfg)
    train_rows, train_info = _tokenize(cfg, Path(cfg.data), template, tokenizer)
    eval_rows, eval_info = (
        _tokenize(cfg, Path(cfg.eval_file), template, tokenizer) if cfg.eval_file else (None, None)
    )

    from peft import get_peft_model
    from transformers import set_seed

    # Seeded runs repeat: every draw (a random init in the base, LoRA's A matrices, dropout, the
    # Trainer's shuffle via data_seed) starts from --seed; the Trainer seeds again only after the
    # adapter exists, so without these the LoRA weights differ run to run.
    if on_ready is not None:
        on_ready()  # inputs checked; the slow part starts
    set_seed(cfg.seed)
    base_model = load_model(cfg, cuda=cuda, bf16=bf16)
    # no KV cache in training: a cache also turns off masking_utils' packed-sequence detection,
    # which is what keeps packed examples apart
    base_model.config.use_cache = False
    set_seed(cfg.seed)  # the same LoRA init whatever loading the base drew
    model = get_peft_model(base_model, lora_config(cfg))
    precision = mixed_precision(cuda, bf16)
    args = training_arguments(cfg, out, precision=precision, has_eval=eval_rows is not None, use_cpu=not cuda)
    stopper = StopOnSignal()
    progress = RichProgress()
    trainer = Trainer(
        model=model,
        args=args,
        data_collator=packing_collator() if cfg.packing else PadCollator(tokenizer.pad_token_id),
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        processing_class=tokenizer,
        callbacks=[LossLog(out / LOG_FILE), stopper, progress, *callbacks],
    )
    is_main = trainer.is_world_process_zero()
    resume_from = last_checkpoint(out) if cfg.resume else None
    if resume_from is not None:
        # check_resume judged by the checkpoint's epoch; this is the Trainer's own step count. Asked
        # to resume at or past its max_steps, the Trainer would still run one more step.
        target = target_steps(cfg, len(train_rows), trainer.args.world_size)
        if _checkpoint_step(resume_from) >= target:
            raise UsageError(
                f"{out}'s last checkpoint is already at step {_checkpoint_step(resume_from)} of {target}; "
                "nothing to resume; raise --max-steps/--epochs to train further"
            )
    if is_main:
        if resume_from is not None:
            _trim_log(out / LOG_FILE, _checkpoint_step(resume_from))
        else:
            from text2sql_cli.io import write_json

            (out / LOG_FILE).unlink(missing_ok=True)  # left by a run that died before its first checkpoint
            sha = {"data": train_info["sha256"], "eval_file": eval_info["sha256"] if eval_info else None}
            write_json(out / CHECKPOINT_DIR / START_FILE, start_record(cfg, sha))
    output, runtime_s = train_until_stopped(trainer, stopper, progress, resume_from)
    step = trainer.state.global_step
    if stopper.stopped_at is not None:
        return TrainResult(out, False, step, checkpoint=last_checkpoint(out), is_main=is_main)

    trainer.save_model(str(out))  # adapter (+ tokenizer via processing_class), main process only
    losses = loss_summary(out / LOG_FILE)
    label = precision_label(precision, cfg.quant)
    resumed_from_step = _checkpoint_step(resume_from) if resume_from else None
    training = training_info(
        cfg, trainer, output, losses, runtime_s, label, cuda, resumed_from_step=resumed_from_step
    )
    info = run_info(cfg, template, data={"train": train_info, "eval": eval_info}, training=training)
    record = RunRecord.model_validate(info)
    if is_main:
        from text2sql_cli.io import atomic_write_text
        from text2sql_cli.prompts import save_template
        from text2sql_cli.training.card import model_card

        save_template(out, template)
        atomic_write_text(out / "README.md", model_card(info, template))  # replaces PEFT's placeholder
        write_run(out, record)  # last: its existence means the run completed
    trainer.accelerator.wait_for_everyone()
    return TrainResult(out, True, step, is_main=is_main, info=info, **losses)


def merge_and_push(result: TrainResult, cfg: TrainSettings) -> tuple[Path, str | None]:
    """What --merge and --push-to-hub do after a completed run: merge the adapter into RUN/merged
    (16-bit, `export.merge_run`) and push the merged model, or the adapter, to the hub. Returns the
    model directory for `t2s infer` and the pushed repo's URL (None without --push-to-hub)."""
    target = result.out
    if cfg.merge:
        import gc

        import torch

        from text2sql_cli.export import merge_run

        # The trained model is only reachable through reference cycles (accelerate wraps its
        # forward); collect it so the 16-bit base for the merge does not sit beside it on the GPU.
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        target = merge_run(result.out, result.out / "merged")
    url = None
    if cfg.push_to_hub:
        from text2sql_cli.export import push_to_hub

        url = push_to_hub(target, cfg.push_to_hub)
    return target, url
