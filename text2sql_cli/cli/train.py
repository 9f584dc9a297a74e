"""`t2s train`: LoRA / QLoRA fine-tuning. Every option defaults to None here, meaning "not given",
so that a config file, T2S_TRAIN_* variables and a preset can fill it (training/config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from text2sql_cli.choices import Loss, Preset, Quant, ReportTo, choices
from text2sql_cli.cli._help import command

Opt = typer.Option


def _default(name: str) -> str:
    """The default `--help` shows, from TrainSettings (never retyped here)."""
    from text2sql_cli.training.config import TrainSettings

    return TrainSettings.default_of(name)


def train(
    base: Annotated[
        str | None, Opt("--base", help="Base model: hub id or local directory (e.g. beomi/Yi-Ko-6B).")
    ] = None,
    data: Annotated[
        Path | None, Opt("--data", help="Training rows, e.g. DIR/train.jsonl from `t2s data split`.")
    ] = None,
    out: Annotated[
        Path | None, Opt("--out", help="Run directory: adapter, tokenizer, template, run.json.")
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
    r: Annotated[int | None, Opt("--r", help=f"LoRA rank [{_default('r')}].")] = None,
    alpha: Annotated[int | None, Opt("--alpha", help=f"LoRA alpha [{_default('alpha')}].")] = None,
    dropout: Annotated[float | None, Opt("--dropout", help=f"LoRA dropout [{_default('dropout')}].")] = None,
    targets: Annotated[
        str | None,
        Opt("--targets", help=f"all-linear, or module names: q_proj,v_proj [{_default('targets')}]."),
    ] = None,
    epochs: Annotated[
        float | None, Opt("--epochs", help=f"Passes over the data [{_default('epochs')}].")
    ] = None,
    max_steps: Annotated[
        int | None, Opt("--max-steps", help="Stop after N optimizer steps (-1: epochs decide).")
    ] = None,
    lr: Annotated[float | None, Opt("--lr", help=f"Peak learning rate [{_default('lr')}].")] = None,
    batch_size: Annotated[
        int | None,
        Opt("--batch-size", help=f"Examples per device per micro-batch [{_default('batch_size')}]."),
    ] = None,
    grad_accum: Annotated[
        int | None, Opt("--grad-accum", help=f"Micro-batches per optimizer step [{_default('grad_accum')}].")
    ] = None,
    max_len: Annotated[
        int | None,
        Opt(
            "--max-len",
            help=f"Longest prompt+SQL in tokens; longer rows are skipped [{_default('max_len')}].",
        ),
    ] = None,
    warmup_ratio: Annotated[
        float | None, Opt("--warmup-ratio", help=f"Share of steps for warmup [{_default('warmup_ratio')}].")
    ] = None,
    weight_decay: Annotated[
        float | None, Opt("--weight-decay", help=f"AdamW weight decay [{_default('weight_decay')}].")
    ] = None,
    lr_scheduler: Annotated[
        str | None, Opt("--lr-scheduler", help=f"linear, cosine, constant, ... [{_default('lr_scheduler')}].")
    ] = None,
    gradient_checkpointing: Annotated[
        bool | None,
        Opt(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help="Recompute activations to save memory.",
        ),
    ] = None,
    packing: Annotated[
        bool | None,
        Opt("--packing/--no-packing", help="Padding-free packing; examples never attend to each other."),
    ] = None,
    loss: Annotated[
        str | None,
        Opt(
            "--loss",
            metavar=choices(Loss),
            help=f"completion (SQL+EOS only) or full (the book: prompt too) [{_default('loss')}].",
        ),
    ] = None,
    eval_file: Annotated[Path | None, Opt("--eval-file", help="Rows for validation loss.")] = None,
    report_to: Annotated[
        str | None,
        Opt(
            "--report-to",
            metavar=choices(ReportTo),
            help=f"none, tensorboard or wandb [{_default('report_to')}].",
        ),
    ] = None,
    seed: Annotated[int | None, Opt("--seed", help=f"Seed [{_default('seed')}].")] = None,
    columns: Annotated[
        str | None, Opt("--columns", help="Map t2s fields to your columns: question=q,answer=query.")
    ] = None,
    drop_na: Annotated[
        bool | None, Opt("--drop-na/--no-drop-na", help="Drop rows with an empty field instead of stopping.")
    ] = None,
    revision: Annotated[
        str | None, Opt("--revision", help="Hub revision of --base (branch, tag, commit).")
    ] = None,
    trust_remote_code: Annotated[
        bool | None,
        Opt(
            "--trust-remote-code/--no-trust-remote-code",
            help="Run the base model's own code (off unless asked).",
        ),
    ] = None,
    template: Annotated[
        str | None, Opt("--template", help="Prompt template: ko-sql-bot, en-sql-bot, chat, or a file.")
    ] = None,
    quant: Annotated[
        str | None,
        Opt(
            "--quant",
            metavar=choices(Quant),
            help=f"4bit (QLoRA NF4), 8bit or none; 4bit/8bit need CUDA [{_default('quant')}].",
        ),
    ] = None,
    log_every: Annotated[
        int | None, Opt("--log-every", help=f"Steps between loss log lines [{_default('log_every')}].")
    ] = None,
    save_every: Annotated[
        int | None, Opt("--save-every", help=f"Steps between checkpoints [{_default('save_every')}].")
    ] = None,
    resume: Annotated[
        bool | None,
        Opt("--resume/--no-resume", help="Continue from the last checkpoint in OUT/checkpoints."),
    ] = None,
    merge: Annotated[
        bool | None,
        Opt("--merge/--no-merge", help="Also save base+adapter merged in 16-bit to OUT/merged."),
    ] = None,
    push_to_hub: Annotated[
        str | None, Opt("--push-to-hub", help="Push the adapter (or the merged model) to this hub repo.")
    ] = None,
    method: Annotated[
        str | None, Opt("--method", help="sft (supervised) or grpo (RL with an execution reward) [sft].")
    ] = None,
    init: Annotated[
        Path | None, Opt("--init", help="grpo: start from this SFT run dir (its adapter and template).")
    ] = None,
    num_generations: Annotated[
        int | None, Opt("--num-generations", help="grpo: completions sampled per prompt [8].")
    ] = None,
    beta: Annotated[float | None, Opt("--beta", help="grpo: KL penalty to the starting model [0].")] = None,
    max_completion_len: Annotated[
        int | None, Opt("--max-completion-len", help="grpo: most tokens per completion [256].")
    ] = None,
    temperature: Annotated[
        float | None, Opt("--temperature", help="grpo: sampling temperature [1.0].")
    ] = None,
    use_vllm: Annotated[
        bool | None, Opt("--use-vllm/--no-use-vllm", help="grpo: generate with vLLM (CUDA + vllm).")
    ] = None,
    reward: Annotated[
        str | None, Opt("--reward", help="grpo: arctic (1 match / 0.1 runs / 0) or binary [arctic].")
    ] = None,
    format_reward: Annotated[
        float | None, Opt("--format-reward", help="grpo: weight of a parses-as-one-SQL reward [0].")
    ] = None,
    db_dir: Annotated[
        Path | None, Opt("--db-dir", help="grpo: run SQL on <db_dir>/<db_id>/*.sqlite, not synthesized DBs.")
    ] = None,
) -> None:
    """Fine-tune a base model with LoRA (or QLoRA with --quant 4bit) on Text-to-SQL rows.

    The loss is on the SQL and EOS only unless --loss full. --method grpo trains with TRL's GRPO
    and an execution reward instead: t2s train --method grpo --init runs/sft --data D --out O.
    Ctrl-C or SIGTERM saves a checkpoint;
    rerun with --resume. Multi-GPU: `accelerate launch -m text2sql_cli train ...`.
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
