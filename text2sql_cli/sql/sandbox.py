"""Sandboxed, read-only, time-limited SQL execution with typed results.

Public API:
    snapshot(conn) -> bytes                      freeze a built database (schema + rows)
    open_snapshot(data) -> Connection            a locked-down in-memory copy of a snapshot
    open_readonly(path) -> Connection            a locked-down `mode=ro` connection to a file
    execute(conn, sql, timeout=, max_rows=) -> ExecutionResult

Every connection these return is locked down: `PRAGMA query_only`, and an authorizer that allows
only reading (SELECT, column reads, function calls, recursive CTEs) and so refuses writes, DDL,
ATTACH/DETACH, PRAGMA and `load_extension`. A time limit is enforced with SQLite's progress
handler, which interrupts the running statement (an asyncio timeout around the call would not);
results are fetched at most `max_rows + 1` at a time, so a cartesian blow-up is stopped by the row
cap or the time limit without holding more than `max_rows` rows. MySQL functions SQLite lacks
(YEAR, MONTH, DAY, NOW, CURDATE, CONCAT, CONCAT_WS, IF, LEFT, RIGHT, DATEDIFF) are registered as
Python functions.

Limits: this guards against mistaken and runaway queries from a model, not against a malicious
SQLite build; memory inside one statement (a huge sort) is bounded only by the time limit, so run
untrusted work in worker processes (`pool.run_tasks`).
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
import time
from dataclasses import dataclass

_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
_PROGRESS_STEPS = 1000  # VM instructions between deadline checks (about 10-50 us)


@dataclass(frozen=True)
class ExecutionResult:
    """What running one query gave. `ok` is False on error, timeout or row cap; never fake rows."""

    ok: bool
    rows: tuple[tuple, ...] = ()
    columns: tuple[str, ...] = ()
    error: str | None = None
    timed_out: bool = False
    row_limit: bool = False
    elapsed_s: float = 0.0

    @property
    def status(self) -> str:
        if self.ok:
            return "ok"
        if self.timed_out:
            return "timeout"
        return "row_limit" if self.row_limit else "error"


def snapshot(conn: sqlite3.Connection) -> bytes:
    """The whole database as bytes (`open_snapshot` turns it back into a connection)."""
    conn.commit()
    return conn.serialize()


def open_snapshot(data: bytes) -> sqlite3.Connection:
    """A private in-memory copy of a snapshot, locked down: nothing a query does reaches a file."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.deserialize(data)
    return lock_down(conn)


def open_readonly(path: str) -> sqlite3.Connection:
    """A locked-down read-only connection to an existing SQLite file (`mode=ro`)."""
    from pathlib import Path

    uri = Path(path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    return lock_down(conn)


def lock_down(conn: sqlite3.Connection) -> sqlite3.Connection:
    """query_only + an authorizer that allows reading only; registers the MySQL compat functions."""
    conn.execute("PRAGMA query_only = 1")
    conn.text_factory = _text
    _register_functions(conn)
    from text2sql_cli.sql.mysql_emulation import register

    register(conn)  # MySQL's functions and clock (the emulation module owns them)
    conn.set_authorizer(_authorize)
    return conn


def execute(
    conn: sqlite3.Connection, sql: str, *, timeout: float = 5.0, max_rows: int = 100_000
) -> ExecutionResult:
    """Run one statement; at most `timeout` seconds and `max_rows` rows, else a failed result."""
    statement = sql.strip().rstrip(";").strip()
    if not statement:
        return ExecutionResult(ok=False, error="empty query")
    start = time.monotonic()
    deadline = start + timeout
    conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
    cursor = None
    try:
        cursor = conn.execute(statement)
        rows = cursor.fetchmany(max_rows + 1)
        columns = tuple(d[0] for d in cursor.description or ())
    except sqlite3.OperationalError as err:
        elapsed = time.monotonic() - start
        if "interrupted" in str(err) and elapsed >= timeout:
            return ExecutionResult(
                ok=False, error=f"timed out after {timeout:g} s", timed_out=True, elapsed_s=elapsed
            )
        return ExecutionResult(ok=False, error=_message(err), elapsed_s=elapsed)
    except (sqlite3.Error, OverflowError, ValueError, MemoryError) as err:
        return ExecutionResult(ok=False, error=_message(err), elapsed_s=time.monotonic() - start)
    finally:
        if cursor is not None:
            cursor.close()
        conn.set_progress_handler(None, 0)
    elapsed = time.monotonic() - start
    if len(rows) > max_rows:
        return ExecutionResult(
            ok=False, error=f"more than {max_rows} rows", row_limit=True, elapsed_s=elapsed
        )
    return ExecutionResult(ok=True, rows=tuple(tuple(r) for r in rows), columns=columns, elapsed_s=elapsed)


def _message(err: Exception) -> str:
    text = str(err) or type(err).__name__
    if "not authorized" in text:
        text = "not authorized: only read-only queries may run"
    return f"{type(err).__name__}: {text}"


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _authorize(action, arg1, arg2, db_name, trigger) -> int:
    if action not in _ALLOWED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


# --- MySQL functions SQLite lacks -------------------------------------------------------------


def _date_part(index: int):
    def part(value):
        if value is None:
            return None
        text = str(value)
        try:
            return int(text[:10].split("-")[index])
        except (ValueError, IndexError):
            return None

    return part


def _concat(*args):
    return None if any(a is None for a in args) else "".join(_mysql_str(a) for a in args)


def _concat_ws(sep, *args):
    return None if sep is None else _mysql_str(sep).join(_mysql_str(a) for a in args if a is not None)


def _mysql_str(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _datediff(a, b):
    try:
        return (_dt.date.fromisoformat(str(a)[:10]) - _dt.date.fromisoformat(str(b)[:10])).days
    except (TypeError, ValueError):
        return None


def _left(s, n):
    return None if s is None or n is None else str(s)[: max(int(n), 0)]


def _right(s, n):
    return None if s is None or n is None else (str(s)[-int(n) :] if int(n) > 0 else "")


_FUNCTIONS = (
    ("YEAR", 1, _date_part(0), True),
    ("MONTH", 1, _date_part(1), True),
    ("DAY", 1, _date_part(2), True),
    ("DAYOFMONTH", 1, _date_part(2), True),
    ("NOW", 0, lambda: _dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"), False),
    ("CURDATE", 0, lambda: _dt.date.today().isoformat(), False),
    ("CONCAT", -1, _concat, True),
    ("CONCAT_WS", -1, _concat_ws, True),
    ("IF", 3, lambda c, a, b: a if c else b, True),
    ("LEFT", 2, _left, True),
    ("RIGHT", 2, _right, True),
    ("DATEDIFF", 2, _datediff, True),
)


def _register_functions(conn: sqlite3.Connection) -> None:
    for name, arity, func, deterministic in _FUNCTIONS:
        conn.create_function(name, arity, func, deterministic=deterministic)
