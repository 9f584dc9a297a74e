"""`t2s model ...`: model directories (the tiny offline smoke model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.cli._help import DATA, MODEL, OUTPUT, HelpGroup, command

model_app = typer.Typer(cls=HelpGroup, no_args_is_help=True, help="Build or export model directories.")


@model_app.command("tiny", cls=command())
def tiny(
    data: Annotated[
        Path,
        typer.Option(
            "--data", help="Rows whose text trains the tiny tokenizer (jsonl/csv/...).", rich_help_panel=DATA
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Where to save the model directory.", rich_help_panel=OUTPUT)
    ],
    hidden_size: Annotated[int, typer.Option(help="Hidden size.", rich_help_panel=MODEL)] = 64,
    layers: Annotated[int, typer.Option(help="Transformer layers.", rich_help_panel=MODEL)] = 2,
    heads: Annotated[int, typer.Option(help="Attention heads.", rich_help_panel=MODEL)] = 4,
    vocab_size: Annotated[int, typer.Option(help="BPE vocabulary size.", rich_help_panel=MODEL)] = 1024,
    seed: Annotated[int, typer.Option(help="Seed for the random weights.", rich_help_panel=MODEL)] = 0,
    pretrain_steps: Annotated[
        int,
        typer.Option(
            help=(
                "Full-weight steps on --data's text so the model writes SQL-shaped text (give it "
                "training rows only)."
            ),
            rich_help_panel=MODEL,
        ),
    ] = 0,
) -> None:
    """Build a tiny random Llama model + locally trained tokenizer: a SMOKE model.

    It lets you try split -> train -> infer -> eval without a GPU or a hub; its SQL is noise.
    The saved directory is a normal Hugging Face model that `t2s train --base` accepts.
    """
    from text2sql_cli.cli._console import err
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.data import load_examples
    from text2sql_cli.errors import UsageError
    from text2sql_cli.progress import ProgressBar
    from text2sql_cli.prompts import TEMPLATES
    from text2sql_cli.quiet import quiet_known_noise
    from text2sql_cli.tiny import build_tiny_model, corpus_for

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(
            f"--out {out} already exists and is not an empty directory",
            hint="remove it or pick another --out",
        )
    examples, _ = load_examples(data, drop_na=True, flags=())
    progress = ProgressBar(
        "warm-up", pretrain_steps, console=err, text="loss {loss:.3f}", fields={"loss": float("nan")}
    )
    with progress, quiet_known_noise():  # no "Writing model shards" bar for a sub-second save
        path = build_tiny_model(
            out,
            corpus_for(examples, TEMPLATES.values()),
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            layers=layers,
            heads=heads,
            seed=seed,
            pretrain_steps=pretrain_steps,
            on_step=lambda step, loss: progress.update(completed=step, loss=loss),
        )
    weights = f"warmed up for {pretrain_steps} steps" if pretrain_steps else "random weights"
    console.print(f"tiny smoke model written to {path} ({weights}; for trying the pipeline only)")


def register(app: typer.Typer) -> None:
    from text2sql_cli.cli import export

    export.register(model_app)
    app.add_typer(model_app, name="model")
