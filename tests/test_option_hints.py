"""Issue 18 item 10: an error hint names options the failing command has. --columns and
--drop-na exist on the commands that read data files (train, infer, eval, filter, data split)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app

DDL = "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20));"


def _help(command: str) -> str:
    result = CliRunner().invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    return result.output


@pytest.mark.parametrize("command", ["train", "infer", "eval", "filter"])
def test_columns_exists_where_data_is_read(command):
    assert "--columns" in _help(command)


@pytest.mark.parametrize("command", ["train", "infer"])
def test_drop_na_exists_where_its_hint_is_given(command):
    assert "--drop-na" in _help(command)


@pytest.mark.slow  # loads the tiny model's tokenizer
def test_train_hints_then_takes_columns_and_drop_na(tmp_path, monkeypatch):
    from _tiny import shared_tiny

    from text2sql_cli.training import run as training_run

    def stop(*a, **kw):
        raise RuntimeError("reached the model")

    monkeypatch.setattr(training_run, "load_model", stop)
    rows = [
        {"db_id": "1", "context": DDL, "question": "How many?", "query": "SELECT COUNT(*) FROM t"},
        {"db_id": "1", "context": DDL, "question": "", "query": "SELECT 1"},
    ]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ["train", "--base", str(shared_tiny()), "--data", str(data), "--out", str(tmp_path / "r")]
    missing = CliRunner().invoke(app, base)
    assert missing.exit_code == 2 and "--columns" in missing.output  # an option train has
    empty = CliRunner().invoke(app, [*base, "--columns", "answer=query"])
    assert empty.exit_code == 2 and "--drop-na" in empty.output
    ok = CliRunner().invoke(app, [*base, "--columns", "answer=query", "--drop-na"])
    assert isinstance(ok.exception, RuntimeError), ok.output  # the data loaded, one row dropped
    bad = CliRunner().invoke(app, [*base, "--columns", "nonsense"])
    assert bad.exit_code == 2 and "bad --columns" in bad.output


@pytest.mark.slow  # builds the tiny model (not loaded: the data is refused first)
def test_infer_drop_na_skips_incomplete_rows_it_would_refuse(tmp_path):
    from _tiny import shared_tiny

    rows = [{"db_id": "1", "context": DDL, "question": ""}]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = ["infer", "--model", str(shared_tiny()), "--data", str(data), "--out", str(tmp_path / "p.jsonl")]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "--drop-na" in refused.output
    dropped = CliRunner().invoke(app, [*args, "--drop-na"])
    assert dropped.exit_code == 2 and "no rows to predict" in dropped.output  # the only row was dropped


def test_commands_without_the_flags_get_a_hint_naming_those_that_have_them(tmp_path):
    from text2sql_cli.data import load_examples
    from text2sql_cli.errors import InputError

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"db_id": "1", "context": DDL, "question": "q", "query": "SELECT 1"}) + "\n")
    with pytest.raises(InputError) as without:
        load_examples(data, flags=())  # as t2s data pass-rate, data synth and model export call it
    assert "--columns answer=query" not in str(without.value) and "t2s data split, train" in str(
        without.value
    )
    with pytest.raises(InputError) as with_flags:
        load_examples(data)
    assert "map them with --columns, e.g. --columns answer=query" in str(with_flags.value)
    data.write_text(json.dumps({"db_id": "1", "context": DDL, "question": "", "answer": "SELECT 1"}) + "\n")
    with pytest.raises(InputError) as empty:
        load_examples(data, flags=())
    assert "pass --drop-na" not in str(empty.value) and "can drop such rows with --drop-na" in str(
        empty.value
    )
