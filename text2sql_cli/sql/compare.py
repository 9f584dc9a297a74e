"""Compare query results in one of four named modes.

    rows_match(gold, pred, mode=, order_matters=, float_tol=) -> bool   (raises CompareGaveUp)

Modes (the report names the one used, since published EX differs by points between them):

- `strict` (the default on synthesized databases): rows are a multiset, row order matters when the
  gold query has a top-level ORDER BY, predicted columns may be any permutation of the gold
  columns, numbers are equal when |a - b| <= float_tol.
- `spider`: the official test-suite evaluator's `result_eq` (taoyds/test-suite-sql-eval
  `exec_eval.py`): its quick rejection, then a column permutation under which the rows are equal
  as a multiset (as a list when order matters). The query rewrites it makes before running
  (DISTINCT removed, `value` -> 1, `> =` joined, order from the text) are in `spider_query`.
- `bird`: BIRD's `set(predicted) == set(gold)`: duplicates and row order ignored, column order
  significant.
- `sqleval`: defog sql-eval's `compare_df` or `subset_df`: the results are equal after dropping
  duplicate rows, or every gold column matches a distinct predicted column as a multiset (same
  row count, extra predicted columns allowed) and the matched columns hold the gold rows. Rows are
  sorted unless the question is ordered; then sql-eval's own normalization applies (rows sorted
  by the columns that are already ascending, else kept in order). The subset check compares
  floats as pandas does there (relative 1e-5).

Numbers: 1 equals 1.0 everywhere. With `float_tol` 0 the comparison is Python's `==` (what the
official scripts use); `inf`, `-inf`, NaN and 1e308 never raise. Column matching is bounded:
columns are paired by their value multisets first, identical columns are tried once, and a search
that still needs more than `max_steps` steps raises `CompareGaveUp` with the reason.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections import Counter
from collections.abc import Sequence

MODES = ("strict", "spider", "bird", "sqleval")
MAX_STEPS = 20_000  # partial column maps tried before the search gives up
SQLEVAL_RTOL, SQLEVAL_ATOL = 1e-5, 1e-8  # pandas' defaults in sql-eval's subset_df


class CompareGaveUp(Exception):
    """The column-permutation search hit its bound; the verdict is unknown, not wrong."""


def rows_match(
    gold: Sequence[Sequence],
    pred: Sequence[Sequence],
    *,
    mode: str = "strict",
    order_matters: bool = False,
    float_tol: float = 0.0,
    gold_columns: Sequence[str] | None = None,
    pred_columns: Sequence[str] | None = None,
    max_steps: int | None = None,
    deadline: float | None = None,
) -> bool:
    if mode not in MODES:
        raise ValueError(f"unknown comparison mode {mode!r}; choose one of {', '.join(MODES)}")
    g, p = [tuple(row) for row in gold], [tuple(row) for row in pred]
    tol = float_tol if float_tol > 0 and (_has_float(g) or _has_float(p)) else 0.0
    if mode == "bird":
        return _bag_equal(list(dict.fromkeys(g)), list(dict.fromkeys(p)), tol)
    if mode == "sqleval":
        return _sqleval_match(g, p, order_matters, tol, gold_columns, pred_columns)
    if not g and not p:
        return True
    if len(g) != len(p) or len(g[0]) != len(p[0]):
        return False
    # The official quick rejection can only turn a match into a mismatch: it sorts each row's
    # values by str(value) + str(type), so 1 and 1.0 may sort apart. It is checked after a match,
    # and skipped where it cannot reject (the same rows, no floats).
    quirk = mode == "spider" and tol == 0
    if tol == 0 and ((g == p) if order_matters else Counter(g) == Counter(p)):
        if not quirk or not (_has_float(g) or _has_float(p)) or _same_types(g, p, order_matters):
            return True
        return _quick_accept(g, p, order_matters)
    if len(g[0]) == 1:
        return _list_equal(g, p, tol) if order_matters else _bag_equal(g, p, tol)
    search = _Search(g, p, order_matters, tol, MAX_STEPS if max_steps is None else max_steps, deadline)
    return search.run() and (not quirk or _quick_accept(g, p, order_matters))


def values_equal(a, b, tol: float, rtol: float = 0.0) -> bool:
    """Equality of two result values; numbers within `tol + rtol * |b|`; never raises."""
    if a == b:
        return True
    if not (_is_number(a) and _is_number(b)):
        return False
    if a != a and b != b:  # NaN equals NaN
        return True
    if tol <= 0 and rtol <= 0:
        return False
    try:
        return abs(a - b) <= tol + rtol * abs(b)
    except OverflowError:  # an int beyond float range against a float: they differ
        return False


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _has_float(rows: list[tuple]) -> bool:
    return any(isinstance(v, float) for row in rows for v in row)


def _same_types(g: list[tuple], p: list[tuple], order_matters: bool) -> bool:
    """Equal rows that also hold values of the same types (then the quick rejection passes)."""
    typed_g = [(row, tuple(map(type, row))) for row in g]
    typed_p = [(row, tuple(map(type, row))) for row in p]
    return typed_g == typed_p if order_matters else Counter(typed_g) == Counter(typed_p)


def _quick_accept(g: list[tuple], p: list[tuple], order_matters: bool) -> bool:
    """The official `quick_rej`: rows with their values sorted (by str(value) + str(type)) must agree."""
    s1 = [_unorder(row) for row in g]
    s2 = [_unorder(row) for row in p]
    return s1 == s2 if order_matters else set(s1) == set(s2)


def _unorder(row: tuple) -> tuple:
    return tuple(sorted(row, key=lambda x: str(x) + str(type(x))))


def _order_key(v):
    """A total order over result values (NULL last, as pandas sorts)."""
    if v is None:
        return (3, 0, "")
    if _is_number(v) or isinstance(v, bool):
        return (0, 0 if math.isnan(v) else v, "") if isinstance(v, float) else (0, v, "")
    if isinstance(v, str):
        return (1, 0, v)
    return (2, 0, repr(v))


def _row_key(row: tuple) -> tuple:
    return tuple(_order_key(v) for v in row)


def _rows_equal(a: tuple, b: tuple, tol: float, rtol: float = 0.0) -> bool:
    return len(a) == len(b) and all(values_equal(x, y, tol, rtol) for x, y in zip(a, b))


def _bag_equal(g: list[tuple], p: list[tuple], tol: float) -> bool:
    """`g` and `p` are equal as multisets of rows (numbers within `tol`)."""
    if len(g) != len(p):
        return False
    if tol == 0:
        return Counter(g) == Counter(p)
    if Counter(g) == Counter(p):
        return True
    # Rows that differ only in their numbers share a key; within a key, sorted rows pair up.
    groups: dict[tuple, list[list[tuple]]] = {}
    for side, rows in enumerate((g, p)):
        for row in rows:
            key = tuple(("num",) if _is_number(v) else v for v in row)
            groups.setdefault(key, [[], []])[side].append(row)
    for gold_rows, pred_rows in groups.values():
        if len(gold_rows) != len(pred_rows):
            return False
        pairs = zip(sorted(gold_rows, key=_row_key), sorted(pred_rows, key=_row_key))
        if not all(_rows_equal(a, b, tol) for a, b in pairs):
            return False
    return True


def _list_equal(g: list[tuple], p: list[tuple], tol: float, rtol: float = 0.0) -> bool:
    return len(g) == len(p) and all(_rows_equal(a, b, tol, rtol) for a, b in zip(g, p))


class _Search:
    """Is there a column permutation under which `p` equals `g` (as a multiset, or as a list)?

    Gold column i may take predicted column j only if their value multisets agree (their
    sequences, when order matters); predicted columns with identical values are interchangeable,
    so only one of them is tried; each partial map is pruned by comparing the projected rows."""

    def __init__(self, g, p, order_matters, tol, max_steps, deadline):
        self.g, self.p, self.ordered, self.tol = g, p, order_matters, tol
        self.max_steps, self.deadline, self.steps = max_steps, deadline, 0
        n = len(g[0])
        gold_cols = [tuple(row[i] for row in g) for i in range(n)]
        pred_cols = [tuple(row[j] for row in p) for j in range(n)]
        first_of: dict[tuple, int] = {}
        self.twin = [first_of.setdefault(col, j) for j, col in enumerate(pred_cols)]
        if tol == 0:  # exact: compare each column's values (or their counts) once
            gold_keys = gold_cols if order_matters else [Counter(c) for c in gold_cols]
            pred_keys = pred_cols if order_matters else [Counter(c) for c in pred_cols]
            agree = [[gold_keys[i] == pred_keys[j] for j in range(n)] for i in range(n)]
        else:
            agree = [[self._columns_agree(gold_cols[i], pred_cols[j]) for j in range(n)] for i in range(n)]
        self.candidates = [[j for j in range(n) if agree[i][j]] for i in range(n)]

    def _columns_agree(self, a: tuple, b: tuple) -> bool:
        if self.ordered:
            return all(values_equal(x, y, self.tol) for x, y in zip(a, b))
        return _bag_equal([(v,) for v in a], [(v,) for v in b], self.tol)

    def run(self) -> bool:
        if any(not c for c in self.candidates):
            return False
        order = sorted(range(len(self.candidates)), key=lambda i: len(self.candidates[i]))
        return self._extend(order, {}, set())

    def _extend(self, order: list[int], chosen: dict[int, int], used: set[int]) -> bool:
        self.steps += 1
        if self.steps > self.max_steps or (self.deadline is not None and time.monotonic() > self.deadline):
            raise CompareGaveUp(
                f"column matching gave up after {self.steps - 1} steps: {len(order)} columns with "
                "interchangeable values"
            )
        # prune partial maps once they pair two columns (one column alone was checked above)
        check = len(chosen) >= 2 and (len(chosen) == len(order) or len(order) > 3)
        if check and not self._projection_agrees(chosen):
            return False
        if len(chosen) == len(order):
            return True
        i = order[len(chosen)]
        tried: set[int] = set()  # one of each group of identical predicted columns
        for j in self.candidates[i]:
            if j in used or self.twin[j] in tried:
                continue
            tried.add(self.twin[j])
            chosen[i] = j
            used.add(j)
            if self._extend(order, chosen, used):
                return True
            del chosen[i]
            used.discard(j)
        return False

    def _projection_agrees(self, chosen: dict[int, int]) -> bool:
        gold_idx = list(chosen)
        pred_idx = [chosen[i] for i in gold_idx]
        g = [tuple(row[i] for i in gold_idx) for row in self.g]
        p = [tuple(row[j] for j in pred_idx) for row in self.p]
        return _list_equal(g, p, self.tol) if self.ordered else _bag_equal(g, p, self.tol)


def _sqleval_match(g, p, ordered, tol, gold_columns, pred_columns) -> bool:
    """defog sql-eval: `compare_df(gold, gen) or subset_df(gold, gen)`."""
    if not g and not p:  # equal frames only if they have the same columns
        return gold_columns is None or pred_columns is None or len(gold_columns) == len(pred_columns)
    if len(g) == len(p) and (not g or len(g[0]) == len(p[0])) and _list_equal(g, p, tol):
        return True  # compare_df's first check: the same values in the same places
    if g and p and len(g[0]) == len(p[0]):  # compare_df after normalizing both tables
        gold_t = _by_column_name(g, gold_columns)
        pred_t = _by_column_name(p, pred_columns)
        if _list_equal(_normalize(gold_t, ordered), _normalize(pred_t, ordered), tol):
            return True
    if not g:
        return False  # subset_df: an empty gold result is never a subset
    # pandas' assert_series_equal / assert_frame_equal compare floats within rtol 1e-5, atol 1e-8
    tol, rtol = max(tol, SQLEVAL_ATOL), SQLEVAL_RTOL
    matched = _match_columns_greedily(g, p, tol, rtol)
    if matched is None:
        return False
    projected = [tuple(row[j] for j in matched) for row in p]
    return _list_equal(_normalize(g, ordered), _normalize(projected, ordered), tol, rtol)


def _by_column_name(rows: list[tuple], names: Sequence[str] | None) -> list[tuple]:
    """Columns in the alphabetical order of their names (sql-eval's `reindex(sorted(columns))`)."""
    if not names or len(names) != len(rows[0]):
        return rows
    order = sorted(range(len(names)), key=lambda i: names[i])
    return [tuple(row[i] for i in order) for row in rows]


def _match_columns_greedily(g: list[tuple], p: list[tuple], tol: float, rtol: float) -> list[int] | None:
    """For each gold column in turn, the first unused predicted column with the same sorted values
    (sql-eval's `subset_df`: greedy, same row count, duplicates count)."""
    free = list(range(len(p[0])))
    matched = []
    for i in range(len(g[0])):
        gold_col = sorted((row[i] for row in g), key=_order_key)
        for j in free:
            pred_col = sorted((row[j] for row in p), key=_order_key)
            if len(pred_col) == len(gold_col) and all(
                values_equal(a, b, tol, rtol) for a, b in zip(gold_col, pred_col)
            ):
                matched.append(j)
                free.remove(j)
                break
        else:
            return None
    return matched


def _normalize(rows: list[tuple], ordered: bool) -> list[tuple]:
    """sql-eval's `normalize_table`: duplicates dropped; rows sorted by every column, or, for an
    ordered question, by the columns that are already ascending first (kept as they are if none)."""
    rows = list(dict.fromkeys(rows))
    if not rows:
        return rows
    columns = range(len(rows[0]))
    if not ordered:
        return sorted(rows, key=_row_key)
    presorted = [c for c in columns if _ascending([row[c] for row in rows])]
    if not presorted:
        return rows
    keys = presorted + [c for c in columns if c not in presorted]
    return sorted(rows, key=lambda row: tuple(_order_key(row[c]) for c in keys))


def _ascending(values: list) -> bool:
    keys = [_order_key(v) for v in values]
    return all(a <= b for a, b in zip(keys, keys[1:]))


# --- the query rewrites of the official evaluators ------------------------------------------------


def spider_query(sql: str, *, role: str, keep_distinct: bool = False) -> str:
    """The text the official Spider test-suite evaluator runs: `value` -> `1` in predictions
    (evaluation.py), `> =` `< =` `! =` joined (`postprocess`), every DISTINCT keyword removed
    unless `keep_distinct` (`remove_distinct`), `YEAR(CURDATE())` -> 2020 (`replace_cur_year`).
    Whether row order matters is `'order by' in spider_query(gold).lower()`."""
    if role == "pred":
        sql = sql.replace("value", "1")
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    if not keep_distinct:
        sql = remove_distinct(sql)
    return re.sub(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", "2020", sql, flags=re.I)


_TOKEN = re.compile(
    r"'(?:[^']|'')*'?|\"[^\"]*\"?|`[^`]*`?|\[[^\]]*\]?|--[^\n]*|/\*.*?(?:\*/|$)|\w+|\s+|.", re.S
)


def remove_distinct(sql: str) -> str:
    """Every `distinct` word outside strings, quoted names and comments dropped (sqlparse tokens
    joined back, as the official `remove_distinct` does: the spaces around it stay). Like it
    (`sqlparse.parse(s)[0]`), only the first statement is kept."""
    out = []
    for token in _TOKEN.findall(sql):
        if token.lower() != "distinct":
            out.append(token)
        if token == ";":
            break
    return "".join(out)


def sqleval_golds(gold: str) -> list[str]:
    """sql-eval's `get_all_minimal_queries`: `;`-separated alternatives, and the first `{a,b}` of
    each expanded to every non-empty subset of its columns (a `GROUP BY {}` follows the choice)."""
    out = []
    for query in gold.split(";"):
        query = query.strip()
        if not query:
            continue
        start = query.find("{")
        end = query.find("}", start + 1)
        if start == -1 or end == -1:
            out.append(query)
            continue
        options = query[start + 1 : end].split(",")
        for r in range(1, len(options) + 1):
            for choice in itertools.combinations(options, r):
                columns = ", ".join(choice)
                right = query[end + 1 :].replace("GROUP BY {}", f"GROUP BY {columns}")
                out.append(query[:start] + columns + right)
    return out
