"""The labelled equivalence set of benchmarks/bench_fidelity.py (issue 12 §4): at least 300 pairs
from examples/sample.jsonl, and every `different` pair's witness database separates it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlglot import parse_one

from text2sql_cli.sql import mysql_emulation
from text2sql_cli.sql.compare import rows_match
from text2sql_cli.sql.dialect import to_sqlite
from text2sql_cli.sql.sandbox import execute, open_snapshot, snapshot
from text2sql_cli.sql.schema import build_database, parse_schema

PAIRS = Path(__file__).resolve().parents[1] / "benchmarks" / "fidelity" / "pairs.jsonl"
SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample.jsonl"


@pytest.fixture(scope="module")
def pairs():
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_set_has_300_labelled_pairs_from_the_sample(pairs):
    assert len(pairs) >= 300
    assert {p["label"] for p in pairs} == {"equivalent", "different"}
    sample_golds = {
        json.loads(line)["answer"].strip().rstrip(";")
        for line in SAMPLE.read_text(encoding="utf-8").splitlines()
    }
    assert all(p["gold"] in sample_golds for p in pairs)  # the sample's gold, not the real test split
    assert all(p["pred"] != p["gold"] for p in pairs)


def test_every_different_pair_has_a_witness_that_separates_it(pairs):
    mysql_emulation.pin_now("2024-03-16 10:20:30")
    try:
        for pair in (p for p in pairs if p["label"] == "different"):
            schema = parse_schema(pair["context"], "mysql")
            conn = build_database(schema)
            for table in schema.tables:
                names = ", ".join(f'"{c.name}"' for c in table.columns)
                marks = ", ".join("?" for _ in table.columns)
                rows = pair["witness"][table.name]
                conn.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', rows)
            db = open_snapshot(snapshot(conn))
            gold = execute(db, to_sqlite(pair["gold"], "mysql").sql)
            pred = execute(db, to_sqlite(pair["pred"], "mysql").sql)
            ordered = parse_one(pair["gold"], read="mysql").args.get("order") is not None
            assert gold.ok, pair["id"]
            assert not pred.ok or not rows_match(
                gold.rows, pred.rows, mode="strict", order_matters=ordered
            ), pair["id"]
    finally:
        mysql_emulation.unpin()
