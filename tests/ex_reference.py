"""Reference re-implementations of the official evaluators' EX verdicts, for tests/test_ex_official.py
and benchmarks/bench_ex.py. Each follows its source closely, so that t2s's modes can be checked
against what the official scripts would say on the same databases:

- `spider_verdict`: taoyds/test-suite-sql-eval: evaluation.py (`p_str.replace("value", "1")`) and
  exec_eval.py `eval_exec_match` (postprocess, sqlparse `remove_distinct`, `'order by' in g_str`,
  `replace_cur_year`, `result_eq` with `quick_rej` and the constrained column permutations) over
  every `.sqlite` file of the database's folder. Its 60 s timeout is not modelled.
- `bird_verdict`: BIRD (AlibabaResearch/DAMO-ConvAI bird/llm/src/evaluation.py): `execute_model`
  turns an error into the row `('error',)`; correct iff `set(gold) == set(predicted)`.
- `sqleval_verdict`: defog sql-eval eval/eval.py `compare_query_results`: gold alternatives from
  `get_all_minimal_queries`, then `compare_df` or `subset_df` on pandas frames. Its ordering
  comes from the question; here a question is ordered iff the gold has a top-level ORDER BY.

A verdict is True/False, or None where the official script would stop (Spider: a gold query that
fails).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import sqlite3
from collections import defaultdict
from itertools import product

# --- Spider test-suite ------------------------------------------------------------------------


def _remove_distinct(s: str) -> str:
    import sqlparse

    toks = [t.value for t in list(sqlparse.parse(s)[0].flatten())]
    return "".join([t for t in toks if t.lower() != "distinct"])


def _unorder_row(row):
    return tuple(sorted(row, key=lambda x: str(x) + str(type(x))))


def _quick_rej(result1, result2, order_matters):
    s1 = [_unorder_row(row) for row in result1]
    s2 = [_unorder_row(row) for row in result2]
    return s1 == s2 if order_matters else set(s1) == set(s2)


def _multiset_eq(l1, l2):
    if len(l1) != len(l2):
        return False
    d = defaultdict(int)
    for e in l1:
        d[e] += 1
    for e in l2:
        d[e] -= 1
        if d[e] < 0:
            return False
    return True


def _constraint_permutation(tab1_sets_by_columns, result2):
    num_cols = len(result2[0])
    perm_constraints = [set(range(num_cols)) for _ in range(num_cols)]
    if num_cols <= 3:
        return product(*perm_constraints)
    for _ in range(20):
        row = random.choice(result2)
        for tab1_col in range(num_cols):
            for tab2_col in set(perm_constraints[tab1_col]):
                if row[tab2_col] not in tab1_sets_by_columns[tab1_col]:
                    perm_constraints[tab1_col].remove(tab2_col)
    return product(*perm_constraints)


def result_eq(result1, result2, order_matters):
    if len(result1) == 0 and len(result2) == 0:
        return True
    if len(result1) != len(result2):
        return False
    num_cols = len(result1[0])
    if len(result2[0]) != num_cols:
        return False
    if not _quick_rej(result1, result2, order_matters):
        return False
    tab1_sets_by_columns = [{row[i] for row in result1} for i in range(num_cols)]
    for perm in _constraint_permutation(tab1_sets_by_columns, result2):
        if len(perm) != len(set(perm)):
            continue
        result2_perm = result2 if num_cols == 1 else [tuple(e[i] for i in perm) for e in result2]
        if order_matters:
            if result1 == result2_perm:
                return True
        elif set(result1) == set(result2_perm) and _multiset_eq(result1, result2_perm):
            return True
    return False


def _spider_exec(path, query):
    query = re.sub(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", "2020", query, flags=re.IGNORECASE)
    conn = sqlite3.connect(path)
    conn.text_factory = lambda b: b.decode(errors="ignore")
    try:
        return "result", conn.execute(query).fetchall()
    except Exception as e:  # noqa: BLE001 - the official script catches everything
        return "exception", e
    finally:
        conn.close()


def spider_verdict(db_dir: str, db_id: str, gold: str, pred: str, keep_distinct: bool = False) -> bool | None:
    p_str = pred.replace("value", "1")
    g_str = gold
    p_str = p_str.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    g_str = g_str.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    if not keep_distinct:
        p_str, g_str = _remove_distinct(p_str), _remove_distinct(g_str)
    order_matters = "order by" in g_str.lower()
    folder = os.path.join(db_dir, db_id)
    paths = [os.path.join(folder, b) for b in os.listdir(folder) if ".sqlite" in b]
    for path in paths:
        g_flag, g_den = _spider_exec(path, g_str)
        p_flag, p_den = _spider_exec(path, p_str)
        if g_flag == "exception":
            return None  # the official script asserts here
        if p_flag == "exception" or not result_eq(g_den, p_den, order_matters=order_matters):
            return False
    return True


# --- BIRD -------------------------------------------------------------------------------------


def _bird_execute(sql, path):
    try:
        conn = sqlite3.connect(path)
        try:
            return conn.cursor().execute(sql).fetchall()
        finally:
            conn.close()
    except Exception:  # noqa: BLE001
        return [("error",)]


def bird_verdict(db_dir: str, db_id: str, gold: str, pred: str) -> bool:
    path = os.path.join(db_dir, db_id, db_id + ".sqlite")
    return set(_bird_execute(gold, path)) == set(_bird_execute(pred, path))


# --- defog sql-eval ---------------------------------------------------------------------------


def _normalize_table(df, query_category, question):
    df = df.drop_duplicates()
    sorted_df = df.reindex(sorted(df.columns), axis=1)
    has_order_by = query_category == "order_by" or re.search(
        re.compile(r"\b(order|sort|arrange)\b", re.IGNORECASE), question.lower()
    )
    if not has_order_by:
        sorted_df = sorted_df.sort_values(by=list(sorted_df.columns))
    else:
        unsorted_cols, presorted_cols = [], []
        for col in sorted_df.columns:
            if not sorted_df[col].equals(sorted_df[col].sort_values()):
                unsorted_cols.append(col)
            else:
                presorted_cols.append(col)
        if presorted_cols:
            sorted_df = sorted_df.sort_values(by=presorted_cols + unsorted_cols)
    return sorted_df.reset_index(drop=True)


def _compare_df(df1, df2, query_category, question):
    if df1.shape == df2.shape and (df1.values == df2.values).all():
        return True
    df1 = _normalize_table(df1, query_category, question)
    df2 = _normalize_table(df2, query_category, question)
    return bool(df1.shape == df2.shape and (df1.values == df2.values).all())


def _subset_df(df_sub, df_super, query_category, question):
    from pandas.testing import assert_frame_equal, assert_series_equal

    if df_sub.empty:
        return False
    df_super_temp = df_super.copy(deep=True)
    matched_columns = []
    for col_sub_name in df_sub.columns:
        col_match = False
        for col_super_name in df_super_temp.columns:
            col_sub = df_sub[col_sub_name].sort_values().reset_index(drop=True)
            col_super = df_super_temp[col_super_name].sort_values().reset_index(drop=True)
            try:
                assert_series_equal(col_sub, col_super, check_dtype=False, check_names=False)
                col_match = True
                matched_columns.append(col_super_name)
                df_super_temp = df_super_temp.drop(columns=[col_super_name])
                break
            except AssertionError:
                continue
        if not col_match:
            return False
    df_sub_normalized = _normalize_table(df_sub, query_category, question)
    df_super_matched = df_super[matched_columns].rename(columns=dict(zip(matched_columns, df_sub.columns)))
    df_super_matched = _normalize_table(df_super_matched, query_category, question)
    try:
        assert_frame_equal(df_sub_normalized, df_super_matched, check_dtype=False)
        return True
    except AssertionError:
        return False


def minimal_queries(query: str) -> list[str]:
    result = []
    for q in query.split(";"):
        q = q.strip()
        if q == "":
            continue
        start = q.find("{")
        end = q.find("}", start + 1)
        if start == -1 or end == -1:
            result.append(q)
            continue
        options = q[start + 1 : end].split(",")
        for r in range(1, len(options) + 1):
            for column_tuple in itertools.combinations(options, r):
                column_str = ", ".join(column_tuple)
                right = q[end + 1 :].replace("GROUP BY {}", f"GROUP BY {column_str}")
                result.append(q[:start] + column_str + right)
    return result


def sqleval_verdict(db_dir: str, db_id: str, gold: str, pred: str, ordered: bool) -> bool | None:
    import pandas as pd

    path = os.path.join(db_dir, db_id, db_id + ".sqlite")
    question = "sort the rows" if ordered else "a question"
    conn = sqlite3.connect(path)
    try:
        try:
            results_gen = pd.read_sql_query(pred, conn)
        except Exception:  # noqa: BLE001 - the runner records the exception as wrong
            return False
        correct = False
        for q in minimal_queries(gold):
            try:
                results_gold = pd.read_sql_query(q, conn)
            except Exception:  # noqa: BLE001 - bubbles up to the runner, which records it as wrong
                return False
            try:
                if _compare_df(results_gold, results_gen, "", question):
                    return True
                if _subset_df(results_gold, results_gen, "", question):
                    correct = True
            except Exception:  # noqa: BLE001 - the runner records the exception: not correct
                return False
        return correct
    finally:
        conn.close()
