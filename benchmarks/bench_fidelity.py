"""How often EX on synthesized databases gets near misses right (issue 12 §4).

    python benchmarks/fidelity/make_pairs.py       # (re)build the labelled set from examples/sample.jsonl
    eval "$(.ci/services.sh start)"                # MariaDB for the second column (optional)
    python benchmarks/bench_fidelity.py [--k 5] [--mariadb URL]

The labelled set (benchmarks/fidelity/pairs.jsonl) holds (gold, prediction) pairs, each
`equivalent` or `different`; every `different` pair carries a witness database on which their
results differ. For the SQLite path and, given a server, the MariaDB engine, t2s eval scores every
pair on K synthesized databases (strict mode, seed 0, the clock pinned where the set was made):

    sensitivity = different pairs scored wrong / different pairs
    specificity = equivalent pairs scored right / equivalent pairs

Pairs whose gold does not run on an engine are excluded and counted. Before scoring, each witness is
checked: on SQLite (and on MariaDB, loaded into a throwaway database) gold and prediction must give
different results on it; a witness that does not separate them on MariaDB is reported (the label
then holds for the emulation only). Misses are listed by mutation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections import Counter
from pathlib import Path

from text2sql_cli.evaluation.execution import ExecutionSettings, ex_column
from text2sql_cli.evaluation.report import Prediction

PAIRS = Path(__file__).resolve().parent / "fidelity" / "pairs.jsonl"
NOW = "2024-03-16 10:20:30"


def load() -> list[dict]:
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]


def check_witnesses(pairs: list[dict], mariadb: str | None) -> tuple[int, set, int]:
    """(witnesses that separate on SQLite, ids of pairs whose witness separates on MariaDB, checks made)."""
    from sqlglot import parse_one

    from text2sql_cli.sql import mysql_emulation
    from text2sql_cli.sql.compare import rows_match
    from text2sql_cli.sql.dialect import to_sqlite
    from text2sql_cli.sql.sandbox import execute, open_snapshot, snapshot
    from text2sql_cli.sql.schema import build_database, parse_schema

    mysql_emulation.pin_now(NOW)
    engine = None
    if mariadb:
        from text2sql_cli.sql.engines import check_url, server_for
        from text2sql_cli.sql.engines.server import TableRows

        engine = server_for("mariadb", check_url("mariadb", mariadb))
    on_sqlite = checked = 0
    on_mariadb: set = set()
    for pair in pairs:
        if pair["label"] != "different":
            continue
        schema = parse_schema(pair["context"], "mysql")
        ordered = parse_one(pair["gold"], read="mysql").args.get("order") is not None
        conn = build_database(schema)
        for table in schema.tables:
            names = ", ".join(f'"{c.name}"' for c in table.columns)
            marks = ", ".join("?" for _ in table.columns)
            conn.executemany(
                f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', pair["witness"][table.name]
            )
        db = open_snapshot(snapshot(conn))
        g, p = (
            execute(db, to_sqlite(pair["gold"], "mysql").sql),
            execute(db, to_sqlite(pair["pred"], "mysql").sql),
        )
        on_sqlite += g.ok and (
            not p.ok or not rows_match(g.rows, p.rows, mode="strict", order_matters=ordered)
        )
        if engine is not None:
            tables = [
                TableRows(
                    t.name, tuple(c.name for c in t.columns), tuple(map(tuple, pair["witness"][t.name]))
                )
                for t in schema.tables
            ]
            with engine.throwaway(pair["context"], tables) as name:
                g, p = (
                    engine.execute(pair["gold"], database=name),
                    engine.execute(pair["pred"], database=name),
                )
            checked += 1
            if g.ok and (not p.ok or not rows_match(g.rows, p.rows, mode="strict", order_matters=ordered)):
                on_mariadb.add(pair["id"])
    mysql_emulation.unpin()
    return on_sqlite, on_mariadb, checked


def score(pairs: list[dict], k: int, engine: str, url: str | None, workers: int, confirmed=None) -> dict:
    """`confirmed`: ids of different pairs whose witness separates them on this engine (for a
    second sensitivity over those only)."""
    preds = [
        Prediction(p["id"], p["db_id"], p["question"], p["context"], p["gold"], None, p["pred"], "given")
        for p in pairs
    ]
    settings = ExecutionSettings(
        instances=k,
        engine=engine,
        db_url=url,
        now=NOW,
        workers=workers,
        mode="strict",
    )
    start = time.perf_counter()
    column = ex_column(preds, settings)
    elapsed = time.perf_counter() - start
    counts: Counter = Counter()
    misses: Counter = Counter()
    confirmed_right = confirmed_n = 0
    for pair, verdict in zip(pairs, column):
        if confirmed is not None and pair["id"] in confirmed and verdict["ex"] is not None:
            confirmed_n += 1
            confirmed_right += verdict["ex"] is False
        if verdict["ex"] is None:
            counts[f"excluded:{verdict['status']}"] += 1
            continue
        right = verdict["ex"] is (pair["label"] == "equivalent")
        counts[(pair["label"], right)] += 1
        if not right:
            misses[(pair["label"], pair["mutation"])] += 1
    diff_n = counts[("different", True)] + counts[("different", False)]
    eq_n = counts[("equivalent", True)] + counts[("equivalent", False)]
    return {
        "engine": engine,
        "sensitivity": counts[("different", True)] / diff_n if diff_n else None,
        "specificity": counts[("equivalent", True)] / eq_n if eq_n else None,
        "different": diff_n,
        "equivalent": eq_n,
        "excluded": {k: v for k, v in counts.items() if isinstance(k, str)},
        "misses": {f"{lab}/{mut}": n for (lab, mut), n in sorted(misses.items())},
        "seconds": elapsed,
        "sensitivity_confirmed": confirmed_right / confirmed_n if confirmed_n else None,
        "confirmed": confirmed_n,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mariadb", default=os.environ.get("T2S_TEST_MARIADB_URL"))
    args = parser.parse_args()
    pairs = load()
    labels = Counter(p["label"] for p in pairs)
    print(
        f"{len(pairs)} pairs ({dict(labels)}), K={args.k}, clock {NOW}, "
        f"{platform.node()} {time.strftime('%F')}"
    )
    on_sqlite, on_mariadb, checked = check_witnesses(pairs, args.mariadb)
    print(f"witnesses separating the pair: SQLite {on_sqlite}/{labels['different']}", end="")
    print(f", MariaDB {len(on_mariadb)}/{checked}" if checked else " (MariaDB not checked)")
    runs = [("sqlite", None)] + ([("mariadb", args.mariadb)] if args.mariadb else [])
    for engine, url in runs:
        r = score(pairs, args.k, engine, url, args.workers, on_mariadb if engine == "mariadb" else None)
        print(
            f"{engine}: sensitivity {r['sensitivity']:.3f} ({r['different']} different), "
            f"specificity {r['specificity']:.3f} ({r['equivalent']} equivalent), "
            f"excluded {r['excluded'] or 0}, {r['seconds']:.1f} s"
        )
        if r["sensitivity_confirmed"] is not None:
            print(
                f"   sensitivity on the {r['confirmed']} different pairs whose witness separates them on "
                f"{engine} too: {r['sensitivity_confirmed']:.3f}"
            )
        for name, n in r["misses"].items():
            print(f"   missed {name}: {n}")


if __name__ == "__main__":
    main()
