"""The Batch API (OpenAI's /v1/batches: half the price, answers within 24 h) for large runs.

`run_batch_api` takes the same requests, cache, params and parse hook as `run_batch` and returns the
same `BatchReport`, so callers merge its results exactly like the online path's:

  1. the rows the cache lacks are written as a JSONL of requests (`custom_id` = the cache key),
     uploaded (`POST /v1/files`, purpose "batch") and submitted (`POST /v1/batches`);
  2. the uploaded file id, then the batch id, are appended to the cache file as soon as the server
     returns them, so a rerun (after Ctrl-C, kill -9 or days later) resumes polling that batch
     instead of paying for a second one (a rerun that finds only the file id looks the batch up by
     its input file before creating one);
  3. the batch is polled every `poll_s` until it ends; its output and error files are downloaded and
     each line is merged by `custom_id`: a 200 answer goes through `parse` like an online reply
     ("ok", or re-asked up to `parse_attempts` then "unparseable"); a retryable failure (408, 409,
     429, 5xx, an expired or cancelled batch, a line missing from both files) is asked again; any
     other status is an "error" at once. Every merged line is cached before the batch is marked
     merged, so a crash in between only repeats the (idempotent) merge;
  4. rows still unanswered go to the online path (`retry="online"`: run_batch, rate-limited, with
     its own attempts per row) or to new batches (`retry="batch"`, each row at most
     `cfg.max_attempts` asks in all).

Cost is counted at BATCH_DISCOUNT of the list price; with a cost cap, only the rows whose estimated
cost fits are submitted and the rest come back "skipped" (rerun to go on). Only batch-capable
servers (OpenAI, the tests' fake server) serve these endpoints; the key rules are the online path's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.errors import ApiError
from text2sql_cli.llm_client.cache import REUSED_STATUSES, cache_key, load_batches, load_cache, prompt_hash
from text2sql_cli.llm_client.datatypes import BatchReport, Request, Result
from text2sql_cli.llm_client.runner import (
    BATCH_DISCOUNT,
    _check_ids,
    arun_batch,
    open_client,
    result_from_record,
)
from text2sql_cli.llm_client.settings import ClientConfig, approx_tokens, price_of

ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")
RETRYABLE_STATUS = (408, 409, 429)


@dataclass
class _Row:
    req: Request
    key: str
    phash: str
    asks: int = 0  # times sent (in any batch or online) in this run or before
    parse_failures: int = 0
    record: dict[str, Any] | None = None  # the final cache record, once there is one
    reason: str | None = None
    skipped: bool = False  # not submitted: the cost cap would be passed


@dataclass
class _Run:
    cfg: ClientConfig
    params: dict[str, Any]
    parse: Callable[[str], Any] | None
    parse_attempts: int
    cache_path: Path
    poll_s: float
    progress: bool
    submitted: int = 0  # rows submitted in batches by this run
    spent: float = 0.0
    notes: list[str] = field(default_factory=list)


def run_batch_api(requests: Sequence[Request], cfg: ClientConfig, **kwargs: Any) -> BatchReport:
    """Blocking wrapper of `arun_batch_api`."""
    return asyncio.run(arun_batch_api(requests, cfg, **kwargs))


async def arun_batch_api(
    requests: Sequence[Request],
    cfg: ClientConfig,
    *,
    cache_path: Path,
    params: Mapping[str, Any] | None = None,
    parse: Callable[[str], Any] | None = None,
    parse_attempts: int = 3,
    retry: str = "online",
    poll_s: float = 30.0,
    progress: bool = True,
    label: str = "requests",
) -> BatchReport:
    if retry not in ("online", "batch"):
        raise ValueError(f"retry must be 'online' or 'batch', not {retry!r}")
    _check_ids(requests)
    requests = list(requests)
    if any(r.prompt is not None for r in requests):
        raise ValueError("the Batch API path sends chat messages only, not plain-text prompts")
    params = dict(params or {})
    run = _Run(cfg, params, parse, parse_attempts, Path(cache_path), poll_s, progress)
    rows = _rows(requests, run)
    cached = {key for key, row in rows.items() if row.record is not None}
    client, auth = open_client(cfg, max_retries=max(2, cfg.max_attempts - 1))  # control calls: SDK retries
    from text2sql_cli.io import JsonlAppender

    writer = JsonlAppender(run.cache_path)
    try:
        # Batches a previous run submitted and never merged: poll them, do not submit again.
        for state in load_batches(run.cache_path):
            keys = set(state["keys"])
            todo = [r for r in rows.values() if r.record is None and r.key in keys]
            if todo:
                batch_id = state.get("batch_id") or await _find_batch(client, auth, state["input_file_id"])
                if batch_id is None:  # uploaded, never created: create it from that file now
                    batch_id = await _create(client, auth, state["input_file_id"], writer, state["keys"])
                await _finish(client, auth, batch_id, rows, run, writer)
        rounds = 0
        while retry == "batch" or rounds == 0:
            todo = [r for r in rows.values() if r.record is None and r.asks < cfg.max_attempts]
            if retry == "online":  # rows a batch (this run's or an earlier one's) failed go online
                todo = [r for r in todo if r.asks == 0]
            todo = _affordable(todo, run)
            if not todo:
                break
            rounds += 1
            batch_id = await _submit(client, auth, todo, run, writer)
            await _finish(client, auth, batch_id, rows, run, writer)
    finally:
        writer.close()
        await client.close()
    online_sent, online_cost = 0, 0.0
    left = [r.req for r in rows.values() if r.record is None and not r.skipped]
    if left and retry == "online":
        # Same cache, same parse rules; the online runner gives each row its own attempts.
        report = await arun_batch(
            left,
            cfg,
            cache_path=run.cache_path,
            params=params,
            parse=parse,
            parse_attempts=parse_attempts,
            progress=progress,
            label=f"{label} (online retry of {len(left)})",
        )
        online_sent, online_cost = report.sent, report.cost
    return _report(requests, rows, cached, run, online_sent, online_cost)


def _affordable(todo: list[_Row], run: _Run) -> list[_Row]:
    """The rows (in input order) whose estimated batch cost fits under the cost cap; the rest are
    marked skipped, as the online path does once the cap is reached."""
    if run.cfg.max_cost is None:
        return todo
    price = price_of(run.cfg.model, run.cfg.prices) or (0.0, 0.0)
    out_tokens = int(run.params.get("max_tokens") or run.params.get("max_completion_tokens") or 256)
    budget = run.cfg.max_cost - run.spent
    chosen = []
    for row in todo:
        prompt = approx_tokens("\n".join(str(m.get("content", "")) for m in row.req.messages))
        cost = (prompt * price[0] + out_tokens * price[1]) / 1e6 * BATCH_DISCOUNT
        if cost > budget:
            for rest in todo[len(chosen) :]:
                rest.skipped, rest.reason = True, f"stopped at --max-cost ${run.cfg.max_cost:g}"
            break
        budget -= cost
        chosen.append(row)
    return chosen


def _rows(requests: list[Request], run: _Run) -> dict[str, _Row]:
    cache = load_cache(run.cache_path)
    rows = {}
    for req in requests:
        phash = prompt_hash(run.cfg.model, req.messages, run.params)
        key = cache_key(run.cfg.model, phash, req.id, req.fingerprint)
        row = _Row(req, key, phash)
        rec = cache.get(key)
        if rec is not None:
            row.asks = int(rec.get("attempts", 0))
            if rec.get("status") in REUSED_STATUSES:
                row.record = rec
        rows[key] = row
    return rows


async def _submit(client, auth, todo: list[_Row], run: _Run, writer) -> str:
    lines = [
        json.dumps(
            {
                "custom_id": row.key,
                "method": "POST",
                "url": ENDPOINT,
                "body": {"model": run.cfg.model, "messages": row.req.messages, **run.params},
            },
            ensure_ascii=False,
        )
        for row in todo
    ]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    uploaded = await client.files.create(
        file=("t2s_batch.jsonl", data, "application/jsonl"), purpose="batch", extra_headers=auth
    )
    keys = [row.key for row in todo]
    writer.write({"batch": "uploaded", "input_file_id": uploaded.id, "keys": keys, "ts": time.time()})
    run.submitted += len(todo)
    return await _create(client, auth, uploaded.id, writer, keys)


async def _create(client, auth, input_file_id: str, writer, keys: list[str]) -> str:
    batch = await client.batches.create(
        input_file_id=input_file_id, endpoint=ENDPOINT, completion_window="24h", extra_headers=auth
    )
    writer.write(
        {
            "batch": "submitted",
            "batch_id": batch.id,
            "input_file_id": input_file_id,
            "keys": keys,
            "ts": time.time(),
        }
    )
    return batch.id


async def _find_batch(client, auth, input_file_id: str) -> str | None:
    """The batch created from `input_file_id` by a run that died before recording its id."""
    page = await client.batches.list(limit=100, extra_headers=auth)
    for batch in page.data:
        if batch.input_file_id == input_file_id:
            return batch.id
    return None


async def _finish(client, auth, batch_id: str, rows: dict[str, _Row], run: _Run, writer) -> None:
    """Poll `batch_id` to its end, then merge its output and error files into `rows` and the cache."""
    last = None
    while True:
        batch = await client.batches.retrieve(batch_id, extra_headers=auth)
        counts = batch.request_counts
        status = (batch.status, counts.completed if counts else 0, counts.total if counts else 0)
        if run.progress and status != last:
            print(
                f"batch {batch_id}: {status[0]} ({status[1]}/{status[2]} done)", file=sys.stderr, flush=True
            )
        last = status
        if batch.status in TERMINAL:
            break
        await asyncio.sleep(run.poll_s)
    if batch.status == "failed":
        errors = "; ".join(e.message or "" for e in (batch.errors.data if batch.errors else []) if e)
        writer.write({"batch": "merged", "batch_id": batch_id, "status": "failed", "ts": time.time()})
        raise ApiError(f"batch {batch_id} failed validation: {errors or 'no reason given'}")
    seen: set[str] = set()
    asked = _batch_keys(batch_id, run)
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            content = await client.files.content(file_id, extra_headers=auth)
            for line in content.text.splitlines():
                if line.strip():
                    seen.add(_merge_line(json.loads(line), rows, run, writer))
    for row in rows.values():  # rows this batch never reached (expired, cancelled)
        if row.key in asked and row.key not in seen and row.record is None:
            row.asks += 1
            row.reason = f"batch {batch_id} ended {batch.status} before answering this row"
            _save(row, "error", run, writer)
    writer.write({"batch": "merged", "batch_id": batch_id, "status": batch.status, "ts": time.time()})


def _batch_keys(batch_id: str, run: _Run) -> set[str]:
    for state in load_batches(run.cache_path, include_merged=True):
        if state.get("batch_id") == batch_id:
            return set(state["keys"])
    return set()


def _merge_line(line: dict[str, Any], rows: dict[str, _Row], run: _Run, writer) -> str:
    key = str(line.get("custom_id"))
    row = rows.get(key)
    if row is None or row.record is not None:  # not asked for in this run, or answered already
        return key
    row.asks += 1
    response = line.get("response") or {}
    status = response.get("status_code")
    body = response.get("body") or {}
    if status != 200:
        error = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
        error = error or (line.get("error") or {}).get("message") or "no answer"
        row.reason = f"HTTP {status}: {error}" if status else str(error)
        final = status is not None and status < 500 and status not in RETRYABLE_STATUS
        _save(row, "error", run, writer, final=final)
        return key
    usage = body.get("usage") or {}
    p_tok, c_tok = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    choices = body.get("choices") or []
    text = (choices[0].get("message") or {}).get("content") if choices else None
    cost = _cost(run, p_tok, c_tok)
    run.spent += cost
    if text is None:
        row.reason = "empty reply (no message content)"
        _save(row, "error", run, writer, tokens=(p_tok, c_tok, cost))
        return key
    try:
        if run.parse is not None:
            run.parse(text)
    except ValueError as err:
        row.parse_failures += 1
        row.reason = f"malformed reply: {err}"
        status_name = "unparseable" if row.parse_failures >= run.parse_attempts else "error"
        _save(row, status_name, run, writer, text=text, tokens=(p_tok, c_tok, cost))
        return key
    row.reason = None
    _save(row, "ok", run, writer, text=text, tokens=(p_tok, c_tok, cost))
    return key


def _cost(run: _Run, prompt_tokens: int, completion_tokens: int) -> float:
    price = price_of(run.cfg.model, run.cfg.prices)
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6 * BATCH_DISCOUNT


def _save(row: _Row, status: str, run: _Run, writer, *, text=None, tokens=(0, 0, 0.0), final=False) -> None:
    """Cache one merged line. "ok"/"unparseable" (and a non-retryable "error") end the row."""
    rec = {
        "key": row.key,
        "id": row.req.id,
        "model": run.cfg.model,
        "prompt_hash": row.phash,
        "fingerprint": row.req.fingerprint,
        "status": status,
        "text": text,
        "reason": row.reason,
        "attempts": row.asks,
        "prompt_tokens": tokens[0],
        "completion_tokens": tokens[1],
        "cost": tokens[2],
        "via": "batch",
        "ts": time.time(),
    }
    writer.write(rec)
    if status in REUSED_STATUSES or final:
        row.record = rec


def _report(
    requests: list[Request],
    rows: dict[str, _Row],
    cached: set[str],
    run: _Run,
    online_sent: int,
    online_cost: float,
) -> BatchReport:
    cache = load_cache(run.cache_path)
    results: list[Result] = []
    for row in rows.values():  # dicts keep insertion order: the input order
        rec = cache.get(row.key)
        if row.skipped and (rec is None or rec.get("status") not in REUSED_STATUSES):
            results.append(Result(row.req.id, "skipped", reason=row.reason))
            continue
        if rec is None:
            results.append(Result(row.req.id, "error", reason=row.reason or "not answered"))
            continue
        result = result_from_record(row.req.id, rec, run.parse)
        result.cached = row.key in cached
        results.append(result)
    stopped = next((r.reason for r in rows.values() if r.skipped), None)
    total = sum(r.cost for r in results)
    return BatchReport(results, run.submitted + online_sent, run.spent + online_cost, total, stopped)
