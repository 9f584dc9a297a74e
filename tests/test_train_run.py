"""`t2s train` on the tiny model: the run directory, a loss that falls, packing, resume after a
signal, and clear errors for a hub id offline or a run directory in use."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from _tiny import WITH_HEAD, shared_tiny, write_rows
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.io import read_jsonl

pytestmark = pytest.mark.slow  # builds, trains or runs the tiny model

FAST = ["--batch-size", "4", "--lr", "0.01", "--r", "8", "--alpha", "16", "--log-every", "1"]


def _train(*args: str):
    return CliRunner().invoke(app, ["train", "--base", str(shared_tiny()), *args])


@pytest.fixture
def rows(tmp_path):
    return write_rows(tmp_path / "train.jsonl", 8)


def test_run_directory_has_adapter_tokenizer_template_log_and_run_json(rows):
    result = _train("--data", str(rows), "--out", "run", "--max-steps", "3", *FAST)
    assert result.exit_code == 0, result.output
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "t2s_template.json",
        "train_log.jsonl",
        "run.json",
    ):
        assert os.path.exists(f"run/{name}"), name
    info = json.loads(Path("run/run.json").read_text(encoding="utf-8"))
    assert info["kind"] == "lora-adapter" and info["status"] == "completed"
    assert info["base_model"] == str(shared_tiny()) and info["template"] == "ko-sql-bot"
    assert info["config"]["r"] == 8 and info["config"]["max_steps"] == 3
    assert len(info["data"]["train"]["sha256"]) == 64 and info["data"]["train"]["rows"] == 8
    assert {"torch", "transformers", "peft"} <= set(info["versions"])
    assert info["training"]["global_step"] == 3 and info["training"]["final_loss"] is not None
    assert [r["step"] for r in read_jsonl("run/train_log.jsonl")] == [1, 2, 3]


def test_loss_decreases_over_a_few_dozen_steps(rows):
    result = _train(
        "--data",
        str(rows),
        "--out",
        "run",
        "--max-steps",
        "30",
        "--warmup-ratio",
        "0",
        "--targets",
        WITH_HEAD,
        *FAST,
    )
    assert result.exit_code == 0, result.output
    losses = [r["loss"] for r in read_jsonl("run/train_log.jsonl")]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5  # about 6.9 -> 3.6 on 8 rows


def test_packing_trains_and_evaluates(rows, tmp_path):
    evals = write_rows(tmp_path / "eval.jsonl", 4)
    result = _train(
        "--data", str(rows), "--eval-file", str(evals), "--out", "run", "--max-steps", "2", "--packing", *FAST
    )
    assert result.exit_code == 0, result.output
    info = json.loads(Path("run/run.json").read_text(encoding="utf-8"))
    assert info["config"]["packing"] and info["training"]["best_eval_loss"] is not None


def test_signal_saves_checkpoint_and_resume_continues_like_an_uninterrupted_run(rows, monkeypatch):
    args = ["--data", str(rows), "--max-steps", "6", "--save-every", "100", *FAST]
    assert _train(*args, "--out", "straight").exit_code == 0

    from text2sql_cli.training.callbacks import StopOnSignal

    original = StopOnSignal.on_step_end

    def interrupt_at_3(self, args_, state, control, **kw):
        if state.global_step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, args_, state, control, **kw)

    monkeypatch.setattr(StopOnSignal, "on_step_end", interrupt_at_3)
    stopped = _train(*args, "--out", "run")
    assert stopped.exit_code == 130
    assert os.path.isdir("run/checkpoints/checkpoint-3") and not os.path.exists("run/run.json")
    monkeypatch.setattr(StopOnSignal, "on_step_end", original)

    resumed = _train(*args, "--out", "run", "--resume")
    assert resumed.exit_code == 0, resumed.output
    info = json.loads(Path("run/run.json").read_text(encoding="utf-8"))
    assert info["training"]["resumed_from_step"] == 3 and info["training"]["global_step"] == 6
    log, reference = read_jsonl("run/train_log.jsonl"), read_jsonl("straight/train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    # same data order, optimizer and scheduler state: the resumed run matches the straight one
    assert [r["lr"] for r in log] == pytest.approx([r["lr"] for r in reference])
    assert [r["loss"] for r in log] == pytest.approx([r["loss"] for r in reference], rel=1e-3)


def test_existing_run_is_not_overwritten_without_resume(rows):
    assert _train("--data", str(rows), "--out", "run", "--max-steps", "1", *FAST).exit_code == 0
    again = _train("--data", str(rows), "--out", "run", "--max-steps", "1", *FAST)
    assert again.exit_code == 2 and "already holds a run" in again.output


def test_resume_without_checkpoint_is_a_usage_error(rows):
    result = _train("--data", str(rows), "--out", "run", "--resume")
    assert result.exit_code == 2 and "no complete checkpoint" in result.output


def test_hub_base_offline_is_a_one_line_model_load_error(rows):
    result = CliRunner().invoke(
        app, ["train", "--base", "nobody/no-such-model", "--data", str(rows), "--out", "run"]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: cannot load the tokenizer of 'nobody/no-such-model'")
    assert "Traceback" not in result.output
    assert not os.path.exists("run/run.json")


def test_out_that_is_a_file_is_a_usage_error_before_any_model_loads(rows, monkeypatch):
    from text2sql_cli.training import run as training_run

    def no_loading(*a, **kw):
        raise AssertionError("loaded a model before checking --out")

    monkeypatch.setattr(training_run, "load_tokenizer", no_loading)
    monkeypatch.setattr(training_run, "load_model", no_loading)
    os.makedirs("some")
    open("some/file.txt", "w").close()
    for out in ("some/file.txt", "some/file.txt/run"):
        result = _train("--data", str(rows), "--out", out)
        assert result.exit_code == 2, result.output
        assert (
            "some/file.txt is a file, not a directory" in result.output and "Traceback" not in result.output
        )


def test_data_file_without_rows_says_so_not_max_len(tmp_path):
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    result = _train("--data", str(tmp_path / "empty.jsonl"), "--out", "run")
    assert result.exit_code == 2, result.output
    assert "has no rows" in result.output and "max-len" not in result.output


def test_missing_base_directory_is_a_usage_error(rows):
    result = CliRunner().invoke(app, ["train", "--base", "./nowhere", "--data", str(rows), "--out", "run"])
    assert result.exit_code == 2 and "no such model directory" in result.output


def test_merge_flag_writes_a_standalone_model_after_training(rows):
    result = _train("--data", str(rows), "--out", "run", "--max-steps", "1", "--merge", *FAST)
    assert result.exit_code == 0, result.output
    assert os.path.exists("run/merged/model.safetensors") and os.path.exists("run/merged/t2s_template.json")
    assert json.loads(Path("run/run.json").read_text(encoding="utf-8"))["merged"] == "merged"


def test_push_to_hub_offline_is_refused_before_training(rows):
    result = _train("--data", str(rows), "--out", "run", "--max-steps", "1", "--push-to-hub", "me/m", *FAST)
    assert result.exit_code == 2 and "HF_HUB_OFFLINE" in result.output
    assert not os.path.exists("run")


def test_report_to_a_missing_tracker_is_a_usage_error(rows, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("tensorboard") else real(name, *a),
    )
    result = _train("--data", str(rows), "--out", "run", "--report-to", "tensorboard")
    assert result.exit_code == 2 and "pip install tensorboard" in result.output


def test_chat_template_is_trained_and_saved(rows):
    result = _train("--data", str(rows), "--out", "run", "--max-steps", "1", "--template", "chat", *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads(Path("run/t2s_template.json").read_text(encoding="utf-8"))["chat"] is True
