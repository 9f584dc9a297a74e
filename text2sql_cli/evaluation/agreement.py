"""Agreement between execution accuracy (EX) and the LLM judge on the same rows.

Only rows where both gave a definite answer count: EX correct/incorrect (not "not run") and a
judge "yes"/"no". Rows with an `unparseable`, `error` or `skipped` verdict, or no EX result, are
counted as excluded, never read as a "no".

Cohen's kappa is (p_o - p_e) / (1 - p_e); it is None when both raters gave a single constant
answer (p_e = 1), where it is undefined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Agreement:
    both_yes: int = 0  # EX correct, judge yes
    ex_only: int = 0  # EX correct, judge no
    judge_only: int = 0  # EX wrong, judge yes
    both_no: int = 0  # EX wrong, judge no
    excluded: int = 0
    disagreements: list[dict[str, Any]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.both_yes + self.ex_only + self.judge_only + self.both_no

    @property
    def observed(self) -> float | None:
        return (self.both_yes + self.both_no) / self.n if self.n else None

    @property
    def kappa(self) -> float | None:
        n = self.n
        if not n:
            return None
        ex_yes, judge_yes = (self.both_yes + self.ex_only) / n, (self.both_yes + self.judge_only) / n
        expected = ex_yes * judge_yes + (1 - ex_yes) * (1 - judge_yes)
        if expected >= 1.0:
            return None
        return (self.observed - expected) / (1 - expected)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "excluded": self.excluded,
            "confusion": {
                "ex_correct_judge_yes": self.both_yes,
                "ex_correct_judge_no": self.ex_only,
                "ex_wrong_judge_yes": self.judge_only,
                "ex_wrong_judge_no": self.both_no,
            },
            "observed_agreement": self.observed,
            "cohen_kappa": self.kappa,
            "disagreements": self.disagreements,
        }


def agreement(ids: Sequence[Any], ex: Sequence[bool | None], judge: Sequence[str]) -> Agreement:
    """Compare per-row EX (True/False, None = no result) with judge verdicts, row by row."""
    if not (len(ids) == len(ex) == len(judge)):
        raise ValueError("ids, ex and judge must have one entry per row")
    out = Agreement()
    for item_id, correct, verdict in zip(ids, ex, judge):
        if correct is None or verdict not in ("yes", "no"):
            out.excluded += 1
            continue
        said_yes = verdict == "yes"
        if correct and said_yes:
            out.both_yes += 1
        elif correct:
            out.ex_only += 1
        elif said_yes:
            out.judge_only += 1
        else:
            out.both_no += 1
        if bool(correct) != said_yes:
            out.disagreements.append({"id": item_id, "ex": bool(correct), "judge": verdict})
    return out


def agreement_from_rows(rows: list[dict[str, Any]]) -> Agreement:
    """From results rows holding `ex` (True/False/None) and `judge_verdict` (see judge.py)."""
    return agreement(
        [r.get("id") for r in rows], [r.get("ex") for r in rows], [r.get("judge_verdict") for r in rows]
    )


def render(a: Agreement) -> Any:
    """A rich Table of the confusion matrix with kappa in the caption."""
    from rich.table import Table

    kappa = "undefined" if a.kappa is None else f"{a.kappa:.3f}"
    observed = "-" if a.observed is None else f"{a.observed:.1%}"
    table = Table(
        title="EX vs judge",
        caption=(
            f"agreement {observed}, Cohen's kappa {kappa}, {len(a.disagreements)} disagreements; "
            f"{a.excluded} rows excluded (no EX result or no yes/no verdict)"
        ),
    )
    table.add_column("")
    table.add_column("judge yes", justify="right")
    table.add_column("judge no", justify="right")
    table.add_row("EX correct", str(a.both_yes), str(a.ex_only))
    table.add_row("EX wrong", str(a.judge_only), str(a.both_no))
    return table
