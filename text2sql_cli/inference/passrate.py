"""`t2s data pass-rate`: how often a model solves each training row, to keep rows with a signal.

For each row the model samples `samples` completions (the `--candidates` machinery: one generate
call per batch on hf, N requests on openai); each one's SQL is run against the row's gold
(`sql/goldmatch.py`, the verdict of `t2s eval --metric ex` with its default mode: synthesized or
`--db-dir` databases, read-only, in the worker pool), and the row's pass rate is the share that
are correct. GRPO learns nothing from a row the model always or
never solves (every completion gets the same reward), so the published recipes keep rows with
`min_pass <= rate <= max_pass` (e.g. 0.01 and 0.99).

Output `OUT` (JSONL, input order): id, db_id, pass_rate, correct, samples, statuses (verdict
counts), or `error` when no completion came back, or `gold_error: true` when the gold query is
missing or does not run (no rate: such a row cannot be learned from). Rows are appended as
batches finish; a rerun skips ids already in OUT, and OUT is rewritten in input order at the end.
With `keep`, the data rows whose rate is within [min_pass, max_pass] are written there
(atomically).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from text2sql_cli.data import load_examples
from text2sql_cli.errors import InputError, UsageError
from text2sql_cli.inference import InferSettings
from text2sql_cli.inference.backend import Item
from text2sql_cli.inference.factory import load_backend
from text2sql_cli.io import JsonlAppender, iter_jsonl, write_jsonl
from text2sql_cli.progress import ProgressBar


@dataclass
class PassRateSummary:
    out: Path
    rows: int
    resumed: int
    kept: int | None
    gold_errors: int
    errors: int
    mean_rate: float | None
    histogram: dict[str, int]


def pass_rates(
    cfg: InferSettings,
    *,
    model: str | None,
    data: str | Path,
    out: str | Path,
    samples: int,
    keep: str | Path | None = None,
    min_pass: float = 0.0,
    max_pass: float = 1.0,
    instances: int = 5,
    timeout: float = 5.0,
    db_dir: str | None = None,
    workers: int = 2,
    console: Any = None,
) -> PassRateSummary:
    if samples < 2:
        raise UsageError("--samples must be at least 2", hint="a pass rate needs several samples, e.g. 8")
    if not 0 <= min_pass <= max_pass <= 1:
        raise UsageError("need 0 <= --min-pass <= --max-pass <= 1")
    out = Path(out)
    examples, _ = load_examples(data, flags=())
    if not examples:
        raise InputError(data, "no rows", hint="check the file")
    done = {str(r["id"]): r for r in _rows(out) if "error" not in r}
    foreign = set(done) - {e.id for e in examples}
    if foreign:
        raise UsageError(
            f"{out} holds ids not in {data} (e.g. {sorted(foreign)[0]})",
            hint="use another --out or delete it",
        )
    pending = [e for e in examples if e.id not in done]
    if pending:
        backend = load_backend(cfg.model_copy(update={"candidates": samples}), model=model)
        if backend.name == "openai":
            backend.cache_path = out.with_name(out.name + ".llm_cache.jsonl")
        bar = ProgressBar(
            "pass rate", len(pending), enabled=console is not None, console=console, remaining=True
        )
        with JsonlAppender(out) as sink, bar:
            for start in range(0, len(pending), backend.batch_size):
                chunk = pending[start : start + backend.batch_size]
                for row in _score_chunk(backend, chunk, instances, timeout, db_dir, cfg, workers):
                    sink.write(row)
                    if "error" not in row:
                        done[row["id"]] = row
                bar.advance(len(chunk))
    ordered = [done[e.id] for e in examples if e.id in done]
    failed = {str(r["id"]): r for r in _rows(out) if "error" in r and str(r["id"]) not in done}
    write_jsonl(out, ordered + list(failed.values()))  # in input order; failed rows are retried next run
    rates = [r["pass_rate"] for r in ordered if r.get("pass_rate") is not None]
    kept = None
    if keep is not None:
        chosen = [e.to_dict() for e in examples if _within(done.get(e.id), min_pass, max_pass)]
        write_jsonl(Path(keep), chosen)
        kept = len(chosen)
    return PassRateSummary(
        out=out,
        rows=len(examples),
        resumed=len(examples) - len(pending),
        kept=kept,
        gold_errors=sum(1 for r in ordered if r.get("gold_error")),
        errors=len(examples) - len(ordered),
        mean_rate=sum(rates) / len(rates) if rates else None,
        histogram=_histogram(rates),
    )


def _score_chunk(backend, chunk, instances, timeout, db_dir, cfg, workers) -> list[dict[str, Any]]:
    from text2sql_cli.sql.extract import extract_sql
    from text2sql_cli.sql.goldmatch import gold_task, statuses

    generations = backend.generate([backend.prepare(Item(e.id, e.context, e.question)) for e in chunk])
    tasks, owners = [], []
    rows: list[dict[str, Any]] = []
    for e, gen in zip(chunk, generations):
        if not gen.candidates:
            rows.append({"id": e.id, "db_id": e.db_id, "error": gen.error or "no generation"})
            continue
        rows.append({"id": e.id, "db_id": e.db_id})
        for raw in gen.candidates:
            sql = extract_sql(raw, backend.template.stop).sql if raw is not None else None
            tasks.append(
                gold_task(
                    str(e.db_id),
                    e.context,
                    e.answer,
                    sql,
                    db_dir=db_dir,
                    dialect=cfg.dialect,
                    timeout=timeout,
                    instances=instances,
                    seed=cfg.seed,
                )
            )
            owners.append(len(rows) - 1)
    verdicts = statuses(tasks, workers=workers if len(tasks) >= 16 else 1)
    counts: dict[int, Counter] = {}
    for owner, verdict in zip(owners, verdicts):
        counts.setdefault(owner, Counter())[verdict] += 1
    for index, counted in counts.items():
        n = sum(counted.values())
        row = rows[index]
        row.update(samples=n, correct=counted["correct"], statuses=dict(counted))
        if counted["gold_error"] or counted["no_gold"]:
            row.update(pass_rate=None, gold_error=True)
        else:
            row["pass_rate"] = round(counted["correct"] / n, 4)
    return rows


def _within(row: dict | None, low: float, high: float) -> bool:
    return row is not None and row.get("pass_rate") is not None and low <= row["pass_rate"] <= high


def _histogram(rates: list[float]) -> dict[str, int]:
    bins = {"0": 0, "(0, 0.5)": 0, "[0.5, 1)": 0, "1": 0}
    for r in rates:
        key = "0" if r == 0 else "1" if r == 1 else "(0, 0.5)" if r < 0.5 else "[0.5, 1)"
        bins[key] += 1
    return bins


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [row for _, row in iter_jsonl(path, tolerate_torn_tail=True)]
