"""`t2s model export RUN --out DIR`: merge a trained adapter into its base (16-bit) and/or push."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.cli._help import MODEL, OUTPUT, command


def export(
    run: Annotated[
        Path,
        typer.Argument(
            help="A run directory written by `t2s train` (adapter + run.json).", rich_help_panel=MODEL
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where to save the merged standalone model.", rich_help_panel=OUTPUT),
    ] = None,
    dtype: Annotated[
        str,
        typer.Option(
            "--dtype",
            help=(
                "auto (bfloat16 if the run trained in bf16, else float16 like the book), float16, "
                "bfloat16 or float32."
            ),
            rich_help_panel=MODEL,
        ),
    ] = "auto",
    device: Annotated[
        str | None,
        typer.Option(
            "--device", help="cpu or cuda.", show_default="cuda if available", rich_help_panel=MODEL
        ),
    ] = None,
    push_to_hub: Annotated[
        str | None,
        typer.Option(
            "--push-to-hub",
            help="Hub repo to push the merged model (or, without --out, the adapter) to.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    private: Annotated[
        bool,
        typer.Option(
            "--private/--public", help="Visibility of a repo that push creates.", rich_help_panel=OUTPUT
        ),
    ] = True,
) -> None:
    """Merge a LoRA run into its base model in 16-bit (never into a 4-bit model) and save a
    standalone model with tokenizer, template and run.json; optionally push it to the hub."""
    from text2sql_cli.artifacts import read_run
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.errors import UsageError
    from text2sql_cli.export import check_export, merge_run
    from text2sql_cli.export import push_to_hub as push

    if out is None and push_to_hub is None:
        raise UsageError("nothing to do", hint="give --out DIR to merge, --push-to-hub REPO to push, or both")
    if out is not None:
        check_export(run, out)
    else:
        read_run(run)  # pushing needs a run directory too
    target = run
    if out is not None:
        target = merge_run(run, out, dtype=dtype, device=device)
        console.print(f"merged model written to {target} ({read_run(target).merge_dtype})")
    if push_to_hub:
        console.print(f"pushed {target} to {push(target, push_to_hub, private=private)}")


def register(model_app: typer.Typer) -> None:
    model_app.command("export", cls=command())(export)
