"""Ctrl-C and SIGTERM stop `t2s eval` / `t2s filter` promptly with exit 130 / 143 and one line,
never a pred_error row; workers never outlive their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DDL = "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20));"
RUNAWAY = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"


def _predictions(path: Path, n: int) -> Path:
    rows = [
        {
            "id": str(i),
            "db_id": "d",
            "question": "q",
            "context": DDL,
            "gold": "SELECT id FROM t",
            "sql": RUNAWAY,
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "text2sql_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _wait_until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def _running_sql(proc: subprocess.Popen) -> bool:
    """The sqlite3 extension is loaded only when EX starts (the sandbox imports it)."""
    try:
        return "_sqlite3" in Path(f"/proc/{proc.pid}/maps").read_text()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    "sig,code,rows,workers",
    [
        (signal.SIGINT, 130, 1, 1),
        (signal.SIGTERM, 143, 1, 1),
        (signal.SIGINT, 130, 40, 2),
        (signal.SIGTERM, 143, 40, 2),
    ],
    ids=["ctrl-c-in-process", "sigterm-in-process", "ctrl-c-workers", "sigterm-workers"],
)
def test_interrupted_eval_stops_without_waiting_for_the_query(tmp_path, sig, code, rows, workers):
    """`t2s eval` uses its worker pool (2 workers by default) from 32 rows on, else runs in-process."""
    preds = _predictions(tmp_path / "p.jsonl", rows)
    out = tmp_path / "out"
    proc = _start(["eval", str(preds), "--out", str(out), "--metric", "ex", "--timeout", "60"])
    if workers > 1:
        _wait_until(lambda: len(_children(proc.pid)) >= 2)
    else:
        _wait_until(lambda: _running_sql(proc))
    time.sleep(0.5)
    workers_seen = _children(proc.pid)
    start = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # a failed test leaves no eval (and its workers) running on
            proc.kill()
            proc.communicate()
    # a behaviour check, not a timing one: the running query (60 s limit) was cut, not waited for
    assert time.monotonic() - start < 30
    assert proc.returncode == code
    assert "interrupted; rerun to resume" in err and "Traceback" not in err
    assert not (out / "results.jsonl").exists()  # nothing partial, and no pred_error rows
    _wait_until(lambda: not any(_alive(p) for p in workers_seen), timeout=3)


def test_kill_9_of_eval_leaves_no_worker(tmp_path):
    preds = _predictions(tmp_path / "p.jsonl", 40)
    proc = _start(["eval", str(preds), "--out", str(tmp_path / "out"), "--metric", "ex", "--timeout", "60"])
    _wait_until(lambda: len(_children(proc.pid)) >= 2)
    workers = _children(proc.pid)
    proc.kill()
    proc.communicate(timeout=30)
    _wait_until(lambda: not any(_alive(p) for p in workers), timeout=3)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_killed_filter_leaves_no_worker(tmp_path, sig):
    data = tmp_path / "d.jsonl"
    rows = [
        {"db_id": "d", "question": f"q{i}", "context": DDL, "answer": f"{RUNAWAY} -- {i}"} for i in range(40)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    proc = _start(["filter", str(data), "--out", str(tmp_path / "out"), "--timeout", "60"])
    _wait_until(lambda: len(_children(proc.pid)) >= 2)
    workers = _children(proc.pid)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143 and "interrupted; rerun to resume" in err
    _wait_until(lambda: not any(_alive(p) for p in workers), timeout=3)


def test_sigterm_during_judge_requests_exits_143_with_the_line(tmp_path, fake_openai):
    fake_openai.fault_rate, fake_openai.fault_kinds = 1.0, ("hang",)  # every request hangs
    preds = tmp_path / "p.jsonl"
    rows = [
        {
            "id": str(i),
            "db_id": "d",
            "question": "q",
            "context": DDL,
            "gold": "SELECT id FROM t",
            "sql": "SELECT id FROM t",
        }
        for i in range(3)
    ]
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env_key = "T2S_TEST_JUDGE_KEY"
    os.environ[env_key] = "sk-test"
    try:
        proc = _start(
            ["eval", str(preds), "--out", str(tmp_path / "o"), "--judge", "gpt-4o-mini"]
            + ["--judge-base-url", fake_openai.url, "--judge-api-key-env", env_key]
        )
        _wait_until(lambda: fake_openai.count() >= 1)  # a request is in flight
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        del os.environ[env_key]
    assert time.monotonic() - start < 5
    assert proc.returncode == 143 and "interrupted; rerun to resume" in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["infer", "filter"])
def test_sigterm_during_llm_requests_of_infer_and_filter_exits_143(tmp_path, fake_openai, command):
    fake_openai.fault_rate, fake_openai.fault_kinds = 1.0, ("hang",)  # every request hangs
    data = tmp_path / "d.jsonl"
    rows = [
        {"db_id": "d", "question": f"q{i}", "context": DDL, "answer": "SELECT id FROM t"} for i in range(3)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    if command == "infer":
        args = ["infer", "--backend", "openai", "--base-url", fake_openai.url, "--model-name", "served"]
        args += ["--data", str(data), "--out", str(tmp_path / "p.jsonl")]
    else:
        args = ["filter", str(data), "--out", str(tmp_path / "o"), "--judge", "served"]
        args += ["--judge-base-url", fake_openai.url]
    proc = _start(args)
    _wait_until(lambda: fake_openai.count() >= 1)  # a request is in flight
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 5
    assert proc.returncode == 143 and "interrupted; rerun to resume" in err and "Traceback" not in err, err
