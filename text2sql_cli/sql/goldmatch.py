"""Does a predicted query give the gold query's result? EX's verdict, in the sql layer so that
`t2s eval --metric ex`, the GRPO reward (`t2s train --method grpo`) and `t2s data pass-rate` give
the same verdict for the same gold, prediction, databases and mode (training and inference may not
import the evaluation package).

    ExTask                           one example to score (picklable)
    score_example(task) -> dict      its verdict as a results.jsonl fragment; runs in a worker
    crashed / overran                the pool's verdicts for a worker that died or was killed
    gold_task(...) -> ExTask         a task with `t2s eval`'s defaults for its databases and mode
    score_all(tasks, workers) -> list[dict]   each task's verdict, scored in the worker pool
    statuses(tasks, workers) -> list[str]     each task's status, likewise

Databases: with `db_dir`, the Spider layout `<db_dir>/<db_id>/*.sqlite` (several files for one
db_id form a test suite); otherwise `synth` builds `instances` databases from the row's DDL,
seeded with the gold query's literals (more rounds while gold's result is the same everywhere);
with `engine` mariadb/postgres the SQL runs as written on that server. A prediction is correct
only if it matches gold on every database (`compare.rows_match` in the task's mode).

Statuses: correct, wrong_result, pred_error, timeout (the prediction ran out of time),
extraction_failed (no SQL in the generation), gold_error (the gold query or its DDL does not run:
excluded from the denominator, never a match), no_gold, compare_gave_up (the column search hit its
bound), low_information (with `exclude_low_information`), crashed (the worker died: excluded, never
recorded as 0), generation_error (set by `t2s eval` for a row `t2s infer` could not generate). `ex`
is True/False for scored examples and None for excluded ones (`EXCLUDED`).

Imports only the standard library at load time; sqlglot loads when scoring starts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

EXCLUDED = ("low_information", "gold_error", "no_gold", "crashed", "generation_error", "compare_gave_up")


def default_mode(db_dir) -> str:
    """`t2s eval`'s comparison for these databases: the official test-suite's on real ones."""
    return "spider" if db_dir else "strict"


def default_float_tol(mode: str) -> float:
    """`t2s eval`'s number tolerance for a mode: 1e-6 in strict, exact (as the official scripts)
    otherwise."""
    return 1e-6 if mode == "strict" else 0.0


@dataclass(frozen=True)
class ExTask:
    """One example to score; everything a worker needs, picklable."""

    db_id: str
    context: str | None
    gold: str | None
    pred: str | None
    mode: str = "strict"
    dialect: str = "auto"
    timeout: float = 5.0
    max_rows: int = 100_000
    float_tol: float = 1e-6
    keep_distinct: bool = False
    instances: int = 5
    seed: int = 0
    db_dir: str | None = None
    engine: str = "sqlite"  # or mariadb/postgres: SQL runs as written on that server (db_url)
    exclude_low_information: bool = False
    infer_schema: bool = True
    db_url: str = ""
    save_to: str | None = None  # --save-dbs: write this example's synthesized databases here


def gold_task(
    db_id: str,
    context: str | None,
    gold: str | None,
    pred: str | None,
    *,
    db_dir: str | None,
    mode: str | None = None,
    dialect: str = "auto",
    timeout: float = 5.0,
    instances: int = 5,
    seed: int = 0,
) -> ExTask:
    """The task `t2s eval` would score for this prediction with these databases: its mode
    (default from the databases) and that mode's number tolerance; its other defaults as ExTask's."""
    mode = mode or default_mode(db_dir)
    return ExTask(
        db_id=db_id,
        context=context,
        gold=gold,
        pred=pred,
        mode=mode,
        dialect=dialect,
        timeout=timeout,
        float_tol=default_float_tol(mode),
        instances=instances,
        seed=seed,
        db_dir=db_dir,
    )


def score_all(tasks: list[ExTask], *, workers: int, on_progress=None) -> list[dict]:
    """Each task's verdict row, in order, scored in the sandbox worker pool: a worker that dies
    gives `crashed`, a query killed for overrunning `timeout` (`gold_error` when it was gold's).
    Gold and prediction read one clock (NOW, CURDATE): the caller's pinned instant, else one
    pinned for this call."""
    from text2sql_cli.sql.mysql_emulation import pin_now, pinned, unpin
    from text2sql_cli.sql.pool import run_tasks

    if workers > 1 and len(tasks) > 1:  # import before forking, so that workers do not each pay for it
        import sqlglot.dialects.mysql  # noqa: F401
        import sqlglot.dialects.sqlite  # noqa: F401

        import text2sql_cli.sql.synth  # noqa: F401
    own_clock = pinned() is None
    if own_clock:
        pin_now()
    try:
        return run_tasks(
            score_example,
            tasks,
            workers=workers,
            on_crash=crashed,
            on_overrun=overran,
            on_progress=on_progress,
        )
    finally:
        if own_clock:
            unpin()


def statuses(tasks: list[ExTask], *, workers: int) -> list[str]:
    """Each task's status (`score_all`), in order."""
    return [row["status"] for row in score_all(tasks, workers=workers)]


@dataclass(frozen=True)
class ExVerdict:
    status: str
    reason: str | None = None
    gold_error_kind: str | None = None  # why gold did not run: missing_table, needs_function:X, ...
    gold_empty: bool | None = None  # gold returned no rows on every database
    low_information: bool | None = None  # gold empty, or the same result on every database
    order_matters: bool | None = None
    databases: int = 0
    dialect: str | None = None  # how the SQL was read
    dialect_reason: str | None = None
    schema_inferred: tuple[str, ...] | None = None  # tables built because the DDL lacks them
    resynthesized: int = 0  # further rounds of databases made because gold was constant
    rows_skipped: int = 0  # synthesized rows a server refused (its databases then differ from SQLite's)
    diff: dict | None = None  # wrong_result: where gold and prediction first differ (`result_diff`)

    @property
    def ex(self) -> bool | None:
        return None if self.status in EXCLUDED else self.status == "correct"

    def as_row(self) -> dict:
        return {"ex": self.ex, **asdict(self)}


def score_example(task: ExTask) -> dict:
    """The verdict for one example as a results.jsonl fragment (`ex`, `status`, ...); sqlglot's
    warnings while reading its SQL, if any, under `sqlglot_warnings` (collected, not printed)."""
    from text2sql_cli.sql.sqlglot_log import capture

    with capture() as warnings:
        row = _score(task).as_row()
    if warnings:
        row["sqlglot_warnings"] = list(dict.fromkeys(warnings))
    return row


def crashed(task: ExTask, message: str) -> dict:
    return ExVerdict("crashed", reason=message).as_row()


def overran(task: ExTask, label: str, message: str) -> dict:
    """The worker was killed: a query ran past the time limit where SQLite could not stop it."""
    if label == "gold":
        return ExVerdict("gold_error", reason=message, gold_error_kind="timeout").as_row()
    return ExVerdict("timeout", reason=message).as_row()


def _score(task: ExTask) -> ExVerdict:
    from text2sql_cli.sql.compare import sqleval_golds
    from text2sql_cli.sql.prepare import connections, example_dialect, names_in_scope, prepare_query
    from text2sql_cli.sql.schema import SchemaError

    if not task.gold or not task.gold.strip():
        return ExVerdict("no_gold", reason="the example has no gold SQL")
    dialect, why = example_dialect(task)
    read = {"dialect": dialect, "dialect_reason": why}
    if task.infer_schema and task.context and not task.db_dir and "{db_id}" not in task.db_url:
        from text2sql_cli.sql.infer_schema import infer_missing_tables

        context, inferred = infer_missing_tables(task.context, task.gold, dialect)
        if inferred:
            task = replace(task, context=context)
            read["schema_inferred"] = inferred
    try:
        names = names_in_scope(task, dialect) if dialect == "mysql" else frozenset()
        golds = [
            prepare_query(g, dialect, task.mode, "gold", task.keep_distinct, names)
            for g in (sqleval_golds(task.gold) if task.mode == "sqleval" else [task.gold])
        ] or [prepare_query(task.gold, dialect, task.mode, "gold", task.keep_distinct, names)]
        pred = (
            prepare_query(task.pred, dialect, task.mode, "pred", task.keep_distinct, names)[0]
            if task.pred
            else None
        )
        if task.engine != "sqlite":  # a server runs the SQL as written, seeded like SQLite
            from text2sql_cli.sql.engines.scoring import prepare, server_databases

            alternatives = sqleval_golds(task.gold) if task.mode == "sqleval" else [task.gold]
            texts = [prepare(g, task.mode, "gold", task.keep_distinct) for g in alternatives or [task.gold]]
            server_pred = prepare(task.pred, task.mode, "pred", task.keep_distinct) if task.pred else None
            with server_databases(task, golds[0][0]) as (runners, more, rows_skipped):
                server_golds = [(text, ordered) for text, (_, ordered) in zip(texts, golds)]
                verdict = _run_and_compare(task, server_golds, server_pred, runners, read, more)
                return replace(verdict, rows_skipped=rows_skipped())
        databases = connections(task, golds[0][0], dialect)
        more = None
        if not task.db_dir:

            def more(attempt: int):
                return connections(task, golds[0][0], dialect, attempt)

    except SchemaError as err:
        return ExVerdict("gold_error", reason=f"the DDL does not load: {err}", gold_error_kind="ddl", **read)
    except FileNotFoundError as err:
        return ExVerdict("gold_error", reason=str(err), gold_error_kind="no_database", **read)
    return _run_and_compare(task, golds, pred, databases, read, more)


RESYNTHESIS_ROUNDS = 2  # further rounds of K databases tried when gold's result is constant


def _run_and_compare(task: ExTask, golds, pred: str | None, databases, read: dict, more=None) -> ExVerdict:
    """Run gold (each alternative) and the prediction on every (name, run) database; the verdict.
    When gold gives one result everywhere, `more(attempt)` adds databases aimed at its predicates
    (at most RESYNTHESIS_ROUNDS rounds) until it varies; what stays constant is low-information."""
    from text2sql_cli.sql.compare import CompareGaveUp
    from text2sql_cli.sql.sandbox import set_label

    databases = list(databases)
    set_label("gold")  # what the worker pool names if it must kill a query that overran
    gold_results = []  # per gold alternative, its result on every database
    for gold, _ in golds:
        results = [run(gold) for _, run in databases]
        failed = next(((name, r) for (name, _), r in zip(databases, results) if not r.ok), None)
        if failed is not None:
            name, result = failed
            return ExVerdict(
                "gold_error",
                reason=f"{result.error} (on {name})",
                gold_error_kind=_error_kind(result),
                databases=len(databases),
                **read,
            )
        gold_results.append(results)
    rounds = 0
    while more is not None and rounds < RESYNTHESIS_ROUNDS and len({r.rows for r in gold_results[0]}) == 1:
        rounds += 1
        extra = more(rounds)
        extra_results = [[run(gold) for _, run in extra] for gold, _ in golds]
        if any(not r.ok for results in extra_results for r in results):
            break  # gold ran everywhere before: a failure here says nothing about the prediction
        databases += extra
        for results, added in zip(gold_results, extra_results):
            results.extend(added)
    first = gold_results[0]
    gold_empty = all(not r.rows for r in first)
    same_everywhere = len(first) > 1 and len({r.rows for r in first}) == 1
    facts = dict(
        gold_empty=gold_empty,
        low_information=gold_empty or same_everywhere,
        order_matters=golds[0][1] if task.mode in ("strict", "spider", "sqleval") else False,
        databases=len(databases),
        resynthesized=rounds,
        **read,
    )
    if task.exclude_low_information and facts["low_information"]:
        reason = (
            "gold gives no rows everywhere" if gold_empty else "gold gives the same result on every database"
        )
        return ExVerdict("low_information", reason=f"{reason} (--exclude-low-information)", **facts)
    if pred is None:
        return ExVerdict("extraction_failed", reason="no SQL found in the generation", **facts)
    matches = [True] * len(golds)
    set_label("pred")
    for d, (_, run) in enumerate(databases):
        got = run(pred)
        if got.timed_out:
            return ExVerdict("timeout", reason=got.error, **facts)
        if not got.ok:
            return ExVerdict("pred_error", reason=got.error, **facts)
        try:
            for a, (results, (_, ordered)) in enumerate(zip(gold_results, golds)):
                matches[a] = matches[a] and _same(task, results[d], got, ordered)
        except CompareGaveUp as err:
            return ExVerdict("compare_gave_up", reason=str(err), **facts)
        if not any(matches):
            name = databases[d][0]
            return ExVerdict("wrong_result", diff=result_diff(gold_results[0][d], got, name, d + 1), **facts)
    return ExVerdict("correct", **facts)


DIFF_ROWS = 3  # rows of each side a diff shows


def result_diff(expected, got, database: str, instance: int) -> dict:
    """A short diff of a wrong result on the first database where it differs: which database
    (and instance number), the columns and row counts, and the first rows only gold has and only
    the prediction has (as multisets); where both hold the same rows, the first position where
    their order differs."""
    from collections import Counter

    gold_rows, pred_rows = Counter(expected.rows), Counter(got.rows)
    only_gold = list((gold_rows - pred_rows).elements())[:DIFF_ROWS]
    only_pred = list((pred_rows - gold_rows).elements())[:DIFF_ROWS]
    diff = {
        "database": database,
        "instance": instance,
        "gold_columns": list(expected.columns),
        "pred_columns": list(got.columns),
        "gold_row_count": len(expected.rows),
        "pred_row_count": len(got.rows),
        "gold_only_rows": [_json_row(r) for r in only_gold],
        "pred_only_rows": [_json_row(r) for r in only_pred],
    }
    if not only_gold and not only_pred:
        at = next((i for i, (a, b) in enumerate(zip(expected.rows, got.rows)) if a != b), None)
        if at is not None:
            diff["order_differs_at"] = at
            diff["gold_rows"] = [_json_row(r) for r in expected.rows[at : at + DIFF_ROWS]]
            diff["pred_rows"] = [_json_row(r) for r in got.rows[at : at + DIFF_ROWS]]
    return diff


def _json_row(row: tuple) -> list:
    """A result row as JSON values: numbers, text and null as they are, anything else (bytes,
    decimals, dates from a server) as its text."""
    return [v if v is None or isinstance(v, (int, float, str)) else str(v) for v in row]


def _same(task: ExTask, expected, got, ordered: bool) -> bool:
    """One comparison, its column search bounded by the query time limit."""
    import time

    from text2sql_cli.sql.compare import rows_match

    return rows_match(
        expected.rows,
        got.rows,
        mode=task.mode,
        order_matters=ordered,
        float_tol=task.float_tol,
        gold_columns=expected.columns,
        pred_columns=got.columns,
        deadline=time.monotonic() + task.timeout,
    )


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
