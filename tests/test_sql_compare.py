"""Result comparison in the three modes."""

from text2sql_cli.sql.compare import has_top_level_order_by, rows_match, strip_distinct


def test_column_permutation_counts_as_equal():
    assert rows_match([(1, "a"), (2, "b")], [("a", 1), ("b", 2)], mode="spider")


def test_duplicate_counts_differ():
    assert not rows_match([(1,), (1,), (2,)], [(1,), (2,), (2,)], mode="spider")


def test_row_order_ignored_without_order_by():
    assert rows_match([(1,), (2,)], [(2,), (1,)], order_matters=False)


def test_row_order_matters_with_top_level_order_by():
    assert not rows_match([(1,), (2,)], [(2,), (1,)], order_matters=True)


def test_int_equals_float():
    assert rows_match([(1,)], [(1.0,)])


def test_float_tolerance_is_configurable():
    assert rows_match([(0.1 + 0.2,)], [(0.3,)], float_tol=1e-6) and not rows_match(
        [(1.0,)], [(1.1,)], float_tol=1e-6
    )


def test_null_equals_null():
    assert rows_match([(None, 1)], [(None, 1)])


def test_both_empty_are_equal():
    assert rows_match([], [], mode="spider")


def test_bird_ignores_duplicates_but_not_column_order():
    assert rows_match([(1, "a")], [(1, "a"), (1, "a")], mode="bird") and not rows_match(
        [(1, "a")], [("a", 1)], mode="bird"
    )


def test_sqleval_accepts_extra_predicted_columns():
    assert rows_match([(1,), (2,)], [(2, "b"), (1, "a")], mode="sqleval")


def test_sqleval_rejects_missing_rows():
    assert not rows_match([(1,), (2,)], [(1, "a")], mode="sqleval")


def test_order_by_in_subquery_is_not_top_level():
    assert not has_top_level_order_by("SELECT a FROM (SELECT a FROM t ORDER BY a) AS s")


def test_order_by_in_outer_query_is_top_level():
    assert has_top_level_order_by("SELECT a FROM t WHERE a IN (SELECT b FROM u) ORDER BY a DESC LIMIT 3")


def test_order_by_in_string_literal_is_not_order_by():
    assert not has_top_level_order_by("SELECT a FROM t WHERE name = 'order by'")


def test_spider_mode_removes_distinct_like_the_official_evaluator():
    assert strip_distinct("SELECT DISTINCT a, COUNT(DISTINCT b) FROM t") == "SELECT a, COUNT(b) FROM t"
