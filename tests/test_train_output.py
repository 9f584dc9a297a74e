"""What `t2s train` shows: one rich progress bar and the summary table instead of the Trainer's
printed log dicts, with the numbers still in train_log.jsonl; known-harmless library noise is
silenced only inside t2s' own model work, and only the messages named."""

from __future__ import annotations

import logging
import warnings

import pytest
from _tiny import shared_tiny, write_rows
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.io import read_jsonl

pytestmark = pytest.mark.slow  # builds, trains or runs the tiny model


def _precision_label() -> str:
    import torch

    if not torch.cuda.is_available():
        return "fp32 on cpu"
    return ("bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16") + " on cuda"


def test_train_prints_no_raw_log_dicts_and_logs_every_logged_step(tmp_path):
    rows = write_rows(tmp_path / "train.jsonl", 8)
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--base",
            str(shared_tiny()),
            "--data",
            str(rows),
            "--out",
            "run",
            "--max-steps",
            "4",
            "--log-every",
            "2",
            "--batch-size",
            "4",
            "--r",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "{'loss'" not in result.output and "{'train_runtime'" not in result.output
    assert "4/4" in result.output  # the progress bar's final state
    # precision is named, not TrainingArguments' "no": fp32 on CPU, native 16-bit on a GPU
    assert _precision_label() in result.output
    log = read_jsonl("run/train_log.jsonl")
    assert [r["step"] for r in log] == [1, 2, 4]  # the first step, then every --log-every
    assert all(r["loss"] is not None and r["lr"] is not None for r in log)


def test_quiet_known_noise_drops_only_the_named_messages_and_only_inside(caplog):
    from text2sql_cli.quiet import BNB_KERNEL_MESSAGE, BNB_LOGGER, quiet_known_noise

    bnb = logging.getLogger(BNB_LOGGER)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")  # pytest's own filters must not decide this test
        with quiet_known_noise():
            bnb.warning("%s: No module named 'kernels'", BNB_KERNEL_MESSAGE)
            bnb.warning("some other bitsandbytes problem")
            warnings.warn(
                "`is_gradient_checkpointing` is deprecated and will be removed in v6.",
                FutureWarning,
                stacklevel=1,
            )
            warnings.warn("another deprecation", FutureWarning, stacklevel=1)
    assert [r.getMessage() for r in caplog.records] == ["some other bitsandbytes problem"]
    assert [str(w.message) for w in seen] == ["another deprecation"]

    caplog.clear()
    bnb.warning("%s: after", BNB_KERNEL_MESSAGE)
    assert len(caplog.records) == 1 and not bnb.filters


def test_quiet_known_noise_restores_progress_bars():
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    from text2sql_cli.quiet import quiet_known_noise

    hub_before = hub_utils.are_progress_bars_disabled()
    assert hf_logging.is_progress_bar_enabled()
    with quiet_known_noise():
        assert not hf_logging.is_progress_bar_enabled()
        assert hub_utils.are_progress_bars_disabled() == hub_before  # hub downloads still show
    assert hf_logging.is_progress_bar_enabled() and hub_utils.are_progress_bars_disabled() == hub_before
