"""LLM judge: asks a chat model whether each prediction answers its question, the book's way.

Default prompt: the book's (prompts.BOOK_JUDGE_PROMPT) sent as one system message with the JSON
response format and temperature 0. `sees="sql"` (default) shows the judge the extracted SQL;
`sees="raw"` shows the raw generation, as the book did. A custom template file uses the
placeholders {context} {question} {answer} {gen_sql} and must ask for {"resolve_yn": ...}.

Parsing is strict: the reply must be a JSON object whose "resolve_yn" is "yes" or "no" (case and
surrounding spaces ignored). Anything else is re-asked, then recorded as `unparseable`. A request
that keeps failing is `error`; one not sent because --max-cost was reached is `skipped`. None of
these is ever a "no": the score is yes / (yes + no), and they are reported beside it. A row that
`t2s infer` could not generate (it carries `error`) is `no_generation`: not asked, not counted.

With `sees="sql"`, a row whose SQL could not be extracted is a "no" without asking (there is
nothing to judge); its reason says so.

The asking, parsing, caching and cost are `llm_client.verdict`'s (shared with `t2s filter`); this
module maps a prediction row to the prompt's placeholders and summarizes the verdicts. The cache is
`<out_dir>/judge_cache.jsonl`, so rerunning the same command after a crash sends only the rest.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from text2sql_cli.choices import Sees  # shared with --help
from text2sql_cli.config import T2SSettings
from text2sql_cli.errors import InputError
from text2sql_cli.llm_client import BatchReport, Estimate
from text2sql_cli.llm_client.verdict import (
    VerdictConfig,
    VerdictItem,
    VerdictTask,
    fingerprint_of,
)
from text2sql_cli.llm_client.verdict import parse_verdict as _parse

CACHE_FILE = "judge_cache.jsonl"
JUDGE_KEYS = ("resolve_yn",)
JUDGE_OUTPUT_TOKENS = 12  # {"resolve_yn": "yes"} is about 8 tokens; used for --dry-run only
VERDICTS = ("yes", "no", "unparseable", "error", "skipped", "no_generation")
SCORE_NOTE = (
    "yes / (yes + no); unparseable, error, skipped and no_generation rows are excluded from the denominator"
)


class JudgeSettings(T2SSettings):
    """What `t2s eval`'s judge is shown and asked (its endpoint is llm_client.EndpointSettings)."""

    model_config = SettingsConfigDict(**{**T2SSettings.model_config, "env_prefix": "T2S_EVAL_"})

    judge_sees: Sees = Field("sql", description="what the judge is shown: sql or raw")
    judge_prompt: Path | None = Field(None, description="custom judge template file")


@dataclass(frozen=True)
class JudgeConfig(VerdictConfig):
    """The client, the template (the book's prompt by default), the parse attempts and what the
    judge sees."""

    sees: Sees = "sql"

    @classmethod
    def build(
        cls,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        sees: Sees | None = None,
        prompt_file: Path | None = None,
        max_cost: float | None = None,
        require_key: bool = True,
        **client_flags: Any,
    ) -> JudgeConfig:
        """From flags (None = not given) > T2S_JUDGE_* / T2S_* env > .env > defaults.
        `client_flags` are llm_client.LLMSettings fields (rpm, tpm, ...)."""
        from text2sql_cli.prompts import JUDGE_TEMPLATE

        client, parse_attempts = cls.endpoint(
            model, base_url, api_key_env, max_cost, require_key, client_flags
        )
        settings = JudgeSettings.from_flags(judge_sees=sees, judge_prompt=prompt_file)
        template = JUDGE_TEMPLATE.with_file(settings.judge_prompt, what="judge prompt file")
        return cls(client, template, parse_attempts, settings.judge_sees)

    def task(self) -> VerdictTask:
        return VerdictTask("judge", self.template, "system", JUDGE_KEYS, CACHE_FILE, JUDGE_OUTPUT_TOKENS)

    def public_dump(self) -> dict[str, Any]:
        return {**self.client.public_dump(), "sees": self.sees, "prompt": self.prompt_name}


@dataclass
class Verdict:
    id: Any
    verdict: str  # one of VERDICTS
    reason: str | None = None
    cost: float = 0.0
    attempts: int = 0
    cached: bool = False


@dataclass
class JudgeReport:
    verdicts: list[Verdict]
    summary: dict[str, Any]


def parse_verdict(text: str) -> str:
    """'yes' or 'no' from a strict JSON reply; ParseError for anything else."""
    return _parse(text, JUDGE_KEYS)["verdict"]


def _gold(row: dict[str, Any]) -> str | None:
    gold = row.get("gold")
    return gold if isinstance(gold, str) and gold.strip() else None


def _gen_sql(row: dict[str, Any], sees: str) -> str | None:
    value = row.get("sql") if sees == "sql" else row.get("raw")
    return value if isinstance(value, str) and value.strip() else None


def _no_generation(row: dict[str, Any]) -> bool:
    """`t2s infer` failed on this row (it wrote `error` and no `raw`): nothing to judge."""
    return row.get("error") is not None


def _check_rows(predictions: list[dict[str, Any]], sees: str) -> None:
    needed = ("id", "question", "context", "gold", "sql" if sees == "sql" else "raw")
    problems = [
        f"row {i + 1} lacks {', '.join(k for k in needed if k not in row)}"
        for i, row in enumerate(predictions)
        if any(k not in row for k in needed)
    ]
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InputError(
            None, "; ".join(problems[:5]) + more, hint=f"judge rows need {', '.join(needed)} (from t2s infer)"
        )


def items_for(predictions: list[dict[str, Any]], sees: str) -> list[VerdictItem | None]:
    """One item per row (its placeholders), None where there is nothing to judge (no generation,
    no SQL, no gold)."""
    _check_rows(predictions, sees)
    out: list[VerdictItem | None] = []
    for row in predictions:
        gen, gold = _gen_sql(row, sees), _gold(row)
        if gen is None or gold is None or _no_generation(row):
            out.append(None)
            continue
        values = {
            "context": str(row["context"] or ""),
            "question": str(row["question"] or ""),
            "answer": gold,
            "gen_sql": gen,
        }
        out.append(VerdictItem(row["id"], values, fingerprint_of(gen)))
    return out


def estimate_judge(predictions: list[dict[str, Any]], cfg: JudgeConfig, out_dir: Path) -> Estimate:
    """--dry-run: what the judge would send and cost; sends nothing."""
    return cfg.estimate([i for i in items_for(predictions, cfg.sees) if i is not None], out_dir)


def run_judge(
    predictions: list[dict[str, Any]], cfg: JudgeConfig, out_dir: Path, *, progress: bool = True
) -> JudgeReport:
    """Judge every row; verdicts come back in input order. Resumable through the cache in out_dir."""
    built = items_for(predictions, cfg.sees)
    asked, report = cfg.run([i for i in built if i is not None], out_dir, progress=progress)
    by_id = {str(v.id): v for v in asked}
    verdicts = []
    for row, item in zip(predictions, built):
        if _no_generation(row):
            verdicts.append(
                Verdict(
                    row["id"], "no_generation", "t2s infer produced no generation; the judge was not asked"
                )
            )
            continue
        if item is None and _gold(row) is None:
            verdicts.append(Verdict(row["id"], "skipped", "no gold SQL to compare with"))
            continue
        if item is None:
            verdicts.append(
                Verdict(row["id"], "no", "no SQL was extracted from the generation; the judge was not asked")
            )
            continue
        v = by_id[str(item.id)]
        verdicts.append(Verdict(row["id"], v.status, v.reason, v.cost, v.attempts, v.cached))
    return JudgeReport(verdicts, summarize(verdicts, cfg, report))


def summarize(verdicts: list[Verdict], cfg: JudgeConfig, report: BatchReport) -> dict[str, Any]:
    counts = {v: sum(1 for x in verdicts if x.verdict == v) for v in VERDICTS}
    judged = counts["yes"] + counts["no"]
    return {
        **cfg.public_dump(),
        "n": len(verdicts),
        **counts,
        "judged": judged,
        "score": counts["yes"] / judged if judged else None,
        "score_note": SCORE_NOTE,
        # The book's number: yes over every test row (its runs had no failed rows to set aside).
        "yes_of_all": counts["yes"] / len(verdicts) if verdicts else None,
        "requests_sent": report.sent,
        "cost_usd_this_run": round(report.cost, 6),
        "cost_usd_total": round(report.total_cost, 6),
        "stopped": report.stopped,
    }


def verdict_columns(v: Verdict) -> dict[str, Any]:
    """The columns the judge adds to a results row: `judge` is True/False for yes/no and None
    for every failed verdict, so report.py scores it over judged rows only."""
    score = {"yes": True, "no": False}.get(v.verdict)
    return {"judge": score, "judge_verdict": v.verdict, "judge_reason": v.reason}


def judge_column(predictions: list[Any], cfg: JudgeConfig, out_dir: Path, *, progress: bool = True):
    """For `t2s eval`: (one column dict per prediction, JudgeReport). Accepts report.Prediction
    objects or dicts."""
    rows = [p if isinstance(p, dict) else asdict(p) for p in predictions]
    report = run_judge(rows, cfg, out_dir, progress=progress)
    return [verdict_columns(v) for v in report.verdicts], report


def rows_for_estimate(predictions: list[Any]) -> list[dict[str, Any]]:
    return [p if isinstance(p, dict) else asdict(p) for p in predictions]
