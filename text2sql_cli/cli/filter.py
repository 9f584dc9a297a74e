"""`t2s filter`: clean training data with free rule checks and, on request, an LLM.

Thin layer: flags -> `FilterSettings` (+ `LLMFilterConfig` with --judge) -> `filtering.run_filter`,
then a summary table by db_id and reason. Reason codes and the LLM failure policy are documented
in `text2sql_cli/filtering/__init__.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.choices import Dialect, OnLLMFailure, choices
from text2sql_cli.cli._flags import Columns, HubConfig, HubSplit, OldHubConfig, SqlEngine, SqlSeed, SqlWorkers
from text2sql_cli.cli._help import CHECKS, DATA, EXECUTION, JUDGE, OUTPUT, command
from text2sql_cli.cli._judge import (
    LIMIT_DEFAULTS,
    Batch,
    BatchRetry,
    JudgeApiKeyEnv,
    JudgeBaseUrl,
    JudgeModel,
    MaxCost,
    Rpm,
    Tpm,
)
from text2sql_cli.cli._options import hub_config_of


def register(app: typer.Typer) -> None:
    settings = ("filtering:FilterSettings", "llm_client.settings:EndpointSettings")
    settings += ("llm_client.settings:LLMSettings",)
    cls = command(*(f"text2sql_cli.{path}" for path in settings), dynamic=LIMIT_DEFAULTS)
    app.command("filter", no_args_is_help=True, cls=cls)(filter_command)


def filter_command(
    data: Annotated[
        str,
        typer.Argument(help="A .jsonl/.json/.csv/.parquet file, or a hub dataset id.", rich_help_panel=DATA),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Directory for kept.<ext>, dropped.jsonl and summary.json.",
            rich_help_panel=OUTPUT,
        ),
    ],
    checks: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated rule checks: missing, duplicate, parse, schema, execute, empty (or all).",
            rich_help_panel=CHECKS,
        ),
    ] = None,
    workers: SqlWorkers = None,
    timeout: Annotated[
        float | None, typer.Option(help="Seconds per gold query.", rich_help_panel=EXECUTION)
    ] = None,
    dialect: Annotated[
        str | None,
        typer.Option(
            metavar=choices(Dialect),
            help="Dialect of DDL and gold SQL: auto, mysql, postgres, sqlite.",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    engine: SqlEngine = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            help="Server for --engine, e.g. mysql://user@127.0.0.1:3306/.", rich_help_panel=EXECUTION
        ),
    ] = None,
    k: Annotated[
        int | None,
        typer.Option(
            "--k", "--instances", help="Synthesized databases for the empty check.", rich_help_panel=EXECUTION
        ),
    ] = None,
    seed: SqlSeed = None,
    columns: Columns = None,
    hub_config: HubConfig = None,
    config: OldHubConfig = None,
    split_name: HubSplit = "train",
    judge: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    judge_api_key_env: JudgeApiKeyEnv = None,
    judge_prompt: Annotated[
        Path | None,
        typer.Option(
            help="Prompt template file; its placeholders: context, question, answer (in braces).",
            rich_help_panel=JUDGE,
        ),
    ] = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    batch: Batch = False,
    batch_retry: BatchRetry = None,
    max_cost: MaxCost = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Run the rule checks, estimate the LLM requests and cost; send and write nothing.",
            rich_help_panel=JUDGE,
        ),
    ] = False,
    on_llm_failure: Annotated[
        str | None,
        typer.Option(
            metavar=choices(OnLLMFailure),
            help=(
                "Rows the LLM could not judge (error, unparseable, skipped): hold (out of kept, in "
                "held.jsonl) or keep."
            ),
            rich_help_panel=JUDGE,
        ),
    ] = None,
) -> None:
    """Drop bad training rows: missing fields, duplicates, SQL that does not parse, names the DDL
    lacks, gold SQL that fails on its DDL; optionally empty results and an LLM's verdict.
    Writes OUT/kept.<input format>, OUT/dropped.jsonl (with reasons) and OUT/summary.json."""
    from text2sql_cli.cli._console import err
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.cli._judge import batch_flags, only_with_judge
    from text2sql_cli.data import parse_columns
    from text2sql_cli.errors import UsageError
    from text2sql_cli.filtering import FilterSettings, run_filter

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", hint="give a directory (it is created if missing)")
    only_with_judge(
        judge,
        "the LLM check",
        **{
            "--judge-base-url": judge_base_url,
            "--judge-api-key-env": judge_api_key_env,
            "--judge-prompt": judge_prompt,
            "--rpm": rpm,
            "--tpm": tpm,
            "--max-cost": max_cost,
            "--dry-run": dry_run,
            "--batch": batch,
            "--batch-retry": batch_retry,
        },
    )
    from text2sql_cli.lock import hold as hold_lock

    hold_lock(out)  # a second run on this --out refuses, naming this one
    cfg = FilterSettings.from_flags(
        checks=checks,
        workers=workers,
        timeout=timeout,
        dialect=dialect,
        instances=k,
        seed=seed,
        engine=engine,
        db_url=db_url,
        on_llm_failure=on_llm_failure,
        judge_prompt=judge_prompt,
    )
    llm = None
    if judge is not None:
        from text2sql_cli.filtering.llm import LLMFilterConfig

        llm = LLMFilterConfig.build(
            judge,
            base_url=judge_base_url,
            api_key_env=judge_api_key_env,
            prompt_file=cfg.judge_prompt,
            max_cost=max_cost,
            rpm=rpm,
            tpm=tpm,
            require_key=not dry_run,
            **batch_flags(batch, batch_retry),
        )  # a dry run sends nothing, so needs no key
    config = hub_config_of(hub_config, config)
    report = run_filter(
        data,
        out,
        cfg,
        columns=parse_columns(columns),
        config=config,
        split=split_name,
        llm=llm,
        dry_run=dry_run,
    )
    print_summary(console, report.summary)
    if report.estimate is not None:
        console.print(f"Dry run, nothing sent or written: the LLM check would send {report.estimate.line()}")
        return
    if report.summary.get("llm", {}) and report.summary["llm"].get("stopped"):
        err.print(f"{report.summary['llm']['stopped']}: rerun the same command to continue")
    written = ", ".join(str(p) for p in report.paths.values())
    console.print(f"Wrote {written}")
    if report.summary.get("llm"):
        from text2sql_cli.errors import check_request_errors

        errors = (report.summary.get("llm_unverified") or {}).get("error", 0)
        check_request_errors("LLM filter", errors, report.summary["llm"]["asked"])


def print_summary(console, summary: dict) -> None:
    """Rows kept and dropped per db_id, then dropped rows per reason (long format: fits any width)."""
    from rich.table import Table

    held = bool(summary["held"] or summary["llm_unverified"])
    table = Table(title=f"t2s filter: {summary['rows']} rows")
    for name in ("db_id", "rows", "kept", "dropped", *(["held"] if held else [])):
        table.add_column(name, justify="left" if name == "db_id" else "right")
    fields = ("rows", "kept", "dropped", *(["held"] if held else []))
    for db, row in summary["by_db"].items():
        table.add_row(db, *(str(row[k]) for k in fields))
    table.add_row("all", *(str(summary[k]) for k in fields), style="bold")
    console.print(table)
    console.print(f"Checks: {', '.join(summary['checks'])}")
    if summary["by_reason"]:
        reasons = Table(title="dropped by reason")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        reasons.add_column("by db_id")
        for reason, n in summary["by_reason"].items():
            per_db = ", ".join(
                f"{db}: {row['by_reason'][reason]}"
                for db, row in summary["by_db"].items()
                if reason in row["by_reason"]
            )
            reasons.add_row(reason, str(n), per_db)
        console.print(reasons)
    if summary["llm_unverified"]:
        statuses = ", ".join(f"{k} {v}" for k, v in summary["llm_unverified"].items())
        where = (
            "held apart (held.jsonl)"
            if summary["settings"]["on_llm_failure"] == "hold"
            else "kept unverified"
        )
        console.print(
            f"LLM could not judge {sum(summary['llm_unverified'].values())} rows ({statuses}): {where}"
        )
    llm = summary.get("llm")
    if llm:
        console.print(
            f"LLM check ({llm['model']}): {llm['requests_sent']} requests sent, "
            f"${llm['cost_usd_this_run']:.4f} this run, ${llm['cost_usd_total']:.4f} in all"
        )
    if summary["notes"]:
        console.print("Notes: " + ", ".join(f"{k} {v}" for k, v in summary["notes"].items()))
