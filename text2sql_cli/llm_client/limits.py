"""Rate limits learned from the server, adaptive timeouts and retry classification.

`_Limits` paces requests and tokens (GCRA, no burst) at the limits the server announces in its
`x-ratelimit-*` headers (OpenAI's: limit / remaining / reset for requests and tokens, durations like
`6m0s`, `1s`, `250ms`). A user's --rpm / --tpm are upper bounds the pace never passes; a server that
announces nothing is paced at those, else at DEFAULT_RPM / DEFAULT_TPM (the concurrency cap applies
either way). Tokens are counted as the provider counts them before a call: prompt + max_tokens
(without max_tokens: the prompt, and the reply's tokens once known).
A 429 slows the pace (multiplicative decrease); each answered request brings it back (additive
increase). The request that got the 429 waits its Retry-After; the others keep going.

`_Latency` keeps the recent latencies of answered requests: the per-request timeout is a multiple of
their p95 (with a floor, and the configured timeout as ceiling), so a hung request is given up in
seconds instead of after the full timeout; it also gives the delay after which a request is hedged
(a second copy is sent, first answer wins: on by default, measured faster in benchmarks/RESULTS.md).

`_classify` maps an HTTP error to `_Retry` (408/409/429/5xx, honouring Retry-After), `_Fatal`
(401/403/404: stop the batch) or `_NoRetry` (other 4xx). `_unreachable` tells a refused connection or
unknown host (`_Unreachable`) from a dropped one (a server that is there: retried per row).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_RPM = 500  # pace for a server that announces no limits and a user who set none
DEFAULT_TPM = 150_000
# Pace at the announced limit itself: providers enforce it with a bucket that holds about a second
# of allowance, which absorbs requests arriving a few ms early (network jitter). A server that
# counts in fixed windows may still answer 429 at a window's edge; the 429 slows the pace.
HEADROOM = 1.0
# A 429 cuts the pace by a fifth and each answer gives back 5 points (four answers undo one 429):
# with the limits already learned from the headers, a lone 429 is more often a hiccup than a sign
# that the pace is wrong, and a deeper cut costs every later request; 429s in a row still compound
# (0.8^k), and a server whose `remaining` count reaches 0 is slowed the same way.
SLOWDOWN = 0.8
RECOVERY = 0.05
MIN_FACTOR = 0.1

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str | None) -> float | None:
    """Seconds in an OpenAI reset header: '6m0s' -> 360, '1s' -> 1, '250ms' -> 0.25, '1h2m3.5s',
    or a bare number of seconds. None when absent or unreadable."""
    if text is None:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


@dataclass(frozen=True)
class Announced:
    """What one response's x-ratelimit-* headers say (None: not sent)."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None

    @classmethod
    def read(cls, headers: Mapping[str, str]) -> Announced | None:
        def num(name: str) -> int | None:
            try:
                return int(float(headers.get(f"x-ratelimit-{name}", "")))
            except ValueError:
                return None

        got = cls(
            num("limit-requests"),
            num("remaining-requests"),
            parse_duration(headers.get("x-ratelimit-reset-requests")),
            num("limit-tokens"),
            num("remaining-tokens"),
            parse_duration(headers.get("x-ratelimit-reset-tokens")),
        )
        return None if got == cls() else got


class _Pacer:
    """Even spacing at `per_minute` units (GCRA without burst): each reservation of `cost` units
    starts no earlier than the previous one plus cost * 60 / per_minute seconds."""

    def __init__(self, per_minute: float):
        self.interval = 60.0 / per_minute
        self.next_at = 0.0

    def set_rate(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute

    def reserve(self, cost: float, now: float) -> float:
        start = max(now, self.next_at)
        self.next_at = start + cost * self.interval
        return start

    def refund(self, cost: float) -> None:
        self.next_at -= cost * self.interval

    def delay(self, seconds: float) -> None:
        self.next_at += seconds


class _Limits:
    """The pace of one batch: announced limits (x-ratelimit-*) capped by the user's, else the
    user's, else the defaults; times a factor that a 429 lowers and answers restore."""

    def __init__(self, rpm_cap: float | None, tpm_cap: float | None):
        self.rpm_cap, self.tpm_cap = rpm_cap, tpm_cap
        self.announced_rpm: int | None = None
        self.announced_tpm: int | None = None
        self.factor = 1.0
        self.cut_at = float("-inf")  # when the pace was last cut
        self.requests = _Pacer(self.rpm())
        self.tokens = _Pacer(self.tpm())

    def rpm(self) -> float:
        return self._pace(self.announced_rpm, self.rpm_cap, DEFAULT_RPM)

    def tpm(self) -> float:
        return self._pace(self.announced_tpm, self.tpm_cap, DEFAULT_TPM)

    def _pace(self, announced: int | None, cap: float | None, default: float) -> float:
        if announced is not None:
            base = announced * HEADROOM if cap is None else min(announced * HEADROOM, cap)
        else:
            base = cap if cap is not None else default
        return max(base * self.factor, 1e-3)

    def reserve(self, tokens: int, now: float) -> float:
        """When a request of `tokens` (prompt + max_tokens) may start."""
        return max(self.requests.reserve(1, now), self.tokens.reserve(tokens, now))

    def released(self, start: float, at: float) -> None:
        """A request reserved to start at `start` went out at `at` (monotonic), later when a loaded
        machine wakes its sleep late: the next slots move by as much, so a late request and an
        on-time one never go out closer than the pace allows."""
        if at > start:
            self.requests.delay(at - start)
            self.tokens.delay(at - start)

    def correct_tokens(self, delta: float) -> None:
        """Once the usage is known: charge `delta` more tokens (or give back -delta) than were
        reserved before the call (our prompt estimate is high; without max_tokens, the reply's
        tokens are only known afterwards)."""
        self.tokens.refund(-delta)

    def observe(self, headers: Mapping[str, str], sent_at: float = float("inf")) -> None:
        seen = Announced.read(headers)
        if seen is None:
            return
        if seen.limit_requests:
            self.announced_rpm = seen.limit_requests
        if seen.limit_tokens:
            self.announced_tpm = seen.limit_tokens
        if seen.remaining_requests == 0 or seen.remaining_tokens == 0:
            # The server's count is ahead of ours (another client on the same key, or a pace
            # faster than it counts): slow down before it answers 429.
            self.slow_down(sent_at)
        self._apply()

    def slow_down(self, sent_at: float = float("inf")) -> None:
        """Cut the pace for a 429 to a request sent at `sent_at` (monotonic). A request sent
        before the last cut reports the old pace, so its 429 does not cut again (as TCP halves its
        window once per round trip): a burst of 429s costs one cut, not one each."""
        if sent_at < self.cut_at:
            return
        self.factor = max(MIN_FACTOR, self.factor * SLOWDOWN)
        self.cut_at = time.monotonic()
        self._apply()

    def answered(self) -> None:
        if self.factor < 1.0:
            self.factor = min(1.0, self.factor + RECOVERY)
            self._apply()

    def _apply(self) -> None:
        self.requests.set_rate(self.rpm())
        self.tokens.set_rate(self.tpm())

    def describe(self) -> dict[str, Any]:
        return {
            "rpm": round(self.rpm(), 1),
            "tpm": round(self.tpm()),
            "announced": self.announced_rpm is not None,
        }


class _Latency:
    """Recent latencies of answered requests -> the adaptive timeout and the hedge delay.

    timeout = clamp(TIMEOUT_P95_MULTIPLE x p95, floor, ceiling): a request running three times
    longer than 95 % of its peers is almost surely hung (a dropped answer, a stuck worker), and
    retrying it costs one request where waiting costs up to the full ceiling. Until MIN_SAMPLES
    answers are in, the ceiling (the configured timeout) applies."""

    MIN_SAMPLES = 20
    WINDOW = 200
    TIMEOUT_P95_MULTIPLE = 3.0
    HEDGE_P95_MULTIPLE = 1.5
    HEDGE_MIN_S = 0.5

    def __init__(self, floor_s: float, ceiling_s: float):
        self.floor_s, self.ceiling_s = min(floor_s, ceiling_s), ceiling_s
        self.samples: deque[float] = deque(maxlen=self.WINDOW)
        self._p95: float | None = None

    def add(self, seconds: float) -> None:
        self.samples.append(seconds)
        self._p95 = None

    def p95(self) -> float | None:
        if len(self.samples) < self.MIN_SAMPLES:
            return None
        if self._p95 is None:
            ordered = sorted(self.samples)
            self._p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        return self._p95

    def timeout(self) -> float:
        p95 = self.p95()
        if p95 is None:
            return self.ceiling_s
        return min(self.ceiling_s, max(self.floor_s, self.TIMEOUT_P95_MULTIPLE * p95))

    def hedge_after(self) -> float | None:
        """When to send a second copy: HEDGE_P95_MULTIPLE x p95, but never before HEDGE_MIN_S (a
        copy is paid; against a server answering in milliseconds, a scheduling hiccup is no hang)."""
        p95 = self.p95()
        return None if p95 is None else max(self.HEDGE_MIN_S, self.HEDGE_P95_MULTIPLE * p95)


class _Retry(Exception):
    def __init__(self, reason: str, wait_s: float | None = None, rate_limited: bool = False):
        super().__init__(reason)
        self.reason, self.wait_s, self.rate_limited = reason, wait_s, rate_limited


class _NoRetry(Exception):
    """A 4xx that will not change on retry (e.g. 400 context too long): error at once."""


class _Fatal(Exception):
    """401/403/404: every request would fail the same way, so the batch stops."""


class _Unreachable(_Retry):
    """The connection could not be opened (refused, unknown host). Retried like any drop; once a
    request has used up its attempts and no request of the batch has been answered, the endpoint
    is taken to be down and the batch stops (see _BatchRunner._attempt)."""


def _unreachable(err: BaseException) -> str | None:
    """Why a connection error means no server at all ("connection refused", "unknown host"), or
    None for one that can hit a live server (a dropped connection, a timeout)."""
    import socket

    seen: list[BaseException] = []
    cause: BaseException | None = err
    while cause is not None and cause not in seen and len(seen) < 16:
        seen.append(cause)
        cause = cause.__cause__ or cause.__context__
    if any(isinstance(e, ConnectionRefusedError) for e in seen):
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in seen):
        return "unknown host"
    if any(type(e).__name__ == "ConnectError" for e in seen):  # httpx: could not open a connection
        return f"could not connect ({seen[-1]})"
    return None


def _classify(err: Any) -> Exception:
    status = err.status_code
    reason = f"HTTP {status}: {_server_words(err)[:300]}"
    if status in (408, 409, 429) or status >= 500:
        return _Retry(reason, _retry_after(err.response.headers), rate_limited=status == 429)
    if status in (401, 403, 404):
        return _Fatal(reason)
    return _NoRetry(reason)


def _server_words(err: Any) -> str:
    """The server's own error text (OpenAI's error.message, FastAPI's detail), else the client's."""
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            inner = inner.get("message") or inner.get("detail")
        if isinstance(inner, str) and inner:
            return inner
        if isinstance(body.get("detail"), str):
            return body["detail"]
    return str(getattr(err, "message", err))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
        return min(max(seconds, 0.0), 300.0)
    return None
