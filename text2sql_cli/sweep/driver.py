"""The sweep driver: select points, plan, run them one after another (or hand them to Ray), and
write SWEEP/sweep.json. Rerunning the same command skips finished points and resumes the rest.

Points run in order; a failed point is recorded (status.json) and the sweep goes on to the next,
exiting 1 at the end. Ctrl-C stops after the running stage has saved what it can.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli import __version__
from text2sql_cli.errors import UsageError
from text2sql_cli.sweep.config import Point, expand, load_sweep
from text2sql_cli.sweep.point import Launch, PointFailed, read_status, run_point, state

SWEEP_FILE = "sweep.json"


@dataclass
class SweepResult:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def parse_only(only: list[str] | None) -> dict[str, str]:
    """['r=16,alpha=32', 'data=clean'] -> {r: 16, alpha: 32, data: clean} (all must hold)."""
    selectors: dict[str, str] = {}
    for item in only or []:
        for part in item.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise UsageError(f"--only {item!r}: expected KEY=VALUE[,KEY=VALUE]", hint="e.g. --only r=16")
            selectors[key.strip()] = value.strip()
    return selectors


def select(
    config: Path, *, only: list[str] | None = None, max_points: int | None = None, point: str | None = None
) -> tuple[dict[str, Any], list[Point]]:
    raw = load_sweep(config)
    points = expand(raw)
    if point is not None:
        chosen = [p for p in points if p.name == point]
        if not chosen:
            raise UsageError(f"--point {point!r} is not in {config}", hint="see the names with --dry-run")
        return raw, chosen
    selectors = parse_only(only)
    chosen = [p for p in points if p.matches(selectors)]
    if selectors and not chosen:
        raise UsageError(
            f"--only {', '.join(only or [])} matches no point", hint="see the points with --dry-run"
        )
    if max_points is not None:
        chosen = chosen[:max_points]
    return raw, chosen


def plan_rows(points: list[Point], out: Path) -> list[tuple[str, str, str, str]]:
    """(name, kind, settings, state) per point, for --dry-run and the start of a run."""
    rows = []
    for p in points:
        settings = ", ".join(f"{k}={v}" for k, v in p.settings.items()) or "-"
        rows.append((p.name, p.kind, settings, state(p, out / p.name)))
    return rows


def judge_estimate(raw: dict[str, Any], points: list[Point], out: Path):
    """The judge's estimated requests and cost over all points, each judged once on the test rows
    (the gold SQL stands in for the generation, whose length is unknown before inference)."""
    model = (raw.get("eval") or {}).get("judge")
    if not model:
        return None
    from text2sql_cli.data import load_examples
    from text2sql_cli.evaluation.judge import JudgeConfig, estimate_judge

    evals = raw["eval"]
    cfg = JudgeConfig.build(
        model,
        base_url=evals.get("judge_base_url"),
        api_key_env=evals.get("judge_api_key_env"),
        sees=evals.get("judge_sees"),
        prompt_file=Path(evals["judge_prompt"]) if evals.get("judge_prompt") else None,
        max_cost=None,
        rpm=None,
        tpm=None,
        require_key=False,
    )
    examples, _ = load_examples(raw["test"])
    rows = [
        {
            "id": e.id,
            "question": e.question,
            "context": e.context,
            "gold": e.answer,
            "sql": e.answer,
            "raw": e.answer,
        }
        for e in examples
    ]
    todo = [p for p in points if state(p, out / p.name) != "done"]
    one = estimate_judge(rows, cfg, out / "_no_cache_")
    return model, len(todo), one


def emit_commands(config: Path, out: Path, points: list[Point], launch: Launch) -> list[str]:
    """One self-contained, resumable command per point (for SLURM arrays, Kubernetes jobs...). It
    starts with `cd` to here: the sweep file's relative paths are relative to this directory."""
    extra = (
        ["--launcher", "accelerate", "--num-processes", str(launch.num_processes)]
        if launch.launcher == "accelerate"
        else []
    )
    base = ["t2s", "sweep", "--config", str(config.resolve()), "--out", str(out.resolve()), *extra]
    here = shlex.quote(str(Path.cwd()))
    return [f"cd {here} && {shlex.join([*base, '--point', p.name])}" for p in points]


def write_sweep_record(raw: dict[str, Any], config: Path, out: Path, points: list[Point]) -> None:
    from datetime import datetime, timezone

    from text2sql_cli.io import write_json

    record_path = out / SWEEP_FILE
    known: list[str] = []
    if record_path.exists():
        import json

        try:
            known = list(json.loads(record_path.read_text(encoding="utf-8")).get("points", []))
        except (OSError, ValueError):
            known = []
    names = known + [p.name for p in points if p.name not in known]
    write_json(
        record_path,
        {
            "format": 1,
            "producer": f"t2s {__version__} sweep",
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "config_path": str(config.resolve()),
            "config": raw,
            "points": names,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )


def run_local(points: list[Point], out: Path, launch: Launch, *, console=None) -> SweepResult:
    result = SweepResult()

    def started(point: Point, stage: str) -> None:
        if console is not None:
            console.print(
                f"[bold]{point.name}[/]: {stage} (log {out / point.name / 'logs' / (stage + '.log')})"
            )

    for i, point in enumerate(points, 1):
        d = out / point.name
        if state(point, d) == "done":
            result.skipped.append(point.name)
            if console is not None:
                console.print(f"[dim]{i}/{len(points)} {point.name}: done earlier, skipped[/]")
            continue
        if console is not None:
            console.rule(f"{i}/{len(points)} {point.name}")
        try:
            run_point(point, d, launch, on_stage=started)
        except PointFailed as err:
            result.failed[point.name] = str(err)
            if console is not None:
                console.print(f"[red]{point.name} failed at {err.stage}[/]: {err}")
            continue
        result.done.append(point.name)
    return result


def status_rows(points: list[Point], out: Path) -> list[tuple[str, str, str]]:
    rows = []
    for p in points:
        s = read_status(out / p.name)
        seconds = sum((v or {}).get("seconds") or 0 for v in (s.get("stages") or {}).values())
        rows.append((p.name, s.get("status", "not run"), f"{seconds:.0f} s" if seconds else "-"))
    return rows
