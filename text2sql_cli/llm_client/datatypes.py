"""The values a batch deals in: Request in; Result per request, BatchReport per batch, and Estimate
for a dry run out; ParseError for a `parse` hook to reject a reply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ParseError(ValueError):
    """A reply that does not have the expected shape (raised by a `parse` hook)."""


@dataclass(frozen=True)
class Request:
    """One call: chat `messages` (/v1/chat/completions), or with `prompt` a plain text sent as is to
    /v1/completions (a model prompted exactly as it was trained, no chat template applied)."""

    id: Any
    messages: list[dict[str, str]]
    fingerprint: str = ""
    prompt: str | None = None

    @property
    def keyed(self) -> list[dict[str, str]]:
        """What the cache key hashes and the token estimate counts: the messages, or the prompt
        (marked as such, so a chat and a completion of the same text never share a cache entry)."""
        return self.messages if self.prompt is None else [{"role": "prompt", "content": self.prompt}]


@dataclass
class Result:
    id: Any
    status: str
    text: str | None = None
    value: Any = None
    reason: str | None = None
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    cached: bool = False


@dataclass
class BatchReport:
    results: list[Result]
    sent: int  # HTTP requests made in this run, retries included
    cost: float  # USD spent in this run (cached results cost nothing now)
    total_cost: float  # USD of all results, cached ones included
    stopped: str | None = None  # why the run stopped early, if it did

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.results:
            out[r.status] = out.get(r.status, 0) + 1
        return out


@dataclass
class Estimate:
    requests: int
    cached: int
    to_send: int
    prompt_tokens: int
    output_tokens: int
    cost: float | None  # None when the model has no price
    batch: bool = False  # priced at the Batch API's discount

    def line(self) -> str:
        cost = "unknown (no price for this model)" if self.cost is None else f"about ${self.cost:.4f}"
        if self.cost is not None and self.batch:
            cost += " at the Batch API's half price"
        return (
            f"{self.to_send} of {self.requests} requests to send ({self.cached} cached), "
            f"~{self.prompt_tokens} prompt + ~{self.output_tokens} output tokens, cost {cost}"
        )
