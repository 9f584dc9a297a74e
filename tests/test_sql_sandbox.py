"""The sandbox: read-only, time-limited, row-capped, typed results."""

import pytest

from text2sql_cli.sql.sandbox import ExecutionResult, execute, open_readonly, open_snapshot, snapshot
from text2sql_cli.sql.schema import build_database

DDL = "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(20) NOT NULL, score FLOAT);"


@pytest.fixture
def db():
    conn = build_database(DDL)
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, f"n{i}", i / 2) for i in range(1, 101)])
    return open_snapshot(snapshot(conn))


@pytest.fixture
def db_file(tmp_path):
    path = tmp_path / "real.sqlite"
    conn = build_database(DDL)
    conn.execute("INSERT INTO t VALUES (1, 'a', 1.0)")
    conn.commit()
    import sqlite3

    disk = sqlite3.connect(path)
    conn.backup(disk)
    disk.close()
    return path


def test_select_returns_typed_rows(db):
    result = execute(db, "SELECT id, name FROM t WHERE id <= 2 ORDER BY id;")
    assert result == ExecutionResult(
        ok=True, rows=((1, "n1"), (2, "n2")), columns=("id", "name"), elapsed_s=result.elapsed_s
    )


def test_error_is_typed_not_a_sentinel_row(db):
    result = execute(db, "SELECT nope FROM t")
    assert (result.ok, result.rows, result.status) == (
        False,
        (),
        "error",
    ) and "no such column" in result.error


def test_timeout_stops_runaway_recursive_cte(db):
    result = execute(
        db,
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
        timeout=0.5,
    )
    # the endless query was interrupted: a timeout, not rows and not an error (speed: benchmarks/)
    assert result.timed_out and result.status == "timeout" and not result.ok and result.rows == ()


def test_cartesian_blowup_is_cut_by_row_cap(db):
    result = execute(db, "SELECT * FROM t a, t b, t c, t d", timeout=5, max_rows=1000)
    assert result.status == "row_limit" and result.rows == ()


def test_cartesian_blowup_with_aggregate_is_cut_by_timeout(db):
    result = execute(db, "SELECT count(*) FROM t a, t b, t c, t d, t e", timeout=0.3)
    assert result.timed_out and result.status == "timeout" and not result.ok and result.rows == ()


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE t",
        "DELETE FROM t",
        "INSERT INTO t VALUES (999, 'x', 1)",
        "UPDATE t SET name = 'x'",
        "PRAGMA writable_schema=1",
        "SELECT load_extension('x')",
        "CREATE TABLE u (a)",
    ],
)
def test_writes_pragma_and_extensions_are_refused(db, sql):
    result = execute(db, sql)
    assert not result.ok and execute(db, "SELECT count(*) FROM t").rows == ((100,),)


def test_attach_is_refused_and_creates_no_file(db, tmp_path):
    target = tmp_path / "x.db"
    result = execute(db, f"ATTACH DATABASE '{target}' AS x")
    assert not result.ok and not target.exists()


def test_real_file_is_not_changed(db_file):
    before = db_file.read_bytes()
    conn = open_readonly(str(db_file))
    for sql in ("DROP TABLE t", "PRAGMA writable_schema=1", "DELETE FROM t", "PRAGMA journal_mode=WAL"):
        assert not execute(conn, sql).ok
    conn.close()
    assert db_file.read_bytes() == before and sorted(p.name for p in db_file.parent.iterdir()) == [
        "real.sqlite"
    ]


def test_mysql_functions_are_available(db):
    result = execute(
        db,
        "SELECT CONCAT(name, '-', id), YEAR('2021-03-04'), DATEDIFF('2021-03-04', '2021-03-01') FROM t "
        "WHERE id = 3",
    )
    assert result.rows == (("n3-3", 2021, 3),)


def test_multiple_statements_are_an_error(db):
    assert not execute(db, "SELECT 1; DROP TABLE t").ok


HOSTILE = {
    "printf": "SELECT printf('%.*c', 999999999, 'x')",
    "zeroblob": "SELECT zeroblob(999999999)",
    "randomblob": "SELECT randomblob(999999999)",
    "replace_hex": "SELECT replace(hex(zeroblob(1e8)),'0','ab')",
}


@pytest.mark.parametrize("sql", HOSTILE.values(), ids=HOSTILE.keys())
def test_single_call_size_bombs_stop_at_once_naming_the_limit(db, sql):
    result = execute(db, sql, timeout=60)
    assert not result.ok and not result.timed_out  # stopped by the limit, not by the clock
    assert "SQLITE_LIMIT_LENGTH" in result.error


def test_limits_are_set_on_every_connection(db, db_file):
    import sqlite3

    from text2sql_cli.sql.sandbox import LIMITS

    for conn in (db, open_readonly(db_file)):
        for name, value in LIMITS:
            assert conn.getlimit(getattr(sqlite3, name)) == value, name


def test_printf_still_formats_ordinary_values(db):
    result = execute(db, "SELECT printf('%.2f', 3.14159), printf('%5d|%-3s|%%', 3, 'ab'), format('%s', 'x')")
    assert result.rows == (("3.14", "    3|ab |%", "x"),)


def test_result_over_the_size_limit_is_an_error_not_rows(db):
    result = execute(db, "SELECT name, zeroblob(1000) FROM t", max_result_bytes=50_000)
    assert not result.ok and result.rows == () and "result size limit" in result.error


def test_deep_nesting_is_refused(db):
    result = execute(db, "SELECT " + "(" * 1100 + "1" + ")" * 1100)
    assert not result.ok and "overflow" in result.error


def test_ctrl_c_during_a_query_raises_instead_of_becoming_an_error_row(db):
    import os
    import signal
    import threading

    runaway = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
    threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
    with pytest.raises(KeyboardInterrupt):
        execute(db, runaway, timeout=60)
