"""The whole pipeline through the CLI, as `make demo` runs it: split -> tiny -> train -> infer -> eval."""

import json

import pandas as pd
import pytest
from conftest import EXAMPLES
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.prompts import TEMPLATES, load_template

pytestmark = pytest.mark.slow  # builds, trains or runs the tiny model

runner = CliRunner()


def _ok(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result


def test_split_tiny_train_infer_eval_end_to_end(tmp_path):
    _ok(["data", "split", str(EXAMPLES / "sample.jsonl"), "--test-db", "1", "--out", "data"])
    _ok(["model", "tiny", "--data", "data/train.jsonl", "--out", "base", "--pretrain-steps", "20"])
    _ok(
        [
            "train",
            "--base",
            "base",
            "--data",
            "data/train.jsonl",
            "--out",
            "run",
            "--max-steps",
            "3",
            "--batch-size",
            "4",
            "--r",
            "4",
            "--alpha",
            "8",
            "--max-len",
            "512",
        ]
    )
    assert load_template(tmp_path / "run") == TEMPLATES["ko-sql-bot"]
    assert json.loads((tmp_path / "run/run.json").read_text())["template"] == "ko-sql-bot"

    _ok(
        [
            "infer",
            "--model",
            "run",
            "--data",
            "data/test.jsonl",
            "--out",
            "preds.jsonl",
            "--max-new-tokens",
            "16",
        ]
    )
    preds = pd.read_json(tmp_path / "preds.jsonl", lines=True, dtype={"id": str})
    test_ids = [json.loads(line)["id"] for line in (tmp_path / "data/test.jsonl").read_text().splitlines()]
    assert list(preds["id"]) == test_ids and set(preds["db_id"].astype(str)) == {"1"}

    result = _ok(["eval", "preds.jsonl", "--metric", "ex,em", "--out", "eval"])
    assert "EX" in result.output
    results = pd.read_json(tmp_path / "eval/results.jsonl", lines=True, dtype={"id": str})
    assert list(results["id"]) == test_ids
    assert {"question", "gold", "sql", "status", "ex", "em"} <= set(results.columns)
    summary = json.loads((tmp_path / "eval/summary.json").read_text())
    assert summary["examples"] == len(test_ids) == 25
    ex = summary["metrics"]["ex"]
    assert ex["scored"] + ex["excluded"] == 25 and ex["correct"] == int(results["ex"].fillna(False).sum())
