"""Merge/export: base + adapter merged in 16/32-bit equals the adapter model; the merged directory is
standalone; push goes through HfApi and fails clearly offline."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from _tiny import shared_tiny, train_tiny, write_rows
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.errors import ApiError, ModelLoadError, UsageError
from text2sql_cli.export import check_vocab, merge_run, push_to_hub

pytestmark = pytest.mark.slow  # builds, trains or runs the tiny model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    return train_tiny(shared_tiny(), tmp / "run", write_rows(tmp / "rows.jsonl", 8), max_steps=6)


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits.float()


def test_merged_logits_equal_base_plus_adapter(run_dir, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    merged_dir = merge_run(run_dir, tmp_path / "merged", dtype="float32", device="cpu")
    ids = list(range(5, 40))
    base = AutoModelForCausalLM.from_pretrained(shared_tiny()).eval()
    base_logits = _logits(base, ids)
    adapted = _logits(PeftModel.from_pretrained(base, run_dir).eval(), ids)
    merged = _logits(AutoModelForCausalLM.from_pretrained(merged_dir).eval(), ids)
    assert (adapted - base_logits).abs().max() > 1e-2  # the adapter does something
    torch.testing.assert_close(merged, adapted, atol=1e-4, rtol=1e-4)


def test_merged_directory_is_standalone_with_template_and_run_json(run_dir, tmp_path):
    merged_dir = merge_run(run_dir, tmp_path / "merged16")  # auto: float16 for a run trained in fp32
    names = {p.name for p in merged_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "t2s_template.json", "run.json"} <= names
    assert not any(n.startswith("adapter_") for n in names)
    info = json.loads((merged_dir / "run.json").read_text())
    assert info["kind"] == "merged" and info["merge_dtype"] == "float16"
    assert json.loads((merged_dir / "config.json").read_text())["dtype"] == "float16"
    assert json.loads((run_dir / "run.json").read_text())["merged"].endswith("merged16")


def test_merge_refuses_a_directory_without_run_json(tmp_path):
    with pytest.raises(UsageError, match="not a completed t2s run"):
        merge_run(tmp_path, tmp_path / "out")


def test_vocab_larger_than_embedding_is_refused():
    weight = SimpleNamespace(shape=(10, 4))
    model = SimpleNamespace(
        get_input_embeddings=lambda: SimpleNamespace(weight=weight),
        get_output_embeddings=lambda: SimpleNamespace(weight=weight),
    )
    with pytest.raises(ModelLoadError, match="11 tokens"):
        check_vocab(model, list(range(11)))
    check_vocab(model, list(range(10)))


def test_export_cli_merges(run_dir, tmp_path):
    result = CliRunner().invoke(
        app, ["model", "export", str(run_dir), "--out", str(tmp_path / "m"), "--dtype", "bfloat16"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "model.safetensors").exists()


def test_push_offline_is_a_clear_error(tmp_path):
    with pytest.raises(ApiError, match="HF_HUB_OFFLINE"):
        push_to_hub(tmp_path, "me/model")


def test_push_creates_repo_and_uploads_without_checkpoints(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, **kw):
            calls.append(("create_repo", kw))
            return "https://huggingface.co/me/model"

        def upload_folder(self, **kw):
            calls.append(("upload_folder", kw))

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    assert push_to_hub(tmp_path, "me/model") == "https://huggingface.co/me/model"
    assert calls[1] == ("create_repo", {"repo_id": "me/model", "private": True, "exist_ok": True})
    upload = calls[2][1]
    assert upload["repo_id"] == "me/model" and upload["folder_path"] == str(tmp_path)
    assert "checkpoints/*" in upload["ignore_patterns"]


def test_push_failure_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")

    class DownApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, **kw):
            raise ConnectionError("network is unreachable\nmore detail")

    monkeypatch.setattr("huggingface_hub.HfApi", DownApi)
    with pytest.raises(ApiError) as err:
        push_to_hub(tmp_path, "me/model")
    assert "\n" not in str(err.value) and "ConnectionError" in str(err.value)


def test_export_cli_needs_something_to_do(run_dir):
    result = CliRunner().invoke(app, ["model", "export", str(run_dir)])
    assert result.exit_code == 2 and "nothing to do" in result.output


def test_export_out_that_is_a_file_is_a_usage_error_before_loading(run_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("text2sql_cli.export._merge", lambda *a, **kw: pytest.fail("loaded a model"))
    (tmp_path / "file.txt").write_text("x")
    result = CliRunner().invoke(app, ["model", "export", str(run_dir), "--out", str(tmp_path / "file.txt")])
    assert result.exit_code == 2, result.output
    assert "is a file, not a directory" in result.output and "Traceback" not in result.output


def test_export_of_a_run_without_adapter_weights_says_training_was_interrupted(run_dir, tmp_path):
    import shutil

    broken = tmp_path / "interrupted"
    shutil.copytree(run_dir, broken, ignore=shutil.ignore_patterns("adapter_model.*", "merged*"))
    assert (broken / "adapter_config.json").exists()
    result = CliRunner().invoke(app, ["model", "export", str(broken), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2, result.output
    assert f"no adapter weights in {broken}" in result.output and "--resume" in result.output
    assert "Repo id" not in result.output and not (tmp_path / "m").exists()


def test_export_of_a_missing_run_is_no_such_run_directory(tmp_path):
    for extra in (["--out", str(tmp_path / "m")], ["--push-to-hub", "me/m"]):
        result = CliRunner().invoke(app, ["model", "export", str(tmp_path / "nope"), *extra])
        assert result.exit_code == 2, result.output
        assert "no such run directory" in result.output


def test_auto_dtype_merges_a_bf16_run_in_bfloat16(run_dir, tmp_path):
    import shutil

    bf16_run = tmp_path / "bf16run"
    shutil.copytree(run_dir, bf16_run)
    info = json.loads((bf16_run / "run.json").read_text())
    info["training"]["precision"] = "4bit+bf16"  # as a QLoRA run on an Ampere GPU records it
    (bf16_run / "run.json").write_text(json.dumps(info))
    merged = merge_run(bf16_run, tmp_path / "merged-bf16", device="cpu")
    assert json.loads((merged / "run.json").read_text())["merge_dtype"] == "bfloat16"


def test_merged_directory_gets_the_users_umask(run_dir, tmp_path):
    old = os.umask(0o022)
    try:
        merged_dir = merge_run(run_dir, tmp_path / "merged_mode", dtype="float32", device="cpu")
    finally:
        os.umask(old)
    assert merged_dir.stat().st_mode & 0o777 == 0o755


def test_truncated_adapter_in_export_and_infer_says_damaged(run_dir, tmp_path):
    weights = Path(run_dir) / "adapter_model.safetensors"
    data = weights.read_bytes()
    try:
        weights.write_bytes(data[: len(data) // 2])
        export = CliRunner().invoke(app, ["model", "export", str(run_dir), "--out", str(tmp_path / "m")])
        rows = write_rows(tmp_path / "rows.jsonl", 1)
        infer = CliRunner().invoke(
            app, ["infer", "--model", str(run_dir), "--data", str(rows), "--out", str(tmp_path / "p.jsonl")]
        )
    finally:
        weights.write_bytes(data)
    for result in (export, infer):
        assert result.exit_code == 2 and "is damaged (truncated" in result.output, result.output
        assert "is --base" not in result.output
