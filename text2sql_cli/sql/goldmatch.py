"""Does a predicted query give the gold query's result? One verdict, from the sql layer alone.

    GoldTask                      one prediction and its row (picklable)
    execution_status(task) -> str  correct, wrong_result, pred_error, timeout, extraction_failed,
                                   gold_error (run it with pool.run_tasks)

The same databases as `t2s eval --metric ex`: `--db-dir` (`<db_dir>/<db_id>/*.sqlite`, read-only)
or `instances` databases synthesized from the row's DDL, seeded with the gold query's literals;
the comparison is `compare.rows_match` in the given mode. For training rewards (`t2s train --method
grpo`) and pass rates (`t2s data pass-rate`), which may not import the evaluation package; `t2s
eval` keeps its own, richer verdicts (reasons, dialect report, real engines).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GoldTask:
    """One completion to score against its row's gold; picklable for the worker pool."""

    db_id: str
    context: str | None
    gold: str | None
    pred: str | None
    mode: str
    dialect: str
    timeout: float
    instances: int
    seed: int
    db_dir: str | None


def to_sqlite(sql: str, dialect: str) -> tuple[str, bool]:
    """SQLite text to run and whether it has a top-level ORDER BY (unparseable text runs as is)."""
    from text2sql_cli.sql.dialect import sqlite_tree

    tree = sqlite_tree(sql, dialect)
    if tree is None:
        return sql, "order by" in " ".join(sql.lower().split())
    return tree.sql(dialect="sqlite"), tree.args.get("order") is not None


def execution_status(task: GoldTask) -> str:
    """correct, wrong_result, pred_error, timeout, extraction_failed or gold_error (the row's gold
    or DDL does not run): `t2s eval`'s statuses, from the same sql-layer parts (synthesized or
    --db-dir databases, the sandbox, `compare.rows_match`). Runs in a worker process."""
    from pathlib import Path

    from text2sql_cli.sql.compare import CompareGaveUp, rows_match
    from text2sql_cli.sql.sandbox import execute, open_readonly, open_snapshot
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import instances_for

    if not task.gold or not task.gold.strip():
        return "gold_error"
    gold, ordered = to_sqlite(task.gold, task.dialect)
    try:
        if task.db_dir:
            files = sorted((Path(task.db_dir) / task.db_id).glob("*.sqlite"))
            connections = [open_readonly(str(f)) for f in files]
        else:
            snapshots = instances_for(
                task.context or "", gold, k=task.instances, seed=task.seed, dialect=task.dialect
            )
            connections = [open_snapshot(data) for data in snapshots]
    except (SchemaError, ValueError):
        return "gold_error"
    if not connections:
        return "gold_error"
    if task.pred is None:
        return "extraction_failed"
    pred = to_sqlite(task.pred, task.dialect)[0]
    try:
        for conn in connections:
            expected = execute(conn, gold, timeout=task.timeout)
            if not expected.ok:
                return "gold_error"
            got = execute(conn, pred, timeout=task.timeout)
            if got.timed_out:
                return "timeout"
            if not got.ok:
                return "pred_error"
            try:
                same = rows_match(
                    expected.rows, got.rows, mode=task.mode, order_matters=ordered, float_tol=1e-6
                )
            except CompareGaveUp:
                same = False  # undecidable within the bound: no reward for it
            if not same:
                return "wrong_result"
        return "correct"
    finally:
        for conn in connections:
            conn.close()


def crashed(task: GoldTask, message: str) -> str:
    """The pool's verdict for a task whose worker died: no reward, never a pass."""
    return "crashed"
