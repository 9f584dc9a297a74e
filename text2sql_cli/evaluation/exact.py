"""Exact match (EM): gold and predicted SQL are equal after `sql.normalize.normalize_sql`.

`em` is None when the example has no gold or `t2s infer` produced no generation (excluded), False
when no SQL was extracted from a generation.
"""

from __future__ import annotations


def exact_match(gold: str | None, pred: str | None, dialect: str = "auto") -> bool | None:
    from text2sql_cli.sql.dialect import resolve_dialect
    from text2sql_cli.sql.normalize import normalize_sql

    if not gold or not gold.strip():
        return None
    if not pred or not pred.strip():
        return False
    read = resolve_dialect(gold + "\n" + pred, dialect)
    return normalize_sql(gold, read) == normalize_sql(pred, read)


def em_column(predictions, dialect: str = "auto") -> list[dict]:
    return [
        {"em": None if getattr(p, "error", None) is not None else exact_match(p.gold, p.sql, dialect)}
        for p in predictions
    ]
