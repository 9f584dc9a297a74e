"""Judge throughput against a local server that behaves like OpenAI's.

    python benchmarks/bench_judge.py              # 1000 requests, every run (~11 min)
    python benchmarks/bench_judge.py --quick      # 100 requests (~1.5 min)
    python benchmarks/bench_judge.py --runs clean,faults

The fake server (tests/fake_openai.py) announces 600 requests/minute and 300,000 tokens/minute in
`x-ratelimit-*` headers on every answer and enforces them per second (a bucket of one second's
allowance; over it: 429 with Retry-After); latency 300 +- 100 ms. t2s runs with no rate flags and
its defaults (60 s timeout, 6 attempts): it must learn the limits from the headers. Runs, each with
a fresh cache:

  clean    no faults: target <= 1.1x the floor (n / 600 minutes).
  faults   20 % of attempts (retries included) fail: 429 (Retry-After 1 s), 500, 503, a dropped
           connection, a malformed body, malformed content, or a hang of 330 s. Target <= 1.3x, no
           verdict lost, duplicated or different from the clean run. Failed attempts count against
           the limits, as they do at OpenAI, so this run sends ~25 % more requests than `clean`.
           With the defaults: the adaptive timeout (3x the p95) and hedging (a second copy of a
           request slower than 1.5x the p95, first answer wins, both counted).
  no-hedge the same faults with the adaptive timeout alone (T2S_LLM_HEDGE=false), for comparison.
  kill     clean server; a child process judging is killed with SIGKILL halfway, then the same
           judge run resumes from the cache: re-sent requests vs those in flight at the kill.
  batch    the Batch API path (--batch): 1000 rows in one batch that completes on the 3rd poll; the
           child polling it is killed with SIGKILL, the rerun resumes polling (no new batch).

Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import openai  # noqa: E402,F401  (imported up front: a one-time process cost, not throughput)
from fake_openai import FakeOpenAI  # noqa: E402

from text2sql_cli.evaluation.judge import JudgeConfig, run_judge  # noqa: E402

FAULTS = ("429", "500", "503", "drop", "bad_body", "bad_content", "hang")
MODEL = "gpt-4-turbo-preview"
RPM, TPM = 600, 300_000


def predictions(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        gold = f"SELECT name FROM players WHERE id = {i}"
        sql = gold if i % 3 else f"SELECT id FROM players WHERE id = {i}"
        rows.append(
            {
                "id": i,
                "db_id": "1",
                "question": f"question {i}",
                "context": "CREATE TABLE players (id INT, name TEXT);",
                "gold": gold,
                "raw": sql,
                "sql": sql,
            }
        )
    return rows


def server(fault_rate: float = 0.0, **kw) -> FakeOpenAI:
    return FakeOpenAI(
        latency_s=0.3,
        latency_jitter_s=0.1,
        rpm=RPM,
        tpm=TPM,
        fault_rate=fault_rate,
        fault_kinds=FAULTS,
        retry_after="1",
        hang_s=330.0,
        lifetime_s=3600,
        seed=1,
        **kw,
    )


def judge(rows: list[dict], url: str, out: Path, **flags) -> tuple[float, list]:
    cfg = JudgeConfig.build(MODEL, base_url=url, **flags)  # no rate flags: learned from headers
    started = time.perf_counter()
    report = run_judge(rows, cfg, out, progress=False)
    return time.perf_counter() - started, report.verdicts


def check(rows: list[dict], verdicts: list, reference: dict | None) -> tuple[int, int, int]:
    """(lost, duplicated, different): different = a verdict unlike the clean run's (or, without
    one, unlike the truth), failures included."""
    ids = [v.id for v in verdicts]
    lost = len({r["id"] for r in rows} - set(ids))
    duplicated = len(ids) - len(set(ids))
    truth = reference or {r["id"]: "yes" if r["sql"] == r["gold"] else "no" for r in rows}
    different = sum(1 for v in verdicts if v.verdict != truth[v.id])
    return lost, duplicated, different


CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from bench_judge import MODEL, predictions
from text2sql_cli.evaluation.judge import JudgeConfig, run_judge
run_judge(predictions(int(sys.argv[2])), JudgeConfig.build(MODEL, base_url=sys.argv[1]), Path(sys.argv[3]),
          progress=False)
"""


def kill_run(rows: list[dict], reference: dict) -> tuple[str, bool]:
    n = len(rows)
    with tempfile.TemporaryDirectory() as tmp, server() as fake:
        out = Path(tmp)
        cache = out / "judge_cache.jsonl"
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, fake.url, str(n), str(out), str(ROOT / "benchmarks")], env=env
        )
        while child.poll() is None and (not cache.exists() or cache.read_bytes().count(b"\n") < n // 2):
            time.sleep(0.05)
        in_flight = fake.in_flight  # requests the server was handling at the kill
        os.kill(child.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        child.wait()
        first = list(fake.seen)
        answered = {r.prompt for r in first if r.answered_at is not None and r.answered_at <= killed_at}
        cached = cache.read_bytes().count(b"\n")
        wall, verdicts = judge(rows, fake.url, out)
        resent = {r.prompt for r in fake.seen[len(first) :]} & {r.prompt for r in first}
    rebought = len(resent & answered)
    lost, dup, diff = check(rows, verdicts, reference)
    passed = len(resent) <= in_flight + rebought and lost == dup == diff == 0
    line = (
        f"| kill -9 at {cached} cached, then rerun | rerun {wall:.1f} s | - | {len(first)} + "
        f"{len(fake.seen) - len(first)} | {lost} / {dup} / {diff} | re-sent {len(resent)}, "
        f"in flight at the kill {in_flight} (of the re-sent, {rebought} had been answered but not yet "
        f"cached) | {'pass' if passed else 'FAIL'} |"
    )
    return line, passed


BATCH_CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from bench_judge import judge_batch, predictions
judge_batch(predictions(int(sys.argv[2])), sys.argv[1], Path(sys.argv[3]), poll_s=2.0)
"""


def judge_batch(rows: list[dict], url: str, out: Path, *, poll_s: float) -> tuple[float, list]:
    """The judge through the Batch API (what `t2s eval --judge MODEL --batch` runs)."""
    return judge(rows, url, out, llm_batch=True, llm_batch_poll_s=poll_s)


def batch_runs(rows: list[dict], reference: dict | None) -> list[tuple[str, bool]]:
    from text2sql_cli.llm_client.cache import load_batches

    out_lines = []
    with tempfile.TemporaryDirectory() as tmp, server() as fake:
        wall, verdicts = judge_batch(rows, fake.url, Path(tmp), poll_s=0.5)
        polls = sum(b["polls"] for b in fake.batches.values())
        lost, dup, diff = check(rows, verdicts, reference)
        passed = len(fake.batches) == 1 and polls == 3 and lost == dup == diff == 0
        out_lines.append(
            (
                f"| Batch API, {len(rows)} rows, completes on the 3rd poll (0.5 s apart) | {wall:.1f} s | - "
                f"| {len(fake.batches)} batch, {polls} polls | {lost} / {dup} / {diff} | "
                f"no chat requests: {fake.count() - len(rows) == 0} | {'pass' if passed else 'FAIL'} |",
                passed,
            )
        )
    with tempfile.TemporaryDirectory() as tmp, server() as fake:
        out = Path(tmp)
        cache = out / "judge_cache.jsonl"
        env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        child = subprocess.Popen(
            [sys.executable, "-c", BATCH_CHILD, fake.url, str(len(rows)), str(out), str(ROOT / "benchmarks")],
            env=env,
        )
        while child.poll() is None and not any(b.get("batch_id") for b in load_batches(cache)):
            time.sleep(0.05)
        time.sleep(0.5)  # into the polling
        polls_before = sum(b["polls"] for b in fake.batches.values())
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        wall, verdicts = judge_batch(rows, fake.url, out, poll_s=0.5)
        polls = sum(b["polls"] for b in fake.batches.values())
        lost, dup, diff = check(rows, verdicts, reference)
        passed = len(fake.batches) == 1 and lost == dup == diff == 0
        out_lines.append(
            (
                f"| Batch API, kill -9 while polling (after {polls_before} poll), then rerun "
                f"| rerun {wall:.1f} s | - | {len(fake.batches)} batch, {polls} polls in all "
                f"| {lost} / {dup} / {diff} | "
                f"resubmitted: {len(fake.batches) > 1} | {'pass' if passed else 'FAIL'} |",
                passed,
            )
        )
    return out_lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 requests instead of 1000")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--runs", default="clean,faults,no-hedge,kill,batch")
    ap.add_argument("--fault-rate", type=float, default=0.2)
    args = ap.parse_args()
    n = args.n or (100 if args.quick else 1000)
    runs = args.runs.split(",")
    rows = predictions(n)
    floor = n / RPM * 60
    print(f"{n} judge requests, 300 +- 100 ms latency, {RPM} rpm announced and enforced: floor {floor:.1f} s")

    ok = True
    lines = []
    reference = None
    plan = [("clean", 0.0, {}, 1.1), ("faults", args.fault_rate, {}, 1.3)]
    plan.append(("no-hedge", args.fault_rate, {"llm_hedge": False}, 1.3))
    for name, rate, flags, target in plan:
        if name not in runs:
            continue
        with tempfile.TemporaryDirectory() as out, server(rate) as fake:
            wall, verdicts = judge(rows, fake.url, Path(out), **flags)
            attempts, limited = fake.count(), fake.rate_limited
        lost, dup, diff = check(rows, verdicts, reference)
        if name == "clean":
            reference = {v.id: v.verdict for v in verdicts}
        passed = wall <= target * floor and lost == dup == diff == 0
        ok &= passed
        label = {
            "clean": "no faults",
            "faults": f"{rate:.0%} faults, adaptive timeout + hedging (the default)",
            "no-hedge": f"{rate:.0%} faults, adaptive timeout only (T2S_LLM_HEDGE=false)",
        }[name]
        lines.append(
            f"| {label} | {wall:.1f} s | {wall / floor:.2f}x (target {target}x) | {attempts} "
            f"| {lost} / {dup} / {diff} | {limited} 429s from the limiter | {'pass' if passed else 'FAIL'} |"
        )
        print(lines[-1], flush=True)
    if "kill" in runs:
        line, passed = kill_run(rows, reference)
        ok &= passed
        lines.append(line)
        print(line, flush=True)
    if "batch" in runs:
        for line, passed in batch_runs(rows, reference):
            ok &= passed
            lines.append(line)
            print(line, flush=True)
    print(
        "\n| run | wall | vs floor | HTTP attempts | lost / dup / different | notes | |\n"
        "|---|---|---|---|---|---|---|"
    )
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
