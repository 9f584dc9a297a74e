"""Load predictions, join per-example metric columns, summarize, write results atomically.

    load_predictions(path, partial=) -> list[Prediction]   (artifacts.py, the predictions file's
                                             reader) refuses an unfinished `t2s infer` file
    check_inputs(path, predictions, metrics, settings)   columns and databases the metrics need
    build_report(predictions, columns, settings=) -> Report
    write_report(report, out_dir)            results.jsonl + summary.json, each atomically
    evaluate(path, EvalConfig) -> Report     (what `t2s eval` runs; the judge is one of the metrics)

A metric is a column: a list with one dict per prediction, in input order, holding at least the
metric's own key (`{"ex": True, "status": ...}`, `{"em": False}`, `{"judge": True, ...}`). Its
value is True/False when scored and None when the example is excluded (no gold, a gold query that
does not run, a crashed worker): a metric that could not be computed is never recorded as 0, and
the summary's denominator counts only scored examples. New metrics add columns: pass them to
`build_report(..., columns={"judge": [...]})` and they appear in results.jsonl and summary.json.

A row that `t2s infer` could not generate (`"raw": null, "error": ...`) has no prediction to
score: every metric leaves it out of its denominator (status `generation_error`), and the summary
counts such rows under `no_generation` so a failed API run never reads as a weak model.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.artifacts import Prediction, check_finished, load_predictions, predictions_provenance
from text2sql_cli.errors import InputError, UsageError
from text2sql_cli.io import atomic_write_text

KNOWN_METRICS = ("ex", "em")


@dataclass
class Report:
    rows: list[dict]
    summary: dict[str, Any]
    metrics: tuple[str, ...] = field(default=())
    agreement: Any = None  # evaluation.agreement.Agreement, with EX and the judge


def check_inputs(
    path: str | Path,
    predictions: list[Prediction],
    metrics: tuple[str, ...],
    settings,
    columns: dict[str, str] | None = None,
) -> None:
    """Fail before any query runs when a metric cannot score any row: no gold at all for EX/EM,
    no DDL to synthesize from, or --db-dir without the predictions' databases. Rows that lack
    gold while others have it stay per-row `no_gold` (excluded and counted in the summary)."""
    from text2sql_cli.sql.prepare import database_files

    problems = []
    if {"ex", "em"} & set(metrics) and not any(_text(p.gold) for p in predictions):
        problems.append(
            "no 'gold' in any row; EX and EM need the gold SQL (add it as 'gold' or 'answer')"
            + _gold_moved(columns or {})
        )
    db_dir = getattr(settings, "db_dir", None)
    existing = "{db_id}" in (getattr(settings, "db_url", None) or "")  # databases on a server
    if "ex" in metrics and db_dir is None and not existing and not any(_text(p.context) for p in predictions):
        problems.append(
            "no 'context' in any row; EX builds its databases from that DDL "
            "(add the CREATE TABLE statements as 'context', or pass --db-dir with real databases)"
        )
    if problems:
        raise InputError(path, "; ".join(problems))
    if "ex" in metrics and db_dir is not None:
        db_dir = Path(db_dir)
        if not db_dir.is_dir():
            raise UsageError(f"--db-dir {db_dir} is not a directory", hint=DB_DIR_HINT)
        from text2sql_cli.sql.sandbox import check_database_file

        needed = sorted({p.db_id for p in predictions if p.error is None and _text(p.gold)})
        missing, files = [], []
        for db_id in needed:
            try:
                files += database_files(db_dir, db_id)
            except FileNotFoundError:
                missing.append(db_id)
        if missing:
            raise UsageError(
                f"--db-dir {db_dir} has no database for {len(missing)} of {len(needed)} db_ids; "
                f"first missing: {db_dir / missing[0] / (missing[0] + '.sqlite')}",
                hint=DB_DIR_HINT,
            )
        for file in files:  # an empty or damaged file would make every gold query on it fail
            problem = check_database_file(file)
            if problem:
                raise InputError(file, problem, hint="replace it with a valid SQLite database")


def _gold_moved(columns: dict[str, str]) -> str:
    """Why a --columns mapping left no gold: it read the gold column as another field only."""
    for name, column in columns.items():
        if column in ("gold", "answer") and "gold" not in columns:
            return (
                f" (--columns {name}={column} reads that column as {name} only; to score the gold "
                f"SQL against itself map it to both: --columns {name}={column},gold={column})"
            )
    return ""


DB_DIR_HINT = (
    "lay it out as <dir>/<db_id>/<db_id>.sqlite (Spider layout), or leave out --db-dir to synthesize "
    "from the DDL"
)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def build_report(
    predictions: list[Prediction], columns: dict[str, list[dict]], settings: dict | None = None
) -> Report:
    """Join metric columns per example and summarize them overall and per db_id."""
    for name, column in columns.items():
        if len(column) != len(predictions):
            raise ValueError(f"metric {name!r} gave {len(column)} rows for {len(predictions)} predictions")
    rows = []
    for i, pred in enumerate(predictions):
        # The texts travel with the verdicts, so results.jsonl reads on its own (in pandas too).
        row = {
            "id": pred.id,
            "db_id": pred.db_id if pred.db_id_value is None else pred.db_id_value,
            "question": pred.question,
            "context": pred.context,
            "gold": pred.gold,
            "raw": pred.raw,
            "sql": pred.sql,
            "extraction": pred.extraction,
        }
        if pred.error is not None:
            row["error"] = pred.error
        for column in columns.values():
            row.update(column[i])
        rows.append(row)
    metrics = tuple(columns)
    summary = summarize(rows, metrics)
    summary["settings"] = settings or {}
    no_generation = [p.id for p in predictions if p.error is not None]
    summary["no_generation"] = {"count": len(no_generation), "ids": no_generation, "note": NO_GENERATION_NOTE}
    summary["no_gold"] = sum(1 for p in predictions if p.error is None and not _text(p.gold))
    return Report(rows, summary, metrics)


NO_GENERATION_NOTE = (
    "t2s infer failed on these rows; they are left out of every metric; rerun t2s infer to retry them"
)


def no_generation_line(summary: dict[str, Any]) -> str | None:
    """The terminal's warning about rows t2s infer could not generate, or None."""
    n = (summary.get("no_generation") or {}).get("count", 0)
    if not n:
        return None
    return (
        f"{n} prediction{'s have' if n != 1 else ' has'} no generation (t2s infer failed on "
        f"{'them' if n != 1 else 'it'}); rerun t2s infer to retry {'them' if n != 1 else 'it'}. "
        f"Not counted in any metric."
    )


def summarize(rows: list[dict], metrics: tuple[str, ...]) -> dict[str, Any]:
    summary: dict[str, Any] = {"examples": len(rows), "metrics": {m: _score(rows, m) for m in metrics}}
    by_db: dict[str, list[dict]] = {}
    for row in rows:
        by_db.setdefault(str(row["db_id"]), []).append(row)
    summary["per_db"] = {}
    for db, group in sorted(by_db.items()):
        scores = {m: _score(group, m) for m in metrics}
        summary["per_db"][db] = {
            "examples": len(group),
            **{m: scores[m]["score"] for m in metrics},
            # the counts behind each ratio (correct / scored, and how many were left out)
            "counts": {m: {k: v for k, v in scores[m].items() if k != "score"} for m in metrics},
        }
    if "ex" in metrics:
        summary["execution"] = _execution_facts(rows)
    return summary


def _score(rows: list[dict], metric: str) -> dict[str, Any]:
    values = [r.get(metric) for r in rows]
    scored = [v for v in values if v is not None]
    correct = sum(1 for v in scored if v)
    return {
        "score": correct / len(scored) if scored else None,
        "correct": correct,
        "scored": len(scored),
        "excluded": len(values) - len(scored),
    }


def _execution_facts(rows: list[dict]) -> dict[str, Any]:
    """What a reader needs to trust EX: statuses, why gold failed, how much compared empty tables."""
    statuses = Counter(r.get("status") for r in rows)
    gold_errors = Counter(
        r.get("gold_error_kind") or "error" for r in rows if r.get("status") == "gold_error"
    )
    scored = [r for r in rows if r.get("ex") is not None]
    empty = [r for r in scored if r.get("gold_empty")]
    low = [r for r in scored if r.get("low_information")]
    dialects = Counter(
        f"{r['dialect']} ({r.get('dialect_reason')})" for r in rows if r.get("dialect") is not None
    )
    return {
        "statuses": dict(sorted(statuses.items())),
        "dialects": dict(dialects.most_common()),
        "gold_errors": dict(gold_errors.most_common()),
        "gold_error_ids": [r["id"] for r in rows if r.get("status") == "gold_error"],
        "gold_empty": len(empty),
        "correct_on_empty": sum(1 for r in empty if r.get("ex")),
        "low_information": len(low),
        "low_information_share": len(low) / len(scored) if scored else None,
    }


def write_report(report: Report, out_dir: str | Path) -> None:
    """results.jsonl then summary.json, each via a temp file and rename (never half-written)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in report.rows)
    atomic_write_text(out / "results.jsonl", lines)
    atomic_write_text(out / "summary.json", json.dumps(report.summary, ensure_ascii=False, indent=2) + "\n")


@dataclass(frozen=True)
class EvalConfig:
    """What `evaluate` runs: the metrics (`ex`, `em`, and `judge` when `judge` is set), the
    execution settings (evaluation.execution.ExecutionSettings), the judge's config
    (evaluation.judge.JudgeConfig) and where it keeps its resume cache."""

    execution: Any
    metrics: tuple[str, ...] = ("ex", "em")
    judge: Any = None
    out_dir: Path | None = None
    partial: bool = False
    progress: bool = True
    count_missing_as_wrong: bool = False  # rows without a generation score as wrong, not excluded
    columns: dict[str, str] | None = None  # another tool's column names ({"sql": "pred"})
    only: tuple[str, ...] | None = None  # score only these ids (--only, --explain)
    save_dbs: Path | None = None  # write each scored example's synthesized databases here

    @property
    def all_metrics(self) -> tuple[str, ...]:
        return (*self.metrics, "judge") if self.judge is not None else self.metrics


def evaluate(path: str | Path, config: EvalConfig) -> Report:
    """Score a predictions file with every metric of `config` and build the report.

    The judge is a metric like `ex` and `em`: its column joins the rows, its summary (counts, cost,
    settings without secrets) is `summary["judge"]`, and with EX the EX-judge agreement is
    `report.agreement` (and `summary["agreement"]`). `partial` scores a file `t2s infer` has not
    finished; the summary says how much of it there is.
    """
    from text2sql_cli.evaluation.exact import em_column
    from text2sql_cli.evaluation.execution import ex_column

    path = Path(path)
    settings = config.execution
    predictions = load_predictions(path, partial=config.partial, columns=config.columns)
    unfinished = check_finished(path, partial=True) if config.partial else None
    if config.only is not None:
        predictions = _only(path, predictions, config.only)
    if all(p.error is not None for p in predictions) and not config.count_missing_as_wrong:
        raise InputError(
            path,
            f"no row has a generation (t2s infer failed on all {len(predictions)}), nothing to score",
            hint="rerun t2s infer to retry them, or pass --count-missing-as-wrong to score them as wrong",
        )
    check_inputs(path, predictions, config.metrics, settings, config.columns)
    from text2sql_cli.sql.sqlglot_log import capture, summarize

    columns: dict[str, list[dict]] = {}
    with capture() as warnings:  # EM's parses; each EX row carries its own
        for name in config.metrics:
            if name == "ex":
                columns["ex"] = ex_column(
                    predictions, settings, progress=config.progress, save_dbs=config.save_dbs
                )
            elif name == "em":
                columns["em"] = em_column(predictions, settings.dialect)
    warnings += [w for row in columns.get("ex", []) for w in row.get("sqlglot_warnings") or ()]
    judge_report = None
    if config.judge is not None:
        from text2sql_cli.evaluation.judge import judge_column

        out_dir = Path(config.out_dir or path.parent)
        out_dir.mkdir(parents=True, exist_ok=True)
        columns["judge"], judge_report = judge_column(
            predictions, config.judge, out_dir, progress=config.progress
        )
    if config.count_missing_as_wrong:
        _missing_as_wrong(predictions, columns)
    report = build_report(predictions, columns, settings.public_dump())
    report.summary["predictions"] = predictions_provenance(path)
    report.summary["no_generation"]["counted_as_wrong"] = config.count_missing_as_wrong
    if warnings:
        report.summary["sqlglot_warnings"] = summarize(warnings)
    if unfinished is not None:
        report.summary["partial"] = unfinished
    if judge_report is not None:
        from text2sql_cli.evaluation.agreement import agreement_from_rows

        report.summary["judge"] = judge_report.summary
        if "ex" in config.metrics:
            report.agreement = agreement_from_rows(report.rows)
            report.summary["agreement"] = report.agreement.to_dict()
    return report


def _only(path: Path, predictions: list[Prediction], ids: tuple[str, ...]) -> list[Prediction]:
    """The rows with these ids, in file order; an id the file lacks is a one-line error."""
    present = {p.id for p in predictions}
    missing = [i for i in ids if i not in present]
    if missing:
        sample = ", ".join(sorted(present)[:5])
        raise InputError(
            path,
            f"no row with id {', '.join(missing)}",
            hint=f"ids look like: {sample}{' ...' * (len(present) > 5)}",
        )
    wanted = set(ids)
    return [p for p in predictions if p.id in wanted]


def _missing_as_wrong(predictions: list[Prediction], columns: dict[str, list[dict]]) -> None:
    """--count-missing-as-wrong: a row t2s infer could not generate scores False in EX and EM (its
    status stays generation_error; a row without gold stays excluded: nothing to be wrong against)."""
    for i, pred in enumerate(predictions):
        if pred.error is None or not _text(pred.gold):
            continue
        for name in ("ex", "em"):  # the judge's own summary counts no_generation apart
            if name in columns:
                columns[name][i][name] = False


def estimate_judge(path: str | Path, config: EvalConfig):
    """--dry-run: what the judge would send for this predictions file and cost (sends nothing)."""
    from text2sql_cli.evaluation.judge import estimate_judge as estimate
    from text2sql_cli.evaluation.judge import rows_for_estimate

    predictions = load_predictions(path, partial=config.partial)
    return estimate(rows_for_estimate(predictions), config.judge, Path(config.out_dir or Path(path).parent))
