"""`accelerate launch -m text2sql_cli train` runs data parallel with no code change: 2 CPU processes
(gloo) on the tiny model give one loadable adapter, files written once, and the optimizer-step count
that sharding the data across both processes implies."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from _tiny import shared_tiny, write_rows

from text2sql_cli.io import read_jsonl


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_process_accelerate_launch_trains_one_adapter(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rows = write_rows(tmp_path / "train.jsonl", 16)
    launch = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        # --multi_gpu + no CUDA = torch.distributed over gloo on CPU (accelerate's --cpu runs one process)
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--main_process_port",
        str(_free_port()),
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "text2sql_cli",
        "train",
        "--base",
        str(shared_tiny()),
        "--data",
        str(rows),
        "--out",
        "run",
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--grad-accum",
        "2",
        "--log-every",
        "1",
        "--r",
        "4",
    ]
    done = subprocess.run(launch, capture_output=True, text=True, timeout=170)
    assert done.returncode == 0, done.stderr[-3000:]

    info = json.loads((tmp_path / "run" / "run.json").read_text())
    # 16 rows / (2 processes x batch 2 x accumulation 2) = 2 optimizer steps in one epoch
    assert info["training"]["world_size"] == 2 and info["training"]["effective_batch_size"] == 8
    assert info["training"]["global_step"] == 2
    assert [r["step"] for r in read_jsonl(tmp_path / "run" / "train_log.jsonl")] == [1, 2]  # rank 0 only

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(shared_tiny()), tmp_path / "run")
    assert model.peft_config["default"].r == 4
