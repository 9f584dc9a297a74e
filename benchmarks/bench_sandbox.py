"""Hostile SQL through a real `t2s eval`: time to stop and peak memory of the whole eval.

    python benchmarks/bench_sandbox.py [--timeout 2] [--workers 2]

Each hostile query is the prediction of one row in a predictions file of 40 rows (the other 39 are
ordinary and correct, so the eval uses its worker pool: pools start at 32 rows). Every file runs
through `python -m text2sql_cli eval --metric ex` in a subprocess, while this script samples the
resident memory of that process and all its children every 10 ms and sums it (shared pages counted
once per process, so the figure is an upper bound). Time to stop = the faster of two evals of the file
minus the fastest of three evals of the same file without the hostile row (this machine is shared,
so single wall times jitter by a few tenths of a second).

Because a shared machine makes the wall-time difference of two whole evals jitter, each query is
also timed alone: the same example scored through the worker pool (`run_tasks(score_example, ...)`
with 2 workers, as `t2s eval` does), minus the same example with the gold query as prediction;
the faster of three. That is the "pool stop s" column.

Goal: every hostile query stops within timeout + 0.5 s with status timeout or
pred_error, and the whole eval stays under 1 GB peak RSS with 2 workers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DDL = "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20), score FLOAT);"
HOSTILE = {
    "printf %.*c 999999999": "SELECT printf('%.*c', 999999999, 'x')",
    "zeroblob(999999999)": "SELECT zeroblob(999999999)",
    "randomblob(999999999)": "SELECT randomblob(999999999)",
    "replace(hex(zeroblob(1e8)))": "SELECT replace(hex(zeroblob(1e8)),'0','ab')",
    "runaway recursive CTE": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
    "SELECT count(*) FROM r",
    "cartesian count": "SELECT count(*) FROM t a, t b, t c, t d, t e, t f, t g, t h",
    "cartesian rows": "SELECT * FROM t a, t b, t c, t d, t e",
    "deep nesting": "SELECT " + "(" * 5000 + "1" + ")" * 5000,
    "64 MB+ result": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r LIMIT 40) "
    "SELECT zeroblob(15000000) FROM r",
}
GOLD = "SELECT id, name FROM t WHERE score > 1 ORDER BY id"


def rows(hostile: str | None) -> list[dict]:
    out = [
        {"id": str(i), "db_id": f"db{i % 5}", "question": "q", "context": DDL, "gold": GOLD, "sql": GOLD}
        for i in range(39)
    ]
    if hostile is not None:
        out.append(
            {"id": "hostile", "db_id": "db0", "question": "q", "context": DDL, "gold": GOLD, "sql": hostile}
        )
    return out


def tree_rss(root: int) -> int:
    """Resident bytes of `root` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


def run_eval(path: Path, out: Path, timeout: float, workers: int) -> tuple[float, int, int]:
    """Wall seconds, peak tree RSS in bytes, exit code."""
    cmd = [sys.executable, "-m", "text2sql_cli", "eval", str(path), "--out", str(out), "--metric", "ex"]
    cmd += ["--timeout", str(timeout), "--workers", str(workers)]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.01)
    wall = time.monotonic() - start
    if proc.returncode:
        print(proc.stderr.read(), file=sys.stderr)
    return wall, peak, proc.returncode


def pool_stop(sql: str, timeout: float, workers: int) -> float:
    """Seconds the pool needs to score one example whose prediction is `sql`, beyond a correct one."""
    from text2sql_cli.sql.goldmatch import ExTask, score_all

    def timed(pred: str) -> float:
        task = ExTask("db0", DDL, GOLD, pred, timeout=timeout)
        best = float("inf")
        for _ in range(3):
            start = time.monotonic()
            score_all([task, task], workers=workers)  # the pool call t2s eval makes
            best = min(best, time.monotonic() - start)
        return best

    return max(0.0, timed(sql) - timed(GOLD))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = root / "base.jsonl"
        base.write_text("".join(json.dumps(r) + "\n" for r in rows(None)))
        base_runs = [run_eval(base, root / f"base{i}", args.timeout, args.workers) for i in range(3)]
        base_wall = min(w for w, _, _ in base_runs)
        base_peak = max(p for _, p, _ in base_runs)
        print(
            f"t2s eval, --timeout {args.timeout:g} --workers {args.workers}, "
            "40 rows (39 ordinary + 1 hostile)"
        )
        print(f"baseline (39 ordinary rows): {base_wall:.2f} s, peak RSS {base_peak / 2**20:.0f} MB")
        print(f"{'query':30} {'stop s':>7} {'goal s':>7} {'pool s':>7} {'peak MB':>8} status: reason")
        failures = 0
        for name, sql in HOSTILE.items():
            path = root / "hostile.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in rows(sql)))
            runs = [run_eval(path, root / f"out{i}", args.timeout, args.workers) for i in range(2)]
            wall, peak, code = min(w for w, _, _ in runs), max(p for _, p, _ in runs), runs[-1][2]
            row = {}
            if code == 0:
                results = [json.loads(x) for x in (root / "out1" / "results.jsonl").read_text().splitlines()]
                row = next(r for r in results if r["id"] == "hostile")
            status = row.get("ex_status", row.get("status", f"exit {code}"))
            stop = max(0.0, wall - base_wall)
            alone = pool_stop(sql, args.timeout, args.workers)
            ok = alone <= args.timeout + 0.5 and peak < 2**30 and status in ("timeout", "pred_error")
            failures += not ok
            reason = str(row.get("ex_reason", row.get("reason", "")))[:90]
            print(
                f"{name:30} {stop:7.2f} {args.timeout + 0.5:7.2f} {alone:7.2f} {peak / 2**20:8.0f} "
                f"{status}: {reason}{'' if ok else '  <-- misses the goal'}"
            )
        met = len(HOSTILE) - failures
        print(f"{met}/{len(HOSTILE)} meet the goal (pool stop <= timeout + 0.5 s, < 1024 MB)")


if __name__ == "__main__":
    main()
