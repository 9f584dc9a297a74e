"""The sweep file: base options plus axes, expanded into points.

    # t2s sweep --config sweep.yaml --out sweeps/NAME
    train: {base: beomi/Yi-Ko-6B, data: data/ko/train.jsonl, preset: book}   # any `t2s train` option
    test: data/ko/test.jsonl                   # the rows every point predicts and is scored on
    infer: {max_new_tokens: 256}               # `t2s infer` options
    eval: {metric: "ex,em", judge: gpt-4-turbo-preview}                      # `t2s eval` options
    seed: 42                                   # for the data_fraction subsets
    axes:
      pairs: {r: [16, 64], alpha: [32, 128]}   # zipped: (16, 32) and (64, 128); a list of such is allowed
      data: [data/ko/origin.jsonl, data/ko/clean.jsonl]
      data_fraction: [0.2, 0.4, 1.0]           # seeded subsets, nested: 20 % lies inside 40 %
      base: [beomi/Yi-Ko-6B, beomi/OPEN-SOLAR-KO-10.7B]
      # any other key is a train option whose values form a grid: r: [8, 16, 64]
    baselines:
      - untuned: true                          # each base model as is (no training)
      - {name: gpt-4, backend: openai, model_name: gpt-4}   # an API model writes the SQL

Points are the product of the grid axes, the zipped groups, data, data_fraction and base, plus the
baselines. Each point is a plain dict (`Point.spec`), hashed to notice a changed config.
Relative paths resolve against the current directory and are stored absolute, so a point is
self-contained (a Ray worker or a SLURM job can run it from anywhere on a shared filesystem).
This module loads no torch.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from text2sql_cli.artifacts import sha256_file as file_sha256
from text2sql_cli.errors import InputError, UsageError

TOP_KEYS = ("train", "test", "infer", "eval", "seed", "axes", "baselines")
PATH_OPTIONS = ("data", "eval_file")
# `t2s infer` / `t2s eval` options a sweep may set (the sweep owns --model, --data, --out)
INFER_KEYS = ("template", "max_new_tokens", "batch_size", "precision", "quant", "columns")
EVAL_KEYS = (
    "metric",
    "mode",
    "dialect",
    "timeout",
    "workers",
    "seed",
    "k",
    "float_tol",
    "max_rows",
    "db_dir",
    "engine",  # (--db-url is left out: it may hold a password, and point.json is a plain record)
    "keep_distinct",
    "judge",
    "judge_base_url",
    "judge_api_key_env",
    "judge_sees",
    "judge_prompt",
    "rpm",
    "tpm",
    "max_cost",
)
BASELINE_KEYS = ("name", "untuned", "base", "backend", "model_name", "base_url", "infer")
SHORT = {"data_fraction": "frac"}
DATA_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")
GENERIC_STEMS = ("train", "test", "data", "rows", "all")


@dataclass(frozen=True)
class Point:
    """One train -> infer -> eval (or infer -> eval for a baseline) unit of the sweep."""

    name: str
    kind: str  # train | untuned | api
    settings: dict[str, Any]  # the axis values that set this point apart (shown in reports)
    spec: dict[str, Any]  # everything the point runs with; its hash detects a changed config

    @property
    def digest(self) -> str:
        return spec_digest(self.spec)

    def matches(self, selectors: dict[str, str]) -> bool:
        """`--only r=16,data=clean`: every key must be a setting with that value (as text or stem)."""
        values = self.settings | {"name": self.name, "kind": self.kind}
        values |= {SHORT[k]: v for k, v in self.settings.items() if k in SHORT}
        return all(k in values and v in (str(values[k]), _label(values[k])) for k, v in selectors.items())


def spec_digest(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_sweep(path: str | Path) -> dict[str, Any]:
    """Read and check the YAML (every problem at once, naming the file)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such sweep file", hint="pass --config sweep.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise InputError(path, f"not valid YAML ({err})".replace("\n", " ")) from None
    if not isinstance(raw, dict):
        raise InputError(path, "expected a mapping with train, test, axes, ...")
    raw = _dashes_to_underscores(raw)
    problems = [f"unknown key {k!r} (use {', '.join(TOP_KEYS)})" for k in raw if k not in TOP_KEYS]
    problems += _check_sections(raw)
    if problems:
        raise InputError(path, "; ".join(problems), hint="see examples/sweeps/tiny.yaml")
    return raw


def _dashes_to_underscores(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).replace("-", "_"): _dashes_to_underscores(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dashes_to_underscores(v) for v in value]
    return value


def _check_sections(raw: dict[str, Any]) -> list[str]:
    from text2sql_cli.training.config import TrainSettings

    train_keys = set(TrainSettings.model_fields) - {"out", "resume"}
    problems: list[str] = []
    if "test" not in raw:
        problems.append("test: is required (the rows every point is scored on)")
    elif not Path(str(raw["test"])).is_file():
        problems.append(f"test: {raw['test']}: no such file")
    for section, allowed in (("train", train_keys), ("infer", set(INFER_KEYS)), ("eval", set(EVAL_KEYS))):
        value = raw.get(section) or {}
        if not isinstance(value, dict):
            problems.append(f"{section}: expected a mapping")
            continue
        problems += [f"{section}.{k} is not a sweep-settable option" for k in value if k not in allowed]
    for axes in _studies(raw):
        if not isinstance(axes, dict):
            problems.append("axes: expected a mapping of option: [values] (or a list of such)")
            continue
        problems += _check_axes(axes, train_keys)
    for i, b in enumerate(raw.get("baselines") or []):
        if not isinstance(b, dict) or not (b.get("untuned") or b.get("backend") == "openai"):
            problems.append(f"baselines[{i}]: give untuned: true or backend: openai with model_name")
            continue
        problems += [f"baselines[{i}].{k} is unknown" for k in b if k not in BASELINE_KEYS]
        if b.get("backend") == "openai" and not b.get("model_name"):
            problems.append(f"baselines[{i}]: backend openai needs model_name")
    return problems


def _studies(raw: dict[str, Any]) -> list[Any]:
    """`axes:` is one mapping (one product of axes) or a list of them (one comparison each)."""
    axes = raw.get("axes") or {}
    return axes if isinstance(axes, list) else [axes]


def _check_axes(axes: dict[str, Any], train_keys: set[str]) -> list[str]:
    problems: list[str] = []
    for key, values in axes.items():
        if key == "pairs":
            groups = values if isinstance(values, list) else [values]
            for group in groups:
                if not isinstance(group, dict) or len({len(v) for v in group.values()}) != 1:
                    problems.append("axes.pairs: each group maps options to lists of one length")
                    continue
                problems += [f"axes.pairs.{k} is not a train option" for k in group if k not in train_keys]
        elif key != "data_fraction" and key not in train_keys:
            problems.append(f"axes.{key} is not a train option (or pairs, data_fraction)")
        elif not isinstance(values, list) or not values:
            problems.append(f"axes.{key}: expected a non-empty list")
    for f in axes.get("data_fraction") or []:
        if not isinstance(f, (int, float)) or not 0 < f <= 1:
            problems.append(f"axes.data_fraction: {f!r} is not in (0, 1]")
    return problems


def expand(raw: dict[str, Any]) -> list[Point]:
    """All points of the sweep, training points first, in a stable order. With a list of axes
    (one comparison each), a point two comparisons share (the same spec) runs once, under the
    first name, with the settings of both (so it sits on both comparisons' plots)."""
    train = dict(raw.get("train") or {})
    common = _common(raw)
    points: list[Point] = []
    by_digest: dict[str, int] = {}
    bases: list[Any] = []
    for axes in _studies(raw):
        axes = dict(axes)
        bases += [b for b in axes.get("base") or [] if b not in bases]
        for point in _product(axes, train, common):
            if point.digest in by_digest:
                first = points[by_digest[point.digest]]
                merged = first.settings | {k: v for k, v in point.settings.items() if k not in first.settings}
                points[by_digest[point.digest]] = Point(first.name, first.kind, merged, first.spec)
                continue
            by_digest[point.digest] = len(points)
            points.append(point)
    bases = bases or [train.get("base")]
    for baseline in raw.get("baselines") or []:
        points += _baseline_points(baseline, bases, common, vary_base=len(bases) > 1)
    _check_unique(points)
    return points


def _product(axes: dict[str, Any], train: dict[str, Any], common: dict[str, Any]):
    pairs = axes.pop("pairs", None)
    groups = [] if pairs is None else (pairs if isinstance(pairs, list) else [pairs])
    fractions = axes.pop("data_fraction", None)
    # one "dimension" per grid key, one per zipped group; each yields dicts of settings
    dims: list[list[dict[str, Any]]] = [[{k: v} for v in vals] for k, vals in axes.items()]
    dims += [[dict(zip(g, combo)) for combo in zip(*g.values())] for g in groups]
    if fractions is not None:
        dims.append([{"data_fraction": f} for f in fractions])
    for combo in itertools.product(*dims):
        settings: dict[str, Any] = {}
        for part in combo:
            settings |= part
        options = train | {k: v for k, v in settings.items() if k != "data_fraction"}
        fraction = settings.get("data_fraction")
        spec = common | {
            "kind": "train",
            "train": _absolute(options),
            "data_fraction": None if fraction == 1 else fraction,  # all of it: the same run as none
            "data_sha256": _sha_or_none(options.get("data")),
        }
        yield Point(_name(settings) or "train", "train", settings, spec)


def _common(raw: dict[str, Any]) -> dict[str, Any]:
    test = Path(str(raw["test"])).resolve()
    evals = dict(raw.get("eval") or {})
    for key in ("db_dir", "judge_prompt"):
        if evals.get(key) is not None:
            evals[key] = str(Path(str(evals[key])).resolve())
    return {
        "format": 1,
        "test": str(test),
        "test_sha256": file_sha256(test),
        "infer": dict(raw.get("infer") or {}),
        "eval": evals,
        "seed": int(raw.get("seed", 42)),
    }


def _baseline_points(b: dict[str, Any], bases: list[Any], common: dict[str, Any], vary_base: bool):
    infer = common["infer"] | dict(b.get("infer") or {})
    if b.get("untuned"):
        for base in [b["base"]] if b.get("base") else bases:
            settings = {"untuned": True} | ({"base": base} if vary_base or b.get("base") else {})
            spec = common | {"kind": "untuned", "model": _model_path(base), "infer": infer}
            yield Point(b.get("name") or _name(settings), "untuned", settings, spec)
        return
    settings = {"api": b["model_name"]}
    api = {"backend": "openai", "model_name": b["model_name"], "base_url": b.get("base_url")}
    spec = common | {"kind": "api", "api": api, "infer": infer}
    yield Point(b.get("name") or _name(settings), "api", settings, spec)


def _absolute(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    for key in PATH_OPTIONS:
        if out.get(key) is not None:
            out[key] = str(Path(str(out[key])).resolve())
    if out.get("base") is not None:
        out["base"] = _model_path(out["base"])
    return out


def _model_path(base: Any) -> str:
    """A local model directory as an absolute path; a hub id as given."""
    path = Path(str(base)).expanduser()
    return str(path.resolve()) if path.is_dir() else str(base)


def _sha_or_none(path: Any) -> str | None:
    return file_sha256(path) if path is not None and Path(str(path)).is_file() else None


def _label(value: Any) -> str:
    """A setting as a short, filesystem-safe label: a path's or hub id's last part, a number as is."""
    if value is True:
        return ""
    text = str(value)
    if "/" in text or "\\" in text or text.endswith(DATA_SUFFIXES):
        path = Path(text.rstrip("/"))
        # data/ko/train.jsonl vs data/ko-clean/train.jsonl: the folder tells them apart
        stem = path.stem if path.suffix in DATA_SUFFIXES else path.name  # not OPEN-SOLAR-KO-10(.7B)
        text = path.parent.name if stem in GENERIC_STEMS and path.parent.name else stem or text
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def _name(settings: dict[str, Any]) -> str:
    parts = []
    for key, value in settings.items():
        label = _label(value)
        parts.append(SHORT.get(key, key) + (f"={label}" if label else ""))
    return "_".join(parts)


def _check_unique(points: list[Point]) -> None:
    seen: dict[str, Point] = {}
    for p in points:
        if p.name in seen:
            raise UsageError(
                f"two sweep points would share the directory {p.name!r}",
                hint="give the files distinct names, or the baselines a name:",
            )
        seen[p.name] = p
