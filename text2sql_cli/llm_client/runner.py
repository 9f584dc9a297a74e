"""Running a batch: `run_batch` / `arun_batch` send what the cache lacks under the rate limits,
retry, parse, record every finished call in the cache and report the cost; `estimate` is the dry
run. `openai` is imported only when a batch runs."""

from __future__ import annotations

import asyncio
import heapq
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from text2sql_cli.errors import ApiError, InputError
from text2sql_cli.llm_client.cache import (
    REUSED_STATUSES,
    _reusable,
    _text,
    cache_key,
    load_cache,
    prompt_hash,
)
from text2sql_cli.llm_client.datatypes import BatchReport, Estimate, Request, Result
from text2sql_cli.llm_client.limits import (
    _classify,
    _Fatal,
    _Latency,
    _Limits,
    _NoRetry,
    _Retry,
    _Unreachable,
    _unreachable,
)
from text2sql_cli.llm_client.settings import (
    OPENAI_BASE_URL,
    ClientConfig,
    approx_tokens,
    is_openai_url,
    price_of,
)
from text2sql_cli.progress import ProgressBar

BATCH_DISCOUNT = 0.5  # the Batch API's price: half the list price (OpenAI, 24 h window)


def open_client(cfg: ClientConfig, *, max_retries: int) -> tuple[Any, dict[str, Any]]:
    """(AsyncOpenAI client, headers to pass as extra_headers on every call). The Authorization
    header is pinned on every request: the key resolved for this URL, or none. This also overrides
    anything the SDK picks up from OPENAI_* variables."""
    import openai

    client = openai.AsyncOpenAI(
        api_key=cfg.api_key.get_secret_value() if cfg.api_key else "",
        base_url=cfg.base_url,
        organization=None if is_openai_url(cfg.base_url) else "",
        project=None if is_openai_url(cfg.base_url) else "",
        timeout=cfg.timeout_s,
        max_retries=max_retries,
        _enforce_credentials=False,
    )
    key = cfg.api_key.get_secret_value() if cfg.api_key else None
    return client, {"Authorization": f"Bearer {key}" if key else openai.Omit()}


def result_from_record(item_id: Any, rec: dict[str, Any], parse: Callable[[str], Any] | None) -> Result:
    """The Result a cache record stands for; an "ok" reply is parsed again (the hook may be stricter
    now: then it is "unparseable")."""
    result = Result(
        item_id,
        rec["status"],
        rec.get("text"),
        None,
        rec.get("reason"),
        rec.get("attempts", 0),
        rec.get("prompt_tokens", 0),
        rec.get("completion_tokens", 0),
        rec.get("cost", 0.0),
        True,
    )
    if result.status == "ok":
        try:
            result.value = parse(result.text or "") if parse is not None else result.text
        except ValueError as err:  # the parse hook changed since: stay strict
            result.status, result.reason = "unparseable", f"cached reply no longer parses: {err}"
    return result


def _names_model(reason: str, model: str) -> bool:
    """A refusal about the model itself (an unknown model name), not about this one request."""
    return f"'{model}'" in reason or f"`{model}`" in reason or "model_not_found" in reason


def _hint(reason: str, cfg: ClientConfig) -> str:
    """What to try after a refusal that stops the batch: the server's own words are in `reason`."""
    from urllib.parse import urlparse

    base = (cfg.base_url or OPENAI_BASE_URL).rstrip("/")
    if "HTTP 404" in reason and not urlparse(base).path.rstrip("/").endswith("/v1"):
        return f"an OpenAI-compatible server answers under /v1: try {cfg.url_flag} {base}/v1"
    if "HTTP 401" not in reason and "HTTP 403" not in reason and "model" in reason.lower():
        return (
            f"the server does not serve {cfg.model!r}: check {cfg.model_flag} (GET {base}/models lists them)"
        )
    return "check the base URL, the model name and the key for that URL"


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
    batch: bool = False,
) -> Estimate:
    """What `run_batch` would send and cost (a high estimate); calls nothing. `batch`: at the Batch
    API's price (BATCH_DISCOUNT of the list price)."""
    _check_ids(requests)
    params = dict(params or {})
    cache = load_cache(cache_path)
    per_output = output_tokens or int(params.get("max_tokens") or params.get("max_completion_tokens") or 256)
    todo = [r for r in requests if not _reusable(cache, cfg, r, params)]
    prompt_tokens = sum(approx_tokens(_text(r.keyed)) for r in todo)
    out_tokens = per_output * len(todo)
    price = price_of(cfg.model, cfg.prices)
    cost = None if price is None else (prompt_tokens * price[0] + out_tokens * price[1]) / 1e6
    if cost is not None and batch:
        cost *= BATCH_DISCOUNT
    return Estimate(
        len(requests), len(requests) - len(todo), len(todo), prompt_tokens, out_tokens, cost, batch
    )


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
        self.limits = _Limits(cfg.rpm, cfg.tpm)
        self.latency = _Latency(cfg.timeout_floor_s, cfg.timeout_s)
        self.price = price_of(cfg.model, cfg.prices)
        # Output tokens: `est_out` for the cost cap (a high guess without max_tokens); `rate_out` for
        # the tpm reservation, as the provider counts before the call (max_tokens, else nothing).
        self.rate_out = int(params.get("max_tokens") or params.get("max_completion_tokens") or 0)
        self.est_out = self.rate_out or 256
        self.sent = 0
        self.hedged = 0  # second copies sent (cfg.hedge)
        self.spent = 0.0
        self.in_flight_cost = 0.0
        self.stopped: str | None = None
        self.fatal: str | None = None
        self.fatal_hint = "check the base URL, the model name and the key for that URL"
        self.answered = False  # has the endpoint sent any HTTP response in this batch?

    async def run(self, requests: list[Request], *, progress: bool, label: str) -> BatchReport:
        from text2sql_cli.io import JsonlAppender

        cache = load_cache(self.cache_path)
        self.results: list[Result | None] = [None] * len(requests)
        fresh: list[_Job] = []
        for i, req in enumerate(requests):
            phash = prompt_hash(self.cfg.model, req.keyed, self.params)
            key = cache_key(self.cfg.model, phash, req.id, req.fingerprint)
            rec = cache.get(key)
            if rec and rec.get("status") in REUSED_STATUSES:
                self.results[i] = self._from_record(req.id, rec)
            else:
                fresh.append(
                    _Job(i, req, phash, key, Result(req.id, "error"), approx_tokens(_text(req.keyed)))
                )
        # Retries are ours: they honour Retry-After and count against the limits.
        self.client, self.auth = open_client(self.cfg, max_retries=0)
        self.cache_writer = JsonlAppender(self.cache_path) if self.cache_path is not None else None
        done_before = len(requests) - len(fresh)
        self.bar = ProgressBar(label, len(requests), enabled=progress, completed=done_before, show_cost=True)
        try:
            with self.bar:
                await self._dispatch(fresh)
        finally:
            await self.client.close()
            if self.cache_writer is not None:
                self.cache_writer.close()
        if self.fatal:
            raise ApiError(self.fatal, hint=self.fatal_hint)
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
            await self._slot(job)
            est_cost = self._cost(job.prompt_tokens, self.est_out)
            if (
                self.cfg.max_cost is not None
                and self.spent + self.in_flight_cost + est_cost > self.cfg.max_cost
            ):
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
            if isinstance(retry, _Unreachable) and not self.answered:
                # Nothing has ever answered: every other row would fail the same way, so stop
                # rather than mark each row failed and report success.
                self.fatal = self.fatal or f"cannot reach {self.cfg.base_url}: {retry.reason}"
                self.fatal_hint = f"check {self.cfg.url_flag} and that the server is running"
        except _NoRetry as err:
            result.status, result.reason = "error", str(err)
            if _names_model(str(err), self.cfg.model):  # every request would be refused the same way
                self.fatal = self.fatal or str(err)
                self.fatal_hint = _hint(str(err), self.cfg)
        except _Fatal as fatal:
            if not self.fatal:
                self.fatal, self.fatal_hint = str(fatal), _hint(str(fatal), self.cfg)
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
        self.bar.advance(1, cost=self.spent)  # one more request done; USD spent so far
        return None

    def _from_record(self, item_id: Any, rec: dict[str, Any]) -> Result:
        return result_from_record(item_id, rec, self.parse)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after + random.uniform(0, 0.1 * retry_after + 0.05)
        base = min(self.cfg.backoff_max_s, self.cfg.backoff_s * 2 ** (attempt - 1))
        return random.uniform(base / 2, base)  # jitter spreads retries that failed together

    async def _slot(self, job: _Job) -> float:
        """Wait for the pace: one request and prompt + max_tokens tokens, as the provider counts.
        Returns when (monotonic) the request was let go."""
        tokens = job.prompt_tokens + self.rate_out
        start = self.limits.reserve(tokens, time.monotonic())
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        at = time.monotonic()
        self.limits.released(start, at)  # a sleep that woke late moves the next slots
        return at

    async def _send(self, job: _Job, result: Result) -> str:
        est_cost = self._cost(job.prompt_tokens, self.est_out)
        try:
            resp = await (self._hedged(job, result) if self.cfg.hedge else self._call(job))
        finally:
            self.in_flight_cost -= est_cost
        usage = resp.usage
        p_tok = usage.prompt_tokens if usage else job.prompt_tokens
        c_tok = usage.completion_tokens if usage else 0
        # The prompt's true size replaces our (high) estimate; max_tokens, when set, stays counted
        # whatever the reply's length, as the provider counts it; without it, the reply is counted.
        self.limits.correct_tokens(p_tok - job.prompt_tokens + (0 if self.rate_out else c_tok))
        cost = self._cost(p_tok, c_tok)
        self.spent += cost
        result.prompt_tokens += p_tok
        result.completion_tokens += c_tok
        result.cost += cost
        if not resp.choices:
            content = None
        elif job.req.prompt is not None:  # /v1/completions
            content = resp.choices[0].text
        else:
            content = resp.choices[0].message.content
        if content is None:
            raise _Retry("empty reply (no message content)")
        if not isinstance(content, str):  # a number or a list from a broken server: text to cache,
            return json.dumps(content)  # which a parse hook then finds unparseable (never a crash)
        return content

    async def _hedged(self, job: _Job, result: Result) -> Any:
        """Send `job`; if it runs past HEDGE_P95_MULTIPLE x p95, send a second copy (paced like any
        request: it counts against the limits) and take the first answer. The slower copy is
        cancelled; its prompt is counted in the cost, since the provider may have processed it."""
        tasks = {asyncio.create_task(self._call(job))}
        delay = self.latency.hedge_after()
        try:
            if delay is not None:
                done, _ = await asyncio.wait(tasks, timeout=delay)
                if not done:
                    await self._slot(job)
                    if not any(t.done() for t in tasks):
                        self.hedged += 1
                        tasks.add(asyncio.create_task(self._call(job)))
            error: BaseException | None = None
            while tasks:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is None:
                        return task.result()
                    error = error or task.exception()
            assert error is not None
            raise error
        finally:
            for task in tasks:
                task.cancel()
                loser = self._cost(job.prompt_tokens, 0)
                self.spent += loser
                result.cost += loser

    async def _call(self, job: _Job) -> Any:
        """One HTTP request under the adaptive timeout (re-read every second, so a request sent
        before the p95 was known is still cut short once it is). Reads the rate-limit headers of
        every answer, errors included."""
        import openai

        self.sent += 1
        started = time.monotonic()
        if job.req.prompt is not None:
            endpoint, payload = self.client.completions, {"prompt": job.req.prompt}
        else:
            endpoint, payload = self.client.chat.completions, {"messages": job.req.messages}
        task = asyncio.create_task(
            endpoint.with_raw_response.create(
                model=self.cfg.model,
                extra_headers=self.auth,
                timeout=self.cfg.timeout_s,
                **payload,
                **self.params,
            )
        )
        try:
            while not task.done():
                limit = self.latency.timeout()
                left = started + limit - time.monotonic()
                if left <= 0:
                    raise _Retry(f"no answer within {limit:.1f} s (adaptive timeout)")
                await asyncio.wait({task}, timeout=min(left, 1.0))
            raw = task.result()
            self.limits.observe(raw.headers, started)
            resp = raw.parse()
        except openai.APIStatusError as err:
            self.answered = True
            self.limits.observe(err.response.headers, started)
            retry = _classify(err)
            if isinstance(retry, _Retry) and retry.rate_limited:
                self.limits.slow_down(started)
            raise retry from None
        except openai.APIConnectionError as err:  # includes APITimeoutError
            why = None if isinstance(err, openai.APITimeoutError) else _unreachable(err)
            if why is not None:
                raise _Unreachable(why) from None
            raise _Retry(f"{type(err).__name__}: {err}") from None
        except (ValueError, openai.APIResponseValidationError) as err:  # a body that is not JSON
            self.answered = True
            raise _Retry(f"malformed response body: {str(err)[:120]}") from None
        finally:
            if not task.done():
                task.cancel()
        self.answered = True
        self.latency.add(time.monotonic() - started)
        self.limits.answered()
        return resp

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        if self.price is None:
            return 0.0
        return (prompt_tokens * self.price[0] + completion_tokens * self.price[1]) / 1e6

    def _save(self, job: _Job) -> None:
        # Appended before the result is reported: once a caller sees it, a crash cannot lose it.
        if self.cache_writer is None:
            return
        r = job.result
        self.cache_writer.write(
            {
                "key": job.key,
                "id": job.req.id,
                "model": self.cfg.model,
                "prompt_hash": job.phash,
                "fingerprint": job.req.fingerprint,
                "status": r.status,
                "text": r.text,
                "reason": r.reason,
                "attempts": r.attempts,
                "prompt_tokens": r.prompt_tokens,
                "completion_tokens": r.completion_tokens,
                "cost": r.cost,
                "ts": time.time(),
            }
        )
