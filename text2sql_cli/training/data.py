"""Training rows -> token ids, labels and batches.

Every row goes through `prompts.encode`, the function inference uses for its prompts, so the
prompt tokens a model is trained on are the ones it later sees. Labels are -100 (ignored) exactly on
the prompt tokens for `--loss completion`, and equal the ids everywhere for `--loss full`.

Two collators:
- `PadCollator`: right-pads each micro-batch to its longest row (no fixed-length padding).
- `packing_collator`: padding-free packing (transformers' DataCollatorWithFlattening): the
  micro-batch becomes one row with position ids restarting at 0 for every example and no attention
  mask, which makes the attention code (masking_utils' packed-sequence detection for sdpa/eager,
  varlen kernels for flash-attention) keep each example to itself; the first label of each example is
  -100 so no example learns to predict the next one's first token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from text2sql_cli.data import Example
from text2sql_cli.prompts import PromptTemplate, encode

IGNORE = -100


@dataclass
class Tokenized:
    rows: list[dict[str, list[int]]]
    skipped_too_long: int
    prompt_tokens: int
    completion_tokens: int


def tokenize_examples(
    examples: list[Example],
    template: PromptTemplate,
    tokenizer: Any,
    *,
    max_len: int,
    loss: str = "completion",
) -> Tokenized:
    """`input_ids` = prompt + SQL + EOS; rows longer than `max_len` are skipped, not truncated
    (a truncated row would teach SQL without its end, or no SQL at all)."""
    rows, skipped, n_prompt, n_completion = [], 0, 0, 0
    for ex in examples:
        prompt, completion = encode(template, tokenizer, ex.context, ex.question, ex.answer or "")
        if len(prompt) + len(completion) > max_len:
            skipped += 1
            continue
        ids = prompt + completion
        labels = ([IGNORE] * len(prompt) + completion) if loss == "completion" else list(ids)
        rows.append({"input_ids": ids, "labels": labels})
        n_prompt += len(prompt)
        n_completion += len(completion)
    return Tokenized(rows, skipped, n_prompt, n_completion)


class PadCollator:
    """Right-pad to the longest row of the micro-batch: labels with -100, attention mask 0."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, features: list[dict[str, list[int]]]) -> dict[str, Any]:
        import torch

        width = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(features), width), dtype=torch.long)
        for i, f in enumerate(features):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"], dtype=torch.long)
            labels[i, :n] = torch.tensor(f["labels"], dtype=torch.long)
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def packing_collator() -> Any:
    from transformers import DataCollatorWithFlattening

    return DataCollatorWithFlattening(return_position_ids=True, separator_id=IGNORE)


def padding_waste(lengths: list[int], batch_size: int, *, packing: bool) -> float:
    """Padded tokens over real tokens when consecutive rows form micro-batches."""
    if packing or not lengths:
        return 0.0
    padded = 0
    for start in range(0, len(lengths), batch_size):
        chunk = lengths[start : start + batch_size]
        padded += max(chunk) * len(chunk) - sum(chunk)
    return padded / sum(lengths)
