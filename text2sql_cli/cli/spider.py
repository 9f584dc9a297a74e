"""`t2s data import-spider`: Spider json + databases -> t2s JSONL rows. `cli/data.py` calls
`register(data_app)` to add the command to the `t2s data` sub-app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(data_app: typer.Typer) -> None:
    data_app.command("import-spider", no_args_is_help=True)(import_spider)


def import_spider(
    spider_dir: Annotated[
        Path, typer.Argument(help="Unzipped Spider folder (dev.json, train_spider.json, database/).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write.")] = Path("spider.jsonl"),
    split: Annotated[
        str, typer.Option(help="dev, or train (train_spider.json + train_others.json).")
    ] = "dev",
) -> None:
    """Turn Spider into t2s rows (id, db_id, context, question, answer); context is each
    database's CREATE TABLE text. Evaluate on the real databases with
    `t2s eval PREDS --db-dir SPIDER_DIR/database`."""
    from collections import Counter

    from text2sql_cli.cli._console import out as console
    from text2sql_cli.spider import import_spider as run
    from text2sql_cli.spider import write_rows

    rows = run(spider_dir, split)
    write_rows(rows, out)
    console.print(f"Wrote {len(rows)} rows from {len(Counter(r['db_id'] for r in rows))} databases to {out}")
