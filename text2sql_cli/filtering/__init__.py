"""`t2s filter`: clean Text-to-SQL training rows with free rule checks, then (optionally) an LLM.

    FilterSettings                    the knobs (flags of `t2s filter`, `T2S_FILTER_*`, .env)
    run_filter(source, out_dir, cfg, ...) -> FilterReport     (filtering.run)

Rule checks run first, in this order, and a row is dropped by the first one it fails (one reason
code per dropped row, with a detail message):

    check      reason code(s)                 what it catches
    missing    missing_field                  empty or missing db_id/context/question/answer
    duplicate  duplicate                      a (question, context) pair seen earlier (first kept)
    parse      parse_error                    gold SQL sqlglot cannot parse, that is not a SQL
                                              statement, or that holds several statements
    schema     ddl_error, unknown_table,      the DDL has no readable CREATE TABLE; the gold SQL
               unknown_column                 names a table or column the DDL lacks (aliases, CTE
                                              names and subquery columns resolve, case-insensitive)
    execute    ddl_error, gold_error,         the gold SQL fails or runs out of time on its own DDL
               gold_timeout                   (sandboxed, read-only, an empty database)
    empty      empty_result                   the gold SQL returns no row on every synthesized
                                              instance (off by default: it can be legitimate)
    llm        llm_rejected                   with --judge MODEL: the LLM says the SQL does not
                                              answer the question over the DDL

Default checks: missing, duplicate, parse, schema, execute. Everything but `llm` is free and
offline. Statements other than queries (INSERT, UPDATE, ...) pass `execute` and `empty` untested;
the summary counts them under `notes`.

LLM failure policy: a row whose LLM verdict is `error` (the request kept failing),
`unparseable` (the reply was never a valid JSON verdict) or `skipped` (not sent: --max-cost
reached) is never dropped and never counted as "yes". With `on_llm_failure="hold"` (default) it
goes to `held.jsonl`, out of the kept file, and a rerun of the same command asks again for
`error`/`skipped` rows (the cache answers the rest); with `"keep"` it stays in the kept file. The
summary counts these rows under `llm_unverified` either way.

This package imports only pydantic and the standard library at load time; sqlglot and the SQL
engine load when checks start, openai only when the LLM check runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_serializer, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from text2sql_cli.choices import Dialect, Engine, OnLLMFailure  # shared with --help
from text2sql_cli.config import T2SSettings
from text2sql_cli.errors import UsageError

CHECKS = ("missing", "duplicate", "parse", "schema", "execute", "empty")
DEFAULT_CHECKS = ("missing", "duplicate", "parse", "schema", "execute")
REASONS = (
    "missing_field",
    "duplicate",
    "parse_error",
    "ddl_error",
    "unknown_table",
    "unknown_column",
    "gold_error",
    "gold_timeout",
    "empty_result",
    "llm_rejected",
)
# LLM outcomes that are not verdicts: held (or kept) and reported, never dropped.
LLM_UNVERIFIED = ("error", "unparseable", "skipped")


def parse_checks(spec: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """ "missing,parse" -> ("missing", "parse") in canonical order; UsageError for unknown names."""
    if spec is None:
        return DEFAULT_CHECKS
    names = [s.strip().lower() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if names == ["all"]:
        return CHECKS
    unknown = [n for n in names if n not in CHECKS]
    if unknown or not names:
        raise UsageError(
            f"unknown check(s) {', '.join(unknown) or '(none given)'} in --checks",
            hint=f"choose from {', '.join(CHECKS)} or 'all' (the LLM check is --judge MODEL)",
        )
    return tuple(c for c in CHECKS if c in names)


class FilterSettings(T2SSettings):
    """Settings of `t2s filter` (T2S_FILTER_<FLAG>; see config.py for precedence).

    The field is the flag (`--k` is the short form of `--instances`).

    No variable turns the LLM check on: it runs only when --judge is given, so a .env can never
    make this free command spend money. Its endpoint and key come from the judge's settings
    (--judge-base-url / T2S_JUDGE_BASE_URL, T2S_JUDGE_API_KEY, T2S_JUDGE_API_KEY_ENV).
    """

    model_config = SettingsConfigDict(**{**T2SSettings.model_config, "env_prefix": "T2S_FILTER_"})

    # NoDecode: the variable is "missing,parse" as on the command line, not a JSON list
    checks: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_CHECKS, description="comma-separated rule checks, or 'all'"
    )
    workers: int = Field(2, ge=1, description="worker processes for the SQL checks (1 = in process)")
    timeout: float = Field(5.0, gt=0, description="seconds per gold query")
    dialect: Dialect = Field("auto", description="dialect of the DDL and gold SQL")
    engine: Engine = Field(
        "sqlite", description="where gold SQL runs: embedded sqlite, or a mariadb/postgres server"
    )
    db_url: str | None = Field(None, description="server URL for --engine mariadb/postgres")

    @field_serializer("db_url", when_used="json")
    def _without_password(self, url: str | None) -> str | None:  # summaries never hold it
        from text2sql_cli.sql.engines import redact

        return redact(url) if url else url

    instances: int = Field(5, ge=1, le=50, description="synthesized databases for the empty check")
    seed: int = Field(0, description="seed for synthesized databases")
    on_llm_failure: OnLLMFailure = Field(
        "hold", description="rows whose LLM verdict failed: hold them apart, or keep them"
    )
    judge_prompt: Path | None = Field(None, description="custom LLM filter prompt template file")

    @field_validator("checks", mode="before")
    @classmethod
    def _known_checks(cls, value: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
        """The flag's (or variable's) "missing,parse" -> the known checks, in canonical order."""
        try:
            return parse_checks(value)
        except UsageError as err:
            raise ValueError(str(err)) from None  # message and hint: pydantic keeps only the text


def __getattr__(name: str):
    # run_filter lives in filtering.run; imported on first use so this package stays cheap.
    if name in ("run_filter", "FilterReport"):
        from text2sql_cli.filtering import run

        return getattr(run, name)
    raise AttributeError(name)
