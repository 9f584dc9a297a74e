"""The free checks every generated pair passes before it is kept, in this order (the first failure
is the pair's reason; filtering/rules.py's codes where they mean the same):

    missing_field    the question or the SQL is empty (or the pair is not an object)
    parse_error      sqlglot cannot parse the SQL, several statements, or not a SELECT query
    unknown_table /  the SQL names a table or column the DDL lacks
    unknown_column
    gold_error /     the SQL fails or runs out of time on the schema (an empty database built from
    gold_timeout     the DDL, the synthesized instances, and the real SQLite file when given)
    empty_result     no row on any synthesized instance (or no row on the real database)
    constant_result  the same result on the empty database and on every instance: it does not
                     depend on the data (SELECT 1, COUNT(*) of a filter nothing matches, ...)
    duplicate        same normalised SQL or same normalised question as a pair kept before

Execution is the sql/ layer's: sandboxed (read-only, time-limited) SQLite built from the DDL,
synthesized instances seeded with the query's literals (sql.synth.instances_for); DDL written for
MySQL or PostgreSQL is run through the same dialect translation `t2s filter` uses. A schema read
from a SQLite file or a MariaDB/PostgreSQL server is also checked on that real database (the
server's: the SQL as written, read-only, through sql/engines).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from text2sql_cli.filtering.rules import Finding, _empty_database, _outcome, _parse, check_schema


@dataclass(frozen=True)
class CheckSettings:
    instances: int = 5
    seed: int = 0
    timeout: float = 5.0


def check_pair(question: str, sql: str, source, cfg: CheckSettings):
    """A Finding for a pair on `source` (a synth.sources.Source): `reason` set when it is dropped."""
    from sqlglot import exp

    from text2sql_cli.sql.dialect import resolve_dialect, to_sqlite
    from text2sql_cli.sql.sandbox import execute, open_readonly, open_snapshot
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import instances_for

    ddl, dialect, db_path = source.ddl, source.dialect, source.db_path
    if not question.strip() or not sql.strip():
        return Finding("missing_field", "the pair has no question" if not question.strip() else "no SQL")
    dialect = resolve_dialect(f"{ddl}\n{sql}", dialect)
    tree, found = _parse(sql, dialect)
    if found.reason:
        return found
    if not isinstance(tree, exp.Query):
        return Finding("parse_error", f"not a SELECT query (reads as {type(tree).__name__})")
    found = check_schema(tree, ddl, dialect)
    if found.reason:
        return found
    runnable = to_sqlite(sql, dialect).sql
    try:
        empty = execute(_empty_database(ddl, dialect), runnable, timeout=cfg.timeout)
        found = _outcome(empty)
        if found.reason:
            return found
        snapshots = instances_for(ddl, runnable, k=cfg.instances, seed=cfg.seed, dialect=dialect)
    except SchemaError as err:
        return Finding("ddl_error", f"the DDL does not load: {err}")
    results = []
    for data in snapshots:
        conn = open_snapshot(data)
        try:
            results.append(execute(conn, runnable, timeout=cfg.timeout))
        finally:
            conn.close()
    if db_path:
        conn = open_readonly(db_path)
        try:
            results.append(execute(conn, runnable, timeout=cfg.timeout))
        finally:
            conn.close()
    real = bool(db_path or source.db_url)
    if source.db_url:  # the real server database, read-only, the SQL as written
        from text2sql_cli.sql.engines import server_for

        results.append(server_for(source.engine, source.db_url).execute(sql, timeout=cfg.timeout))
    for result in results:
        found = _outcome(result)
        if found.reason:
            return found
    where = "the real database" if real else f"any of {len(snapshots)} synthesized databases"
    if (real and not results[-1].rows) or not any(r.rows for r in results):
        return Finding("empty_result", f"no rows on {where}")
    if all(_same(r.rows, empty.rows) for r in results):
        return Finding("constant_result", "the same result on an empty database and on every instance")
    return found


def _same(a, b) -> bool:
    return sorted(map(repr, a)) == sorted(map(repr, b))


_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def question_key(question: str) -> str:
    """Case, width, spacing and punctuation do not make two questions different."""
    return _PUNCT.sub(" ", unicodedata.normalize("NFKC", question).casefold()).strip()


def sql_key(sql: str, dialect: str) -> str:
    from text2sql_cli.sql.normalize import normalize_sql

    return normalize_sql(sql, "mysql" if dialect == "auto" else dialect)
