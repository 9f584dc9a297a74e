"""Checks on examples/sample.jsonl, the synthetic multi-domain Text-to-SQL sample shipped with t2s.

Every context must load into SQLite and every gold query must execute there, after sqlglot
transpiles both from MySQL to SQLite (tables are empty; only "runs without error" is checked).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
import sqlglot  # a declared dependency: its absence must fail, not skip

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SAMPLE = EXAMPLES / "sample.jsonl"
KEYS = ("id", "db_id", "context", "question", "answer")
# Table names of the real ko_text2sql game domain (db_id 1); our sample must use its own.
REAL_GAME_TABLES = {
    "players",
    "characters",
    "quests",
    "quest_progresses",
    "skill_trees",
    "clans",
    "equipments",
    "npcs",
    "inventory_items",
}


def _rows() -> list[dict]:
    with SAMPLE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


ROWS = _rows()


def _table_names(context: str) -> set[str]:
    return {m.lower() for m in re.findall(r"CREATE\s+TABLE\s+`?(\w+)`?", context, flags=re.IGNORECASE)}


def test_rows_have_all_keys_and_unique_ids():
    assert ROWS, "sample.jsonl is empty"
    for row in ROWS:
        assert set(row) == set(KEYS), row.get("id")
        for key in KEYS:
            value = row[key]
            assert value is not None and str(value).strip(), (row["id"], key)
        assert isinstance(row["id"], str)
        assert isinstance(row["db_id"], int) and not isinstance(row["db_id"], bool)
        assert _table_names(row["context"]), row["id"]
    ids = [row["id"] for row in ROWS]
    assert len(ids) == len(set(ids)), "duplicate ids"
    assert ids == sorted(ids), "rows must be sorted by id"


def test_file_is_utf8_jsonl_without_ascii_escapes():
    text = SAMPLE.read_text(encoding="utf-8")
    assert "\\u" not in text, "write with ensure_ascii=False"
    assert text.endswith("\n")
    assert all(line.strip() for line in text.splitlines())


def test_enough_domains_with_enough_rows():
    counts = Counter(row["db_id"] for row in ROWS)
    big = [db_id for db_id, n in counts.items() if n >= 20]
    assert len(big) >= 5, counts
    assert 1 in counts, "db_id 1 (game domain) must be present"


def test_table_text_is_consistent_within_a_domain():
    seen: dict[tuple[int, str], str] = {}
    for row in ROWS:
        for stmt in re.split(r";\s*(?=CREATE\s+TABLE)", row["context"].strip(), flags=re.IGNORECASE):
            stmt = stmt.strip().rstrip(";")
            (name,) = _table_names(stmt)
            key = (row["db_id"], name)
            assert seen.setdefault(key, stmt) == stmt, f"{row['id']}: table {name} differs"


def _transpile(sql: str) -> list[str]:
    return [s for s in sqlglot.transpile(sql, read="mysql", write="sqlite") if s.strip()]


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_gold_query_runs_on_sqlite(row):
    db = sqlite3.connect(":memory:")
    try:
        statements = _transpile(row["context"])
        assert len(statements) == len(_table_names(row["context"]))
        for stmt in statements:
            db.execute(stmt)
        query = _transpile(row["answer"])
        assert len(query) == 1, query
        db.execute(query[0]).fetchall()
    finally:
        db.close()


def test_game_domain_avoids_real_dataset_tables():
    game = [row for row in ROWS if row["db_id"] == 1]
    assert game
    used = set().union(*(_table_names(row["context"]) for row in game))
    assert not used & REAL_GAME_TABLES, used & REAL_GAME_TABLES
    for row in game:
        referenced = {
            m.lower()
            for m in re.findall(
                r"\b(?:FROM|JOIN|REFERENCES)\s+`?(\w+)`?",
                row["context"] + " " + row["answer"],
                flags=re.IGNORECASE,
            )
        }
        assert not referenced & REAL_GAME_TABLES, (row["id"], referenced & REAL_GAME_TABLES)


def test_the_gold_sql_scored_as_a_prediction_is_all_correct(tmp_path):
    """The demo's "the metric itself" step: EX says correct on every gold query of the sample."""
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    rows = SAMPLE.read_text(encoding="utf-8").splitlines()[:20]
    data = tmp_path / "test.jsonl"
    data.write_text("".join(line + "\n" for line in rows), encoding="utf-8")
    args = [
        "eval",
        str(data),
        "--columns",
        "sql=answer,gold=answer",
        "--metric",
        "ex",
        "--out",
        str(tmp_path / "ev"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    statuses = [
        json.loads(line)["status"] for line in (tmp_path / "ev/results.jsonl").read_text().splitlines()
    ]
    assert statuses == ["correct"] * len(rows)
