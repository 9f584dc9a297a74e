"""The SQLite emulation of MySQL (issue 12 §2): the README's function table, checked on both the
emulation and the real MariaDB, and a suite of MySQL queries whose expected answers are MariaDB's."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlglot
from _servers import server_url
from mysql_cases import DDL, FUNCTIONS, QUERIES, ROWS

from text2sql_cli.sql import mysql_emulation
from text2sql_cli.sql.compare import rows_match
from text2sql_cli.sql.dialect import to_sqlite
from text2sql_cli.sql.sandbox import execute, open_snapshot, snapshot
from text2sql_cli.sql.schema import build_database


@pytest.fixture(scope="module")
def sqlite_db():
    conn = build_database(DDL, "mysql")
    for table, (columns, rows) in ROWS.items():
        marks = ", ".join("?" for _ in columns)
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    return open_snapshot(snapshot(conn))


@pytest.fixture(scope="module")
def mariadb_db():
    from text2sql_cli.sql.engines import check_url, server_for
    from text2sql_cli.sql.engines.server import TableRows

    engine = server_for("mariadb", check_url("mariadb", server_url("mariadb")))
    tables = [TableRows(t, columns, tuple(rows)) for t, (columns, rows) in ROWS.items()]
    with engine.throwaway(DDL, tables) as name:
        yield lambda sql: engine.execute(sql, database=name)


def _on_sqlite(conn, sql):
    return execute(conn, to_sqlite(sql, "mysql").sql)


def _ordered(sql: str) -> bool:
    return sqlglot.parse_one(sql, read="mysql").args.get("order") is not None


@pytest.mark.parametrize("construct, sql, expected", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_emulation_gives_mysqls_answer(sqlite_db, construct, sql, expected):
    got = _on_sqlite(sqlite_db, sql)
    assert got.ok, got.error
    assert rows_match(expected, got.rows, mode="strict", order_matters=True, float_tol=1e-6), got.rows


@pytest.mark.parametrize("construct, sql, expected", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_mariadb_gives_the_tables_answer(mariadb_db, construct, sql, expected):
    got = mariadb_db(sql)
    assert got.ok, got.error
    assert rows_match(expected, got.rows, mode="strict", order_matters=True, float_tol=1e-6), got.rows


def test_fidelity_suite_has_at_least_80_queries_in_every_category():
    categories = {c for c, _ in QUERIES}
    assert len(QUERIES) >= 80
    assert {"dates", "strings", "numbers", "grouping", "window", "korean"} <= categories


def test_emulation_matches_mariadb_on_the_fidelity_suite(sqlite_db, mariadb_db):
    differ = []
    for category, sql in QUERIES:
        want, got = mariadb_db(sql), _on_sqlite(sqlite_db, sql)
        assert want.ok, f"the suite's query fails on MariaDB: {sql}: {want.error}"
        same = got.ok and rows_match(
            want.rows, got.rows, mode="strict", order_matters=_ordered(sql), float_tol=1e-6
        )
        if not same:
            differ.append(f"[{category}] {sql}: MariaDB {want.rows} vs SQLite {got.rows or got.error}")
    share = 1 - len(differ) / len(QUERIES)
    print(f"emulation matches MariaDB on {len(QUERIES) - len(differ)}/{len(QUERIES)} queries ({share:.1%})")
    assert share >= 0.95, "\n".join(differ)


def test_pinned_clock_drives_now_and_curdate(sqlite_db):
    mysql_emulation.pin_now(dt.datetime(2024, 3, 16, 10, 20, 30))
    try:
        got = _on_sqlite(sqlite_db, "SELECT NOW(), CURDATE(), CURDATE() - INTERVAL 1 DAY, CURRENT_TIMESTAMP")
        assert got.rows == (("2024-03-16 10:20:30", "2024-03-16", "2024-03-15", "2024-03-16 10:20:30"),)
    finally:
        mysql_emulation.unpin()


def test_binary_collations_stay_case_sensitive():
    conn = build_database("CREATE TABLE t (a VARCHAR(5) COLLATE utf8mb4_bin, b VARCHAR(5));", "mysql")
    conn.execute("INSERT INTO t VALUES ('X', 'X')")
    db = open_snapshot(snapshot(conn))
    assert execute(db, "SELECT COUNT(*) FROM t WHERE a = 'x'").rows == ((0,),)
    assert execute(db, "SELECT COUNT(*) FROM t WHERE b = 'x'").rows == ((1,),)


def test_postgres_ddl_keeps_case_sensitive_text():
    conn = build_database("CREATE TABLE t (id SERIAL PRIMARY KEY, b TEXT);", "postgres")
    conn.execute("INSERT INTO t (b) VALUES ('X')")
    db = open_snapshot(snapshot(conn))
    assert execute(db, "SELECT COUNT(*) FROM t WHERE b = 'x'").rows == ((0,),)
