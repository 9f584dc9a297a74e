"""`t2s data import-spider`: Spider json + databases -> t2s JSONL rows. `cli/data.py` calls
`register(data_app)` to add the command to the `t2s data` sub-app."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.cli._help import DATA, OUTPUT, command


def register(data_app: typer.Typer) -> None:
    data_app.command("import-spider", no_args_is_help=True, cls=command())(import_spider)


def import_spider(
    spider_dir: Annotated[
        Path,
        typer.Argument(
            help="Unzipped Spider folder (dev.json, train_spider.json, database/).", rich_help_panel=DATA
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Directory for SPLIT.jsonl (dev.jsonl or train.jsonl).",
            rich_help_panel=OUTPUT,
        ),
    ] = Path("spider-t2s"),
    split: Annotated[
        str, typer.Option(help="dev, or train (train_spider.json + train_others.json).", rich_help_panel=DATA)
    ] = "dev",
    skip_missing: Annotated[
        bool,
        typer.Option(
            "--skip-missing",
            help="Leave out the rows of databases absent from SPIDER_DIR/database (else an error).",
            rich_help_panel=DATA,
        ),
    ] = False,
) -> None:
    """Turn Spider into t2s rows (id, db_id, context, question, answer) in OUT/SPLIT.jsonl; context
    is each database's CREATE TABLE text. Evaluate on the real databases with
    `t2s eval PREDS --db-dir SPIDER_DIR/database`."""
    from collections import Counter

    from text2sql_cli.cli._console import err
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.errors import UsageError
    from text2sql_cli.spider import import_spider as run
    from text2sql_cli.spider import write_rows

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", hint="give a directory; the rows go to OUT/SPLIT.jsonl")
    if not out.exists() and out.suffix in (".jsonl", ".json"):
        raise UsageError(
            f"--out {out} looks like a file name; --out is a directory (as for t2s data split)",
            hint=f"e.g. --out {out.with_suffix('')}, which gets {split}.jsonl",
        )
    skipped: dict[str, int] = {}
    rows = run(spider_dir, split, skip_missing=skip_missing, skipped=skipped)
    target = out / f"{split}.jsonl"
    write_rows(rows, target)
    if skipped:
        err.print(
            f"--skip-missing: left out {sum(skipped.values())} rows of {len(skipped)} databases absent "
            f"from {spider_dir / 'database'}: {', '.join(sorted(skipped))}"
        )
    console.print(
        f"Wrote {len(rows)} rows from {len(Counter(r['db_id'] for r in rows))} databases to {target}"
    )
