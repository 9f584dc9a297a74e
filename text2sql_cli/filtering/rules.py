"""The free rule checks of `t2s filter`.

    missing_fields(row, mapping) -> list[str]      the empty or absent fields of a raw row
    duplicate_key(example) -> tuple                 what makes two rows duplicates
    SqlTask / check_sql(task) -> Finding            parse, schema, execute and empty, for one row;
                                                    picklable, so it runs in worker processes

`check_sql` stops at the first failing check. Only a positive finding drops a row: when sqlglot
cannot analyse a valid-looking query (an exotic construct), the schema check notes
`schema_unchecked` and lets `execute` decide. Names are compared case-insensitively, as MySQL and
SQLite compare column names.

Execution uses the SQL engine's sandbox (read-only, time-limited) on an empty database built from
the row's own DDL (`execute`), and on synthesized instances seeded with the gold literals
(`empty`). Schemas and databases are cached per distinct DDL in each process; callers sort tasks
by DDL so that a chunk mostly hits the cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from text2sql_cli.data import FIELDS, _is_missing

SQL_CHECKS = ("parse", "schema", "execute", "empty")


@dataclass(frozen=True)
class Finding:
    """A check's outcome for one row: `reason` set = drop it; `note` = passed with a remark."""

    reason: str | None = None
    detail: str | None = None
    note: str | None = None


PASSED = Finding()


def missing_fields(row: dict[str, Any], mapping: dict[str, str]) -> list[str]:
    return [f for f in FIELDS if _is_missing(row.get(mapping.get(f, f)))]


def duplicate_key(question: str, context: str) -> tuple[str, str]:
    """Whitespace differences do not make two rows different."""
    return " ".join(question.split()), " ".join(context.split())


@dataclass(frozen=True)
class SqlTask:
    context: str
    answer: str
    checks: tuple[str, ...]
    dialect: str = "auto"
    timeout: float = 5.0
    instances: int = 5
    seed: int = 0
    engine: str = "sqlite"  # or mariadb/postgres: the gold SQL runs as written on that server
    db_url: str = ""


def crashed(task: SqlTask, message: str) -> Finding:
    """A gold query that killed its worker process does not run on its DDL."""
    return Finding("gold_error", f"the worker process died running the gold SQL ({message})")


def overran(task: SqlTask, label: str, message: str) -> Finding:
    """A gold query whose worker was killed for running past the time limit (a single SQL call
    that SQLite's progress handler cannot interrupt)."""
    return Finding("gold_timeout", message)


def check_sql(task: SqlTask) -> Finding:
    from text2sql_cli.sql.dialect import resolve_dialect

    dialect = resolve_dialect(f"{task.context}\n{task.answer}", task.dialect)
    tree, found = _parse(task.answer, dialect)
    if found.reason and "parse" in task.checks:
        return found
    note = found.note
    if tree is not None and "schema" in task.checks:
        found = check_schema(tree, task.context, dialect)
        if found.reason:
            return found
        note = note or found.note
    if "execute" in task.checks or "empty" in task.checks:
        found = _check_execution(task, tree, dialect)
        if found.reason:
            return found
        note = note or found.note
    return Finding(note=note)


def _parse(sql: str, dialect: str):
    """(tree, finding): the one statement of `sql`, or a parse_error finding."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except (SqlglotError, ValueError, RecursionError) as err:
        return None, Finding("parse_error", f"sqlglot cannot parse it as {dialect}: {_first_line(err)}")
    if not trees:
        return None, Finding("parse_error", "no SQL statement")
    if len(trees) > 1:
        return None, Finding("parse_error", f"{len(trees)} statements; a gold answer is one statement")
    tree = trees[0]
    if isinstance(tree, exp.Command) or not isinstance(tree, (exp.Query, exp.Insert, exp.Update, exp.Delete)):
        return None, Finding("parse_error", f"not a SQL query (reads as {type(tree).__name__})")
    return tree, PASSED


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:200]


@lru_cache(maxsize=512)
def _schema(context: str, dialect: str):
    from text2sql_cli.sql.synth import cached_schema

    return cached_schema(context, dialect)


@lru_cache(maxsize=512)
def _name_map(context: str, dialect: str) -> dict[str, dict[str, str]]:
    # Types do not matter for name resolution; TEXT avoids sqlglot rejecting an exotic type name.
    return {
        t.name.lower(): {c.name.lower(): "TEXT" for c in t.columns} for t in _schema(context, dialect).tables
    }


def check_schema(tree, context: str, dialect: str) -> Finding:
    """unknown_table / unknown_column for names the DDL lacks; ddl_error when it has no table."""
    from sqlglot import exp
    from sqlglot.errors import OptimizeError
    from sqlglot.optimizer.qualify import qualify

    from text2sql_cli.sql.schema import SchemaError

    try:
        tables = _name_map(context, dialect)
    except SchemaError as err:
        return Finding("ddl_error", f"the context DDL does not load: {err}")
    tree = tree.transform(_lower_identifier)  # a lower-cased copy; the caller's tree is unchanged
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if table.name and table.name not in tables and table.name not in ctes:
            return Finding(
                "unknown_table", f"table {table.name!r} is not in the DDL (it has {_names(tables)})"
            )
    if not isinstance(tree, exp.Query):
        return _check_statement_columns(tree, tables)
    try:
        qualify(
            tree,
            schema=tables,
            dialect=dialect,
            validate_qualify_columns=True,
            quote_identifiers=False,
            identify=False,
        )
    except OptimizeError as err:
        return _from_optimize_error(str(err), tables)
    except Exception as err:  # sqlglot's analysis has gaps; never drop a row on one of them
        return Finding(note=f"schema_unchecked: {type(err).__name__}")
    return PASSED


def _check_statement_columns(tree, tables: dict[str, dict[str, str]]) -> Finding:
    """INSERT/UPDATE/DELETE (which sqlglot's qualify skips): every column must belong to a table
    the statement names (a qualified one to that table or alias)."""
    from sqlglot import exp

    scope = {}
    for table in tree.find_all(exp.Table):
        if table.name in tables:
            scope[table.alias_or_name] = tables[table.name]
            scope[table.name] = tables[table.name]
    names = [(c.table, c.name) for c in tree.find_all(exp.Column) if not isinstance(c.this, exp.Star)]
    if isinstance(tree, exp.Insert) and isinstance(tree.this, exp.Schema):
        target = tree.this.this.name
        names += [(target, e.name) for e in tree.this.expressions if isinstance(e, exp.Identifier)]
    for qualifier, name in names:
        if qualifier and qualifier not in scope:
            return Finding("unknown_table", f"{qualifier}.{name}: no table or alias {qualifier!r} in scope")
        if name not in (scope[qualifier] if qualifier else {c for cols in scope.values() for c in cols}):
            return Finding(
                "unknown_column",
                f"column {name!r} is in no table of the statement ({_names(tables)} in the DDL)",
            )
    return PASSED


def _lower_identifier(node):
    from sqlglot import exp

    if isinstance(node, exp.Identifier):
        return exp.Identifier(this=node.this.lower(), quoted=node.quoted)
    return node


_FOR_TABLE = re.compile(r"Column '(.+?)' could not be resolved for table: '(.+?)'")
_UNRESOLVED = re.compile(r"Column '(.+?)' could not be resolved")
_UNKNOWN = re.compile(r"Unknown column: (\S+)")


def _from_optimize_error(message: str, tables: dict[str, dict[str, str]]) -> Finding:
    if m := _FOR_TABLE.search(message):
        return Finding(
            "unknown_table", f"{m.group(2)}.{m.group(1)}: no table or alias {m.group(2)!r} in scope"
        )
    if m := _UNRESOLVED.search(message) or _UNKNOWN.search(message):
        return Finding(
            "unknown_column",
            f"column {m.group(1)!r} is in no table of the query ({_names(tables)} in the DDL)",
        )
    return Finding(note=f"schema_unchecked: {message[:120]}")


def _names(tables: dict[str, Any]) -> str:
    names = sorted(tables)
    return ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")


@lru_cache(maxsize=128)
def _empty_database(context: str, dialect: str):
    from text2sql_cli.sql.sandbox import open_snapshot, snapshot
    from text2sql_cli.sql.schema import build_database

    conn = build_database(_schema(context, dialect))
    try:
        return open_snapshot(snapshot(conn))
    finally:
        conn.close()


def _check_execution(task: SqlTask, tree, dialect: str) -> Finding:
    from sqlglot import exp

    from text2sql_cli.sql.dialect import to_sqlite
    from text2sql_cli.sql.sandbox import execute, open_snapshot
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import instances_for

    if tree is not None and not isinstance(tree, exp.Query):
        return Finding(note="not_executed: not a query")
    if task.engine != "sqlite":
        return _check_on_server(task)
    sql = to_sqlite(task.answer, dialect).sql
    try:
        if "execute" in task.checks:
            found = _outcome(execute(_empty_database(task.context, dialect), sql, timeout=task.timeout))
            if found.reason or "empty" not in task.checks:
                return found
        snapshots = instances_for(task.context, sql, k=task.instances, seed=task.seed, dialect=dialect)
    except SchemaError as err:
        return Finding("ddl_error", f"the context DDL does not load: {err}")
    for data in snapshots:
        conn = open_snapshot(data)
        try:
            result = execute(conn, sql, timeout=task.timeout)
        finally:
            conn.close()
        found = _outcome(result)
        if found.reason or result.rows or not result.ok:
            return found
    return Finding("empty_result", f"no rows on any of {len(snapshots)} synthesized databases")


def _check_on_server(task: SqlTask) -> Finding:
    from text2sql_cli.sql.dialect import to_sqlite
    from text2sql_cli.sql.engines import engine_dialect
    from text2sql_cli.sql.engines.scoring import run_on_instances
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import instances_for

    dialect = engine_dialect(task.engine)
    run = dict(timeout=task.timeout)
    try:
        if "execute" in task.checks:
            (result,) = run_on_instances(task.engine, task.db_url, task.context, task.answer, None, **run)
            found = _outcome(result)
            if found.reason or "empty" not in task.checks:
                return found
        gold_sqlite = to_sqlite(task.answer, dialect).sql  # seeds the synthesized rows, as on SQLite
        snapshots = instances_for(
            task.context, gold_sqlite, k=task.instances, seed=task.seed, dialect=dialect
        )
        results = run_on_instances(task.engine, task.db_url, task.context, task.answer, snapshots, **run)
    except SchemaError as err:
        return Finding("ddl_error", f"the context DDL does not load: {err}")
    for result in results:
        found = _outcome(result)
        if found.reason or result.rows or not result.ok:
            return found
    return Finding("empty_result", f"no rows on any of {len(results)} synthesized databases")


def _outcome(result) -> Finding:
    if result.timed_out:
        return Finding("gold_timeout", result.error)
    if not result.ok and not result.row_limit:  # too many rows means it ran
        return Finding("gold_error", result.error)
    return PASSED
