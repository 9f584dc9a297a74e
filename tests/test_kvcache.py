"""The in-place KV cache (inference/kvcache.py) generates exactly what transformers' DynamicCache does."""

from __future__ import annotations

import copy

import pytest
from _tiny import shared_tiny

PROMPTS = ["SELECT name FROM heroes WHERE", "CREATE TABLE t (a INT); SELECT a"]


def _setup():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(shared_tiny()).eval()
    tok = AutoTokenizer.from_pretrained(shared_tiny())
    tok.padding_side = "left"
    enc = tok(PROMPTS, return_tensors="pt", padding=True)
    assert (enc["attention_mask"] == 0).any()  # left padding is exercised
    return model, tok, enc["input_ids"], enc["attention_mask"]


def _generate(model, config, inputs, seed):
    import torch

    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(
            **inputs, generation_config=config, return_dict_in_generate=True, output_logits=True
        )
    return out.sequences, torch.stack(out.logits)


@pytest.mark.slow
@pytest.mark.parametrize("reserve", [1, 7, 40])  # 1 and 7 make the buffer grow mid-generation
def test_reserved_cache_generates_bit_identically(reserve):
    import torch
    from transformers import DynamicCache

    from text2sql_cli.inference.kvcache import reserved_cache

    model, tok, ids, mask = _setup()
    config = copy.deepcopy(model.generation_config)
    config.max_new_tokens, config.pad_token_id = 20, tok.pad_token_id
    config.do_sample, config.temperature, config.top_p = True, 0.9, 0.95
    plain = {"input_ids": ids, "attention_mask": mask, "cache": DynamicCache(config=model.config)}
    mine = {"input_ids": ids, "attention_mask": mask, "cache": reserved_cache(model, reserve)}
    seqs, logits = _generate(model, config, plain, seed=3)
    seqs2, logits2 = _generate(model, config, mine, seed=3)
    assert torch.equal(seqs, seqs2)
    assert torch.equal(logits, logits2)  # the same numbers, not just the same argmax
    layer = mine["cache"].layers[0]
    assert layer._buffers is not None and layer.keys.data_ptr() == layer._buffers[0].data_ptr()


@pytest.mark.slow
def test_shared_prefill_on_the_reserved_cache_matches_plain_repeated_prompts():
    import torch
    from transformers import DynamicCache

    from text2sql_cli.inference.sampling import shared_prefill

    model, tok, ids, mask = _setup()
    config = copy.deepcopy(model.generation_config)
    config.do_sample, config.max_new_tokens, config.pad_token_id = False, 12, tok.pad_token_id
    plain = {
        "input_ids": ids.repeat_interleave(4, 0),
        "attention_mask": mask.repeat_interleave(4, 0),
        "cache": DynamicCache(config=model.config),
    }
    seqs, logits = _generate(model, config, plain, seed=0)
    seqs2, logits2 = _generate(model, config, shared_prefill(model, ids, mask, 4, reserve=13), seed=0)
    assert torch.equal(seqs, seqs2)
    # the prefill ran on 2 rows instead of 8, so compare decoding steps up to float rounding
    assert torch.allclose(logits, logits2, atol=1e-5)


def test_importing_kvcache_loads_no_transformers():
    import subprocess
    import sys

    code = "import text2sql_cli.inference.kvcache, sys; print('transformers' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
