"""Shared tiny-model helpers for tests (stable API; other test modules import these).

    build_tiny(dir) -> Path          a tiny random Llama + local BPE tokenizer (t2s model tiny)
    shared_tiny() -> Path            the same, built once per test process (treat as read-only)
    train_tiny(base, out, **opts)    a completed t2s run directory (adapter, run.json, ...)

Both run in-process, offline, in a few seconds on 2 CPU cores. Use them from a session-scoped
fixture so each test session builds the model once.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample.jsonl"
# The tiny model's random LM head keeps logits near uniform; adapting it too makes learning visible.
WITH_HEAD = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,lm_head"


def build_tiny(tmp_dir: str | Path, data: str | Path = SAMPLE) -> Path:
    """Build the tiny smoke model in `tmp_dir/tiny` (once; reused if already there)."""
    from text2sql_cli.data import load_examples
    from text2sql_cli.prompts import TEMPLATES
    from text2sql_cli.tiny import build_tiny_model, corpus_for

    out = Path(tmp_dir) / "tiny"
    if (out / "config.json").exists():
        return out
    examples, _ = load_examples(data, drop_na=True)
    return build_tiny_model(out, corpus_for(examples, TEMPLATES.values()), hidden_size=32, seed=0)


@functools.cache
def shared_tiny() -> Path:
    """One tiny model per test process, shared by every module that asks (read-only: don't write
    into it)."""
    return build_tiny(tempfile.mkdtemp(prefix="t2s-tiny-"))


def write_rows(path: str | Path, n: int, data: str | Path = SAMPLE) -> Path:
    """The first `n` rows of the sample data as a JSONL file."""
    path = Path(path)
    lines = Path(data).read_text(encoding="utf-8").splitlines()[:n]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def train_tiny(base: str | Path, out: str | Path, data: str | Path = SAMPLE, **options: Any) -> Path:
    """Train a LoRA run on the tiny model (defaults: 8 steps, batch 4, lr 1e-2, LM head adapted too).
    Returns `out`."""
    from text2sql_cli.training import resolve_config, train

    settings = {
        "max_steps": 8,
        "batch_size": 4,
        "lr": 1e-2,
        "log_every": 1,
        "r": 8,
        "alpha": 16,
        "targets": WITH_HEAD,
    }
    cfg = resolve_config(None, base=str(base), data=Path(data), out=Path(out), **(settings | options))
    result = train(cfg)
    assert result.completed
    return Path(out)
