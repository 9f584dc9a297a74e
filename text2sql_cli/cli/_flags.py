"""Option declarations several commands share, declared once so that their help, choices and
panel agree everywhere (the LLM judge's flags live in cli/_judge.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from text2sql_cli.choices import Engine, choices
from text2sql_cli.cli._help import DATA, EXECUTION

# reading a data file (train, infer, filter, data split)
Columns = Annotated[
    str | None,
    typer.Option(
        "--columns", help="Map t2s fields to your columns: question=q,answer=query.", rich_help_panel=DATA
    ),
]
# a hub dataset (filter, data split); --config now means a YAML file of options on every command
HubConfig = Annotated[
    str | None,
    typer.Option("--hub-config", help="Hub dataset config, e.g. origin or clean.", rich_help_panel=DATA),
]
OldHubConfig = Annotated[
    str | None, typer.Option("--config", hidden=True, help="Old name of --hub-config (warns).")
]
HubSplit = Annotated[str, typer.Option("--split", help="Hub dataset split to read.", rich_help_panel=DATA)]

# running SQL on synthesized or server databases (eval, filter)
SqlWorkers = Annotated[
    int | None,
    typer.Option("--workers", help="Worker processes that run the SQL.", rich_help_panel=EXECUTION),
]
SqlEngine = Annotated[
    str | None,
    typer.Option(
        "--engine",
        metavar=choices(Engine),
        help="Where the SQL runs: sqlite (embedded), mariadb or postgres (--db-url).",
        rich_help_panel=EXECUTION,
    ),
]
SqlSeed = Annotated[
    int | None, typer.Option("--seed", help="Seed for synthesized databases.", rich_help_panel=EXECUTION)
]
