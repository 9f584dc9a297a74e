"""The GPU benchmark's phase processes (see driver.py): each runs in its own Python process as
`gpu_phases.py _build|_t2s|_pipeline|_generate ...` and writes one metrics JSON.

_t2s runs the real `t2s` command line in-process with timing hooks: each optimizer step is timed
between CUDA synchronisations and its real (non-padding) tokens counted; every `generate` call's new
tokens are counted; with a ballast, all but a few GiB of the GPU are taken before the command runs.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from gpu_common import SAMPLE, TINY, TOKENIZER_VOCAB, YI_KO_6B, gib, read_jsonl, write_json


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
    training.train = lambda cfg, callbacks=(), **kw: original_train(
        cfg, callbacks=(*callbacks, StepTimer()), **kw
    )

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
    raise SystemExit(f"unknown phase command {argv[:1]}; run driver.py, which starts the phases")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
