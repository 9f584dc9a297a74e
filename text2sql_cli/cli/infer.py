"""`t2s infer`: generate SQL with a trained model, a plain model or an OpenAI-compatible server.

Two modes: `--data FILE --out preds.jsonl` (batch, resumable, shardable with accelerate launch)
and a pipe (questions on stdin, SQL on stdout; everything for humans on stderr).

Batch mode exits 1 when any row got no generation (e.g. the API kept failing): OUT keeps the
rows that did, and rerunning the same command retries only the failed ones.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from text2sql_cli.choices import Backend, InferQuant, Precision, Select, choices
from text2sql_cli.cli._flags import Columns
from text2sql_cli.cli._help import API, CANDIDATES, DATA, GENERATION, MODEL, OUTPUT, PIPE, command


def _template_default() -> str:
    from text2sql_cli.prompts import DEFAULT_TEMPLATE

    return f"the model's saved template, else {DEFAULT_TEMPLATE}"


def infer(
    model: Annotated[
        str | None,
        typer.Option(
            help="A t2s run dir (base + adapter), a merged/plain model dir or hub id; for --backend openai, "
            "optionally a run dir whose saved template to use.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="Rows to predict (jsonl/json/csv/parquet with db_id, context, question[, answer]).",
            rich_help_panel=DATA,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Predictions JSONL (with OUT.meta.json beside it).", rich_help_panel=OUTPUT),
    ] = None,
    base: Annotated[
        str | None,
        typer.Option(
            help="Base model for an adapter, overriding adapter_config.json / run.json.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    template: Annotated[
        str | None,
        typer.Option(
            help="Prompt template for a model saved without one, or a template file.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            metavar=choices(Backend),
            help="hf (local model) or openai (an OpenAI-compatible server).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            help="Server URL for --backend openai, e.g. http://localhost:8000/v1.",
            show_default="OpenAI",  # no URL: api.openai.com, with OPENAI_API_KEY
            rich_help_panel=API,
        ),
    ] = None,
    model_name: Annotated[
        str | None, typer.Option(help="Model name on the server (--backend openai).", rich_help_panel=API)
    ] = None,
    max_new_tokens: Annotated[
        int | None, typer.Option(help="Most tokens to generate per question.", rich_help_panel=GENERATION)
    ] = None,
    batch_size: Annotated[
        str | None,
        typer.Option(
            help="Micro-batch size, or auto (GPU: largest that fits, halving on out-of-memory; CPU: 32).",
            rich_help_panel=GENERATION,
        ),
    ] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            metavar=choices(Precision),
            help="auto (bf16/fp16 on GPU, fp32 on CPU), fp32, bf16 or fp16.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    quant: Annotated[
        str | None,
        typer.Option(
            metavar=choices(InferQuant), help="none or 4bit (NF4, CUDA only).", rich_help_panel=MODEL
        ),
    ] = None,
    ddl: Annotated[
        Path | None, typer.Option(help="A file of CREATE TABLE statements.", rich_help_panel=PIPE)
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(help="A SQLite file whose schema is the DDL.", rich_help_panel=PIPE),
    ] = None,
    columns: Columns = None,
    drop_na: Annotated[
        bool,
        typer.Option(
            "--drop-na", help="Skip rows with an empty db_id, context or question.", rich_help_panel=DATA
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Start OUT again instead of resuming it.", rich_help_panel=OUTPUT),
    ] = False,
    candidates: Annotated[
        int | None,
        typer.Option(
            help="Sample N candidates per question, execute them and keep one (--select); 1: greedy.",
            rich_help_panel=CANDIDATES,
        ),
    ] = None,
    select: Annotated[
        str | None,
        typer.Option(
            metavar=choices(Select),
            help="With --candidates: vote (largest group of equal results), logprob (most likely "
            "executable one) or first.",
            rich_help_panel=CANDIDATES,
        ),
    ] = None,
    temperature: Annotated[
        float | None, typer.Option(help="Sampling temperature for --candidates.", rich_help_panel=CANDIDATES)
    ] = None,
    top_p: Annotated[
        float | None, typer.Option(help="Nucleus sampling for --candidates.", rich_help_panel=CANDIDATES)
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Seed for sampling and the synthesized databases.", rich_help_panel=CANDIDATES),
    ] = None,
    db_dir: Annotated[
        Path | None,
        typer.Option(
            help="With --candidates: run them on DIR/<db_id>/*.sqlite instead of databases "
            "synthesized from the DDL.",
            rich_help_panel=CANDIDATES,
        ),
    ] = None,
    drop_empty: Annotated[
        bool | None,
        typer.Option(
            "--drop-empty/--keep-empty",
            help="With --candidates: empty results do not vote.",
            rich_help_panel=CANDIDATES,
        ),
    ] = None,
) -> None:
    """Generate SQL: greedy, batched, resumable; or pipe questions through stdin.

    \b
    t2s infer --model runs/r16 --data split/test.jsonl --out preds.jsonl
    t2s infer --model runs/r16 --data split/test.jsonl --out vote.jsonl --candidates 8 --select vote
    cat questions.txt | t2s infer --model runs/r16 --ddl schema.sql
    accelerate launch -m text2sql_cli infer --model runs/r16 --data split/test.jsonl --out preds.jsonl
    """
    from text2sql_cli.artifacts import check_model_path
    from text2sql_cli.errors import UsageError
    from text2sql_cli.inference import InferSettings

    infer_flags = dict(
        backend=backend,
        template=template,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
        precision=precision,
        quant=quant,
        base_url=base_url,
        model_name=model_name,
        candidates=candidates,
        select=select,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        db_dir=db_dir,
        drop_empty=drop_empty,
    )
    cfg = InferSettings.from_flags(**infer_flags)
    if cfg.db_dir is not None and not cfg.db_dir.is_dir():
        raise UsageError(f"--db-dir {cfg.db_dir}: no such directory", hint="give <dir>/<db_id>/*.sqlite")
    check_model_path(model)
    check_model_path(base)
    if data is not None:
        from text2sql_cli.inference.batch import check_out_path

        if out is None:
            raise UsageError("--data needs --out", hint="e.g. --out preds.jsonl")
        if ddl is not None or db is not None:
            raise UsageError("--ddl/--db are for pipe mode; --data rows carry their own context")
        check_out_path(out)
        from text2sql_cli.lock import hold as hold_lock

        hold_lock(out)  # a second run on this --out refuses, naming this one
        from text2sql_cli.config import option_sources

        sources = option_sources(InferSettings, infer_flags)
        _batch(
            cfg,
            model=model,
            data=data,
            out=out,
            base=base,
            columns=columns,
            overwrite=overwrite,
            drop_na=drop_na,
            sources=sources,
        )
        return
    if out is not None:
        raise UsageError("--out needs --data", hint="in pipe mode answers go to stdout")
    if cfg.candidates > 1:
        raise UsageError("--candidates is for batch mode", hint="pass --data FILE --out FILE")
    _stream(cfg, model=model, base=base, ddl=ddl, db=db)


def _batch(cfg, *, model, data, out, base, columns, overwrite, sources=None, drop_na=False) -> None:
    from rich.table import Table

    from text2sql_cli.cli._console import err
    from text2sql_cli.cli._console import out as console
    from text2sql_cli.data import parse_columns
    from text2sql_cli.inference.batch import run_batch_inference

    def started(backend, rows: int, done: int) -> None:
        for note in backend.notes:
            err.print(f"[yellow]note:[/] {note}")
        prov = backend.provenance()
        err.print(
            f"{prov['backend']} {prov['model']} | template {backend.template.name} | "
            f"{prov.get('precision') or 'api'} | batch {backend.batch_size}"
        )
        if done:
            err.print(f"resuming {out}: {done} of {rows} rows already done")

    summary = run_batch_inference(
        cfg,
        data=data,
        out=out,
        model=model,
        base=base,
        columns=parse_columns(columns),
        overwrite=overwrite,
        drop_na=drop_na,
        on_start=started,
        console=err,
    )
    if summary.rank != 0:
        return  # under accelerate launch, rank 0 reports for all
    from text2sql_cli.cli._options import print_effective_options

    print_effective_options(cfg.public_dump(), sources or {}, "t2s infer")
    table = Table(title=f"t2s infer -> {out}")
    table.add_column("")
    table.add_column("value", justify="right")
    rate = summary.generated / summary.seconds if summary.seconds else 0.0
    for name, value in (
        ("rows", summary.total),
        ("already done (resumed)", summary.resumed),
        ("generated now", summary.generated),
        ("SQL extracted (all rows)", summary.extracted),
        ("extraction failed", summary.methods.get("failed", 0)),
        ("errors (no generation)", summary.errors),
        *(
            (("no candidate ran (first kept, marked)", summary.fallbacks),)
            if summary.fallbacks is not None
            else ()
        ),
        ("batch size", summary.batch_size),
        ("processes", summary.world_size),
        ("seconds", f"{summary.seconds:.1f}"),
        ("rows/s", f"{rate:.2f}"),
    ):
        table.add_row(name, str(value))
    console.print(table)
    if summary.errors:
        # One line, not wrapped by rich, so scripts and logs see it whole.
        reason = " ".join(str(summary.first_error).split())[:200]
        typer.echo(
            f"Error: {summary.errors} of {summary.total} rows failed (e.g. {reason}); "
            f"{out} keeps the rest: rerun the same command to retry them",
            err=True,
        )
        raise typer.Exit(1)


def _stream(cfg, *, model, base, ddl, db) -> None:
    from text2sql_cli.cli._console import err
    from text2sql_cli.errors import UsageError
    from text2sql_cli.inference.factory import load_backend
    from text2sql_cli.inference.stream import read_ddl, run_stream

    schema = read_ddl(ddl, db)  # checked before the model loads
    interactive = sys.stdin.isatty()
    lines: Any = sys.stdin
    if schema is None:  # text questions need a schema: say so before the model loads, not after
        if interactive:
            raise UsageError(
                "an interactive session needs a schema",
                hint="pass --ddl FILE or --db FILE.sqlite (or --data FILE --out FILE for a batch)",
            )
        head = []
        for line in sys.stdin:
            head.append(line)
            if line.strip():
                break
        if head and head[-1].strip() and not head[-1].lstrip().startswith("{"):
            raise UsageError("questions on stdin need a schema", hint="pass --ddl FILE or --db FILE.sqlite")
        lines = itertools.chain(head, sys.stdin)
    backend = load_backend(cfg, model=model, base=base)
    for note in backend.notes:
        err.print(f"note: {note}")
    if interactive:
        err.print("Type a question and press Enter; the SQL is printed below it. Ctrl-D ends.")
    summary = run_stream(backend, lines, sys.stdout, sys.stderr, ddl=schema)
    err.print(f"answered {summary.answered} ({summary.no_sql} without SQL), {summary.bad_lines} bad lines")


def register(app: typer.Typer) -> None:
    app.command(
        "infer",
        no_args_is_help=False,
        cls=command("text2sql_cli.inference:InferSettings", dynamic={"--template": _template_default}),
    )(infer)
