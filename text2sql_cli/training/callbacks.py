"""Trainer callbacks: the rich progress bar, the loss log and checkpoint-on-signal. Imported only
inside `train()` (this module imports transformers)."""

from __future__ import annotations

import math
import signal
import threading
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from text2sql_cli.io import JsonlAppender


class RichProgress(TrainerCallback):
    """One rich bar on stderr in place of the Trainer's tqdm bar and printed log dicts: optimizer
    steps done/total, epoch, latest train (and eval) loss, learning rate, elapsed and remaining time.
    Main process only (rank 0 under accelerate). Call `close()` in a finally: the Trainer does not
    call on_train_end when training raises, and a live display left running hides the cursor."""

    def __init__(self, console: Any = None):
        self.console = console
        self.progress: Any = None  # a text2sql_cli.progress.ProgressBar while training runs

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from text2sql_cli.progress import ProgressBar

        # Fits 80 columns without cutting a number (tests/test_progress_width.py): a short bar,
        # short labels, the time left only (the elapsed time is in run.json and the summary).
        # A resumed run starts part-way; the remaining-time estimate counts only steps done now.
        self.progress = ProgressBar(
            "[bold]train",
            state.max_steps,
            completed=state.global_step,
            console=self.console,
            text="ep {epoch} loss {loss}{eval_loss} lr {lr}",
            fields={"epoch": f"{state.epoch or 0:.2f}", "loss": "-", "eval_loss": "", "lr": "-"},
            bar_width=8,
            remaining=True,
        ).start()

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(completed=state.global_step, epoch=f"{state.epoch or 0:.2f}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.progress is None or not logs:
            return
        fields = {}
        if logs.get("loss") is not None:
            fields["loss"] = f"{logs['loss']:.4f}"
        if logs.get("learning_rate") is not None:
            fields["lr"] = f"{logs['learning_rate']:.1e}"
        if logs.get("eval_loss") is not None:
            fields["eval_loss"] = f" eval {logs['eval_loss']:.4f}"
        self.progress.update(**fields)

    def on_train_end(self, args, state, control, **kwargs):
        self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


class LossLog(TrainerCallback):
    """One JSON line per Trainer log event with a loss: {step, epoch, split: "train", loss, lr,
    grad_norm} or {step, epoch, split: "eval", eval_loss}; a non-finite value is null, named in
    `nonfinite`. Main process only; each line is flushed as it is written.

    The last optimizer step is always logged (the Trainer logs only every --log-every steps), so
    the log's last loss, run.json's final_loss, covers the last steps trained and is never stale.
    That request is made on every rank: the Trainer's loss logging gathers across DDP ranks."""

    def __init__(self, path: Path):
        self.path = path

    def on_step_end(self, args, state, control, **kwargs):
        if state.max_steps > 0 and state.global_step >= state.max_steps:
            control.should_log = True
        return control

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
        if "loss" in logs:
            values = {
                "loss": logs["loss"],
                "lr": logs.get("learning_rate"),
                "grad_norm": logs.get("grad_norm"),
            }
            row |= {"split": "train", **values}
        elif "eval_loss" in logs:
            row |= {"split": "eval", "eval_loss": logs["eval_loss"]}
        else:
            return
        # JSON has no NaN: a non-finite value is written as null and named, never as a number
        bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            row |= {k: None for k in bad} | {"nonfinite": bad}
        with JsonlAppender(self.path) as log:
            log.write(row)


class StopOnSignal(TrainerCallback):
    """SIGINT/SIGTERM ask the Trainer to save a checkpoint at the end of the current optimizer step
    and stop. A second signal restores the default handler's effect (stop at once).

    Under DDP every rank must stop at the same step (checkpoint saving has collectives), so the flag
    is max-reduced across ranks at each step end.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.stopped_at: int | None = None
        self._previous: dict[int, object] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame):
        if self.requested:  # second signal: give up on the graceful stop
            self.uninstall()
            raise KeyboardInterrupt
        self.requested = True

    def _any_rank_requested(self) -> bool:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            return self.requested
        import torch

        flag = torch.tensor([1 if self.requested else 0], dtype=torch.int32)
        if dist.get_backend() == "nccl":
            flag = flag.cuda()
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def on_step_end(self, args, state, control, **kwargs):
        if self._any_rank_requested():
            self.requested = True
            self.stopped_at = state.global_step
            control.should_save = True
            control.should_training_stop = True
        return control
