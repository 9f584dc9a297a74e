"""Metrics for predicted SQL: execution accuracy (`execution`), exact match (`exact`), and the
report that joins per-example metric columns into results.jsonl and summary.json (`report`).
Torch-free; `t2s eval --metric ex,em` loads only the standard library, sqlglot and pydantic."""
