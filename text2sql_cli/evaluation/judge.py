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

Calls go through llm_client (rate limits, retries, resume, cost); the cache is
`<out_dir>/judge_cache.jsonl`, so rerunning the same command after a crash sends only the rest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr

from text2sql_cli.config import T2SSettings
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

CACHE_FILE = "judge_cache.jsonl"
JUDGE_PARAMS = {"response_format": {"type": "json_object"}, "temperature": 0}
JUDGE_OUTPUT_TOKENS = 12  # {"resolve_yn": "yes"} is about 8 tokens; used for --dry-run only
VERDICTS = ("yes", "no", "unparseable", "error", "skipped", "no_generation")
SCORE_NOTE = (
    "yes / (yes + no); unparseable, error, skipped and no_generation rows are excluded from the denominator"
)


class JudgeSettings(T2SSettings):
    judge_model: str | None = Field(None, description="judge model, e.g. gpt-4-turbo-preview")
    judge_base_url: str | None = Field(None, description="OpenAI-compatible base URL (default: OpenAI)")
    judge_api_key: SecretStr | None = Field(None, description="key for the judge's base URL")
    judge_api_key_env: str | None = Field(None, description="name of the variable holding that key")
    judge_sees: Literal["sql", "raw"] = "sql"
    judge_prompt: Path | None = Field(None, description="custom judge template file")
    judge_parse_attempts: int = Field(3, ge=1, description="asks per row before 'unparseable'")


@dataclass(frozen=True)
class JudgeConfig:
    client: ClientConfig
    sees: str = "sql"
    template: str = ""
    prompt_name: str = "book"
    parse_attempts: int = 3

    @classmethod
    def build(
        cls,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key_env: str | None = None,
        sees: str | None = None,
        prompt_file: Path | None = None,
        max_cost: float | None = None,
        require_key: bool = True,
        **client_flags: Any,
    ) -> JudgeConfig:
        """From flags (None = not given) > T2S_JUDGE_* / T2S_* env > .env > defaults.
        `client_flags` are llm_client.LLMSettings fields (rpm, tpm, ...)."""
        from text2sql_cli.errors import ConfigError

        settings = JudgeSettings.from_flags(
            judge_model=model,
            judge_base_url=base_url,
            judge_api_key_env=api_key_env,
            judge_sees=sees,
            judge_prompt=prompt_file,
        )
        if not settings.judge_model:
            raise ConfigError(
                "no judge model", hint="pass --judge MODEL (e.g. gpt-4-turbo-preview) or set T2S_JUDGE_MODEL"
            )
        client = ClientConfig.build(
            settings.judge_model,
            base_url=settings.judge_base_url,
            url_key=settings.judge_api_key,
            key_env=settings.judge_api_key_env,
            max_cost=max_cost,
            require_key=require_key,
            **client_flags,
        )
        template, name = load_judge_template(settings.judge_prompt)
        return cls(client, settings.judge_sees, template, name, settings.judge_parse_attempts)

    def public_dump(self) -> dict[str, Any]:
        return {**self.client.public_dump(), "sees": self.sees, "prompt": self.prompt_name}


def load_judge_template(path: Path | None) -> tuple[str, str]:
    """(template text, name): the book's prompt, or a checked template file."""
    from text2sql_cli.prompts import BOOK_JUDGE_PROMPT, validate_judge_template

    if path is None:
        return BOOK_JUDGE_PROMPT, "book"
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "judge prompt file not found")
    text = path.read_text(encoding="utf-8")
    problem = validate_judge_template(text)
    if problem:
        raise InputError(path, problem, hint="use {context} {question} {answer} {gen_sql}")
    return text, str(path)


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
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(f"not JSON ({err.msg})") from None
    if not isinstance(obj, dict) or "resolve_yn" not in obj:
        raise ParseError('no "resolve_yn" key in the JSON object')
    value = obj["resolve_yn"]
    answer = value.strip().lower() if isinstance(value, str) else None
    if answer not in ("yes", "no"):
        raise ParseError(f'"resolve_yn" is {value!r}, not "yes" or "no"')
    return answer


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


def build_requests(predictions: list[dict[str, Any]], cfg: JudgeConfig) -> list[Request | None]:
    """One request per row, None where there is nothing to judge (no generation, no SQL, no gold)."""
    from text2sql_cli.prompts import render_judge_prompt

    _check_rows(predictions, cfg.sees)
    out: list[Request | None] = []
    for row in predictions:
        gen, gold = _gen_sql(row, cfg.sees), _gold(row)
        if gen is None or gold is None or _no_generation(row):
            out.append(None)
            continue
        prompt = render_judge_prompt(
            cfg.template,
            context=str(row["context"] or ""),
            question=str(row["question"] or ""),
            answer=gold,
            gen_sql=gen,
        )
        fingerprint = hashlib.sha256(gen.encode()).hexdigest()[:16]
        out.append(Request(row["id"], [{"role": "system", "content": prompt}], fingerprint))
    return out


def estimate_judge(predictions: list[dict[str, Any]], cfg: JudgeConfig, out_dir: Path) -> Estimate:
    """--dry-run: what the judge would send and cost; sends nothing."""
    requests = [r for r in build_requests(predictions, cfg) if r is not None]
    return estimate(
        requests,
        cfg.client,
        cache_path=Path(out_dir) / CACHE_FILE,
        params=JUDGE_PARAMS,
        output_tokens=JUDGE_OUTPUT_TOKENS,
    )


def run_judge(
    predictions: list[dict[str, Any]], cfg: JudgeConfig, out_dir: Path, *, progress: bool = True
) -> JudgeReport:
    """Judge every row; verdicts come back in input order. Resumable through the cache in out_dir."""
    built = build_requests(predictions, cfg)
    requests = [r for r in built if r is not None]
    report = run_batch(
        requests,
        cfg.client,
        cache_path=Path(out_dir) / CACHE_FILE,
        params=JUDGE_PARAMS,
        parse=parse_verdict,
        parse_attempts=cfg.parse_attempts,
        progress=progress,
        label="judge",
    )
    by_id = {str(r.id): r for r in report.results}
    verdicts = []
    for row, req in zip(predictions, built):
        if _no_generation(row):
            verdicts.append(
                Verdict(
                    row["id"], "no_generation", "t2s infer produced no generation; the judge was not asked"
                )
            )
            continue
        if req is None and _gold(row) is None:
            verdicts.append(Verdict(row["id"], "skipped", "no gold SQL to compare with"))
            continue
        if req is None:
            verdicts.append(
                Verdict(row["id"], "no", "no SQL was extracted from the generation; the judge was not asked")
            )
            continue
        res = by_id[str(req.id)]
        verdict = res.value if res.status == "ok" else res.status
        verdicts.append(Verdict(row["id"], verdict, res.reason, res.cost, res.attempts, res.cached))
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
