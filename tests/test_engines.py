"""Real server engines (issue 12): `t2s eval/filter --engine mariadb|postgres --db-url ...`.

Server tests need the servers `.ci/services.sh start` runs (see tests/_servers.py): they fail in CI
when one is missing and skip locally. The pure parts (statement guard, value normalisation, URL
checks) run everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest
from _servers import server_url
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.sql.engines import EngineError, check_url, server_for
from text2sql_cli.sql.engines.statements import guard, split
from text2sql_cli.sql.engines.values import normalise

MYSQL_DDL = (
    "CREATE TABLE members (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(50) NOT NULL, "
    "grade VARCHAR(10), joined DATE NOT NULL, points DECIMAL(10,2));"
)
PG_DDL = (
    "CREATE TABLE members (id SERIAL PRIMARY KEY, name VARCHAR(50) NOT NULL, "
    "grade VARCHAR(10), joined DATE NOT NULL, points NUMERIC(10,2), active BOOLEAN);"
)
ENGINES = ("mariadb", "postgres")


def _engine(kind):
    return server_for(kind, check_url(kind, server_url(kind)))


# --- no server needed ---------------------------------------------------------------------------


def test_split_ignores_semicolons_in_strings_comments_and_dollar_bodies():
    sql = "SELECT ';' AS a; -- x;y\nSELECT `a;b` FROM t /* ; */; SELECT $$;$$"
    assert split(sql) == ["SELECT ';' AS a", "-- x;y\nSELECT `a;b` FROM t /* ; */", "SELECT $$;$$"]


@pytest.mark.parametrize(
    "sql, reason",
    [
        ("SELECT 1; DROP TABLE t", "one statement per query: found 2"),
        ("DELETE FROM t", "not authorized: only read-only queries may run"),
        ("SELECT * FROM t INTO OUTFILE '/tmp/x'", "not authorized: INTO OUTFILE is not allowed"),
        ("SELECT LOAD_FILE('/etc/passwd')", "not authorized: LOAD_FILE is not allowed"),
        ("", "empty query"),
    ],
)
def test_guard_refuses_what_is_not_one_read_only_query_on_mariadb(sql, reason):
    assert guard(sql, "mariadb") == reason


def test_guard_refuses_postgres_file_and_session_functions():
    assert guard("SELECT pg_read_file('/etc/passwd')", "postgres").startswith("not authorized")
    assert guard("SELECT lo_export(1, '/tmp/x')", "postgres").startswith("not authorized")


def test_guard_lets_queries_through_and_ignores_names_inside_strings():
    assert guard("WITH a AS (SELECT 1) SELECT * FROM a;", "mariadb") is None
    assert guard("SELECT 'into outfile' AS note", "mariadb") is None
    assert guard("(SELECT 1) UNION (SELECT 2)", "postgres") is None


def test_values_become_what_sqlite_returns():
    assert normalise(Decimal("12.50")) == 12.5
    assert normalise(Decimal("12.00")) == 12 and isinstance(normalise(Decimal("12.00")), int)
    assert normalise(dt.datetime(2024, 3, 16, 9, 5, 0)) == "2024-03-16 09:05:00"
    assert normalise(dt.date(2024, 2, 29)) == "2024-02-29"
    assert normalise(dt.time(7, 30)) == "07:30:00"
    assert normalise(dt.timedelta(hours=-26, minutes=-1)) == "-26:01:00"
    assert normalise(True) == 1 and normalise(False) == 0
    assert normalise(b"\xea\xb0\x80") == "가"
    assert normalise(b"\xff\x00") == "0xff00"


def test_url_must_match_the_engine_and_gets_its_driver():
    assert check_url("mariadb", "mysql://u@h:3306/") == "mysql+pymysql://u@h:3306/"
    assert check_url("postgres", "postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(EngineError, match="is not a mariadb URL"):
        check_url("mariadb", "postgresql://u@h/db")
    with pytest.raises(EngineError, match="needs --db-url"):
        check_url("postgres", None)


def test_eval_with_wrong_url_is_a_one_line_usage_error(tmp_path):
    preds = _write(tmp_path / "p.jsonl", [_row(1, "SELECT 1", "SELECT 1", MYSQL_DDL)])
    result = CliRunner().invoke(
        app, ["eval", str(preds), "--out", str(tmp_path / "o"), "--engine", "mariadb", "--db-url", "pg://x"]
    )
    assert result.exit_code == 2
    assert "is not a mariadb URL" in result.output and "Traceback" not in result.output


# --- on the servers -----------------------------------------------------------------------------


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _row(i, gold, sql, ddl, db_id="1"):
    return {"id": str(i), "db_id": db_id, "question": "q", "context": ddl, "gold": gold, "sql": sql}


@pytest.mark.parametrize("kind", ENGINES)
def test_eval_on_a_server_scores_synthesized_instances_and_leaves_nothing(tmp_path, kind):
    url = server_url(kind)
    ddl = MYSQL_DDL if kind == "mariadb" else PG_DDL
    rows = [
        _row(
            1,
            "SELECT name FROM members WHERE points >= 100",
            "SELECT name FROM members WHERE points >= 100",
            ddl,
        ),
        _row(
            2,
            "SELECT name FROM members WHERE points >= 100",
            "SELECT name FROM members WHERE points > 100",
            ddl,
        ),
        _row(3, "SELECT COUNT(*) FROM members", "SELECT COUNT(*) FROM nowhere", ddl),
        _row(4, "SELECT COUNT(*) FROM members", "SELECT 1; DROP TABLE members", ddl),
    ]
    preds = _write(tmp_path / "p.jsonl", rows)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["eval", str(preds), "--out", str(out), "--metric", "ex", "--engine", kind, "--db-url", url]
    )
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in got] == ["correct", "wrong_result", "pred_error", "pred_error"]
    assert "one statement" in got[3]["reason"]
    assert all(r["databases"] == 5 for r in got)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["engine"] == kind
    assert _engine(kind).leftovers() == []


@pytest.mark.parametrize("kind", ENGINES)
def test_server_query_cannot_write_even_past_the_guard(kind):
    engine = _engine(kind)
    ddl = MYSQL_DDL if kind == "mariadb" else PG_DDL
    write = (  # a cursor cannot hold an INSERT on PostgreSQL: a function that writes instead
        "INSERT INTO members (name, joined) VALUES ('x', '2024-01-01')"
        if kind == "mariadb"
        else "SELECT nextval('members_id_seq')"
    )
    with engine.throwaway(ddl, []) as name, engine.session():
        engine._use(engine._held.cursor(), name)
        with pytest.raises(Exception, match="(?i)read.only"):
            engine._run(engine._held, engine._held.cursor(), write, 5, 10)


@pytest.mark.parametrize("kind", ENGINES)
def test_server_time_limit_and_row_cap(kind):
    engine = _engine(kind)
    sleep = "SELECT SLEEP(3)" if kind == "mariadb" else "SELECT pg_sleep(3)"
    slow = engine.execute(sleep, timeout=0.5)
    assert slow.timed_out and not slow.ok
    many = (
        "SELECT 1 FROM (SELECT 1 AS x UNION ALL SELECT 2 UNION ALL SELECT 3) a, "
        "(SELECT 1 AS y UNION ALL SELECT 2) b"
    )
    capped = engine.execute(many, max_rows=5)
    assert capped.row_limit and not capped.ok
    assert engine.execute(many, max_rows=6).ok
    assert engine.execute("SELECT 1").rows == ((1,),)  # the session settings did not stick


@pytest.mark.parametrize("kind", ENGINES)
def test_server_values_are_normalised(kind):
    engine = _engine(kind)
    last = "1 = 1" if kind == "postgres" else "TIME '07:30:00'"
    sql = f"SELECT CAST(2.50 AS DECIMAL(5,2)), DATE '2024-02-29', TIMESTAMP '2024-03-16 09:05:00', {last}"
    rows = engine.execute(sql).rows
    assert rows[0][:3] == (2.5, "2024-02-29", "2024-03-16 09:05:00")
    assert rows[0][3] == (1 if kind == "postgres" else "07:30:00")


@pytest.mark.parametrize("kind", ENGINES)
def test_throwaway_database_is_dropped_after_an_interrupt(kind):
    engine = _engine(kind)
    ddl = MYSQL_DDL if kind == "mariadb" else PG_DDL
    with pytest.raises(KeyboardInterrupt), engine.throwaway(ddl, []) as name:
        assert name in engine.leftovers()
        raise KeyboardInterrupt
    assert name not in engine.leftovers()


@pytest.mark.parametrize("kind", ENGINES)
def test_rerun_drops_what_a_killed_run_left(kind, tmp_path):
    url = check_url(kind, server_url(kind))
    ddl = MYSQL_DDL if kind == "mariadb" else PG_DDL
    script = textwrap.dedent(
        f"""
        import os
        from text2sql_cli.sql.engines import server_for
        engine = server_for({kind!r}, {url!r})
        cm = engine.throwaway({ddl!r}, [])
        print(cm.__enter__(), flush=True)
        os._exit(9)  # killed: no finally, no atexit
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    left = done.stdout.strip()
    engine = server_for(kind, url)
    assert left in engine.leftovers()
    assert left in engine.clean_leftovers()
    assert left not in engine.leftovers()


def test_existing_databases_by_db_id_run_read_only(tmp_path):
    url = server_url("mariadb")
    admin = _engine("mariadb")
    with admin._connection() as raw:
        cur = raw.cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS t2s_test_shop")
        cur.execute("CREATE TABLE IF NOT EXISTS t2s_test_shop.items (id INT PRIMARY KEY, name VARCHAR(20))")
        cur.execute("REPLACE INTO t2s_test_shop.items VALUES (1, 'Apple'), (2, 'pear')")
    try:
        rows = [
            _row(
                1,
                "SELECT name FROM items WHERE name = 'apple'",
                "SELECT name FROM items WHERE id = 1",
                "",
                "t2s_test_shop",
            ),
            _row(2, "SELECT COUNT(*) FROM items", "SELECT COUNT(*) FROM items", "", "no_such_db"),
        ]
        preds = _write(tmp_path / "p.jsonl", rows)
        out = tmp_path / "out"
        result = CliRunner().invoke(
            app,
            [
                "eval",
                str(preds),
                "--out",
                str(out),
                "--metric",
                "ex",
                "--engine",
                "mariadb",
                "--db-url",
                url + "{db_id}",
            ],
        )
        assert result.exit_code == 0, result.output
        got = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert got[0]["status"] == "correct"  # MariaDB's collation: 'apple' finds 'Apple'
        assert got[1]["status"] == "gold_error" and got[1]["gold_error_kind"] == "no_database"
        with admin._connection() as raw:
            cur = raw.cursor()
            cur.execute("SELECT COUNT(*) FROM t2s_test_shop.items")
            assert cur.fetchone()[0] == 2
    finally:
        with admin._connection() as raw:
            raw.cursor().execute("DROP DATABASE IF EXISTS t2s_test_shop")


def test_filter_checks_gold_sql_on_mariadb(tmp_path):
    url = server_url("mariadb")
    rows = [
        {"question": "a", "context": MYSQL_DDL, "answer": "SELECT name FROM members", "db_id": "1"},
        {"question": "b", "context": MYSQL_DDL, "answer": "SELECT nme FROM members", "db_id": "1"},
        {
            "question": "c",
            "context": MYSQL_DDL,
            "answer": "SELECT DATE_FORMAT(joined, '%Y') FROM members",
            "db_id": "1",
        },
    ]
    data = _write(tmp_path / "d.jsonl", rows)
    out = tmp_path / "f"
    result = CliRunner().invoke(
        app,
        [
            "filter",
            str(data),
            "--out",
            str(out),
            "--checks",
            "parse,execute",
            "--engine",
            "mariadb",
            "--db-url",
            url,
        ],
    )
    assert result.exit_code == 0, result.output
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()]
    assert [d["row"]["question"] for d in dropped] == ["b"]
    assert "Unknown column" in dropped[0]["detail"]  # MariaDB's own message: it ran there
    assert _engine("mariadb").leftovers() == []


def test_rows_a_server_refuses_are_counted_in_the_verdict():
    url = check_url("mariadb", server_url("mariadb"))
    from text2sql_cli.sql.goldmatch import ExTask, score_example

    ddl = "CREATE TABLE t (id INT PRIMARY KEY, n INT UNSIGNED NOT NULL);"
    gold = "SELECT id FROM t WHERE n = 0"  # seeds n = -1 too: SQLite keeps it, MariaDB refuses it
    verdict = score_example(ExTask("x", ddl, gold, gold, engine="mariadb", db_url=url))
    assert verdict["status"] == "correct" and verdict["rows_skipped"] > 0


def test_a_missing_server_fails_in_ci_and_skips_locally(monkeypatch):
    import _servers

    monkeypatch.setitem(_servers.URLS, "mariadb", None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="apt-get install mariadb-server"):
        _servers.server_url("mariadb")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"\.ci/services\.sh start"):
        _servers.server_url("mariadb")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--db-url", "mysql://u@h/"], "--db-url needs --engine mariadb or postgres"),
        (["--engine", "mariadb", "--db-url", "mysql://u@h/", "--db-dir", "."], "--db-dir holds SQLite files"),
    ],
)
def test_engine_flags_that_do_not_fit_together_are_refused(tmp_path, flags, message):
    preds = _write(tmp_path / "p.jsonl", [_row(1, "SELECT 1", "SELECT 1", MYSQL_DDL)])
    result = CliRunner().invoke(
        app, ["eval", str(preds), "--out", str(tmp_path / "o"), "--metric", "ex", *flags]
    )
    assert result.exit_code == 2 and message in result.output, result.output


def test_throwaway_runs_only_the_ddl_that_stays_inside_it():
    engine = _engine("mariadb")
    ddl = (
        MYSQL_DDL
        + " CREATE DATABASE t2s_test_escape; CREATE TABLE t2s_test_escape.x (a INT); DROP TABLE members;"
    )
    with engine.throwaway(ddl, []) as name:
        assert engine.execute("SELECT COUNT(*) FROM members", database=name).rows == ((0,),)
    with engine._connection() as raw:
        cur = raw.cursor()
        cur.execute("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 't2s_test_escape'")
        assert cur.fetchone()[0] == 0


def test_enum_columns_get_only_their_values_so_the_server_keeps_every_row():
    url = check_url("mariadb", server_url("mariadb"))
    from text2sql_cli.sql.goldmatch import ExTask, score_example

    ddl = "CREATE TABLE t (id INT PRIMARY KEY, status ENUM('open', 'closed') NOT NULL, note VARCHAR(2));"
    gold = "SELECT id FROM t WHERE status = 'closed'"
    verdict = score_example(ExTask("x", ddl, gold, gold, engine="mariadb", db_url=url))
    assert verdict["status"] == "correct" and verdict["rows_skipped"] == 0
    wrong = score_example(
        ExTask("x", ddl, gold, "SELECT id FROM t WHERE status = 'open'", engine="mariadb", db_url=url)
    )
    assert wrong["status"] == "wrong_result"
