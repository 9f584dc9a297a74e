"""Inputs that are not UTF-8, not text where text belongs, or unreadable: one line, exit 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app

ROW = {
    "id": "1",
    "db_id": "d",
    "question": "학생 수는?",
    "context": "CREATE TABLE t (a INT);",
    "gold": "SELECT a FROM t",
    "sql": "SELECT a FROM t",
}


def _eval(path: Path, tmp_path: Path):
    return CliRunner().invoke(app, ["eval", str(path), "--out", str(tmp_path / "out"), "--metric", "ex,em"])


def _one_line_exit_2(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(
    "encoding,named,iconv", [("utf-16", "UTF-16", "-f UTF-16"), ("cp949", "CP949", "-f CP949")]
)
def test_predictions_in_another_encoding_name_it_and_how_to_convert(tmp_path, encoding, named, iconv):
    path = tmp_path / "p.jsonl"
    path.write_bytes((json.dumps(ROW, ensure_ascii=False) + "\n").encode(encoding))
    line = _one_line_exit_2(_eval(path, tmp_path))
    assert "p.jsonl" in line and named in line and f"iconv {iconv} -t UTF-8" in line


def test_predictions_with_a_utf8_bom_are_read(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes((json.dumps(ROW, ensure_ascii=False) + "\n").encode("utf-8-sig"))
    assert _eval(path, tmp_path).exit_code == 0


def test_excel_csv_with_a_bom_keeps_its_first_header(tmp_path):
    from text2sql_cli.data import load_examples

    path = tmp_path / "excel.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["db_id", "question", "context", "answer"])
        writer.writerow(["d", "질문", "CREATE TABLE t (a INT);", "SELECT a FROM t"])
    examples, _ = load_examples(path)
    assert examples[0].db_id == "d"


def test_cp949_csv_for_filter_is_one_line_exit_2(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(
        "db_id,question,context,answer\nd,질문,CREATE TABLE t (a INT);,SELECT a FROM t\n".encode("cp949")
    )
    line = _one_line_exit_2(CliRunner().invoke(app, ["filter", str(path), "--out", str(tmp_path / "o")]))
    assert "data.csv" in line and "CP949" in line


@pytest.mark.parametrize(
    "field,value,shown",
    [("gold", float("nan"), "gold is NaN"), ("sql", 5, "sql is int"), ("context", ["x"], "context is list")],
)
def test_prediction_field_that_is_not_text_is_one_line_exit_2(tmp_path, field, value, shown):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({**ROW, field: value}) + "\n")
    line = _one_line_exit_2(_eval(path, tmp_path))
    assert "p.jsonl:1" in line and shown in line


def test_data_row_whose_answer_is_a_number_is_one_line_exit_2(tmp_path):
    from text2sql_cli.data import load_examples
    from text2sql_cli.errors import InputError

    path = tmp_path / "d.jsonl"
    path.write_text(
        json.dumps({"db_id": "d", "question": "q", "context": "CREATE TABLE t (a INT);", "answer": 3}) + "\n"
    )
    with pytest.raises(InputError, match=r"d.jsonl:1: answer is int 3: it must be text"):
        load_examples(path)


def test_unreadable_input_is_one_line_exit_2(tmp_path, monkeypatch):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(ROW) + "\n")
    real = Path.read_bytes

    def denied(self):
        if self.name == "p.jsonl":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)  # chmod 000 does not stop root, who runs CI
    line = _one_line_exit_2(_eval(path, tmp_path))
    assert "p.jsonl: cannot be read (permission denied)" in line
