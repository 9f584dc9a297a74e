"""`t2s data import-wikisql`: WikiSQL questions + tables -> t2s JSONL rows, and optionally one
SQLite database per table. `cli/data.py` calls `register(data_app)`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.cli._help import DATA, OUTPUT, command


def register(data_app: typer.Typer) -> None:
    data_app.command("import-wikisql", no_args_is_help=True, cls=command())(import_wikisql)


def import_wikisql(
    data: Annotated[
        Path,
        typer.Argument(
            help="WikiSQL <split>.jsonl (tables in <split>.tables.jsonl) or the hub's .parquet.",
            rich_help_panel=DATA,
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="JSONL file to write.", rich_help_panel=OUTPUT)
    ] = Path("wikisql.jsonl"),
    tables: Annotated[
        Path | None,
        typer.Option(help="The tables file, if not <split>.tables.jsonl beside DATA.", rich_help_panel=DATA),
    ] = None,
    db_out: Annotated[
        Path | None,
        typer.Option(
            help="Also write each table's rows as DIR/<table id>/<table id>.sqlite for --db-dir.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
) -> None:
    """Turn WikiSQL into t2s rows (id, db_id, context, question, answer): db_id is the table id,
    context its CREATE TABLE, answer the SQL of sel/agg/conds. With --db-out, evaluate on the
    tables' real rows with `t2s eval PREDS --db-dir DIR`."""
    from text2sql_cli.cli._console import err
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.io import write_jsonl
    from text2sql_cli.wikisql import import_wikisql as run
    from text2sql_cli.wikisql import write_databases

    result = run(data, tables)
    write_jsonl(out, result.rows)
    console.print(f"Wrote {len(result.rows)} rows on {len(result.tables)} tables to {out}")
    if db_out is not None:
        empty = write_databases(result.tables, db_out)
        console.print(f"Wrote {len(result.tables)} SQLite databases to {db_out} (use --db-dir {db_out})")
        if empty:
            err.print(f"{empty} tables had no rows in the source: their databases are empty")
