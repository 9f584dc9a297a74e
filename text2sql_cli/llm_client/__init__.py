"""The one OpenAI-compatible client (chat and plain completions): the judge, the LLM data filter
and API-backed inference all send their requests through `run_batch`.

Public API (everything else is private):

    LLMSettings                      T2S_LLM_RPM, T2S_LLM_TPM, T2S_LLM_TIMEOUT_S, T2S_LLM_MAX_ATTEMPTS,
                                     T2S_LLM_CONCURRENCY, T2S_LLM_PRICES, and the OpenAI key
                                     (OPENAI_API_KEY or T2S_OPENAI_API_KEY, env or .env).
    ClientConfig.build(model, *, base_url=None, url_key=None, key_env=None, max_cost=None,
                       url_flag="--judge-base-url", **flags) -> ClientConfig
                                     resolves the key safely (see "Keys"); flags are LLMSettings
                                     fields, None = not given; error hints name `url_flag`.
    Request(id, messages, fingerprint="", prompt=None)
                                     one call; `id` unique in a batch, `fingerprint` a hash of
                                     what is judged (e.g. the prediction), part of the cache key.
                                     With `prompt`, the text goes as is to /v1/completions (no
                                     chat template; `messages` unused), else to /v1/chat/completions.
    run_batch(requests, cfg, *, cache_path, params=None, parse=None, parse_attempts=3,
              progress=True, label="requests") -> BatchReport
                                     sends what the cache lacks; `.results` is in input order,
                                     one Result per id. Sync wrapper of `arun_batch` (same args).
    estimate(requests, cfg, *, cache_path=None, params=None, output_tokens=None, batch=False)
        -> Estimate                  dry run: counts and a cost estimate, sends nothing.
    run_batch_api(requests, cfg, *, cache_path, params=None, parse=None, parse_attempts=3,
                  retry="online", poll_s=30.0, progress=True, label="requests") -> BatchReport
                                     the same through the Batch API (llm_client.batch): half the
                                     price, resumes polling a batch a killed run submitted.
    ParseError                       raise it (or ValueError) from `parse` to mark a reply as
                                     malformed: it is re-asked, then recorded `unparseable`.
    Result(id, status, text, value, reason, attempts, prompt_tokens, completion_tokens, cost,
           cached)                   status is "ok", "error" (kept failing; reason says why),
                                     "unparseable" (parse kept failing) or "skipped" (not sent:
                                     --max-cost reached). Only "ok" has a `value`.

Rate limits (limits._Limits): requests are paced evenly at the limits the server announces in its
x-ratelimit-* headers; `rpm` / `tpm` given by the user are upper bounds; without headers, those or
500 rpm / 150,000 tpm, and `concurrency` requests in flight at most. Tokens count as the provider
counts them before a call (prompt, a high estimate corrected by the usage, + max_tokens). A 429
slows the pace and answers restore it. Retries count against the limits like any request, as they
do at OpenAI.

Timeouts (limits._Latency): 3x the running p95 latency, between `timeout_floor_s` and `timeout_s`;
with `hedge` (the default), a request slower than 1.5x the p95 gets a second copy, first answer wins.

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

Modules: settings (LLMSettings, Endpoint, EndpointSettings, ClientConfig, keys, prices), datatypes (Request,
Result, ...), cache (resume cache keys and loading), limits (pacing, retry classification), runner
(run_batch, estimate), batch (the Batch API), reply (strict reading of a JSON reply), verdict (one
yes/no question per row: the judge's and the filter's). The progress bar is text2sql_cli.progress's.
Importing this package does not import `openai`.
"""

from text2sql_cli.llm_client.batch import run_batch_api
from text2sql_cli.llm_client.cache import REUSED_STATUSES, cache_key, load_cache, prompt_hash
from text2sql_cli.llm_client.datatypes import BatchReport, Estimate, ParseError, Request, Result
from text2sql_cli.llm_client.limits import _classify, _retry_after  # noqa: F401  (private; for tests)
from text2sql_cli.llm_client.runner import arun_batch, estimate, run_batch
from text2sql_cli.llm_client.settings import (
    OPENAI_BASE_URL,
    PRICES,
    ClientConfig,
    Endpoint,
    EndpointSettings,
    LLMSettings,
    approx_tokens,
    is_openai_url,
    price_of,
    resolve_key,
)

__all__ = [
    "OPENAI_BASE_URL",
    "PRICES",
    "REUSED_STATUSES",
    "BatchReport",
    "ClientConfig",
    "Endpoint",
    "EndpointSettings",
    "Estimate",
    "LLMSettings",
    "ParseError",
    "Request",
    "Result",
    "approx_tokens",
    "arun_batch",
    "cache_key",
    "estimate",
    "is_openai_url",
    "load_cache",
    "price_of",
    "prompt_hash",
    "resolve_key",
    "run_batch",
    "run_batch_api",
]
