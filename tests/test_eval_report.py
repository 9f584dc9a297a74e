"""Report orchestration: metric columns, exclusions, atomic writes; EM normalisation."""

import json

from text2sql_cli.evaluation.exact import exact_match
from text2sql_cli.evaluation.report import Prediction, build_report, write_report


def _preds(n):
    return [Prediction(str(i), "1", "q", "ddl", "SELECT 1", "raw", "SELECT 1", "given") for i in range(n)]


def test_extra_metric_columns_reach_results_and_summary(tmp_path):
    report = build_report(
        _preds(2), {"ex": [{"ex": True}, {"ex": False}], "judge": [{"judge": True}, {"judge": None}]}
    )
    write_report(report, tmp_path)
    row = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[0])
    assert (
        row["judge"] is True
        and json.loads((tmp_path / "summary.json").read_text())["metrics"]["judge"]["scored"] == 1
    )


def test_unscored_metric_is_none_not_zero():
    report = build_report(_preds(2), {"judge": [{"judge": None}, {"judge": None}]})
    assert report.summary["metrics"]["judge"]["score"] is None


def test_write_leaves_no_temp_files(tmp_path):
    write_report(build_report(_preds(1), {"em": [{"em": True}]}), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.jsonl", "summary.json"]


def test_em_ignores_case_whitespace_quoting_and_semicolon():
    assert exact_match(
        "SELECT name FROM players WHERE level >= 5;", "select  `name` from Players where level>=5"
    )


def test_em_ignores_table_aliases():
    assert exact_match(
        "SELECT P.username FROM players AS P JOIN characters AS C ON P.player_id = C.player_id",
        "SELECT players.username FROM players JOIN characters ON players.player_id = characters.player_id",
    )


def test_em_keeps_literal_case():
    assert not exact_match("SELECT a FROM t WHERE b = 'Thor'", "SELECT a FROM t WHERE b = 'thor'")


def test_em_without_gold_is_excluded():
    assert exact_match(None, "SELECT 1") is None


def test_em_without_prediction_is_false():
    assert exact_match("SELECT 1", None) is False
