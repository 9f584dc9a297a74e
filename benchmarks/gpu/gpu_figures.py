"""The GPU benchmark's figures (from the phases' metrics) and its printed summary table."""

from __future__ import annotations

import statistics

from gpu_common import BOOK_HOURS, ORIGIN_TRAIN_ROWS, linear_params, total_params, train_flops_per_token


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
