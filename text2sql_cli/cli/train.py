"""`t2s train`: LoRA / QLoRA fine-tuning. Every option defaults to None here, meaning "not given",
so that a config file, T2S_TRAIN_* variables and a preset can fill it (training/config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.choices import Loss, Method, Preset, Quant, ReportTo, Reward, choices
from text2sql_cli.cli._flags import Columns
from text2sql_cli.cli._help import DATA, GRPO, LORA, MODEL, OPTIMISATION, OUTPUT, command

Opt = typer.Option


def train(
    base: Annotated[
        str | None,
        Opt(
            "--base",
            help="Base model: hub id or local directory (e.g. beomi/Yi-Ko-6B).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    data: Annotated[
        Path | None,
        Opt(
            "--data", help="Training rows, e.g. DIR/train.jsonl from `t2s data split`.", rich_help_panel=DATA
        ),
    ] = None,
    out: Annotated[
        Path | None,
        Opt("--out", help="Run directory: adapter, tokenizer, template, run.json.", rich_help_panel=OUTPUT),
    ] = None,
    config: Annotated[Path | None, Opt("--config", help="YAML file of options; flags override it.")] = None,
    preset: Annotated[
        str | None,
        Opt(
            "--preset",
            metavar=choices(Preset),
            help="Named defaults: book = the chapter's autotrain run; grpo = RL after SFT.",
        ),
    ] = None,
    r: Annotated[int | None, Opt("--r", help="LoRA rank.", rich_help_panel=LORA)] = None,
    alpha: Annotated[int | None, Opt("--alpha", help="LoRA alpha.", rich_help_panel=LORA)] = None,
    dropout: Annotated[float | None, Opt("--dropout", help="LoRA dropout.", rich_help_panel=LORA)] = None,
    targets: Annotated[
        str | None,
        Opt("--targets", help="all-linear, or module names: q_proj,v_proj.", rich_help_panel=LORA),
    ] = None,
    epochs: Annotated[
        float | None, Opt("--epochs", help="Passes over the data.", rich_help_panel=OPTIMISATION)
    ] = None,
    max_steps: Annotated[
        int | None,
        Opt(
            "--max-steps",
            help="Stop after N optimizer steps (-1: epochs decide).",
            rich_help_panel=OPTIMISATION,
        ),
    ] = None,
    lr: Annotated[float | None, Opt("--lr", help="Peak learning rate.", rich_help_panel=OPTIMISATION)] = None,
    batch_size: Annotated[
        int | None,
        Opt("--batch-size", help="Examples per device per micro-batch.", rich_help_panel=OPTIMISATION),
    ] = None,
    grad_accum: Annotated[
        int | None,
        Opt("--grad-accum", help="Micro-batches per optimizer step.", rich_help_panel=OPTIMISATION),
    ] = None,
    max_len: Annotated[
        int | None,
        Opt(
            "--max-len",
            help="Longest prompt+SQL in tokens; longer rows are skipped.",
            rich_help_panel=OPTIMISATION,
        ),
    ] = None,
    warmup_ratio: Annotated[
        float | None, Opt("--warmup-ratio", help="Share of steps for warmup.", rich_help_panel=OPTIMISATION)
    ] = None,
    weight_decay: Annotated[
        float | None, Opt("--weight-decay", help="AdamW weight decay.", rich_help_panel=OPTIMISATION)
    ] = None,
    lr_scheduler: Annotated[
        str | None,
        Opt("--lr-scheduler", help="linear, cosine, constant, ...", rich_help_panel=OPTIMISATION),
    ] = None,
    gradient_checkpointing: Annotated[
        bool | None,
        Opt(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help="Recompute activations to save memory.",
            rich_help_panel=OPTIMISATION,
        ),
    ] = None,
    packing: Annotated[
        bool | None,
        Opt(
            "--packing/--no-packing",
            help="Padding-free packing; examples never attend to each other.",
            rich_help_panel=OPTIMISATION,
        ),
    ] = None,
    loss: Annotated[
        str | None,
        Opt(
            "--loss",
            metavar=choices(Loss),
            help="completion (SQL+EOS only) or full (the book: prompt too).",
            rich_help_panel=OPTIMISATION,
        ),
    ] = None,
    eval_file: Annotated[
        Path | None, Opt("--eval-file", help="Rows for validation loss.", rich_help_panel=DATA)
    ] = None,
    report_to: Annotated[
        str | None,
        Opt("--report-to", metavar=choices(ReportTo), help="Experiment tracker.", rich_help_panel=OUTPUT),
    ] = None,
    seed: Annotated[
        int | None,
        Opt("--seed", help="Seed for shuffling, dropout and LoRA init.", rich_help_panel=OPTIMISATION),
    ] = None,
    columns: Columns = None,
    drop_na: Annotated[
        bool | None,
        Opt(
            "--drop-na/--no-drop-na",
            help="Drop rows with an empty field instead of stopping.",
            rich_help_panel=DATA,
        ),
    ] = None,
    revision: Annotated[
        str | None,
        Opt("--revision", help="Hub revision of --base (branch, tag, commit).", rich_help_panel=MODEL),
    ] = None,
    trust_remote_code: Annotated[
        bool | None,
        Opt(
            "--trust-remote-code/--no-trust-remote-code",
            help="Run the base model's own code (off unless asked).",
            rich_help_panel=MODEL,
        ),
    ] = None,
    template: Annotated[
        str | None,
        Opt(
            "--template",
            help="Prompt template: ko-sql-bot, en-sql-bot, chat, or a file.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    quant: Annotated[
        str | None,
        Opt(
            "--quant",
            metavar=choices(Quant),
            help="4bit (QLoRA NF4), 8bit or none; 4bit/8bit need CUDA.",
            rich_help_panel=MODEL,
        ),
    ] = None,
    log_every: Annotated[
        int | None, Opt("--log-every", help="Steps between loss log lines.", rich_help_panel=OUTPUT)
    ] = None,
    save_every: Annotated[
        int | None, Opt("--save-every", help="Steps between checkpoints.", rich_help_panel=OUTPUT)
    ] = None,
    resume: Annotated[
        bool | None,
        Opt(
            "--resume/--no-resume",
            help="Continue from the last checkpoint in OUT/checkpoints.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    merge: Annotated[
        bool | None,
        Opt(
            "--merge/--no-merge",
            help="Also save base+adapter merged in 16-bit to OUT/merged.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    push_to_hub: Annotated[
        str | None,
        Opt(
            "--push-to-hub",
            help="Push the adapter (or the merged model) to this hub repo.",
            rich_help_panel=OUTPUT,
        ),
    ] = None,
    method: Annotated[
        str | None,
        Opt(
            "--method",
            metavar=choices(Method),
            help="sft (supervised) or grpo (RL with an execution reward).",
            rich_help_panel=GRPO,
        ),
    ] = None,
    init: Annotated[
        Path | None,
        Opt("--init", help="Start from this SFT run dir (its adapter and template).", rich_help_panel=GRPO),
    ] = None,
    num_generations: Annotated[
        int | None, Opt("--num-generations", help="Completions sampled per prompt.", rich_help_panel=GRPO)
    ] = None,
    beta: Annotated[
        float | None, Opt("--beta", help="KL penalty to the starting model.", rich_help_panel=GRPO)
    ] = None,
    max_completion_len: Annotated[
        int | None, Opt("--max-completion-len", help="Most tokens per completion.", rich_help_panel=GRPO)
    ] = None,
    temperature: Annotated[
        float | None, Opt("--temperature", help="Sampling temperature.", rich_help_panel=GRPO)
    ] = None,
    use_vllm: Annotated[
        bool | None,
        Opt("--use-vllm/--no-use-vllm", help="Generate with vLLM (CUDA + vllm).", rich_help_panel=GRPO),
    ] = None,
    reward: Annotated[
        str | None,
        Opt(
            "--reward",
            metavar=choices(Reward),
            help="arctic (1 match / 0.1 runs / 0) or binary (1 / 0).",
            rich_help_panel=GRPO,
        ),
    ] = None,
    format_reward: Annotated[
        float | None,
        Opt("--format-reward", help="Weight of a parses-as-one-SQL reward.", rich_help_panel=GRPO),
    ] = None,
    db_dir: Annotated[
        Path | None,
        Opt(
            "--db-dir",
            help="Run the reward's SQL on DIR/<db_id>/*.sqlite, not on synthesized databases.",
            rich_help_panel=GRPO,
        ),
    ] = None,
) -> None:
    """Fine-tune a base model with LoRA (or QLoRA with --quant 4bit) on Text-to-SQL rows.

    The loss is on the SQL and EOS only unless --loss full. --method grpo trains with TRL's GRPO
    and an execution reward instead: t2s train --method grpo --init runs/sft --data D --out O.
    Ctrl-C or SIGTERM saves a checkpoint; rerun with --resume. Multi-GPU:
    `accelerate launch -m text2sql_cli train ...`.
    """
    from text2sql_cli.training import resolve_config
    from text2sql_cli.training import train as run_training

    flags = {k: v for k, v in locals().items() if k != "config"}
    cfg = resolve_config(config, **flags)
    from text2sql_cli.data import parse_columns

    parse_columns(cfg.columns)  # a bad --columns is refused before anything loads
    from text2sql_cli.artifacts import blocking_file

    if cfg.out is not None and blocking_file(cfg.out) is None:  # else train names the file in the way
        from text2sql_cli.lock import hold as hold_lock

        hold_lock(cfg.out)  # a second run on this --out refuses, naming this one (beside --out, never pushed)
    from text2sql_cli.cli._options import print_effective_options

    def announce() -> None:  # once the inputs are checked, before the base model loads
        print_effective_options(cfg.public_dump(), cfg.sources(), "t2s train")

    result = run_training(cfg, on_ready=announce)
    if not result.is_main:
        return
    from text2sql_cli.cli._console import err
    from text2sql_cli.cli._console import out as console

    if not result.completed:
        err.print(
            f"interrupted at step {result.global_step}; checkpoint {result.checkpoint}; rerun with --resume"
        )
        raise typer.Exit(130)
    from text2sql_cli.training.run import merge_and_push

    target, url = merge_and_push(result, cfg)
    if url is not None:
        console.print(f"pushed {target} to {url}")
    console.print(_summary(result, cfg, target))


def _summary(result, cfg, target):
    from rich.table import Table

    from text2sql_cli.artifacts import TRAIN_LOG

    t, data = result.info["training"], result.info["data"]["train"]
    table = Table(title=f"t2s train: {result.out}", show_header=False)
    loss = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    world = f" ({t['world_size']} processes)" if t["world_size"] > 1 else ""
    rows = [
        ("base model", result.info.get("base_model", cfg.base)),
        (
            "training rows",
            f"{data['rows']} ({data['skipped_too_long']} skipped: longer than --max-len {cfg.max_len})",
        ),
        ("optimizer steps", f"{t['global_step']} (epoch {t['epoch'] or 0:.2f})"),
        ("examples per step", f"{t['effective_batch_size']}{world}"),
        ("train loss, final / best", f"{loss(t['final_loss'])} / {loss(t['best_loss'])}"),
        (
            "eval loss, final / best",
            f"{loss(t['final_eval_loss'])} / {loss(t['best_eval_loss'])}"
            if cfg.eval_file
            else "- (no --eval-file)",
        ),
        ("precision", f"{t['precision']} on {t['device']}"),
        *(
            (
                (
                    "reward, first / final / mean",
                    " / ".join(loss(t[k]) for k in ("first_reward", "final_reward", "mean_reward")),
                ),
            )
            if result.info.get("method") == "grpo"
            else ()
        ),
        ("training time", f"{t['train_runtime_s']:.1f} s"),
        ("loss log", str(result.out / TRAIN_LOG)),
        ("model for t2s infer", str(target)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def register(app: typer.Typer) -> None:
    app.command("train", cls=command("text2sql_cli.training.config:TrainSettings"))(train)
