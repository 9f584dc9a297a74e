"""`t2s data pass-rate`: sample N completions per training row, score them against gold, write each
row's pass rate, and optionally keep the rows with a learning signal for GRPO. `cli/data.py`
calls `register(data_app)`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.cli._help import DATA, EXECUTION, GENERATION, MODEL, OUTPUT, command


def register(data_app: typer.Typer) -> None:
    data_app.command("pass-rate", no_args_is_help=True, cls=command())(pass_rate)


def pass_rate(
    model: Annotated[
        str,
        typer.Option(help="A t2s run dir (e.g. the SFT run GRPO will start from).", rich_help_panel=MODEL),
    ],
    data: Annotated[
        Path, typer.Option(help="Training rows with gold SQL (jsonl/json/csv/parquet).", rich_help_panel=DATA)
    ],
    out: Annotated[
        Path, typer.Option(help="Per-row pass rates (JSONL; resumed when rerun).", rich_help_panel=OUTPUT)
    ],
    samples: Annotated[
        int, typer.Option(help="Completions sampled per row.", rich_help_panel=GENERATION)
    ] = 8,
    min_pass: Annotated[
        float, typer.Option(help="With --keep: lowest pass rate kept.", rich_help_panel=OUTPUT)
    ] = 0.0,
    max_pass: Annotated[
        float, typer.Option(help="With --keep: highest pass rate kept.", rich_help_panel=OUTPUT)
    ] = 1.0,
    keep: Annotated[
        Path | None,
        typer.Option(
            help="Write the data rows with min-pass <= rate <= max-pass here.", rich_help_panel=OUTPUT
        ),
    ] = None,
    temperature: Annotated[
        float, typer.Option(help="Sampling temperature.", rich_help_panel=GENERATION)
    ] = 1.0,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling.", rich_help_panel=GENERATION)] = 1.0,
    max_new_tokens: Annotated[
        int, typer.Option(help="Most tokens per completion.", rich_help_panel=GENERATION)
    ] = 256,
    batch_size: Annotated[
        str, typer.Option(help="Prompts per generate call, or auto.", rich_help_panel=GENERATION)
    ] = "auto",
    seed: Annotated[
        int, typer.Option(help="Seed for sampling and the synthesized databases.", rich_help_panel=GENERATION)
    ] = 0,
    instances: Annotated[
        int, typer.Option(help="Synthesized databases per row.", rich_help_panel=EXECUTION)
    ] = 5,
    db_dir: Annotated[
        Path | None,
        typer.Option(
            help="Run SQL on DIR/<db_id>/*.sqlite instead of synthesized DBs.", rich_help_panel=EXECUTION
        ),
    ] = None,
) -> None:
    """Each row's pass rate under the model: the share of --samples completions matching gold.

    \b
    t2s data pass-rate --model runs/sft --data split/train.jsonl --samples 8 --out rates.jsonl \\
        --min-pass 0.01 --max-pass 0.99 --keep split/train-grpo.jsonl
    """
    from rich.table import Table

    from text2sql_cli.cli._console import err
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.errors import UsageError
    from text2sql_cli.inference import InferSettings
    from text2sql_cli.inference.passrate import pass_rates

    if db_dir is not None and not db_dir.is_dir():
        raise UsageError(f"--db-dir {db_dir}: no such directory")
    if keep is None and (min_pass, max_pass) != (0.0, 1.0):
        raise UsageError("--min-pass/--max-pass need --keep FILE", hint="e.g. --keep train-grpo.jsonl")
    cfg = InferSettings.from_flags(
        temperature=temperature, top_p=top_p, seed=seed, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    summary = pass_rates(
        cfg,
        model=model,
        data=data,
        out=out,
        samples=samples,
        keep=keep,
        min_pass=min_pass,
        max_pass=max_pass,
        instances=instances,
        db_dir=str(db_dir) if db_dir else None,
        console=err,
    )
    table = Table(title=f"t2s data pass-rate -> {out}")
    table.add_column("")
    table.add_column("rows", justify="right")
    mean = "-" if summary.mean_rate is None else f"{summary.mean_rate:.3f}"
    for name, value in (
        ("rows", summary.rows),
        ("already done (resumed)", summary.resumed),
        ("mean pass rate", mean),
        *((f"pass rate {k}", v) for k, v in summary.histogram.items()),
        ("gold does not run (no rate)", summary.gold_errors),
        ("no generation (rerun retries)", summary.errors),
        *(((f"kept in {keep} ({min_pass:g} <= rate <= {max_pass:g})", summary.kept),) if keep else ()),
    ):
        table.add_row(name, str(value))
    console.print(table)
    if summary.errors:
        raise typer.Exit(1)
