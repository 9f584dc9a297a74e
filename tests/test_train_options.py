"""Option translation for `t2s train`, without loading any model: TrainSettings -> LoraConfig,
BitsAndBytesConfig and TrainingArguments; presets, YAML config files and precedence."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.errors import ConfigError, EnvironmentNotSupported, InputError
from text2sql_cli.training import PRESETS, TrainSettings, options, resolve_config


def test_importing_training_loads_no_torch():
    import subprocess

    code = (
        "import sys, text2sql_cli.training; print(sorted({'torch','transformers','peft'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_lora_config_carries_rank_alpha_dropout_and_all_linear():
    lora = options.lora_config(TrainSettings(r=4, alpha=8, dropout=0.1))
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (4, 8, 0.1)
    assert lora.target_modules == "all-linear"
    assert lora.task_type == "CAUSAL_LM"


def test_lora_targets_accept_module_names():
    lora = options.lora_config(TrainSettings(targets="q_proj, v_proj"))
    assert set(lora.target_modules) == {"q_proj", "v_proj"}


def test_bnb_4bit_is_nf4_with_double_quant_and_bf16_compute():
    import torch

    bnb = options.bnb_config(TrainSettings(quant="4bit"), bf16_supported=True)
    assert bnb.load_in_4bit and bnb.bnb_4bit_quant_type == "nf4" and bnb.bnb_4bit_use_double_quant
    assert bnb.bnb_4bit_compute_dtype == torch.bfloat16


def test_bnb_4bit_falls_back_to_fp16_compute_without_bf16():
    import torch

    bnb = options.bnb_config(TrainSettings(quant="4bit"), bf16_supported=False)
    assert bnb.bnb_4bit_compute_dtype == torch.float16


def test_bnb_8bit_and_none():
    assert options.bnb_config(TrainSettings(quant="8bit"), True).load_in_8bit
    assert options.bnb_config(TrainSettings(quant="none"), True) is None


def test_quant_without_cuda_raises_environment_not_supported():
    with pytest.raises(EnvironmentNotSupported, match="--quant none"):
        options.require_cuda_for_quant(TrainSettings(quant="4bit"), cuda_available=False)
    options.require_cuda_for_quant(TrainSettings(quant="none"), cuda_available=False)


def test_training_arguments_translation(tmp_path):
    cfg = TrainSettings(
        batch_size=2,
        grad_accum=3,
        lr=1e-3,
        epochs=2,
        max_steps=7,
        warmup_ratio=0.2,
        weight_decay=0.05,
        lr_scheduler="cosine",
        gradient_checkpointing=True,
        seed=7,
        log_every=5,
        save_every=11,
    )
    args = options.training_arguments(cfg, tmp_path, use_cpu=True)
    assert Path(args.output_dir) == tmp_path / "checkpoints"
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (2, 3)
    assert (args.learning_rate, args.num_train_epochs, args.max_steps) == (1e-3, 2, 7)
    assert args.get_warmup_steps(100) == 20
    assert args.weight_decay == 0.05 and args.lr_scheduler_type == "cosine"
    assert args.activation_checkpointing and args.seed == 7 and args.data_seed == 7
    assert (args.logging_steps, args.save_steps) == (5, 11)
    assert args.report_to == [] and not args.remove_unused_columns
    assert not args.bf16 and not args.fp16


def test_training_arguments_mixed_precision_follows_gpu():
    assert options.mixed_precision(cuda_available=False, bf16_supported=False) == "no"
    assert options.mixed_precision(cuda_available=True, bf16_supported=True) == "bf16"
    assert options.mixed_precision(cuda_available=True, bf16_supported=False) == "fp16"


def test_preset_book_reproduces_the_chapter_run():
    cfg = resolve_config(preset="book")
    assert (cfg.r, cfg.alpha, cfg.dropout, cfg.lr) == (16, 32, 0.05, 2e-4)
    assert (cfg.batch_size, cfg.grad_accum, cfg.epochs, cfg.max_len) == (8, 8, 1.0, 1024)
    assert (cfg.warmup_ratio, cfg.weight_decay, cfg.quant) == (0.1, 0.01, "4bit")
    assert cfg.gradient_checkpointing and cfg.packing and cfg.loss == "completion"
    assert set(PRESETS["book"]) <= set(TrainSettings.model_fields)


def test_flags_override_preset():
    assert resolve_config(preset="book", r=64, quant="none").r == 64


def test_env_overrides_preset_and_flag_overrides_env(monkeypatch):
    monkeypatch.setenv("T2S_TRAIN_LR", "0.001")
    assert resolve_config(preset="book").lr == 0.001
    assert resolve_config(preset="book", lr=0.5).lr == 0.5


def test_yaml_config_is_read_and_flags_override_it(tmp_path, monkeypatch):
    monkeypatch.setenv("T2S_TRAIN_R", "2")
    path = tmp_path / "c.yaml"
    path.write_text("base: some/model\nr: 32\nmax-len: 512\npacking: true\n", encoding="utf-8")
    cfg = resolve_config(path, max_len=256)
    assert (cfg.base, cfg.r, cfg.max_len, cfg.packing) == ("some/model", 32, 256, True)


def test_yaml_unknown_key_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("rank: 8\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown option.*rank"):
        resolve_config(path)


def test_invalid_value_is_a_config_error():
    with pytest.raises(ConfigError, match="loss"):
        resolve_config(loss="prompt")


@pytest.mark.parametrize(
    "name", sorted(Path(__file__).resolve().parents[1].joinpath("examples", "configs").glob("*.yaml"))
)
def test_example_configs_load(name):
    assert resolve_config(name).base


def test_cli_missing_required_options_reported_together():
    result = CliRunner().invoke(app, ["train"])
    assert result.exit_code == 2
    assert "--base" in result.output and "--data" in result.output and "--out" in result.output


def test_cli_quant_4bit_on_cpu_exits_2_with_one_line(tmp_path):
    (tmp_path / "model").mkdir()
    data = tmp_path / "train.jsonl"
    data.write_text(
        '{"db_id": 1, "context": "CREATE TABLE t (a INT);", "question": "q", "answer": "SELECT a FROM t;"}\n'
    )
    result = CliRunner().invoke(
        app, ["train", "--base", "model", "--data", str(data), "--out", "run", "--quant", "4bit"]
    )
    assert result.exit_code == 2
    assert "CUDA" in result.output and "--quant none" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_precision_label_names_the_quantized_base_for_sft_and_grpo_alike():
    from text2sql_cli.training.run import precision_label

    assert precision_label("no") == "fp32"
    assert precision_label("bf16") == "bf16"
    assert precision_label("bf16", "4bit") == "4bit+bf16"
    assert precision_label("no", "8bit") == "8bit+fp32"
