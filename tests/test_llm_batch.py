"""The Batch API path (llm_client.batch) against the fake server's files and batches endpoints:
submit, poll, merge by custom_id, resume polling after a kill, retries online or in a new batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from fake_openai import FakeOpenAI

from text2sql_cli.llm_client import ClientConfig, ParseError, Request, estimate, run_batch
from text2sql_cli.llm_client.batch import run_batch_api
from text2sql_cli.llm_client.cache import load_batches

pytestmark = pytest.mark.timeout(60)


def reqs(n: int) -> list[Request]:
    return [Request(f"q{i}", [{"role": "user", "content": f"<q{i}> hello"}]) for i in range(n)]


def cfg_for(server: FakeOpenAI, **kw) -> ClientConfig:
    return ClientConfig(
        **{"model": "gpt-4", "base_url": server.url, "backoff_s": 0.02, "max_attempts": 4, **kw}
    )


def run(server, requests, tmp_path, **kw):
    return run_batch_api(
        requests, cfg_for(server), cache_path=tmp_path / "cache.jsonl", poll_s=0.01, progress=False, **kw
    )


def strict_json(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(str(err)) from None


def test_batch_answers_every_row_in_order_after_polling(tmp_path):
    with FakeOpenAI(batch_polls=3, lifetime_s=60) as server:
        report = run(server, reqs(30), tmp_path)
        batches = list(server.batches.values())
        chat = [r for r in server.seen if r.path != "batch"]
    assert [r.id for r in report.results] == [f"q{i}" for i in range(30)]
    assert all(r.status == "ok" and "<q" in r.text for r in report.results)
    assert len(batches) == 1 and batches[0]["polls"] == 3 and batches[0]["status"] == "completed"
    assert chat == [] and report.sent == 30


def test_batch_costs_half_the_online_price(tmp_path):
    with FakeOpenAI(lifetime_s=60) as server:
        online = run_batch(
            reqs(10), cfg_for(server, rpm=60_000), cache_path=tmp_path / "o.jsonl", progress=False
        )
        batch = run(server, reqs(10), tmp_path)
        full = estimate(reqs(10), cfg_for(server))
        assert estimate(reqs(10), cfg_for(server), batch=True).cost == pytest.approx(full.cost / 2)
    assert batch.cost == pytest.approx(online.cost / 2) and batch.cost > 0


def test_rerun_after_a_finished_batch_submits_nothing(tmp_path):
    with FakeOpenAI(lifetime_s=60) as server:
        run(server, reqs(10), tmp_path)
        again = run(server, reqs(10), tmp_path)
        assert len(server.batches) == 1 and len(server.files) == 2  # the input and the output file
    assert all(r.cached and r.status == "ok" for r in again.results) and again.sent == 0


CHILD = """
import sys
from pathlib import Path
from text2sql_cli.llm_client import ClientConfig, Request
from text2sql_cli.llm_client.batch import run_batch_api
cfg = ClientConfig(model="gpt-4", base_url=sys.argv[1])
reqs = [Request(f"q{i}", [{"role": "user", "content": f"<q{i}> hello"}]) for i in range(20)]
run_batch_api(reqs, cfg, cache_path=Path(sys.argv[2]), poll_s=30, progress=False)
"""


def test_kill_during_polling_then_rerun_resumes_the_same_batch(tmp_path):
    cache = tmp_path / "cache.jsonl"
    with FakeOpenAI(batch_polls=3, lifetime_s=60, batch_fault_rate=0.3, batch_fault_kinds=("500",)) as server:
        child = subprocess.Popen([sys.executable, "-c", CHILD, server.url, str(cache)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(b.get("batch_id") for b in load_batches(cache)):
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert len(server.batches) == 1
        report = run(server, reqs(20), tmp_path)
        assert len(server.batches) == 1  # polled again, not submitted again
        batch = next(iter(server.batches.values()))
        online = [r for r in server.seen if r.path != "batch"]
    assert batch["status"] == "completed" and batch["request_counts"]["failed"] == len(online) > 0
    assert [r.status for r in report.results] == ["ok"] * 20  # the failed lines went online
    assert load_batches(cache) == []  # merged


def test_uploaded_but_uncreated_batch_is_found_or_created_from_the_same_file(tmp_path):
    cache = tmp_path / "cache.jsonl"
    with FakeOpenAI(lifetime_s=60) as server:
        run(server, reqs(5), tmp_path)
        # A second cache that saw only the upload (the run died before the batch id came back).
        batch = next(iter(server.batches.values()))
        keys = next(iter(load_batches(cache, include_merged=True)))["keys"]
        other = tmp_path / "other"
        other.mkdir()
        (other / "cache.jsonl").write_text(
            json.dumps({"batch": "uploaded", "input_file_id": batch["input_file_id"], "keys": keys}) + "\n"
        )
        report = run(server, reqs(5), other)
        assert len(server.batches) == 1  # found by its input file, not created again
    assert [r.status for r in report.results] == ["ok"] * 5


def test_failed_lines_are_retried_online(tmp_path):
    with FakeOpenAI(lifetime_s=60, batch_fault_rate=0.4, batch_fault_kinds=("500", "expire")) as server:
        report = run(server, reqs(30), tmp_path, retry="online")
        online = [r for r in server.seen if r.path != "batch"]
        assert len(server.batches) == 1
    assert [r.status for r in report.results] == ["ok"] * 30
    assert 0 < len(online) < 30  # only the failed lines went online


def test_failed_lines_are_retried_in_a_new_batch(tmp_path):
    with FakeOpenAI(lifetime_s=60, batch_fault_rate=0.4, batch_fault_kinds=("500", "expire")) as server:
        report = run(server, reqs(30), tmp_path, retry="batch")
        online = [r for r in server.seen if r.path != "batch"]
        sizes = [b["request_counts"]["total"] for b in server.batches.values()]
    assert [r.status for r in report.results] == ["ok"] * 30
    assert online == [] and len(sizes) >= 2 and sizes[1] < 30


def test_unparseable_batch_reply_is_reasked_then_unparseable_never_a_value(tmp_path):
    with FakeOpenAI(lifetime_s=60, batch_fault_rate=1.0, batch_fault_kinds=("bad_content",)) as server:
        report = run(server, reqs(3), tmp_path, retry="batch", parse=strict_json, parse_attempts=2)
        assert len(server.batches) == 2
    assert [r.status for r in report.results] == ["unparseable"] * 3
    assert all(r.value is None and "malformed reply" in r.reason for r in report.results)


def test_a_400_line_is_an_error_at_once(tmp_path):
    with FakeOpenAI(lifetime_s=60, batch_fault_rate=1.0, batch_fault_kinds=("400",)) as server:
        report = run(server, reqs(3), tmp_path, retry="batch")
        assert len(server.batches) == 1
    assert [r.status for r in report.results] == ["error"] * 3
    assert all("HTTP 400" in r.reason for r in report.results)


def test_cost_cap_submits_what_fits_and_skips_the_rest(tmp_path):
    with FakeOpenAI(lifetime_s=60) as server:
        cfg = cfg_for(server, max_cost=0.02)  # gpt-4 at half price: ~0.008 USD a row (256 out)
        report = run_batch_api(reqs(5), cfg, cache_path=tmp_path / "cache.jsonl", poll_s=0.01, progress=False)
        submitted = next(iter(server.batches.values()))["request_counts"]["total"]
    statuses = [r.status for r in report.results]
    assert submitted == statuses.count("ok") and 0 < submitted < 5
    assert statuses[submitted:] == ["skipped"] * (5 - submitted)
    assert report.stopped == "stopped at --max-cost $0.02"
