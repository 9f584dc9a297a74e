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

Size limits (`LIMITS`, set with `Connection.setlimit` on every connection): one value at most
16 MB (`SQLITE_LIMIT_LENGTH`), statement text 1 MB, expression depth 1000, and the rest below. A
single SQL function call does not reach the progress handler, so these are what stop
`zeroblob(999999999)` or `replace(hex(zeroblob(1e8)), ...)` at once. `printf`/`format` are
wrapped: a width or precision over the length limit is refused before SQLite loops over it (its
`%.*c` loop otherwise runs for seconds and returns NULL). A whole result is at most
`max_result_bytes` (64 MB); a bigger one is an error and is never compared. SQLite's own heap is
capped process-wide (`PRAGMA hard_heap_limit`, `HEAP_LIMIT`); the worker pool adds an address-space
cap and a hard kill per worker (`pool.run_tasks`). Errors caused by a limit name it.

Limits: this guards against mistaken and runaway queries from a model, not against a malicious
SQLite build; run untrusted work in worker processes (`pool.run_tasks`), where a statement that
still runs past its time limit is killed with its process.
"""

from __future__ import annotations

import datetime as _dt
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from text2sql_cli import interrupts

_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),
}
_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
_PROGRESS_STEPS = 1000  # VM instructions between deadline checks (about 10-50 us)

MAX_VALUE_BYTES = 16_000_000
# SQLite limits on every sandbox connection (name, value); a statement that needs more fails.
LIMITS = (
    ("SQLITE_LIMIT_LENGTH", MAX_VALUE_BYTES),  # one string/blob/row; default 1e9
    ("SQLITE_LIMIT_SQL_LENGTH", 1_000_000),  # statement text; default 1e9
    ("SQLITE_LIMIT_EXPR_DEPTH", 1000),
    ("SQLITE_LIMIT_COMPOUND_SELECT", 500),
    ("SQLITE_LIMIT_LIKE_PATTERN_LENGTH", 50_000),
    ("SQLITE_LIMIT_VARIABLE_NUMBER", 999),
    ("SQLITE_LIMIT_FUNCTION_ARG", 127),
    ("SQLITE_LIMIT_ATTACHED", 0),
    ("SQLITE_LIMIT_TRIGGER_DEPTH", 10),
    ("SQLITE_LIMIT_WORKER_THREADS", 0),  # sorter threads would escape the worker's watch
)
HEAP_LIMIT = 512 * 2**20  # bytes of SQLite heap per process (PRAGMA hard_heap_limit)
MAX_RESULT_BYTES = 64 * 2**20
_TOO_BIG = f"over the value size limit (SQLITE_LIMIT_LENGTH = {MAX_VALUE_BYTES // 1_000_000} MB)"

# Set by the worker pool: called with (deadline, label) before a statement and (0, "") after, so
# the parent can kill a worker whose statement runs past its deadline.
watch: Callable[[float, str], None] | None = None
_limit_hit: list[str] = []
_label = ["query"]


def set_label(label: str) -> None:
    """Name the statements `execute` runs from now on (gold, pred), for the pool's kill message."""
    _label[0] = label  # a limit a Python-side check stopped (a UDF's message is lost in SQLite)


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


def open_readonly(path: str, *, mysql_functions: bool = True) -> sqlite3.Connection:
    """A locked-down read-only connection to an existing SQLite file (`mode=ro`);
    `mysql_functions=False`: plain SQLite, as the official evaluators run it."""
    from pathlib import Path

    uri = Path(path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    return lock_down(conn, mysql_functions=mysql_functions)


def check_database_file(path) -> str | None:
    """Why the SQLite file at `path` cannot serve as a database (empty, not SQLite, damaged, no
    tables), or None. Without this, each gold query on it fails and EX silently excludes them all."""
    from pathlib import Path

    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if not head:
        return "is an empty file, not an SQLite database"
    if head != b"SQLite format 3\x00":
        return "is not an SQLite database (wrong header)"
    try:
        conn = open_readonly(str(path))
        try:
            # the schema and each table's first page; a full integrity check would read every page
            # (minutes on BIRD's largest files), so damage deeper in is left to the queries
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for name in names:
                conn.execute(f'SELECT * FROM "{name.replace(chr(34), chr(34) * 2)}" LIMIT 1').fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as err:
        return f"is a damaged SQLite database ({err})"
    if not names:
        return "is an SQLite database without tables"
    return None


def lock_down(conn: sqlite3.Connection, *, mysql_functions: bool = True) -> sqlite3.Connection:
    """query_only, size limits, a heap cap, an authorizer that allows reading only; registers the
    MySQL compat functions (unless `mysql_functions=False`: plain SQLite) and the guarded printf."""
    conn.execute("PRAGMA query_only = 1")
    conn.execute(f"PRAGMA hard_heap_limit = {HEAP_LIMIT}")
    for name, value in LIMITS:
        conn.setlimit(getattr(sqlite3, name), value)
    conn.text_factory = _text
    _register_functions(conn, mysql=mysql_functions)
    if mysql_functions:
        from text2sql_cli.sql.mysql_emulation import register

        register(conn)  # MySQL's functions and clock (the emulation module owns them)
    conn.set_authorizer(_authorize)
    return conn


def execute(
    conn: sqlite3.Connection,
    sql: str,
    *,
    timeout: float = 5.0,
    max_rows: int = 100_000,
    max_result_bytes: int = MAX_RESULT_BYTES,
    label: str | None = None,
) -> ExecutionResult:
    """Run one statement; at most `timeout` seconds, `max_rows` rows and `max_result_bytes`, else
    a failed result. `label` (gold, pred; default: the last `set_label`) tells the worker pool
    what it kills if it must.
    An interrupt (Ctrl-C, SIGTERM) is raised as `Interrupted`, never returned as an error."""
    statement = sql.strip().rstrip(";").strip()
    if not statement:
        return ExecutionResult(ok=False, error="empty query")
    start = time.monotonic()
    deadline = start + timeout
    conn.set_progress_handler(lambda: time.monotonic() > deadline, _PROGRESS_STEPS)
    _limit_hit.clear()
    signals = interrupts.count()
    if watch is not None:
        watch(deadline, label or _label[0])
    cursor = None
    try:
        cursor = conn.execute(statement)
        rows = _fetch(cursor, max_rows, max_result_bytes)
        columns = tuple(d[0] for d in cursor.description or ())
    except sqlite3.OperationalError as err:
        elapsed = time.monotonic() - start
        if "interrupted" in str(err):
            if elapsed >= timeout:
                return ExecutionResult(
                    ok=False, error=f"timed out after {timeout:g} s", timed_out=True, elapsed_s=elapsed
                )
            # Not our deadline: a signal whose KeyboardInterrupt SQLite's callback swallowed.
            raise interrupts.Interrupted(interrupts.received()) from None
        return ExecutionResult(ok=False, error=_message(err), elapsed_s=elapsed)
    except (sqlite3.Error, OverflowError, ValueError, MemoryError, ResultTooBig) as err:
        return ExecutionResult(ok=False, error=_message(err), elapsed_s=time.monotonic() - start)
    finally:
        if watch is not None:
            watch(0.0, "")
        if cursor is not None:
            cursor.close()
        conn.set_progress_handler(None, 0)
        interrupts.check(signals)  # one the authorizer, a function or the handler turned into an error
    elapsed = time.monotonic() - start
    if len(rows) > max_rows:
        return ExecutionResult(
            ok=False, error=f"more than {max_rows} rows", row_limit=True, elapsed_s=elapsed
        )
    return ExecutionResult(ok=True, rows=tuple(rows), columns=columns, elapsed_s=elapsed)


_SIZED = (str, bytes, bytearray, memoryview)


def result_bytes(rows) -> int:
    """About how many bytes `rows` hold: text and blobs are what can be big; each row counts 16
    bytes for its numbers and overhead. Shared with the real-engine runner's size cap."""
    return 16 * len(rows) + sum([len(v) for row in rows for v in row if v.__class__ in _SIZED])


class ResultTooBig(Exception):
    """A result over `max_result_bytes`: an error, never compared."""


def _fetch(cursor: sqlite3.Cursor, max_rows: int, max_bytes: int) -> list[tuple]:
    """Up to `max_rows + 1` rows, in batches, stopping once they hold more than `max_bytes`."""
    rows: list[tuple] = []
    size = 0
    while len(rows) <= max_rows:
        # Small batches until rows prove small: one batch must not overshoot the limit by much.
        room = (max_bytes - size) // (2 * max(1, size // max(1, len(rows)))) if rows else 16
        batch = cursor.fetchmany(max(1, min(1000, room, max_rows + 1 - len(rows))))
        if not batch:
            break
        size += result_bytes(batch)
        if size > max_bytes:
            raise ResultTooBig(f"result larger than {max_bytes // 2**20} MB (the result size limit)")
        rows.extend(batch)
    return rows


def _message(err: Exception) -> str:
    text = str(err) or type(err).__name__
    if _limit_hit:
        text = _limit_hit[0]
    elif "not authorized" in text:
        text = "not authorized: only read-only queries may run"
    elif "too big" in text:
        text = f"{text}: {_TOO_BIG}"
    elif isinstance(err, MemoryError) or "out of memory" in text:
        cap = f"{HEAP_LIMIT // 2**20} MB SQLite heap, or the worker's cap"
        text = f"out of memory: over the memory limit ({cap})"
    elif "statement too long" in text:
        text = f"{text}: over SQLITE_LIMIT_SQL_LENGTH"
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


def _register_functions(conn: sqlite3.Connection, mysql: bool = True) -> None:
    for name, arity, func, deterministic in _FUNCTIONS if mysql else ():
        conn.create_function(name, arity, func, deterministic=deterministic)
    for name in ("printf", "format"):  # always: the guard, not a MySQL function
        conn.create_function(name, -1, _printf, deterministic=True)


# --- printf with its width and precision checked ---------------------------------------------

_SPEC = re.compile(r"%[-+ 0#,!]*(\*|\d+)?(?:\.(\*|\d+))?([a-zA-Z%])")
_plain: sqlite3.Connection | None = None


def _printf(fmt=None, *args):
    """SQLite's own printf, run on a private connection once no width or precision exceeds the
    value size limit (SQLite repeats `%.*c` a character at a time, past any limit)."""
    global _plain
    if fmt is None:
        return None
    remaining = list(args)
    for width, precision, kind in _SPEC.findall(str(fmt)):
        for part in (width, precision):
            value = remaining.pop(0) if part == "*" and remaining else part
            try:
                number = abs(int(value or 0))
            except (TypeError, ValueError):
                number = 0
            if number > MAX_VALUE_BYTES:
                _limit_hit.append(f"printf width or precision {number} is {_TOO_BIG}")
                raise ValueError(_limit_hit[-1])
        if kind != "%" and remaining:
            remaining.pop(0)
    if _plain is None:
        _plain = sqlite3.connect(":memory:", check_same_thread=False)
        _plain.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    marks = ", ".join("?" * (1 + len(args)))
    return _plain.execute(f"SELECT printf({marks})", (fmt, *args)).fetchone()[0]
