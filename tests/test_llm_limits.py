"""Limits learned from x-ratelimit-* headers, 429 slow-down and recovery, token accounting, the
adaptive timeout and hedging (llm_client.limits + runner) against the local fake server."""

from __future__ import annotations

import json
import time

import pytest
from fake_openai import FakeOpenAI, format_duration

from text2sql_cli.llm_client import ClientConfig, Request, run_batch
from text2sql_cli.llm_client.limits import (
    DEFAULT_RPM,
    HEADROOM,
    SLOWDOWN,
    Announced,
    _Latency,
    _Limits,
    parse_duration,
)

pytestmark = pytest.mark.timeout(60)


def reqs(n: int, prefix: str = "q") -> list[Request]:
    return [Request(f"{prefix}{i}", [{"role": "user", "content": f"<{prefix}{i}> hello"}]) for i in range(n)]


def run(server, requests, tmp_path, **kw):
    cfg = ClientConfig(
        **{"model": "gpt-4", "base_url": server.url, "backoff_s": 0.02, "max_attempts": 5, **kw}
    )
    return run_batch(requests, cfg, cache_path=tmp_path / "cache.jsonl", progress=False)


@pytest.mark.parametrize(
    "text, seconds",
    [("6m0s", 360.0), ("1s", 1.0), ("250ms", 0.25), ("1h2m3.5s", 3723.5), ("0.5", 0.5), ("20ms", 0.02)],
)
def test_reset_durations_parse(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "soon", "5 minutes", "1x"])
def test_unreadable_durations_are_none(text):
    assert parse_duration(text) is None


def test_fake_server_durations_read_back():
    for seconds in (0.25, 1.0, 59.5, 360.0):
        assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, abs=0.001)


def test_announced_limits_replace_the_defaults():
    limits = _Limits(None, None)
    assert limits.rpm() == DEFAULT_RPM
    limits.observe({"x-ratelimit-limit-requests": "10000", "x-ratelimit-limit-tokens": "2000000"})
    assert limits.rpm() == pytest.approx(10000 * HEADROOM)
    assert limits.tpm() == pytest.approx(2_000_000 * HEADROOM)


def test_user_limits_are_upper_bounds():
    limits = _Limits(300, 1000)
    limits.observe({"x-ratelimit-limit-requests": "10000", "x-ratelimit-limit-tokens": "2000000"})
    assert (limits.rpm(), limits.tpm()) == (300, 1000)
    limits.observe({"x-ratelimit-limit-requests": "100"})  # the server allows less: it wins
    assert limits.rpm() == pytest.approx(100 * HEADROOM)


def test_no_headers_keeps_configured_limits():
    limits = _Limits(120, None)
    limits.observe({"content-type": "application/json"})
    assert limits.rpm() == 120 and Announced.read({}) is None


def test_a_burst_of_429s_to_requests_sent_before_the_cut_cuts_once():
    limits = _Limits(600, None)
    sent = time.monotonic()
    for _ in range(5):  # five requests in flight together, all answered 429
        limits.slow_down(sent)
    assert limits.rpm() == pytest.approx(600 * SLOWDOWN)
    limits.slow_down(time.monotonic())  # a request sent after the cut: the pace is still too fast
    assert limits.rpm() == pytest.approx(600 * SLOWDOWN**2)


def test_429_slows_the_pace_and_answers_restore_it():
    limits = _Limits(600, None)
    limits.slow_down()
    limits.slow_down()
    assert limits.rpm() == pytest.approx(600 * SLOWDOWN**2) and SLOWDOWN < 1
    for _ in range(20):
        limits.answered()
    assert limits.rpm() == 600


def test_tokens_are_paced_as_prompt_plus_max_tokens():
    limits = _Limits(None, 6000)  # 100 tokens a second
    starts = [limits.reserve(100, 0.0) for _ in range(3)]  # e.g. 40 prompt + max_tokens 60
    assert starts == pytest.approx([0.0, 1.0, 2.0])


def test_adaptive_timeout_is_a_multiple_of_the_p95_within_floor_and_ceiling():
    latency = _Latency(floor_s=1.0, ceiling_s=60.0)
    assert latency.timeout() == 60.0  # nothing observed yet: the configured timeout
    for _ in range(50):
        latency.add(0.2)
    assert latency.timeout() == 1.0  # 3 x 0.2 is under the floor
    for _ in range(200):
        latency.add(2.0)
    assert latency.timeout() == pytest.approx(6.0)
    for _ in range(200):
        latency.add(100.0)
    assert latency.timeout() == 60.0


def test_no_copy_is_sent_before_half_a_second_however_fast_the_server():
    latency = _Latency(floor_s=1.0, ceiling_s=60.0)
    assert latency.hedge_after() is None  # no p95 yet: no hedging
    for _ in range(50):
        latency.add(0.002)
    assert latency.hedge_after() == 0.5
    for _ in range(200):
        latency.add(2.0)
    assert latency.hedge_after() == pytest.approx(3.0)


def test_client_paces_to_the_announced_limit_without_flags(tmp_path, monkeypatch):
    # 6000 rpm announced: far above the 500 rpm default. The pace each request is reserved at is
    # recorded, not the batch's wall-clock time, which a loaded machine stretches whatever the pace.
    paces: list[float] = []
    reserve = _Limits.reserve

    def recorded(self, tokens, now):
        paces.append(self.rpm())
        return reserve(self, tokens, now)

    monkeypatch.setattr(_Limits, "reserve", recorded)
    with FakeOpenAI(rpm=6000, lifetime_s=60) as server:
        report = run(server, reqs(40), tmp_path)
    assert [r.status for r in report.results] == ["ok"] * 40
    assert paces[0] == DEFAULT_RPM  # nothing announced before the first answer
    assert max(paces) == paces[-1] == 6000 * HEADROOM  # then the announced limit, never above it
    assert sum(p == 6000 * HEADROOM for p in paces) >= 30  # from the first answers on
    assert server.rate_limited == 0


def test_server_limit_is_respected_when_lower_than_the_default(tmp_path):
    with FakeOpenAI(rpm=300, lifetime_s=60) as server:  # 5 a second, bursts of 5
        report = run(server, reqs(30), tmp_path)
    assert [r.status for r in report.results] == ["ok"] * 30
    # Before the first answer the client paces at its default; after it, at the server's limit.
    assert server.rate_limited <= 2


def test_every_answer_carries_the_rate_limit_headers(tmp_path):
    import urllib.request

    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}
    with FakeOpenAI(rpm=600, tpm=90_000, lifetime_s=60) as server:
        request = urllib.request.Request(
            server.url + "/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            resp.read()
    assert resp.headers["x-ratelimit-limit-requests"] == "600"
    assert resp.headers["x-ratelimit-limit-tokens"] == "90000"
    assert int(resp.headers["x-ratelimit-remaining-tokens"]) <= 90_000 - 50
    assert parse_duration(resp.headers["x-ratelimit-reset-requests"]) is not None


def test_adaptive_timeout_catches_a_hang_in_a_running_batch(tmp_path):
    with FakeOpenAI(hang_s=40, lifetime_s=60) as server:
        server.script("<q30>", ["hang"])
        started = time.monotonic()
        report = run(server, reqs(40), tmp_path, rpm=60_000, timeout_s=30.0, timeout_floor_s=0.5, hedge=False)
        took = time.monotonic() - started
    q30 = report.results[30]
    assert (q30.status, q30.attempts) == ("ok", 2)
    assert took < 10  # cut after ~0.5 s, not the 30 s ceiling


def test_hedge_answers_a_hung_request_from_its_copy(tmp_path):
    # The last row: a copy is sent only when no other row waits for the rate budget.
    with FakeOpenAI(hang_s=40, lifetime_s=60) as server:
        server.script("<q39>", ["hang"])
        started = time.monotonic()
        report = run(server, reqs(40), tmp_path, rpm=60_000, timeout_s=30.0, timeout_floor_s=20.0, hedge=True)
        took = time.monotonic() - started
        copies = server.count("<q39>")
    q39 = report.results[39]
    assert (q39.status, q39.attempts) == ("ok", 1)  # one attempt, answered by the second copy
    assert copies == 2
    assert report.sent == 41  # the copy counts as a request
    assert took < 10  # neither the 20 s floor nor the 30 s ceiling was waited out


def test_a_429_delays_its_request_not_the_others(tmp_path):
    with FakeOpenAI(lifetime_s=60, retry_after="1") as server:
        server.script("<q2>", ["429"])
        report = run(server, reqs(20), tmp_path, rpm=1200)  # one every 0.05 s: ~1 s for all
        first_429 = next(r.t for r in server.seen if r.fault == "429")
        retried = [r.t for r in server.seen if "<q2>" in r.prompt][1]
        meanwhile = [r for r in server.seen if first_429 < r.t < retried]
    assert [r.status for r in report.results] == ["ok"] * 20
    assert retried - first_429 >= 1.0  # the Retry-After was honoured for q2
    assert len(meanwhile) >= 10  # the rest went on (at a reduced pace), no global stall


def test_max_tokens_counts_against_the_token_limit(tmp_path):
    # 6000 tokens/minute = 100 a second; each request is ~3 prompt tokens + max_tokens 50, so the
    # server takes about two a second. Counting only the prompt would send ~8 a second: 429s.
    with FakeOpenAI(tpm=6000, lifetime_s=60) as server:
        cfg = ClientConfig(model="gpt-4", base_url=server.url, backoff_s=0.02, max_attempts=5)
        report = run_batch(
            reqs(8), cfg, cache_path=tmp_path / "c.jsonl", params={"max_tokens": 50}, progress=False
        )
    assert [r.status for r in report.results] == ["ok"] * 8
    assert server.rate_limited <= 1  # at most one, sent before the first answer told the limit


@pytest.mark.parametrize(
    "headers, seconds",
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "1500", "retry-after": "2"}, 1.5),  # the finer one wins
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after_headers_are_read(headers, seconds):
    from text2sql_cli.llm_client import _retry_after

    assert _retry_after(headers) == (None if seconds is None else pytest.approx(seconds))


def test_limiter_429s_are_retried_once_each_and_nothing_is_lost(tmp_path):
    # A user bound above the server's limit: the client learns 120 rpm from the headers, but the
    # first requests (paced at the user's 6000 rpm before any answer) hit the per-second limit.
    with FakeOpenAI(rpm=120, lifetime_s=60) as server:
        report = run(server, reqs(6), tmp_path, rpm=6000)
        limited, sent = server.rate_limited, server.count()
    assert [r.status for r in report.results] == ["ok"] * 6
    assert limited >= 1 and sent == 6 + limited  # each 429 cost one retry, nothing else
