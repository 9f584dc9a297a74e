"""EX vs judge agreement: confusion matrix, Cohen's kappa, disagreements, exclusions."""

from __future__ import annotations

import pytest

from text2sql_cli.evaluation.agreement import agreement, render


def test_confusion_matrix_counts_each_cell():
    a = agreement([1, 2, 3, 4, 5], [True, True, False, False, False], ["yes", "no", "yes", "no", "no"])
    assert (a.both_yes, a.ex_only, a.judge_only, a.both_no) == (1, 1, 1, 2)
    assert a.n == 5 and a.observed == pytest.approx(3 / 5)


def test_kappa_matches_hand_computation():
    # p_o = 0.6; p_e = 0.4*0.4 + 0.6*0.6 = 0.52; kappa = 0.08 / 0.48
    a = agreement([1, 2, 3, 4, 5], [True, True, False, False, False], ["yes", "no", "yes", "no", "no"])
    assert a.kappa == pytest.approx(0.08 / 0.48)


def test_perfect_agreement_is_kappa_one():
    a = agreement([1, 2], [True, False], ["yes", "no"])
    assert a.kappa == pytest.approx(1.0) and a.disagreements == []


def test_kappa_is_undefined_when_both_raters_are_constant():
    assert agreement([1, 2], [True, True], ["yes", "yes"]).kappa is None


def test_disagreements_list_ids_and_both_answers():
    a = agreement(["a", "b", "c"], [True, False, True], ["no", "yes", "yes"])
    assert a.disagreements == [
        {"id": "a", "ex": True, "judge": "no"},
        {"id": "b", "ex": False, "judge": "yes"},
    ]


def test_failed_verdicts_and_missing_ex_are_excluded_not_no():
    a = agreement([1, 2, 3, 4], [False, False, None, True], ["unparseable", "error", "no", "skipped"])
    assert a.n == 0 and a.excluded == 4 and a.both_no == 0 and a.kappa is None


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError):
        agreement([1], [True, False], ["yes"])


def test_render_shows_kappa_and_exclusions():
    from rich.console import Console

    console = Console(record=True, width=120)
    console.print(render(agreement([1, 2, 3], [True, False, None], ["yes", "yes", "no"])))
    text = console.export_text()
    assert "kappa" in text and "1 rows excluded" in text
