"""Run one sweep point: train -> infer -> eval, each a `python -m text2sql_cli ...` subprocess.

The point directory (SWEEP/NAME):
    point.json          the point's spec and its digest (written first; a changed config is refused)
    status.json         {status: running|done|failed|interrupted, stage, stages: {train: {seconds}}, error}
    train_data.jsonl    the data_fraction subset (absent for the whole file)
    train.yaml          the `t2s train --config` file the point trains with
    run/                `t2s train --out` (adapter, run.json, train_log.jsonl, checkpoints/)
    preds.jsonl         `t2s infer --out` (+ preds.jsonl.meta.json)
    eval/               `t2s eval --out` (results.jsonl, summary.json, judge cache)
    logs/STAGE.log      each stage's stdout and stderr

Each stage is skipped when its output says it finished (run/run.json; the predictions sidecar's
status "complete"; eval/summary.json without a stopped judge) and otherwise rerun, which resumes:
`t2s train --resume` from the last checkpoint, `t2s infer` and the judge from what they wrote.
Subprocesses keep a crash (or an out-of-memory kill) inside one point and make `accelerate launch`
a matter of the command line. This module loads no torch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from text2sql_cli.artifacts import RUN_FILE
from text2sql_cli.errors import InputError, UsageError
from text2sql_cli.io import write_json
from text2sql_cli.sweep.config import Point

POINT_FILE = "point.json"
STATUS_FILE = "status.json"
RUN_DIR = "run"
PREDICTIONS = "preds.jsonl"
EVAL_DIR = "eval"
STAGES = ("train", "infer", "eval")


@dataclass(frozen=True)
class Launch:
    """How stage commands start: plain python, or `accelerate launch --num_processes N`."""

    launcher: str = "python"  # python | accelerate
    num_processes: int = 1
    python: str = sys.executable

    def command(self, args: list[str]) -> list[str]:
        if self.launcher == "accelerate":
            return [
                self.python,
                "-m",
                "accelerate.commands.launch",
                "--num_processes",
                str(self.num_processes),
                "-m",
                "text2sql_cli",
                *args,
            ]
        return [self.python, "-m", "text2sql_cli", *args]


class PointFailed(Exception):
    def __init__(self, stage: str, message: str, returncode: int):
        super().__init__(f"{stage}: {message}")
        self.stage, self.returncode = stage, returncode


def read_status(point_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((point_dir / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def state(point: Point, point_dir: Path) -> str:
    """new | done | resume | changed: what a run would do with this point."""
    recorded = point_dir / POINT_FILE
    if not recorded.exists():
        return "new"
    try:
        digest = json.loads(recorded.read_text(encoding="utf-8")).get("digest")
    except (OSError, ValueError):
        digest = None
    if digest != point.digest:
        return "changed"
    return "done" if read_status(point_dir).get("status") == "done" else "resume"


def check_points(points: list[Point], sweep_dir: Path, *, overwrite: bool) -> None:
    """Refuse, before anything runs, points whose directory holds another config (all named at
    once); with --overwrite, remove those directories instead."""
    changed = [p for p in points if state(p, sweep_dir / p.name) == "changed"]
    if changed and not overwrite:
        names = ", ".join(p.name for p in changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise UsageError(
            f"{len(changed)} point(s) in {sweep_dir} were run with another config: {names}",
            hint="rerun with --overwrite to start them again, or use another --out",
        )
    for p in changed:
        shutil.rmtree(sweep_dir / p.name)


def run_point(point: Point, point_dir: Path, launch: Launch, *, on_stage=None) -> dict[str, Any]:
    """Run (or finish) one point; returns its final status record. Raises PointFailed when a stage
    fails and KeyboardInterrupt when interrupted (the status file says which)."""
    point_dir.mkdir(parents=True, exist_ok=True)
    if not (point_dir / POINT_FILE).exists():
        write_json(point_dir / POINT_FILE, {"name": point.name, "digest": point.digest, **point.spec})
    status = read_status(point_dir) or {"name": point.name, "stages": {}}
    stages = [s for s in STAGES if s != "train" or point.kind == "train"]
    for stage in stages:
        if _finished(stage, point_dir):
            status["stages"].setdefault(stage, {"seconds": None})
            continue
        if on_stage is not None:
            on_stage(point, stage)
        _write_status(point_dir, status, "running", stage)
        started = time.time()
        try:
            args = _stage_args(stage, point, point_dir)
            # t2s eval runs its own worker pool: it is never an accelerate launch
            runner = launch if stage != "eval" else Launch(python=launch.python)
            code = _run_logged(runner.command(args), point_dir, stage)
        except KeyboardInterrupt:
            _write_status(point_dir, status, "interrupted", stage)
            raise
        seconds = round(time.time() - started, 2)
        if code != 0 or not _finished(stage, point_dir):
            message = _last_error_line(point_dir / "logs" / f"{stage}.log") or f"exit code {code}"
            status["error"] = message
            _write_status(point_dir, status, "interrupted" if code == 130 else "failed", stage)
            if code == 130:
                raise KeyboardInterrupt
            raise PointFailed(stage, message, code)
        status["stages"][stage] = {"seconds": seconds}
    status.pop("error", None)
    _write_status(point_dir, status, "done", None)
    return status


def _write_status(point_dir: Path, status: dict[str, Any], value: str, stage: str | None) -> None:
    status |= {
        "status": value,
        "stage": stage,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(point_dir / STATUS_FILE, status)


def _finished(stage: str, d: Path) -> bool:
    if stage == "train":
        return (d / RUN_DIR / RUN_FILE).exists()
    if stage == "infer":
        from text2sql_cli.artifacts import read_predictions_meta

        try:
            meta = read_predictions_meta(d / PREDICTIONS) or {}
        except InputError:
            return False  # unreadable sidecar: rerunning t2s infer rewrites it
        return meta.get("status") == "complete"
    summary, predictions = d / EVAL_DIR / "summary.json", d / PREDICTIONS
    if (
        not summary.exists()
        or not predictions.exists()
        or summary.stat().st_mtime < predictions.stat().st_mtime
    ):
        return False
    try:
        judge = json.loads(summary.read_text(encoding="utf-8")).get("judge") or {}
    except (OSError, ValueError):
        return False
    return not judge.get("stopped")


def _stage_args(stage: str, point: Point, d: Path) -> list[str]:
    spec = point.spec
    if stage == "train":
        return ["train", "--config", str(_train_config(point, d)), "--out", str(d / RUN_DIR), *_resume(d)]
    if stage == "infer":
        if point.kind == "train":
            model = ["--model", str(d / RUN_DIR)]
        elif point.kind == "untuned":
            model = ["--model", spec["model"]]
        else:
            model = [*flags({k: v for k, v in spec["api"].items()})]
        return ["infer", *model, "--data", spec["test"], "--out", str(d / PREDICTIONS), *flags(spec["infer"])]
    return ["eval", str(d / PREDICTIONS), "--out", str(d / EVAL_DIR), *flags(spec["eval"])]


def _resume(d: Path) -> list[str]:
    checkpoints = d / RUN_DIR / "checkpoints"
    return ["--resume"] if checkpoints.is_dir() and any(checkpoints.glob("checkpoint-*")) else []


def _train_config(point: Point, d: Path) -> Path:
    """train.yaml for `t2s train --config`: the point's options, the subset as --data."""
    import yaml

    from text2sql_cli.io import atomic_write_text

    options = dict(point.spec["train"])
    fraction = point.spec.get("data_fraction")
    if fraction is not None and fraction < 1:
        options["data"] = str(
            write_subset(Path(options["data"]), fraction, point.spec["seed"], d / "train_data.jsonl")
        )
    path = d / "train.yaml"
    atomic_write_text(path, yaml.safe_dump(options, allow_unicode=True, sort_keys=False))
    return path


def write_subset(data: Path, fraction: float, seed: int, out: Path) -> Path:
    """The first ceil(fraction * n) rows of one seeded shuffle of `data`: the same seed and file give
    the same order, so a smaller fraction is always inside a larger one."""
    import math
    import random

    from text2sql_cli.data import load_examples
    from text2sql_cli.io import write_jsonl

    examples, _ = load_examples(data)
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    keep = max(1, math.ceil(fraction * len(examples)))
    write_jsonl(out, (examples[i].to_dict() for i in order[:keep]))
    return out


def flags(options: dict[str, Any]) -> list[str]:
    """{max_new_tokens: 64, judge: m} -> ['--max-new-tokens', '64', '--judge', 'm']; None is left out."""
    out: list[str] = []
    for key, value in options.items():
        if value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + key.replace("_", "-"))
        else:
            out += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return out


def _run_logged(command: list[str], d: Path, stage: str) -> int:
    """Run with output to logs/STAGE.log (appended: a resumed stage keeps its earlier attempts)."""
    log = d / "logs" / f"{stage}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as fh:
        fh.write(f"$ {' '.join(command)}\n")
        fh.flush()
        proc = subprocess.Popen(command, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            # the child got the same Ctrl-C (one process group) and is saving a checkpoint
            try:
                proc.wait(timeout=120)
            except (subprocess.TimeoutExpired, KeyboardInterrupt):
                proc.kill()
            raise


def _last_error_line(log: Path) -> str | None:
    try:
        lines = [line.strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return None
    errors = [line for line in lines if line.startswith(("Error", "error:")) or "Error:" in line]
    picked = errors[-1] if errors else next((line for line in reversed(lines) if line), None)
    return picked[:300] if picked else None
