"""One yes/no question asked of a chat model per row: the LLM judge's and the LLM filter's.

    task = VerdictTask(label, template, role, keys, cache_file, output_tokens)
    items = [VerdictItem(id, {"placeholder": value, ...}, fingerprint_of(...)), ...]
    run_verdicts(task, client, items, out_dir, parse_attempts=3) -> (list[Verdict], BatchReport)
    estimate_verdicts(task, client, items, out_dir) -> Estimate        (sends nothing)

Each item's prompt is the task's template filled with the item's values, sent as one message
(`role`) with the JSON response format and temperature 0. Parsing is strict (`parse_verdict`): a
JSON object (surrounding whitespace and a ```json fence around it allowed) whose first present key
of `keys` is "yes" or "no" (case and surrounding spaces ignored), with an optional short "reason".
Anything else is re-asked, then `unparseable`. A request that keeps failing is `error`; one not
sent because the cost cap was reached is `skipped`. None of these is ever a "no".

Calls go through `run_batch` (rate limits, retries, cost), or with `client.batch` through the Batch
API (llm_client.batch: half the price, same cache and results); the cache is `<out_dir>/<cache_file>`,
keyed by model, prompt, row id and fingerprint, so rerunning after a crash sends only the rest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from text2sql_cli.llm_client.datatypes import BatchReport, Estimate, ParseError, Request
from text2sql_cli.llm_client.reply import parse_json_reply
from text2sql_cli.llm_client.runner import estimate, run_batch
from text2sql_cli.llm_client.settings import ClientConfig, EndpointSettings

# max_tokens: a verdict is a short JSON object; a model that rambles is cut off (and re-asked as
# unparseable) instead of running up output tokens and the tpm budget, which counts max_tokens.
VERDICT_PARAMS = {"response_format": {"type": "json_object"}, "temperature": 0, "max_tokens": 512}
VerdictStatus = Literal["yes", "no", "unparseable", "error", "skipped"]
REASON_CHARS = 300  # a reason is one short sentence; longer text is cut


@dataclass(frozen=True)
class VerdictTask:
    """What is asked: `template` (a prompts.TextTemplate) rendered per item, sent as one `role`
    message; the verdict is read from the first of `keys` present in the reply."""

    label: str  # the progress bar's label
    template: Any  # prompts.TextTemplate
    role: Literal["system", "user"]
    keys: tuple[str, ...]
    cache_file: str
    output_tokens: int  # a reply's size, for estimates only


@dataclass(frozen=True)
class VerdictConfig:
    """Where a verdict task is asked (the client) and what with (the template): the judge's and
    the LLM filter's configs extend it with their task (`task()`) and their own settings."""

    client: ClientConfig
    template: Any  # prompts.TextTemplate
    parse_attempts: int = 3

    @staticmethod
    def endpoint(
        model: str | None,
        base_url: str | None,
        api_key_env: str | None,
        max_cost: float | None,
        require_key: bool,
        client_flags: dict[str, Any],
    ) -> tuple[ClientConfig, int]:
        """(the client, parse attempts) from the endpoint flags (None = not given) > env > .env >
        defaults (EndpointSettings); `client_flags` are LLMSettings fields."""
        endpoint = EndpointSettings.from_flags(
            model=model, base_url=base_url, api_key_env=api_key_env, max_cost=max_cost
        )
        return endpoint.client(require_key=require_key, **client_flags), endpoint.parse_attempts

    @property
    def prompt_name(self) -> str:
        return self.template.name

    def task(self) -> VerdictTask:
        raise NotImplementedError

    def public_dump(self) -> dict[str, Any]:
        return {**self.client.public_dump(), "prompt": self.prompt_name}

    def run(
        self, items: list[VerdictItem], out_dir: str | Path, *, progress: bool = True
    ) -> tuple[list[Verdict], BatchReport]:
        return run_verdicts(
            self.task(), self.client, items, out_dir, parse_attempts=self.parse_attempts, progress=progress
        )

    def estimate(self, items: list[VerdictItem], out_dir: str | Path) -> Estimate:
        return estimate_verdicts(self.task(), self.client, items, out_dir)


@dataclass(frozen=True)
class VerdictItem:
    id: Any
    values: dict[str, str]  # the template's placeholders
    fingerprint: str = ""  # a hash of what is judged: part of the cache key


@dataclass(frozen=True)
class Verdict:
    id: Any
    status: VerdictStatus
    reason: str | None = None
    cost: float = 0.0
    attempts: int = 0
    cached: bool = False


def fingerprint_of(*parts: str | None) -> str:
    return hashlib.sha256("\0".join(p or "" for p in parts).encode()).hexdigest()[:16]


def parse_verdict(text: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """{"verdict": "yes"|"no", "reason": str|None} from a strict JSON reply (`parse_json_reply`);
    ParseError otherwise: a bare `yes`, truncated JSON or any other shape is malformed."""
    obj = parse_json_reply(text)
    if not isinstance(obj, dict):
        raise ParseError("not a JSON object")
    key = next((k for k in keys if k in obj), None)
    if key is None:
        raise ParseError(f'no "{keys[0]}" key in the JSON object')
    value = obj[key]
    verdict = value.strip().lower() if isinstance(value, str) else None
    if verdict not in ("yes", "no"):
        raise ParseError(f'"{key}" is {value!r}, not "yes" or "no"')
    reason = obj.get("reason")
    return {"verdict": verdict, "reason": " ".join(str(reason).split())[:REASON_CHARS] if reason else None}


def build_requests(task: VerdictTask, items: list[VerdictItem]) -> list[Request]:
    return [
        Request(
            item.id, [{"role": task.role, "content": task.template.render(**item.values)}], item.fingerprint
        )
        for item in items
    ]


def estimate_verdicts(
    task: VerdictTask, client: ClientConfig, items: list[VerdictItem], out_dir: str | Path
) -> Estimate:
    """What `run_verdicts` would send and cost; sends nothing."""
    return estimate(
        build_requests(task, items),
        client,
        cache_path=Path(out_dir) / task.cache_file,
        params=VERDICT_PARAMS,
        output_tokens=task.output_tokens,
        batch=client.batch,
    )


def run_verdicts(
    task: VerdictTask,
    client: ClientConfig,
    items: list[VerdictItem],
    out_dir: str | Path,
    *,
    parse_attempts: int = 3,
    progress: bool = True,
) -> tuple[list[Verdict], BatchReport]:
    """One Verdict per item, in input order. Resumable through the cache in `out_dir`."""
    kwargs: dict[str, Any] = {}
    if client.batch:  # the Batch API: same requests, cache, parsing and results
        from text2sql_cli.llm_client.batch import run_batch_api as send

        kwargs = {"retry": client.batch_retry, "poll_s": client.batch_poll_s}
    else:
        send = run_batch
    report = send(
        build_requests(task, items),
        client,
        cache_path=Path(out_dir) / task.cache_file,
        params=VERDICT_PARAMS,
        parse=lambda text: parse_verdict(text, task.keys),
        parse_attempts=parse_attempts,
        progress=progress,
        label=task.label,
        **kwargs,
    )
    verdicts = [
        Verdict(r.id, r.value["verdict"], r.value["reason"], r.cost, r.attempts, r.cached)
        if r.status == "ok"
        else Verdict(r.id, r.status, r.reason, r.cost, r.attempts, r.cached)
        for r in report.results
    ]
    return verdicts, report
