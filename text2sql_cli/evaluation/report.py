"""Load predictions, join per-example metric columns, summarize, write results atomically.

    load_predictions(path) -> list[Prediction]
    build_report(predictions, columns, settings=) -> Report
    write_report(report, out_dir)            results.jsonl + summary.json, each atomically
    evaluate(path, metrics, settings, extra_columns=) -> Report   (what `t2s eval` runs)

A metric is a column: a list with one dict per prediction, in input order, holding at least the
metric's own key (`{"ex": True, "status": ...}`, `{"em": False}`, later `{"judge": ...}`). Its
value is True/False when scored and None when the example is excluded (no gold, a gold query that
does not run, a crashed worker): a metric that could not be computed is never recorded as 0, and
the summary's denominator counts only scored examples. New metrics add columns: pass them to
`build_report(..., columns={"judge": [...]})` and they appear in results.jsonl and summary.json.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.errors import InputError

KNOWN_METRICS = ("ex", "em")


@dataclass(frozen=True)
class Prediction:
    id: str
    db_id: str
    question: str | None
    context: str | None
    gold: str | None
    raw: str | None
    sql: str | None
    extraction: str  # how `sql` was found: "given" (from the file) or an `Extraction.method`


@dataclass
class Report:
    rows: list[dict]
    summary: dict[str, Any]
    metrics: tuple[str, ...] = field(default=())


def load_predictions(path: str | Path, stop: tuple[str, ...] = ("###",)) -> list[Prediction]:
    """Read a `t2s infer` JSONL file; bad lines raise InputError naming the file and line."""
    from text2sql_cli.sql.extract import extract_sql

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file", hint="pass the predictions JSONL written by `t2s infer`")
    out: list[Prediction] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(path, f"not valid JSON ({err.msg})", line=number) from None
            if not isinstance(obj, dict):
                raise InputError(path, "each line must be a JSON object", line=number)
            missing = [k for k in ("db_id",) if obj.get(k) is None]
            if "sql" not in obj and "raw" not in obj:
                missing.append("sql or raw")
            if missing:
                raise InputError(path, f"missing {', '.join(missing)}", line=number)
            sql, method = obj.get("sql"), "given"
            if "sql" not in obj:
                found = extract_sql(obj.get("raw") or "", stop)
                sql, method = found.sql, found.method
            elif sql is None:
                method = "failed"
            out.append(
                Prediction(
                    id=str(obj.get("id", number)),
                    db_id=str(obj["db_id"]),
                    question=obj.get("question"),
                    context=obj.get("context"),
                    gold=obj.get("gold", obj.get("answer")),
                    raw=obj.get("raw"),
                    sql=sql,
                    extraction=method,
                )
            )
    if not out:
        raise InputError(path, "the file has no predictions")
    return out


def build_report(predictions: list[Prediction], columns: dict[str, list[dict]], settings: dict | None = None) -> Report:
    """Join metric columns per example and summarize them overall and per db_id."""
    for name, column in columns.items():
        if len(column) != len(predictions):
            raise ValueError(f"metric {name!r} gave {len(column)} rows for {len(predictions)} predictions")
    rows = []
    for i, pred in enumerate(predictions):
        # The texts travel with the verdicts, so results.jsonl reads on its own (in pandas too).
        row = {
            "id": pred.id,
            "db_id": pred.db_id,
            "question": pred.question,
            "gold": pred.gold,
            "sql": pred.sql,
            "extraction": pred.extraction,
        }
        for column in columns.values():
            row.update(column[i])
        rows.append(row)
    metrics = tuple(columns)
    summary = summarize(rows, metrics)
    summary["settings"] = settings or {}
    return Report(rows, summary, metrics)


def summarize(rows: list[dict], metrics: tuple[str, ...]) -> dict[str, Any]:
    summary: dict[str, Any] = {"examples": len(rows), "metrics": {m: _score(rows, m) for m in metrics}}
    by_db: dict[str, list[dict]] = {}
    for row in rows:
        by_db.setdefault(row["db_id"], []).append(row)
    summary["per_db"] = {
        db: {"examples": len(group), **{m: _score(group, m)["score"] for m in metrics}}
        for db, group in sorted(by_db.items())
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
    gold_errors = Counter(r.get("gold_error_kind") or "error" for r in rows if r.get("status") == "gold_error")
    scored = [r for r in rows if r.get("ex") is not None]
    empty = [r for r in scored if r.get("gold_empty")]
    low = [r for r in scored if r.get("low_information")]
    return {
        "statuses": dict(sorted(statuses.items())),
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
    _atomic_write(out / "results.jsonl", lines)
    _atomic_write(out / "summary.json", json.dumps(report.summary, ensure_ascii=False, indent=2) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def evaluate(
    path: str | Path,
    metrics: tuple[str, ...],
    settings,
    extra_columns: dict[str, Any] | None = None,
) -> Report:
    """Run the built-in metrics (`ex`, `em`) on a predictions file and build the report.

    `extra_columns` maps a metric name to a function `(predictions) -> list[dict]` (the judge).
    """
    from text2sql_cli.evaluation.exact import em_column
    from text2sql_cli.evaluation.execution import ex_column

    predictions = load_predictions(path)
    columns: dict[str, list[dict]] = {}
    for name in metrics:
        if name == "ex":
            columns["ex"] = ex_column(predictions, settings)
        elif name == "em":
            columns["em"] = em_column(predictions, settings.eval_dialect)
    for name, compute in (extra_columns or {}).items():
        columns[name] = compute(predictions)
    return build_report(predictions, columns, settings.public_dump())
