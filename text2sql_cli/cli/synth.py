"""`t2s data synth`: question/SQL training rows for one's own schema, written by a teacher LLM and
checked (text2sql_cli/synth). `cli/data.py` calls `register(data_app)`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.cli._help import EXECUTION, OUTPUT, PAIRS, SCHEMA, TEACHER, command
from text2sql_cli.cli._judge import (
    LIMIT_DEFAULTS,
    JudgeApiKeyEnv,
    JudgeBaseUrl,
    JudgeModel,
    MaxCost,
    Rpm,
    Tpm,
)


def register(data_app: typer.Typer) -> None:
    data_app.command("synth", no_args_is_help=True, cls=command(dynamic=LIMIT_DEFAULTS))(synth)


def synth(
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Directory for synth.jsonl, dropped.jsonl, summary.json.",
            rich_help_panel=OUTPUT,
        ),
    ],
    teacher: Annotated[
        str,
        typer.Option(help="The chat model that writes the pairs, e.g. gpt-4o-mini.", rich_help_panel=TEACHER),
    ],
    ddl: Annotated[
        list[Path] | None,
        typer.Option(
            help="A DDL file or a directory of them (repeatable); each file is one db_id.",
            rich_help_panel=SCHEMA,
        ),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            help="A SQLite database: its schema, and its rows check the SQL.", rich_help_panel=SCHEMA
        ),
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            help="A MariaDB/PostgreSQL database to read the schema from (SQLAlchemy URL).",
            rich_help_panel=SCHEMA,
        ),
    ] = None,
    n: Annotated[int, typer.Option("--n", help="Pairs to keep per database.", rich_help_panel=PAIRS)] = 500,
    lang: Annotated[
        str, typer.Option(help="Language of the questions: ko or en.", rich_help_panel=PAIRS)
    ] = "ko",
    seed_data: Annotated[
        str | None,
        typer.Option(
            help="Your own rows (.jsonl/.json/.csv/.parquet): few-shot examples.", rich_help_panel=PAIRS
        ),
    ] = None,
    per_request: Annotated[
        int, typer.Option(help="Pairs asked for in one teacher request.", rich_help_panel=TEACHER)
    ] = 10,
    rounds: Annotated[
        int,
        typer.Option(
            help="Most rounds of requests while a database is short of --n.", rich_help_panel=TEACHER
        ),
    ] = 3,
    k: Annotated[
        int,
        typer.Option(
            "--k", "--instances", help="Synthesized databases the SQL runs on.", rich_help_panel=EXECUTION
        ),
    ] = 5,
    seed: Annotated[
        int,
        typer.Option(help="Seed for synthesized databases and few-shot choice.", rich_help_panel=EXECUTION),
    ] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds per query check.", rich_help_panel=EXECUTION)] = 5.0,
    teacher_base_url: Annotated[
        str | None,
        typer.Option(
            help="OpenAI-compatible base URL for the teacher.", show_default="OpenAI", rich_help_panel=TEACHER
        ),
    ] = None,
    teacher_api_key_env: Annotated[
        str | None,
        typer.Option(
            help="Name of the variable holding the key for --teacher-base-url.", rich_help_panel=TEACHER
        ),
    ] = None,
    judge: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    judge_api_key_env: JudgeApiKeyEnv = None,
    rpm: Rpm = None,
    tpm: Tpm = None,
    max_cost: MaxCost = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Estimate the teacher's first round of requests and cost; send nothing.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
) -> None:
    """Write N checked (question, SQL) pairs per database with a teacher LLM: OUT/synth.jsonl in
    t2s's row format (for `t2s data split` and `t2s train`), OUT/dropped.jsonl with each dropped
    pair's reason, OUT/summary.json. The teacher's answers are cached in OUT: rerun to resume
    without paying again. --max-cost caps the teacher and the judge each."""
    from text2sql_cli.cli._console import err
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.cli._judge import only_with_judge
    from text2sql_cli.errors import ConfigError, UsageError
    from text2sql_cli.llm_client import EndpointSettings
    from text2sql_cli.synth import SynthConfig, load_sources, run_synth

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", hint="give a directory (it is created if missing)")
    if lang not in ("ko", "en"):
        raise UsageError(f"--lang {lang!r} is not ko or en", hint="use --lang ko (default) or --lang en")
    for flag, value in (("--n", n), ("--per-request", per_request), ("--rounds", rounds), ("--k", k)):
        if value < 1:
            raise UsageError(f"{flag} must be at least 1 (got {value})")
    if timeout <= 0:
        raise UsageError(f"--timeout must be positive (got {timeout})")
    only_with_judge(
        judge,
        "the LLM check",
        **{"--judge-base-url": judge_base_url, "--judge-api-key-env": judge_api_key_env},
    )
    sources = load_sources(ddl=ddl, db=db, db_url=db_url)
    seed_rows = _seed_rows(seed_data) if seed_data else None
    flags = {"rpm": rpm, "tpm": tpm}
    endpoint = EndpointSettings.model_construct(
        model=teacher,
        base_url=teacher_base_url,
        api_key=None,
        api_key_env=teacher_api_key_env,
        max_cost=max_cost,
        parse_attempts=3,
    )
    try:
        teacher_flags = {"url_flag": "--teacher-base-url", "model_flag": "--teacher"}
        client = endpoint.client(require_key=not dry_run, **teacher_flags, **flags)
    except ConfigError as error:
        if teacher_base_url is None and str(error).startswith("no OpenAI API key"):
            raise ConfigError(
                "no OpenAI API key for --teacher",
                hint="export OPENAI_API_KEY=sk-... (or put it in .env), or use a local server with "
                "--teacher-base-url",
            ) from None
        raise
    llm = None
    if judge is not None:
        from text2sql_cli.filtering.llm import LLMFilterConfig

        llm = LLMFilterConfig.build(
            judge,
            base_url=judge_base_url,
            api_key_env=judge_api_key_env,
            max_cost=max_cost,
            require_key=not dry_run,
            **flags,
        )
    cfg = SynthConfig(
        n=n, lang=lang, per_request=per_request, rounds=rounds, instances=k, seed=seed, timeout=timeout
    )
    if not dry_run:
        from text2sql_cli.lock import hold as hold_lock

        hold_lock(out)  # a second run on this --out refuses, naming this one
    report = run_synth(sources, out, cfg, client, judge=llm, seed_rows=seed_rows, dry_run=dry_run)
    if report.estimate is not None:
        console.print(
            f"Dry run, nothing sent or written: {len(sources)} database(s), the teacher's first round "
            f"would send {report.estimate.line()}"
        )
        if llm is not None:
            console.print("The judge's requests come on top (one per kept pair).")
        return
    _print_summary(console, report.summary)
    stopped = report.summary["teacher_requests"]["stopped"] or (report.summary["judge"] or {}).get("stopped")
    if stopped:
        err.print(f"{stopped}: rerun the same command to continue")
    console.print("Wrote " + ", ".join(str(p) for p in report.paths.values()))
    from text2sql_cli.errors import check_request_errors

    teacher_errors = report.summary["teacher_requests"]["unanswered"].get("error", 0)
    check_request_errors(
        "teacher", teacher_errors, sum(r["requests"] for r in report.summary["by_db"].values())
    )
    if report.summary["judge"]:
        judge_errors = report.summary["judge"]["counts"].get("error", 0)
        check_request_errors("LLM check", judge_errors, report.summary["judge"]["asked"])


def _seed_rows(path: str) -> list[dict[str, str]]:
    from text2sql_cli.data import load_examples

    examples, _ = load_examples(path, flags=())
    return [
        {"db_id": e.db_id, "question": e.question, "answer": e.answer or ""} for e in examples if e.answer
    ]


def _print_summary(console, summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"t2s data synth: {summary['kept']} pairs kept")
    for name in ("db_id", "requests", "kept", "short of --n", "dropped"):
        table.add_column(name, justify="left" if name == "db_id" else "right")
    for db_id, row in summary["by_db"].items():
        dropped = sum(v for r, v in row["dropped"].items() if r != "surplus")
        table.add_row(db_id, str(row["requests"]), str(row["kept"]), str(row["short_of_n"]), str(dropped))
    console.print(table)
    if summary["by_reason"]:
        console.print("Dropped by reason: " + ", ".join(f"{k} {v}" for k, v in summary["by_reason"].items()))
    teacher = summary["teacher_requests"]
    if teacher["unanswered"]:
        console.print(
            "Teacher requests without pairs: "
            + ", ".join(f"{k} {v}" for k, v in teacher["unanswered"].items())
        )
    console.print(
        f"Teacher ({summary['teacher']['model']}): {teacher['http_requests_sent']} requests sent, "
        f"${teacher['cost_usd_this_run']:.4f} this run, ${teacher['cost_usd_total']:.4f} in all"
    )
    if summary["judge"]:
        j = summary["judge"]
        console.print(
            f"Judge ({j['model']}): {', '.join(f'{k} {v}' for k, v in j['counts'].items())}; "
            f"${j['cost_usd_this_run']:.4f} this run; {summary['held']} held (held.jsonl)"
        )
