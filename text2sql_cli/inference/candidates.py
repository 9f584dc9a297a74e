"""Execution-guided candidate selection: run N sampled SQL candidates, keep the one most agree on.

    CandidateTask                    one row's candidates and where to run them (picklable)
    execute_candidates(task) -> list[dict]   each candidate's status and result signature (a worker)
    select(candidates, rule, ...) -> Selection   which candidate becomes the row's `sql`
    run_selection(rows, settings) -> list[Selection]   execution in the sandbox pool + selection

Databases: with `db_dir`, `<db_dir>/<db_id>/*.sqlite` opened read-only; otherwise `instances`
databases synthesized from the row's DDL alone (no gold is needed or used), seeded with the
literals of all the row's candidates, so that their WHERE clauses keep some rows and drop others.
Every query runs in the sandbox (read-only, time limit, row cap).

A candidate's signature is its result on every database, rows as a multiset (order ignored),
numbers rounded to 1e-6, column order kept. Rules:
- `vote`: candidates that errored, timed out or gave no SQL are dropped (and, with `drop_empty`,
  those that returned no rows on every database); the largest group of equal signatures wins;
  a tie goes to the group with the higher best mean token log-probability when the backend gives
  one (hf), else to the group seen first. Inside the winning group the first candidate is kept.
- `logprob`: the executable candidate with the highest mean token log-probability.
- `first`: the first candidate, unexecuted (plain sampling, as a baseline).
With no executable candidate, `vote` and `logprob` keep the first candidate and mark the row
`fallback: true`: a guess no execution supports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

RULES = ("first", "vote", "logprob")
_FLOAT_TOL = 1e-6


@dataclass(frozen=True)
class CandidateTask:
    db_id: str
    context: str | None
    sqls: tuple[str | None, ...]
    dialect: str = "auto"
    timeout: float = 5.0
    max_rows: int = 100_000
    instances: int = 5
    seed: int = 0
    db_dir: str | None = None


@dataclass
class Selection:
    index: int  # the chosen candidate
    fallback: bool  # True when no candidate ran: the first one is kept, unsupported
    candidates: list[dict[str, Any]] = field(default_factory=list)  # per candidate: sql, status, group, ...


def _canonical(value):
    """A hashable key for grouping: 1, 1.0 and True agree; floats are rounded to 1e-6."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        rounded = round(value / _FLOAT_TOL) * _FLOAT_TOL
        return int(rounded) if rounded.is_integer() else round(rounded, 6)
    return value


def _signature(rows: Sequence[Sequence]) -> tuple:
    keyed = [tuple(_canonical(v) for v in row) for row in rows]
    return tuple(sorted(keyed, key=repr))


def _to_sqlite(sql: str, dialect: str) -> str:
    """The candidate as SQLite text (transpiled; text sqlglot cannot parse runs unchanged)."""
    from text2sql_cli.sql.dialect import sqlite_tree

    tree = sqlite_tree(sql, dialect)
    return sql if tree is None else tree.sql(dialect="sqlite")


def _databases(task: CandidateTask, prepared: list[str | None]):
    from text2sql_cli.sql.sandbox import open_snapshot

    if task.db_dir:
        from pathlib import Path

        from text2sql_cli.sql.prepare import database_files
        from text2sql_cli.sql.sandbox import open_readonly

        return [open_readonly(str(p)) for p in database_files(Path(task.db_dir), task.db_id)]
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import Literals, cached_schema, gold_literals, synthesize

    if not task.context or not task.context.strip():
        raise SchemaError("the row has no DDL (context)")
    schema = cached_schema(task.context, task.dialect)
    merged: dict[tuple[str, str], tuple] = {}
    for sql in prepared:
        if sql:
            for key, values in gold_literals(sql, schema).values:
                merged[key] = tuple(dict.fromkeys(merged.get(key, ()) + values))
    literals = Literals(tuple(sorted(merged.items())))
    return [open_snapshot(data) for data in synthesize(schema, literals, k=task.instances, seed=task.seed)]


def execute_candidates(task: CandidateTask) -> list[dict[str, Any]]:
    """Each candidate's {status, signature (None unless ok), empty}; runs in a worker process.

    Statuses: ok, no_sql, error, timeout, row_limit, no_database (the DDL does not load or db_dir
    has no database for the row: nothing can run)."""
    from text2sql_cli.sql.schema import SchemaError

    prepared = [_to_sqlite(sql, task.dialect) if sql else None for sql in task.sqls]
    try:
        connections = _databases(task, prepared)
    except (SchemaError, FileNotFoundError) as err:
        reason = " ".join(str(err).split())[:200]
        return [{"status": "no_database", "reason": reason, "signature": None} for _ in task.sqls]
    out: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}  # identical SQL runs once
    for sql in prepared:
        if sql is None:
            out.append({"status": "no_sql", "signature": None})
            continue
        if sql not in seen:
            seen[sql] = _run_everywhere(connections, sql, task)
        out.append(dict(seen[sql]))
    return out


def _run_everywhere(connections, sql: str, task: CandidateTask) -> dict[str, Any]:
    from text2sql_cli.sql.sandbox import execute

    results = []
    for conn in connections:
        got = execute(conn, sql, timeout=task.timeout, max_rows=task.max_rows)
        if not got.ok:
            return {"status": got.status, "signature": None, "reason": (got.error or "")[:200]}
        results.append(_signature(got.rows))
    return {"status": "ok", "signature": tuple(results), "empty": all(not r for r in results)}


def crashed(task: CandidateTask, message: str) -> list[dict[str, Any]]:
    return [{"status": "crashed", "reason": message, "signature": None} for _ in task.sqls]


def select(
    sqls: Sequence[str | None],
    executions: Sequence[dict[str, Any]] | None,
    rule: str,
    *,
    logprobs: Sequence[float | None] | None = None,
    drop_empty: bool = False,
) -> Selection:
    """Choose one of `sqls` by `rule` (module docstring). `executions` is None for `first`."""
    if rule not in RULES:
        raise ValueError(f"unknown selection rule {rule!r}; choose one of {', '.join(RULES)}")
    n = len(sqls)
    lps = list(logprobs) if logprobs is not None else [None] * n
    execs = list(executions) if executions is not None else [{"status": "not_run"}] * n
    groups: dict[tuple, list[int]] = {}  # signature -> member indices, in first-seen order
    for i, ex in enumerate(execs):
        if ex.get("status") == "ok" and not (drop_empty and ex.get("empty")):
            groups.setdefault(ex["signature"], []).append(i)
    group_of = {i: g for g, members in enumerate(groups.values()) for i in members}
    candidates = [
        {
            "sql": sqls[i],
            "status": execs[i].get("status"),
            "group": group_of.get(i),
            **({"empty": execs[i]["empty"]} if "empty" in execs[i] else {}),
            **({"logprob": round(lps[i], 4)} if lps[i] is not None else {}),
        }
        for i in range(n)
    ]
    first = next((i for i in range(n) if sqls[i] is not None), 0)  # the first candidate with SQL
    if rule == "first":
        return Selection(first, False, candidates)
    if not groups:
        return Selection(first, True, candidates)
    if rule == "logprob":
        usable = [i for i in group_of if lps[i] is not None]
        if not usable:
            raise ValueError("--select logprob needs token log-probabilities (the hf backend gives them)")
        return Selection(max(usable, key=lambda i: (lps[i], -i)), False, candidates)

    def strength(members: list[int]) -> tuple:
        best_lp = max((lps[i] for i in members if lps[i] is not None), default=float("-inf"))
        return (len(members), best_lp, -members[0])

    winner = max(groups.values(), key=strength)
    return Selection(winner[0], False, candidates)


def run_selection(
    rows: Sequence[tuple[str, str | None, list[str | None], list[float | None] | None]],
    *,
    rule: str,
    drop_empty: bool = False,
    dialect: str = "auto",
    timeout: float = 5.0,
    instances: int = 5,
    seed: int = 0,
    db_dir: str | None = None,
    workers: int = 2,
) -> list[Selection]:
    """Select a candidate for each (db_id, context, sqls, logprobs) row; execution in the pool."""
    from text2sql_cli.sql.pool import run_tasks

    if rule == "first":
        return [select(sqls, None, rule, logprobs=lps) for _, _, sqls, lps in rows]
    tasks = [
        CandidateTask(
            db_id=db_id,
            context=context,
            sqls=tuple(sqls),
            dialect=dialect,
            timeout=timeout,
            instances=instances,
            seed=seed,
            db_dir=db_dir,
        )
        for db_id, context, sqls, _ in rows
    ]
    executions = run_tasks(execute_candidates, tasks, workers=workers, on_crash=crashed)
    return [
        select(sqls, execs, rule, logprobs=lps, drop_empty=drop_empty)
        for (_, _, sqls, lps), execs in zip(rows, executions)
    ]


def choose_for_rows(rows: list[dict[str, Any]], generations: Sequence[Any], cfg: Any, stop) -> None:
    """Turn each prediction row that has candidates into the selected one, in place.

    The row's `raw`, `sql` and `extraction` become the chosen candidate's; `candidates` lists all
    N (sql, status, group, logprob) and `selected` says which one, by which rule, and whether it
    is a fallback. Rows without a generation are left as they are (the next run retries them)."""
    from text2sql_cli.sql.extract import extract_sql

    todo = [(row, gen) for row, gen in zip(rows, generations) if gen.candidates and "error" not in row]
    if not todo:
        return
    extracted = [
        [extract_sql(raw, stop) if raw is not None else None for raw in gen.candidates] for _, gen in todo
    ]
    inputs = [
        (row.get("db_id") or "", row.get("context"), [e.sql if e else None for e in ex], gen.logprobs)
        for (row, gen), ex in zip(todo, extracted)
    ]
    workers = cfg.exec_workers if len(inputs) >= 8 else 1  # a pool costs more than it saves on a few rows
    selections = run_selection(
        inputs,
        rule=cfg.select,
        drop_empty=cfg.drop_empty,
        dialect=cfg.dialect,
        timeout=cfg.exec_timeout,
        instances=cfg.exec_instances,
        seed=cfg.seed,
        db_dir=str(cfg.db_dir) if cfg.db_dir else None,
        workers=workers,
    )
    for (row, gen), ex, chosen in zip(todo, extracted, selections):
        if gen.candidates[chosen.index] is None:  # a failed API sample: keep one that came back
            chosen.index = next(i for i, raw in enumerate(gen.candidates) if raw is not None)
        pick = ex[chosen.index]
        row["raw"] = gen.candidates[chosen.index]
        row["sql"] = pick.sql if pick else None
        row["extraction"] = pick.method if pick else "error"
        row["candidates"] = chosen.candidates
        row["selected"] = {"index": chosen.index, "rule": cfg.select, "fallback": chosen.fallback}
