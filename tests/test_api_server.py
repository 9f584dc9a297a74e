"""`t2s infer --backend openai` against a real OpenAI-compatible server: `transformers serve` (offline,
on 127.0.0.1) running a merged tiny model. The API backend must send the prompt the model was trained
with, so the hf and openai backends give the same generations, and a server's refusal must come
back as one line with the server's words and a hint."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests._tiny import SAMPLE, train_tiny, write_rows

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "NO_COLOR": "1",
    }


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(merged model dir, base URL) of a `transformers serve` of a trained and merged tiny model."""
    from text2sql_cli.data import load_examples
    from text2sql_cli.export import merge_run
    from text2sql_cli.prompts import TEMPLATES
    from text2sql_cli.tiny import build_tiny_model, corpus_for

    work = tmp_path_factory.mktemp("served")
    examples, _ = load_examples(SAMPLE, drop_na=True)
    # warmed up so that it writes SQL-shaped text (a random model writes the same token forever)
    base = build_tiny_model(
        work / "tiny",
        corpus_for(examples, TEMPLATES.values()),
        hidden_size=32,
        seed=0,
        pretrain_steps=80,
        pretrain_lr=1e-2,
    )
    run = train_tiny(base, work / "run", max_steps=4)
    merged = merge_run(run, work / "merged", dtype="float32", device="cpu")
    port = _free_port()
    log = open(work / "serve.log", "wb")  # noqa: SIM115 (held by the server process until teardown)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "transformers.cli.transformers",
            "serve",
            str(merged),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--device",
            "cpu",
            "--log-level",
            "warning",
        ],
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                urllib.request.urlopen(url + "/v1/models", timeout=5).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "transformers serve did not start:\n" + (work / "serve.log").read_text()
                    ) from None
                time.sleep(1)
        yield merged, url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _t2s(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "text2sql_cli", *args], env=_env(), capture_output=True, text=True, timeout=600
    )


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_hf_and_openai_backends_give_the_same_sql(served, tmp_path):
    merged, url = served
    data = write_rows(tmp_path / "q.jsonl", 6)
    common = ["--data", str(data), "--max-new-tokens", "48"]
    hf = _t2s(
        "infer", "--model", str(merged), "--precision", "fp32", "--out", str(tmp_path / "hf.jsonl"), *common
    )
    assert hf.returncode == 0, hf.stderr
    api = _t2s(
        "infer",
        "--backend",
        "openai",
        "--model",
        str(merged),
        "--model-name",
        str(merged),
        "--base-url",
        url + "/v1",
        "--out",
        str(tmp_path / "api.jsonl"),
        *common,
    )
    assert api.returncode == 0, api.stderr
    local, remote = _rows(tmp_path / "hf.jsonl"), _rows(tmp_path / "api.jsonl")
    assert [r["id"] for r in local] == [r["id"] for r in remote]
    assert [r["sql"] for r in remote] == [r["sql"] for r in local]
    # the server stops at the template's marker (and may drop it): the text before it is the same
    for a, b in zip(local, remote):
        assert a["raw"].split("###")[0] == b["raw"].split("###")[0]
    assert any(r["sql"] for r in local), "the warmed-up model should write some SQL-shaped text"
    assert len({r["raw"] for r in local}) > 1, "different questions should get different generations"
    sidecar = (tmp_path / "api.jsonl.meta.json").read_text(encoding="utf-8")
    assert '"endpoint": "/v1/completions"' in sidecar


def test_base_url_without_v1_gets_a_hint(served, tmp_path):
    merged, url = served
    data = write_rows(tmp_path / "q.jsonl", 2)
    out = _t2s(
        "infer",
        "--backend",
        "openai",
        "--model",
        str(merged),
        "--model-name",
        str(merged),
        "--base-url",
        url,
        "--data",
        str(data),
        "--out",
        str(tmp_path / "p.jsonl"),
    )
    assert out.returncode != 0
    assert "HTTP 404" in out.stderr and f"try --base-url {url}/v1" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_model_name_shows_the_servers_words_and_a_hint(served, tmp_path):
    merged, url = served
    data = write_rows(tmp_path / "q.jsonl", 2)
    out = _t2s(
        "infer",
        "--backend",
        "openai",
        "--model",
        str(merged),
        "--model-name",
        "no-such-model",
        "--base-url",
        url + "/v1",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "p.jsonl"),
    )
    assert out.returncode != 0
    assert "HTTP 400" in out.stderr and "requested 'no-such-model'" in out.stderr  # transformers serve's text
    assert "check --model-name" in out.stderr and "Traceback" not in out.stderr
