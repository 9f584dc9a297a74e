"""t2s's EX modes agree with re-implementations of the official evaluators on a case set.

tests/ex_reference.py re-implements the official verdicts (Spider test-suite, BIRD, defog
sql-eval) from their sources; tests/ex_cases.py holds the databases and (gold, predicted) pairs.
Where t2s deliberately differs (documented in the README's mode table), the case says why and the
test checks that it does differ.
"""

from __future__ import annotations

import random

import pytest
from ex_cases import CASES, build_databases
from ex_reference import bird_verdict, spider_verdict, sqleval_verdict

from text2sql_cli.evaluation.execution import ExecutionSettings, ex_column
from text2sql_cli.evaluation.report import Prediction
from text2sql_cli.sql.prepare import prepare_query

pytest.importorskip("sqlparse")


@pytest.fixture(scope="module")
def db_root(tmp_path_factory):
    return build_databases(tmp_path_factory.mktemp("ex_cases"))


def _t2s(db_root, mode):
    preds = [
        Prediction(str(i), c["db"], None, None, c["gold"], None, c["pred"], "given")
        for i, c in enumerate(CASES)
    ]
    return [r["ex"] for r in ex_column(preds, ExecutionSettings(mode=mode, db_dir=db_root, workers=1))]


def _reference(db_root, mode, case):
    random.seed(0)
    if mode == "spider":
        return spider_verdict(str(db_root), case["db"], case["gold"], case["pred"])
    if mode == "bird":
        return bird_verdict(str(db_root), case["db"], case["gold"], case["pred"])
    ordered = prepare_query(case["gold"], "sqlite", "strict")[1]
    return sqleval_verdict(str(db_root), case["db"], case["gold"], case["pred"], ordered)


@pytest.mark.parametrize("mode", ["spider", "bird", "sqleval"])
def test_mode_agrees_with_the_official_evaluator(db_root, mode):
    ours = _t2s(db_root, mode)
    wrong, deliberate = [], []
    for case, verdict in zip(CASES, ours):
        official = _reference(db_root, mode, case)
        if mode in case["differs"]:
            deliberate.append((case["note"], verdict, official))
        elif verdict != official:
            wrong.append((case["note"], case["gold"], case["pred"], verdict, official))
    assert wrong == []
    assert all(v != o for _, v, o in deliberate), deliberate
