"""The LLM-judge flags, declared once for `t2s eval --judge` and `t2s filter --judge` (one endpoint:
llm_client.EndpointSettings, `T2S_JUDGE_*`; the client knobs: llm_client.LLMSettings)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from text2sql_cli.choices import BatchRetry, choices
from text2sql_cli.cli._help import JUDGE as PANEL

JudgeModel = Annotated[
    str | None,
    typer.Option(
        "--judge",
        help="Ask this chat model too, e.g. gpt-4-turbo-preview (the book's judge); costs money.",
        rich_help_panel=PANEL,
    ),
]
JudgeBaseUrl = Annotated[
    str | None,
    typer.Option(
        help=("OpenAI-compatible base URL (vLLM, Ollama, Azure...). The OpenAI key is never sent elsewhere."),
        show_default="OpenAI",
        rich_help_panel=PANEL,
    ),
]
JudgeApiKeyEnv = Annotated[
    str | None,
    typer.Option(
        help=(
            "Name of the environment variable holding the key for --judge-base-url (or set "
            "T2S_JUDGE_API_KEY)."
        ),
        rich_help_panel=PANEL,
    ),
]
Rpm = Annotated[int | None, typer.Option(help="Most LLM requests per minute.", rich_help_panel=PANEL)]
Tpm = Annotated[int | None, typer.Option(help="Most LLM tokens per minute.", rich_help_panel=PANEL)]
Batch = Annotated[
    bool,
    typer.Option(
        "--batch",
        help=(
            "Send through the Batch API (OpenAI): half the price, answers within 24 h. The batch id "
            "is kept in OUT's cache: rerunning the command resumes polling, it never submits twice."
        ),
        rich_help_panel=PANEL,
    ),
]
BatchRetry = Annotated[
    str | None,
    typer.Option(
        metavar=choices(BatchRetry),
        help="With --batch: rows the batch failed are asked again online or in a new batch.",
        rich_help_panel=PANEL,
    ),
]
MaxCost = Annotated[
    float | None,
    typer.Option(
        help="Stop sending before this many USD are spent; what is done is kept, rerun to resume.",
        rich_help_panel=PANEL,
    ),
]


def _limit_default(name: str):
    def default() -> str:
        from text2sql_cli.llm_client import limits

        return f"the server's announced limit, else {getattr(limits, name)}"

    return default


# --help's defaults of --rpm/--tpm (cli/_help.command(dynamic=...)), from the client's constants
LIMIT_DEFAULTS = {"--rpm": _limit_default("DEFAULT_RPM"), "--tpm": _limit_default("DEFAULT_TPM")}


def batch_flags(batch: bool, batch_retry: str | None) -> dict[str, Any]:
    """llm_client.LLMSettings fields for --batch / --batch-retry (None = not given)."""
    from text2sql_cli.errors import UsageError

    if batch_retry is not None and not batch:
        raise UsageError("--batch-retry only applies with --batch", hint="add --batch")
    if batch_retry not in (None, "online", "batch"):
        raise UsageError(f"--batch-retry {batch_retry!r} is not online or batch")
    return {"llm_batch": True if batch else None, "llm_batch_retry": batch_retry}


def only_with_judge(judge: str | None, what: str, **given: Any) -> None:
    """Judge-only flags without --judge are a usage error naming them (`given`: flag -> value,
    None or False = not given)."""
    from text2sql_cli.errors import UsageError

    stray = [flag for flag, value in given.items() if value not in (None, False)]
    if judge is None and stray:
        raise UsageError(f"{', '.join(stray)} only apply to {what}", hint="add --judge MODEL")
