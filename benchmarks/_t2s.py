"""Run one `t2s` command as its own process and time it, for the benchmark scripts.

    wall_s, cpu_s = t2s("train", "--base", ..., cwd=None)

CPU seconds are the user + system time of that process and its children (the fairer figure on
a shared machine). A failing command stops the benchmark with its exit code and stderr's tail.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path


def t2s(*args: str, cwd: Path | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of `python -m text2sql_cli ARGS`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "text2sql_cli", *args], cwd=cwd, capture_output=True, text=True
    )
    wall = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"t2s {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
