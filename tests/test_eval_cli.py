"""`t2s eval` through the CLI: help, happy path, bad input."""

import json

import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app

DDL = "CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(20) NOT NULL, level INT NOT NULL);"


def _write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _pred(i, gold, sql=None, raw=None, db_id="1", **extra):
    row = {
        "id": str(i),
        "db_id": db_id,
        "question": "q",
        "context": DDL,
        "gold": gold,
        "raw": raw or sql or "",
    }
    if sql is not None or raw is None:
        row["sql"] = sql
    row.update(extra)
    return row


@pytest.fixture
def preds(tmp_path):
    return _write(
        tmp_path / "preds.jsonl",
        [
            _pred(1, "SELECT name FROM t WHERE level >= 5", "SELECT name FROM t WHERE level >= 5"),
            _pred(2, "SELECT name FROM t WHERE level >= 5", "SELECT name FROM t WHERE level > 5"),
            _pred(3, "SELECT COUNT(*) FROM t", None),
            _pred(4, "SELECT nope FROM t", "SELECT 1", db_id="2"),
            _pred(5, "SELECT id FROM t", raw="SELECT id FROM t\n### SQL 봇:\nSELECT 2"),
        ],
    )


def test_eval_help_lists_the_issue_options():
    result = CliRunner().invoke(app, ["eval", "--help"])
    assert result.exit_code == 0 and all(
        o in result.output for o in ("--mode", "--db-dir", "--dialect", "--k", "--float-tol")
    )


def test_eval_writes_results_and_summary(preds, tmp_path):
    result = CliRunner().invoke(
        app, ["eval", str(preds), "--metric", "ex,em", "--out", str(tmp_path / "ev"), "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ev" / "results.jsonl").exists() and (tmp_path / "ev" / "summary.json").exists()


def test_eval_statuses_per_example(preds, tmp_path):
    CliRunner().invoke(app, ["eval", str(preds), "--out", str(tmp_path / "ev")])
    rows = [json.loads(line) for line in (tmp_path / "ev" / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in rows] == [
        "correct",
        "wrong_result",
        "extraction_failed",
        "gold_error",
        "correct",
    ]


def test_gold_error_is_excluded_from_the_denominator(preds, tmp_path):
    CliRunner().invoke(app, ["eval", str(preds), "--out", str(tmp_path / "ev")])
    ex = json.loads((tmp_path / "ev" / "summary.json").read_text())["metrics"]["ex"]
    assert (ex["correct"], ex["scored"], ex["excluded"]) == (2, 4, 1)


def test_summary_names_mode_seed_and_gold_error_reasons(preds, tmp_path):
    CliRunner().invoke(
        app, ["eval", str(preds), "--out", str(tmp_path / "ev"), "--mode", "bird", "--seed", "3"]
    )
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert (summary["settings"]["mode"], summary["settings"]["seed"]) == ("bird", 3)
    assert summary["execution"]["gold_errors"] == {"missing_column": 1}


def test_summary_has_per_db_scores(preds, tmp_path):
    CliRunner().invoke(app, ["eval", str(preds), "--out", str(tmp_path / "ev")])
    assert set(json.loads((tmp_path / "ev" / "summary.json").read_text())["per_db"]) == {"1", "2"}


def test_report_says_when_results_compare_empty_tables(tmp_path):
    preds = _write(
        tmp_path / "p.jsonl", [_pred(1, "SELECT name FROM t WHERE 1 = 0", "SELECT name FROM t WHERE 0")]
    )
    result = CliRunner().invoke(app, ["eval", str(preds), "--out", str(tmp_path / "ev")])
    assert "empty tables" in result.output


def test_missing_file_is_exit_2_with_one_line(tmp_path):
    result = CliRunner().invoke(app, ["eval", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "ev")])
    assert result.exit_code == 2 and "no such file" in result.output and not (tmp_path / "ev").exists()


def test_bad_json_line_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(_pred(1, "SELECT 1", "SELECT 1")) + "\n{oops\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", str(bad), "--out", str(tmp_path / "ev")])
    assert result.exit_code == 2 and f"{bad}:2" in result.output and "Traceback" not in result.output


def test_unknown_metric_is_exit_2(preds, tmp_path):
    result = CliRunner().invoke(app, ["eval", str(preds), "--metric", "bleu", "--out", str(tmp_path / "ev")])
    assert result.exit_code == 2 and "unknown metric bleu" in result.output


def test_unknown_mode_is_exit_2(preds, tmp_path):
    result = CliRunner().invoke(app, ["eval", str(preds), "--mode", "fuzzy", "--out", str(tmp_path / "ev")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


def test_real_databases_in_spider_layout(tmp_path):
    import sqlite3

    (tmp_path / "dbs" / "shop").mkdir(parents=True)
    conn = sqlite3.connect(tmp_path / "dbs" / "shop" / "shop.sqlite")
    conn.executescript("CREATE TABLE p (a INT); INSERT INTO p VALUES (1), (2), (3);")
    conn.close()
    preds = _write(
        tmp_path / "p.jsonl",
        [_pred(1, "SELECT a FROM p WHERE a > 1", "SELECT a FROM p WHERE a >= 2", db_id="shop")],
    )
    result = CliRunner().invoke(
        app, ["eval", str(preds), "--db-dir", str(tmp_path / "dbs"), "--out", str(tmp_path / "ev")]
    )
    row = json.loads((tmp_path / "ev" / "results.jsonl").read_text())
    assert result.exit_code == 0 and (row["status"], row["databases"]) == ("correct", 1)
