"""Offline test isolation: every test runs in its own working directory with no T2S_* variables,
no OpenAI key, an HF cache under tmp_path and HF_HUB_OFFLINE=1. Nothing reaches a hub."""

from __future__ import annotations

import os
from pathlib import Path

# Before anything imports huggingface_hub: it reads these once, at import time, so setting them
# later in a fixture would not stop a hub lookup (which then hangs on its network timeout here).
for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_var] = "1"

import signal  # noqa: E402

import pytest  # noqa: E402

# A suite started in the background of a non-interactive shell (`cmd &`, nohup) inherits SIGINT
# ignored, and so would every `t2s` the tests start: t2s rightly keeps an ignored SIGINT ignored
# (interrupts.install), so the Ctrl-C tests would wait for work that never stops. The tests play a
# user at a terminal, where Ctrl-C is live: give their children the default disposition.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# The local fake OpenAI-compatible server's `fake_openai` fixture, for every test module.
pytest_plugins = ("fake_openai",)

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SHARED_DATA = REPO.parent / "shared" / "data" / "ko_text2sql"


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run wherever CUDA is available and are skipped elsewhere; `cpu_only` tests the
    other way round (torch is imported only when such a test was collected, so the fast tier stays
    torch-free)."""
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    cpu_items = [item for item in items if item.get_closest_marker("cpu_only")]
    if not gpu_items and not cpu_items:
        return
    import torch

    cuda = torch.cuda.is_available()
    skip_gpu = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is false)")
    skip_cpu = pytest.mark.skip(reason="asserts a CPU-only fact and CUDA is available")
    for item in gpu_items if not cuda else cpu_items:
        item.add_marker(skip_gpu if not cuda else skip_cpu)


@pytest.fixture(autouse=True)
def _offline_isolated(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("T2S_") or key in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture
def ko_test_split() -> Path:
    """The real 112-row ko_text2sql test split, read by path (its rows are not shipped here)."""
    path = SHARED_DATA / "origin_test.jsonl"
    if not path.exists():
        pytest.skip(f"{path} is absent (it lives in ../shared beside the checkout)")
    return path
