"""benchmarks/gpu: the GPU benchmark's driver turns its options into the right t2s commands and
figures; its CPU path (a tiny shape) runs every phase end to end (slow)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks" / "gpu"))

import driver  # noqa: E402


def _runner(tmp_path, *argv, cuda=True):
    args = driver.parse(["--results", str(tmp_path / "res"), "--work", str(tmp_path / "work"), *argv])
    runner = driver.Runner.__new__(driver.Runner)  # no machine probe: only the argv building is tested
    runner.args, runner.work, runner.model = args, tmp_path / "work", tmp_path / "work" / "model"
    runner.results = {"machine": {"cuda_available": cuda}}
    calls = []
    runner.t2s = lambda name, argv, ballast_leave_gib=None: (
        calls.append((name, argv, ballast_leave_gib)) or {"status": "ok"}
    )
    runner.run = lambda name, argv: calls.append((name, argv, None)) or {"status": "ok"}
    return runner, calls


def test_defaults_are_the_issue_sizes():
    args = driver.parse([])
    assert (args.steps, args.prompts, args.book_prompts, args.new_tokens) == (30, 256, 32, 128)
    assert args.results == "gpu-results" and not args.tiny and args.phases == list(driver.PHASES)


def test_tiny_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("T2S_GPU_TINY", "1")
    assert driver.parse([]).tiny


def test_unknown_phase_is_refused():
    with pytest.raises(SystemExit):
        driver.parse(["--phases", "build,nope"])


def test_book_training_is_the_preset_with_max_steps(tmp_path):
    runner, calls = _runner(tmp_path)
    runner.phase("train_book")
    ((name, argv, _),) = calls
    assert argv[:1] == ["train"] and argv[argv.index("--preset") + 1] == "book"
    assert argv[argv.index("--max-steps") + 1] == "30" and argv[argv.index("--grad-accum") + 1] == "1"
    assert "--quant" not in argv  # the preset's 4-bit stays


def test_default_training_adds_nothing_to_t2s_defaults(tmp_path):
    runner, calls = _runner(tmp_path)
    runner.phase("train_default")
    argv = calls[0][1]
    assert not {"--preset", "--quant", "--packing", "--grad-accum"} & set(argv)


def test_no_packing_run_turns_the_preset_packing_off(tmp_path):
    runner, calls = _runner(tmp_path)
    runner.phase("train_book_nopack")
    assert "--no-packing" in calls[0][1] and "--preset" in calls[0][1]


def test_4bit_inference_is_auto_batch_with_equal_work(tmp_path):
    runner, calls = _runner(tmp_path)
    runner.phase("infer_4bit")
    argv = calls[0][1]
    assert argv[argv.index("--quant") + 1] == "4bit" and argv[argv.index("--batch-size") + 1] == "auto"
    assert argv[argv.index("--max-new-tokens") + 1] == "128"
    assert argv[argv.index("--template") + 1].endswith("ko-sql-bot-nostop.json")


def test_oom_phase_leaves_only_a_few_gib(tmp_path):
    runner, calls = _runner(tmp_path)
    runner.phase("oom")
    name, argv, leave = calls[0]
    assert leave == 2.0 and argv[argv.index("--batch-size") + 1] == "auto" and "oom.jsonl" in argv[4]


def test_oom_phase_on_cpu_says_why_it_cannot_run(tmp_path):
    runner, calls = _runner(tmp_path, cuda=False)
    assert runner.phase("oom")["status"] == "needs_cuda" and not calls


def test_yi_ko_6b_parameter_count_matches_the_real_module():
    torch = pytest.importorskip("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):  # no memory: shapes only
        model = LlamaForCausalLM(LlamaConfig(**driver.YI_KO_6B))
    assert sum(p.numel() for p in model.parameters()) == driver.total_params(driver.YI_KO_6B)
    assert model.config.num_key_value_heads == 4 and not model.config.tie_word_embeddings
    assert round(driver.total_params(driver.YI_KO_6B) / 1e9, 2) == 6.18


def test_train_figures_drop_warmup_and_take_the_median():
    steps = [{"s": 9.0, "tokens": 100, "padded": 100}] * 2 + [
        {"s": s, "tokens": 1000, "padded": 1250} for s in (1.0, 2.0, 4.0)
    ]
    shape = driver.YI_KO_6B
    fig = driver.train_figures(
        {"steps": steps, "mean_example_len": 200.0, "peak_gpu_allocated_gib": 9.5}, shape, 2, 1, 989.4
    )
    assert fig["s_per_step"] == 2.0 and fig["tokens_per_s"] == round(3000 / 7.0, 1)
    assert fig["padding_share"] == 0.2 and fig["s_per_step_grad_accum_8"] == 16.0
    expected = 3000 / 7.0 * (6 * driver.linear_params(shape) + 12 * 32 * 4096 * 200.0) / 989.4e12
    assert fig["mfu"] == round(expected, 4)


def test_gpu_peaks_by_name():
    assert driver.peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert driver.peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert driver.peak_tflops("Tesla T4") is None  # unknown: no MFU rather than a wrong one


def test_run_sh_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(REPO / "benchmarks" / "gpu" / "run.sh")]).returncode == 0


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ten phase processes, each importing torch: minutes on a shared CPU
def test_cpu_path_runs_every_phase(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("T2S_")}
    env["PYTHONPATH"] = str(REPO)
    res = tmp_path / "res"
    cmd = [
        sys.executable, str(REPO / "benchmarks" / "gpu" / "driver.py"), "--tiny", "--results", str(res),
        "--work", str(tmp_path / "work"), "--steps", "3", "--warmup", "1", "--prompts", "8",
        "--book-prompts", "4", "--new-tokens", "4",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1500)
    results = json.loads((res / "results.json").read_text())
    status = {n: p["status"] for n, p in results["phases"].items()}
    assert proc.returncode == 0, (status, proc.stdout[-2000:])
    assert status == {
        **dict.fromkeys(driver.PHASES, "ok"),
        "infer_4bit": "needs_cuda",
        "oom": "needs_cuda",
    }
    assert "CUDA" in results["phases"]["infer_4bit"]["message"]
    assert "CUDA" in results["phases"]["train_book"]["needs_cuda_message"]
    assert results["phases"]["build"]["params"] == driver.total_params(driver.TINY)
    assert results["phases"]["infer_bf16"]["new_tokens_per_call"] == [4, 4]  # exactly N new tokens
    merged = results["phases"]["generate_merged"]
    assert merged["max_abs_logit_diff_vs_base_plus_adapter"] < merged["max_abs_logit_diff_vs_base"]
    assert results["figures"]["train"]["train_book"]["tokens_per_s"] > 0
    assert "one epoch of origin/train" in proc.stdout
