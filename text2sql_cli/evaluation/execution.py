"""Execution accuracy (EX): run gold and predicted SQL on the same databases and compare results.

    ExecutionSettings            the knobs (`T2S_EVAL_*`, flags of `t2s eval`)
    score_example(task) -> dict  one verdict; runs in a worker process
    ex_column(predictions, settings) -> list[dict]   the `ex` metric column, in input order

Databases: with `db_dir`, the Spider layout `<db_dir>/<db_id>/*.sqlite` (several files for one
db_id form a test suite); otherwise `synth` builds `instances` databases from the row's DDL,
seeded with the gold query's literals. A prediction is correct only if it matches gold on every
database.

Statuses: correct, wrong_result, pred_error, timeout (the prediction ran out of time),
extraction_failed (no SQL in the generation), gold_error (the gold query or its DDL does not run:
excluded from the denominator, never a match), no_gold, crashed (the worker died: excluded, never
recorded as 0), generation_error (`t2s infer` produced no generation: excluded, not run). `ex` is
True/False for scored examples and None for excluded ones.

This module imports only pydantic and the standard library at load time (config.py imports it to
list settings classes); sqlglot loads when evaluation starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field

from text2sql_cli.config import T2SSettings

EXCLUDED = ("gold_error", "no_gold", "crashed", "generation_error")


class ExecutionSettings(T2SSettings):
    """Execution accuracy settings; each also a `t2s eval` flag (flag > T2S_* env > .env > default)."""

    eval_mode: Literal["spider", "bird", "sqleval"] = Field(
        "spider", description="result comparison: spider (test-suite), bird (sets), sqleval (defog)"
    )
    eval_dialect: Literal["auto", "mysql", "postgres", "sqlite"] = Field(
        "auto", description="dialect of gold/predicted SQL and DDL, transpiled to SQLite"
    )
    eval_timeout: float = Field(5.0, gt=0, description="seconds per query")
    eval_workers: int = Field(2, ge=1, description="worker processes (1 = run in this process)")
    eval_seed: int = Field(0, description="seed for synthesized databases")
    eval_instances: int = Field(5, ge=1, le=50, description="synthesized databases per example (K)")
    float_tol: float = Field(1e-6, ge=0, description="absolute tolerance when comparing numbers")
    max_rows: int = Field(100_000, ge=1, description="a query returning more rows fails")
    db_dir: Path | None = Field(None, description="Spider-layout databases; replaces synthesis")


@dataclass(frozen=True)
class ExTask:
    """One example to score; everything a worker needs, picklable."""

    db_id: str
    context: str | None
    gold: str | None
    pred: str | None
    mode: str = "spider"
    dialect: str = "auto"
    timeout: float = 5.0
    max_rows: int = 100_000
    float_tol: float = 1e-6
    instances: int = 5
    seed: int = 0
    db_dir: str | None = None


@dataclass(frozen=True)
class ExVerdict:
    status: str
    reason: str | None = None
    gold_error_kind: str | None = None  # why gold did not run: missing_table, needs_function:X, ...
    gold_empty: bool | None = None  # gold returned no rows on every database
    low_information: bool | None = None  # gold empty, or the same result on every database
    order_matters: bool | None = None
    databases: int = 0

    @property
    def ex(self) -> bool | None:
        return None if self.status in EXCLUDED else self.status == "correct"

    def as_row(self) -> dict:
        return {"ex": self.ex, **asdict(self)}


def score_example(task: ExTask) -> dict:
    """The verdict for one example as a results.jsonl fragment (`ex`, `status`, ...)."""
    return _score(task).as_row()


def crashed(task: ExTask, message: str) -> dict:
    return ExVerdict("crashed", reason=message).as_row()


def _score(task: ExTask) -> ExVerdict:
    from text2sql_cli.sql.compare import rows_match
    from text2sql_cli.sql.sandbox import execute
    from text2sql_cli.sql.schema import SchemaError

    if not task.gold or not task.gold.strip():
        return ExVerdict("no_gold", reason="the example has no gold SQL")
    gold, gold_ordered = prepare_query(task.gold, task.dialect, task.mode)
    pred = prepare_query(task.pred, task.dialect, task.mode)[0] if task.pred else None
    try:
        connections = _connections(task, gold)
    except SchemaError as err:
        return ExVerdict("gold_error", reason=f"the DDL does not load: {err}", gold_error_kind="ddl")
    except FileNotFoundError as err:
        return ExVerdict("gold_error", reason=str(err), gold_error_kind="no_database")
    run = dict(timeout=task.timeout, max_rows=task.max_rows)
    gold_results = [execute(conn, gold, **run) for conn in connections]
    failed = next((r for r in gold_results if not r.ok), None)
    if failed is not None:
        return ExVerdict(
            "gold_error", reason=failed.error, gold_error_kind=_error_kind(failed), databases=len(connections)
        )
    order = task.mode == "spider" and gold_ordered
    gold_empty = all(not r.rows for r in gold_results)
    same_everywhere = len(gold_results) > 1 and len({r.rows for r in gold_results}) == 1
    facts = dict(
        gold_empty=gold_empty,
        low_information=gold_empty or same_everywhere,
        order_matters=order,
        databases=len(connections),
    )
    if pred is None:
        return ExVerdict("extraction_failed", reason="no SQL found in the generation", **facts)
    for conn, expected in zip(connections, gold_results):
        got = execute(conn, pred, **run)
        if got.timed_out:
            return ExVerdict("timeout", reason=got.error, **facts)
        if not got.ok:
            return ExVerdict("pred_error", reason=got.error, **facts)
        if not rows_match(
            expected.rows, got.rows, mode=task.mode, order_matters=order, float_tol=task.float_tol
        ):
            return ExVerdict("wrong_result", **facts)
    return ExVerdict("correct", **facts)


@lru_cache(maxsize=8192)
def prepare_query(sql: str, dialect: str, mode: str) -> tuple[str, bool]:
    """SQLite text to run (transpiled; DISTINCT removed in spider mode) and whether the query
    has a top-level ORDER BY. Parsed once; text sqlglot cannot parse runs unchanged."""
    from text2sql_cli.sql.compare import strip_distinct_tree
    from text2sql_cli.sql.dialect import sqlite_tree

    tree = sqlite_tree(sql, dialect)
    if tree is None:
        return sql, "order by" in " ".join(sql.lower().split())
    ordered = tree.args.get("order") is not None
    if mode == "spider":
        tree = strip_distinct_tree(tree)
    return tree.sql(dialect="sqlite"), ordered


def _error_kind(result) -> str:
    """A short, countable reason a gold query failed (the report groups by it)."""
    import re

    if result.timed_out:
        return "timeout"
    if result.row_limit:
        return "row_limit"
    text = result.error or ""
    if m := re.search(r"no such function: (\w+)", text):
        return f"needs_function:{m.group(1).upper()}"
    if "no such table" in text:
        return "missing_table"
    if "no such column" in text:
        return "missing_column"
    if "syntax error" in text:
        return "syntax_error"
    if "not authorized" in text:
        return "not_read_only"
    return "error"


def _connections(task: ExTask, gold_sqlite: str):
    from text2sql_cli.sql.sandbox import open_snapshot

    if task.db_dir:
        return [_readonly(str(p)) for p in database_files(Path(task.db_dir), task.db_id)]
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import instances_for

    if not task.context or not task.context.strip():
        raise SchemaError("the example has no DDL (context)")
    snapshots = instances_for(
        task.context, gold_sqlite, k=task.instances, seed=task.seed, dialect=task.dialect
    )
    return [open_snapshot(data) for data in snapshots]


def database_files(db_dir: Path, db_id: str) -> list[Path]:
    """`<db_dir>/<db_id>/*.sqlite`, sorted; FileNotFoundError when there is none."""
    files = sorted((db_dir / db_id).glob("*.sqlite"))
    if not files:
        raise FileNotFoundError(f"no database for db_id {db_id!r}: expected {db_dir / db_id}/*.sqlite")
    return files


@lru_cache(maxsize=64)
def _readonly(path: str):
    from text2sql_cli.sql.sandbox import open_readonly

    return open_readonly(path)


def ex_column(predictions, settings: ExecutionSettings, *, progress: bool = False) -> list[dict]:
    """Score every prediction (objects with db_id, context, gold, sql); results in input order.
    `progress` shows a rich bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from text2sql_cli.sql.pool import run_tasks

    # A row t2s infer could not generate has nothing to run: excluded, never scored as wrong.
    scored = [p for p in predictions if getattr(p, "error", None) is None]
    tasks = [
        ExTask(
            db_id=p.db_id,
            context=p.context,
            gold=p.gold,
            pred=p.sql,
            mode=settings.eval_mode,
            dialect=settings.eval_dialect,
            timeout=settings.eval_timeout,
            max_rows=settings.max_rows,
            float_tol=settings.float_tol,
            instances=settings.eval_instances,
            seed=settings.eval_seed,
            db_dir=str(settings.db_dir) if settings.db_dir else None,
        )
        for p in scored
    ]
    workers = settings.eval_workers if len(tasks) >= 32 else 1  # a pool costs more than it saves
    if workers > 1:  # import before forking, so that workers do not each pay for it
        import sqlglot.dialects.mysql  # noqa: F401
        import sqlglot.dialects.sqlite  # noqa: F401

        import text2sql_cli.sql.synth  # noqa: F401
    bar = Progress(
        TextColumn("EX"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not progress,
    )
    with bar:
        task_id = bar.add_task("EX", total=len(tasks))
        results = run_tasks(
            score_example,
            tasks,
            workers=workers,
            on_crash=crashed,
            on_progress=lambda n: bar.advance(task_id, n),
        )
    verdicts = iter(results)
    return [
        next(verdicts)
        if getattr(p, "error", None) is None
        else ExVerdict("generation_error", reason=f"t2s infer produced no generation: {p.error}").as_row()
        for p in predictions
    ]
