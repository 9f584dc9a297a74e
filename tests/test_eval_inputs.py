"""`t2s eval` on inputs it must not score silently: rows t2s infer failed on, an unfinished
predictions file, an --out that is a file, files without gold or DDL, --db-dir without the databases."""

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app

pytestmark = pytest.mark.timeout(60)

DDL = "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, level INT NOT NULL);"
GOLD = "SELECT name FROM t WHERE level >= 5"


def _write(path, rows, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail, encoding="utf-8")
    return path


def _ok_row(i, **extra):
    row = {
        "id": str(i),
        "db_id": "1",
        "question": "q",
        "context": DDL,
        "gold": GOLD,
        "raw": GOLD,
        "sql": GOLD,
        "extraction": "raw",
    }
    row.update(extra)
    return row


def _failed_row(i):
    return {
        "id": str(i),
        "db_id": "1",
        "question": "q",
        "context": DDL,
        "gold": GOLD,
        "raw": None,
        "sql": None,
        "extraction": "error",
        "error": "ApiError: 500 after 5 attempts",
    }


def _eval(*args):
    return CliRunner().invoke(app, ["eval", *map(str, args)])


def _one_line_exit_2(result):
    return (
        result.exit_code == 2
        and "Traceback" not in result.output
        and len(result.output.strip().splitlines()) == 1
    )


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def _results(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def _sidecar(preds, status, rows):
    (preds.parent / (preds.name + ".meta.json")).write_text(
        json.dumps({"status": status, "counts": {"rows": rows}})
    )


# 1. rows t2s infer could not generate


def test_generation_error_rows_are_left_out_of_ex_and_em(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_ok_row(1), _failed_row(2)])
    result = _eval(preds, "--out", tmp_path / "ev")
    summary = _summary(tmp_path / "ev")
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in _results(tmp_path / "ev")] == ["correct", "generation_error"]
    for m in ("ex", "em"):
        assert (summary["metrics"][m]["score"], summary["metrics"][m]["scored"]) == (1.0, 1)


def test_generation_errors_are_counted_in_summary_and_terminal(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_ok_row(1), _failed_row(2), _failed_row(3)])
    result = _eval(preds, "--out", tmp_path / "ev")
    assert _summary(tmp_path / "ev")["no_generation"]["count"] == 2
    assert "2 predictions have no generation" in " ".join(result.output.split())


def test_judge_is_not_asked_about_generation_errors(fake_openai, tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_ok_row(1), _failed_row(2)])
    result = _eval(
        preds,
        "--out",
        tmp_path / "ev",
        "--judge",
        "gpt-4",
        "--judge-base-url",
        fake_openai.url,
        "--rpm",
        "60000",
    )
    judge = _summary(tmp_path / "ev")["judge"]
    assert result.exit_code == 0, result.output
    assert fake_openai.count() == 1 and (judge["judged"], judge["no_generation"], judge["no"]) == (1, 1, 0)


# 2. an unfinished t2s infer file


def test_unfinished_infer_file_is_refused_with_how_much_it_has(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_ok_row(1), _ok_row(2)])
    _sidecar(preds, "running", 10)
    result = _eval(preds, "--out", tmp_path / "ev")
    assert _one_line_exit_2(result) and "2 of 10" in result.output and "--partial" in result.output
    assert not (tmp_path / "ev").exists()


def test_partial_scores_an_unfinished_file_and_says_so(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_ok_row(1), _ok_row(2)], tail='{"id": "3", "db_')  # torn append
    _sidecar(preds, "running", 10)
    result = _eval(preds, "--out", tmp_path / "ev", "--partial")
    assert result.exit_code == 0, result.output
    assert _summary(tmp_path / "ev")["partial"]["rows"] == 2 and "2 of 10" in result.output


def test_complete_sidecar_is_scored_without_partial(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_ok_row(1)])
    _sidecar(preds, "complete", 1)
    assert _eval(preds, "--out", tmp_path / "ev").exit_code == 0


def test_finished_file_with_failed_rows_is_scored_with_a_warning(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_ok_row(1), _failed_row(2)])
    _sidecar(preds, "incomplete", 2)  # t2s infer finished; one row kept failing
    result = _eval(preds, "--out", tmp_path / "ev")
    assert result.exit_code == 0 and "1 prediction has no generation" in " ".join(result.output.split())


# 3. --out that is a file


def test_out_that_is_a_file_is_exit_2_before_any_work(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_ok_row(1)])
    (tmp_path / "some.txt").write_text("keep me")
    result = _eval(preds, "--out", tmp_path / "some.txt")
    assert _one_line_exit_2(result) and "some.txt" in result.output
    assert (tmp_path / "some.txt").read_text() == "keep me"


# 4. columns the metrics need


def test_file_without_gold_is_exit_2_naming_the_column(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [{k: v for k, v in _ok_row(1).items() if k != "gold"}])
    result = _eval(preds, "--out", tmp_path / "ev")
    assert _one_line_exit_2(result) and "'gold'" in result.output and "preds.jsonl" in result.output


def test_file_without_context_is_exit_2_naming_the_column(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [{k: v for k, v in _ok_row(1).items() if k != "context"}])
    result = _eval(preds, "--out", tmp_path / "ev")
    assert _one_line_exit_2(result) and "'context'" in result.output and "--db-dir" in result.output


def test_em_alone_needs_no_context(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [{k: v for k, v in _ok_row(1).items() if k != "context"}])
    assert _eval(preds, "--out", tmp_path / "ev", "--metric", "em").exit_code == 0


def test_some_rows_without_gold_stay_no_gold_and_are_reported(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_ok_row(1), _ok_row(2, gold=None)])
    result = _eval(preds, "--out", tmp_path / "ev")
    assert result.exit_code == 0 and _summary(tmp_path / "ev")["no_gold"] == 1
    assert "1 examples have no gold SQL" in result.output


# 5. --db-dir


def test_db_dir_without_the_databases_is_exit_2_naming_the_first(tmp_path):
    (tmp_path / "dbs" / "shop").mkdir(parents=True)
    sqlite3.connect(tmp_path / "dbs" / "shop" / "shop.sqlite").close()
    rows = [_ok_row(1, db_id="shop"), _ok_row(2, db_id="bank"), _ok_row(3, db_id="zoo")]
    preds = _write(tmp_path / "preds.jsonl", rows)
    result = _eval(preds, "--db-dir", tmp_path / "dbs", "--out", tmp_path / "ev")
    assert _one_line_exit_2(result) and "2 of 3 db_ids" in result.output
    assert "bank.sqlite" in " ".join(result.output.split()) and not (tmp_path / "ev").exists()


def test_db_dir_that_is_a_file_is_exit_2(tmp_path):
    preds = _write(tmp_path / "preds.jsonl", [_ok_row(1)])
    (tmp_path / "db.sqlite").write_text("")
    result = _eval(preds, "--db-dir", tmp_path / "db.sqlite", "--out", tmp_path / "ev")
    assert _one_line_exit_2(result) and "not a directory" in result.output
