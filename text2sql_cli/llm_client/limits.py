"""Rate pacing and retry classification for the batch runner.

`_Pacer` spaces requests (or tokens) evenly per minute. `_classify` maps an HTTP error to
`_Retry` (408/409/429/5xx, honouring Retry-After), `_Fatal` (401/403/404: stop the batch) or
`_NoRetry` (other 4xx).
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
