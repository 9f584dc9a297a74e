"""Gather runs from what t2s wrote: a sweep directory, one sweep point, a training run directory
(run.json), an eval directory (summary.json) or a predictions file (with its .meta.json).

A `Run` holds what the report shows: the settings (r, alpha, data, fraction, base), the eval
summary, the loss log, the training record, the trainable parameter count (read from the
adapter's safetensors header, no torch) and the per-row results for --diff. A missing piece is
None, never a made-up 0. This module loads no torch.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

from text2sql_cli.artifacts import ADAPTER_WEIGHTS, RUN_FILE, meta_path, read_predictions_meta, read_run
from text2sql_cli.artifacts import TRAIN_LOG as LOG_FILE
from text2sql_cli.errors import InputError

SWEEP_FILE = "sweep.json"
POINT_FILE = "point.json"
SUMMARY_FILE = "summary.json"
RESULTS_FILE = "results.jsonl"
ADAPTER_FILE = ADAPTER_WEIGHTS[0]  # safetensors: its header gives the parameter count without torch


@dataclass
class Run:
    name: str
    path: Path
    kind: str  # train | untuned | api | run | eval | predictions
    status: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    run_info: dict[str, Any] | None = None  # run.json
    summary: dict[str, Any] | None = None  # eval summary.json
    results: Path | None = None  # eval results.jsonl
    log: list[dict[str, Any]] = field(default_factory=list)  # train_log.jsonl rows
    trainable_params: int | None = None
    model: str | None = None  # the base model, or the API model

    def metric(self, name: str) -> float | None:
        if not self.summary:
            return None
        if name in ("ex", "em"):
            return ((self.summary.get("metrics") or {}).get(name) or {}).get("score")
        if name == "judge":
            return (self.summary.get("judge") or {}).get("score")
        if name == "kappa":
            return (self.summary.get("agreement") or {}).get("cohen_kappa")
        raise KeyError(name)


def gather(paths: list[Path]) -> list[Run]:
    runs: list[Run] = []
    for path in paths:
        runs += _from_path(Path(path))
    seen: dict[str, int] = {}
    for run in runs:  # names must be unique: they label bars and lines and select --diff runs
        if run.name in seen:
            seen[run.name] += 1
            run.name = f"{run.name}#{seen[run.name]}"
        else:
            seen[run.name] = 1
    return runs


def _from_path(path: Path) -> list[Run]:
    if path.is_file():
        if path.name == RUN_FILE or path.name == SUMMARY_FILE or path.name == POINT_FILE:
            return _from_path(path.parent)
        if meta_path(path).exists() or path.suffix == ".jsonl":
            return [_from_predictions(path)]
        raise InputError(path, "not a sweep, run, eval directory or predictions file")
    if not path.is_dir():
        raise InputError(path, "no such file or directory", hint="pass a sweep, run or eval directory")
    if (path / POINT_FILE).exists():
        return [_from_point(path)]
    if (path / RUN_FILE).exists() or (path / SUMMARY_FILE).exists():
        return [_from_run_or_eval(path)]
    points = sorted(p.parent for p in path.glob(f"*/{POINT_FILE}"))
    if points:
        return [_from_point(p) for p in _in_sweep_order(path, points)]
    runs = sorted(p.parent for p in path.glob(f"*/{RUN_FILE}")) + sorted(
        p.parent for p in path.glob(f"*/{SUMMARY_FILE}")
    )
    if runs:
        return [_from_run_or_eval(p) for p in dict.fromkeys(runs)]
    raise InputError(
        path, "holds no sweep points, run.json or summary.json", hint="pass a sweep, run or eval directory"
    )


def _in_sweep_order(sweep: Path, points: list[Path]) -> list[Path]:
    order = (_read_json(sweep / SWEEP_FILE) or {}).get("points") or []
    rank = {name: i for i, name in enumerate(order)}
    return sorted(points, key=lambda p: (rank.get(p.name, len(rank)), p.name))


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise InputError(path, f"cannot read it ({err})".replace("\n", " ")) from None


def _from_point(d: Path) -> Run:
    point = _read_json(d / POINT_FILE) or {}
    status = (_read_json(d / "status.json") or {}).get("status")
    kind = point.get("kind", "train")
    run = Run(name=d.name, path=d, kind=kind, status=status, settings=dict(point.get("settings") or {}))
    train = point.get("train") or {}
    if kind == "train":
        _add_training(run, d / "run")
        run.settings.setdefault("data", train.get("data"))
        run.settings.setdefault("data_fraction", point.get("data_fraction"))
        run.model = train.get("base")
    elif kind == "untuned":
        run.model = point.get("model")
    else:
        run.model = (point.get("api") or {}).get("model_name")
    run.settings.setdefault("base", run.model if kind != "api" else None)
    _add_eval(run, d / "eval")
    return run


def _from_run_or_eval(d: Path) -> Run:
    if (d / RUN_FILE).exists():
        run = Run(name=d.name, path=d, kind="run", status="done")
        _add_training(run, d)
        run.model = (run.run_info or {}).get("base_model")
        run.settings["base"] = run.model
        cfg = (run.run_info or {}).get("config") or {}
        run.settings["data"] = cfg.get("data")
        evals = d / "eval" if (d / "eval" / SUMMARY_FILE).exists() else _sibling_eval(d)
        if evals is not None:
            _add_eval(run, evals)
        return run
    # `t2s eval --out RUN/eval` is the usual layout: name the run by what was evaluated
    name = d.resolve().parent.name if d.name == "eval" else d.name
    run = Run(name=name, path=d, kind="eval", status="done")
    _add_eval(run, d)
    return run


def _sibling_eval(run_dir: Path) -> Path | None:
    """RUN/../eval when a predictions file beside it was made with this run's adapter (the layout
    of `make demo`: run/, preds.jsonl, eval/); never an eval of some other model."""
    evals = run_dir.parent / "eval"
    if not (evals / SUMMARY_FILE).exists():
        return None
    for meta in run_dir.parent.glob("*.meta.json"):
        adapter = ((_read_json(meta) or {}).get("provenance") or {}).get("adapter")
        if adapter and Path(adapter).resolve() == run_dir.resolve():
            return evals
    return None


def _from_predictions(path: Path) -> Run:
    meta = read_predictions_meta(path) or {}
    prov = meta.get("provenance") or {}
    run = Run(name=path.stem, path=path, kind="predictions", status=meta.get("status"))
    adapter = prov.get("adapter")
    if adapter and (Path(adapter) / RUN_FILE).exists():
        _add_training(run, Path(adapter))
    run.model = prov.get("weights") or prov.get("model")
    run.settings["base"] = run.model
    if (path.parent / "eval" / SUMMARY_FILE).exists():
        _add_eval(run, path.parent / "eval")
    return run


def _add_training(run: Run, d: Path) -> None:
    run.run_info = read_run(d).to_json() if (d / RUN_FILE).exists() else None
    if run.run_info:
        cfg = run.run_info.get("config") or {}
        run.settings.setdefault("r", cfg.get("r"))
        run.settings.setdefault("alpha", cfg.get("alpha"))
    if (d / LOG_FILE).exists():
        from text2sql_cli.io import read_jsonl

        run.log = read_jsonl(d / LOG_FILE, tolerate_torn_tail=True)
    if (d / ADAPTER_FILE).exists():
        run.trainable_params = safetensors_params(d / ADAPTER_FILE)


def _add_eval(run: Run, d: Path) -> None:
    run.summary = _read_json(d / SUMMARY_FILE)
    if (d / RESULTS_FILE).exists():
        run.results = d / RESULTS_FILE


def safetensors_params(path: Path) -> int:
    """The LoRA parameters in an adapter file, from its JSON header (8-byte length + JSON). t2s
    trains the LoRA matrices only; peft may also save a copy of the (frozen) embeddings, which is
    not counted."""
    with path.open("rb") as fh:
        (length,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(length))
    return sum(prod(t["shape"]) for k, t in header.items() if "lora_" in k)
