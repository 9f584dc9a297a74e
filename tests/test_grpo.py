"""`t2s train --method grpo` and `t2s data pass-rate`: the execution reward, the refusals made
before any model loads, and (slow) an 8-step GRPO run on the tiny model from a short SFT run that
infer and eval then use unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _tiny import train_tiny, write_rows
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.sql.goldmatch import gold_task, score_example
from text2sql_cli.training import resolve_config
from text2sql_cli.training.rewards import ExecutionReward, FormatReward, RewardSettings

runner = CliRunner()
DDL = "CREATE TABLE heroes (id INT PRIMARY KEY, name VARCHAR(20), power INT);"
GOLD = "SELECT name FROM heroes WHERE power > 5"


def _status(pred, gold=GOLD):
    return score_example(gold_task("h", DDL, gold, pred, db_dir=None, instances=3))["status"]


def test_gold_match_verdicts():
    assert _status("SELECT name FROM heroes WHERE 5 < power") == "correct"
    assert _status("SELECT name FROM heroes WHERE power >= 5") == "wrong_result"
    assert _status("SELECT nope FROM heroes") == "pred_error"
    assert _status(None) == "extraction_failed"
    assert _status("SELECT 1", gold="SELECT nope FROM heroes") == "gold_error"


def test_arctic_reward_is_one_a_tenth_and_zero_and_cached_per_row_and_sql():
    reward = ExecutionReward(RewardSettings(instances=3, workers=1), stop=())
    completions = [
        "SELECT name FROM heroes WHERE 5 < power",
        "SELECT name FROM heroes WHERE power >= 5",
        "SELECT nope FROM heroes",
        "SELECT name FROM heroes WHERE 5 < power",
    ]
    columns = {"id": ["r1"] * 4, "db_id": ["h"] * 4, "context": [DDL] * 4, "gold": [GOLD] * 4}
    assert reward(["p"] * 4, completions, **columns) == [1.0, 0.1, 0.0, 1.0]
    assert len(reward.cache) == 3  # the repeated completion was scored once
    assert reward.statuses == {"correct": 2, "wrong_result": 1, "pred_error": 1}


def test_a_row_whose_gold_fails_rewards_nothing():
    reward = ExecutionReward(RewardSettings(instances=2, workers=1), stop=())
    columns = {"id": ["r"], "db_id": ["h"], "context": [DDL], "gold": ["SELECT nope FROM heroes"]}
    assert reward(["p"], ["SELECT nope FROM heroes"], **columns) == [0.0]


def test_format_reward_wants_one_parsable_statement():
    fmt = FormatReward(stop=())
    assert fmt(["p", "p"], ["SELECT 1", "no sql here"]) == [1.0, 0.0]


def _grpo_args(tmp_path: Path, *extra: str) -> list[str]:
    rows = write_rows(tmp_path / "rows.jsonl", 8)
    return [
        "train",
        "--method",
        "grpo",
        "--base",
        "b",
        "--data",
        str(rows),
        "--out",
        str(tmp_path / "g"),
        *extra,
    ]


def test_groups_must_fit_the_batch(tmp_path):
    result = runner.invoke(app, _grpo_args(tmp_path, "--batch-size", "6", "--num-generations", "4"))
    assert result.exit_code == 2
    assert "must be a multiple of --num-generations" in result.output


def test_lm_head_adapters_are_refused_for_grpo(tmp_path):
    result = runner.invoke(app, _grpo_args(tmp_path, "--targets", "q_proj,lm_head"))
    assert result.exit_code == 2 and "lm_head" in result.output


def test_use_vllm_without_cuda_or_vllm_is_a_clear_error(tmp_path):
    result = runner.invoke(app, _grpo_args(tmp_path, "--use-vllm"))
    assert result.exit_code != 0
    assert "--use-vllm needs a CUDA GPU and the vllm package" in result.output


def test_init_is_only_for_grpo(tmp_path):
    rows = write_rows(tmp_path / "rows.jsonl", 4)
    result = runner.invoke(app, ["train", "--base", "b", "--data", str(rows), "--out", "o", "--init", "x"])
    assert result.exit_code == 2 and "--method grpo" in result.output


def test_grpo_preset_sets_the_recipe_and_flags_still_win():
    cfg = resolve_config(None, preset="grpo", num_generations=4)
    assert (cfg.method, cfg.num_generations, cfg.beta, cfg.reward) == ("grpo", 4, 0.0, "arctic")


def test_pass_rate_bounds_need_keep(tmp_path):
    rows = write_rows(tmp_path / "rows.jsonl", 2)
    args = ["data", "pass-rate", "--model", "m", "--data", str(rows), "--out", str(tmp_path / "r.jsonl")]
    result = runner.invoke(app, [*args, "--min-pass", "0.1"])
    assert result.exit_code == 2 and "--keep" in result.output


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory) -> tuple[Path, Path]:
    """A short SFT run (no lm_head adapter: TRL's GRPO cannot train one) on a tiny model pretrained
    for 80 steps on the rows, so that some sampled completions run and a few match gold."""
    from text2sql_cli.data import load_examples
    from text2sql_cli.prompts import TEMPLATES
    from text2sql_cli.tiny import build_tiny_model, corpus_for

    work = tmp_path_factory.mktemp("grpo")
    data = write_rows(work / "train.jsonl", 40)
    examples, _ = load_examples(data)
    corpus = corpus_for(examples, TEMPLATES.values())
    base = build_tiny_model(
        work / "tiny", corpus, hidden_size=32, seed=0, pretrain_steps=80, pretrain_lr=1e-2
    )
    sft = train_tiny(base, work / "sft", data, max_steps=15, targets="all-linear", batch_size=4)
    return sft, data


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_grpo_from_sft_logs_rewards_saves_an_adapter_that_infer_and_eval_use(sft_run, tmp_path):
    sft, data = sft_run
    out = tmp_path / "grpo"
    args = ["train", "--method", "grpo", "--init", str(sft), "--data", str(data), "--out", str(out)]
    args += ["--max-steps", "8", "--num-generations", "4", "--batch-size", "8", "--log-every", "1"]
    args += ["--max-completion-len", "32", "--lr", "5e-3", "--temperature", "1.2", "--seed", "1"]
    args += ["--format-reward", "0.5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 9))
    for row in log:
        assert {"reward", "reward_std", "frac_reward_zero_std", "loss", "rewards/execution/mean"} <= set(row)
        assert 0.0 <= row["frac_reward_zero_std"] <= 1.0
    assert len({row["reward"] for row in log}) > 1, "the reward never changed"
    assert (out / "adapter_model.safetensors").is_file()
    run = json.loads((out / "run.json").read_text())
    assert run["method"] == "grpo" and run["reward"]["values"] == {"correct": 1.0, "runs": 0.1, "fails": 0.0}
    assert run["init"] == str(sft.resolve()) and sum(run["reward_verdicts"].values()) == 8 * 8
    assert json.loads((out / "t2s_template.json").read_text())["name"] == "ko-sql-bot"
    # infer and eval use the run unchanged
    test = write_rows(tmp_path / "test.jsonl", 6)
    preds = tmp_path / "preds.jsonl"
    args = ["infer", "--model", str(out), "--data", str(test), "--out", str(preds), "--max-new-tokens", "32"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["eval", str(preds), "--metric", "ex", "--out", str(tmp_path / "eval")])
    assert result.exit_code == 0, result.output
    ex = json.loads((tmp_path / "eval" / "summary.json").read_text())["metrics"]["ex"]
    assert ex["scored"] + ex["excluded"] == 6
    rates = tmp_path / "rates.jsonl"
    args = [
        "data",
        "pass-rate",
        "--model",
        str(out),
        "--data",
        str(test),
        "--out",
        str(rates),
        "--samples",
        "3",
    ]
    args += ["--max-new-tokens", "24", "--keep", str(tmp_path / "kept.jsonl"), "--max-pass", "0.99"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in rates.read_text().splitlines()]
    assert [r["id"] for r in rows] == [json.loads(line)["id"] for line in test.read_text().splitlines()]
    assert all(r["samples"] == 3 and 0 <= r["pass_rate"] <= 1 for r in rows if not r.get("gold_error"))
    kept = [json.loads(line)["id"] for line in (tmp_path / "kept.jsonl").read_text().splitlines()]
    assert kept == [r["id"] for r in rows if r.get("pass_rate") is not None and r["pass_rate"] <= 0.99]


def test_a_comparison_that_gave_up_rewards_nothing(monkeypatch):
    from text2sql_cli.sql import compare

    monkeypatch.setattr(compare, "MAX_STEPS", 0)  # every column search gives up at once
    reward = ExecutionReward(RewardSettings(instances=2, workers=1), stop=())
    columns = {"id": ["r"], "db_id": ["h"], "context": [DDL], "gold": ["SELECT id, name, power FROM heroes"]}
    assert reward(["p"], ["SELECT power, id, name FROM heroes"], **columns) == [0.0]
    assert reward.statuses == {"compare_gave_up": 1}
