"""`t2s eval --judge MODEL --batch` and `t2s filter --judge MODEL --batch` against the fake server's
Batch API: the same verdicts as the online path, one batch, a rerun that submits nothing."""

from __future__ import annotations

import json

import pytest
from test_filter_llm import answer as filter_answer
from test_filter_llm import read
from test_filter_llm import rows as filter_rows
from test_filter_llm import write as write_rows
from test_judge import write_preds
from typer.testing import CliRunner

from text2sql_cli.cli import app

pytestmark = pytest.mark.timeout(60)
runner = CliRunner()


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch):
    monkeypatch.setenv("T2S_LLM_BATCH_POLL_S", "0.01")


def eval_judge(server, preds, out, *extra):
    args = ["eval", str(preds), "--out", str(out), "--judge", "gpt-4", "--judge-base-url", server.url]
    return runner.invoke(app, [*args, *extra])


def verdicts(out):
    return [r["judge_verdict"] for r in read(out / "results.jsonl")]


def test_eval_batch_gives_the_online_verdicts_from_one_batch(fake_openai, tmp_path):
    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    online = eval_judge(fake_openai, preds, tmp_path / "online", "--rpm", "60000")
    chat_requests = fake_openai.count()
    batch = eval_judge(fake_openai, preds, tmp_path / "batch", "--batch")
    assert online.exit_code == 0 and batch.exit_code == 0, batch.output
    assert verdicts(tmp_path / "batch") == verdicts(tmp_path / "online") == ["yes", "no", "yes", "no"]
    assert len(fake_openai.batches) == 1 and fake_openai.count() == chat_requests + 4  # 4 batch lines
    summary = json.loads((tmp_path / "batch" / "summary.json").read_text())
    assert summary["judge"]["batch"] is True
    online_cost = json.loads((tmp_path / "online" / "summary.json").read_text())["judge"]["cost_usd_total"]
    assert summary["judge"]["cost_usd_total"] == pytest.approx(online_cost / 2, rel=1e-3)


def test_eval_batch_rerun_submits_nothing(fake_openai, tmp_path):
    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    assert eval_judge(fake_openai, preds, tmp_path / "ev", "--batch").exit_code == 0
    again = eval_judge(fake_openai, preds, tmp_path / "ev", "--batch")
    assert again.exit_code == 0, again.output
    assert len(fake_openai.batches) == 1


def test_eval_batch_dry_run_shows_the_batch_price(fake_openai, tmp_path):
    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    full = eval_judge(fake_openai, preds, tmp_path / "a", "--dry-run")
    half = eval_judge(fake_openai, preds, tmp_path / "b", "--dry-run", "--batch")
    assert half.exit_code == 0 and "Batch API's half price" in half.output
    cost = [float(r.output.split("about $")[1].split()[0]) for r in (full, half)]
    assert cost[1] == pytest.approx(cost[0] / 2, abs=1e-4) and fake_openai.batches == {}


def test_batch_retry_without_batch_is_a_usage_error(fake_openai, tmp_path):
    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    result = eval_judge(fake_openai, preds, tmp_path / "ev", "--batch-retry", "batch")
    assert result.exit_code == 2 and "--batch-retry only applies with --batch" in result.output


def test_batch_without_judge_is_a_usage_error(tmp_path):
    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    result = runner.invoke(app, ["eval", str(preds), "--out", str(tmp_path / "ev"), "--batch"])
    assert result.exit_code == 2 and "--batch" in result.output


def test_filter_batch_keeps_yes_drops_no_and_holds_malformed(fake_openai, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_openai.answer = filter_answer
    write_rows(tmp_path, filter_rows("yes", "no", "bad"))
    args = ["filter", "rows.jsonl", "--out", "out", "--judge", "gpt-4o-mini", "--judge-base-url"]
    result = runner.invoke(app, [*args, fake_openai.url, "--batch", "--batch-retry", "batch"])
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read(tmp_path / "out" / "kept.jsonl")] == ["r0"]
    assert [r["id"] for r in read(tmp_path / "out" / "dropped.jsonl")] == ["r1"]
    assert [r["id"] for r in read(tmp_path / "out" / "held.jsonl")] == ["r2"]  # unparseable: held
    # The malformed reply was asked again in new batches, up to the parse attempts (3).
    assert len(fake_openai.batches) == 3 and fake_openai.count("[bad]") == 3
