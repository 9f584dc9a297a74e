"""The LLM check of `t2s filter`: does the gold SQL answer the question over the DDL?

    LLMFilterConfig.build(model, base_url=, api_key_env=, prompt_file=, max_cost=, **client_flags)
    parse_filter_verdict(text) -> {"verdict": "yes"|"no", "reason": str|None}
    estimate_llm(examples, cfg, out_dir) -> llm_client.Estimate          (--dry-run; sends nothing)
    run_llm(examples, cfg, out_dir) -> (dict id -> LLMOutcome, BatchReport)

Prompt: prompts.FILTER_PROMPT (or a template file), one user message, JSON response format,
temperature 0. Parsing is strict: a JSON object whose "verdict" (or the book's "resolve_yn") is
"yes" or "no"; anything else is re-asked, then recorded `unparseable`. Requests that keep failing
are `error`; ones not sent because --max-cost was reached are `skipped`. None of these is a
verdict: the caller holds or keeps such rows (see the package docstring), never drops them.

Calls go through llm_client (rate limits, retries, cost cap). The cache is
`<out_dir>/filter_llm_cache.jsonl`, keyed by model, prompt and row id, so rerunning the same
command after a crash, kill -9 included, sends only the rows that have no answer yet.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from text2sql_cli.data import Example
from text2sql_cli.errors import InputError
from text2sql_cli.llm_client import (
    BatchReport,
    ClientConfig,
    Estimate,
    ParseError,
    Request,
    estimate,
    run_batch,
)

CACHE_FILE = "filter_llm_cache.jsonl"
PARAMS = {"response_format": {"type": "json_object"}, "temperature": 0}
OUTPUT_TOKENS = 40  # a verdict and one short sentence; used for --dry-run only
VERDICT_KEYS = ("verdict", "resolve_yn")


@dataclass(frozen=True)
class LLMFilterConfig:
    client: ClientConfig
    template: str
    prompt_name: str = "default"
    parse_attempts: int = 3

    @classmethod
    def build(
        cls,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        prompt_file: Path | None = None,
        max_cost: float | None = None,
        require_key: bool = True,
        **client_flags: Any,
    ) -> LLMFilterConfig:
        """The endpoint and its key are the judge's (--judge-base-url, T2S_JUDGE_BASE_URL,
        T2S_JUDGE_API_KEY, T2S_JUDGE_API_KEY_ENV); `client_flags` are llm_client.LLMSettings fields."""
        from text2sql_cli.evaluation.judge import JudgeSettings

        endpoint = JudgeSettings.from_flags(judge_base_url=base_url, judge_api_key_env=api_key_env)
        client = ClientConfig.build(
            model,
            base_url=endpoint.judge_base_url,
            url_key=endpoint.judge_api_key,
            key_env=endpoint.judge_api_key_env,
            max_cost=max_cost,
            require_key=require_key,
            **client_flags,
        )
        template, name = load_filter_template(prompt_file)
        return cls(client, template, name, endpoint.judge_parse_attempts)

    def public_dump(self) -> dict[str, Any]:
        return {**self.client.public_dump(), "prompt": self.prompt_name}


def load_filter_template(path: Path | None) -> tuple[str, str]:
    from text2sql_cli.prompts import FILTER_PROMPT, validate_filter_template

    if path is None:
        return FILTER_PROMPT, "default"
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "filter prompt file not found", hint="check --judge-prompt")
    text = path.read_text(encoding="utf-8")
    problem = validate_filter_template(text)
    if problem:
        raise InputError(path, problem, hint="use {context}, {question} and {answer}")
    return text, str(path)


def parse_filter_verdict(text: str) -> dict[str, Any]:
    """{"verdict": "yes"|"no", "reason": ...} from a strict JSON reply; ParseError otherwise."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(f"not JSON ({err.msg})") from None
    if not isinstance(obj, dict):
        raise ParseError("not a JSON object")
    key = next((k for k in VERDICT_KEYS if k in obj), None)
    if key is None:
        raise ParseError('no "verdict" key in the JSON object')
    value = obj[key]
    verdict = value.strip().lower() if isinstance(value, str) else None
    if verdict not in ("yes", "no"):
        raise ParseError(f'"{key}" is {value!r}, not "yes" or "no"')
    reason = obj.get("reason")
    return {"verdict": verdict, "reason": " ".join(str(reason).split())[:300] if reason else None}


def build_requests(examples: list[Example], cfg: LLMFilterConfig) -> list[Request]:
    from text2sql_cli.prompts import render_filter_prompt

    out = []
    for ex in examples:
        prompt = render_filter_prompt(
            cfg.template, context=ex.context, question=ex.question, answer=ex.answer or ""
        )
        fingerprint = hashlib.sha256(f"{ex.context}\0{ex.question}\0{ex.answer}".encode()).hexdigest()[:16]
        out.append(Request(ex.id, [{"role": "user", "content": prompt}], fingerprint))
    return out


def estimate_llm(examples: list[Example], cfg: LLMFilterConfig, out_dir: Path) -> Estimate:
    return estimate(
        build_requests(examples, cfg),
        cfg.client,
        cache_path=Path(out_dir) / CACHE_FILE,
        params=PARAMS,
        output_tokens=OUTPUT_TOKENS,
    )


@dataclass(frozen=True)
class LLMOutcome:
    status: str  # "yes", "no", or one of filtering.LLM_UNVERIFIED
    reason: str | None = None
    cost: float = 0.0
    cached: bool = False


def run_llm(
    examples: list[Example], cfg: LLMFilterConfig, out_dir: Path, *, progress: bool = True
) -> tuple[dict[str, LLMOutcome], BatchReport]:
    report = run_batch(
        build_requests(examples, cfg),
        cfg.client,
        cache_path=Path(out_dir) / CACHE_FILE,
        params=PARAMS,
        parse=parse_filter_verdict,
        parse_attempts=cfg.parse_attempts,
        progress=progress,
        label="LLM filter",
    )
    outcomes = {}
    for res in report.results:
        if res.status == "ok":
            outcome = LLMOutcome(res.value["verdict"], res.value["reason"], res.cost, res.cached)
        else:
            outcome = LLMOutcome(res.status, res.reason, res.cost, res.cached)
        outcomes[str(res.id)] = outcome
    return outcomes, report
