"""Run `t2s filter`: load, check, decide, write.

Outputs in `out_dir` (each written atomically; `summary.json` last, so its presence means the
run finished):

    kept.<ext>       the rows that passed, exactly as read, in the input's format (jsonl, json,
                     csv, parquet; jsonl for a hub dataset): `t2s train` reads it like the input
    dropped.jsonl    {"id", "db_id", "reason", "detail", "row"} per dropped row, in input order
    held.jsonl       (LLM check only) rows the LLM could not judge, with their status; left out of
                     the kept file unless --on-llm-failure keep
    summary.json     counts by reason and by db_id, notes, the LLM's cost, the settings
    filter_llm_cache.jsonl   the LLM check's resume cache

Row ids follow data.load_examples (a source `id` column, else the 0-based row position), so they
are stable across reruns.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.data import FIELDS, LOCAL_SUFFIXES, Example, load_examples
from text2sql_cli.filtering import LLM_UNVERIFIED, REASONS, FilterSettings
from text2sql_cli.filtering.rules import SqlTask, check_sql, crashed, duplicate_key, missing_fields, overran
from text2sql_cli.progress import ProgressBar

NO_DB = "(none)"


@dataclass
class Loaded:
    rows: list[dict[str, Any]]  # as read
    examples: list[Example | None]  # aligned with rows; None where a field is missing
    missing: list[list[str]]  # the missing fields of each row
    fmt: str  # format of the kept file
    fieldnames: list[str]  # column order (csv)


@dataclass
class Outcome:
    reason: str | None = None
    detail: str | None = None
    note: str | None = None
    llm: Any = None  # filtering.llm.LLMOutcome when the LLM check ran on the row


@dataclass
class FilterReport:
    summary: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)
    estimate: Any = None  # llm_client.Estimate on --dry-run


def load(
    source: str | Path,
    *,
    columns: dict[str, str] | None = None,
    config: str | None = None,
    split: str = "train",
) -> Loaded:
    """Rows as read plus validated Examples. load_examples does the validation (columns present,
    unique ids) and skips incomplete rows; the raw rows are read again to write them back as-is."""
    from text2sql_cli.data import _read_hub, _read_local

    examples, _ = load_examples(source, config=config, split=split, columns=columns, drop_na=True)
    path = Path(str(source))
    if path.suffix.lower() in LOCAL_SUFFIXES or path.exists():
        rows, _, _ = _read_local(path)
        fmt = path.suffix.lower().lstrip(".")
    else:
        rows, fmt = _read_hub(str(source), config, split), "jsonl"
    mapping = {f: f for f in (*FIELDS, "id")} | (columns or {})
    missing = [missing_fields(row, mapping) for row in rows]
    complete = iter(examples)
    aligned = [None if gone else next(complete) for gone in missing]
    fieldnames = list(dict.fromkeys(k for row in rows[:1] for k in row))
    return Loaded(rows, aligned, missing, fmt, fieldnames)


def run_filter(
    source: str | Path,
    out_dir: str | Path,
    cfg: FilterSettings,
    *,
    columns: dict[str, str] | None = None,
    config: str | None = None,
    split: str = "train",
    llm: Any = None,
    dry_run: bool = False,
    progress: bool = True,
) -> FilterReport:
    """Filter `source` into `out_dir`. `llm` is a filtering.llm.LLMFilterConfig or None; with
    `dry_run` the rule checks run, the LLM cost is estimated and nothing is sent or written."""
    start = time.monotonic()
    out_dir = Path(out_dir)
    data = load(source, columns=columns, config=config, split=split)
    outcomes = [Outcome() for _ in data.rows]
    checks = cfg.checks
    _rule_checks(data, outcomes, cfg, progress)
    candidates = [ex for ex, o in zip(data.examples, outcomes) if ex is not None and o.reason is None]
    llm_summary = None
    if llm is not None:
        from text2sql_cli.filtering.llm import estimate_llm, run_llm

        if dry_run:
            return FilterReport(
                _summary(data, outcomes, cfg, source, None, start),
                estimate=estimate_llm(candidates, llm, out_dir),
            )
        verdicts, batch = run_llm(candidates, llm, out_dir, progress=progress)
        for ex, o in zip(data.examples, outcomes):
            if ex is not None and o.reason is None:
                o.llm = verdicts[ex.id]
                if o.llm.status == "no":
                    o.reason, o.detail = "llm_rejected", o.llm.reason or "the LLM answered no"
        llm_summary = {
            **llm.public_dump(),
            "asked": len(candidates),
            "requests_sent": batch.sent,
            "cost_usd_this_run": round(batch.cost, 6),
            "cost_usd_total": round(batch.total_cost, 6),
            "stopped": batch.stopped,
            "on_failure": cfg.on_llm_failure,
        }
    summary = _summary(data, outcomes, cfg, source, llm_summary, start)
    summary["checks"] = list(checks) + (["llm"] if llm is not None else [])
    return FilterReport(summary, _write(data, outcomes, cfg, out_dir, summary, llm is not None))


def _rule_checks(data: Loaded, outcomes: list[Outcome], cfg: FilterSettings, progress: bool) -> None:
    checks = cfg.checks
    seen: dict[tuple[str, str], str] = {}
    for ex, gone, o in zip(data.examples, data.missing, outcomes):
        if ex is None:
            if "missing" in checks:
                o.reason, o.detail = "missing_field", f"empty or missing {', '.join(gone)}"
            else:
                o.note = "not_checked: incomplete row"
            continue
        if "duplicate" in checks:
            key = duplicate_key(ex.question, ex.context)
            if key in seen:
                o.reason, o.detail = "duplicate", f"same question and context as row id {seen[key]}"
                continue
            seen[key] = ex.id
    sql_checks = tuple(c for c in checks if c in ("parse", "schema", "execute", "empty"))
    if sql_checks:
        todo = [(ex, o) for ex, o in zip(data.examples, outcomes) if ex is not None and o.reason is None]
        _sql_checks(todo, sql_checks, cfg, progress)


def _sql_checks(
    todo: list[tuple[Example, Outcome]], checks: tuple[str, ...], cfg: FilterSettings, progress: bool
) -> None:
    """Each distinct (DDL, gold SQL) is checked once, in worker processes, sorted by DDL so that
    a worker's chunk reuses its cached schema and database."""
    from text2sql_cli.sql.pool import run_tasks

    db_url = ""
    if cfg.engine != "sqlite" or cfg.db_url:
        from text2sql_cli.sql.engines import open_run

        db_url = open_run(cfg.engine, cfg.db_url)

    def task_of(ex: Example) -> SqlTask:
        settings = (cfg.dialect, cfg.timeout, cfg.instances, cfg.seed, cfg.engine, db_url)
        return SqlTask(ex.context, ex.answer or "", checks, *settings)

    tasks = sorted({task_of(ex) for ex, _ in todo}, key=lambda t: (t.context, t.answer))
    workers = cfg.workers if len(tasks) >= 32 else 1  # a pool costs more than it saves
    found: dict[SqlTask, Any] = {}
    # Batches give the progress bar something to show; each is big enough to keep workers busy.
    size = max(256, -(-len(tasks) // 10))
    with ProgressBar("rule checks", len(tasks), enabled=progress) as bar:
        for i in range(0, len(tasks), size):
            batch = tasks[i : i + size]
            found.update(
                zip(batch, run_tasks(check_sql, batch, workers=workers, on_crash=crashed, on_overrun=overran))
            )
            bar.advance(len(batch))
    for ex, o in todo:
        f = found[task_of(ex)]
        o.reason, o.detail, o.note = f.reason, f.detail, f.note


def _is_held(o: Outcome) -> bool:
    return o.reason is None and o.llm is not None and o.llm.status in LLM_UNVERIFIED


def _db(row: dict[str, Any], ex: Example | None) -> str:
    if ex is not None:
        return ex.db_id
    value = row.get("db_id")
    return NO_DB if value is None or str(value).strip() == "" else str(value).strip()


def _summary(
    data: Loaded, outcomes: list[Outcome], cfg: FilterSettings, source, llm_summary, start
) -> dict[str, Any]:
    hold = cfg.on_llm_failure == "hold"
    by_reason: Counter = Counter()
    notes: Counter = Counter()
    unverified: Counter = Counter()
    by_db: dict[str, dict[str, Any]] = {}
    for row, ex, o in zip(data.rows, data.examples, outcomes):
        db = by_db.setdefault(
            _db(row, ex), {"rows": 0, "kept": 0, "dropped": 0, "held": 0, "by_reason": Counter()}
        )
        db["rows"] += 1
        if o.note:
            notes[o.note.split(":")[0]] += 1
        if o.reason:
            by_reason[o.reason] += 1
            db["by_reason"][o.reason] += 1
            db["dropped"] += 1
        elif _is_held(o):
            unverified[o.llm.status] += 1
            db["held" if hold else "kept"] += 1
        else:
            db["kept"] += 1
    for db in by_db.values():
        db["by_reason"] = {r: db["by_reason"][r] for r in REASONS if db["by_reason"][r]}
    total = {k: sum(d[k] for d in by_db.values()) for k in ("rows", "kept", "dropped", "held")}
    from text2sql_cli.data import _natural

    return {
        "source": str(source),
        "format": data.fmt,
        "checks": list(cfg.checks),
        **total,
        "by_reason": {r: by_reason[r] for r in REASONS if by_reason[r]},
        "by_db": {k: by_db[k] for k in sorted(by_db, key=_natural)},
        "llm_unverified": {s: unverified[s] for s in LLM_UNVERIFIED if unverified[s]},
        "notes": dict(sorted(notes.items())),
        "llm": llm_summary,
        "settings": cfg.public_dump(),
        "elapsed_s": round(time.monotonic() - start, 3),
    }


def _write(
    data: Loaded, outcomes: list[Outcome], cfg: FilterSettings, out_dir: Path, summary: dict, llm_ran: bool
) -> dict[str, Path]:
    from text2sql_cli.io import write_json, write_jsonl

    hold = cfg.on_llm_failure == "hold"
    kept, dropped, held = [], [], []
    for index, (row, ex, o) in enumerate(zip(data.rows, data.examples, outcomes)):
        row_id = ex.id if ex is not None else str(row.get("id", index))
        if o.reason:
            dropped.append(
                {"id": row_id, "db_id": _db(row, ex), "reason": o.reason, "detail": o.detail, "row": row}
            )
            continue
        if _is_held(o):
            held.append(
                {
                    "id": row_id,
                    "db_id": _db(row, ex),
                    "status": f"llm_{o.llm.status}",
                    "detail": o.llm.reason,
                    "kept": not hold,
                    "row": row,
                }
            )
            if hold:
                continue
        kept.append(row)
    paths = {"kept": out_dir / f"kept.{data.fmt}", "dropped": out_dir / "dropped.jsonl"}
    write_rows(paths["kept"], kept, data.fmt, data.fieldnames)
    write_jsonl(paths["dropped"], dropped)
    held_path = out_dir / "held.jsonl"
    if llm_ran:
        write_jsonl(held_path, held)
        paths["held"] = held_path
    else:
        held_path.unlink(missing_ok=True)  # a previous run's; it would not describe this one
    paths["summary"] = out_dir / "summary.json"
    write_json(paths["summary"], summary)  # last: its presence means the run finished
    return paths


def write_rows(path: Path, rows: list[dict[str, Any]], fmt: str, fieldnames: list[str]) -> None:
    """Rows in `fmt`, atomically (a temporary file renamed into place)."""
    from text2sql_cli.io import atomic_write_text, write_json, write_jsonl

    if fmt == "jsonl":
        write_jsonl(path, rows)
    elif fmt == "json":
        write_json(path, rows)
    elif fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=fieldnames or list(FIELDS), extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buffer.getvalue())
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        from text2sql_cli.io import atomic_path

        with atomic_path(path) as tmp:
            pq.write_table(pa.Table.from_pylist(rows), tmp)
    else:
        raise ValueError(f"unknown format {fmt!r}")
