"""GRPO seconds per optimizer step vs SFT seconds per step, same base, same rows, same batch.

    python benchmarks/bench_grpo.py [--base TINY_DIR] [--steps 8] [--num-generations 4]

Without --base it builds a tiny model pretrained on examples/sample.jsonl (`t2s model tiny
--pretrain-steps 300`). SFT: `t2s train` for --steps steps at batch 8. GRPO: `t2s train --method
grpo --init <that SFT run>` for --steps steps at batch 8 completions (8 / num_generations prompts
per step), --max-completion-len 64. s/step is run.json's train_runtime_s / global_step (the
training loop only, no model loading); GRPO's includes sampling the completions and running them
against gold in the sandbox pool. CPU seconds of each whole process are reported too (the fairer
figure on a shared machine). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _t2s import t2s  # benchmarks/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--num-generations", type=int, default=4)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="t2s-bench-grpo-"))
    base = args.base
    if base is None:
        base = work / "tiny"
        t2s("model", "tiny", "--data", str(SAMPLE), "--out", str(base), "--pretrain-steps", "300")
    common = ["--data", str(SAMPLE), "--max-steps", str(args.steps), "--batch-size", "8", "--log-every", "1"]
    sft, grpo = work / "sft", work / "grpo"
    sft_wall, sft_cpu = t2s("train", "--base", str(base), "--out", str(sft), *common, "--seed", "0")
    grpo_args = ["--method", "grpo", "--init", str(sft), "--num-generations", str(args.num_generations)]
    grpo_args += ["--max-completion-len", "64", "--seed", "0"]
    grpo_wall, grpo_cpu = t2s("train", "--out", str(grpo), *common, *grpo_args)
    result: dict = {"base": str(base), "data": str(SAMPLE), "steps": args.steps, "batch": 8}
    for name, run, wall, cpu in (("sft", sft, sft_wall, sft_cpu), ("grpo", grpo, grpo_wall, grpo_cpu)):
        t = json.loads((run / "run.json").read_text())["training"]
        result[name] = {
            "s_per_step": round(t["train_runtime_s"] / t["global_step"], 2),
            "process_wall_s": round(wall, 1),
            "process_cpu_s": round(cpu, 1),
        }
    result["grpo"]["mean_reward"] = json.loads((grpo / "run.json").read_text())["training"]["mean_reward"]
    result["ratio_s_per_step"] = round(result["grpo"]["s_per_step"] / result["sft"]["s_per_step"], 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
