"""Spider import: json + databases -> rows whose context is the CREATE TABLE text."""

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from text2sql_cli.errors import InputError
from text2sql_cli.spider import import_spider


@pytest.fixture
def spider(tmp_path):
    root = tmp_path / "spider"
    (root / "database" / "pets").mkdir(parents=True)
    conn = sqlite3.connect(root / "database" / "pets" / "pets.sqlite")
    conn.executescript(
        'CREATE TABLE "Pets" (PetID INTEGER PRIMARY KEY, PetType VARCHAR(20)); INSERT INTO Pets VALUES (1, '
        '"cat");'
    )
    conn.close()
    items = [{"db_id": "pets", "question": "How many pets? ", "query": "SELECT count(*) FROM pets"}]
    (root / "dev.json").write_text(json.dumps(items), encoding="utf-8")
    return root


def test_rows_have_the_t2s_columns(spider):
    assert set(import_spider(spider)[0]) == {"id", "db_id", "context", "question", "answer"}


def test_context_is_the_create_table_text(spider):
    assert import_spider(spider)[0]["context"].startswith('CREATE TABLE "Pets"')


def test_query_becomes_answer(spider):
    assert import_spider(spider)[0]["answer"] == "SELECT count(*) FROM pets"


def test_missing_database_is_input_error(spider):
    (spider / "dev.json").write_text(json.dumps([{"db_id": "nope", "question": "q", "query": "SELECT 1"}]))
    with pytest.raises(InputError, match="1 databases missing"):
        import_spider(spider)


def _cli(*args):
    from text2sql_cli.cli import app  # the real app: its error handler turns UsageError into exit 2

    return CliRunner().invoke(app, ["data", "import-spider", *map(str, args)])


def test_cli_command_writes_split_jsonl_in_the_out_directory(spider, tmp_path):
    result = _cli(spider, "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "s" / "dev.jsonl").read_text().splitlines()) == 1


def test_out_that_names_a_file_is_refused(spider, tmp_path):
    result = _cli(spider, "--out", tmp_path / "s.jsonl")
    assert result.exit_code == 2 and "is a directory" in result.output and not (tmp_path / "s.jsonl").exists()
    (tmp_path / "f").write_text("x")
    assert _cli(spider, "--out", tmp_path / "f").exit_code == 2


def test_skip_missing_leaves_out_absent_databases_and_says_so(spider, tmp_path):
    items = json.loads((spider / "dev.json").read_text())
    items += [{"db_id": "wta_1", "question": "q", "query": "SELECT 1"}] * 2
    (spider / "dev.json").write_text(json.dumps(items))
    refused = _cli(spider, "--out", tmp_path / "s")
    assert refused.exit_code == 2 and "--skip-missing" in refused.output
    result = _cli(spider, "--out", tmp_path / "s", "--skip-missing")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "s" / "dev.jsonl").read_text().splitlines()]
    assert [r["db_id"] for r in rows] == ["pets"]
    assert "left out 2 rows of 1 databases" in " ".join(result.output.split()) and "wta_1" in result.output
