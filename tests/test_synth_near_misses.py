"""Synthesized databases that tell near misses apart (issue 12 §3): LIKE neighbours, dates around a
pinned now, NULL vs '', duplicates, BETWEEN/IN ends, re-synthesis of constant gold results, and
tables the DDL names only in a foreign key."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.sql import mysql_emulation
from text2sql_cli.sql.goldmatch import ExTask, score_example

HEROES = (
    "CREATE TABLE heroes (hero_id INT PRIMARY KEY AUTO_INCREMENT, hero_name VARCHAR(100) NOT NULL, "
    "title VARCHAR(50), hero_level INT NOT NULL, note TEXT, created_at DATETIME NOT NULL, joined DATE);"
)


@pytest.fixture(autouse=True)
def _pinned_clock():
    mysql_emulation.pin_now("2024-03-16 10:20:30")
    yield
    mysql_emulation.unpin()


def _verdict(gold, pred, ddl=HEROES, **options):
    return score_example(ExTask("x", ddl, gold, pred, instances=5, seed=0, **options))


@pytest.mark.parametrize(
    "gold, near_miss",
    [
        (
            "SELECT hero_name FROM heroes WHERE title LIKE '%용사%'",
            "SELECT hero_name FROM heroes WHERE title LIKE '용사%'",
        ),
        (
            "SELECT hero_name FROM heroes WHERE title LIKE '용사%'",
            "SELECT hero_name FROM heroes WHERE title = '용사'",
        ),
        (
            "SELECT hero_name FROM heroes WHERE title LIKE '%용사'",
            "SELECT hero_name FROM heroes WHERE title LIKE '%용사%'",
        ),
        (
            "SELECT hero_name FROM heroes WHERE title LIKE '용_'",
            "SELECT hero_name FROM heroes WHERE title LIKE '용%'",
        ),
        (
            "SELECT hero_name FROM heroes WHERE hero_name LIKE '%-%'",
            "SELECT hero_name FROM heroes WHERE hero_name IN ('김-철수', '이-영희')",
        ),
    ],
)
def test_like_pattern_is_told_apart_from_its_neighbour(gold, near_miss):
    assert _verdict(gold, near_miss)["status"] == "wrong_result"
    assert _verdict(gold, gold)["status"] == "correct"


@pytest.mark.parametrize(
    "gold, near_miss",
    [
        (
            "SELECT COUNT(*) FROM heroes WHERE joined >= CURDATE() - INTERVAL 7 DAY",
            "SELECT COUNT(*) FROM heroes WHERE joined >= CURDATE() - INTERVAL 30 DAY",
        ),
        (
            "SELECT COUNT(*) FROM heroes WHERE DATE(created_at) = CURDATE()",
            "SELECT COUNT(*) FROM heroes WHERE created_at >= NOW() - INTERVAL 1 DAY",
        ),
        (
            "SELECT hero_name FROM heroes "
            "WHERE YEAR(joined) = YEAR(CURDATE()) AND MONTH(joined) = MONTH(CURDATE())",
            "SELECT hero_name FROM heroes WHERE joined >= CURDATE() - INTERVAL 1 MONTH",
        ),
    ],
)
def test_dates_around_the_pinned_now_tell_clock_queries_apart(gold, near_miss):
    right = _verdict(gold, gold)
    assert right["status"] == "correct" and not right["low_information"]
    assert _verdict(gold, near_miss)["status"] == "wrong_result"


def test_null_and_empty_string_are_told_apart():
    gold = "SELECT hero_id FROM heroes WHERE note IS NULL"
    assert _verdict(gold, "SELECT hero_id FROM heroes WHERE note = ''")["status"] == "wrong_result"
    assert (
        _verdict(gold, "SELECT hero_id FROM heroes WHERE COALESCE(note, '') = ''")["status"] == "wrong_result"
    )


def test_count_of_a_column_skips_its_nulls():
    gold = "SELECT COUNT(title) FROM heroes"
    assert _verdict(gold, "SELECT COUNT(*) FROM heroes")["status"] == "wrong_result"


def test_duplicates_make_distinct_matter():
    gold = "SELECT DISTINCT hero_level, title FROM heroes"
    assert _verdict(gold, "SELECT hero_level, title FROM heroes")["status"] == "wrong_result"
    gold = "SELECT COUNT(DISTINCT title) FROM heroes"
    assert _verdict(gold, "SELECT COUNT(title) FROM heroes")["status"] == "wrong_result"


@pytest.mark.parametrize(
    "gold, near_miss",
    [
        (
            "SELECT hero_id FROM heroes WHERE hero_level BETWEEN 10 AND 20",
            "SELECT hero_id FROM heroes WHERE hero_level > 10 AND hero_level < 20",
        ),
        (
            "SELECT hero_id FROM heroes WHERE hero_level BETWEEN 10 AND 20",
            "SELECT hero_id FROM heroes WHERE hero_level >= 10 AND hero_level < 20",
        ),
        (
            "SELECT hero_id FROM heroes WHERE hero_level IN (3, 7)",
            "SELECT hero_id FROM heroes WHERE hero_level BETWEEN 3 AND 7",
        ),
    ],
)
def test_between_ends_and_in_lists_are_boundaries(gold, near_miss):
    assert _verdict(gold, near_miss)["status"] == "wrong_result"


def test_constant_gold_is_resynthesized_then_reported_low_information():
    verdict = _verdict("SELECT 1", "SELECT 1")
    assert verdict["resynthesized"] == 2 and verdict["low_information"] and verdict["databases"] == 15
    assert verdict["status"] == "correct"
    excluded = _verdict("SELECT 1", "SELECT 1", exclude_low_information=True)
    assert excluded["status"] == "low_information" and excluded["ex"] is None


ORDERS_ONLY = (
    "CREATE TABLE orders (order_id INT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(10,2), "
    "FOREIGN KEY (customer_id) REFERENCES customers(customer_id));"
)
GOLD_JOIN = (
    "SELECT c.name, SUM(o.amount) FROM orders o JOIN customers c ON o.customer_id = c.customer_id "
    "WHERE c.grade = 'VIP' GROUP BY c.name"
)


def test_table_named_only_in_a_foreign_key_is_inferred_and_scored():
    right = _verdict(GOLD_JOIN, GOLD_JOIN, ddl=ORDERS_ONLY)
    assert right["status"] == "correct" and right["schema_inferred"] == ("customers",)
    wrong = _verdict(GOLD_JOIN, GOLD_JOIN.replace("'VIP'", "'GOLD'"), ddl=ORDERS_ONLY)
    assert wrong["status"] == "wrong_result"


def test_no_infer_schema_keeps_the_gold_error():
    verdict = _verdict(GOLD_JOIN, GOLD_JOIN, ddl=ORDERS_ONLY, infer_schema=False)
    assert verdict["status"] == "gold_error" and verdict["gold_error_kind"] == "missing_table"


def test_eval_records_the_pinned_now_and_excludes_low_information(tmp_path):
    rows = [
        {"id": "1", "db_id": "1", "question": "q", "context": HEROES, "gold": "SELECT 1", "sql": "SELECT 1"},
        {
            "id": "2",
            "db_id": "1",
            "question": "q",
            "context": HEROES,
            "gold": "SELECT hero_name FROM heroes WHERE hero_level >= 5",
            "sql": "SELECT hero_name FROM heroes WHERE hero_level > 5",
        },
    ]
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out"
    args = ["eval", str(preds), "--out", str(out), "--metric", "ex", "--now", "2024-03-16 10:20:30"]
    result = CliRunner().invoke(app, [*args, "--exclude-low-information"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["now"] == "2024-03-16 10:20:30"
    got = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(r["status"], r["ex"]) for r in got] == [("low_information", None), ("wrong_result", False)]
