"""One verdict for one (gold, prediction, databases, mode): `t2s eval --metric ex`, the GRPO
reward and `t2s data pass-rate` score the same cases alike, on real Spider-layout databases
(tests/ex_cases.py) and on databases synthesized from DDL."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from ex_cases import CASES, build_databases

from text2sql_cli.artifacts import Prediction
from text2sql_cli.evaluation.execution import ExecutionSettings, ex_column
from text2sql_cli.inference.passrate import _score_chunk
from text2sql_cli.training.rewards import ExecutionReward, RewardSettings

DDL = (
    "CREATE TABLE heroes (id INT PRIMARY KEY, name VARCHAR(20), power INT, born DATE);"
    "CREATE TABLE teams (id INT PRIMARY KEY, hero_id INT REFERENCES heroes(id), team VARCHAR(20));"
)
SYNTH_CASES = [
    ("SELECT name FROM heroes WHERE power > 5", "SELECT name FROM heroes WHERE 5 < power"),
    ("SELECT name FROM heroes WHERE power > 5", "SELECT name FROM heroes WHERE power >= 5"),
    ("SELECT name FROM heroes WHERE power > 5", "SELECT nope FROM heroes"),
    ("SELECT name FROM heroes WHERE power > 5", None),
    ("SELECT nope FROM heroes", "SELECT 1"),
    ("", "SELECT 1"),
    ("SELECT COUNT(*) FROM heroes", "SELECT COUNT(id) FROM heroes"),
    ("SELECT name FROM heroes ORDER BY power", "SELECT name FROM heroes ORDER BY power DESC"),
    ("SELECT AVG(power) FROM heroes", "SELECT SUM(power) * 1.0 / COUNT(*) FROM heroes"),
    ("SELECT name, power FROM heroes", "SELECT power, name FROM heroes"),
    ("SELECT DISTINCT team FROM teams", "SELECT team FROM teams"),
    (
        "SELECT h.name FROM heroes h JOIN teams t ON t.hero_id = h.id WHERE t.team = 'x'",
        "SELECT name FROM heroes WHERE id IN (SELECT hero_id FROM teams WHERE team = 'x')",
    ),
    ("SELECT name FROM heroes WHERE YEAR(born) > 2000", "SELECT name FROM heroes WHERE born > '2000-12-31'"),
]


@pytest.fixture(scope="module")
def db_root(tmp_path_factory):
    return build_databases(tmp_path_factory.mktemp("agreement"))


def _ex(cases, db_dir, monkeypatch, mode=None) -> list[str]:
    if mode:
        monkeypatch.setenv("T2S_EVAL_MODE", mode)  # the flag's variable: independent of field names
    preds = [
        Prediction(str(i), c["db"], None, c["context"], c["gold"], None, c["pred"], "given")
        for i, c in enumerate(cases)
    ]
    settings = ExecutionSettings(db_dir=db_dir)
    return [row["status"] for row in ex_column(preds, settings)]


def _reward(cases, db_dir, mode) -> list[str]:
    reward = ExecutionReward(RewardSettings(db_dir=db_dir and str(db_dir), mode=mode, workers=1), stop=())
    columns = {
        "id": [str(i) for i in range(len(cases))],
        "db_id": [c["db"] for c in cases],
        "context": [c["context"] for c in cases],
        "gold": [c["gold"] for c in cases],
    }
    # a completion without SQL is what extraction finds nothing in
    reward(["p"] * len(cases), [c["pred"] or "no query here" for c in cases], **columns)
    return [reward.cache[(str(i), c["pred"])] for i, c in enumerate(cases)]


class _Echo:
    """A backend whose one sample per row is the case's prediction."""

    template = SimpleNamespace(stop=())

    def __init__(self, preds):
        self.preds = preds

    def prepare(self, item):
        return item

    def generate(self, items):
        return [SimpleNamespace(candidates=[self.preds[int(i.key)] or "no query here"]) for i in items]


def _pass_rate(cases, db_dir) -> list[str]:
    rows = [
        SimpleNamespace(id=str(i), db_id=c["db"], context=c["context"], question="q", answer=c["gold"])
        for i, c in enumerate(cases)
    ]
    cfg = SimpleNamespace(dialect="auto", seed=0)
    scored = _score_chunk(
        _Echo([c["pred"] for c in cases]), rows, 5, 5.0, db_dir and str(db_dir), cfg, workers=1
    )
    return [next(iter(r["statuses"])) for r in scored]


def _real_cases() -> list[dict]:
    return [{**c, "context": None} for c in CASES]


def _synth_cases() -> list[dict]:
    return [{"db": "h", "context": DDL, "gold": g, "pred": p} for g, p in SYNTH_CASES]


@pytest.mark.parametrize("mode", ["strict", "spider", "bird", "sqleval"])
def test_the_grpo_reward_gives_eval_verdicts_on_real_databases(db_root, monkeypatch, mode):
    cases = _real_cases()
    ex = _ex(cases, db_root, monkeypatch, mode)
    assert {"correct", "wrong_result", "pred_error", "gold_error"} <= set(ex)  # the cases tell them apart
    assert _reward(cases, db_root, mode) == ex


@pytest.mark.parametrize("mode", ["strict", "spider"])
def test_the_grpo_reward_gives_eval_verdicts_on_synthesized_databases(monkeypatch, mode):
    cases = _synth_cases()
    ex = _ex(cases, None, monkeypatch, mode)
    assert {"correct", "wrong_result", "pred_error", "extraction_failed", "gold_error", "no_gold"} <= set(ex)
    assert _reward(cases, None, mode) == ex


def test_pass_rate_gives_eval_verdicts_with_its_default_mode(db_root, monkeypatch):
    for cases, db_dir in ((_real_cases(), db_root), (_synth_cases(), None)):
        assert _pass_rate(cases, db_dir) == _ex(cases, db_dir, monkeypatch)


def test_scoring_reads_the_callers_clock_or_pins_its_own_for_the_call(monkeypatch):
    from text2sql_cli.sql import mysql_emulation
    from text2sql_cli.sql.goldmatch import gold_task, statuses

    pins, real_pin = [], mysql_emulation.pin_now
    monkeypatch.setattr(
        mysql_emulation, "pin_now", lambda instant=None: pins.append(instant) or real_pin(instant)
    )
    task = gold_task("h", DDL, "SELECT CURDATE()", "SELECT '2024-03-16'", db_dir=None, dialect="mysql")
    real_pin("2024-03-16 10:20:30")
    try:
        assert statuses([task], workers=1) == ["correct"]
        assert mysql_emulation.pinned() is not None and pins == []  # the caller's pin is used and kept
    finally:
        mysql_emulation.unpin()
    assert statuses([task], workers=1) == ["wrong_result"]  # today is not 2024-03-16
    assert pins == [None] and mysql_emulation.pinned() is None  # one pin for the call, then released


def test_pass_rate_gives_a_row_without_gold_no_rate():
    rows = [SimpleNamespace(id="0", db_id="h", context=DDL, question="q", answer="")]
    scored = _score_chunk(_Echo(["SELECT 1"]), rows, 2, 5.0, None, SimpleNamespace(dialect="auto", seed=0), 1)
    assert scored[0]["gold_error"] is True and scored[0]["pass_rate"] is None
