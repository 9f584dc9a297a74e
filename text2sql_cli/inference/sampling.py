"""Sampling N candidates per prompt with transformers, and their mean token log-probabilities.

    sampling_config(greedy_config, n=, temperature=, top_p=) -> GenerationConfig
    TokenLogprobs(eos_ids, pad_id)    a LogitsProcessor that sums each row's token log-probabilities

The N candidates of a prompt come from one `generate` call, so a batch of B prompts decodes
B x N rows together; the prompts are encoded once and their KV cache repeated (`shared_prefill`).
Log-probabilities are the model's own (after any
repetition penalty, before temperature and top-p: custom processors run before the sampling
warpers), averaged over the generated tokens up to and including EOS; padding after a row
finished is not counted. Only the previous step's distribution is kept, so memory stays
O(rows x vocabulary) however long the generation.
"""

from __future__ import annotations

import copy
from typing import Any


def sampling_config(greedy: Any, *, n: int, temperature: float, top_p: float) -> Any:
    """The greedy config turned into multinomial sampling of `n` sequences per prompt."""
    config = copy.deepcopy(greedy)
    config.do_sample = True
    config.temperature = temperature
    config.top_p = top_p
    # top-p only (the published self-consistency setups, and what an OpenAI-compatible server
    # does): 0 turns top-k off; None would let transformers fill in its default of 50
    config.top_k = 0
    config.num_return_sequences = 1  # the rows arrive already repeated N times (shared_prefill)
    return config


def shared_prefill(model: Any, input_ids: Any, attention: Any, n: int, reserve: int = 0) -> dict[str, Any]:
    """`generate` inputs for N samples per prompt that read each prompt once.

    `num_return_sequences` would repeat every prompt N times before the prefill, so the prompt
    (DDL + question: most of the tokens) would be encoded N times. Instead the prompts, but for
    their last token, run once into a KV cache, which is then repeated N times; `generate` starts
    from it and feeds only the last prompt token. Position ids follow the left padding, as
    `generate` computes them, so the continuation is the one a full prefill gives (a test checks
    greedy outputs are identical). `reserve` (max_new_tokens + 1) sizes the cache's room to grow
    in place (`kvcache`): no copy of the whole cache per generated token."""
    import torch

    from text2sql_cli.inference.kvcache import reserved_cache

    cache = reserved_cache(model, reserve)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        model(
            input_ids=input_ids[:, :-1],
            attention_mask=attention[:, :-1],
            position_ids=positions[:, :-1],
            cache=cache,
            use_cache=True,
            logits_to_keep=1,
        )
    cache.batch_repeat_interleave(n)
    return {
        "input_ids": input_ids.repeat_interleave(n, 0),
        "attention_mask": attention.repeat_interleave(n, 0),
        "cache": cache,
    }


def _processor_base():
    from transformers import LogitsProcessor

    return LogitsProcessor


class TokenLogprobs:
    """Sum of log p(token) per row while generating; call `finish(sequences)` for the last token."""

    def __init__(self, eos_ids: list[int], pad_id: int | None):
        self.end_ids = sorted({*eos_ids, *([pad_id] if pad_id is not None else [])})
        self.prev = None
        self.total = None
        self.count = None
        self.alive = None

    def _take(self, chosen) -> None:
        import torch

        lp = self.prev.gather(1, chosen[:, None]).squeeze(1)
        alive = self.alive.to(lp.dtype)
        self.total = self.total + lp * alive  # not in place: finish() runs outside inference_mode
        self.count = self.count + alive
        ended = torch.isin(chosen, torch.tensor(self.end_ids, device=chosen.device))
        self.alive = self.alive & ~ended

    def __call__(self, input_ids, scores):
        import torch

        if self.prev is None:
            rows = scores.shape[0]
            self.total = torch.zeros(rows, device=scores.device)
            self.count = torch.zeros(rows, device=scores.device)
            self.alive = torch.ones(rows, dtype=torch.bool, device=scores.device)
        else:
            self._take(input_ids[:, -1])
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def finish(self, sequences) -> list[float | None]:
        """Mean log-probability per row (None for a row that generated nothing)."""
        if self.prev is None:
            return [None] * sequences.shape[0]
        self._take(sequences[:, -1])
        self.prev = None
        return [float(t / c) if c > 0 else None for t, c in zip(self.total.tolist(), self.count.tolist())]


def token_logprobs(eos_ids: list[int], pad_id: int | None) -> Any:
    """A TokenLogprobs that is also a transformers LogitsProcessor (imported only when sampling)."""
    cls = type("TokenLogprobsProcessor", (TokenLogprobs, _processor_base()), {})
    return cls(eos_ids, pad_id)
