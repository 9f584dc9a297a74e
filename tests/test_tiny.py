import pytest
from conftest import EXAMPLES

from text2sql_cli.data import load_examples
from text2sql_cli.prompts import TEMPLATES
from text2sql_cli.tiny import build_tiny_model, corpus_for, pretrain, train_tokenizer

pytestmark = pytest.mark.slow  # builds, trains or runs the tiny model


@pytest.fixture(scope="module")
def texts():
    examples, _ = load_examples(EXAMPLES / "sample.jsonl")
    return corpus_for(examples[:40], [TEMPLATES["ko-sql-bot"]])


def test_tokenizer_round_trips_korean_and_sql(texts):
    tok = train_tokenizer(texts, vocab_size=512)
    text = "레벨이 50 이상인 영웅 SELECT hero_name FROM heroes WHERE hero_level >= 50;"
    assert tok.decode(tok(text)["input_ids"]) == text
    assert tok.eos_token == "</s>" and tok.pad_token == "<pad>" and tok.padding_side == "left"


def test_tiny_model_directory_loads_with_auto_classes(tmp_path, texts):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = build_tiny_model(tmp_path / "tiny", texts, vocab_size=512, hidden_size=32, layers=1, heads=2)
    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert model.config.model_type == "llama" and model.config.vocab_size == len(tok)
    assert tok.chat_template


def test_pretraining_lowers_the_loss_on_its_texts(texts):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = train_tokenizer(texts, vocab_size=512)
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            pad_token_id=tok.pad_token_id,
        )
    )
    first = pretrain(model, tok, texts, steps=1, lr=3e-3, seed=0)
    last = pretrain(model, tok, texts, steps=40, lr=3e-3, seed=0)
    assert last < first - 1.0


def test_tiny_cli_refuses_to_overwrite_a_directory(tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    result = CliRunner().invoke(
        app, ["model", "tiny", "--data", str(EXAMPLES / "sample.jsonl"), "--out", "model"]
    )
    assert result.exit_code == 2 and "already exists" in result.output
    assert (tmp_path / "model" / "config.json").read_text() == "{}"
