"""Issue 18 item 4: every command says which options it used and where each came from (flag,
--config, the environment, .env, a preset, the default); run.json and summary.json record it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.training import resolve_config


def test_train_sources_follow_the_precedence_rule(tmp_path, monkeypatch):
    (tmp_path / "opts.yaml").write_text("r: 4\nalpha: 9\n")
    (tmp_path / ".env").write_text("T2S_TRAIN_LR=0.5\nT2S_TRAIN_ALPHA=7\nT2S_TRAIN_WARMUP_RATIO=0.2\n")
    monkeypatch.setenv("T2S_TRAIN_DROPOUT", "0.2")
    cfg = resolve_config(
        tmp_path / "opts.yaml", base="b", data=tmp_path, out=tmp_path / "o", r=8, preset="book"
    )
    src = cfg.sources()
    assert (cfg.r, src["r"]) == (8, "flag")  # a flag beats --config
    assert (cfg.alpha, src["alpha"]) == (9, f"--config {tmp_path / 'opts.yaml'}")  # --config beats .env
    assert (cfg.dropout, src["dropout"]) == (0.2, "env T2S_TRAIN_DROPOUT")  # env beats the preset
    assert (cfg.lr, src["lr"]) == (
        0.5,
        ".env T2S_TRAIN_LR",
    )  # a leftover .env replacing --preset book is named
    assert (cfg.grad_accum, src["grad_accum"]) == (8, "preset book")
    assert (cfg.max_steps, src["max_steps"]) == (-1, "default")
    assert src["preset"] == "flag" and set(src) == set(cfg.public_dump())


def test_eval_summary_records_and_prints_each_settings_source(tmp_path, monkeypatch):
    ddl = "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20));"
    row = {"id": "1", "db_id": "d", "context": ddl, "gold": "SELECT id FROM t", "sql": "SELECT id FROM t"}
    (tmp_path / "p.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("T2S_EVAL_INSTANCES", "2")
    args = ["eval", str(tmp_path / "p.jsonl"), "--out", str(tmp_path / "ev"), "--seed", "3", "--workers", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    sources = json.loads((tmp_path / "ev" / "summary.json").read_text())["settings_sources"]
    assert (sources["seed"], sources["instances"], sources["timeout"]) == (
        "flag",
        "env T2S_EVAL_INSTANCES",
        "default",
    )
    assert "seed = 3  (flag)" in result.output and "instances = 2  (env T2S_EVAL_INSTANCES)" in result.output


@pytest.mark.slow  # loads the tiny model's tokenizer
def test_train_prints_its_options_before_the_base_model_loads(tmp_path, monkeypatch):
    from _tiny import shared_tiny, write_rows

    from text2sql_cli.training import run as training_run

    def stop(*a, **kw):
        raise RuntimeError("stop here: the base model would load now")

    monkeypatch.setattr(training_run, "load_model", stop)
    (tmp_path / ".env").write_text("T2S_TRAIN_LR=0.001\n")
    rows = write_rows(tmp_path / "rows.jsonl", 4)
    args = ["train", "--base", str(shared_tiny()), "--data", str(rows), "--out", str(tmp_path / "r")]
    (tmp_path / "o.yaml").write_text("grad_accum: 3\n")
    result = CliRunner().invoke(app, [*args, "--r", "4", "--config", str(tmp_path / "o.yaml")])
    assert isinstance(result.exception, RuntimeError), result.output  # printed before the model loads
    text = " ".join(result.output.split())
    assert "r = 4 (flag)" in text and "lr = 0.001 (.env T2S_TRAIN_LR)" in text
    assert f"grad_accum = 3 (--config {tmp_path / 'o.yaml'})" in text
