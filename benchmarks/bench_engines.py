"""EX on a real server engine: the 112-row ko_text2sql test split, K=5 throwaway databases
per row on a local MariaDB (target < 15 s), and the same on PostgreSQL where the DDL loads.

    eval "$(.ci/services.sh start)"      # local MariaDB + PostgreSQL on 127.0.0.1
    python benchmarks/bench_engines.py [--test-split PATH] [--workers 2] [--mariadb URL] [--postgres URL]

Predictions are the gold queries with every third `>=` turned into `>` (as bench_ex.py does), so
matching and mismatching paths are both timed. The time includes synthesis, creating, filling and
dropping 5 databases per row, and running gold and prediction on each. The benchmark checks after
the run that no throwaway database is left on the server.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from pathlib import Path

from text2sql_cli.evaluation.execution import ExecutionSettings, ex_column
from text2sql_cli.evaluation.report import Prediction
from text2sql_cli.sql.engines import check_url, server_for

SPLIT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ko_text2sql" / "origin_test.jsonl"


def run(path: Path, engine: str, url: str, workers: int) -> None:
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
    settings = ExecutionSettings(workers=workers, engine=engine, db_url=url, instances=5)
    start = time.perf_counter()
    column = ex_column(preds, settings)
    elapsed = time.perf_counter() - start
    statuses = Counter(c["status"] for c in column)
    left = server_for(engine, check_url(engine, url)).leftovers()
    print(
        f"{engine}: {len(preds)} rows x K=5 in {elapsed:.1f} s with {workers} worker(s); "
        f"statuses {dict(statuses)}; throwaway databases left: {len(left)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--test-split", type=Path, default=SPLIT)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mariadb", default=os.environ.get("T2S_TEST_MARIADB_URL"))
    parser.add_argument("--postgres", default=os.environ.get("T2S_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    if not args.mariadb and not args.postgres:
        raise SystemExit('no server: run `eval "$(.ci/services.sh start)"` or pass --mariadb/--postgres URL')
    if args.mariadb:
        run(args.test_split, "mariadb", args.mariadb, args.workers)
    if args.postgres:
        run(args.test_split, "postgres", args.postgres, args.workers)


if __name__ == "__main__":
    main()
