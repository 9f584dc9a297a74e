"""A tiny random Llama-architecture model for trying the pipeline offline, without a GPU or a hub.

It is a smoke model: its weights are random, so the SQL it writes is noise until it is trained, and
even then it only learns to echo the training data's shape. It exists so that `t2s train`,
`t2s infer` and `t2s eval` can run end to end anywhere in seconds, and so that tests never
download anything. The directory it writes is a normal Hugging Face model directory (config,
safetensors weights, fast tokenizer with a chat template) that `--base` accepts.

The tokenizer is a byte-level BPE trained locally on the given texts (the data plus the prompt
templates), so Korean questions and SQL both tokenize into short sequences.

`pretrain_steps` > 0 runs a few hundred full-weight causal-LM steps on those texts (seconds on a
CPU), so the smoke model writes SQL-shaped text instead of noise and a LoRA run on top of it has
something to adapt. Give it training rows only: rows it pretrains on are not held out any more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
# A minimal chat template, so `--template chat` can be tried on the tiny model too.
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}"
    "{% if m['role'] == 'assistant' %}</s>{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """A byte-level BPE `PreTrainedTokenizerFast` trained on `texts`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_model(
    out_dir: str | Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 1024,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    max_positions: int = 2048,
    seed: int = 0,
    pretrain_steps: int = 0,
    pretrain_lr: float = 3e-3,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Train a tokenizer on `texts`, build a random LlamaForCausalLM (optionally pretrained on
    `texts` for `pretrain_steps`), save both to `out_dir`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    texts = list(texts)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if pretrain_steps > 0:
        pretrain(model, tokenizer, texts, steps=pretrain_steps, lr=pretrain_lr, seed=seed, on_step=on_step)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def pretrain(
    model,
    tokenizer,
    texts: list[str],
    *,
    steps: int,
    lr: float,
    seed: int,
    batch_size: int = 8,
    on_step: Callable[[int, float], None] | None = None,
) -> float:
    """Full-weight causal-LM training on `texts` (each followed by EOS); returns the last loss.
    `on_step(step, loss)` is called after each step (for a progress bar)."""
    import random

    import torch

    rng = random.Random(seed)
    sequences = [tokenizer(t + tokenizer.eos_token, add_special_tokens=False)["input_ids"] for t in texts]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    loss = torch.tensor(float("nan"))
    for step in range(1, steps + 1):
        batch = rng.sample(sequences, min(batch_size, len(sequences)))
        width = max(map(len, batch))
        ids = torch.full((len(batch), width), tokenizer.pad_token_id)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = torch.tensor(seq)
            mask[row, : len(seq)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if on_step is not None:
            on_step(step, loss.item())
    model.eval()
    return loss.item()


def corpus_for(examples, templates) -> list[str]:
    """Texts to train the tiny tokenizer on: every example rendered through every template."""
    texts = []
    for ex in examples:
        for template in templates:
            if not template.chat:
                texts.append(template.render_training(ex.context, ex.question, ex.answer or "", ""))
    return texts
