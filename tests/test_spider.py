"""Spider import: json + databases -> rows whose context is the CREATE TABLE text."""

import json
import sqlite3

import pytest
import typer
from typer.testing import CliRunner

from text2sql_cli.cli.spider import register
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


def test_cli_command_writes_jsonl(spider, tmp_path):
    data_app = typer.Typer()
    register(data_app)
    data_app.command("noop")(lambda: None)  # a group with two commands keeps the command name
    result = CliRunner().invoke(data_app, ["import-spider", str(spider), "--out", str(tmp_path / "s.jsonl")])
    assert result.exit_code == 0 and len((tmp_path / "s.jsonl").read_text().splitlines()) == 1
