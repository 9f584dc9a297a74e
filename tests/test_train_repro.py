"""Issue 18: seeded runs repeat bit for bit (item 1); the run directory's train_log.jsonl keeps
train and eval rows apart and its README is a model card (item 8)."""

from __future__ import annotations

import json
import math

import pytest
from _tiny import shared_tiny, train_tiny, write_rows

from text2sql_cli.artifacts import adapter_sha256
from text2sql_cli.io import read_jsonl

pytestmark = pytest.mark.slow  # trains the tiny model


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("repro")
    data = write_rows(tmp / "train.jsonl", 12)
    held = write_rows(tmp / "eval.jsonl", 4)
    opts = {"max_steps": 4, "dropout": 0.1, "eval_file": held}
    a = train_tiny(shared_tiny(), tmp / "a", data, seed=7, **opts)
    b = train_tiny(shared_tiny(), tmp / "b", data, seed=7, **opts)
    c = train_tiny(shared_tiny(), tmp / "c", data, seed=8, **opts)
    return a, b, c


def test_two_runs_with_one_seed_give_bit_identical_adapters(runs):
    a, b, c = runs
    assert adapter_sha256(a) == adapter_sha256(b)
    assert read_jsonl(a / "train_log.jsonl") == read_jsonl(b / "train_log.jsonl")
    assert adapter_sha256(a) != adapter_sha256(c)  # the seed is what decides


def test_train_log_keeps_train_and_eval_rows_apart_without_nan(runs):
    log = read_jsonl(runs[0] / "train_log.jsonl")
    assert {r["split"] for r in log} == {"train", "eval"}
    assert all("eval_loss" not in r for r in log if r["split"] == "train")
    assert all("loss" not in r and "lr" not in r for r in log if r["split"] == "eval")
    numbers = [v for r in log for v in r.values() if isinstance(v, float)]
    assert numbers and all(math.isfinite(v) for v in numbers)
    text = (runs[0] / "train_log.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text


def test_run_readme_is_a_model_card(runs):
    run = runs[0]
    card = (run / "README.md").read_text()
    record = json.loads((run / "run.json").read_text())
    template = json.loads((run / "t2s_template.json").read_text())
    assert "More Information Needed" not in card  # not PEFT's placeholder
    assert record["base_model"] in card and record["data"]["train"]["sha256"] in card
    assert str(record["training"]["final_loss"]) in card and '"seed": 7' in card
    assert template["text"].splitlines()[0] in card
    assert "t2s infer --model" in card and "PeftModel.from_pretrained" in card
    assert record["config_sources"]["seed"] == "flag" and record["config_sources"]["quant"] == "default"
