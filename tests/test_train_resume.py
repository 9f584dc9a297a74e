"""`t2s train --resume`: continues only the run OUT/checkpoints/t2s_start.json describes (same
options, same data content), never past the target steps, and a finished run is left alone;
the loss log always ends with the last optimizer step."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _tiny import WITH_HEAD, shared_tiny, train_tiny, write_rows
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.io import read_jsonl

pytestmark = pytest.mark.slow  # builds, trains or runs the tiny model

# train_tiny's defaults, as flags
SAME = [
    "--batch-size",
    "4",
    "--lr",
    "0.01",
    "--log-every",
    "1",
    "--r",
    "8",
    "--alpha",
    "16",
    "--targets",
    WITH_HEAD,
]


def _train(*args: str):
    return CliRunner().invoke(app, ["train", "--base", str(shared_tiny()), *args])


@pytest.fixture
def rows(tmp_path):
    return write_rows(tmp_path / "train.jsonl", 8)


def _fingerprint(out: str) -> dict[str, bytes]:
    return {
        name: Path(out, name).read_bytes()
        for name in ("run.json", "adapter_model.safetensors", "train_log.jsonl")
    }


def test_resume_of_a_completed_run_is_refused_and_leaves_it_untouched(rows):
    train_tiny(shared_tiny(), "run", rows, max_steps=3)
    before = _fingerprint("run")
    result = _train("--data", str(rows), "--out", "run", "--max-steps", "3", "--resume", *SAME)
    assert result.exit_code == 2, result.output
    assert (
        "run already completed 3 steps (--max-steps 3); nothing to resume; raise --max-steps/--epochs"
        in result.output
    )
    assert "Traceback" not in result.output
    assert _fingerprint("run") == before


def test_resume_of_a_completed_epochs_run_is_refused(rows):
    train_tiny(shared_tiny(), "run", rows, max_steps=-1, epochs=1.0)  # 8 rows / batch 4: 2 steps
    assert json.loads(Path("run/run.json").read_text())["training"]["global_step"] == 2
    result = _train("--data", str(rows), "--out", "run", "--resume", *SAME)
    assert result.exit_code == 2 and "already completed 2 steps" in result.output, result.output


def test_resume_guard_stops_the_trainer_at_its_own_step_count(rows, monkeypatch):
    """Even if the early check were fooled, the Trainer is never asked to resume at max_steps."""
    from text2sql_cli.training import run as training_run

    train_tiny(shared_tiny(), "run", rows, max_steps=2)
    before = _fingerprint("run")
    monkeypatch.setattr(training_run, "check_resume", lambda cfg: None)
    result = _train("--data", str(rows), "--out", "run", "--max-steps", "2", "--resume", *SAME)
    assert result.exit_code == 2 and "already at step 2 of 2; nothing to resume" in result.output, (
        result.output
    )
    assert _fingerprint("run") == before


def test_raising_max_steps_continues_a_completed_run_to_the_new_target(rows):
    train_tiny(shared_tiny(), "run", rows, max_steps=3)
    result = _train(
        "--data", str(rows), "--out", "run", "--max-steps", "5", "--save-every", "50", "--resume", *SAME
    )
    assert result.exit_code == 0, result.output
    info = json.loads(Path("run/run.json").read_text())
    assert info["training"]["global_step"] == 5 and info["training"]["resumed_from_step"] == 3
    assert info["config"]["max_steps"] == 5
    assert [r["step"] for r in read_jsonl("run/train_log.jsonl")] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["--lr", "0.001"], "--lr 0.001 (started with 0.01)"),
        (["--batch-size", "2"], "--batch-size 2 (started with 4)"),
        (["--r", "4"], "--r 4 (started with 8)"),  # was a size-mismatch traceback when loading the checkpoint
        (["--seed", "7"], "--seed 7 (started with 42)"),
    ],
)
def test_resume_with_other_options_is_refused_before_any_model_loads(rows, monkeypatch, change, named):
    from text2sql_cli.training import run as training_run

    train_tiny(shared_tiny(), "run", rows, max_steps=2)
    before = _fingerprint("run")

    def no_loading(*a, **kw):
        raise AssertionError("loaded a model before refusing the resume")

    monkeypatch.setattr(training_run, "load_tokenizer", no_loading)
    monkeypatch.setattr(training_run, "load_model", no_loading)
    result = _train("--data", str(rows), "--out", "run", "--max-steps", "4", "--resume", *SAME, *change)
    assert result.exit_code == 2, result.output
    assert "was started with other options" in result.output and named in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert _fingerprint("run") == before


def test_resume_with_other_data_is_refused_and_a_moved_copy_is_accepted(rows, tmp_path):
    train_tiny(shared_tiny(), "run", rows, max_steps=2)
    other = write_rows(tmp_path / "other.jsonl", 6)
    result = _train("--data", str(other), "--out", "run", "--max-steps", "4", "--resume", *SAME)
    assert result.exit_code == 2 and "--data content" in result.output, result.output
    evals = write_rows(tmp_path / "eval.jsonl", 4)
    result = _train(
        "--data", str(rows), "--eval-file", str(evals), "--out", "run", "--max-steps", "4", "--resume", *SAME
    )
    assert result.exit_code == 2 and "--eval-file content" in result.output, result.output

    moved = tmp_path / "moved.jsonl"
    moved.write_bytes(rows.read_bytes())
    result = _train(
        "--data", str(moved), "--out", "run", "--max-steps", "4", "--log-every", "2", "--resume", *SAME
    )
    assert result.exit_code == 0, result.output
    assert json.loads(Path("run/run.json").read_text())["training"]["global_step"] == 4


def test_resume_without_a_start_record_is_refused(rows):
    train_tiny(shared_tiny(), "run", rows, max_steps=2)
    os.remove("run/checkpoints/t2s_start.json")
    result = _train("--data", str(rows), "--out", "run", "--max-steps", "4", "--resume", *SAME)
    assert result.exit_code == 2 and "t2s_start.json is missing" in result.output, result.output


def test_start_record_holds_the_resolved_options_and_data_sha256(rows):
    train_tiny(shared_tiny(), "run", rows, max_steps=1)
    start = json.loads(Path("run/checkpoints/t2s_start.json").read_text())
    info = json.loads(Path("run/run.json").read_text())
    assert start["config"] == info["config"]
    assert start["data_sha256"] == {"data": info["data"]["train"]["sha256"], "eval_file": None}


def test_final_loss_is_the_last_steps_when_max_steps_is_not_a_multiple_of_log_every(rows):
    train_tiny(shared_tiny(), "run", rows, max_steps=3, log_every=10)
    log = read_jsonl("run/train_log.jsonl")
    assert [r["step"] for r in log] == [1, 3]
    assert json.loads(Path("run/run.json").read_text())["training"]["final_loss"] == log[-1]["loss"]


def test_a_run_that_died_before_its_first_checkpoint_can_be_started_again(rows):
    os.makedirs("run/checkpoints")
    Path("run/checkpoints/t2s_start.json").write_text("{}", encoding="utf-8")
    Path("run/train_log.jsonl").write_text('{"step": 1, "loss": 99.0}\n', encoding="utf-8")
    train_tiny(shared_tiny(), "run", rows, max_steps=2)
    assert [r["loss"] for r in read_jsonl("run/train_log.jsonl")][0] != 99.0
    assert json.loads(Path("run/checkpoints/t2s_start.json").read_text())["config"]["max_steps"] == 2


def test_checkpoint_interrupted_mid_save_is_skipped_and_resume_says_so(rows):
    train_tiny(shared_tiny(), "run", rows, max_steps=2)
    assert Path("run/checkpoints/checkpoint-2/trainer_state.json").exists()
    # what kill -9 during the save of checkpoint-3 leaves: weights, no (or a torn) trainer_state.json
    torn = Path("run/checkpoints/checkpoint-3")
    torn.mkdir()
    (torn / "adapter_model.safetensors").write_bytes(b"\0" * 10)
    (torn / "trainer_state.json").write_text('{"global_step": 3, "log_hi', encoding="utf-8")
    result = _train("--data", str(rows), "--out", "run", "--max-steps", "4", "--resume", *SAME)
    assert result.exit_code == 0, result.output
    assert (
        "checkpoint-3 is incomplete (interrupted while saving); resuming from checkpoint-2" in result.output
    )
    assert json.loads(Path("run/run.json").read_text())["training"]["global_step"] == 4
