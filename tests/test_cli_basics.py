import json
import subprocess
import sys

from typer.testing import CliRunner

from text2sql_cli.cli import app

runner = CliRunner()
HEAVY = ("torch", "transformers", "datasets", "peft", "trl", "accelerate", "openai", "sqlglot")


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("data", "model", "train", "infer", "eval", "filter"):
        assert command in result.output


def test_help_imports_no_heavy_library():
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom text2sql_cli.cli import app\n"
        "for args in (['--help'], ['data', '--help'], ['train', '--help'], ['infer', '--help'], "
        "['eval', '--help'], ['filter', '--help'], ['model', 'tiny', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_root_help_imports_no_settings_library():
    """`t2s --help` starts fast: the choices come from text2sql_cli.choices (no pydantic) and the
    settings classes load only when a command runs or its help shows their defaults; typer's own
    rich renderer (which imports markdown-it) is not used."""
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom text2sql_cli.cli import app\n"
        "assert CliRunner().invoke(app, ['--help']).exit_code == 0\n"
        "print([m for m in ('pydantic', 'pydantic_settings', 'text2sql_cli.config', 'typer.rich_utils', "
        "'markdown_it') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _write_rows(path, dbs):
    rows = [
        {
            "db_id": db,
            "context": "CREATE TABLE t (a INT);",
            "question": f"질문 {i}",
            "answer": "SELECT a FROM t;",
        }
        for i, db in enumerate(dbs)
    ]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_data_split_writes_train_and_test(tmp_path):
    _write_rows(tmp_path / "rows.jsonl", [1, 2, 2, 3, 1])
    result = runner.invoke(app, ["data", "split", "rows.jsonl", "--test-db", "1", "--out", "split"])
    assert result.exit_code == 0, result.output
    test = [json.loads(line) for line in (tmp_path / "split/test.jsonl").read_text().splitlines()]
    train = (tmp_path / "split/train.jsonl").read_text().splitlines()
    assert [r["id"] for r in test] == ["0", "4"] and len(train) == 3


def test_bad_input_exits_2_with_one_line_naming_file_and_line(tmp_path):
    (tmp_path / "rows.jsonl").write_text(
        '{"db_id": 1, "context": "c", "question": "q", "answer": "a"}\nnot json\n'
    )
    result = runner.invoke(app, ["data", "split", "rows.jsonl", "--test-db", "1", "--out", "split"])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "rows.jsonl:2" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "split").exists()


def test_split_needs_exactly_one_holdout_rule(tmp_path):
    _write_rows(tmp_path / "rows.jsonl", [1, 2])
    result = runner.invoke(app, ["data", "split", "rows.jsonl", "--out", "split"])
    assert result.exit_code == 2 and "--test-db" in result.output


def test_split_out_that_is_a_file_is_exit_2(tmp_path):
    _write_rows(tmp_path / "rows.jsonl", [1, 2])
    (tmp_path / "taken").write_text("x")
    result = runner.invoke(app, ["data", "split", "rows.jsonl", "--test-db", "1", "--out", "taken"])
    assert result.exit_code == 2 and "is a file" in result.output and (tmp_path / "taken").read_text() == "x"


def test_written_results_are_readable_by_others(tmp_path):
    import os
    import stat

    from text2sql_cli.io import write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "summary.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "summary.json").stat().st_mode) == 0o644
