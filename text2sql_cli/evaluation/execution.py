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

from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_serializer, model_validator

from text2sql_cli.config import T2SSettings
from text2sql_cli.evaluation.prepare import database_files

EXCLUDED = ("low_information", "gold_error", "no_gold", "crashed", "generation_error", "compare_gave_up")
MODE_TIMEOUT = {"bird": 30.0, "sqleval": 10.0}  # the harnesses' own limits; else 5 s (official Spider: 60 s)
DEFAULT_TIMEOUT = 5.0
OFFICIAL_MODES = ("spider", "bird", "sqleval")  # on real SQLite files these run plain SQLite


EvalMode = Literal["strict", "spider", "bird", "sqleval"]
EvalDialect = Literal["auto", "mysql", "postgres", "sqlite"]
EvalEngine = Literal["sqlite", "mariadb", "postgres"]


class ExecutionSettings(T2SSettings):
    """Execution accuracy settings of `t2s eval` (T2S_EVAL_<FLAG>; see config.py for precedence)."""

    FLAGS = {
        "eval_mode": "--mode",
        "eval_dialect": "--dialect",
        "eval_timeout": "--timeout",
        "eval_workers": "--workers",
        "eval_seed": "--seed",
        "eval_instances": "--k",
        "eval_engine": "--engine",
        "eval_now": "--now",
    }

    eval_mode: EvalMode | None = Field(
        None,
        description="result comparison: strict, spider (test-suite), bird (sets), sqleval (defog); "
        "default strict on synthesized databases, spider with db_dir",
    )
    keep_distinct: bool = Field(
        False,
        validation_alias="T2S_EVAL_KEEP_DISTINCT",
        description="spider mode: keep DISTINCT (the official --keep_distinct)",
    )
    eval_dialect: EvalDialect = Field(
        "auto",
        description="dialect of gold/predicted SQL and DDL (auto: sqlite with db_dir, else from the DDL)",
    )
    eval_timeout: float | None = Field(
        None, gt=0, description="seconds per query (default 5; bird 30, sqleval 10)"
    )
    eval_workers: int = Field(2, ge=1, description="worker processes (1 = run in this process)")
    eval_seed: int = Field(0, description="seed for synthesized databases")
    eval_instances: int = Field(5, ge=1, le=50, description="synthesized databases per example (K)")
    float_tol: float | None = Field(
        None,
        ge=0,
        validation_alias="T2S_EVAL_FLOAT_TOL",
        description="numbers equal when |a - b| <= this (default 1e-6 in strict, exact otherwise)",
    )
    max_rows: int = Field(
        100_000, ge=1, validation_alias="T2S_EVAL_MAX_ROWS", description="a query returning more rows fails"
    )
    db_dir: Path | None = Field(
        None, validation_alias="T2S_EVAL_DB_DIR", description="Spider-layout databases; replaces synthesis"
    )
    eval_engine: EvalEngine = Field(
        "sqlite", description="where queries run: embedded sqlite, or a mariadb/postgres server (--db-url)"
    )
    db_url: str | None = Field(
        None,
        validation_alias="T2S_EVAL_DB_URL",
        description="server URL for --engine mariadb/postgres; with {db_id}: existing databases",
    )
    exclude_low_information: bool = Field(
        False,
        validation_alias="T2S_EVAL_EXCLUDE_LOW_INFORMATION",
        description="leave out of EX the examples whose gold result is the same on every database",
    )
    infer_schema: bool = Field(
        True,
        validation_alias="T2S_EVAL_INFER_SCHEMA",
        description="build tables the gold SQL uses but the DDL lacks (from foreign keys and the query)",
    )
    eval_now: str | None = Field(
        None,
        description="the instant NOW()/CURDATE() return, 'YYYY-MM-DD HH:MM:SS' (default: the run's start)",
    )

    @field_serializer("db_url", when_used="json")
    def _without_password(self, url: str | None) -> str | None:  # reports and run records never hold it
        from text2sql_cli.sql.engines import redact

        return redact(url) if url else url

    @model_validator(mode="after")
    def _mode_defaults(self):
        """Fill what depends on the mode, so the report records the values actually used."""
        if self.eval_mode is None:
            self.eval_mode = "spider" if self.db_dir else "strict"
        if self.eval_timeout is None:
            self.eval_timeout = MODE_TIMEOUT.get(self.eval_mode, DEFAULT_TIMEOUT)
        if self.float_tol is None:
            self.float_tol = 1e-6 if self.eval_mode == "strict" else 0.0
        return self


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
    from text2sql_cli.evaluation.prepare import example_dialect, names_in_scope, prepare_query
    from text2sql_cli.sql.compare import sqleval_golds
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
        databases = _connections(task, golds[0][0], dialect)
        more = None
        if not task.db_dir:

            def more(attempt: int):
                return _connections(task, golds[0][0], dialect, attempt)

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


def _connections(task: ExTask, gold_sqlite: str, dialect: str, attempt: int = 0) -> list[tuple[str, object]]:
    """(name for messages, run(sql) -> ExecutionResult) for each database of the example."""
    from functools import partial

    from text2sql_cli.sql.sandbox import execute, open_snapshot

    run = dict(timeout=task.timeout, max_rows=task.max_rows)
    if task.db_dir:
        plain = dialect == "sqlite" and task.mode in OFFICIAL_MODES
        return [
            (str(p), partial(execute, _readonly(str(p), plain), **run))
            for p in database_files(Path(task.db_dir), task.db_id)
        ]
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import instances_for

    if not task.context or not task.context.strip():
        raise SchemaError("the example has no DDL (context)")
    snapshots = instances_for(
        task.context, gold_sqlite, k=task.instances, seed=task.seed, dialect=dialect, attempt=attempt
    )
    extra = f", re-synthesis {attempt}" if attempt else ""
    if task.save_to:
        _save_snapshots(Path(task.save_to), snapshots, attempt)
    return [
        (
            f"synthesized database {i + 1} of {len(snapshots)} (seed {task.seed}{extra})",
            partial(execute, open_snapshot(data), **run),
        )
        for i, data in enumerate(snapshots)
    ]


def _save_snapshots(folder: Path, snapshots, attempt: int) -> None:
    """--save-dbs: the synthesized databases as SQLite files, instance-N.sqlite (re-synthesis
    rounds: instance-N-rR.sqlite), each written to a temp file then renamed."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(snapshots):
        target = folder / (f"instance-{i + 1}" + (f"-r{attempt}" if attempt else "") + ".sqlite")
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)


@lru_cache(maxsize=64)
def _readonly(path: str, plain: bool = False):
    """A sandboxed connection to a database file; `plain`: without the MySQL functions the sandbox
    adds, so SQL read as SQLite fails where SQLite (and so the official scripts) would."""
    from text2sql_cli.sql.sandbox import open_readonly

    return open_readonly(path, mysql_functions=not plain)


def ex_column(
    predictions, settings: ExecutionSettings, *, progress: bool = False, save_dbs: Path | None = None
) -> list[dict]:
    """Score every prediction (objects with db_id, context, gold, sql); results in input order.
    `progress` shows a rich bar on stderr; `save_dbs` writes each example's synthesized databases
    to save_dbs/<id>/ (a file-safe form of the id)."""
    from text2sql_cli.progress import ProgressBar
    from text2sql_cli.sql.mysql_emulation import pin_now, unpin
    from text2sql_cli.sql.pool import run_tasks

    # One clock for the whole run, gold and prediction alike; the report records it.
    settings.eval_now = pin_now(settings.eval_now)
    db_url = ""
    if settings.eval_engine != "sqlite" or settings.db_url:
        from text2sql_cli.sql.engines import EngineError, open_run

        if settings.db_dir and settings.eval_engine != "sqlite":
            raise EngineError(
                "--db-dir holds SQLite files; it does not go with --engine " + settings.eval_engine,
                hint="for existing server databases pass --db-url with {db_id}, e.g. mysql://u@host/{db_id}",
            )
        db_url = open_run(settings.eval_engine, settings.db_url)
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
            keep_distinct=settings.keep_distinct,
            instances=settings.eval_instances,
            seed=settings.eval_seed,
            db_dir=str(settings.db_dir) if settings.db_dir else None,
            engine=settings.eval_engine,
            db_url=db_url,
            exclude_low_information=settings.exclude_low_information,
            infer_schema=settings.infer_schema,
            save_to=str(Path(save_dbs) / safe_name(p.id)) if save_dbs is not None else None,
        )
        for p in scored
    ]
    workers = settings.eval_workers if len(tasks) >= 32 else 1  # a pool costs more than it saves
    if workers > 1:  # import before forking, so that workers do not each pay for it
        import sqlglot.dialects.mysql  # noqa: F401
        import sqlglot.dialects.sqlite  # noqa: F401

        import text2sql_cli.sql.synth  # noqa: F401
    try:
        with ProgressBar("EX", len(tasks), enabled=progress) as bar:
            results = run_tasks(
                score_example,
                tasks,
                workers=workers,
                on_crash=crashed,
                on_overrun=overran,
                on_progress=bar.advance,
            )
    finally:
        unpin()
    verdicts = iter(results)
    return [
        next(verdicts)
        if getattr(p, "error", None) is None
        else ExVerdict("generation_error", reason=f"t2s infer produced no generation: {p.error}").as_row()
        for p in predictions
    ]


def safe_name(text: str) -> str:
    """An example id as a folder name: letters, digits, `-`, `_`, `.`; anything else as `_`."""
    import re

    name = re.sub(r"[^\w.-]", "_", str(text)).strip(".") or "_"
    return name[:100]
