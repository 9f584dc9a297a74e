"""Pipe mode on a terminal: an interactive session (one question a line, the SQL printed, Ctrl-D
ends); a missing schema is reported before any model loads."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from tests.fake_openai import fake_openai  # noqa: F401 (fixture)
from text2sql_cli.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_piped_text_without_a_schema_fails_before_the_model_loads():
    result = runner.invoke(app, ["infer", "--model", "no/such-model-dir"], input="How many heroes?\n")
    assert result.exit_code == 2
    assert "questions on stdin need a schema" in result.output and "no/such" not in result.output


def _run_on_a_terminal(args: list[str], questions: list[str], timeout: float = 120) -> tuple[int, str, str]:
    leader, follower = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "text2sql_cli", "infer", *args],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(follower)
    answers = []
    try:
        for question in questions:
            os.write(leader, question.encode() + b"\n")
            deadline = time.monotonic() + timeout
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, "no answer printed for a question typed on the terminal"
            answers.append(proc.stdout.readline().decode())
        os.write(leader, b"\x04")  # Ctrl-D
        rest, err = proc.communicate(timeout=timeout)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(answers) + rest.decode(), err.decode()


def test_a_terminal_without_a_schema_is_told_so_before_the_model_loads():
    code, _, err = _run_on_a_terminal(["--model", "no/such-model-dir"], [])
    assert code == 2 and "an interactive session needs a schema" in err and "no/such" not in err


def test_a_terminal_gets_an_interactive_session(fake_openai, tmp_path):  # noqa: F811
    fake_openai.answer = lambda prompt: "SELECT COUNT(*) FROM heroes" if "heroes" in prompt else "SELECT 1"
    ddl = tmp_path / "schema.sql"
    ddl.write_text("CREATE TABLE heroes (id INT);", encoding="utf-8")
    args = ["--backend", "openai", "--base-url", fake_openai.url, "--model-name", "m", "--ddl", str(ddl)]
    code, out, err = _run_on_a_terminal(args, ["How many heroes?", "Anything?"])
    assert code == 0, err
    assert out.splitlines() == ["SELECT COUNT(*) FROM heroes", "SELECT COUNT(*) FROM heroes"]
    assert "Ctrl-D ends" in err and "answered 2" in err
