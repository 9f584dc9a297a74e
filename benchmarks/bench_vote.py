"""`t2s infer --candidates 8 --select vote` vs greedy on the same run and rows: EX and cost.

    python benchmarks/bench_vote.py --run RUN [--data FILE] [--n 112] [--candidates 8] [--repeats 1]

Without --run it builds a tiny model pretrained on examples/sample.jsonl (`t2s model tiny
--pretrain-steps 300`) and an SFT run on the same rows (`t2s train --max-steps 60`). The default data
is the first --n rows of examples/sample.jsonl; pass the real split by path (e.g.
../shared/data/ko_text2sql/origin_test.jsonl, 112 rows) to score held-out rows. Each mode runs as
its own `t2s infer` process (model loading included), alternating greedy and vote for --repeats
rounds; wall and CPU seconds (user + sys of the child) are reported, CPU time being the fairer
figure on a shared machine. Then `t2s eval --metric ex` scores both. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from _t2s import t2s  # benchmarks/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample.jsonl"


def build_run(work: Path) -> Path:
    t2s("model", "tiny", "--data", str(SAMPLE), "--out", str(work / "tiny"), "--pretrain-steps", "300")
    run = work / "sft"
    t2s(
        "train",
        "--base",
        str(work / "tiny"),
        "--data",
        str(SAMPLE),
        "--out",
        str(run),
        "--max-steps",
        "60",
        "--lr",
        "5e-3",
        "--seed",
        "0",
    )
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path)
    parser.add_argument("--data", type=Path, default=SAMPLE)
    parser.add_argument("--n", type=int, default=112)
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="t2s-bench-vote-"))
    run = args.run or build_run(work)
    rows = work / "rows.jsonl"
    lines = args.data.read_text(encoding="utf-8").splitlines()[: args.n]
    rows.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    common = ["infer", "--model", str(run), "--data", str(rows), "--max-new-tokens", str(args.max_new_tokens)]
    modes = {"greedy": [], "vote": ["--candidates", str(args.candidates), "--select", "vote"]}
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    for _ in range(args.repeats):
        for mode, extra in modes.items():
            times[mode].append(t2s(*common, "--out", str(work / f"{mode}.jsonl"), "--overwrite", *extra))
    result: dict = {
        "run": str(run),
        "data": str(args.data),
        "rows": len(lines),
        "candidates": args.candidates,
    }
    for mode in modes:
        t2s("eval", str(work / f"{mode}.jsonl"), "--metric", "ex", "--out", str(work / f"eval-{mode}"))
        summary = json.loads((work / f"eval-{mode}" / "summary.json").read_text())
        result[mode] = {
            "ex": summary["metrics"]["ex"],
            "wall_s": round(statistics.median(w for w, _ in times[mode]), 1),
            "cpu_s": round(statistics.median(c for _, c in times[mode]), 1),
            "all_wall_s": [round(w, 1) for w, _ in times[mode]],
        }
    meta = json.loads((work / "vote.jsonl.meta.json").read_text())
    result["vote"]["fallback_rows"] = meta["counts"].get("fallback")
    result["ratio_wall"] = round(result["vote"]["wall_s"] / result["greedy"]["wall_s"], 2)
    result["ratio_cpu"] = round(result["vote"]["cpu_s"] / result["greedy"]["cpu_s"], 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
