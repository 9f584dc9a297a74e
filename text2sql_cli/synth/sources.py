"""Where `t2s data synth` reads schemas from: DDL files, a directory of them, a SQLite file, or a
MariaDB/PostgreSQL server (a SQLAlchemy URL through sql/engines).

    load_sources(ddl=[paths], db=path, db_url=url) -> list[Source]

One Source per database: `db_id` (the file's stem, or the database's name), `ddl` (the CREATE
TABLE text that becomes every row's `context`), `dialect`, and `db_path` for a SQLite file, whose
real rows then check the generated SQL too. Bad input is a one-line InputError/UsageError naming
the file and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from text2sql_cli.errors import InputError, UsageError

DDL_SUFFIXES = (".sql", ".ddl", ".txt")


@dataclass(frozen=True)
class Source:
    db_id: str
    ddl: str
    dialect: str = "auto"
    db_path: str | None = None  # a SQLite file: generated SQL also runs on its real rows
    origin: str = ""  # what it was read from, for summary.json
    engine: str = "sqlite"  # mariadb/postgres: generated SQL also runs, as written, on `db_url`
    db_url: str | None = None


def load_sources(
    ddl: list[Path] | None = None, db: Path | None = None, db_url: str | None = None
) -> list[Source]:
    given = [name for name, v in (("--ddl", ddl), ("--db", db), ("--db-url", db_url)) if v]
    if len(given) != 1:
        raise UsageError(
            "give the schema one way: --ddl FILE|DIR (repeatable), --db FILE.sqlite or --db-url URL"
            + (f" (got {', '.join(given)})" if given else ""),
            hint="e.g. t2s data synth --ddl schema.sql --teacher gpt-4o-mini --out synth/",
        )
    if ddl:
        sources = [s for path in ddl for s in _ddl_sources(path)]
    elif db is not None:
        sources = [_sqlite_source(db)]
    else:
        sources = _server_sources(db_url or "")
    seen: dict[str, str] = {}
    for s in sources:
        if s.db_id in seen:
            raise InputError(
                s.origin, f"db_id {s.db_id!r} is also {seen[s.db_id]}", hint="rename one of the files"
            )
        seen[s.db_id] = s.origin
    return sources


def _ddl_sources(path: Path) -> list[Source]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in DDL_SUFFIXES)
        if not files:
            raise InputError(
                path, "no DDL files in this directory", hint="put *.sql files in it, one per db_id"
            )
        return [_ddl_file(p) for p in files]
    if not path.is_file():
        raise InputError(path, "not found", hint="give a .sql file of CREATE TABLE statements or a directory")
    return [_ddl_file(path)]


def _ddl_file(path: Path) -> Source:
    from text2sql_cli.io import read_text
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import cached_schema

    text = read_text(path).strip()
    if not text:
        raise InputError(path, "the file is empty", hint="write CREATE TABLE statements in it")
    try:
        schema = cached_schema(text, "auto")
    except SchemaError as err:
        raise InputError(
            path, f"the DDL does not load: {err}", hint="fix the CREATE TABLE statements"
        ) from None
    if not schema.tables:
        raise InputError(path, "no CREATE TABLE statement", hint="the schema needs at least one table")
    return Source(path.stem, text, "auto", None, str(path))


def _sqlite_source(path: Path) -> Source:
    import sqlite3

    from text2sql_cli.sql.sandbox import check_database_file, open_readonly

    if not path.is_file():
        raise InputError(path, "not found", hint="give a SQLite database file")
    problem = check_database_file(path)
    if problem:
        raise InputError(path, problem, hint="give a SQLite database file with tables")
    conn = open_readonly(str(path))
    try:
        rows = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
    except sqlite3.Error as err:
        raise InputError(path, f"cannot read its schema: {err}", hint="is it a SQLite database?") from None
    finally:
        conn.close()
    ddl = ";\n\n".join(r[0].strip() for r in rows) + ";"
    return Source(path.stem, ddl, "sqlite", str(path), str(path))


# MariaDB's storage options after a CREATE TABLE's closing parenthesis: not part of the schema a
# model needs, and noise in every row's context.
_TABLE_OPTIONS = re.compile(r"\)\s*ENGINE\s*=[^;]*$", re.I)


def _server_sources(url: str) -> list[Source]:
    """The tables of the URL's database, as CREATE TABLE text in the server's dialect (read through
    SQLAlchemy's inspector; nothing is written)."""
    from sqlalchemy import MetaData, create_engine
    from sqlalchemy.schema import CreateTable

    from text2sql_cli.sql.engines import check_url, engine_dialect, redact

    scheme = url.partition("://")[0].lower()
    engine_name = "postgres" if scheme.startswith("postgres") else "mariadb"
    full = check_url(engine_name, url)
    engine = create_engine(full)
    try:
        meta = MetaData()
        meta.reflect(bind=engine)
        database = engine.url.database or engine_name
        creates = (str(CreateTable(t).compile(engine)).strip() for t in meta.sorted_tables)
        ddl = ";\n\n".join(_TABLE_OPTIONS.sub(")", c) for c in creates) + ";"
    except Exception as err:
        raise UsageError(
            f"cannot read the schema at {redact(url)}: {str(err).strip().splitlines()[0][:200]}",
            hint="is the server running and the database named in the URL?",
        ) from None
    finally:
        engine.dispose()
    if not meta.tables:
        raise UsageError(f"the database at {redact(url)} has no tables", hint="name a database with tables")
    return [Source(database, ddl, engine_dialect(engine_name), None, redact(url), engine_name, full)]
