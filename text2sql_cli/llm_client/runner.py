"""The one OpenAI-compatible chat client: the judge, the LLM data filter and API-backed inference
all send their requests through `run_batch`.

Public API (everything else is private):

    LLMSettings                      T2S_RPM, T2S_TPM, T2S_LLM_TIMEOUT_S, T2S_LLM_MAX_ATTEMPTS,
                                     T2S_LLM_CONCURRENCY, T2S_LLM_PRICES, and the OpenAI key
                                     (OPENAI_API_KEY or T2S_OPENAI_API_KEY, env or .env).
    ClientConfig.build(model, *, base_url=None, url_key=None, key_env=None, max_cost=None,
                       **flags) -> ClientConfig
                                     resolves the key safely (see "Keys"); flags are LLMSettings
                                     fields, None = not given.
    Request(id, messages, fingerprint="")
                                     one call; `id` unique in a batch, `fingerprint` a hash of
                                     what is judged (e.g. the prediction), part of the cache key.
    run_batch(requests, cfg, *, cache_path, params=None, parse=None, parse_attempts=3,
              progress=True, label="requests") -> BatchReport
                                     sends what the cache lacks; `.results` is in input order,
                                     one Result per id. Sync wrapper of `arun_batch` (same args).
    estimate(requests, cfg, *, cache_path=None, params=None, output_tokens=None) -> Estimate
                                     dry run: counts and a cost estimate, sends nothing.
    ParseError                       raise it (or ValueError) from `parse` to mark a reply as
                                     malformed: it is re-asked, then recorded `unparseable`.
    Result(id, status, text, value, reason, attempts, prompt_tokens, completion_tokens, cost,
           cached)                   status is "ok", "error" (kept failing; reason says why),
                                     "unparseable" (parse kept failing) or "skipped" (not sent:
                                     --max-cost reached). Only "ok" has a `value`.

Rate limits: requests are paced evenly at `rpm` per minute (and `tpm` tokens per minute, using a
conservative size estimate before the call and the reported usage after it). Retries count
against the limits like any request, as they do at OpenAI.

Retries: 408/409/429/5xx, dropped connections, timeouts and malformed response bodies are
retried with exponential backoff and jitter; a Retry-After (or retry-after-ms) header sets the
wait. Other 4xx are not retried; 401/403/404 stop the batch with an ApiError, since every later
request would fail the same way.

Resume: every finished call is appended to `cache_path` (JSONL) keyed by (model, prompt hash, id,
fingerprint) before it is reported; a rerun, even after kill -9, reuses "ok" and "unparseable"
records and sends only the rest ("error" and "skipped" are sent again).

Cost: usage tokens x price table (USD per 1M tokens; overridable with T2S_LLM_PRICES) give the
running total in the progress bar. With `max_cost`, no request is sent once spent cost plus the
estimate for requests in flight would pass it; the rest come back "skipped".

Keys: the OpenAI key (OPENAI_API_KEY / T2S_OPENAI_API_KEY) is sent only to api.openai.com. A
different base URL gets only a key given for it (`url_key`, e.g. T2S_JUDGE_API_KEY, or the
environment variable named by `key_env`), else no Authorization header at all (local vLLM,
Ollama). OPENAI_BASE_URL is ignored for the same reason. Keys are SecretStr and never written to
the cache, results or logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import json
import math
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pydantic import AliasChoices, Field, SecretStr

from text2sql_cli.config import T2SSettings
from text2sql_cli.errors import ApiError, ConfigError, InputError

OPENAI_BASE_URL = "https://api.openai.com/v1"
REUSED_STATUSES = ("ok", "unparseable")

# USD per 1M tokens (input, output), public list prices. A model matches its exact name or the
# longest entry followed by "-" (gpt-4-0613 -> gpt-4). Override or extend with T2S_LLM_PRICES.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4": (30.0, 60.0),
    "gpt-4-32k": (60.0, 120.0),
    "gpt-4-turbo": (10.0, 30.0),
    "gpt-4-turbo-preview": (10.0, 30.0),
    "gpt-4-0125-preview": (10.0, 30.0),
    "gpt-4-1106-preview": (10.0, 30.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-3.5-turbo": (0.5, 1.5),
}


class ParseError(ValueError):
    """A reply that does not have the expected shape (raised by a `parse` hook)."""


class LLMSettings(T2SSettings):
    openai_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("T2S_OPENAI_API_KEY", "OPENAI_API_KEY")
    )
    rpm: int = Field(500, gt=0, description="requests per minute")
    tpm: int | None = Field(150_000, gt=0, description="tokens per minute (None: no limit)")
    llm_timeout_s: float = Field(60.0, gt=0, description="per-request timeout")
    llm_max_attempts: int = Field(6, ge=1, description="attempts per request before 'error'")
    llm_concurrency: int = Field(64, ge=1, description="requests in flight at most")
    llm_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict, description='JSON {"model": [usd_per_1m_in, usd_per_1m_out]}'
    )


@dataclass(frozen=True)
class ClientConfig:
    model: str
    base_url: str = OPENAI_BASE_URL
    api_key: SecretStr | None = field(default=None, repr=False)
    rpm: int = 500
    tpm: int | None = 150_000
    timeout_s: float = 60.0
    max_attempts: int = 6
    concurrency: int = 64
    max_cost: float | None = None
    prices: Mapping[str, tuple[float, float]] = field(default_factory=lambda: dict(PRICES))
    backoff_s: float = 0.5  # first retry waits 0.25-0.5 s, doubling each time (the SDK's start)
    backoff_max_s: float = 30.0

    @classmethod
    def build(
        cls,
        model: str,
        *,
        base_url: str | None = None,
        url_key: SecretStr | None = None,
        key_env: str | None = None,
        max_cost: float | None = None,
        **flags: Any,
    ) -> ClientConfig:
        """Config from flags (None = not given) > T2S_* env > .env > defaults, key resolved safely."""
        settings = LLMSettings.from_flags(**flags)
        url = (base_url or OPENAI_BASE_URL).rstrip("/")
        if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
            raise ConfigError(f"base URL {url!r} is not an http(s) URL", hint="e.g. http://localhost:8000/v1")
        if max_cost is not None and max_cost <= 0:
            raise ConfigError("--max-cost must be positive (USD)")
        prices = {**PRICES, **settings.llm_prices}
        if max_cost is not None and price_of(model, prices) is None:
            raise ConfigError(
                f"--max-cost needs a price for model {model!r}",
                hint='set T2S_LLM_PRICES=\'{"%s": [usd_per_1m_in, usd_per_1m_out]}\'' % model,
            )
        return cls(
            model=model,
            base_url=url,
            api_key=resolve_key(url, url_key=url_key, key_env=key_env, openai_key=settings.openai_api_key),
            rpm=settings.rpm,
            tpm=settings.tpm,
            timeout_s=settings.llm_timeout_s,
            max_attempts=settings.llm_max_attempts,
            concurrency=settings.llm_concurrency,
            max_cost=max_cost,
            prices=prices,
        )

    def public_dump(self) -> dict[str, Any]:
        """For run metadata: everything but the key (only whether one is set)."""
        return {
            "model": self.model, "base_url": self.base_url, "api_key_set": self.api_key is not None,
            "rpm": self.rpm, "tpm": self.tpm, "timeout_s": self.timeout_s,
            "max_attempts": self.max_attempts, "max_cost": self.max_cost,
        }


def is_openai_url(url: str) -> bool:
    return urlparse(url).hostname == "api.openai.com"


def resolve_key(
    base_url: str,
    *,
    url_key: SecretStr | None = None,
    key_env: str | None = None,
    openai_key: SecretStr | None = None,
) -> SecretStr | None:
    """The key to send to `base_url`, or None to send none. Never the OpenAI key to another host."""
    if key_env:
        value = os.environ.get(key_env) or _dotenv_value(key_env)
        if not value:
            raise ConfigError(
                f"the environment variable {key_env} named for the key is not set",
                hint=f"export {key_env}=... or add it to .env",
            )
        return SecretStr(value)
    if url_key is not None:
        return url_key
    if is_openai_url(base_url):
        if openai_key is None:
            raise ConfigError(
                "no OpenAI API key",
                hint="export OPENAI_API_KEY=sk-... (or put it in .env), or use a local server with --judge-base-url",
            )
        return openai_key
    return None  # a local or third-party server: no key unless one was given for it


def _dotenv_value(name: str) -> str | None:
    from dotenv import dotenv_values

    return dotenv_values(".env").get(name) if Path(".env").is_file() else None


def price_of(model: str, prices: Mapping[str, tuple[float, float]]) -> tuple[float, float] | None:
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name + "-")]
    return prices[max(matches, key=len)] if matches else None


def approx_tokens(text: str) -> int:
    """A deliberately high token count: UTF-8 bytes / 3 (about right for Korean, high for English)."""
    return math.ceil(len(text.encode("utf-8")) / 3)


@dataclass(frozen=True)
class Request:
    id: Any
    messages: list[dict[str, str]]
    fingerprint: str = ""


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

    def line(self) -> str:
        cost = "unknown (no price for this model)" if self.cost is None else f"about ${self.cost:.4f}"
        return (f"{self.to_send} of {self.requests} requests to send ({self.cached} cached), "
                f"~{self.prompt_tokens} prompt + ~{self.output_tokens} output tokens, cost {cost}")


def prompt_hash(model: str, messages: list[dict[str, str]], params: Mapping[str, Any]) -> str:
    blob = json.dumps({"model": model, "messages": messages, "params": dict(params)}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_key(model: str, phash: str, item_id: Any, fingerprint: str) -> str:
    return hashlib.sha256(f"{model}\0{phash}\0{item_id}\0{fingerprint}".encode()).hexdigest()[:32]


def load_cache(path: Path | None) -> dict[str, dict[str, Any]]:
    """key -> last record. A torn last line (a crash mid-append) is ignored."""
    if path is None or not Path(path).exists():
        return {}
    from text2sql_cli.io import iter_jsonl

    return {rec["key"]: rec for _, rec in iter_jsonl(path, tolerate_torn_tail=True) if "key" in rec}


def _check_ids(requests: Sequence[Request]) -> None:
    seen: set[str] = set()
    for req in requests:
        if str(req.id) in seen:
            raise InputError(None, f"duplicate id {req.id!r}", hint="every row needs its own id")
        seen.add(str(req.id))


def estimate(
    requests: Sequence[Request],
    cfg: ClientConfig,
    *,
    cache_path: Path | None = None,
    params: Mapping[str, Any] | None = None,
    output_tokens: int | None = None,
) -> Estimate:
    """What `run_batch` would send and cost (a high estimate); calls nothing."""
    _check_ids(requests)
    params = dict(params or {})
    cache = load_cache(cache_path)
    per_output = output_tokens or int(params.get("max_tokens") or params.get("max_completion_tokens") or 256)
    todo = [r for r in requests if not _reusable(cache, cfg, r, params)]
    prompt_tokens = sum(approx_tokens(_text(r.messages)) for r in todo)
    out_tokens = per_output * len(todo)
    price = price_of(cfg.model, cfg.prices)
    cost = None if price is None else (prompt_tokens * price[0] + out_tokens * price[1]) / 1e6
    return Estimate(len(requests), len(requests) - len(todo), len(todo), prompt_tokens, out_tokens, cost)


def _text(messages: list[dict[str, str]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages)


def _reusable(cache, cfg: ClientConfig, req: Request, params) -> dict[str, Any] | None:
    rec = cache.get(cache_key(cfg.model, prompt_hash(cfg.model, req.messages, params), req.id, req.fingerprint))
    return rec if rec and rec.get("status") in REUSED_STATUSES else None


def run_batch(requests: Sequence[Request], cfg: ClientConfig, **kwargs: Any) -> BatchReport:
    """Blocking wrapper of `arun_batch` for code that is not async."""
    return asyncio.run(arun_batch(requests, cfg, **kwargs))


async def arun_batch(
    requests: Sequence[Request],
    cfg: ClientConfig,
    *,
    cache_path: Path | None,
    params: Mapping[str, Any] | None = None,
    parse: Callable[[str], Any] | None = None,
    parse_attempts: int = 3,
    progress: bool = True,
    label: str = "requests",
) -> BatchReport:
    _check_ids(requests)
    runner = _BatchRunner(cfg, dict(params or {}), parse, parse_attempts, cache_path)
    return await runner.run(list(requests), progress=progress, label=label)


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


@dataclass
class _Job:
    index: int
    req: Request
    phash: str
    key: str
    result: Result
    prompt_tokens: int
    parse_failures: int = 0


class _BatchRunner:
    """Dispatch: one loop hands out rate-limited slots, a ready retry before the next fresh item
    (so a retry chain starts early instead of queueing behind the whole batch); each slot's HTTP
    call runs as its own task, at most `concurrency` at once."""

    def __init__(self, cfg: ClientConfig, params, parse, parse_attempts: int, cache_path: Path | None):
        self.cfg, self.params, self.parse = cfg, params, parse
        self.parse_attempts = parse_attempts
        self.cache_path = Path(cache_path) if cache_path is not None else None
        self.rpm = _Pacer(cfg.rpm)
        self.tpm = _Pacer(cfg.tpm) if cfg.tpm else None
        self.price = price_of(cfg.model, cfg.prices)
        self.est_out = int(params.get("max_tokens") or params.get("max_completion_tokens") or 256)
        self.sent = 0
        self.spent = 0.0
        self.in_flight_cost = 0.0
        self.stopped: str | None = None
        self.fatal: str | None = None

    async def run(self, requests: list[Request], *, progress: bool, label: str) -> BatchReport:
        import openai

        from text2sql_cli.io import JsonlAppender

        cache = load_cache(self.cache_path)
        self.results: list[Result | None] = [None] * len(requests)
        fresh: list[_Job] = []
        for i, req in enumerate(requests):
            phash = prompt_hash(self.cfg.model, req.messages, self.params)
            key = cache_key(self.cfg.model, phash, req.id, req.fingerprint)
            rec = cache.get(key)
            if rec and rec.get("status") in REUSED_STATUSES:
                self.results[i] = self._from_record(req.id, rec)
            else:
                fresh.append(_Job(i, req, phash, key, Result(req.id, "error"), approx_tokens(_text(req.messages))))
        self.client = openai.AsyncOpenAI(
            api_key=self.cfg.api_key.get_secret_value() if self.cfg.api_key else "",
            base_url=self.cfg.base_url,
            organization=None if is_openai_url(self.cfg.base_url) else "",
            project=None if is_openai_url(self.cfg.base_url) else "",
            timeout=self.cfg.timeout_s,
            max_retries=0,  # retries are ours: they honour Retry-After and count against rpm
            _enforce_credentials=False,
        )
        # Pin the Authorization header on every request: the key resolved for this URL, or none.
        # This also overrides anything the SDK picks up from OPENAI_* variables.
        key = self.cfg.api_key.get_secret_value() if self.cfg.api_key else None
        self.auth = {"Authorization": f"Bearer {key}" if key else openai.Omit()}
        self.cache_writer = JsonlAppender(self.cache_path) if self.cache_path is not None else None
        self.bar = _Progress(progress, label, len(requests), len(requests) - len(fresh))
        try:
            with self.bar:
                await self._dispatch(fresh)
        finally:
            await self.client.close()
            if self.cache_writer is not None:
                self.cache_writer.close()
        if self.fatal:
            raise ApiError(self.fatal, hint="check the base URL, the model name and the key for that URL")
        done = [r for r in self.results if r is not None]
        return BatchReport(done, self.sent, self.spent, sum(r.cost for r in done), self.stopped)

    async def _dispatch(self, fresh: list[_Job]) -> None:
        fresh.reverse()  # pop() from the end = input order
        retries: list[tuple[float, int, _Job]] = []  # heap of (ready_at, seq, job)
        sem = asyncio.Semaphore(self.cfg.concurrency)
        tasks: set[asyncio.Task] = set()

        def take() -> _Job | None:
            if retries and retries[0][0] <= time.monotonic():
                return heapq.heappop(retries)[2]
            return fresh.pop() if fresh else None

        async def attempt(job: _Job) -> None:
            wait = await self._attempt(job, sem)
            if wait is not None:
                heapq.heappush(retries, (time.monotonic() + wait, job.index, job))

        while fresh or retries or tasks:
            if self.fatal or self.stopped:
                break
            job = take()
            if job is None:  # nothing ready: wait for a call to finish or a backoff to end
                timeout = max(0.0, retries[0][0] - time.monotonic()) if retries else None
                if tasks:
                    await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                else:
                    await asyncio.sleep(timeout or 0.0)
                continue
            await sem.acquire()
            start = self.rpm.reserve(1, time.monotonic())
            if self.tpm is not None:
                start = max(start, self.tpm.reserve(job.prompt_tokens + self.est_out, time.monotonic()))
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            est_cost = self._cost(job.prompt_tokens, self.est_out)
            if self.cfg.max_cost is not None and self.spent + self.in_flight_cost + est_cost > self.cfg.max_cost:
                self.stopped = f"stopped at --max-cost ${self.cfg.max_cost:g}"
            if self.fatal or self.stopped:  # checked last: calls that ended meanwhile count
                sem.release()
                fresh.append(job)
                break
            self.in_flight_cost += est_cost
            task = asyncio.create_task(attempt(job))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(0)  # let the task start before the next slot
        if tasks:
            await asyncio.gather(*tasks)
        for job in fresh + [entry[2] for entry in retries]:  # stopped early: not sent, not cached
            r = job.result
            r.status, r.reason = "skipped", self.fatal or self.stopped
            self.results[job.index] = r

    async def _attempt(self, job: _Job, sem: asyncio.Semaphore) -> float | None:
        """One HTTP call for `job` (the caller holds a semaphore slot, released here). Returns the
        backoff before the next attempt, or None when the job is final (recorded and cached)."""
        result = job.result
        result.attempts += 1
        try:
            text = await self._send(job, result)
        except _Retry as retry:
            result.reason = retry.reason
            if result.attempts < self.cfg.max_attempts:
                return self._backoff(result.attempts, retry.wait_s)
            result.status = "error"
        except _NoRetry as err:
            result.status, result.reason = "error", str(err)
        except _Fatal as fatal:
            self.fatal = self.fatal or str(fatal)
            result.status, result.reason = "error", str(fatal)
        else:
            result.text = text
            try:
                result.value = self.parse(text) if self.parse is not None else text
                result.status, result.reason = "ok", None
            except ValueError as err:
                job.parse_failures += 1
                result.reason = f"malformed reply: {err}"
                if job.parse_failures < self.parse_attempts and result.attempts < self.cfg.max_attempts:
                    return 0.0  # ask again at the next free slot
                result.status = "unparseable"
        finally:
            sem.release()
        self._save(job)
        self.results[job.index] = result
        self.bar.advance(self.spent)
        return None

    def _from_record(self, item_id: Any, rec: dict[str, Any]) -> Result:
        result = Result(item_id, rec["status"], rec.get("text"), None, rec.get("reason"), rec.get("attempts", 0),
                        rec.get("prompt_tokens", 0), rec.get("completion_tokens", 0), rec.get("cost", 0.0), True)
        if result.status == "ok":
            try:
                result.value = self.parse(result.text or "") if self.parse is not None else result.text
            except ValueError as err:  # the parse hook changed since: stay strict
                result.status, result.reason = "unparseable", f"cached reply no longer parses: {err}"
        return result

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + random.uniform(0, 0.1 * retry_after + 0.05)
        base = min(self.cfg.backoff_max_s, self.cfg.backoff_s * 2 ** (attempt - 1))
        return random.uniform(base / 2, base)  # jitter spreads retries that failed together

    async def _send(self, job: _Job, result: Result) -> str:
        import openai

        est_cost = self._cost(job.prompt_tokens, self.est_out)
        self.sent += 1
        try:
            resp = await self.client.chat.completions.create(
                model=self.cfg.model, messages=job.req.messages, extra_headers=self.auth, **self.params
            )
        except openai.APIStatusError as err:
            raise _classify(err) from None
        except openai.APIConnectionError as err:  # includes APITimeoutError
            raise _Retry(f"{type(err).__name__}: {err}") from None
        except (ValueError, openai.APIResponseValidationError) as err:  # a body that is not JSON
            raise _Retry(f"malformed response body: {str(err)[:120]}") from None
        finally:
            self.in_flight_cost -= est_cost
        usage = resp.usage
        p_tok = usage.prompt_tokens if usage else job.prompt_tokens
        c_tok = usage.completion_tokens if usage else 0
        if self.tpm is not None:
            self.tpm.refund(job.prompt_tokens + self.est_out - p_tok - c_tok)  # over-reserved tokens
        cost = self._cost(p_tok, c_tok)
        self.spent += cost
        result.prompt_tokens += p_tok
        result.completion_tokens += c_tok
        result.cost += cost
        content = resp.choices[0].message.content if resp.choices else None
        if content is None:
            raise _Retry("empty reply (no message content)")
        return content

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        if self.price is None:
            return 0.0
        return (prompt_tokens * self.price[0] + completion_tokens * self.price[1]) / 1e6

    def _save(self, job: _Job) -> None:
        # Appended before the result is reported: once a caller sees it, a crash cannot lose it.
        if self.cache_writer is None:
            return
        r = job.result
        self.cache_writer.write({
            "key": job.key, "id": job.req.id, "model": self.cfg.model, "prompt_hash": job.phash,
            "fingerprint": job.req.fingerprint, "status": r.status, "text": r.text, "reason": r.reason,
            "attempts": r.attempts, "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens, "cost": r.cost, "ts": time.time(),
        })


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


class _Progress:
    """A rich progress bar on stderr with the running cost; does nothing when disabled."""

    def __init__(self, enabled: bool, label: str, total: int, done: int):
        self.enabled, self.label, self.total, self.done = enabled, label, total, done

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            from rich.console import Console

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("${task.fields[cost]:.4f}"), TimeElapsedColumn(), console=Console(stderr=True))
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=self.total, completed=self.done, cost=0.0)
        return self

    def advance(self, cost: float) -> None:
        if self.enabled:
            self.bar.update(self.task, advance=1, cost=cost)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)
