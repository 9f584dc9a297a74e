"""The book's recipe at Yi-Ko-6B's size on one GPU, offline: the driver behind `run.sh`.

    bash benchmarks/gpu/run.sh [--results DIR]       # on the GPU machine (installs wheels + t2s first)
    bash benchmarks/gpu/run.sh --tiny                # the same phases at a tiny shape, on a CPU

Each phase runs in its own process (peak GPU memory is then the phase's own, and a crash stays in
its phase), through the real `t2s` command line where the phase is a t2s command:

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
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SAMPLE = REPO / "examples" / "sample.jsonl"
ORIGIN_TRAIN_ROWS = 38_246  # ko_text2sql origin/train (BOOK.md)
BOOK_HOURS = (8, 9)  # the book's fine-tuning run on a Colab GPU

# beomi/Yi-Ko-6B's config.json, from its model card (no download): a Llama architecture.
YI_KO_6B = {
    "vocab_size": 78464,
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "intermediate_size": 11008,
    "max_position_embeddings": 2048,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
}
# The same architecture, small enough to run every phase on a laptop CPU in a minute or two.
TINY = {
    **YI_KO_6B,
    "vocab_size": 2048,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 172,
}
TOKENIZER_VOCAB = (
    2048  # the BPE, both shapes; the 6B keeps its 78464 embedding rows (unused ones cost the same)
)
# Dense bf16 tensor-core peaks (vendor data sheets), matched against torch's device name in order.
PEAK_BF16_TFLOPS = [
    ("H200", 989.4),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.4),
    ("A100", 312.0),
    ("L40S", 362.05),
    ("L4", 121.0),
]
# Run order = priority: a spent time budget skips the phases at the end.
PHASES = (
    "build",
    "train_book",
    "train_default",
    "infer_4bit",
    "infer_bf16",
    "export",
    "generate_merged",
    "oom",
    "pipeline_book",
    "train_book_nopack",
)
CUDA_ONLY_MARK = "CUDA"  # t2s's message for a 4-bit run without a GPU names it


# ---------------------------------------------------------------------------------------------
# small helpers


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def gib(n: float | None) -> float | None:
    return None if n is None else round(n / 2**30, 2)


def peak_tflops(name: str) -> float | None:
    return next((tf for key, tf in PEAK_BF16_TFLOPS if key in name), None)


def linear_params(shape: dict) -> int:
    """Parameters of the matrix multiplies per token: attention, MLP, LM head (not the embedding)."""
    d, inter, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    kv = d // shape["num_attention_heads"] * shape["num_key_value_heads"]
    per_layer = 2 * d * d + 2 * d * kv + 3 * d * inter
    return layers * per_layer + d * shape["vocab_size"]


def total_params(shape: dict) -> int:
    d, layers = shape["hidden_size"], shape["num_hidden_layers"]
    norms = (2 * layers + 1) * d
    return linear_params(shape) + d * shape["vocab_size"] + norms


def train_flops_per_token(shape: dict, mean_len: float) -> float:
    d, layers = shape["hidden_size"], shape["num_hidden_layers"]
    return 6 * linear_params(shape) + 12 * layers * d * mean_len


# ---------------------------------------------------------------------------------------------
# phase processes (internal subcommands: `driver.py _build ...`, `_t2s ...`, `_pipeline ...`)


def _cuda():
    import torch

    return torch.cuda.is_available()


def _peak_memory() -> dict:
    import torch

    if torch.cuda.is_available():
        return {
            "peak_gpu_allocated_gib": gib(torch.cuda.max_memory_allocated()),
            "peak_gpu_reserved_gib": gib(torch.cuda.max_memory_reserved()),
        }
    import resource

    return {"peak_host_rss_gib": gib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)}


def count_new_tokens(calls: list[int]) -> None:
    """Record how many tokens every `generate` call added (t2s infer and pipeline both call it)."""
    import torch
    from transformers import GenerationMixin

    original = GenerationMixin.generate

    def generate(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        ids = kwargs.get("input_ids", args[0] if args else None)
        seqs = out if torch.is_tensor(out) else out.sequences
        if ids is not None:
            calls.append(int(seqs.shape[1] - ids.shape[1]))
        return out

    GenerationMixin.generate = generate


def corpus(rows: list[dict]) -> list[str]:
    from text2sql_cli.prompts import get_template

    template = get_template("ko-sql-bot")
    return [template.render_training(r["context"], r["question"], r["answer"], "") for r in rows]


def build_tokenizer(texts: list[str], vocab: int):
    """Byte-level BPE with Yi-Ko's special ids: <unk> 0 (also the pad), <s> 1, </s> 2; BOS added."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<unk>"
    )


def phase_build(out: Path, tiny: bool, new_tokens: int, metrics: Path) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    started = time.perf_counter()
    shape = TINY if tiny else YI_KO_6B
    rows = read_jsonl(SAMPLE)
    texts = corpus(rows)
    tokenizer = build_tokenizer(texts, min(TOKENIZER_VOCAB, shape["vocab_size"]))
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if cuda else torch.float32
    config = LlamaConfig(**shape, dtype=dtype)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    # Made directly on the GPU in bf16: no fp32 copy, no host round trip (6B params = 12 GB).
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("cuda" if cuda else "cpu"):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    init_s = time.perf_counter() - t0
    # Every generation runs exactly `new_tokens` tokens: random weights may emit EOS at any point.
    model.generation_config = GenerationConfig(
        bos_token_id=1, eos_token_id=2, pad_token_id=0, min_new_tokens=new_tokens
    )
    t0 = time.perf_counter()
    model.save_pretrained(out, max_shard_size="5GB")
    tokenizer.save_pretrained(out)
    save_s = time.perf_counter() - t0
    # the rows' token counts, as training counts them (prompt + SQL + EOS, BOS included)
    from text2sql_cli.prompts import encode, get_template

    template = get_template("ko-sql-bot")
    lengths = []
    for r in rows:
        p, c = encode(template, tokenizer, r["context"], r["question"], r["answer"])
        lengths.append(len(p) + len(c))
    chars = sum(len(t) for t in texts)
    write_json(
        metrics,
        {
            "exit_code": 0,
            "seconds": round(time.perf_counter() - started, 2),
            "init_s": round(init_s, 2),
            "save_s": round(save_s, 2),
            "params": sum(p.numel() for p in model.parameters()),
            "dtype": str(dtype).removeprefix("torch."),
            "device": "cuda" if cuda else "cpu",
            "tokenizer_vocab": len(tokenizer),
            "chars_per_token": round(chars / sum(lengths), 3),
            "sample_rows": len(rows),
            "sample_tokens_mean": round(statistics.mean(lengths), 1),
            "sample_tokens_max": max(lengths),
            **_peak_memory(),
        },
    )


def phase_t2s(metrics: Path, argv: list[str], ballast_leave_gib: float | None) -> int:
    """Run `t2s ARGV` in this process through the real CLI, timing steps / generation."""
    import torch
    import transformers

    import text2sql_cli.training as training
    from text2sql_cli.cli import app

    record: dict = {"command": ["t2s", *argv]}
    counts = {"real": 0, "padded": 0, "len_sq": 0, "len_sum": 0}
    steps: list[tuple[float, int, int]] = []  # (seconds, real tokens, padded tokens)

    def sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    original_step = transformers.Trainer.training_step

    def training_step(self, model, inputs, *args, **kwargs):
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        if mask is not None:  # padded batch: one example per row
            lens = mask.sum(dim=1).tolist()
        else:  # packed row: position ids restart at 0 for every example
            pos = inputs["position_ids"].flatten().tolist()
            starts = [i for i, p in enumerate(pos) if p == 0] + [len(pos)]
            lens = [b - a for a, b in zip(starts, starts[1:])]
        counts["real"] += int(sum(lens))
        counts["padded"] += ids.numel()
        counts["len_sq"] += sum(n * n for n in lens)
        counts["len_sum"] += sum(lens)
        return original_step(self, model, inputs, *args, **kwargs)

    transformers.Trainer.training_step = training_step

    class StepTimer(transformers.TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            sync()
            self.t, self.real, self.padded = time.perf_counter(), counts["real"], counts["padded"]

        def on_step_end(self, args, state, control, **kw):
            sync()
            steps.append(
                (time.perf_counter() - self.t, counts["real"] - self.real, counts["padded"] - self.padded)
            )

    original_train = training.train
    training.train = lambda cfg, callbacks=(): original_train(cfg, callbacks=(*callbacks, StepTimer()))

    import text2sql_cli.inference.batch as batch
    from text2sql_cli.inference.hf import HFBackend

    original_run = batch.run_batch_inference

    def run_batch_inference(*args, **kwargs):
        summary = original_run(*args, **kwargs)
        record["infer"] = {
            "rows": summary.total,
            "generated": summary.generated,
            "errors": summary.errors,
            "seconds": round(summary.seconds, 3),
            "final_batch_size": summary.batch_size,
        }
        return summary

    batch.run_batch_inference = run_batch_inference
    attempts: list[dict] = []
    original_padded = HFBackend._generate_padded

    def generate_padded(self, rows):
        try:
            out = original_padded(self, rows)
        except Exception as err:
            attempts.append({"batch": len(rows), "ok": False, "error": type(err).__name__})
            raise
        attempts.append({"batch": len(rows), "ok": True})
        return out

    HFBackend._generate_padded = generate_padded
    new_tokens: list[int] = []
    count_new_tokens(new_tokens)

    ballast = None
    if ballast_leave_gib is not None and torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        model_dir = Path(argv[argv.index("--model") + 1])
        weights = sum(p.stat().st_size for p in model_dir.glob("*.safetensors"))
        size = free - weights - int((ballast_leave_gib + 1.0) * 2**30)  # 1 GiB: CUDA context, workspaces
        if size > 0:
            ballast = torch.empty(size, dtype=torch.uint8, device="cuda")
        record["ballast"] = {
            "free_gib": gib(free),
            "taken_gib": gib(max(size, 0)),
            "left_gib": ballast_leave_gib,
        }

    sys.argv = ["t2s", *argv]  # run.json records the command as the user would type it
    started = time.perf_counter()
    code = 0
    try:
        app(argv, prog_name="t2s")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    record["exit_code"] = code
    record["seconds"] = round(time.perf_counter() - started, 2)
    record["steps"] = [{"s": round(s, 4), "tokens": t, "padded": p} for s, t, p in steps]
    if counts["len_sum"]:
        record["mean_example_len"] = round(counts["len_sq"] / counts["len_sum"], 1)
    if attempts:
        record["generate_attempts"] = attempts
    if new_tokens:
        record["new_tokens_per_call"] = [min(new_tokens), max(new_tokens)]
    record.update(_peak_memory())
    del ballast
    write_json(metrics, record)
    return code


def phase_pipeline(
    model_dir: Path, prompts: Path, n: int, new_tokens: int, max_seconds: float, metrics: Path
) -> None:
    """The book's inference: 4-bit load (FP4, fp16 compute), pipeline, batch 1, greedy."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    from text2sql_cli.prompts import get_template

    cuda = torch.cuda.is_available()
    t0 = time.perf_counter()
    if cuda:
        from transformers import BitsAndBytesConfig

        # the book's load_in_4bit=True with fp16 compute (its default quant type is FP4); transformers
        # 4, which the book used, also loaded every other module in fp16 under bitsandbytes
        quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.float16)
        model = AutoModelForCausalLM.from_pretrained(
            model_dir, quantization_config=quant, dtype=torch.float16, device_map={"": 0}
        )
        how = "4-bit FP4, fp16 compute (the book's load_in_4bit=True)"
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        how = "fp32 on CPU (4-bit needs CUDA)"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    load_s = time.perf_counter() - t0
    pipe = pipeline("text-generation", model=model, tokenizer=tokenizer)
    template = get_template("ko-sql-bot")
    texts = [template.render_prompt(r["context"], r["question"]) for r in read_jsonl(prompts)[:n]]
    kwargs = {"do_sample": False, "return_full_text": False, "max_new_tokens": new_tokens}
    pipe(texts[0], **{**kwargs, "max_new_tokens": 4})  # warm-up (kernels, allocator), not timed
    calls: list[int] = []
    count_new_tokens(calls)
    done = 0
    t0 = time.perf_counter()
    for text in texts:  # batch 1, one call per prompt, as the book's loop
        pipe(text, **kwargs)
        done += 1
        if done >= 4 and time.perf_counter() - t0 > max_seconds:
            break
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    write_json(
        metrics,
        {
            "exit_code": 0,
            "how": how,
            "prompts": done,
            "prompts_asked": len(texts),
            "seconds": round(seconds, 3),
            "load_s": round(load_s, 2),
            "prompts_per_s": round(done / seconds, 4),
            "new_tokens_per_call": [min(calls), max(calls)],
            **_peak_memory(),
        },
    )


def phase_generate(merged: Path, run: Path, base: Path, prompts: Path, metrics: Path) -> None:
    """Load the exported model and generate; compare its logits with base + adapter unmerged."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from text2sql_cli.prompts import get_template

    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(merged, dtype="auto", device_map={"": device})
    tokenizer = AutoTokenizer.from_pretrained(merged)
    load_s = time.perf_counter() - t0
    template = get_template("ko-sql-bot")
    rows = read_jsonl(prompts)[:4]
    enc = tokenizer(template.render_prompt(rows[0]["context"], rows[0]["question"]), return_tensors="pt")
    enc = enc.to(device)
    with torch.inference_mode():
        t0 = time.perf_counter()
        out = model.generate(**enc, max_new_tokens=32, min_new_tokens=32, do_sample=False)
        gen_s = time.perf_counter() - t0
        merged_logits = model(**enc).logits[0, -1].float().cpu()
    text = tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    dtype = model.dtype
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    base_model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype, device_map={"": device})
    with torch.inference_mode():
        base_logits = base_model(**enc).logits[0, -1].float().cpu()
        adapted = PeftModel.from_pretrained(base_model, run)
        adapter_logits = adapted(**enc).logits[0, -1].float().cpu()
    write_json(
        metrics,
        {
            "exit_code": 0,
            "dtype": str(dtype).removeprefix("torch."),
            "load_s": round(load_s, 2),
            "generate_32_tokens_s": round(gen_s, 3),
            "generated_chars": len(text),
            "max_abs_logit_diff_vs_base_plus_adapter": round(
                float((merged_logits - adapter_logits).abs().max()), 5
            ),
            "max_abs_logit_diff_vs_base": round(float((merged_logits - base_logits).abs().max()), 5),
            "max_abs_logit": round(float(adapter_logits.abs().max()), 4),
            "same_argmax_as_base_plus_adapter": bool(merged_logits.argmax() == adapter_logits.argmax()),
            **_peak_memory(),
        },
    )


# ---------------------------------------------------------------------------------------------
# the orchestrator


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
        cmd = [sys.executable, str(Path(__file__).resolve()), *argv]
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
# figures and the summary


def train_figures(phase: dict, shape: dict, warmup: int, grad_accum: int, peak: float | None) -> dict:
    steps = phase.get("steps") or []
    timed = steps[warmup:] if len(steps) > warmup else []
    if not timed:
        return {}
    seconds = sum(s["s"] for s in timed)
    tokens = sum(s["tokens"] for s in timed)
    tps = tokens / seconds
    out = {
        "s_per_step": round(statistics.median(s["s"] for s in timed), 4),
        "s_per_step_grad_accum_8": round(statistics.median(s["s"] for s in timed) * 8 / grad_accum, 3),
        "tokens_per_s": round(tps, 1),
        "padding_share": round(1 - tokens / max(1, sum(s["padded"] for s in timed)), 3),
        "timed_steps": len(timed),
        "peak_gib": phase.get("peak_gpu_allocated_gib", phase.get("peak_host_rss_gib")),
    }
    if peak and phase.get("mean_example_len"):
        out["mfu"] = round(tps * train_flops_per_token(shape, phase["mean_example_len"]) / (peak * 1e12), 4)
    return out


def figures(results: dict, args) -> dict:
    phases, shape = results["phases"], results["shape"]
    peak = args.peak_tflops or results["machine"].get("bf16_peak_tflops")
    fig: dict = {
        "train": {},
        "infer": {},
        "params": total_params(shape),
        "linear_params": linear_params(shape),
    }
    for name in ("train_book", "train_book_nopack", "train_default"):
        if phases.get(name, {}).get("status") == "ok":
            fig["train"][name] = train_figures(phases[name], shape, args.warmup, args.grad_accum, peak)
    for name in ("infer_4bit", "infer_bf16"):
        info = phases.get(name, {}).get("infer")
        if phases.get(name, {}).get("status") == "ok" and info and info["seconds"]:
            fig["infer"][name] = {
                "prompts_per_s": round(info["rows"] / info["seconds"], 3),
                "seconds": info["seconds"],
                "batch_size": info["final_batch_size"],
                "peak_gib": phases[name].get("peak_gpu_allocated_gib", phases[name].get("peak_host_rss_gib")),
            }
    book = phases.get("pipeline_book", {})
    if book.get("status") == "ok":
        fig["infer"]["pipeline_book"] = {
            "prompts_per_s": book["prompts_per_s"],
            "prompts_timed": book["prompts"],
            f"seconds_for_{args.prompts}_scaled": round(book["seconds"] * args.prompts / book["prompts"], 1),
            "how": book["how"],
        }
        for name in ("infer_4bit", "infer_bf16"):
            if name in fig["infer"]:
                fig["infer"][name]["x_book_pipeline"] = round(
                    fig["infer"][name]["prompts_per_s"] / book["prompts_per_s"], 1
                )
    build = phases.get("build", {})
    if build.get("sample_tokens_mean"):
        tokens = build["sample_tokens_mean"] * ORIGIN_TRAIN_ROWS
        proj = {
            "rows": ORIGIN_TRAIN_ROWS,
            "tokens_per_row": build["sample_tokens_mean"],
            "epoch_tokens": round(tokens),
            "basis": "mean token count of examples/sample.jsonl rows (this tokenizer), times 38,246 rows",
            "book_hours": list(BOOK_HOURS),
        }
        for name, f in fig["train"].items():
            if f.get("tokens_per_s"):
                proj[f"{name}_hours"] = round(tokens / f["tokens_per_s"] / 3600, 2)
        fig["epoch_projection"] = proj
    return fig


def print_summary(results: dict) -> None:
    fig = results.get("figures", {})
    lines = [
        f"t2s GPU benchmark ({'tiny CPU shape' if results['tiny'] else 'Yi-Ko-6B shape'}, random weights)"
    ]
    m = results["machine"]
    lines.append(
        f"  machine: {m.get('gpu', 'no GPU')} | torch {m['torch']} | CUDA {m.get('cuda')} "
        f"| driver {m.get('driver')}"
    )
    lines.append(f"  {'phase':<20}{'status':<12}{'wall s':>8}")
    for name, p in results["phases"].items():
        lines.append(f"  {name:<20}{p.get('status', '?'):<12}{p.get('wall_s', 0):>8}")
    lines.append(f"  {'training':<20}{'s/step':>9}{'tok/s':>11}{'peak GiB':>10}{'MFU':>8}")
    for name, f in fig.get("train", {}).items():
        mfu = f"{f['mfu']:.1%}" if f.get("mfu") is not None else "-"
        lines.append(f"  {name:<20}{f['s_per_step']:>9}{f['tokens_per_s']:>11}{f['peak_gib']!s:>10}{mfu:>8}")
    lines.append(f"  {'inference':<20}{'prompts/s':>11}{'batch':>7}{'x book':>8}")
    for name, f in fig.get("infer", {}).items():
        lines.append(
            f"  {name:<20}{f['prompts_per_s']:>11}{f.get('batch_size', 1)!s:>7}"
            f"{f.get('x_book_pipeline', '-')!s:>8}"
        )
    proj = fig.get("epoch_projection")
    if proj:
        hours = ", ".join(
            f"{k.removesuffix('_hours')} {v} h"
            for k, v in proj.items()
            if k.endswith("_hours") and k != "book_hours"
        )
        lines.append(f"  one epoch of origin/train ({proj['epoch_tokens']} tokens): {hours}; the book: 8-9 h")
    print("\n".join(lines), flush=True)


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
    if argv and argv[0] == "_build":
        _, out, _, new_tokens, metrics, *rest = argv
        phase_build(Path(out), "--tiny" in rest, int(new_tokens), Path(metrics))
        return 0
    if argv and argv[0] == "_t2s":
        metrics, rest = argv[1], argv[2:]
        leave = None
        if rest[0] == "--ballast-leave-gib":
            leave, rest = float(rest[1]), rest[2:]
        return phase_t2s(Path(metrics), rest[1:], leave)  # rest[0] is "--"
    if argv and argv[0] == "_pipeline":
        _, model, prompts, n, new_tokens, max_seconds, metrics = argv
        phase_pipeline(Path(model), Path(prompts), int(n), int(new_tokens), float(max_seconds), Path(metrics))
        return 0
    if argv and argv[0] == "_generate":
        _, merged, run, base, prompts, metrics = argv
        phase_generate(Path(merged), Path(run), Path(base), Path(prompts), Path(metrics))
        return 0
    args = parse(argv)
    import shutil

    if (Path(args.work)).exists():
        shutil.rmtree(args.work)  # a rerun starts clean: old runs would be resumed, old models reused
    return Runner(args).main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
