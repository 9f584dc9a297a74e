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

The asking, parsing, caching and cost are `llm_client.verdict`'s (shared with the judge of
`t2s eval`); this module maps a row to the prompt's placeholders. The cache is
`<out_dir>/filter_llm_cache.jsonl`, keyed by model, prompt and row id, so rerunning the same
command after a crash, kill -9 included, sends only the rows that have no answer yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from text2sql_cli.data import Example
from text2sql_cli.llm_client import BatchReport, Estimate
from text2sql_cli.llm_client.verdict import (
    VerdictConfig,
    VerdictItem,
    VerdictTask,
    fingerprint_of,
)
from text2sql_cli.llm_client.verdict import parse_verdict as _parse

CACHE_FILE = "filter_llm_cache.jsonl"
OUTPUT_TOKENS = 40  # a verdict and one short sentence; used for --dry-run only
VERDICT_KEYS = ("verdict", "resolve_yn")


@dataclass(frozen=True)
class LLMFilterConfig(VerdictConfig):
    """The client, the template (prompts.FILTER_PROMPT by default) and the parse attempts."""

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
        """The endpoint is the judge's (llm_client.EndpointSettings: --judge-base-url,
        T2S_JUDGE_BASE_URL, T2S_JUDGE_API_KEY, T2S_JUDGE_API_KEY_ENV); `client_flags` are
        llm_client.LLMSettings fields."""
        from text2sql_cli.prompts import FILTER_TEMPLATE

        client, parse_attempts = cls.endpoint(
            model, base_url, api_key_env, max_cost, require_key, client_flags
        )
        template = FILTER_TEMPLATE.with_file(prompt_file, what="filter prompt file")
        return cls(client, template, parse_attempts)

    def task(self) -> VerdictTask:
        return VerdictTask("LLM filter", self.template, "user", VERDICT_KEYS, CACHE_FILE, OUTPUT_TOKENS)


def parse_filter_verdict(text: str) -> dict[str, Any]:
    """{"verdict": "yes"|"no", "reason": ...} from a strict JSON reply; ParseError otherwise."""
    return _parse(text, VERDICT_KEYS)


def items_for(examples: list[Example]) -> list[VerdictItem]:
    return [
        VerdictItem(
            ex.id,
            {"context": ex.context, "question": ex.question, "answer": ex.answer or ""},
            fingerprint_of(ex.context, ex.question, str(ex.answer)),
        )
        for ex in examples
    ]


def estimate_llm(examples: list[Example], cfg: LLMFilterConfig, out_dir: Path) -> Estimate:
    return cfg.estimate(items_for(examples), out_dir)


@dataclass(frozen=True)
class LLMOutcome:
    status: str  # "yes", "no", or one of filtering.LLM_UNVERIFIED
    reason: str | None = None
    cost: float = 0.0
    cached: bool = False


def run_llm(
    examples: list[Example], cfg: LLMFilterConfig, out_dir: Path, *, progress: bool = True
) -> tuple[dict[str, LLMOutcome], BatchReport]:
    verdicts, report = cfg.run(items_for(examples), out_dir, progress=progress)
    outcomes = {str(v.id): LLMOutcome(v.status, v.reason, v.cost, v.cached) for v in verdicts}
    return outcomes, report
