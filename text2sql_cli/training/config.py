"""`t2s train` options: one settings class, presets and YAML config files.

Precedence, highest first: command-line flag > `--config` YAML file > `T2S_TRAIN_*` environment
variable > `.env` > `--preset` > built-in default. A preset is a different set of defaults, so an
environment variable still overrides it; a config file is as explicit as a flag, so it overrides
the environment. Every field has one variable, `T2S_TRAIN_<FIELD>` (e.g. `T2S_TRAIN_LR=1e-4`), so
that `t2s train` and `t2s infer` never read each other's `--out` or `--data` from the environment.

Importing this module loads no torch (config.SETTINGS_MODULES imports it for the .env check).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import SettingsConfigDict

from text2sql_cli.choices import Loss, Method, Preset, Quant, ReportTo, Reward  # shared with --help
from text2sql_cli.config import T2SSettings
from text2sql_cli.errors import ConfigError, InputError
from text2sql_cli.prompts import DEFAULT_TEMPLATE

ENV_PREFIX = "T2S_TRAIN_"


class TrainSettings(T2SSettings):
    """Everything `t2s train` needs. Field names are the flags (`max_len` is `--max-len`), the
    YAML keys and, upper-cased, the variables (`T2S_TRAIN_MAX_LEN`); `public_dump()` of this object
    is `run.json["config"]`."""

    model_config = SettingsConfigDict(**{**T2SSettings.model_config, "env_prefix": ENV_PREFIX})

    # what to train on, and where to put it
    base: str | None = Field(None, description="base model: hub id or local directory")
    data: Path | None = Field(None, description="training rows (jsonl/csv/json/parquet)")
    out: Path | None = Field(None, description="run directory")
    eval_file: Path | None = Field(None, description="rows for validation loss")
    template: str = Field(DEFAULT_TEMPLATE, description="prompt template name or file")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit) of --base")
    trust_remote_code: bool = Field(False, description="run the base model's own code")
    preset: Preset | None = Field(
        None, description="named defaults (book = chapter 6's autotrain run; grpo = the RL recipe below)"
    )
    # LoRA
    r: int = Field(16, description="LoRA rank", gt=0)
    alpha: int = Field(32, description="LoRA alpha", gt=0)
    dropout: float = Field(0.05, description="LoRA dropout", ge=0, lt=1)
    targets: str = Field("all-linear", description="LoRA target modules: all-linear or comma-separated names")
    quant: Quant = Field("none", description="load the base quantized (QLoRA, CUDA only)")
    # optimisation
    epochs: float = Field(1.0, description="passes over the data", gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: epochs decide)")
    lr: float = Field(2e-4, description="peak learning rate", gt=0)
    batch_size: int = Field(8, description="examples per device per micro-batch", gt=0)
    grad_accum: int = Field(1, description="micro-batches per optimizer step", gt=0)
    max_len: int = Field(1024, description="longest prompt+SQL in tokens; longer rows are skipped", gt=8)
    warmup_ratio: float = Field(0.1, description="share of steps for linear warmup", ge=0, lt=1)
    weight_decay: float = Field(0.01, description="AdamW weight decay", ge=0)
    lr_scheduler: str = Field(
        "linear", description="transformers scheduler name (linear, cosine, constant...)"
    )
    gradient_checkpointing: bool = Field(False, description="trade compute for activation memory")
    packing: bool = Field(
        False, description="padding-free packing: a micro-batch is one row, attention kept per example"
    )
    loss: Loss = Field("completion", description="completion: loss on SQL+EOS only; full: prompt too")
    seed: int = Field(42, description="seed for shuffling, dropout and LoRA init")
    columns: str | None = Field(None, description="map t2s fields to the data's columns: answer=query,...")
    drop_na: bool = Field(False, description="drop rows with an empty field instead of stopping")
    # bookkeeping
    report_to: ReportTo = Field("none", description="experiment tracker")
    log_every: int = Field(10, description="optimizer steps between loss log lines", gt=0)
    save_every: int = Field(200, description="optimizer steps between checkpoints", gt=0)
    save_total_limit: int = Field(2, description="checkpoints kept", gt=0)
    resume: bool = Field(False, description="continue from the last checkpoint in OUT/checkpoints")
    merge: bool = Field(
        False, description="after training, merge the adapter into a 16-bit model in OUT/merged"
    )
    push_to_hub: str | None = Field(None, description="hub repo to push the adapter (or merged model) to")
    # --method grpo (training/grpo.py): reinforcement learning with an execution reward
    method: Method = Field("sft", description="sft (supervised) or grpo (execution reward)")
    init: Path | None = Field(
        None, description="grpo: a t2s SFT run dir to start from (its adapter and template)"
    )
    num_generations: int = Field(8, description="grpo: completions sampled per prompt", ge=2)
    beta: float = Field(
        0.0, description="grpo: KL penalty to the starting model (0: no reference model)", ge=0
    )
    max_completion_len: int = Field(256, description="grpo: most tokens per completion", gt=0)
    temperature: float = Field(1.0, description="grpo: sampling temperature", gt=0)
    use_vllm: bool = Field(False, description="grpo: generate with vLLM (TRL's colocate mode; CUDA + vllm)")
    reward: Reward = Field("arctic", description="grpo: arctic = 1 match / 0.1 runs / 0 else; binary = 1 / 0")
    format_reward: float = Field(0.0, description="grpo: weight of a parses-as-one-SQL reward", ge=0)
    reward_instances: int = Field(5, description="grpo: synthesized databases per row", ge=1, le=50)
    reward_timeout: float = Field(5.0, description="grpo: seconds per query (a timeout scores 0)", gt=0)
    db_dir: Path | None = Field(None, description="grpo: Spider-layout databases instead of synthesized ones")

    @model_validator(mode="after")
    def _targets_not_empty(self) -> TrainSettings:
        if not self.target_modules():
            raise ValueError("targets must name at least one module (or all-linear)")
        return self

    @model_validator(mode="after")
    def _init_needs_grpo(self) -> TrainSettings:
        if self.init is not None and self.method != "grpo":
            raise ValueError("init (--init) is for --method grpo; SFT starts from --base")
        return self

    # where each option came from (resolve_config fills it): run.json's config_sources
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    def sources(self) -> dict[str, str]:
        return dict(self._sources)

    def target_modules(self) -> str | list[str]:
        if self.targets.strip() == "all-linear":
            return "all-linear"
        return [t.strip() for t in self.targets.split(",") if t.strip()]

    def missing(self) -> list[str]:
        """Required options that are unset (all reported at once)."""
        return [f"--{name}" for name in ("base", "data", "out") if getattr(self, name) is None]


# The book's autotrain run (BOOK.md): r 16, alpha 32, dropout .05, lr 2e-4, batch 8 x accumulation 8,
# 1 epoch, block 1024, warmup .1, weight decay .01, 4-bit, gradient checkpointing, seed 42.
# t2s keeps two deliberate differences (README, "t2s and the book"): the loss is on the completion
# (add --loss full for the book's prompt-included loss) and packing keeps examples apart (padding-
# free, position ids restart per example) where the book's packing lets them attend to each other.
PRESETS: dict[str, dict[str, Any]] = {
    "book": {
        "r": 16,
        "alpha": 32,
        "dropout": 0.05,
        "lr": 2e-4,
        "batch_size": 8,
        "grad_accum": 8,
        "epochs": 1.0,
        "max_len": 1024,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "lr_scheduler": "linear",
        "quant": "4bit",
        "gradient_checkpointing": True,
        "packing": True,
        "targets": "all-linear",
        "seed": 42,
    },
    # GRPO after SFT, after the published recipes: 8 samples per prompt at temperature 1.0 (TRL's
    # GRPO defaults), 4 prompts per optimizer step (batch 8 completions x 4 accumulation), no KL term
    # (beta 0: Dr. GRPO / DAPO, and TRL's default; it also saves the reference model's memory),
    # Arctic-Text2SQL-R1's 1 / 0.1 / 0 execution reward, a constant learning rate for LoRA (Arctic
    # used 1e-6 for full fine-tuning; LoRA updates need a larger one), one epoch over filtered prompts.
    "grpo": {
        "method": "grpo",
        "num_generations": 8,
        "temperature": 1.0,
        "beta": 0.0,
        "reward": "arctic",
        "max_completion_len": 256,
        "lr": 1e-5,
        "lr_scheduler": "constant",
        "warmup_ratio": 0.0,
        "batch_size": 8,
        "grad_accum": 4,
        "epochs": 1.0,
        "seed": 42,
    },
}


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML mapping of option -> value. Keys may be written with dashes (`max-len`) or underscores."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such config file", hint="check the --config path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise InputError(path, f"not valid YAML ({err})".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise InputError(path, "expected a mapping of option: value")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - set(TrainSettings.model_fields))
    if unknown:
        raise InputError(path, f"unknown option(s) {', '.join(unknown)}", hint="see `t2s train --help`")
    return data


def resolve_config(config_file: str | Path | None = None, **flags: Any) -> TrainSettings:
    """Merge flags (None = not given), the YAML file, env/.env, the preset and defaults."""
    from_file = load_config_file(config_file) if config_file else {}
    given = {k: v for k, v in flags.items() if v is not None}
    preset_name = given.get("preset") or from_file.get("preset")
    env_only = TrainSettings.from_flags()
    preset_name = preset_name or env_only.preset
    preset: dict[str, Any] = {}
    if preset_name:
        if preset_name not in PRESETS:
            raise ConfigError(f"unknown preset {preset_name!r}", hint=f"use one of {', '.join(PRESETS)}")
        # env/.env values were given explicitly; the preset only replaces built-in defaults
        preset = {k: v for k, v in PRESETS[preset_name].items() if k not in env_only.model_fields_set}
    cfg = TrainSettings.from_flags(**(preset | from_file | given | {"preset": preset_name}))
    from text2sql_cli.config import option_sources

    cfg._sources = option_sources(
        TrainSettings,
        given,
        before_env=((f"--config {config_file}", set(from_file)),),
        after_env=((f"preset {preset_name}", set(preset)),),
    )
    return cfg
