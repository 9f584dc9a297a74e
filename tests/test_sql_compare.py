"""Result comparison in the four modes, and the query preparation each mode makes."""

import pytest

from text2sql_cli.sql.compare import (
    CompareGaveUp,
    remove_distinct,
    rows_match,
    spider_query,
    sqleval_golds,
    values_equal,
)
from text2sql_cli.sql.prepare import prepare_query


def test_column_permutation_counts_as_equal():
    assert rows_match([(1, "a"), (2, "b")], [("a", 1), ("b", 2)], mode="spider")


def test_duplicate_counts_differ():
    assert not rows_match([(1,), (1,), (2,)], [(1,), (2,), (2,)], mode="spider")


def test_row_order_ignored_without_order_by():
    assert rows_match([(1,), (2,)], [(2,), (1,)], order_matters=False)


def test_row_order_matters_with_top_level_order_by():
    assert not rows_match([(1,), (2,)], [(2,), (1,)], order_matters=True)


def test_int_equals_float():
    assert rows_match([(1,)], [(1.0,)]) and rows_match([(1,)], [(1.0,)], mode="bird")


def test_float_tolerance_is_configurable():
    assert rows_match([(0.1 + 0.2,)], [(0.3,)], float_tol=1e-6) and not rows_match(
        [(1.0,)], [(1.1,)], float_tol=1e-6
    )


def test_tolerance_is_a_distance_not_a_rounding_grid():
    assert rows_match([(0.1,)], [(0.1000009,)], mode="strict", float_tol=1e-6)
    assert not rows_match([(0.1,)], [(0.1000011,)], mode="strict", float_tol=1e-6)


def test_spider_and_bird_compare_numbers_exactly_by_default():
    assert not rows_match([(0.1 + 0.2,)], [(0.3,)], mode="spider")
    assert not rows_match([(0.1 + 0.2,)], [(0.3,)], mode="bird")


def test_null_equals_null():
    assert rows_match([(None, 1)], [(None, 1)])


def test_both_empty_are_equal():
    assert rows_match([], [], mode="spider")


def test_strict_counts_duplicates():
    assert not rows_match([(1,), (1,)], [(1,)], mode="strict")


def test_bird_ignores_duplicates_but_not_column_order():
    assert rows_match([(1, "a")], [(1, "a"), (1, "a")], mode="bird") and not rows_match(
        [(1, "a")], [("a", 1)], mode="bird"
    )


def test_sqleval_accepts_extra_predicted_columns():
    assert rows_match([(1,), (2,)], [(2, "b"), (1, "a")], mode="sqleval")


def test_sqleval_rejects_missing_rows():
    assert not rows_match([(1,), (2,)], [(1, "a")], mode="sqleval")


def test_sqleval_matches_columns_as_multisets_not_deduplicated_projections():
    # gold column (1, 1, 2); the predicted column holding {1, 2} has (1, 2, 2): not the same multiset
    assert not rows_match([(1,), (1,), (2,)], [(1, "x"), (2, "y"), (2, "z")], mode="sqleval")


def test_sqleval_ordered_question_keeps_descending_order():
    assert not rows_match([(3,), (2,), (1,)], [(1,), (2,), (3,)], mode="sqleval", order_matters=True)
    assert rows_match([(3,), (2,), (1,)], [(1,), (2,), (3,)], mode="sqleval", order_matters=False)


def test_sqleval_empty_results_need_the_same_columns():
    assert not rows_match([], [], mode="sqleval", gold_columns=("a", "b"), pred_columns=("a",))


@pytest.mark.parametrize("mode", ["strict", "spider", "bird", "sqleval"])
@pytest.mark.parametrize(
    "value", [float("inf"), float("-inf"), float("nan"), 1e308, -1e308, 10**400], ids=repr
)
def test_extreme_values_compare_without_raising(mode, value):
    assert isinstance(rows_match([(value, 1.5)], [(value, 1.5)], mode=mode, float_tol=1e-6), bool)
    assert rows_match([(value,)], [(0.5,)], mode=mode, float_tol=1e-6) is False


def test_huge_int_against_float_is_not_equal_and_does_not_raise():
    assert values_equal(10**400, 1e308, 1e-6) is False


def test_many_columns_with_one_value_set_are_matched_quickly():
    gold = [tuple(range(12)) for _ in range(50)]
    pred = [tuple(reversed(row)) for row in gold]
    assert rows_match(gold, pred, mode="strict")
    same = [(i % 2,) * 14 for i in range(40)]
    assert rows_match(same, same, mode="strict", max_steps=50)  # identical columns are tried once


def test_column_search_that_exceeds_its_bound_gives_up_with_a_reason():
    gold = [(1, 2, 3, 4), (2, 3, 4, 1), (3, 4, 1, 2), (4, 1, 2, 3)]  # every column holds {1, 2, 3, 4}
    pred = [tuple(reversed(row)) for row in gold]
    with pytest.raises(CompareGaveUp, match="gave up after 2 steps"):
        rows_match(gold, pred, max_steps=2)
    assert rows_match(gold, pred)  # within the default bound the permutation is found


def test_order_by_in_subquery_is_not_top_level():
    assert prepare_query("SELECT a FROM (SELECT a FROM t ORDER BY a) AS s", "sqlite", "strict")[1] is False


def test_order_by_in_outer_query_is_top_level():
    sql = "SELECT a FROM t WHERE a IN (SELECT b FROM u) ORDER BY a DESC LIMIT 3"
    assert prepare_query(sql, "sqlite", "strict")[1] is True


def test_order_by_in_string_literal_is_not_order_by():
    assert prepare_query("SELECT a FROM t WHERE name = 'order by'", "sqlite", "strict")[1] is False


def test_spider_order_is_the_official_text_heuristic():
    assert prepare_query("SELECT a FROM (SELECT a FROM t ORDER BY a) AS s", "sqlite", "spider")[1] is True


def test_spider_mode_removes_distinct_like_the_official_evaluator():
    assert prepare_query("SELECT DISTINCT a, COUNT(DISTINCT b) FROM t", "sqlite", "spider")[0] == (
        "SELECT  a, COUNT( b) FROM t"
    )


def test_keep_distinct_keeps_it():
    sql = "SELECT DISTINCT a FROM t"
    assert prepare_query(sql, "sqlite", "spider", "gold", True)[0] == sql


def test_strict_mode_keeps_distinct():
    assert prepare_query("SELECT DISTINCT a FROM t", "sqlite", "strict")[0] == "SELECT DISTINCT a FROM t"


def test_spider_rewrites_value_only_in_predictions():
    assert spider_query("SELECT a FROM t WHERE b = value", role="pred") == "SELECT a FROM t WHERE b = 1"
    assert spider_query("SELECT value FROM t", role="gold") == "SELECT value FROM t"


def test_spider_joins_split_comparison_operators():
    assert spider_query("a > = 1 AND b < = 2 AND c ! = 3", role="pred") == "a >= 1 AND b <= 2 AND c != 3"


def test_remove_distinct_leaves_literals_and_quoted_names():
    assert remove_distinct("SELECT x FROM t WHERE y = 'distinct' AND \"distinct\" = 1") == (
        "SELECT x FROM t WHERE y = 'distinct' AND \"distinct\" = 1"
    )


def test_sqleval_gold_alternatives_follow_get_all_minimal_queries():
    # the case of defog sql-eval's tests/test_eval.py::test_get_all_minimal_queries
    gold = "SELECT {persons.name,persons.id} FROM persons WHERE persons.age > 25 GROUP BY {}"
    assert sqleval_golds(gold) == [
        "SELECT persons.name FROM persons WHERE persons.age > 25 GROUP BY persons.name",
        "SELECT persons.id FROM persons WHERE persons.age > 25 GROUP BY persons.id",
        "SELECT persons.name, persons.id FROM persons WHERE persons.age > 25 "
        "GROUP BY persons.name, persons.id",
    ]
    assert sqleval_golds("SELECT a FROM t; SELECT b FROM t;") == ["SELECT a FROM t", "SELECT b FROM t"]
