"""EX end to end per mode and dialect: defaults, SQLite read as SQLite, dialect detection from the
DDL, division semantics, identifiers, gold errors naming their database, bounded column search."""

from __future__ import annotations

import sqlite3

import pytest

from text2sql_cli.evaluation.execution import ExecutionSettings
from text2sql_cli.sql import compare
from text2sql_cli.sql.dialect import detect_dialect, to_sqlite
from text2sql_cli.sql.goldmatch import ExTask, score_example


@pytest.fixture
def tv_dir(tmp_path):
    db = tmp_path / "tv" / "tv.sqlite"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.executescript(
        'CREATE TABLE "TV_Channel" (id INT, series_name TEXT, "Content" TEXT, a INT, b INT);'
        "INSERT INTO TV_Channel VALUES (1, 'Sky Radio', 'music', 7, 2), (2, 'Sky Music', 'news', 9, 4),"
        " (3, 'Sky Jazz', 'music', 8, 2);"
    )
    conn.commit()
    conn.close()
    return tmp_path


def _real(root, gold, pred, **kw):
    return score_example(ExTask("tv", None, gold, pred, db_dir=str(root), **{"mode": "spider", **kw}))


def test_defaults_follow_the_databases():
    synth = ExecutionSettings()
    assert (synth.mode, synth.float_tol, synth.timeout) == ("strict", 1e-6, 5.0)
    real = ExecutionSettings(db_dir=".")
    assert (real.mode, real.float_tol) == ("spider", 0.0)
    assert ExecutionSettings(mode="bird").timeout == 30.0
    assert ExecutionSettings(mode="bird", timeout=3).timeout == 3


def test_double_quoted_names_run_as_sqlite_reads_them(tv_dir):
    gold = "SELECT Content FROM TV_Channel WHERE series_name = 'Sky Radio'"
    pred = 'SELECT "Content" FROM "TV_Channel" WHERE "series_name" = "Sky Radio"'
    row = _real(tv_dir, gold, pred)
    assert row["status"] == "correct"
    assert row["dialect"] == "sqlite" and "real SQLite" in row["dialect_reason"]


def test_brackets_concatenation_and_integer_division_keep_sqlite_meaning(tv_dir):
    assert _real(tv_dir, "SELECT Content FROM TV_Channel", "SELECT [Content] FROM [TV_Channel]")["ex"]
    assert _real(
        tv_dir, "SELECT series_name || '!' FROM TV_Channel", "SELECT series_name || '!' FROM TV_Channel"
    )["ex"]
    assert _real(tv_dir, "SELECT 3, 1", "SELECT a / b, b / 2 FROM TV_Channel WHERE id = 1")["ex"]


@pytest.mark.parametrize(
    ("ddl", "dialect", "marker"),
    [
        ("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT)", "mysql", "AUTO_INCREMENT"),
        ("CREATE TABLE `t` (id INT)", "mysql", "`"),
        ("CREATE TABLE t (id INT) ENGINE=InnoDB", "mysql", "ENGINE="),
        ("CREATE TABLE t (id SERIAL PRIMARY KEY)", "postgres", "SERIAL"),
        ("CREATE TABLE t (d TEXT DEFAULT 'x'::text)", "postgres", "::"),
        ("CREATE TABLE t (id INTEGER PRIMARY KEY)", "sqlite", "no MySQL or PostgreSQL marker"),
    ],
)
def test_auto_dialect_reads_the_ddl(ddl, dialect, marker):
    found, why = detect_dialect(ddl)
    assert found == dialect and marker in why


def test_report_row_names_the_dialect_of_ddl_only_data():
    ddl = "CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, price INT);"
    row = score_example(ExTask("x", ddl, "SELECT COUNT(*) FROM items", "SELECT COUNT(id) FROM items"))
    assert (row["dialect"], row["dialect_reason"]) == ("mysql", "the DDL has AUTO_INCREMENT")
    assert row["status"] == "correct"


def _run(sql: str, dialect: str) -> list[tuple]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INT, b INT)")
    conn.execute("INSERT INTO t VALUES (7, 2), (-7, 2)")
    return conn.execute(to_sqlite(sql, dialect).sql).fetchall()


def test_mysql_division_is_exact_and_div_is_integer():
    assert _run("SELECT a / b, a DIV b FROM t", "mysql") == [(3.5, 3), (-3.5, -3)]


def test_postgres_integer_division_stays_integer():
    assert _run("SELECT a / b FROM t", "postgres") == [(3,), (-3,)]


def test_mysql_double_quotes_name_a_column_when_the_schema_has_it():
    names = frozenset({"content", "tv_channel", "series_name"})
    sql = to_sqlite('SELECT "Content" FROM t WHERE "series_name" = "Sky Radio"', "mysql", names).sql
    assert sql == 'SELECT "Content" FROM t WHERE "series_name" = \'Sky Radio\''


def test_brackets_are_identifiers_in_every_dialect():
    assert to_sqlite("SELECT [my col] FROM t", "mysql").sql == 'SELECT "my col" FROM t'
    assert to_sqlite("SELECT [my col] FROM t", "postgres").sql == 'SELECT "my col" FROM t'


def test_quoted_string_content_is_never_rewritten():
    assert to_sqlite("SELECT 'say \"hi\" [x]' FROM t", "mysql", frozenset({"hi"})).sql == (
        "SELECT 'say \"hi\" [x]' FROM t"
    )


def test_gold_error_names_the_database_file(tv_dir):
    row = _real(tv_dir, "SELECT nope FROM TV_Channel", "SELECT 1")
    assert row["status"] == "gold_error" and str(tv_dir / "tv" / "tv.sqlite") in row["reason"]


def test_gold_error_on_synthesized_data_names_the_instance():
    row = score_example(ExTask("x", "CREATE TABLE t (a INT);", "SELECT nope FROM t", "SELECT a FROM t"))
    assert row["status"] == "gold_error" and "synthesized database 1 of 5" in row["reason"]


def test_column_search_that_gives_up_is_excluded_with_its_reason(tv_dir, monkeypatch):
    monkeypatch.setattr(compare, "MAX_STEPS", 0)
    row = _real(tv_dir, "SELECT id, a FROM TV_Channel", "SELECT a, id FROM TV_Channel", mode="strict")
    assert row["status"] == "compare_gave_up" and row["ex"] is None and "gave up" in row["reason"]


def _cli_eval(tmp_path, root, rows, *flags):
    import json

    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    tmp_path.mkdir()
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "ev"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(preds),
            "--metric",
            "ex",
            "--db-dir",
            str(root),
            "--workers",
            "1",
            "--out",
            str(out),
            *flags,
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text()), result.output


def test_cli_names_mode_and_dialect_and_keep_distinct_keeps_it(tmp_path, tv_dir):
    row = {
        "id": "1",
        "db_id": "tv",
        "question": "q",
        "context": None,
        "raw": "",
        "gold": "SELECT DISTINCT Content FROM TV_Channel",
        "sql": "SELECT Content FROM TV_Channel",
    }
    spider, output = _cli_eval(tmp_path / "a", tv_dir, [row])
    assert spider["settings"]["mode"] == "spider" and "mode spider" in output
    assert "sqlite (real SQLite databases" in output
    assert spider["metrics"]["ex"]["correct"] == 1  # the official evaluator drops DISTINCT
    kept, _ = _cli_eval(tmp_path / "b", tv_dir, [row], "--keep-distinct")
    assert kept["settings"]["keep_distinct"] is True and kept["metrics"]["ex"]["correct"] == 0
    strict, output = _cli_eval(tmp_path / "c", tv_dir, [row], "--mode", "strict")
    assert strict["metrics"]["ex"]["correct"] == 0 and "mode strict" in output


def test_mysql_reading_of_real_databases_takes_names_from_the_files(tv_dir):
    gold = "SELECT Content FROM TV_Channel WHERE series_name = 'Sky Radio'"
    pred = 'SELECT "Content" FROM TV_Channel WHERE "series_name" = "Sky Radio"'
    row = _real(tv_dir, gold, pred, dialect="mysql")
    assert row["status"] == "correct" and row["dialect"] == "mysql"


@pytest.mark.parametrize("mode", ["spider", "bird", "sqleval"])
def test_official_modes_run_plain_sqlite_on_real_databases(tv_dir, mode):
    # the official scripts run sqlite3 as it is: no YEAR, CONCAT, IF or REGEXP
    for pred in (
        "SELECT CONCAT(series_name, '') FROM TV_Channel",
        "SELECT series_name FROM TV_Channel WHERE IF(1, 1, 0)",
    ):
        row = _real(tv_dir, "SELECT series_name FROM TV_Channel", pred, mode=mode)
        assert row["status"] == "pred_error" and "no such function" in row["reason"]


def test_strict_mode_keeps_the_mysql_functions_on_real_databases(tv_dir):
    pred = "SELECT CONCAT(series_name, '') FROM TV_Channel"
    assert _real(tv_dir, "SELECT series_name FROM TV_Channel", pred, mode="strict")["status"] == "correct"


def test_eval_help_says_where_t2s_differs_from_the_official_evaluators():
    import re

    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    output = CliRunner().invoke(app, ["eval", "--help"]).output
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())  # rich's boxes and wrapping removed
    for phrase in (
        "strict (default on synthesized",
        "--keep-distinct",
        "official Spider evaluator: 60",
        "no such cap",
        "|a - b| <= this",
        "the report says which and why",
    ):
        assert phrase in text, phrase
