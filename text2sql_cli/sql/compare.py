"""Compare query results in one of three named modes.

    rows_match(gold, pred, mode=, order_matters=, float_tol=) -> bool
    has_top_level_order_by(sql) -> bool      (parsed, not a substring search)
    strip_distinct(sql) -> str               (the `spider` mode's DISTINCT handling)

Modes (the report names the one used, since published EX differs by points between them):

- `spider`: the official test-suite semantics (Zhong et al. 2020 `result_eq`). Rows are a
  multiset, predicted columns may be any permutation of the gold columns, row order matters only
  when gold has a top-level ORDER BY, and two empty results are equal. As the official evaluator
  does by default, DISTINCT is removed from both queries before they run (`strip_distinct`).
- `bird`: rows as a set (duplicates and order ignored), column order matters (BIRD's
  `set(pred) == set(gold)`).
- `sqleval`: defog's sql-eval: rows deduplicated, order ignored, and the predicted result may have
  extra columns as long as some choice of its columns reproduces the gold result.

In every mode NULL equals NULL, and numbers are equal when they agree within `float_tol`
(absolute; 1 equals 1.0). Text is compared exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

MODES = ("spider", "bird", "sqleval")
_BIG_INT = 2**53


def canonical(value, float_tol: float):
    """A hashable key: numbers quantized to `float_tol`, everything else unchanged."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int) and (abs(value) >= _BIG_INT or float_tol <= 0):
        return value
    if isinstance(value, (int, float)):
        if value != value:  # NaN
            return "NaN"
        if float_tol <= 0:
            return value
        return ("num", round(value / float_tol))
    return value


def rows_match(
    gold: Sequence[Sequence],
    pred: Sequence[Sequence],
    *,
    mode: str = "spider",
    order_matters: bool = False,
    float_tol: float = 1e-6,
) -> bool:
    if mode not in MODES:
        raise ValueError(f"unknown comparison mode {mode!r}; choose one of {', '.join(MODES)}")
    if _has_float(gold) or _has_float(pred):
        g = [tuple(canonical(v, float_tol) for v in row) for row in gold]
        p = [tuple(canonical(v, float_tol) for v in row) for row in pred]
    else:  # ints, text and NULL compare as they are (the common case; canonical would not change them)
        g, p = [tuple(row) for row in gold], [tuple(row) for row in pred]
    if mode == "bird":
        return set(g) == set(p)
    if mode == "sqleval":
        return _sqleval_match(g, p)
    return _spider_match(g, p, order_matters)


def _has_float(rows: Sequence[Sequence]) -> bool:
    return any(isinstance(v, float) for row in rows for v in row)


def _spider_match(g: list[tuple], p: list[tuple], order_matters: bool) -> bool:
    if not g and not p:
        return True
    if len(g) != len(p) or len(g[0]) != len(p[0]):
        return False
    if (g == p) if order_matters else (Counter(g) == Counter(p)):  # identity permutation first
        return True
    for perm in _column_maps(g, p):
        permuted = [tuple(row[j] for j in perm) for row in p]
        if order_matters:
            if permuted == g:
                return True
        elif Counter(permuted) == Counter(g):
            return True
    return False


def _sqleval_match(g: list[tuple], p: list[tuple]) -> bool:
    gold = set(g)
    if not gold and not p:
        return True
    if not gold or not p:
        return False
    if len(next(iter(p))) < len(next(iter(gold))):
        return False
    return any({tuple(row[j] for j in perm) for row in p} == gold for perm in _column_maps(g, p))


def _column_maps(g: list[tuple], p: list[tuple]) -> Iterator[tuple[int, ...]]:
    """Injective maps gold column -> pred column whose value sets agree (a necessary condition)."""
    n_gold, n_pred = len(g[0]), len(p[0])
    gold_sets = [{row[i] for row in g} for i in range(n_gold)]
    pred_sets = [{row[j] for row in p} for j in range(n_pred)]
    candidates = [[j for j in range(n_pred) if pred_sets[j] == gold_sets[i]] for i in range(n_gold)]

    def extend(prefix: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
        i = len(prefix)
        if i == n_gold:
            yield prefix
            return
        for j in candidates[i]:
            if j not in prefix:
                yield from extend(prefix + (j,))

    yield from extend(())


def has_top_level_order_by(sql: str, dialect: str = "sqlite") -> bool:
    """True when the outermost query (not a subquery or CTE) has ORDER BY."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (SqlglotError, ValueError):
        return "order by" in " ".join(sql.lower().split())  # unparseable: the official heuristic
    return tree is not None and tree.args.get("order") is not None


def strip_distinct(sql: str, dialect: str = "sqlite") -> str:
    """Remove every DISTINCT (SELECT DISTINCT and COUNT(DISTINCT x)), as Spider's evaluator does."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (SqlglotError, ValueError):
        return sql
    if tree is None:
        return sql
    return strip_distinct_tree(tree).sql(dialect="sqlite")


def strip_distinct_tree(tree):
    """`strip_distinct` on a parsed tree."""
    from sqlglot import exp

    def fix(node):
        if isinstance(node, exp.Select) and node.args.get("distinct") is not None:
            distinct = node.args["distinct"]
            if not distinct.args.get("on"):
                node.set("distinct", None)
            return node
        if isinstance(node, exp.Distinct) and len(node.expressions) == 1:
            return node.expressions[0]
        return node

    return tree.transform(fix)
