"""Queries on a real MariaDB/MySQL or PostgreSQL server, through a SQLAlchemy connection pool.

    ServerEngine(kind, url, pool_size=)         kind: "mariadb" | "postgres"
      .throwaway(ddl, tables) -> context manager yielding a database name (dropped on exit)
      .execute(sql, database=, timeout=, max_rows=) -> ExecutionResult
      .clean_leftovers() -> list[str]           drop throwaway databases of dead runs on this host

Throwaway databases (MariaDB) or schemas (PostgreSQL) are named `t2s_tmp_<host>_<pid>_<n>`. They
hold the row's own DDL, run as written (no transpiling; only its CREATE TABLE/INDEX/TYPE/VIEW/
SEQUENCE, ALTER TABLE and COMMENT statements, and no table qualified with another database), filled
with given rows, and are dropped when the `with` block ends, whatever ends it (an error, Ctrl-C),
and at interpreter exit. A run killed outright leaves them behind: the next run on the same host drops
those whose process is gone (`clean_leftovers`). Foreign-key checks are off while rows load (the
SQLite path does not enforce them either), so the same rows load on every engine; a row the server
rejects (a text value in an INT column, say) is skipped and counted in `skipped_rows`.

Every query runs in a READ ONLY transaction that is rolled back, under a statement time limit
(MariaDB `max_statement_time`, PostgreSQL `statement_timeout`), with at most `max_rows + 1` rows
fetched (MariaDB `sql_select_limit`, a PostgreSQL server-side cursor), after `statements.guard`
has checked it is one read-only statement. On MariaDB the session clock (`timestamp`) is the run's
pinned instant, so NOW()/CURDATE() agree with the SQLite path; PostgreSQL's now() cannot be pinned.
Values come back normalised (`values.normalise`).
For existing databases use a server account that can only read: the transaction is the second wall.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import itertools
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from text2sql_cli.sql.engines.statements import guard, split
from text2sql_cli.sql.engines.values import normalise_rows
from text2sql_cli.sql.sandbox import ExecutionResult

PREFIX = "t2s_tmp_"
# The row's DDL statements a throwaway database runs: objects inside it, never other databases,
# users or settings (a context could hold CREATE DATABASE or a name qualified with another schema).
_DDL = re.compile(
    r"^\s*(create\s+(or\s+replace\s+)?(temporary\s+|temp\s+|unique\s+)?(table|index|type|view|sequence|domain)\b"
    r"|alter\s+table\b|comment\s+on\b)",
    re.I,
)
_QUALIFIED = re.compile(
    r"^\s*create\s+(?:temporary\s+)?table\s+(?:if\s+not\s+exists\s+)?[`\"]?\w+[`\"]?\s*\.", re.I
)
_MARIADB_TIMEOUT = 1969  # ER_STATEMENT_TIMEOUT
_counter = itertools.count(1)
_live: dict[str, ServerEngine] = {}


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:6]


@dataclass(frozen=True)
class TableRows:
    """Rows for one table, in the column order given."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]


class ServerEngine:
    def __init__(self, kind: str, url: str, *, pool_size: int = 4):
        if kind not in ("mariadb", "postgres"):
            raise ValueError(f"unknown server engine {kind!r}")
        self.kind = kind
        self.url = url
        self.pool_size = pool_size
        self.skipped_rows = 0
        self._engine = None
        self._held = None  # the connection `session()` holds; workers are single-threaded

    # --- connections -------------------------------------------------------------------------

    def _pool(self):
        if self._engine is None:
            import sqlalchemy

            connect_args = {"connect_timeout": 10}
            if self.kind == "mariadb":
                connect_args["charset"] = "utf8mb4"
            self._engine = sqlalchemy.create_engine(
                self.url,
                pool_size=self.pool_size,
                max_overflow=self.pool_size,
                pool_pre_ping=True,  # a connection the server closed is replaced, not handed out
                connect_args=connect_args,
            )
        return self._engine

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Hold one pooled connection for the block: every call inside reuses it (fewer round trips)."""
        if self._held is not None:
            yield
            return
        with self._connection() as raw:
            self._held = raw
            try:
                yield
            finally:
                self._held = None

    @contextlib.contextmanager
    def _connection(self) -> Iterator:
        if self._held is not None:
            yield self._held
            return
        raw = self._pool().raw_connection()
        try:
            if self.kind == "postgres":
                raw.driver_connection.autocommit = True
            else:
                raw.driver_connection.autocommit(True)
            yield raw
        except BaseException:
            raw.invalidate()  # state unknown (interrupted mid-statement): never back into the pool
            raise
        finally:
            raw.close()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def quote(self, name: str) -> str:
        if self.kind == "mariadb":
            return "`" + name.replace("`", "``") + "`"
        return '"' + name.replace('"', '""') + '"'

    def _use(self, cursor, database: str | None) -> None:
        if database is None:
            return
        if self.kind == "mariadb":
            cursor.execute(f"USE {self.quote(database)}")
        else:
            cursor.execute(f"SET search_path TO {self.quote(database)}")

    # --- throwaway databases -----------------------------------------------------------------

    @contextlib.contextmanager
    def throwaway(self, ddl: str, tables: Sequence[TableRows]) -> Iterator[str]:
        """A new database holding `ddl` and `tables`; dropped when the block exits."""
        name = f"{PREFIX}{_host_tag()}_{os.getpid()}_{next(_counter)}"
        _live[name] = self
        try:
            self._create(name, ddl, tables)
            yield name
        finally:
            self._drop(name)
            _live.pop(name, None)

    def _create(self, name: str, ddl: str, tables: Sequence[TableRows]) -> None:
        with self._connection() as raw:
            cur = raw.cursor()
            try:
                if self.kind == "mariadb":
                    cur.execute(
                        f"CREATE DATABASE {self.quote(name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                    )
                    cur.execute(f"USE {self.quote(name)}")
                    cur.execute("SET SESSION foreign_key_checks = 0")
                else:
                    cur.execute(f"CREATE SCHEMA {self.quote(name)}")
                    cur.execute(f"SET search_path TO {self.quote(name)}")
                    with contextlib.suppress(Exception):  # superusers only; others keep FK checks on
                        cur.execute("SET session_replication_role = replica")
                for statement in split(ddl):
                    if _DDL.match(statement) and not _QUALIFIED.match(statement):
                        cur.execute(statement)
                actual = self._column_names(cur, name)
                for table in tables:
                    self._insert(cur, table, actual)
            finally:
                with contextlib.suppress(Exception):
                    if self.kind == "mariadb":
                        cur.execute("SET SESSION foreign_key_checks = 1")
                    else:
                        cur.execute("RESET session_replication_role")
                        cur.execute("RESET search_path")

    def _column_names(self, cur, schema: str) -> dict[str, tuple[str, dict[str, tuple[str, str]]]]:
        """lower(table) -> (table as stored, lower(column) -> (column as stored, data type))."""
        cur.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s",
            (schema,),
        )
        out: dict[str, tuple[str, dict]] = {}
        for table, column, data_type in cur.fetchall():
            entry = out.setdefault(table.lower(), (table, {}))
            entry[1][column.lower()] = (column, str(data_type).lower())
        return out

    def _insert(self, cur, table: TableRows, actual: dict) -> None:
        if not table.rows or table.name.lower() not in actual:
            return
        stored, columns = actual[table.name.lower()]
        known = [i for i, c in enumerate(table.columns) if c.lower() in columns]
        names = [columns[table.columns[i].lower()] for i in known]
        booleans = [t == "boolean" for _, t in names]
        sql = (
            f"INSERT INTO {self.quote(stored)} ({', '.join(self.quote(n) for n, _ in names)}) "
            f"VALUES ({', '.join('%s' for _ in names)})"
        )
        rows = [
            tuple(bool(row[i]) if b and row[i] is not None else row[i] for i, b in zip(known, booleans))
            for row in table.rows
        ]
        begin = "START TRANSACTION" if self.kind == "mariadb" else "BEGIN"
        cur.execute(begin)
        try:
            cur.executemany(sql, rows)
            cur.execute("COMMIT")
            return
        except Exception:
            cur.execute("ROLLBACK")
        for row in rows:  # one bad value must not lose the table: keep every row the server takes
            try:
                cur.execute(sql, row)
            except Exception:
                self.skipped_rows += 1

    def _drop(self, name: str) -> None:
        with self._connection() as raw:
            cur = raw.cursor()
            if self.kind == "mariadb":
                cur.execute(f"DROP DATABASE IF EXISTS {self.quote(name)}")
            else:
                cur.execute(f"DROP SCHEMA IF EXISTS {self.quote(name)} CASCADE")

    def ping(self) -> None:
        with self._connection() as raw:
            raw.cursor().execute("SELECT 1")

    def leftovers(self) -> list[str]:
        """Throwaway databases on the server (any run, any host)."""
        with self._connection() as raw:
            cur = raw.cursor()
            if self.kind == "mariadb":
                cur.execute("SELECT schema_name FROM information_schema.schemata")
            else:
                cur.execute("SELECT nspname FROM pg_namespace")
            return sorted(r[0] for r in cur.fetchall() if str(r[0]).startswith(PREFIX))

    def clean_leftovers(self) -> list[str]:
        """Drop throwaway databases left by runs on this host whose process is gone."""
        dropped = []
        tag = _host_tag()
        for name in self.leftovers():
            parts = name[len(PREFIX) :].split("_")
            if len(parts) != 3 or parts[0] != tag or not parts[1].isdigit() or _alive(int(parts[1])):
                continue
            self._drop(name)
            dropped.append(name)
        return dropped

    # --- queries -----------------------------------------------------------------------------

    def execute(
        self, sql: str, *, database: str | None = None, timeout: float = 5.0, max_rows: int = 100_000
    ) -> ExecutionResult:
        """Run one read-only statement in `database` (None: the URL's own database)."""
        reason = guard(sql, self.kind)
        if reason is not None:
            return ExecutionResult(ok=False, error=reason)
        statement = split(sql)[0]
        start = time.monotonic()
        with self._connection() as raw:
            cur = raw.cursor()
            try:
                self._use(cur, database)
                rows, columns = self._run(raw, cur, statement, timeout, max_rows)
            except Exception as err:
                elapsed = time.monotonic() - start
                with contextlib.suppress(Exception):
                    cur.execute("ROLLBACK")
                if self._is_timeout(err):
                    return ExecutionResult(
                        ok=False, error=f"timed out after {timeout:g} s", timed_out=True, elapsed_s=elapsed
                    )
                if not self.is_query_error(err):
                    raise
                return ExecutionResult(ok=False, error=_message(err), elapsed_s=elapsed)
        elapsed = time.monotonic() - start
        if len(rows) > max_rows:
            return ExecutionResult(
                ok=False, error=f"more than {max_rows} rows", row_limit=True, elapsed_s=elapsed
            )
        from text2sql_cli.sql.sandbox import MAX_RESULT_BYTES, result_bytes

        if result_bytes(rows) > MAX_RESULT_BYTES:  # as on SQLite: an error, never compared
            limit = MAX_RESULT_BYTES // 2**20
            return ExecutionResult(
                ok=False, error=f"result larger than {limit} MB (the result size limit)", elapsed_s=elapsed
            )
        return ExecutionResult(ok=True, rows=normalise_rows(rows), columns=columns, elapsed_s=elapsed)

    def _run(self, raw, cur, statement: str, timeout: float, max_rows: int):
        if self.kind == "mariadb":
            clock = _pinned_timestamp()  # NOW()/CURDATE() at the run's pinned instant, as on SQLite
            cur.execute(
                f"SET SESSION max_statement_time = {timeout:.3f}, sql_select_limit = {max_rows + 1}, "
                f"timestamp = {clock}"
            )
            cur.execute("START TRANSACTION READ ONLY")
            try:
                cur.execute(statement)
                rows = cur.fetchmany(max_rows + 1)
                columns = tuple(d[0] for d in cur.description or ())
            finally:
                cur.execute("ROLLBACK")
                cur.execute(
                    "SET SESSION max_statement_time = 0, sql_select_limit = DEFAULT, timestamp = DEFAULT"
                )
            return rows, columns
        cur.execute("BEGIN READ ONLY")
        cur.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout * 1000))}")
        try:
            named = raw.driver_connection.cursor(name="t2s_query")
            try:
                named.execute(statement)
                rows = named.fetchmany(max_rows + 1)
                columns = tuple(d[0] for d in named.description or ())
            finally:
                with contextlib.suppress(Exception):
                    named.close()
        finally:
            cur.execute("ROLLBACK")
        return rows, columns

    def _is_timeout(self, err: Exception) -> bool:
        err = getattr(err, "orig", None) or err
        if self.kind == "mariadb":
            return bool(getattr(err, "args", None)) and err.args[0] == _MARIADB_TIMEOUT
        import psycopg

        return isinstance(err, psycopg.errors.QueryCanceled)

    def is_query_error(self, err: Exception) -> bool:
        """An error the query caused (counted as its failure), not a lost connection."""
        err = getattr(err, "orig", None) or err  # SQLAlchemy wraps errors raised while connecting
        if self.kind == "mariadb":
            import pymysql

            return isinstance(err, (pymysql.err.ProgrammingError, pymysql.err.DataError)) or (
                isinstance(
                    err,
                    (pymysql.err.OperationalError, pymysql.err.InternalError, pymysql.err.NotSupportedError),
                )
                and bool(err.args)
                and isinstance(err.args[0], int)
                and err.args[0] < 2000  # 2000+ are client errors: connection lost, server gone
            )
        import psycopg

        state = getattr(err, "sqlstate", None) or ""
        return isinstance(err, psycopg.DatabaseError) and bool(state) and not state.startswith(("08", "57P"))


def _message(err: Exception) -> str:
    args = getattr(err, "args", ())
    if len(args) == 2 and isinstance(args[0], int):  # PyMySQL: (code, message)
        return f"{type(err).__name__}: ({args[0]}) {args[1]}"
    return f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"


def _pinned_timestamp() -> str:
    from text2sql_cli.sql.mysql_emulation import pinned

    instant = pinned()
    return "DEFAULT" if instant is None else str(int(time.mktime(instant.timetuple())))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@atexit.register
def _drop_live() -> None:
    """Drop throwaway databases still open at exit (a `with` block cut short by os._exit is not)."""
    for name, engine in list(_live.items()):
        with contextlib.suppress(Exception):
            engine._drop(name)
        _live.pop(name, None)
