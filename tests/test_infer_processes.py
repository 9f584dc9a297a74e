"""t2s infer across real processes: `accelerate launch` with 2 CPU processes (gloo) writes the same
ordered file as one process, and a run killed with SIGKILL resumes without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from _tiny import shared_tiny, write_rows

pytestmark = pytest.mark.slow


def _infer(*args: str) -> list[str]:
    return [sys.executable, "-m", "text2sql_cli", "infer", "--model", str(shared_tiny()), *args]


def _env() -> dict[str, str]:
    # Two processes on two cores: one thread each, and no GPU even where one exists.
    return {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def test_two_accelerate_processes_write_the_single_process_output(tmp_path):
    rows = write_rows(tmp_path / "test.jsonl", 40)
    single, sharded = tmp_path / "single.jsonl", tmp_path / "sharded.jsonl"
    common = ["--data", str(rows), "--max-new-tokens", "16", "--batch-size", "4"]
    subprocess.run(
        _infer(*common, "--out", str(single)), check=True, env=_env(), capture_output=True, timeout=120
    )
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "text2sql_cli",
        "infer",
        "--model",
        str(shared_tiny()),
        *common,
        "--out",
        str(sharded),
    ]
    done = subprocess.run(launch, env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sharded.read_text(encoding="utf-8") == single.read_text(encoding="utf-8")
    assert json.loads((tmp_path / "sharded.jsonl.meta.json").read_text())["world_size"] == 2
    assert not list(tmp_path.glob("sharded.jsonl.rank*.part"))


def test_sigkill_mid_run_then_resume_leaves_each_id_once(tmp_path):
    rows = write_rows(tmp_path / "test.jsonl", 150)
    out = tmp_path / "preds.jsonl"
    args = _infer("--data", str(rows), "--out", str(out), "--max-new-tokens", "24", "--batch-size", "2")
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 10):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = out.read_bytes().count(b"\n")
    assert 10 <= partial < 150, "the run was not killed mid-way"
    subprocess.run(args, check=True, env=_env(), capture_output=True, timeout=120)
    ids = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    source = [json.loads(line)["id"] for line in rows.read_text(encoding="utf-8").splitlines()]
    assert ids == source
    meta = json.loads((tmp_path / "preds.jsonl.meta.json").read_text())
    assert meta["counts"]["resumed"] >= 10 and meta["counts"]["resumed"] + meta["counts"]["generated"] == 150
