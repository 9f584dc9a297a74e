"""Synthesized test-suite databases tell wrong predictions from equivalent rewrites."""

import pytest

from text2sql_cli.sql.goldmatch import ExTask, score_example
from text2sql_cli.sql.sandbox import execute, open_snapshot
from text2sql_cli.sql.synth import gold_literals, instances_for

GAME = """CREATE TABLE players (
  player_id INT PRIMARY KEY AUTO_INCREMENT,
  username VARCHAR(255) UNIQUE NOT NULL,
  date_joined DATETIME NOT NULL,
  last_login DATETIME
);
CREATE TABLE characters (
  character_id INT PRIMARY KEY AUTO_INCREMENT,
  player_id INT NOT NULL,
  name VARCHAR(255) NOT NULL,
  level INT NOT NULL,
  character_class VARCHAR(255) NOT NULL,
  FOREIGN KEY (player_id) REFERENCES players(player_id)
);"""

SHOP = """CREATE TABLE products (
  product_id SERIAL PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  price NUMERIC(10, 2) NOT NULL,
  category VARCHAR(50)
);
CREATE TABLE orders (
  order_id SERIAL PRIMARY KEY,
  product_id INT NOT NULL REFERENCES products(product_id),
  quantity INT NOT NULL,
  ordered_at DATE NOT NULL
);"""

CASES = [
    # (ddl, gold, equivalent rewrite, wrong prediction)
    (
        GAME,
        "SELECT name FROM characters WHERE level >= 50",
        "SELECT c.name FROM characters AS c WHERE NOT c.level < 50",
        "SELECT name FROM characters WHERE level > 50",
    ),
    (
        GAME,
        "SELECT COUNT(*) FROM players WHERE username LIKE '%admin%'",
        "SELECT COUNT(player_id) FROM players WHERE INSTR(username, 'admin') > 0",
        "SELECT COUNT(*) FROM players WHERE username LIKE 'admin%'",
    ),
    (
        GAME,
        "SELECT p.username FROM players AS p JOIN characters AS c ON p.player_id = c.player_id WHERE "
        "c.character_class = '전사'",
        "SELECT username FROM players, characters WHERE players.player_id = characters.player_id AND "
        "character_class = '전사'",
        "SELECT p.username FROM players AS p JOIN characters AS c ON p.player_id = c.player_id WHERE "
        "c.character_class <> '전사'",
    ),
    (
        GAME,
        "SELECT player_id FROM players WHERE date_joined BETWEEN '2021-01-01' AND '2021-12-31'",
        "SELECT player_id FROM players WHERE date_joined >= '2021-01-01' AND date_joined <= '2021-12-31'",
        "SELECT player_id FROM players WHERE date_joined > '2021-01-01' AND date_joined < '2021-12-31'",
    ),
    (
        SHOP,
        "SELECT category, SUM(price) FROM products GROUP BY category",
        "SELECT category, TOTAL(price) FROM products GROUP BY category HAVING COUNT(*) > 0",
        "SELECT category, MAX(price) FROM products GROUP BY category",
    ),
    (
        SHOP,
        "SELECT name FROM products WHERE product_id IN (SELECT product_id FROM orders WHERE quantity > 3)",
        "SELECT p.name FROM products p WHERE EXISTS (SELECT 1 FROM orders o WHERE o.product_id = "
        "p.product_id AND o.quantity > 3)",
        "SELECT name FROM products WHERE product_id IN (SELECT product_id FROM orders WHERE quantity >= 3)",
    ),
    (
        SHOP,
        "SELECT name FROM products ORDER BY price DESC LIMIT 3",
        "SELECT name FROM products ORDER BY price DESC LIMIT 3 OFFSET 0",
        "SELECT name FROM products ORDER BY price ASC LIMIT 3",
    ),
]


def _status(ddl, gold, pred, mode="strict"):
    return score_example(ExTask("x", ddl, gold, pred, instances=5, seed=0, mode=mode))["status"]


@pytest.mark.parametrize("ddl, gold, rewrite, wrong", CASES)
def test_equivalent_rewrite_is_correct(ddl, gold, rewrite, wrong):
    assert _status(ddl, gold, rewrite) == "correct"


@pytest.mark.parametrize("ddl, gold, rewrite, wrong", CASES)
def test_wrong_prediction_is_told_apart(ddl, gold, rewrite, wrong):
    assert _status(ddl, gold, wrong) == "wrong_result"


def test_synthesis_is_deterministic_for_a_seed():
    gold = "SELECT name FROM characters WHERE level >= 50"
    from text2sql_cli.sql.schema import parse_schema
    from text2sql_cli.sql.synth import synthesize

    literals = gold_literals(gold)
    assert synthesize(parse_schema(GAME), literals, k=3, seed=7) == synthesize(
        parse_schema(GAME), literals, k=3, seed=7
    )


def test_different_seeds_give_different_databases():
    gold = "SELECT name FROM characters WHERE level >= 50"
    assert instances_for(GAME, gold, k=2, seed=1) != instances_for(GAME, gold, k=2, seed=2)


def test_gold_literals_are_seeded_into_compared_columns():
    gold = "SELECT name FROM characters WHERE character_class = '마법사'"
    hits = [execute(open_snapshot(db), gold).rows for db in instances_for(GAME, gold, k=5, seed=0)]
    assert sum(1 for rows in hits if rows) >= 3


def test_foreign_keys_hold_in_synthesized_rows():
    dbs = instances_for(GAME, None, k=3, seed=0)
    orphans = "SELECT COUNT(*) FROM characters WHERE player_id NOT IN (SELECT player_id FROM players)"
    assert all(execute(open_snapshot(db), orphans).rows == ((0,),) for db in dbs)


def test_nullable_columns_get_nulls():
    dbs = instances_for(GAME, None, k=5, seed=0)
    assert any(
        execute(open_snapshot(db), "SELECT COUNT(*) FROM players WHERE last_login IS NULL").rows[0][0]
        for db in dbs
    )


def test_like_literal_yields_matching_and_non_matching_strings():
    values = dict(gold_literals("SELECT 1 FROM players WHERE username LIKE '%admin%'").values)[
        ("", "username")
    ]
    assert any("admin" in v for v in values) and any("admin" not in v for v in values)


def test_spider_mode_ignores_distinct_like_the_official_evaluator():
    gold = "SELECT DISTINCT character_class FROM characters"
    assert _status(GAME, gold, "SELECT character_class FROM characters", mode="spider") == "correct"
    assert _status(GAME, gold, "SELECT character_class FROM characters") == "wrong_result"  # strict


def test_empty_gold_result_is_flagged_low_information():
    verdict = score_example(
        ExTask(
            "x",
            GAME,
            "SELECT name FROM characters WHERE 1 = 0",
            "SELECT name FROM characters WHERE 0",
            instances=3,
        )
    )
    assert verdict["status"] == "correct" and verdict["gold_empty"] and verdict["low_information"]
