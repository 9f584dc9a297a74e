"""Judge throughput against the local fake server (issue 4, "Performance").

    python benchmarks/bench_judge.py            # 1000 requests, 300 ms latency, 600 rpm (~5 min)
    python benchmarks/bench_judge.py --quick    # 100 requests (~35 s)

Three runs through `run_judge`, each with a fresh cache:
  1. clean server: must finish within 1.1x the rate-limit floor (n / rpm minutes);
  2. 20 % of *attempts* (retries included) fail with 429 (Retry-After 1 s), 500, 503, a dropped
     connection, a malformed body, malformed content or a hang (client timeout 2 s): within 1.3x,
     with no verdict lost, duplicated or wrong;
  3. a sequential baseline, one request at a time with no rate limit (the latency bound), measured
     on a sample and extrapolated to n (printed as such).
Failed attempts count against the rpm limit, as they do at OpenAI, so run 2 sends ~25 % more.
Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import openai  # noqa: E402,F401  (imported up front: a one-time process cost, not throughput)
from fake_openai import FakeOpenAI  # noqa: E402

from text2sql_cli.evaluation.judge import JudgeConfig, run_judge  # noqa: E402

FAULTS = ("429", "500", "503", "drop", "bad_body", "bad_content", "hang")


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


def run(rows: list[dict], server: FakeOpenAI, *, rpm: int, concurrency: int = 64) -> tuple[float, list]:
    cfg = JudgeConfig.build(
        "gpt-4-turbo-preview",
        base_url=server.url,
        rpm=rpm,
        tpm=None,
        llm_timeout_s=2.0,
        llm_max_attempts=10,
        llm_concurrency=concurrency,
    )
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        report = run_judge(rows, cfg, Path(out), progress=False)
        return time.perf_counter() - started, report.verdicts


def check(rows: list[dict], verdicts: list) -> tuple[int, int, int]:
    """(lost, duplicated, wrong): wrong means a yes/no that differs from the truth or a failure."""
    ids = [v.id for v in verdicts]
    lost = len({r["id"] for r in rows} - set(ids))
    duplicated = len(ids) - len(set(ids))
    truth = {r["id"]: "yes" if r["sql"] == r["gold"] else "no" for r in rows}
    wrong = sum(1 for v in verdicts if v.verdict != truth[v.id])
    return lost, duplicated, wrong


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100 requests instead of 1000")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--rpm", type=int, default=600)
    ap.add_argument("--latency", type=float, default=0.3)
    ap.add_argument("--fault-rate", type=float, default=0.2)
    ap.add_argument("--seq-sample", type=int, default=50, help="rows timed for the sequential baseline")
    args = ap.parse_args()
    n = args.n or (100 if args.quick else 1000)
    rows = predictions(n)
    floor = n / args.rpm * 60
    print(f"{n} judge requests, {args.latency * 1000:.0f} ms latency, {args.rpm} rpm: floor {floor:.1f} s")

    ok = True
    lines = []
    for name, rate, target in (("clean", 0.0, 1.1), (f"{args.fault_rate:.0%} faults", args.fault_rate, 1.3)):
        with FakeOpenAI(
            latency_s=args.latency,
            fault_rate=rate,
            fault_kinds=FAULTS,
            retry_after="1",
            hang_s=4.0,
            lifetime_s=3600,
            seed=1,
        ) as server:
            wall, verdicts = run(rows, server, rpm=args.rpm)
            attempts = server.count()
        lost, dup, wrong = check(rows, verdicts)
        passed = wall <= target * floor and lost == dup == wrong == 0
        ok &= passed
        lines.append(
            f"| t2s, {name} | {wall:.1f} s | {wall / floor:.2f}x (target {target}x) | {attempts} "
            f"| {lost} / {dup} / {wrong} | {'pass' if passed else 'FAIL'} |"
        )
        print(lines[-1], flush=True)

    sample = rows[: min(args.seq_sample, n)]
    with FakeOpenAI(latency_s=args.latency, lifetime_s=3600) as server:
        wall, verdicts = run(sample, server, rpm=10**6, concurrency=1)
    lost, dup, wrong = check(sample, verdicts)
    per = wall / len(sample)
    lines.append(
        f"| sequential, one at a time ({len(sample)} timed, x{n / len(sample):g} extrapolated) "
        f"| {per * n:.1f} s (est.) | {per * n / floor:.2f}x | {len(sample)} | {lost} / {dup} / {wrong} | - |"
    )
    print(lines[-1])
    print("\n| run | wall | vs floor | HTTP attempts | lost / dup / wrong | |\n|---|---|---|---|---|---|")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
