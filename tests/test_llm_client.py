"""The shared OpenAI-compatible client against the local fake server: retries, limits, resume,
order, key safety, cost cap, dry run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from pydantic import SecretStr

from text2sql_cli.errors import ApiError, ConfigError, InputError
from text2sql_cli.llm_client import ClientConfig, Request, estimate, run_batch

pytestmark = pytest.mark.timeout(60)


def cfg_for(server: FakeOpenAI, **kw) -> ClientConfig:
    base = dict(
        model="gpt-4",
        base_url=server.url,
        rpm=60_000,
        tpm=None,
        timeout_s=2.0,
        backoff_s=0.02,
        max_attempts=5,
    )
    return ClientConfig(**{**base, **kw})


def reqs(n: int, prefix: str = "q") -> list[Request]:
    return [Request(f"{prefix}{i}", [{"role": "user", "content": f"<{prefix}{i}> hello"}]) for i in range(n)]


def run(server, requests, tmp_path, **kw):
    cfg_kw = {k: kw.pop(k) for k in list(kw) if k in ClientConfig.__dataclass_fields__}
    return run_batch(
        requests, cfg_for(server, **cfg_kw), cache_path=tmp_path / "cache.jsonl", progress=False, **kw
    )


def test_429_waits_for_retry_after(fake_openai, tmp_path):
    fake_openai.retry_after = "1"
    fake_openai.script("<q0>", ["429"])
    report = run(fake_openai, reqs(1), tmp_path)
    first, second = [r for r in fake_openai.seen if "<q0>" in r.prompt]
    assert report.results[0].status == "ok" and report.results[0].attempts == 2
    assert second.t - first.t >= 1.0


def test_500_and_503_are_retried(fake_openai, tmp_path):
    fake_openai.script("<q0>", ["500", "503"])
    report = run(fake_openai, reqs(1), tmp_path)
    assert report.results[0].status == "ok"
    assert fake_openai.count("<q0>") == 3


def test_dropped_connection_is_retried(fake_openai, tmp_path):
    fake_openai.script("<q0>", ["drop"])
    report = run(fake_openai, reqs(1), tmp_path)
    assert report.results[0].status == "ok" and fake_openai.count("<q0>") == 2


def test_hang_times_out_then_retries(fake_openai, tmp_path):
    fake_openai.script("<q0>", ["hang"])
    report = run(fake_openai, reqs(1), tmp_path, timeout_s=0.5)
    assert report.results[0].status == "ok" and fake_openai.count("<q0>") == 2
    first, retry = (r for r in fake_openai.seen if "<q0>" in r.prompt)
    # the client gave up on the hung request: its retry arrived while the server still held the first
    assert retry.t < first.t + fake_openai.hang_s


def test_malformed_body_is_retried(fake_openai, tmp_path):
    fake_openai.script("<q0>", ["bad_body"])
    report = run(fake_openai, reqs(1), tmp_path)
    assert report.results[0].status == "ok" and fake_openai.count("<q0>") == 2


def test_persistent_failure_is_error_with_reason(fake_openai, tmp_path):
    fake_openai.script("<q0>", ["500"] * 10)
    report = run(fake_openai, reqs(2), tmp_path, max_attempts=3)
    bad, good = report.results
    assert bad.status == "error" and "HTTP 500" in bad.reason and bad.value is None
    assert fake_openai.count("<q0>") == 3
    assert good.status == "ok"


def test_400_is_an_error_at_once(fake_openai, tmp_path):
    fake_openai.script("<q0>", ["400"] * 5)
    report = run(fake_openai, reqs(1), tmp_path)
    assert report.results[0].status == "error" and "HTTP 400" in report.results[0].reason
    assert fake_openai.count("<q0>") == 1


def test_401_stops_the_batch_with_api_error(fake_openai, tmp_path):
    fake_openai.script("<q", ["401"] * 10)
    with pytest.raises(ApiError, match="401"):
        run(fake_openai, reqs(20), tmp_path, concurrency=1)
    assert fake_openai.count() == 1


def test_malformed_content_is_unparseable_after_retries(fake_openai, tmp_path):
    fake_openai.script("<q0>", ["bad_content"] * 5)

    def parse(text):
        return json.loads(text)

    report = run(fake_openai, reqs(2), tmp_path, parse=parse, parse_attempts=3)
    bad, good = report.results
    assert bad.status == "unparseable" and bad.value is None and "malformed" in bad.reason
    assert fake_openai.count("<q0>") == 3
    assert good.status == "ok" and isinstance(good.value, dict)


def test_outputs_keep_input_order_and_each_id_once(fake_openai, tmp_path):
    for i in range(0, 30, 3):  # every third item fails first, so completion order differs
        fake_openai.script(f"<q{i}>", ["500"])
    requests = reqs(30)
    report = run(fake_openai, requests, tmp_path)
    assert [r.id for r in report.results] == [r.id for r in requests]
    assert all(r.status == "ok" and f"<{r.id}>" in r.text for r in report.results)
    again = run(fake_openai, requests, tmp_path)
    assert [r.id for r in again.results] == [r.id for r in requests] and again.sent == 0


def test_duplicate_ids_are_rejected(fake_openai, tmp_path):
    with pytest.raises(InputError, match="duplicate id"):
        run(fake_openai, reqs(2) + reqs(1), tmp_path)
    assert fake_openai.count() == 0


def test_rpm_paces_requests_evenly(fake_openai, tmp_path, monkeypatch):
    # The times the client lets each request go (its pacer's slots), not the fake server's accept
    # times: on a loaded machine the first call's cold start (client set-up) delays its arrival
    # until the second one's, though the client sent them 0.1 s apart.
    from text2sql_cli.llm_client import runner

    let_go: dict[str, float] = {}
    slot = runner._BatchRunner._slot

    async def timed_slot(self, job):
        let_go[job.req.id] = await slot(self, job)
        return let_go[job.req.id]

    monkeypatch.setattr(runner._BatchRunner, "_slot", timed_slot)
    run(fake_openai, reqs(6), tmp_path, rpm=600)  # one every 0.1 s
    times = sorted(let_go.values())
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) == 6 and min(gaps) >= 0.08 and times[-1] - times[0] >= 0.45
    arrived = {r.prompt.split(">")[0][1:]: r.t for r in fake_openai.seen}
    assert sorted(arrived) == sorted(let_go) and all(arrived[k] >= let_go[k] for k in let_go)  # sent after


CHILD = """
import sys
from pathlib import Path
from text2sql_cli.llm_client import ClientConfig, Request, run_batch
cfg = ClientConfig(model="gpt-4", base_url=sys.argv[1], rpm=60000, tpm=None, concurrency=1)
reqs = [Request(f"q{i}", [{"role": "user", "content": f"<q{i}> hello"}]) for i in range(40)]
run_batch(reqs, cfg, cache_path=Path(sys.argv[2]), progress=False)
"""


def test_resume_after_kill9_sends_only_missing(tmp_path):
    cache = tmp_path / "cache.jsonl"
    with FakeOpenAI(latency_s=0.05, lifetime_s=60) as server:
        child = subprocess.Popen([sys.executable, "-c", CHILD, server.url, str(cache)])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not cache.exists() or cache.read_text().count("\n") < 10):
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        cached = {json.loads(line)["id"] for line in cache.read_text().splitlines() if line.endswith("}")}
        assert 10 <= len(cached) < 40
        # The rerun's requests are told apart by their key, not by counting from now: the server
        # (a thread of this process) may record the killed child's last request only after this.
        report = run(server, reqs(40), tmp_path, api_key=SecretStr("rerun-key"))
        rerun = [r for r in server.seen if r.authorization == "Bearer rerun-key"]
    resent = [r.prompt.split(">")[0][1:] for r in rerun]
    assert sorted(resent) == sorted({f"q{i}" for i in range(40)} - cached)  # each missing row, once
    assert [r.id for r in report.results] == [f"q{i}" for i in range(40)]
    assert all(r.status == "ok" for r in report.results)


def test_openai_key_is_never_sent_to_another_base_url(fake_openai, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "Authorization: Bearer sk-openai-secret")
    cfg = ClientConfig.build("gpt-4", base_url=fake_openai.url, rpm=60_000)
    assert cfg.api_key is None
    run_batch(reqs(3), cfg, cache_path=tmp_path / "cache.jsonl", progress=False)
    assert [r.authorization for r in fake_openai.seen] == [None, None, None]
    assert "sk-openai-secret" not in (tmp_path / "cache.jsonl").read_text()


def test_key_given_for_the_url_is_sent_there(fake_openai, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("MY_VLLM_KEY", "vllm-key")
    cfg = ClientConfig.build("gpt-4", base_url=fake_openai.url, key_env="MY_VLLM_KEY", rpm=60_000)
    run_batch(reqs(1), cfg, cache_path=None, progress=False)
    cfg = ClientConfig.build("gpt-4", base_url=fake_openai.url, url_key=SecretStr("judge-key"), rpm=60_000)
    run_batch(reqs(1, "p"), cfg, cache_path=None, progress=False)
    assert [r.authorization for r in fake_openai.seen] == ["Bearer vllm-key", "Bearer judge-key"]
    assert "vllm-key" not in repr(cfg) and "judge-key" not in json.dumps(cfg.public_dump())


def test_missing_openai_key_says_how_to_set_it():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY") as err:
        ClientConfig.build("gpt-4")
    assert err.value.exit_code == 2


def test_openai_key_from_dotenv_is_used_for_openai(tmp_path):
    Path(".env").write_text("OPENAI_API_KEY=sk-from-dotenv\n")
    cfg = ClientConfig.build("gpt-4")
    assert cfg.api_key.get_secret_value() == "sk-from-dotenv"


def test_max_cost_stops_cleanly_and_resume_finishes(fake_openai, tmp_path):
    # ~1000 prompt tokens per request at $30/1M = ~$0.03 each; the cap allows about five.
    requests = [Request(i, [{"role": "user", "content": f"<r{i}> " + "x" * 4000}]) for i in range(20)]
    params = {"max_tokens": 10}
    report = run(fake_openai, requests, tmp_path, concurrency=1, max_cost=0.17, params=params)
    statuses = [r.status for r in report.results]
    assert report.stopped and "max-cost" in report.stopped
    assert 1 <= statuses.count("ok") < 20 and statuses.count("skipped") == 20 - statuses.count("ok")
    assert statuses == sorted(statuses)  # ok first: with one request in flight, in order
    assert report.cost <= 0.17
    sent = fake_openai.count()
    assert sent == statuses.count("ok")
    rest = run(fake_openai, requests, tmp_path, concurrency=1, params=params)
    assert fake_openai.count() - sent == statuses.count("skipped")
    assert all(r.status == "ok" for r in rest.results)


def test_estimate_sends_nothing(fake_openai, tmp_path):
    est = estimate(
        reqs(10), cfg_for(fake_openai), cache_path=tmp_path / "cache.jsonl", params={"max_tokens": 20}
    )
    assert fake_openai.count() == 0
    assert est.to_send == 10 and est.output_tokens == 200 and est.cost > 0
    assert "10 of 10 requests" in est.line()


def test_max_cost_needs_a_price(fake_openai):
    with pytest.raises(ConfigError, match="price"):
        ClientConfig.build("my-local-model", base_url=fake_openai.url, max_cost=1.0)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_endpoint_stops_the_batch_with_one_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    cfg = ClientConfig(
        model="gpt-4",
        base_url=url,
        rpm=60_000,
        tpm=None,
        timeout_s=2.0,
        backoff_s=0.02,
        max_attempts=3,
        concurrency=2,
    )
    with pytest.raises(ApiError) as err:
        run_batch(reqs(50), cfg, cache_path=tmp_path / "cache.jsonl", progress=False)
    message = str(err.value)
    assert message.startswith(f"cannot reach {url}: connection refused")
    assert "--base-url" in message and "\n" not in message


def test_refused_connection_after_an_answer_is_a_row_error_not_fatal(tmp_path, monkeypatch):
    from text2sql_cli.llm_client import runner
    from text2sql_cli.llm_client.limits import _Unreachable

    async def send(self, job, result):  # the server answers q0, then goes away
        if job.req.id == "q0":
            self.answered = True
            return "SELECT 1"
        raise _Unreachable("connection refused")

    monkeypatch.setattr(runner._BatchRunner, "_send", send)
    cfg = ClientConfig(
        model="gpt-4",
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        rpm=60_000,
        tpm=None,
        backoff_s=0.02,
        max_attempts=2,
        concurrency=1,
    )
    report = run_batch(reqs(3), cfg, cache_path=tmp_path / "cache.jsonl", progress=False)
    assert [r.status for r in report.results] == ["ok", "error", "error"]
    assert report.results[1].reason == "connection refused"
