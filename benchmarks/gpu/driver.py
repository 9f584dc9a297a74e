"""The book's recipe at Yi-Ko-6B's size on one GPU, offline: the driver behind `run.sh`.

    bash benchmarks/gpu/run.sh [--results DIR]       # on the GPU machine (installs wheels + t2s first)
    bash benchmarks/gpu/run.sh --tiny                # the same phases at a tiny shape, on a CPU

Each phase runs in its own process (`gpu_phases.py`; peak GPU memory is then the phase's own, and
a crash stays in its phase), through the real `t2s` command line where the phase is a t2s command;
`gpu_figures.py` turns the metrics into figures and the summary, `gpu_common.py` holds the shapes:

    build              a random-weight Llama of Yi-Ko-6B's exact shape, made directly in bf16 on the
                       GPU, and a byte-level BPE tokenizer trained here on the sample rows; saved as a
                       normal model directory. Random weights give real speed and memory, not accuracy.
    train_book         t2s train --preset book (QLoRA NF4 + double quant, packing, gradient
                       checkpointing, batch 8, max-len 1024) --max-steps N --grad-accum G
    train_default      t2s train with t2s's defaults (bf16 LoRA, no quantization, batch 8, no packing)
    infer_4bit         t2s infer --quant 4bit --batch-size auto, P prompts, T new tokens
    infer_bf16         the same in bf16
    export             t2s model export of the train_book run (merge into a fresh 16-bit base)
    generate_merged    load the merged model and generate; its logits vs base + adapter (unmerged)
    oom                t2s infer --batch-size auto on 128 rows with all but a few GiB of the GPU
                       taken: the first batch cannot fit, so the batch must halve and still finish
    pipeline_book      the book's loop: transformers pipeline("text-generation"), batch 1, 4-bit
                       (load_in_4bit: FP4, fp16 everywhere else as transformers 4 made it), on B
                       prompts or as many as `--book-seconds` allow (at least 4); scaled to P
    train_book_nopack  --preset book --no-packing (what packing buys)

`--grad-accum` defaults to 1 (the preset's is 8) so that N optimizer steps fit the time budget:
tokens/s does not depend on it, s/step scales with it (both are reported, with the book's).
Every generation is exactly T new tokens (the model's generation_config sets min_new_tokens, and
t2s infer gets a copy of the book's template without stop markers), so prompts/s compare equal work.

Timing: an optimizer step is timed between CUDA synchronisations; the first `--warmup` steps are
dropped and the median of the rest is reported. tokens/s counts real (non-padding) tokens over the
timed steps. MFU uses the PaLM convention, (6N + 12·L·d·T̄) FLOPs per token (N: parameters of the
matrix multiplies, T̄: token-weighted example length) over the GPU's dense bf16 peak; LoRA skips
the frozen weights' gradients, so the hardware does less than 6N per token and MFU by this
convention can be read as "full fine-tuning-equivalent".

A time budget (`--budget-s`) skips phases that would start after it, in the order above, and a
phase still running `--grace-s` after it is killed; results are written after every phase, so a run
cut short still returns what it measured (rerun the rest with `--phases`; build is needed first).
On a CPU (no CUDA) the 4-bit phases run their real command and record t2s's message (they need
CUDA); train_book then runs again with --quant none so the rest of the preset is still exercised.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from gpu_common import (  # noqa: F401 (re-exported for tests and readers)
    CUDA_ONLY_MARK,
    PHASES,
    SAMPLE,
    TINY,
    YI_KO_6B,
    gib,
    linear_params,
    now,
    peak_tflops,
    read_jsonl,
    total_params,
    write_json,
    write_jsonl,
)
from gpu_figures import figures, print_summary, train_figures  # noqa: F401

HERE = Path(__file__).resolve().parent
PHASE_SCRIPT = HERE / "gpu_phases.py"


class Runner:
    def __init__(self, args):
        self.args = args
        self.results_dir = Path(args.results)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        self.work = Path(args.work)
        self.work.mkdir(parents=True, exist_ok=True)
        self.log = self.results_dir / "log.txt"
        self.results_path = self.results_dir / "results.json"
        self.started = time.perf_counter()
        self.model = self.work / "model"
        self.results = {
            "what": "t2s on the book's recipe at Yi-Ko-6B's shape, random weights: speed and memory, "
            "not accuracy",
            "created_at": now(),
            "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
            "tiny": args.tiny,
            "shape": TINY if args.tiny else YI_KO_6B,
            "settings": {
                "steps": args.steps,
                "warmup_steps": args.warmup,
                "grad_accum": args.grad_accum,
                "prompts": args.prompts,
                "book_prompts": args.book_prompts,
                "new_tokens": args.new_tokens,
                "budget_s": args.budget_s,
                "grace_s": args.grace_s,
                "book_seconds": args.book_seconds,
            },
            "machine": machine_info(),
            "phases": {},
            "notes": [],
        }

    # -- bookkeeping
    def save(self) -> None:
        write_json(self.results_path, self.results)

    def say(self, text: str) -> None:
        print(text, flush=True)
        with self.log.open("a", encoding="utf-8") as fh:
            fh.write(f"[{now()}] {text}\n")

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("T2S_")}  # t2s defaults only
        env.update(
            HF_HUB_OFFLINE="1",
            HF_DATASETS_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            PYTHONUNBUFFERED="1",
        )
        return env

    def run(self, name: str, argv: list[str]) -> dict:
        """One phase process; its output goes to the log; returns its metrics (or the failure)."""
        metrics = self.work / f"{name}.metrics.json"
        metrics.unlink(missing_ok=True)
        timeout = max(30.0, self.args.budget_s + self.args.grace_s - self.elapsed())
        cmd = [sys.executable, str(PHASE_SCRIPT), *argv]
        t0 = time.perf_counter()
        with self.log.open("a", encoding="utf-8") as fh:
            fh.write(f"[{now()}] == {name}: {' '.join(cmd)}\n")
            fh.flush()
            try:
                proc = subprocess.run(
                    cmd, stdout=fh, stderr=subprocess.STDOUT, env=self.env(), cwd=self.work, timeout=timeout
                )
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = None
        wall = round(time.perf_counter() - t0, 2)
        data = json.loads(metrics.read_text()) if metrics.exists() else {}
        data["wall_s"] = wall
        if code is None:
            data.update(status="failed", error=f"killed after {timeout:.0f} s")
        elif code != 0 or data.get("exit_code", 0) != 0:
            data.update(status="failed", exit_code=code, error=self.last_error())
        else:
            data["status"] = "ok"
        return data

    def last_error(self) -> str:
        lines = [
            ln for ln in self.log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()
        ]
        errors = [ln for ln in lines[-60:] if "Error" in ln or "error" in ln]
        return (errors[-1] if errors else lines[-1] if lines else "")[-400:]

    def record(self, name: str, data: dict) -> None:
        self.results["phases"][name] = data
        self.save()
        error = f" - {data['error']}" if data.get("error") else ""
        self.say(f"{name}: {data.get('status')} ({data.get('wall_s', 0)} s){error}")

    # -- phases
    def t2s(self, name: str, argv: list[str], ballast_leave_gib: float | None = None) -> dict:
        extra = ["--ballast-leave-gib", str(ballast_leave_gib)] if ballast_leave_gib is not None else []
        return self.run(name, ["_t2s", str(self.work / f"{name}.metrics.json"), *extra, "--", *argv])

    def cuda_only(self, name: str, argv: list[str]) -> dict:
        """On a CPU: the real command must refuse with t2s's one-line CUDA message (exit 2)."""
        data = self.t2s(name, argv)
        message = self.last_error()
        if data.get("exit_code") == 2 and CUDA_ONLY_MARK in message:
            return {
                "status": "needs_cuda",
                "message": message,
                "command": data.get("command"),
                "wall_s": data["wall_s"],
            }
        data.update(status="failed", error=f"expected t2s's CUDA-only message, got: {message}")
        return data

    def train_argv(self, out: str, *extra: str) -> list[str]:
        return [
            "train",
            "--base", str(self.model), "--data", str(self.work / "train.jsonl"),
            "--out", str(self.work / out),
            "--max-steps", str(self.args.steps), "--log-every", "5", "--save-every", "100000", *extra,
        ]  # fmt: skip

    def infer_argv(self, out: str, data: str, *extra: str) -> list[str]:
        return [
            "infer", "--model", str(self.model), "--data", str(self.work / data),
            "--out", str(self.work / out),
            "--batch-size", "auto", "--max-new-tokens", str(self.args.new_tokens),
            "--template", str(self.work / "ko-sql-bot-nostop.json"), "--overwrite", *extra,
        ]  # fmt: skip

    def prepare_data(self) -> None:
        rows = read_jsonl(SAMPLE)
        need = self.args.steps * 8 * self.args.grad_accum + 8
        train = [dict(r, id=f"{r['id']}-{k}") for k in range(need // len(rows) + 1) for r in rows]
        write_jsonl(self.work / "train.jsonl", train)
        prompts = [
            dict(r, id=f"{r['id']}-{k}") for k in range(self.args.prompts // len(rows) + 1) for r in rows
        ]
        write_jsonl(self.work / "prompts.jsonl", prompts[: self.args.prompts])
        write_jsonl(self.work / "oom.jsonl", prompts[:128])
        from text2sql_cli.prompts import get_template

        template = get_template("ko-sql-bot").to_dict()
        write_json(
            self.work / "ko-sql-bot-nostop.json", {**template, "name": "ko-sql-bot-nostop", "stop": []}
        )

    def phase(self, name: str) -> dict:
        a, cuda = self.args, self.results["machine"].get("cuda_available")
        if name == "build":
            return self.run(
                name,
                [
                    "_build",
                    str(self.model),
                    "--new-tokens",
                    str(a.new_tokens),
                    str(self.work / "build.metrics.json"),
                ]
                + (["--tiny"] if a.tiny else []),
            )
        accum = ["--grad-accum", str(a.grad_accum)]
        if name == "train_book":
            argv = self.train_argv("run-book", "--preset", "book", *accum)
            if cuda:
                return self.t2s(name, argv)
            refused = self.cuda_only(name, argv)
            if refused["status"] != "needs_cuda":
                return refused
            data = self.t2s(name, [*argv, "--quant", "none"])
            data["cpu_substitute"] = (
                "--quant none (the rest of the book preset: packing, checkpointing, batch 8)"
            )
            data["needs_cuda_message"] = refused["message"]
            return data
        if name == "train_book_nopack":
            argv = self.train_argv("run-book-nopack", "--preset", "book", "--no-packing", *accum)
            return self.t2s(name, argv + ([] if cuda else ["--quant", "none"]))
        if name == "train_default":
            return self.t2s(name, self.train_argv("run-default"))
        if name == "infer_4bit":
            argv = self.infer_argv("preds-4bit.jsonl", "prompts.jsonl", "--quant", "4bit")
            return self.t2s(name, argv) if cuda else self.cuda_only(name, argv)
        if name == "infer_bf16":
            return self.t2s(name, self.infer_argv("preds-bf16.jsonl", "prompts.jsonl"))
        if name == "pipeline_book":
            argv = ["_pipeline", str(self.model), str(self.work / "prompts.jsonl"), str(a.book_prompts)]
            argv += [str(a.new_tokens), str(a.book_seconds), str(self.work / f"{name}.metrics.json")]
            return self.run(name, argv)
        if name == "export":
            run = self.work / "run-book"
            if not (run / "run.json").exists():
                return {"status": "skipped", "error": "train_book left no completed run"}
            argv = ["model", "export", str(run), "--out", str(self.work / "merged")]
            return self.t2s(name, argv + ["--device", "cuda" if cuda else "cpu"])
        if name == "generate_merged":
            if not (self.work / "merged" / "config.json").exists():
                return {"status": "skipped", "error": "export left no merged model"}
            argv = ["_generate", str(self.work / "merged"), str(self.work / "run-book"), str(self.model)]
            return self.run(
                name, [*argv, str(self.work / "prompts.jsonl"), str(self.work / f"{name}.metrics.json")]
            )
        if name == "oom":
            if not cuda:
                return {
                    "status": "needs_cuda",
                    "message": "on a CPU --batch-size auto is a fixed 32; there is no OOM to back off from",
                }
            argv = self.infer_argv("preds-oom.jsonl", "oom.jsonl")
            data = self.t2s(name, argv, ballast_leave_gib=a.oom_leave_gib)
            first = (data.get("generate_attempts") or [{}])[0]
            final = data.get("infer", {}).get("final_batch_size")
            data["backed_off"] = bool(first.get("ok") is False and final and final < first.get("batch", 0))
            if data.get("status") == "ok" and not data["backed_off"]:
                data.update(status="failed", error="the first batch fit: no back-off was exercised")
            return data
        raise ValueError(name)

    def main(self) -> int:
        self.say(f"results -> {self.results_path}; work -> {self.work}; log -> {self.log}")
        self.prepare_data()
        for name in self.args.phases:
            if self.elapsed() > self.args.budget_s:
                self.record(
                    name, {"status": "skipped", "error": f"time budget of {self.args.budget_s} s spent"}
                )
                continue
            if name != "build" and self.results["phases"].get("build", {}).get("status") != "ok":
                self.record(name, {"status": "skipped", "error": "no model (build failed)"})
                continue
            self.say(f"{name} ...")
            self.record(name, self.phase(name))
        self.results["figures"] = figures(self.results, self.args)
        self.results["total_s"] = round(self.elapsed(), 1)
        self.save()
        print_summary(self.results)
        failed = [n for n, p in self.results["phases"].items() if p.get("status") == "failed"]
        return 1 if failed else 0


def machine_info() -> dict:
    import torch

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "cuda_available": torch.cuda.is_available(),
    }
    for lib in ("transformers", "peft", "accelerate", "bitsandbytes", "text2sql-cli"):
        try:
            from importlib.metadata import version

            info[lib] = version(lib)
        except Exception:
            info[lib] = None
    if torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        # nvidia-smi, not torch: a CUDA context here would hold GPU memory through every phase
        try:
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,memory.total,driver_version",
                 "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            name, memory, driver = (x.strip() for x in smi.stdout.splitlines()[0].split(","))
            info.update(gpu=name, gpu_memory_gib=round(float(memory) / 1024, 1), driver=driver)
            info["bf16_peak_tflops"] = peak_tflops(name)
        except (OSError, subprocess.SubprocessError, IndexError, ValueError) as err:
            info["gpu"] = f"unknown (nvidia-smi: {err})"
    return info


# ---------------------------------------------------------------------------------------------
# command line


def parse(argv: list[str]):
    p = argparse.ArgumentParser(description="t2s on the book's recipe at Yi-Ko-6B's size (see run.sh).")
    env_tiny = os.environ.get("T2S_GPU_TINY", "") not in ("", "0")
    p.add_argument(
        "--tiny", action="store_true", default=env_tiny, help="tiny shape, for a CPU (T2S_GPU_TINY=1)"
    )
    p.add_argument("--results", default="gpu-results", help="directory for results.json and log.txt")
    p.add_argument("--work", default=None, help="directory for the model and runs [/tmp/t2s-gpu-work]")
    p.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset, in run order")
    p.add_argument("--steps", type=int, default=30, help="optimizer steps per training run")
    p.add_argument("--warmup", type=int, default=5, help="first steps left out of the timing")
    p.add_argument("--grad-accum", type=int, default=1, help="micro-batches per step (the book: 8)")
    p.add_argument("--prompts", type=int, default=256, help="prompts for t2s infer")
    p.add_argument("--book-prompts", type=int, default=32, help="prompts for the book's batch-1 pipeline")
    p.add_argument("--new-tokens", type=int, default=128, help="tokens generated per prompt")
    p.add_argument("--book-seconds", type=float, default=90.0, help="time cap of the book's batch-1 loop")
    p.add_argument("--oom-leave-gib", type=float, default=2.0, help="GPU memory left free in the oom phase")
    p.add_argument(
        "--budget-s", type=float, default=None, help="start no phase after this [GPU 390, tiny 1200]"
    )
    p.add_argument(
        "--grace-s", type=float, default=None, help="kill a phase this long after the budget [GPU 60]"
    )
    p.add_argument("--peak-tflops", type=float, default=None, help="dense bf16 peak, if the GPU is not known")
    args = p.parse_args(argv)
    args.phases = [x.strip() for x in args.phases.split(",") if x.strip()]
    unknown = [x for x in args.phases if x not in PHASES]
    if unknown:
        p.error(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(PHASES)}")
    if args.steps <= args.warmup:
        p.error("--steps must be larger than --warmup")
    args.work = args.work or ("/tmp/t2s-gpu-work-tiny" if args.tiny else "/tmp/t2s-gpu-work")
    if args.budget_s is None:
        args.budget_s = 1200.0 if args.tiny else 390.0
    if args.grace_s is None:
        args.grace_s = 300.0 if args.tiny else 60.0
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    import shutil

    if (Path(args.work)).exists():
        shutil.rmtree(args.work)  # a rerun starts clean: old runs would be resumed, old models reused
    return Runner(args).main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
