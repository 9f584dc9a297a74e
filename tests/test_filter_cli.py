"""`t2s filter` end to end: reason codes on hand-made rows, outputs in the input's format, summary
counts, --checks selection and one-line errors with exit code 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app

pytestmark = pytest.mark.timeout(60)
runner = CliRunner()

DDL = (
    "CREATE TABLE players (player_id INT PRIMARY KEY AUTO_INCREMENT, username VARCHAR(50) NOT NULL, "
    "level INT NOT NULL, clan_id INT);"
)
DDL2 = "CREATE TABLE clans (clan_id INT PRIMARY KEY, name VARCHAR(50) NOT NULL);"


def row(i, question, answer, context=DDL, db_id=1, **extra):
    return {
        "id": f"r{i}",
        "db_id": db_id,
        "context": context,
        "question": question,
        "answer": answer,
        **extra,
    }


def bad_and_good_rows() -> list[dict]:
    """One row per rule reason code (ids say which), plus valid rows."""
    return [
        row(0, "레벨 50 이상 플레이어", "SELECT username FROM players WHERE level >= 50"),
        row(1, "답이 없는 질문", ""),
        row(2, "레벨 50 이상 플레이어", "SELECT username FROM players WHERE level > 49"),  # duplicate of r0
        row(3, "문법 오류", "SELEC username FROM players"),
        row(4, "없는 테이블", "SELECT name FROM guilds"),
        row(5, "없는 컬럼", "SELECT nickname FROM players"),
        row(6, "실행 오류", "SELECT FOO_BAR(username) FROM players"),
        row(
            7,
            "끝나지 않는 쿼리",
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n",
        ),
        row(8, "DDL 오류", "SELECT 1", context="not a DDL"),
        row(9, "빈 결과", "SELECT name FROM clans WHERE 1 = 0", context=DDL2, db_id=2),
        row(
            10,
            "클랜별 인원",
            "SELECT c.name AS 클랜, COUNT(*) AS 인원 FROM clans c GROUP BY c.name ORDER BY 인원 DESC",
            context=DDL2,
            db_id=2,
        ),
        row(
            11,
            "평균 이상",
            "WITH a AS (SELECT AVG(level) AS v FROM players) SELECT p.username FROM players p, a WHERE "
            "p.level > a.v",
        ),
    ]


EXPECTED = {
    "r1": "missing_field",
    "r2": "duplicate",
    "r3": "parse_error",
    "r4": "unknown_table",
    "r5": "unknown_column",
    "r6": "gold_error",
    "r7": "gold_timeout",
    "r8": "ddl_error",
    "r9": "empty_result",
}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def invoke(*args):
    return runner.invoke(app, ["filter", *map(str, args)])


def test_every_rule_reason_code_is_caught_and_valid_rows_kept(tmp_path):
    write_jsonl(tmp_path / "rows.jsonl", bad_and_good_rows())
    result = invoke("rows.jsonl", "--out", "out", "--checks", "all", "--timeout", "0.3")
    assert result.exit_code == 0, result.output
    dropped = {d["id"]: d for d in read_jsonl(tmp_path / "out/dropped.jsonl")}
    assert {k: d["reason"] for k, d in dropped.items()} == EXPECTED
    assert all(d["detail"] for d in dropped.values())
    assert dropped["r2"]["detail"].endswith("r0")
    assert [r["id"] for r in read_jsonl(tmp_path / "out/kept.jsonl")] == ["r0", "r10", "r11"]


def test_summary_counts_by_reason_and_db_id(tmp_path):
    write_jsonl(tmp_path / "rows.jsonl", bad_and_good_rows())
    invoke("rows.jsonl", "--out", "out", "--checks", "all", "--timeout", "0.3")
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert (summary["rows"], summary["kept"], summary["dropped"], summary["held"]) == (12, 3, 9, 0)
    assert summary["by_reason"] == {reason: 1 for reason in EXPECTED.values()}
    assert summary["by_db"]["2"] == {
        "rows": 2,
        "kept": 1,
        "dropped": 1,
        "held": 0,
        "by_reason": {"empty_result": 1},
    }
    assert summary["by_db"]["1"]["dropped"] == 8
    assert summary["checks"] == ["missing", "duplicate", "parse", "schema", "execute", "empty"]


def test_summary_table_is_printed(tmp_path):
    write_jsonl(tmp_path / "rows.jsonl", bad_and_good_rows())
    result = invoke("rows.jsonl", "--out", "out", "--timeout", "0.3")
    assert "unknown_column" in result.output and "db_id" in result.output and "all" in result.output


def test_checks_selects_which_rules_run(tmp_path):
    write_jsonl(tmp_path / "rows.jsonl", bad_and_good_rows())
    invoke("rows.jsonl", "--out", "out", "--checks", "missing,duplicate")
    reasons = {d["id"]: d["reason"] for d in read_jsonl(tmp_path / "out/dropped.jsonl")}
    assert reasons == {"r1": "missing_field", "r2": "duplicate"}


def test_csv_in_gives_csv_out_with_the_same_columns(tmp_path):
    rows = [
        {"db_id": "1", "context": DDL, "question": f"질문 {i}", "answer": sql, "note": f"n{i}"}
        for i, sql in enumerate(["SELECT username FROM players", "SELECT nickname FROM players"])
    ]
    with (tmp_path / "rows.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert invoke("rows.csv", "--out", "out").exit_code == 0
    with (tmp_path / "out/kept.csv").open(encoding="utf-8", newline="") as fh:
        kept = list(csv.DictReader(fh))
    assert kept == rows[:1]
    assert not (tmp_path / "out/kept.jsonl").exists()


def test_jsonl_kept_rows_are_the_input_rows_unchanged(tmp_path):
    rows = [row(0, "q", "SELECT username FROM players", extra_field={"a": 1})]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    invoke("rows.jsonl", "--out", "out")
    assert read_jsonl(tmp_path / "out/kept.jsonl") == rows


def test_json_array_in_gives_json_out(tmp_path):
    rows = [row(0, "q", "SELECT username FROM players"), row(1, "q2", "SELECT x FROM nope")]
    (tmp_path / "rows.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    invoke("rows.json", "--out", "out")
    assert json.loads((tmp_path / "out/kept.json").read_text(encoding="utf-8")) == rows[:1]


def test_kept_file_trains_like_the_input(tmp_path):
    from text2sql_cli.data import load_examples

    write_jsonl(tmp_path / "rows.jsonl", bad_and_good_rows())
    invoke("rows.jsonl", "--out", "out", "--timeout", "0.3")
    examples, _ = load_examples(tmp_path / "out/kept.jsonl")
    assert [e.id for e in examples] == ["r0", "r9", "r10", "r11"]


def test_column_mapping_reads_other_schemas(tmp_path):
    rows = [{"db_id": 1, "context": DDL, "question": "q", "query": "SELECT username FROM players"}]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    result = invoke("rows.jsonl", "--out", "out", "--columns", "answer=query")
    assert result.exit_code == 0, result.output
    assert read_jsonl(tmp_path / "out/kept.jsonl") == rows


def test_workers_give_the_same_result_as_one_process(tmp_path):
    rows = [
        row(
            i,
            f"질문 {i}",
            f"SELECT username FROM players WHERE level > {i}" if i % 3 else "SELECT nope FROM players",
        )
        for i in range(60)
    ]
    write_jsonl(tmp_path / "rows.jsonl", rows)
    invoke("rows.jsonl", "--out", "one", "--workers", "1")
    invoke("rows.jsonl", "--out", "two", "--workers", "2")
    assert read_jsonl(tmp_path / "one/dropped.jsonl") == read_jsonl(tmp_path / "two/dropped.jsonl")
    assert len(read_jsonl(tmp_path / "two/dropped.jsonl")) == 20


def _one_line_error(result, *needles):
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert all(n in lines[0] for n in needles), lines[0]


def test_missing_file_is_exit_2(tmp_path):
    _one_line_error(invoke("nope.jsonl", "--out", "out"), "nope.jsonl")
    assert not (tmp_path / "out").exists()


def test_malformed_jsonl_names_the_line(tmp_path):
    (tmp_path / "rows.jsonl").write_text(json.dumps(row(0, "q", "SELECT 1")) + "\nnot json\n")
    _one_line_error(invoke("rows.jsonl", "--out", "out"), "rows.jsonl:2")


def test_unknown_check_is_exit_2(tmp_path):
    write_jsonl(tmp_path / "rows.jsonl", [row(0, "q", "SELECT 1")])
    _one_line_error(invoke("rows.jsonl", "--out", "out", "--checks", "parse,spelling"), "spelling")


def test_missing_column_is_exit_2(tmp_path):
    write_jsonl(tmp_path / "rows.jsonl", [{"db_id": 1, "context": DDL, "question": "q", "query": "SELECT 1"}])
    _one_line_error(invoke("rows.jsonl", "--out", "out"), "answer", "--columns")


def test_llm_options_without_judge_are_exit_2(tmp_path):
    write_jsonl(tmp_path / "rows.jsonl", [row(0, "q", "SELECT 1")])
    _one_line_error(invoke("rows.jsonl", "--out", "out", "--dry-run"), "--dry-run", "--judge")


def test_help_describes_the_command():
    result = runner.invoke(app, ["filter", "--help"])
    assert result.exit_code == 0 and "--checks" in result.output and "--judge" in result.output


def test_out_that_is_a_file_is_exit_2(tmp_path):
    write_jsonl(tmp_path / "rows.jsonl", [row(0, "q", "SELECT 1")])
    (tmp_path / "out").write_text("")
    _one_line_error(invoke("rows.jsonl", "--out", "out"), "--out")


def test_importing_the_package_loads_no_sql_engine_or_client():
    import subprocess
    import sys

    code = (
        "import sys, text2sql_cli.filtering\n"
        "print([m for m in ('sqlglot', 'openai', 'torch') if m in sys.modules])"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "[]"
    )


def test_unknown_check_lists_the_valid_ones(tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    sample = Path(__file__).resolve().parents[1] / "examples" / "sample.jsonl"
    result = CliRunner().invoke(
        app, ["filter", str(sample), "--out", str(tmp_path / "f"), "--checks", "bogus"]
    )
    assert result.exit_code == 2 and "unknown check(s) bogus" in result.output
    assert "choose from missing, duplicate" in result.output
