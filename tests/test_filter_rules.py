"""Rule checks of `t2s filter`: every reason code is caught with the right code, and valid SQL
(aliases, CTEs, subqueries, Korean aliases, other dialects) is never flagged."""

from __future__ import annotations

import json

import pytest

from text2sql_cli.errors import UsageError
from text2sql_cli.filtering import CHECKS, DEFAULT_CHECKS, REASONS, parse_checks
from text2sql_cli.filtering.rules import SqlTask, check_sql

pytestmark = pytest.mark.timeout(60)

DDL = """CREATE TABLE players (
  player_id INT PRIMARY KEY AUTO_INCREMENT,
  username VARCHAR(50) UNIQUE NOT NULL,
  level INT NOT NULL,
  clan_id INT,
  joined_at DATETIME NOT NULL
);
CREATE TABLE clans (
  clan_id INT PRIMARY KEY AUTO_INCREMENT,
  name VARCHAR(50) NOT NULL
);"""
PG_DDL = "CREATE TABLE orders (order_id SERIAL PRIMARY KEY, amount NUMERIC(10,2), created_at TIMESTAMP);"
ALL_SQL = ("parse", "schema", "execute", "empty")


def check(sql: str, ddl: str = DDL, checks=("parse", "schema", "execute"), **kw):
    return check_sql(SqlTask(ddl, sql, tuple(checks), **kw))


VALID = [
    "SELECT username FROM players WHERE level >= 50",
    "SELECT Username FROM PLAYERS p WHERE P.level > 3",
    "SELECT `username` FROM `players`",
    "SELECT username AS 이름 FROM players ORDER BY 이름",
    "SELECT c.name, COUNT(*) AS 인원 FROM players AS p JOIN clans AS c ON p.clan_id = c.clan_id "
    "GROUP BY c.name HAVING 인원 > 1 ORDER BY 인원 DESC",
    "WITH top AS (SELECT clan_id, COUNT(*) AS n FROM players GROUP BY clan_id) "
    "SELECT c.name, t.n FROM top t JOIN clans c ON c.clan_id = t.clan_id",
    "SELECT s.u FROM (SELECT username AS u FROM players) AS s",
    "SELECT p.username FROM players p WHERE p.level > (SELECT AVG(p2.level) FROM players p2 WHERE "
    "p2.clan_id = p.clan_id)",
    "SELECT username FROM players WHERE EXISTS (SELECT 1 FROM clans WHERE clans.clan_id = players.clan_id)",
    "SELECT username FROM players UNION SELECT name FROM clans",
    "SELECT username, RANK() OVER (ORDER BY level DESC) AS 순위 FROM players",
    "SELECT username FROM players WHERE joined_at >= DATE_SUB(NOW(), INTERVAL 7 DAY)",
    "SELECT CONCAT(username, '#', player_id) FROM players WHERE YEAR(joined_at) = 2023",
    "SELECT username FROM players p JOIN clans c USING (clan_id)",
    'SELECT * FROM players WHERE username = "admin"',
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5) SELECT x FROM n",
    "SELECT username FROM players;",
]


@pytest.mark.parametrize("sql", VALID)
def test_valid_sql_passes_every_default_check(sql):
    assert check(sql).reason is None


def test_postgres_ddl_and_casts_pass():
    sql = "SELECT order_id, amount::int AS 금액 FROM orders WHERE created_at > NOW() - INTERVAL '7 days'"
    assert check(sql, PG_DDL).reason is None


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELEC username FROM players", "parse_error"),
        ("SELECT username FROM players WHERE (", "parse_error"),
        ("SELECT 1; SELECT 2", "parse_error"),
        ("플레이어 목록을 보여줘", "parse_error"),
        ("SELECT x FROM nosuch_table", "unknown_table"),
        ("SELECT q.username FROM players p", "unknown_table"),
        ("DELETE FROM nosuch WHERE a = 1", "unknown_table"),
        ("SELECT nickname FROM players", "unknown_column"),
        ("SELECT p.nickname FROM players p", "unknown_column"),
        ("SELECT username FROM players WHERE clan_name = 'x'", "unknown_column"),
        ("WITH t AS (SELECT username FROM players) SELECT level FROM t", "unknown_column"),
        ("SELECT s.level FROM (SELECT username FROM players) AS s", "unknown_column"),
        ("UPDATE players SET nickname = 'a'", "unknown_column"),
        ("SELECT FOO_BAR(username) FROM players", "gold_error"),
    ],
)
def test_bad_gold_sql_gets_its_reason_code(sql, reason):
    assert check(sql).reason == reason


def test_ddl_without_create_table_is_ddl_error():
    found = check("SELECT 1", ddl="this is not DDL")
    assert found.reason == "ddl_error" and "DDL" in found.detail


def test_execute_alone_reports_a_bad_ddl_as_ddl_error():
    assert check("SELECT 1", ddl="this is not DDL", checks=("execute",)).reason == "ddl_error"


def test_unknown_column_detail_names_the_column():
    found = check("SELECT nickname FROM players")
    assert "nickname" in found.detail


def test_timeout_stops_runaway_recursive_cte():
    sql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n"
    found = check(sql, timeout=0.3)
    assert found.reason == "gold_timeout"


def test_empty_on_every_synthesized_instance_is_empty_result():
    assert check("SELECT username FROM players WHERE 1 = 0", checks=ALL_SQL).reason == "empty_result"


def test_query_with_rows_on_synthesized_data_is_not_empty():
    assert check("SELECT username FROM players WHERE level > 3", checks=ALL_SQL).reason is None


def test_empty_check_is_off_by_default():
    assert "empty" not in DEFAULT_CHECKS
    assert check("SELECT username FROM players WHERE 1 = 0").reason is None


def test_statements_other_than_queries_pass_execution_untested():
    found = check("UPDATE players SET level = level + 1 WHERE username = 'a'", checks=ALL_SQL)
    assert found.reason is None and found.note.startswith("not_executed")


def test_only_selected_checks_run():
    assert check("SELECT nickname FROM players", checks=("parse",)).reason is None
    assert check("SELEC x", checks=("schema",)).reason is None  # unparseable: schema cannot judge it


@pytest.mark.parametrize("path_fixture", ["sample", "ko_test"])
def test_real_data_rows_pass(path_fixture, request):
    from conftest import EXAMPLES

    path = EXAMPLES / "sample.jsonl" if path_fixture == "sample" else request.getfixturevalue("ko_test_split")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    flagged = {i: check(r["answer"], r["context"]) for i, r in enumerate(rows)}
    flagged = {i: f for i, f in flagged.items() if f.reason}
    if path_fixture == "sample":
        assert flagged == {}
    else:
        # Two test-split rows join `characters`, which their DDL does not define: real defects.
        assert {f.reason for f in flagged.values()} == {"unknown_table"} and len(flagged) == 2
        assert all("characters" in f.detail for f in flagged.values())


def test_parse_checks_orders_and_validates():
    assert parse_checks("execute,missing") == ("missing", "execute")
    assert parse_checks("all") == CHECKS
    with pytest.raises(UsageError, match="nosuch"):
        parse_checks("missing,nosuch")


def test_every_reason_code_is_documented():
    import text2sql_cli.filtering as filtering

    assert all(code in filtering.__doc__ for code in REASONS)
