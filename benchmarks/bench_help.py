"""Cold start of `t2s --help` (and one command's help): wall time of fresh processes.

    python benchmarks/bench_help.py [--runs 15] [--baseline /path/to/other/checkout]

Each run is a new `python -m text2sql_cli ... --help` process with this checkout first on
PYTHONPATH (with --baseline, that checkout's runs alternate with this one's, so both see the same
load). Reported: the fastest and the median wall time, the load average before and after, and the
modules that took longest to import in one `-X importtime` run. Goal: `t2s --help` < 0.3 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _env(checkout: Path) -> dict[str, str]:
    """This checkout first; bytecode written and read as an installed package's is (the warm-up run
    writes it), so no run pays for compiling the sources."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "COLUMNS": "80"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run(checkout: Path, args: list[str]) -> float:
    env = _env(checkout)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "text2sql_cli", *args], env=env, check=True, capture_output=True, cwd=checkout
    )
    return time.perf_counter() - start


def slowest_imports(checkout: Path, args: list[str], n: int = 6) -> list[tuple[int, str]]:
    env = _env(checkout)
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "text2sql_cli", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=checkout,  # `python -m` puts the working directory first on sys.path
    ).stderr
    rows = []
    for line in err.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("   "):
            rows.append((int(parts[1]), parts[2].strip()))  # top-level imports, cumulative µs
    return sorted(rows, reverse=True)[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--baseline", type=Path, help="another checkout to time alongside this one")
    opts = parser.parse_args()
    checkouts = {"this": REPO, **({"baseline": opts.baseline.resolve()} if opts.baseline else {})}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for args in (["--help"], ["train", "--help"]):
        times: dict[str, list[float]] = {name: [] for name in checkouts}
        for checkout in checkouts.values():
            run(checkout, args)  # warm the file cache once
        for _ in range(opts.runs):
            for name, checkout in checkouts.items():
                times[name].append(run(checkout, args))
        for name, values in times.items():
            print(
                f"t2s {' '.join(args)} [{name}]: fastest {min(values):.3f} s, median "
                f"{statistics.median(values):.3f} s over {len(values)} runs"
            )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, checkout in checkouts.items():
        top = ", ".join(f"{mod} {us / 1000:.0f} ms" for us, mod in slowest_imports(checkout, ["--help"]))
        print(f"slowest top-level imports of t2s --help [{name}]: {top}")


if __name__ == "__main__":
    main()
