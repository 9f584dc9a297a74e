"""Rate pacing and retry classification for the batch runner.

`_Pacer` spaces requests (or tokens) evenly per minute. `_classify` maps an HTTP error to
`_Retry` (408/409/429/5xx, honouring Retry-After), `_Fatal` (401/403/404: stop the batch) or
`_NoRetry` (other 4xx). `_unreachable` tells a refused connection or unknown host (the server is
not there: `_Unreachable`) from a dropped one (a server that is there: retried per row).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


class _Pacer:
    """Even spacing at `per_minute` units (GCRA without burst): each reservation of `cost` units
    starts no earlier than the previous one plus cost * 60 / per_minute seconds."""

    def __init__(self, per_minute: float):
        self.interval = 60.0 / per_minute
        self.next_at = 0.0

    def reserve(self, cost: float, now: float) -> float:
        start = max(now, self.next_at)
        self.next_at = start + cost * self.interval
        return start

    def refund(self, cost: float) -> None:
        self.next_at -= cost * self.interval


class _Retry(Exception):
    def __init__(self, reason: str, wait_s: float | None = None):
        super().__init__(reason)
        self.reason, self.wait_s = reason, wait_s


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
    reason = f"HTTP {status}: {str(getattr(err, 'message', err))[:200]}"
    if status in (408, 409, 429) or status >= 500:
        return _Retry(reason, _retry_after(err.response.headers))
    if status in (401, 403, 404):
        return _Fatal(reason)
    return _NoRetry(reason)


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
