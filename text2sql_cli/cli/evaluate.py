"""`t2s eval`: score predictions by execution accuracy (EX), exact match (EM) and an LLM judge.

Thin layer: parse flags into an `evaluation.report.EvalConfig` (ExecutionSettings + JudgeConfig),
call `evaluation.report.evaluate` (the judge is one of its metrics), write results.jsonl and
summary.json, print the summary. sqlglot and the evaluation code load inside the command, so
`t2s --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.choices import Dialect, EvalMode, Sees, choices
from text2sql_cli.cli._flags import SqlEngine, SqlSeed, SqlWorkers
from text2sql_cli.cli._help import DATA, EXECUTION, INSPECT, JUDGE, METRICS, OUTPUT, command
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


def register(app: typer.Typer) -> None:
    settings = ("evaluation.execution:ExecutionSettings", "evaluation.judge:JudgeSettings")
    settings += ("llm_client.settings:EndpointSettings", "llm_client.settings:LLMSettings")
    cls = command(
        *(f"text2sql_cli.{path}" for path in settings),
        dynamic={**LIMIT_DEFAULTS, "--timeout": _timeout_default, "--float-tol": _float_tol_default},
    )
    app.command("eval", no_args_is_help=True, cls=cls)(evaluate)


def _timeout_default() -> str:
    """--timeout's default by mode, from the table EX uses."""
    from text2sql_cli.evaluation.execution import DEFAULT_TIMEOUT, MODE_TIMEOUT

    return f"{DEFAULT_TIMEOUT:g}; " + ", ".join(f"{mode} {s:g}" for mode, s in MODE_TIMEOUT.items())


def _float_tol_default() -> str:
    """--float-tol's default by mode, from the function EX uses."""
    from text2sql_cli.sql.goldmatch import default_float_tol

    strict, other = default_float_tol("strict"), default_float_tol("spider")
    return f"{strict:g} in strict mode, {other:g} (exact) in the others"


def evaluate(
    predictions: Annotated[
        Path, typer.Argument(help="Predictions JSONL written by `t2s infer`.", rich_help_panel=DATA)
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Directory for results.jsonl and summary.json.",
            show_default="PREDICTIONS.eval/ beside the predictions",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an --out directory that holds the eval of other predictions.",
            rich_help_panel=OUTPUT,
        ),
    ] = False,
    columns: Annotated[
        str | None,
        typer.Option(
            help="Another tool's column names: sql=pred,gold=query (fields: id, db_id, question, "
            "context, raw, sql, gold).",
            rich_help_panel=DATA,
        ),
    ] = None,
    count_missing_as_wrong: Annotated[
        bool,
        typer.Option(
            "--count-missing-as-wrong",
            help="Score rows t2s infer could not generate as wrong in EX and EM (default: left out).",
            rich_help_panel=DATA,
        ),
    ] = False,
    explain: Annotated[
        str | None,
        typer.Option(
            help="Score one example (its id) and print why: SQL, verdict, differing rows.",
            rich_help_panel=INSPECT,
        ),
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            help="Score only these ids (ID,ID,...) and explain each; writes no results.",
            rich_help_panel=INSPECT,
        ),
    ] = None,
    save_dbs: Annotated[
        Path | None,
        typer.Option(
            help="Write the synthesized SQLite databases to DIR/<id>/instance-N.sqlite.",
            rich_help_panel=INSPECT,
        ),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Comma-separated metrics: ex, em.", rich_help_panel=METRICS)
    ] = "ex,em",
    mode: Annotated[
        str | None,
        typer.Option(
            metavar=choices(EvalMode),
            help="EX comparison: strict (default on synthesized databases), spider (the official "
            "test-suite evaluator; default with --db-dir), bird (row sets), sqleval (defog).",
            rich_help_panel=METRICS,
        ),
    ] = None,
    keep_distinct: Annotated[
        bool | None,
        typer.Option(
            "--keep-distinct/--no-keep-distinct",
            help="spider mode: keep DISTINCT (the official evaluator removes it by default).",
            rich_help_panel=METRICS,
        ),
    ] = None,
    db_dir: Annotated[
        Path | None,
        typer.Option(
            help="Real databases, Spider layout <dir>/<db_id>/*.sqlite; replaces synthesis.",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    dialect: Annotated[
        str | None,
        typer.Option(
            metavar=choices(Dialect),
            help="SQL dialect of gold, predictions and DDL: auto (SQLite on --db-dir files, else what the "
            "DDL shows; the report says which and why), mysql, postgres, sqlite.",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    engine: SqlEngine = None,
    db_url: Annotated[
        str | None,
        typer.Option(
            help="Server for --engine, e.g. mysql://user@127.0.0.1:3306/ (throwaway databases per row) "
            "or .../{db_id} (existing databases, read-only).",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    exclude_low_information: Annotated[
        bool,
        typer.Option(
            "--exclude-low-information",
            help="Leave out of EX the examples whose gold result is the same on every database.",
            rich_help_panel=METRICS,
        ),
    ] = False,
    no_infer_schema: Annotated[
        bool,
        typer.Option(
            "--no-infer-schema",
            help="Do not build tables the gold SQL uses but the DDL lacks (those rows stay gold_error).",
            rich_help_panel=EXECUTION,
        ),
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            help="Instant NOW()/CURDATE() return for gold and prediction, 'YYYY-MM-DD HH:MM:SS' "
            "(the report records it).",
            show_default="when the run starts",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds per query, by --mode (the official Spider evaluator: 60).",
            rich_help_panel=EXECUTION,
        ),
    ] = None,
    workers: SqlWorkers = None,
    seed: SqlSeed = None,
    k: Annotated[
        int | None,
        typer.Option(
            "--k", "--instances", help="Synthesized databases per example.", rich_help_panel=EXECUTION
        ),
    ] = None,
    float_tol: Annotated[
        float | None,
        typer.Option(
            help="Numbers equal when |a - b| <= this, by --mode.",
            rich_help_panel=METRICS,
        ),
    ] = None,
    max_rows: Annotated[
        int | None,
        typer.Option(
            help="A query returning more rows fails (the official evaluators have no such cap).",
            rich_help_panel=METRICS,
        ),
    ] = None,
    judge: JudgeModel = None,
    judge_base_url: JudgeBaseUrl = None,
    judge_api_key_env: JudgeApiKeyEnv = None,
    judge_sees: Annotated[
        str | None,
        typer.Option(
            metavar=choices(Sees),
            help="What the judge is shown: sql (extracted) or raw (the book's way).",
            rich_help_panel=JUDGE,
        ),
    ] = None,
    judge_prompt: Annotated[
        Path | None,
        typer.Option(
            help="Custom judge template file; placeholders (in braces): context, question, answer, gen_sql.",
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
            help="Print the judge's request count and estimated cost; send nothing.",
            rich_help_panel=JUDGE,
        ),
    ] = False,
    partial: Annotated[
        bool,
        typer.Option(
            "--partial",
            help="Score a predictions file `t2s infer` has not finished (its .meta.json says running).",
            rich_help_panel=DATA,
        ),
    ] = False,
) -> None:
    """Score predictions: EX runs gold and predicted SQL read-only on real or synthesized
    databases; EM compares normalized SQL. Writes OUT/results.jsonl and OUT/summary.json."""
    from text2sql_cli.artifacts import PREDICTION_FIELDS
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.data import parse_columns
    from text2sql_cli.errors import UsageError
    from text2sql_cli.evaluation.execution import ExecutionSettings
    from text2sql_cli.evaluation.report import (
        KNOWN_METRICS,
        EvalConfig,
        estimate_judge,
        evaluate,
        no_generation_line,
        write_report,
    )
    from text2sql_cli.lock import hold as hold_lock

    column_map = parse_columns(columns, PREDICTION_FIELDS)
    ids = _ids(explain, only)
    if save_dbs is not None and (db_dir is not None or engine not in (None, "sqlite")):
        raise UsageError(
            "--save-dbs writes the databases t2s synthesizes; with --db-dir or --engine there are none",
            hint="open the --db-dir files (or the server's databases) directly",
        )
    out = out if out is not None else predictions.with_name(predictions.name + ".eval")
    if ids is None:  # --only/--explain inspect examples and write no results
        _check_out_dir(out)
        _check_other_predictions(out, predictions, overwrite)
        hold_lock(out)  # a second run on this --out refuses, naming this one
    metrics = tuple(dict.fromkeys(m.strip().lower() for m in metric.split(",") if m.strip()))
    unknown = [m for m in metrics if m not in KNOWN_METRICS]
    if unknown or not metrics:
        raise UsageError(
            f"unknown metric {', '.join(unknown) or '(none)'}", hint=f"choose from {', '.join(KNOWN_METRICS)}"
        )
    if db_dir is not None and not db_dir.is_dir():
        raise UsageError(
            f"--db-dir {db_dir} is not a directory",
            hint="pass a folder laid out as <dir>/<db_id>/<db_id>.sqlite",
        )
    if db_dir is not None and engine not in (None, "sqlite"):
        raise UsageError(
            f"--db-dir holds SQLite files; it does not go with --engine {engine}",
            hint="for existing server databases pass --db-url with {db_id}, e.g. mysql://u@host/{db_id}",
        )
    setting_flags = dict(
        mode=mode,
        keep_distinct=keep_distinct,
        dialect=dialect,
        timeout=timeout,
        workers=workers,
        seed=seed,
        instances=k,
        float_tol=float_tol,
        max_rows=max_rows,
        db_dir=db_dir,
        engine=engine,
        db_url=db_url,
        now=now,
        exclude_low_information=True if exclude_low_information else None,
        infer_schema=False if no_infer_schema else None,
    )
    settings = ExecutionSettings.from_flags(**setting_flags)
    from text2sql_cli.cli._options import print_effective_options
    from text2sql_cli.config import option_sources

    sources = option_sources(ExecutionSettings, setting_flags)
    judge_cfg = _judge_config(
        judge,
        judge_base_url,
        judge_api_key_env,
        judge_sees,
        judge_prompt,
        rpm,
        tpm,
        max_cost,
        dry_run,
        batch,
        batch_retry,
    )
    config = EvalConfig(
        settings,
        metrics,
        judge=judge_cfg,
        out_dir=out,
        partial=partial,
        count_missing_as_wrong=count_missing_as_wrong,
        columns=column_map or None,
        only=ids,
        save_dbs=save_dbs,
    )
    if dry_run:
        console.print(f"Dry run, nothing sent: {estimate_judge(predictions, config).line()}")
        return
    report = evaluate(predictions, config)
    if ids is not None:
        for row in report.rows:
            explain_row(console, row, save_dbs)
        return
    report.summary["settings_sources"] = sources  # flag, env or .env per setting, else default
    write_report(report, out)
    print_effective_options(report.summary["settings"], sources, "t2s eval")
    print_summary(console, report.summary)
    if "judge" in report.summary:
        _print_judge(console, report)
    _print_warnings(console, report.summary, no_generation_line(report.summary))
    console.print(f"Wrote {out / 'results.jsonl'} and {out / 'summary.json'}")
    if save_dbs is not None:
        console.print(f"Wrote the synthesized databases to {save_dbs}/<id>/")
    if "judge" in report.summary:
        from text2sql_cli.errors import check_request_errors

        judge = report.summary["judge"]
        check_request_errors("judge", judge.get("error", 0), len(report.rows))


def print_summary(console, summary: dict) -> None:
    """Overall and per-db_id scores, then the facts that qualify EX."""
    from rich.table import Table

    metrics = list(summary["metrics"])
    settings = summary.get("settings", {})
    title = "Evaluation"
    if "ex" in metrics:
        source = (
            "real databases"
            if settings.get("db_dir") or "{db_id}" in (settings.get("db_url") or "")
            else f"K={settings.get('instances')} synthesized databases"
        )
        if settings.get("engine", "sqlite") != "sqlite":
            source += f" on {settings['engine']}"
        title += (
            f" (mode {settings.get('mode')}, {source}, seed {settings.get('seed')}, "
            f"timeout {settings.get('timeout')} s, float tol {settings.get('float_tol')})"
        )
    table = Table(title=title)
    table.add_column("db_id")
    table.add_column("examples", justify="right")
    for m in metrics:
        table.add_column(m.upper(), justify="right")
    overall = summary["metrics"]
    table.add_row(
        "all",
        str(summary["examples"]),
        *(_cell(overall[m]["score"], overall[m]) for m in metrics),
        style="bold",
    )
    for db, row in summary["per_db"].items():
        table.add_row(db, str(row["examples"]), *(_cell(row[m]) for m in metrics))
    console.print(table)
    facts = summary.get("execution")
    if facts:
        statuses = ", ".join(f"{k} {v}" for k, v in facts["statuses"].items())
        console.print(f"Statuses: {statuses}")
        if facts.get("dialects"):
            console.print("SQL read as: " + "; ".join(f"{k}: {v}" for k, v in facts["dialects"].items()))
        if facts["gold_errors"]:
            why = ", ".join(f"{k} {v}" for k, v in facts["gold_errors"].items())
            console.print(
                f"Gold queries that could not run (excluded from EX): {sum(facts['gold_errors'].values())} "
                f"({why})"
            )
        if facts["gold_empty"]:
            console.print(
                f"Results compare empty tables in {facts['gold_empty']} scored examples "
                f"({facts['correct_on_empty']} counted correct on empty results)."
            )
        share = facts["low_information_share"]
        if share is not None:
            console.print(
                "Low-information examples (gold empty or identical on every database): "
                f"{facts['low_information']} ({share:.1%})"
            )


def _check_out_dir(out: Path) -> None:
    """--out must be (or become) a directory; checked before any work, so no traceback at mkdir."""
    from text2sql_cli.errors import UsageError

    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        what = "is a file" if existing == out else f"is inside {existing}, which is a file"
        raise UsageError(f"--out {out} {what}", hint="pass a directory for results.jsonl and summary.json")


def _ids(explain: str | None, only: str | None) -> tuple[str, ...] | None:
    ids = [i.strip() for i in (only or "").split(",") if i.strip()] + ([explain.strip()] if explain else [])
    return tuple(dict.fromkeys(ids)) if (explain or only) else None


def explain_row(console, row: dict, save_dbs: Path | None = None) -> None:
    """One example's verdict in words: the SQL, the status and why, and for a wrong result the first
    differing rows of gold and prediction on the first database where they differ."""
    from rich.markup import escape

    from text2sql_cli.evaluation.execution import safe_name

    e = lambda v: escape(str(v))  # noqa: E731
    console.print(f"[bold]{e(row['id'])}[/] (db_id {e(row['db_id'])}): {e(row.get('status', '-'))}")
    console.print(f"  question: {e(row.get('question'))}")
    console.print(f"  gold: {e(row.get('gold'))}")
    console.print(f"  predicted: {e(row.get('sql'))}  [dim](extraction {e(row.get('extraction'))})[/]")
    if row.get("dialect"):
        console.print(
            f"  read as {e(row['dialect'])} ({e(row.get('dialect_reason'))}); "
            f"{row.get('databases')} databases"
        )
    if row.get("reason"):
        console.print(f"  why: {e(row['reason'])}")
    for metric in ("ex", "em"):
        if metric in row:
            console.print(f"  {metric.upper()}: {e(row[metric])}")
    diff = row.get("diff")
    if diff:
        console.print(
            f"  first differs on {e(diff['database'])} (instance {diff['instance']}): "
            f"gold {diff['gold_row_count']} rows {e(diff['gold_columns'])}, "
            f"predicted {diff['pred_row_count']} rows {e(diff['pred_columns'])}"
        )
        for label, key in (("only in gold", "gold_only_rows"), ("only in predicted", "pred_only_rows")):
            for r in diff[key]:
                console.print(f"    {label}: {e(r)}")
        if "order_differs_at" in diff:
            console.print(f"    same rows, order differs at row {diff['order_differs_at']}:")
            console.print(f"    gold: {e(diff['gold_rows'])}")
            console.print(f"    predicted: {e(diff['pred_rows'])}")
    if save_dbs is not None and (save_dbs / safe_name(row["id"])).is_dir():
        console.print(f"  databases: {e(save_dbs / safe_name(row['id']))}/instance-N.sqlite")


def _check_other_predictions(out: Path, predictions: Path, overwrite: bool) -> None:
    """An --out that holds the eval of another predictions file is not replaced without --overwrite
    (as `t2s infer` guards its --out); rerunning on the same file updates it."""
    import json

    from text2sql_cli.errors import UsageError

    summary = out / "summary.json"
    if overwrite or not summary.is_file():
        return
    try:
        recorded = (json.loads(summary.read_text(encoding="utf-8")).get("predictions") or {}).get("path")
    except (ValueError, UnicodeDecodeError, AttributeError):
        recorded = None
    if recorded is None:
        return  # a summary from before t2s recorded its predictions: nothing to compare with
    if Path(recorded) != predictions.resolve():
        raise UsageError(
            f"--out {out} holds the evaluation of {recorded}, not {predictions}",
            hint="use another --out, or --overwrite to replace it",
        )


def _print_warnings(console, summary: dict, no_generation: str | None) -> None:
    """What qualifies every score, last so it is seen: missing generations, a partial file, no gold."""
    if no_generation:
        console.print(f"[bold yellow]Warning:[/] {no_generation}")
    part = summary.get("partial")
    if part:
        console.print(
            f"[bold yellow]Partial:[/] scored {part['rows']} of {part['of']} rows; t2s infer has not "
            "finished this file."
        )
    if summary.get("no_gold"):
        console.print(f"{summary['no_gold']} examples have no gold SQL (excluded from EX, EM and the judge).")


def _judge_config(
    judge, base_url, api_key_env, sees, prompt, rpm, tpm, max_cost, dry_run, batch, batch_retry
):
    """The judge's config, or None without --judge (then the judge-only flags are an error)."""
    from text2sql_cli.cli._judge import batch_flags, only_with_judge

    only_with_judge(
        judge,
        "the LLM judge",
        **{
            "--judge-base-url": base_url,
            "--judge-api-key-env": api_key_env,
            "--judge-sees": sees,
            "--judge-prompt": prompt,
            "--rpm": rpm,
            "--tpm": tpm,
            "--max-cost": max_cost,
            "--dry-run": dry_run,
            "--batch": batch,
            "--batch-retry": batch_retry,
        },
    )
    if judge is None:
        return None
    from text2sql_cli.evaluation.judge import JudgeConfig

    return JudgeConfig.build(
        judge,
        base_url=base_url,
        api_key_env=api_key_env,
        sees=sees,
        prompt_file=prompt,
        max_cost=max_cost,
        rpm=rpm,
        tpm=tpm,
        require_key=not dry_run,
        **batch_flags(batch, batch_retry),
    )  # a dry run sends nothing, so needs no key


def _print_judge(console, report) -> None:
    from text2sql_cli.evaluation.agreement import render

    summary = report.summary
    j = summary["judge"]
    score = "n/a" if j["score"] is None else f"{j['score']:.1%}"
    console.print(
        f"Judge {j['model']} (sees {j['sees']}, prompt {j['prompt']}): {score} = {j['yes']} yes / "
        f"{j['judged']} judged; "
        f"not counted: {j['unparseable']} unparseable, {j['error']} error, {j['skipped']} skipped, "
        f"{j.get('no_generation', 0)} no generation. "
        f"Cost ${j['cost_usd_this_run']:.4f} this run (${j['cost_usd_total']:.4f} in all)."
    )
    if j.get("stopped"):
        console.print(f"Judge {j['stopped']}: rerun the same command to finish (done rows are cached).")
    if report.agreement is not None:
        a = summary["agreement"]
        console.print(render(report.agreement))
        shown = ", ".join(
            f"{d['id']} (EX {'ok' if d['ex'] else 'wrong'}, judge {d['judge']})"
            for d in a["disagreements"][:10]
        )
        if shown:
            more = (
                f" and {len(a['disagreements']) - 10} more in summary.json"
                if len(a["disagreements"]) > 10
                else ""
            )
            console.print(f"Disagreements: {shown}{more}")


def _cell(score, counts: dict | None = None) -> str:
    if score is None:
        return "n/a"
    text = f"{score:.1%}"
    if counts:
        text += f" ({counts['correct']}/{counts['scored']})"
    return text
