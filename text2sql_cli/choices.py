"""The choices of t2s's options, one `Literal` each, shared by the settings classes (which validate
them) and the CLI (whose `--help` lists them).

This module imports only `typing`: the CLI modules import it at start-up, so `t2s --help` loads no
pydantic (the settings classes load when a command runs or its help shows defaults).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

# t2s train
Preset = Literal["book", "grpo"]
Quant = Literal["none", "4bit", "8bit"]
Loss = Literal["completion", "full"]
ReportTo = Literal["none", "tensorboard", "wandb"]
Method = Literal["sft", "grpo"]
Reward = Literal["arctic", "binary"]

# t2s infer
Backend = Literal["hf", "openai"]
Precision = Literal["auto", "fp32", "bf16", "fp16"]
InferQuant = Literal["none", "4bit"]
Select = Literal["first", "vote", "logprob"]

# SQL execution (t2s eval, t2s filter, t2s infer --candidates)
Dialect = Literal["auto", "mysql", "postgres", "sqlite"]
Engine = Literal["sqlite", "mariadb", "postgres"]
EvalMode = Literal["strict", "spider", "bird", "sqleval"]

# LLM judge and filter
Sees = Literal["sql", "raw"]
OnLLMFailure = Literal["hold", "keep"]
BatchRetry = Literal["online", "batch"]


def choices(literal: Any) -> str:
    """A `Literal`'s values as a `--help` metavar (`[a|b|c]`): the CLI lists the settings' own
    choices, and the settings class validates them (so a bad value is a one-line error naming the
    flag and its variable)."""
    return "[" + "|".join(map(str, get_args(literal))) + "]"
