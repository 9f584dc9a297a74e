"""`t2s data ...`: split rows by database domain (and import Spider or WikiSQL, see cli/spider.py
and cli/wikisql.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.cli._flags import Columns, HubConfig, HubSplit, OldHubConfig
from text2sql_cli.cli._help import DATA, OUTPUT, SPLIT, HelpGroup, command
from text2sql_cli.cli._options import hub_config_of

data_app = typer.Typer(
    cls=HelpGroup,
    no_args_is_help=True,
    help="Prepare data: split by db_id, import Spider or WikiSQL, synthesize pairs with a teacher LLM.",
)


@data_app.command("split", cls=command())
def split(
    data: Annotated[
        str,
        typer.Argument(help="A .jsonl/.json/.csv/.parquet file, or a hub dataset id.", rich_help_panel=DATA),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Directory for train.jsonl and test.jsonl.", rich_help_panel=OUTPUT)
    ],
    test_db: Annotated[
        list[str] | None,
        typer.Option(
            "--test-db", help="Hold out this db_id (repeatable). The book holds out 1.", rich_help_panel=SPLIT
        ),
    ] = None,
    test_frac: Annotated[
        float | None,
        typer.Option(
            "--test-frac",
            help="Hold out this fraction of the db_ids, chosen with --seed.",
            rich_help_panel=SPLIT,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Seed for the train shuffle and --test-frac.", rich_help_panel=SPLIT)
    ] = 42,
    drop_na: Annotated[
        bool,
        typer.Option("--drop-na", help="Drop incomplete rows (the book's dropna).", rich_help_panel=DATA),
    ] = False,
    hub_config: HubConfig = None,
    config: OldHubConfig = None,
    split_name: HubSplit = "train",
    columns: Columns = None,
) -> None:
    """Hold out whole database domains: write OUT/train.jsonl and OUT/test.jsonl."""
    from rich.table import Table

    from text2sql_cli.cli._console import err
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.data import counts_by_db, load_examples, parse_columns, split_by_db
    from text2sql_cli.errors import UsageError
    from text2sql_cli.io import write_jsonl

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", hint="give a directory for train.jsonl and test.jsonl")
    config = hub_config_of(hub_config, config)
    examples, report = load_examples(
        data, config=config, split=split_name, columns=parse_columns(columns), drop_na=drop_na
    )
    if report.dropped:
        err.print(f"dropped {sum(report.dropped.values())} incomplete rows of {report.read} (--drop-na)")
    result = split_by_db(examples, test_dbs=test_db, test_frac=test_frac, seed=seed)
    write_jsonl(out / "train.jsonl", (e.to_dict() for e in result.train))
    write_jsonl(out / "test.jsonl", (e.to_dict() for e in result.test))

    table = Table(title=f"{data} -> {out}")
    table.add_column("db_id")
    table.add_column("split")
    table.add_column("rows", justify="right")
    held = set(result.test_dbs)
    for db_id, n in counts_by_db(examples).items():
        table.add_row(db_id, "test" if db_id in held else "train", str(n))
    table.add_row("all", "train", str(len(result.train)), style="bold")
    table.add_row("all", "test", str(len(result.test)), style="bold")
    console.print(table)


def register(app: typer.Typer) -> None:
    from text2sql_cli.cli import passrate, spider, synth, wikisql  # the imports live in their own modules

    spider.register(data_app)
    wikisql.register(data_app)
    passrate.register(data_app)
    synth.register(data_app)
    app.add_typer(data_app, name="data")
