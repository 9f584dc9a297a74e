"""`t2s report`: compare runs in one table, a page of plots and runs.csv. Loads no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.cli._help import DATA, OUTPUT, command


def report(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Sweep dirs, run dirs (run.json), eval dirs (summary.json) or predictions files.",
            rich_help_panel=DATA,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Directory for index.html, the PNGs and runs.csv.", rich_help_panel=OUTPUT
        ),
    ] = Path("report"),
    diff: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--diff",
            help="Two run names: list the examples whose verdict differs between them.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
) -> None:
    """Compare runs: a table (settings that vary, EX, EM, judge, kappa, parameters, tokens, time),
    OUT/index.html with plots, OUT/runs.csv and OUT/runs.parquet.

    \b
    t2s report sweeps/tiny --out sweeps/tiny/report
    t2s report runs/r16 runs/r64 --out report --diff r16 r64
    """
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.errors import UsageError
    from text2sql_cli.report import build_report
    from text2sql_cli.report.table import rich_table

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", hint="pass a directory for the report")
    result = build_report(paths, out, diff=diff)
    console.print(rich_table(result.frame, f"t2s report: {len(result.runs)} run(s)"))
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    if result.diff is not None:
        console.print(
            f"--diff {result.diff['a']} vs {result.diff['b']}: {len(result.diff['rows'])} row(s) differ"
        )
        for row in result.diff["rows"][:5]:
            console.print(f"  {row['id']}: {row['verdict_a']} | {row['verdict_b']}  {row['question']}")
    console.print(f"Wrote {', '.join(str(p) for p in result.tables)} and {len(result.plots)} plot(s)")
    console.print(f"Report page: {result.page.resolve()}")


def register(app: typer.Typer) -> None:
    app.command("report", no_args_is_help=True, cls=command())(report)
