"""DDL loading: MySQL and PostgreSQL DDL become SQLite with constraints intact."""

import sqlite3

import pytest

from text2sql_cli.sql.dialect import to_sqlite
from text2sql_cli.sql.schema import SchemaError, build_database, parse_schema

MYSQL = """CREATE TABLE players (
  player_id INT PRIMARY KEY AUTO_INCREMENT,
  username VARCHAR(255) UNIQUE NOT NULL,
  last_login DATETIME
);
CREATE TABLE characters (
  character_id INT PRIMARY KEY AUTO_INCREMENT,
  player_id INT NOT NULL,
  FOREIGN KEY (player_id) REFERENCES players(player_id)
);"""


def test_mysql_auto_increment_ddl_loads():
    conn = build_database(MYSQL)
    assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} >= {
        "players",
        "characters",
    }


def test_unique_and_not_null_survive():
    conn = build_database(MYSQL)
    conn.execute("INSERT INTO players (username) VALUES ('a')")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO players (username) VALUES ('a')")


def test_foreign_keys_are_read():
    table = parse_schema(MYSQL).table("characters")
    assert table.foreign_keys[0].ref_table == "players" and table.primary_key == ("character_id",)


def test_postgres_serial_becomes_rowid_key():
    conn = build_database("CREATE TABLE a (id SERIAL PRIMARY KEY, v NUMERIC(10,2) NOT NULL);")
    conn.execute("INSERT INTO a (v) VALUES (1.5)")
    assert conn.execute("SELECT id FROM a").fetchall() == [(1,)]


def test_ddl_without_create_table_is_an_error():
    with pytest.raises(SchemaError):
        parse_schema("SELECT 1")


def test_mysql_date_arithmetic_transpiles():
    # The emulation's function keeps the operand's type and reads the pinned clock (issue 12).
    assert to_sqlite("SELECT a FROM t WHERE d <= DATE_SUB(NOW(), INTERVAL 7 DAY)", "mysql").sql.endswith(
        "T2S_DATE_ADD(T2S_NOW(), -(7), 'DAY')"
    )


def test_every_gold_query_of_the_test_split_runs_or_is_explained(ko_test_split):
    import json

    from text2sql_cli.sql.goldmatch import ExTask, score_example

    unexplained = []
    for line in ko_test_split.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        verdict = score_example(
            ExTask(str(row["db_id"]), row["context"], row["answer"], row["answer"], instances=2)
        )
        if verdict["status"] != "correct" and not verdict["gold_error_kind"]:
            unexplained.append((row["answer"], verdict))
    assert unexplained == []
