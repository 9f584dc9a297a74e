"""Shapes, constants and small helpers shared by the GPU benchmark's driver, phases and figures."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SAMPLE = REPO / "examples" / "sample.jsonl"
ORIGIN_TRAIN_ROWS = 38_246  # ko_text2sql origin/train (BOOK.md)
BOOK_HOURS = (8, 9)  # the book's fine-tuning run on a Colab GPU

# beomi/Yi-Ko-6B's config.json, from its model card (no download): a Llama architecture.
YI_KO_6B = {
    "vocab_size": 78464,
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "intermediate_size": 11008,
    "max_position_embeddings": 2048,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}
# The same architecture, small enough to run every phase on a laptop CPU in a minute or two.
TINY = {
    **YI_KO_6B,
    "vocab_size": 2048,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 172,
}
TOKENIZER_VOCAB = (
    2048  # the BPE, both shapes; the 6B keeps its 78464 embedding rows (unused ones cost the same)
)
# Dense bf16 tensor-core peaks (vendor data sheets), matched against torch's device name in order.
PEAK_BF16_TFLOPS = [
    ("H200", 989.4),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),
    ("A100", 312.0),
    ("L40S", 362.05),
    ("L4", 121.0),
]
# Run order = priority: a spent time budget skips the phases at the end.
PHASES = (
    "build",
    "train_book",
    "train_default",
    "infer_4bit",
    "infer_bf16",
    "export",
    "generate_merged",
    "oom",
    "pipeline_book",
    "train_book_nopack",
)
CUDA_ONLY_MARK = "CUDA"  # t2s's message for a 4-bit run without a GPU names it


# ---------------------------------------------------------------------------------------------
# small helpers


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def gib(n: float | None) -> float | None:
    return None if n is None else round(n / 2**30, 2)


def peak_tflops(name: str) -> float | None:
    return next((tf for key, tf in PEAK_BF16_TFLOPS if key in name), None)


def linear_params(shape: dict) -> int:
    """Parameters of the matrix multiplies per token: attention, MLP, LM head (not the embedding)."""
    d, inter, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    kv = d // shape["num_attention_heads"] * shape["num_key_value_heads"]
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * inter
    return layers * per_layer + d * shape["vocab_size"]


def total_params(shape: dict) -> int:
    d, layers = shape["hidden_size"], shape["num_hidden_layers"]
    norms = (2 * layers + 1) * d
    return linear_params(shape) + d * shape["vocab_size"] + norms


def train_flops_per_token(shape: dict, mean_len: float) -> float:
    d, layers = shape["hidden_size"], shape["num_hidden_layers"]
    return 6 * linear_params(shape) + 12 * layers * d * mean_len
