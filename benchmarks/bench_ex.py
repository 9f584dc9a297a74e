"""Execution-accuracy benchmarks.

1. EX on the 112-row ko_text2sql test split, database synthesis included (target < 3 s).
2. EX on 1000 gold/prediction pairs over real SQLite databases made here at runtime
   (target < 5 s with 2 workers, mode spider).
3. Agreement of `--mode spider`, `bird` and `sqleval` with re-implementations of the official
   evaluators (tests/ex_reference.py) on the case set tests/ex_cases.py, and of spider and bird
   on the 1000 pairs of (2), and of the comparison functions on random result tables; the cases
   where t2s deliberately differs are counted apart.
4. Extraction on the messy-output fixture (tests/fixtures/messy_outputs.jsonl).

    python benchmarks/bench_ex.py [--test-split PATH] [--workers 2]

Predictions are the gold queries with some changed, so both matching and mismatching paths are
timed: on the test split every third query has `>=` turned into `>` (where it has one; the
benchmark prints how many such boundary changes the synthesized databases told apart), on the real
databases every second query is a rewrite from PAIRS (some equivalent, some wrong). Nothing is
downloaded; the databases go to a temp folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from text2sql_cli.evaluation.execution import ExecutionSettings, ex_column
from text2sql_cli.evaluation.report import Prediction
from text2sql_cli.sql.prepare import prepare_query

SPLIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ko_text2sql" / "origin_test.jsonl"
TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))  # the reference evaluators and the case set live with the tests


def bench_test_split(path: Path, workers: int) -> tuple[float, float, int, int]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    preds = [
        Prediction(
            str(i),
            str(r["db_id"]),
            r["question"],
            r["context"],
            r["answer"],
            None,
            r["answer"] if i % 3 else r["answer"].replace(">=", ">"),
            "given",
        )
        for i, r in enumerate(rows)
    ]
    start = time.perf_counter()
    column = ex_column(preds, ExecutionSettings(workers=workers))
    elapsed = time.perf_counter() - start
    scored = [c["ex"] for c in column if c["ex"] is not None]
    changed = [c for p, c in zip(preds, column) if p.sql != p.gold and c["ex"] is not None]
    told_apart = sum(1 for c in changed if not c["ex"])
    return elapsed, sum(scored) / len(scored), len(changed), told_apart


def make_databases(root: Path, n_dbs: int = 10, rows: int = 2000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    names = []
    for d in range(n_dbs):
        db_id = f"shop{d}"
        (root / db_id).mkdir(parents=True)
        conn = sqlite3.connect(root / db_id / f"{db_id}.sqlite")
        conn.executescript(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, city TEXT, age INT);"
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INT REFERENCES customers(id),"
            " amount REAL, status TEXT, created TEXT);"
        )
        conn.executemany(
            "INSERT INTO customers VALUES (?, ?, ?, ?)",
            [
                (i, f"c{i}", rng.choice(["Seoul", "Busan", "Incheon", "Daegu"]), rng.randint(18, 80))
                for i in range(1, rows + 1)
            ],
        )
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?)",
            [
                (
                    i,
                    rng.randint(1, rows),
                    round(rng.uniform(1, 500), 2),
                    rng.choice(["paid", "open", "void"]),
                    f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                )
                for i in range(1, 2 * rows + 1)
            ],
        )
        conn.commit()
        conn.close()
        names.append(db_id)
    return names


PAIRS = [
    ("SELECT name FROM customers WHERE age >= {n}", "SELECT name FROM customers WHERE age > {n}"),
    (
        "SELECT city, COUNT(*) FROM customers GROUP BY city",
        "SELECT COUNT(*), city FROM customers GROUP BY city",
    ),
    (
        "SELECT c.name, SUM(o.amount) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE "
        "o.status = 'paid' GROUP BY c.id",
        "SELECT c.name, SUM(o.amount) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id",
    ),
    (
        "SELECT id, amount FROM orders WHERE created BETWEEN '2023-0{m}-01' AND '2023-0{m}-28' ORDER BY "
        "amount DESC LIMIT 20",
        "SELECT id, amount FROM orders WHERE created >= '2023-0{m}-01' AND created <= '2023-0{m}-28' ORDER "
        "BY amount DESC LIMIT 20",
    ),
    (
        "SELECT AVG(age) FROM customers WHERE city = 'Seoul'",
        "SELECT AVG(age) FROM customers WHERE city <> 'Seoul'",
    ),
]


def real_pairs(root: Path, n: int = 1000) -> list[Prediction]:
    rng = random.Random(1)
    db_ids = make_databases(root)
    preds = []
    for i in range(n):
        gold, other = rng.choice(PAIRS)
        values = {"n": rng.randint(20, 70), "m": rng.randint(1, 9)}
        pred = other if i % 2 else gold
        preds.append(
            Prediction(
                str(i),
                rng.choice(db_ids),
                None,
                None,
                gold.format(**values),
                None,
                pred.format(**values),
                "given",
            )
        )
    return preds


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the pool's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def bench_real(root: Path, preds: list[Prediction], workers: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, EX). On a shared machine the wall time depends on the other
    jobs; the CPU time does not, and on an idle machine the wall time is about CPU / workers."""
    settings = ExecutionSettings(workers=workers, db_dir=root)
    cpu, start = _cpu_seconds(), time.perf_counter()
    column = ex_column(preds, settings)
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    scored = [c["ex"] for c in column if c["ex"] is not None]
    return elapsed, cpu, sum(scored) / len(scored)


def reference(mode: str, root: Path, db: str, gold: str, pred: str):
    from ex_reference import bird_verdict, spider_verdict, sqleval_verdict

    random.seed(0)
    if mode == "spider":
        return spider_verdict(str(root), db, gold, pred)
    if mode == "bird":
        return bird_verdict(str(root), db, gold, pred)
    return sqleval_verdict(str(root), db, gold, pred, prepare_query(gold, "sqlite", "strict")[1])


def agreement(mode: str, root: Path, cases: list[dict], workers: int) -> tuple[int, int, list[str]]:
    """(agreeing, compared, notes of deliberate differences) for t2s vs the reference."""
    preds = [
        Prediction(str(i), c["db"], None, None, c["gold"], None, c["pred"], "given")
        for i, c in enumerate(cases)
    ]
    ours = [r["ex"] for r in ex_column(preds, ExecutionSettings(mode=mode, db_dir=root, workers=workers))]
    agree, compared, deliberate = 0, 0, []
    for case, verdict in zip(cases, ours):
        official = reference(mode, root, case["db"], case["gold"], case["pred"])
        if mode in case.get("differs", {}):
            deliberate.append(f"{case['note']} (t2s {verdict}, official {official})")
            continue
        compared += 1
        agree += verdict == official
    return agree, compared, deliberate


def bench_agreement(workers: int, real_root: Path, real: list[Prediction]) -> None:
    from ex_cases import CASES, build_databases

    with tempfile.TemporaryDirectory() as tmp:
        root = build_databases(Path(tmp))
        for mode in ("spider", "bird", "sqleval"):
            agree, compared, deliberate = agreement(mode, root, CASES, workers)
            print(f"  {mode:8} case set: {agree}/{compared} agree; {len(deliberate)} deliberate differences")
            for note in deliberate:
                print(f"           deliberate: {note}")
    cases = [{"db": p.db_id, "gold": p.gold, "pred": p.sql} for p in real]
    for mode in ("spider", "bird"):
        agree, compared, _ = agreement(mode, real_root, cases, workers)
        print(f"  {mode:8} 1000 real pairs: {agree}/{compared} agree")


def bench_random_tables() -> None:
    """The comparison core against the official comparison functions on random result tables
    (the generators of tests/test_ex_random.py)."""
    import pandas as pd
    from ex_reference import _compare_df, _subset_df, result_eq
    from test_ex_random import _mixed_pools, _pairs, _typed_pools

    from text2sql_cli.sql.compare import rows_match

    pairs = list(_pairs(1, 3000, _mixed_pools))
    agree = 0
    for gold, pred, ordered in pairs:
        random.seed(0)
        agree += rows_match(gold, pred, mode="spider", order_matters=ordered) == result_eq(
            gold, pred, ordered
        )
    print(f"  spider   random tables vs result_eq: {agree}/{len(pairs)} agree")
    bird = sum(
        rows_match(g, p, mode="bird") == (set(g) == set(p)) for g, p, _ in _pairs(2, 3000, _mixed_pools)
    )
    print(f"  bird     random tables vs set(gold) == set(pred): {bird}/3000 agree")
    agree = total = 0
    for gold, pred, ordered in _pairs(3, 1500, _typed_pools):
        if not gold or not pred or any(len({type(v) for v in col}) > 1 for col in zip(*pred)):
            continue
        g_cols, p_cols = [f"g{i}" for i in range(len(gold[0]))], [f"p{i}" for i in range(len(pred[0]))]
        g_df, p_df = pd.DataFrame(gold, columns=g_cols), pd.DataFrame(pred, columns=p_cols)
        question = "sort them" if ordered else "a question"
        official = bool(_compare_df(g_df, p_df, "", question) or _subset_df(g_df, p_df, "", question))
        ours = rows_match(
            gold, pred, mode="sqleval", order_matters=ordered, gold_columns=g_cols, pred_columns=p_cols
        )
        agree, total = agree + (ours == official), total + 1
    print(f"  sqleval  random tables vs compare_df or subset_df: {agree}/{total} agree")


def bench_extraction() -> None:
    from text2sql_cli.sql.extract import extract_sql

    rows = [
        json.loads(line) for line in (TESTS / "fixtures" / "messy_outputs.jsonl").read_text().splitlines()
    ]
    right = sum(extract_sql(r["raw"], stop=("###",)).sql == r["sql"] for r in rows)
    start = time.perf_counter()
    for r in rows:
        extract_sql(r["raw"], stop=("###",))
    per = (time.perf_counter() - start) / len(rows) * 1000
    print(
        f"Extraction on {len(rows)} messy outputs: {right}/{len(rows)} give the intended SQL "
        f"({per:.2f} ms each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-split", type=Path, default=SPLIT)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if args.test_split.exists():
        seconds, ex, changed, told_apart = bench_test_split(args.test_split, args.workers)
        print(
            f"EX, 112-row test split, synthesis included (K=5, {args.workers} workers): {seconds:.2f} s "
            f"(EX {ex:.1%})"
        )
        print(
            f"  '>=' -> '>' changes told apart from gold on the synthesized databases: {told_apart}/{changed}"
        )
    else:
        print(f"skipped the test-split benchmark: {args.test_split} is absent")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        real = real_pairs(root)
        seconds, cpu, ex = bench_real(root, real, args.workers)
        print(
            f"EX, 1000 pairs over 10 real SQLite databases (mode spider, {args.workers} workers): "
            f"{seconds:.2f} s wall, {cpu:.2f} s CPU (EX {ex:.1%}; load average {os.getloadavg()[0]:.1f})"
        )
        print("Agreement with the official evaluators (re-implemented in tests/ex_reference.py):")
        bench_agreement(args.workers, root, real)
    bench_random_tables()
    bench_extraction()


if __name__ == "__main__":
    main()
