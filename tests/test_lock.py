"""One run per --out: a second run refuses naming the holder; stale locks are taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from text2sql_cli import lock
from text2sql_cli.errors import UsageError


@pytest.fixture(autouse=True)
def _release():
    yield
    lock.release_all()


def _write_holder(path, pid, host=None):
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "started": "earlier"}))


def test_second_holder_is_refused_naming_pid_and_host(tmp_path):
    out = tmp_path / "eval"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_holder(lock.lock_path(out), sleeper.pid)
        with pytest.raises(UsageError) as err:
            lock.hold(out)
        assert f"PID {sleeper.pid} on {socket.gethostname()}" in str(err.value)
        assert "\n" not in str(err.value)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    out = tmp_path / "preds.jsonl"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _write_holder(lock.lock_path(out), dead.pid)
    assert lock.hold(out) == lock.lock_path(out)
    assert json.loads(lock.lock_path(out).read_text())["pid"] == os.getpid()


def test_lock_from_another_host_is_refused_with_how_to_remove_it(tmp_path):
    out = tmp_path / "eval"
    _write_holder(lock.lock_path(out), 12345, host="elsewhere")
    with pytest.raises(UsageError, match="remove .*t2s.lock if that run is gone"):
        lock.hold(out)


def test_release_removes_only_our_lock_and_creates_nothing_in_out(tmp_path):
    out = tmp_path / "eval"
    lock.hold(out)
    assert not out.exists() and lock.lock_path(out).exists()
    lock.release_all()
    assert not lock.lock_path(out).exists()


def test_second_eval_on_the_same_out_exits_2_naming_the_holder(tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    preds = tmp_path / "p.jsonl"
    preds.write_text(
        json.dumps(
            {
                "id": "1",
                "db_id": "d",
                "context": "CREATE TABLE t (a INT);",
                "gold": "SELECT a FROM t",
                "sql": "SELECT a FROM t",
            }
        )
        + "\n"
    )
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_holder(lock.lock_path(tmp_path / "out"), sleeper.pid)
        result = CliRunner().invoke(
            app, ["eval", str(preds), "--out", str(tmp_path / "out"), "--metric", "ex"]
        )
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.exit_code == 2
    assert f"in use by another t2s run (PID {sleeper.pid}" in result.output
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_second_train_on_the_same_out_exits_2_before_any_model_loads(tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    data = tmp_path / "train.jsonl"
    row = {"db_id": "d", "context": "CREATE TABLE t (a INT);", "question": "a?", "answer": "SELECT a FROM t"}
    data.write_text(json.dumps(row) + "\n")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_holder(lock.lock_path(tmp_path / "run"), sleeper.pid)
        args = ["train", "--base", str(tmp_path / "no-such-model"), "--data", str(data)]
        result = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "run"), "--quant", "none"])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.exit_code == 2
    assert f"in use by another t2s run (PID {sleeper.pid}" in result.output
    assert not (tmp_path / "run").exists()
