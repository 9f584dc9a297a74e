"""The tiny sweep's time: `t2s sweep --config examples/sweeps/tiny.yaml` from a fresh directory.

    python benchmarks/bench_sweep.py [--backend ray]

Runs the commands in tiny.yaml's header (split, tiny model, sweep, report) in a temporary copy of
the repository's examples, then reruns the sweep (it must skip every point). Prints the wall time
of each step and the CPU time of all processes (children included): on a shared machine the wall
time is inflated by other jobs; on an idle 2-core machine it is about CPU / 2 or more.
Target (issue 14): the sweep (5 points, one an untuned baseline) under 10 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from _t2s import t2s  # benchmarks/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="local", choices=("local", "ray"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    with tempfile.TemporaryDirectory(prefix="t2s-bench-sweep-") as tmp:
        d = Path(tmp)
        shutil.copytree(REPO / "examples", d / "examples")
        steps = [
            ("split", ["data", "split", "examples/sample.jsonl", "--test-db", "1", "--out", "sweeps/data"]),
            (
                "tiny model",
                ["model", "tiny", "--data", "sweeps/data/train.jsonl", "--out", "sweeps/tiny-base"]
                + ["--pretrain-steps", "300"],
            ),
        ]
        sweep = ["sweep", "--config", "examples/sweeps/tiny.yaml", "--out", "sweeps/tiny"]
        if args.backend == "ray":
            sweep += ["--backend", "ray", "--gpus-per-point", "0"]
        steps += [
            (f"sweep ({args.backend})", sweep),
            ("sweep rerun (skips all)", sweep),
            ("report", ["report", "sweeps/tiny", "--out", "sweeps/tiny/report"]),
        ]
        print(f"load average before: {os.getloadavg()[0]:.1f} (2 cores; other jobs share them)")
        print("| step | wall | CPU (all processes) |\n|---|---|---|")
        for name, command in steps:
            wall, cpu = t2s(*command, cwd=d)
            print(f"| {name} | {wall:.1f} s | {cpu:.1f} s |", flush=True)
        points = sorted(p.parent.name for p in (d / "sweeps" / "tiny").glob("*/status.json"))
        print(f"points: {len(points)} ({', '.join(points)}); load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
