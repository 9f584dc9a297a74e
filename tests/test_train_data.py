"""Training rows: completion-only labels, the pad collator, and padding-free packing that keeps
examples apart."""

from __future__ import annotations

import pytest
from _tiny import shared_tiny

from text2sql_cli.data import Example
from text2sql_cli.prompts import encode, get_template
from text2sql_cli.training.data import IGNORE, PadCollator, packing_collator, padding_waste, tokenize_examples

pytestmark = pytest.mark.slow  # builds, trains or runs the tiny model

ROWS = [
    Example("a", "1", "CREATE TABLE t (a INT);", "a를 모두 보여줘", "SELECT a FROM t;"),
    Example("b", "1", "CREATE TABLE u (b INT, c TEXT);", "c가 x인 b는?", "SELECT b FROM u WHERE c = 'x';"),
    Example("c", "2", "CREATE TABLE v (d INT);", "d의 합계", "SELECT SUM(d) FROM v;"),
]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(shared_tiny())


def test_completion_labels_are_ignored_exactly_on_prompt_tokens(tokenizer):
    template = get_template("ko-sql-bot")
    rows = tokenize_examples(ROWS, template, tokenizer, max_len=4096, loss="completion").rows
    for ex, row in zip(ROWS, rows):
        prompt, completion = encode(template, tokenizer, ex.context, ex.question, ex.answer)
        assert row["input_ids"] == prompt + completion
        assert row["labels"] == [IGNORE] * len(prompt) + completion
        assert row["labels"][-1] == tokenizer.eos_token_id


def test_full_loss_labels_every_token(tokenizer):
    rows = tokenize_examples(ROWS, get_template("ko-sql-bot"), tokenizer, max_len=4096, loss="full").rows
    assert all(r["labels"] == r["input_ids"] for r in rows)


def test_rows_longer_than_max_len_are_skipped_not_truncated(tokenizer):
    template = get_template("ko-sql-bot")
    lengths = [sum(map(len, encode(template, tokenizer, e.context, e.question, e.answer))) for e in ROWS]
    tok = tokenize_examples(ROWS, template, tokenizer, max_len=min(lengths))
    assert tok.skipped_too_long == sum(n > min(lengths) for n in lengths)
    assert [len(r["input_ids"]) for r in tok.rows] == [min(lengths)]


def test_pad_collator_right_pads_with_ignored_labels():
    batch = PadCollator(pad_id=3)(
        [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 3, 3]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]


def test_packing_restarts_position_ids_and_masks_first_label_per_example():
    batch = packing_collator()(
        [{"input_ids": [5, 6, 7], "labels": [5, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]}]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert batch["labels"].tolist() == [[-100, 6, 7, -100, 9]]
    assert "attention_mask" not in batch


def test_packed_examples_do_not_attend_to_each_other(tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(shared_tiny()).eval()
    rows = tokenize_examples(ROWS[:2], get_template("ko-sql-bot"), tokenizer, max_len=4096).rows
    packed = packing_collator()(rows)
    with torch.no_grad():
        # use_cache=False as in training (Trainer sets it): a cache turns packed-sequence detection off
        together = model(
            input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False
        ).logits[0]
        alone = model(input_ids=torch.tensor([rows[1]["input_ids"]])).logits[0]
    second = together[len(rows[0]["input_ids"]) :]
    torch.testing.assert_close(second, alone, atol=1e-4, rtol=1e-4)


def test_padding_waste_is_zero_with_packing():
    assert padding_waste([2, 4], 2, packing=False) == pytest.approx(2 / 6)
    assert padding_waste([2, 4], 2, packing=True) == 0.0
