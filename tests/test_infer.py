"""t2s infer on the tiny model: output format and order, prompt identity with training, batching,
resume, refusal to mix settings, adapter failures, pipe mode, 4-bit on CPU, the OpenAI backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _tiny import shared_tiny, write_rows
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.errors import ModelLoadError
from text2sql_cli.inference import InferSettings
from text2sql_cli.inference.backend import Item
from text2sql_cli.inference.batch import meta_path, run_batch_inference
from text2sql_cli.prompts import TEMPLATES, encode, get_template, save_template

pytestmark = pytest.mark.slow  # builds, trains or runs the tiny model

runner = CliRunner()
ROW_KEYS = {"id", "db_id", "question", "context", "gold", "raw", "sql", "extraction", "fingerprint"}
FAST = ["--max-new-tokens", "12"]


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory) -> Path:
    """A t2s-style run dir: a LoRA adapter (non-zero, so it changes outputs) on the tiny model,
    its tokenizer and saved template (en-sql-bot, to tell it apart from the default)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = shared_tiny()
    out = tmp_path_factory.mktemp("run") / "run"
    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(base)
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"
    )
    get_peft_model(model, lora).save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    save_template(out, TEMPLATES["en-sql-bot"])
    return out


@pytest.fixture
def rows(tmp_path) -> Path:
    return write_rows(tmp_path / "test.jsonl", 20)


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_batch_writes_one_row_per_input_in_input_order(run_dir, rows, tmp_path):
    out = tmp_path / "preds.jsonl"
    result = runner.invoke(
        app, ["infer", "--model", str(run_dir), "--data", str(rows), "--out", str(out), *FAST]
    )
    assert result.exit_code == 0, result.output
    written, source = _read(out), _read(rows)
    assert len(written) == len(source)
    for pred, src in zip(written, source):
        assert set(pred) >= ROW_KEYS
        assert (pred["id"], pred["question"], pred["gold"]) == (src["id"], src["question"], src["answer"])
    meta = json.loads(meta_path(out).read_text())
    prov = meta["provenance"]
    assert meta["status"] == "complete" and prov["template"]["name"] == "en-sql-bot"
    assert prov["adapter_sha256"] and prov["generation"]["max_new_tokens"] == 12
    assert prov["precision"] == _auto_precision()


def test_prompt_ids_fed_to_the_model_equal_prompts_encode(run_dir):
    from text2sql_cli.inference.hf import HFBackend

    backend = HFBackend.load(InferSettings.from_flags(max_new_tokens=2, batch_size="4"), model=str(run_dir))
    seen = []
    real = backend.model.generate

    def spy(input_ids, attention_mask, **kw):
        seen.extend(ids[mask.bool()].tolist() for ids, mask in zip(input_ids, attention_mask))
        return real(input_ids=input_ids, attention_mask=attention_mask, **kw)

    backend.model.generate = spy
    items = [Item(str(i), f"CREATE TABLE t{i} (a INT);", "질문" * (i + 1)) for i in range(4)]
    backend.generate([backend.prepare(it) for it in items])
    template = get_template(run_dir / "t2s_template.json")
    assert seen == [encode(template, backend.tokenizer, it.ddl, it.question)[0] for it in items]


def test_batched_greedy_equals_unbatched(run_dir, rows):
    from text2sql_cli.data import load_examples
    from text2sql_cli.inference.hf import HFBackend

    backend = HFBackend.load(InferSettings.from_flags(max_new_tokens=16, batch_size="8"), model=str(run_dir))
    examples, _ = load_examples(rows, require_answer=False)
    prepared = [backend.prepare(Item(e.id, e.context, e.question)) for e in examples[:12]]
    assert len({len(p) for p in prepared}) > 1, "prompts of one length would not test padding"
    batched = backend.generate(prepared)
    backend.batch_size = 1
    assert batched == backend.generate(prepared)
    assert any(g.raw for g in batched)


def test_resume_after_crash_redoes_only_missing_ids(run_dir, rows, tmp_path):
    cfg = InferSettings.from_flags(max_new_tokens=12)
    out = tmp_path / "preds.jsonl"
    run_batch_inference(cfg, data=rows, out=out, model=str(run_dir))
    complete = out.read_text(encoding="utf-8")
    lines = complete.splitlines(keepends=True)
    # A crash after 7 whole rows, half-way through writing the 8th.
    out.write_text("".join(lines[:7]) + lines[7][: len(lines[7]) // 2], encoding="utf-8")
    summary = run_batch_inference(cfg, data=rows, out=out, model=str(run_dir))
    assert (summary.resumed, summary.generated) == (7, 13)
    assert out.read_text(encoding="utf-8") == complete


def test_resume_with_other_settings_is_refused(run_dir, rows, tmp_path):
    out = tmp_path / "preds.jsonl"
    args = ["infer", "--model", str(run_dir), "--data", str(rows), "--out", str(out)]
    assert runner.invoke(app, [*args, *FAST]).exit_code == 0
    result = runner.invoke(app, [*args, "--max-new-tokens", "13"])
    assert result.exit_code == 2
    assert "different settings" in result.stderr and "max_new_tokens" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_adapter_with_mismatched_keys_is_a_load_error_not_the_base_model(run_dir, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from text2sql_cli.inference.hf import HFBackend

    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    weights = load_file(broken / "adapter_model.safetensors")
    save_file(
        {k.replace("q_proj", "x_proj"): v for k, v in weights.items()}, broken / "adapter_model.safetensors"
    )
    with pytest.raises(ModelLoadError, match="adapter"):
        HFBackend.load(InferSettings.from_flags(), model=str(broken))


def test_adapter_without_weights_fails_with_exit_1(run_dir, rows, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "adapter_model.safetensors").unlink()
    result = runner.invoke(app, ["infer", "--model", str(broken), "--data", str(rows), "--out", "p.jsonl"])
    assert result.exit_code == 1 and "no adapter weights" in result.stderr
    assert not Path("p.jsonl").exists()


def test_plain_model_without_template_uses_default_and_says_so(rows, tmp_path):
    result = runner.invoke(
        app,
        [
            "infer",
            "--model",
            str(shared_tiny()),
            "--data",
            str(rows),
            "--out",
            str(tmp_path / "p.jsonl"),
            *FAST,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "no saved template" in result.stderr and "ko-sql-bot" in result.stderr


def test_pipe_text_gives_one_output_line_per_input_line_blank_included(run_dir, tmp_path):
    ddl = tmp_path / "schema.sql"
    ddl.write_text("CREATE TABLE heroes (hero_id INT, hero_name TEXT);", encoding="utf-8")
    result = runner.invoke(
        app,
        ["infer", "--model", str(run_dir), "--ddl", str(ddl), *FAST],
        input="영웅 이름을 알려줘\n\n영웅 수를 세줘\n",
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3


def test_pipe_db_schema_is_dumped_as_ddl(tmp_path):
    import sqlite3

    from text2sql_cli.inference.stream import read_ddl

    con = sqlite3.connect(tmp_path / "g.sqlite")
    con.execute("CREATE TABLE heroes (hero_id INTEGER PRIMARY KEY, hero_name TEXT)")
    con.commit()
    con.close()
    assert "CREATE TABLE heroes" in read_ddl(None, tmp_path / "g.sqlite")


def test_pipe_jsonl_skips_a_malformed_line_with_an_error_record(run_dir):
    lines = [
        json.dumps({"id": "a", "question": "영웅 수", "context": "CREATE TABLE heroes (hero_id INT);"}),
        '{"question": "broken',
        json.dumps({"id": "c", "question": "길드 수", "context": "CREATE TABLE guilds (guild_id INT);"}),
    ]
    result = runner.invoke(app, ["infer", "--model", str(run_dir), *FAST], input="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["id"] for a in answers] == ["a", "c"] and all("sql" in a and "raw" in a for a in answers)
    errors = [json.loads(line) for line in result.stderr.splitlines() if line.startswith('{"line": 2')]
    assert errors and "JSON" in errors[0]["error"]


def _auto_precision() -> str:
    """What --precision auto gives here: fp32 on CPU, native 16-bit on a GPU."""
    import torch

    if not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported(including_emulation=False) else "fp16"


@pytest.mark.gpu
def test_quant_4bit_on_a_gpu_loads_in_nf4_and_generates(run_dir, rows, tmp_path):
    pytest.importorskip("bitsandbytes")
    out = tmp_path / "p4.jsonl"
    result = runner.invoke(
        app,
        ["infer", "--model", str(run_dir), "--data", str(rows), "--out", str(out), "--quant", "4bit", *FAST],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads(meta_path(out).read_text())
    assert meta["status"] == "complete" and meta["provenance"]["quant"] == "4bit"
    assert all(row["raw"] is not None for row in _read(out))


@pytest.mark.cpu_only
def test_quant_4bit_on_cpu_is_a_one_line_exit_2(rows):
    result = runner.invoke(
        app,
        ["infer", "--model", str(shared_tiny()), "--data", str(rows), "--out", "p.jsonl", "--quant", "4bit"],
    )
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "CUDA" in result.stderr


def test_openai_backend_sends_the_plain_template_as_a_completion_prompt(fake_openai, rows, tmp_path):
    fake_openai.answer = lambda prompt: "SELECT COUNT(*) FROM heroes;\n### 설명"
    out = tmp_path / "api.jsonl"
    result = runner.invoke(
        app,
        [
            "infer",
            "--backend",
            "openai",
            "--base-url",
            fake_openai.url,
            "--model-name",
            "served",
            "--data",
            str(rows),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    preds = _read(out)
    assert len(preds) == 20 and all(p["sql"] == "SELECT COUNT(*) FROM heroes" for p in preds)
    first = fake_openai.seen[0].body
    # ko-sql-bot is no chat template: the text it was trained on goes to /v1/completions unchanged
    assert "messages" not in first and first["temperature"] == 0
    assert first["prompt"].startswith(TEMPLATES["ko-sql-bot"].text[:20])
    assert json.loads(meta_path(out).read_text())["provenance"]["backend"] == "openai"


def test_importing_inference_loads_no_torch():
    import subprocess
    import sys

    code = "import sys, text2sql_cli.inference; print('torch' in sys.modules, 'transformers' in sys.modules)"
    assert subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split() == ["False", "False"]


def test_api_flags_with_the_hf_backend_are_a_usage_error(rows):
    result = runner.invoke(
        app,
        [
            "infer",
            "--model",
            str(shared_tiny()),
            "--data",
            str(rows),
            "--out",
            "p.jsonl",
            "--base-url",
            "http://127.0.0.1:1/v1",
        ],
    )
    assert result.exit_code == 2 and "--backend openai" in result.stderr


def test_base_with_a_plain_model_is_a_usage_error(rows):
    result = runner.invoke(
        app,
        ["infer", "--model", str(shared_tiny()), "--base", "other", "--data", str(rows), "--out", "p.jsonl"],
    )
    assert result.exit_code == 2 and "--base is for adapter run dirs" in result.stderr


# --- resume must not mix data sets ------------------------------------------------------------


def _edit_question(path: Path, index: int) -> None:
    rows = _read(path)
    rows[index]["question"] += " (고침)"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def test_resume_from_other_data_is_refused_before_the_model_loads(run_dir, tmp_path):
    big, small = write_rows(tmp_path / "big.jsonl", 20), tmp_path / "small.jsonl"
    small.write_text(
        "".join(big.read_text(encoding="utf-8").splitlines(keepends=True)[15:]), encoding="utf-8"
    )
    out = tmp_path / "k.jsonl"
    assert (
        runner.invoke(
            app, ["infer", "--model", str(run_dir), "--data", str(big), "--out", str(out), *FAST]
        ).exit_code
        == 0
    )
    before = out.read_bytes()
    # A model dir that cannot load: the refusal must come first.
    result = runner.invoke(app, ["infer", "--model", str(tmp_path), "--data", str(small), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert (
        str(out) in result.stderr
        and "15 row(s) with ids not in" in result.stderr
        and "--overwrite" in result.stderr
    )
    assert out.read_bytes() == before


def test_resume_with_an_edited_question_is_refused(run_dir, rows, tmp_path):
    out = tmp_path / "preds.jsonl"
    args = ["infer", "--model", str(run_dir), "--data", str(rows), "--out", str(out), *FAST]
    assert runner.invoke(app, args).exit_code == 0
    _edit_question(rows, 4)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert (
        "1 row(s) whose question or context differs" in result.stderr
        and _read(rows)[4]["id"] in result.stderr
    )


def test_overwrite_on_other_data_keeps_exactly_its_rows_and_records_the_data_hash(run_dir, tmp_path):
    big = write_rows(tmp_path / "big.jsonl", 20)
    small = write_rows(tmp_path / "small.jsonl", 5)
    out = tmp_path / "k.jsonl"
    assert (
        runner.invoke(
            app, ["infer", "--model", str(run_dir), "--data", str(big), "--out", str(out), *FAST]
        ).exit_code
        == 0
    )
    result = runner.invoke(
        app, ["infer", "--model", str(run_dir), "--data", str(small), "--out", str(out), "--overwrite", *FAST]
    )
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in _read(out)] == [r["id"] for r in _read(small)]
    meta = json.loads(meta_path(out).read_text())
    assert meta["counts"]["rows"] == 5 and meta["data_sha256"]


# --- failed rows ------------------------------------------------------------------------------


def test_rows_that_failed_are_errors_exit_1_and_a_rerun_retries_them(
    fake_openai, rows, tmp_path, monkeypatch
):
    monkeypatch.setenv("T2S_LLM_MAX_ATTEMPTS", "1")
    fake_openai.answer = lambda prompt: "SELECT COUNT(*) FROM heroes;"
    failing = _read(rows)[3]["question"]
    fake_openai.script(failing, ["500"])  # fails once, answers on the retry
    out = tmp_path / "api.jsonl"
    args = [
        "infer",
        "--backend",
        "openai",
        "--base-url",
        fake_openai.url,
        "--model-name",
        "served",
        "--data",
        str(rows),
        "--out",
        str(out),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 1, first.output
    assert "1 of 20 rows failed" in first.stderr and "rerun the same command" in first.stderr
    meta = json.loads(meta_path(out).read_text())
    assert meta["status"] == "incomplete"
    assert (meta["counts"]["generated"], meta["counts"]["errors"]) == (19, 1)
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    meta = json.loads(meta_path(out).read_text())
    assert meta["status"] == "complete"
    assert (meta["counts"]["resumed"], meta["counts"]["generated"], meta["counts"]["errors"]) == (19, 1, 0)
    assert all("error" not in r and r["sql"] for r in _read(out))


# --- bad paths --------------------------------------------------------------------------------


def test_out_that_is_a_directory_is_a_one_line_exit_2_before_the_model_loads(rows, tmp_path):
    result = runner.invoke(
        app, ["infer", "--model", str(tmp_path), "--data", str(rows), "--out", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "is a directory" in result.stderr


@pytest.mark.parametrize("model", ["/no/such/dir", "./nope", "~/no-such-t2s-model", "runs/r17", "a/b/c"])
def test_missing_local_model_dir_is_exit_2(model, rows, tmp_path, monkeypatch):
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["infer", "--model", model, "--data", str(rows), "--out", "p.jsonl"])
    assert result.exit_code == 2
    assert f"no such model directory {model}; give a t2s run dir, a model dir or a hub id" in result.stderr


def test_hub_ids_do_not_look_local():
    from text2sql_cli.artifacts import looks_local

    assert not any(looks_local(m) for m in ("gpt2", "beomi/Yi-Ko-6B", "Qwen/Qwen2.5-0.5B-Instruct"))


# --- pipe mode line correspondence (a stub backend, so answers are predictable) ---------------


class _EchoBackend:
    name = "stub"
    template = TEMPLATES["en-sql-bot"]
    batch_size = 8
    notes: list = []

    def prepare(self, item):
        return item

    def generate(self, prepared):
        from text2sql_cli.inference.backend import Generation

        return [Generation(f"SELECT '{item.question}';") for item in prepared]


def _stream(text: str, ddl: str | None = "CREATE TABLE t (a INT);") -> list[str]:
    import io

    from text2sql_cli.inference.stream import run_stream

    out, errors = io.StringIO(), io.StringIO()
    run_stream(_EchoBackend(), io.StringIO(text), out, errors, ddl=ddl)
    return out.getvalue().split("\n")[:-1]


def test_pipe_text_blank_lines_give_empty_lines_in_place():
    assert _stream("\nq1\n\n  \nq2\n") == ["", "SELECT 'q1'", "", "", "SELECT 'q2'"]


def test_pipe_jsonl_skips_blank_lines():
    lines = _stream('\n{"id": "a", "question": "q1"}\n\n{"id": "b", "question": "q2"}\n')
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]


def test_oom_detection_covers_kernel_runtime_errors_but_not_others():
    import torch

    from text2sql_cli.inference.hf import _is_oom

    assert _is_oom(torch.OutOfMemoryError("CUDA out of memory"))
    assert _is_oom(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"))
    assert not _is_oom(RuntimeError("shape mismatch"))
