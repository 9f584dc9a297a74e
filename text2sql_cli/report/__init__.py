"""`t2s report`: gather runs (sweeps, run directories, eval directories, predictions files) into
one table (terminal, runs.csv, runs.parquet), a set of plots and a self-contained index.html.

- `collect`: read what t2s wrote into `Run`s (no torch).
- `table`: the runs table; `book`: the book's reported numbers; `plots`: the PNGs (matplotlib Agg);
  `html`: the page; `build_report` below ties them together, `diff` compares two runs row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.errors import UsageError
from text2sql_cli.report.collect import Run, gather


@dataclass
class Report:
    runs: list[Run]
    frame: Any  # pandas DataFrame, one row per run
    page: Path
    plots: list[tuple[str, Path]]
    tables: list[Path]
    diff: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def build_report(paths: list[Path], out: Path, *, diff: tuple[str, str] | None = None) -> Report:
    from text2sql_cli.report import html, plots, table

    runs = gather(paths)
    if not runs:
        raise UsageError("no runs found", hint="pass a sweep, run or eval directory")
    diffed = compare(runs, *diff) if diff else None
    out.mkdir(parents=True, exist_ok=True)
    df = table.frame(runs)
    tables = table.write_tables(df, out)
    drawn = plots.draw_all(runs, out)
    notes = [
        f"{r.name}: status {r.status} (not finished; its numbers may be missing)"
        for r in runs
        if r.status not in (None, "done", "complete")
    ]
    if diffed is not None:
        tables.append(_write_diff(diffed, out))
    page = html.write_page(df, drawn, out, inputs=paths, diff=diffed, notes=notes)
    return Report(runs, df, page, drawn, tables, diffed, notes)


def _verdict(row: dict[str, Any] | None) -> str:
    if row is None:
        return "missing"
    ex = row.get("ex")
    parts = ["EX " + ("correct" if ex else "not run" if ex is None else "wrong")]
    if row.get("judge_verdict") is not None:
        parts.append(f"judge {row['judge_verdict']}")
    return ", ".join(parts)


def compare(runs: list[Run], a: str, b: str) -> dict[str, Any]:
    """The rows whose verdict (EX, and the judge where there is one) differs between runs a and b."""
    from text2sql_cli.io import read_jsonl

    by_name = {r.name: r for r in runs}
    for name in (a, b):
        if name not in by_name:
            raise UsageError(
                f"--diff {name!r} is not one of the runs", hint=f"choose from {', '.join(by_name)}"
            )
        if by_name[name].results is None:
            raise UsageError(f"--diff {name!r} has no eval results.jsonl", hint="run t2s eval on it first")
    rows_a = {r["id"]: r for r in read_jsonl(by_name[a].results)}
    rows_b = {r["id"]: r for r in read_jsonl(by_name[b].results)}
    rows = []
    for key in dict.fromkeys([*rows_a, *rows_b]):
        ra, rb = rows_a.get(key), rows_b.get(key)
        va, vb = _verdict(ra), _verdict(rb)
        if va != vb:
            first = ra or rb
            rows.append(
                {
                    "id": key,
                    "db_id": first.get("db_id"),
                    "question": first.get("question"),
                    "gold": first.get("gold"),
                    "sql_a": (ra or {}).get("sql"),
                    "verdict_a": va,
                    "sql_b": (rb or {}).get("sql"),
                    "verdict_b": vb,
                }
            )
    return {"a": a, "b": b, "rows": rows}


def _write_diff(diffed: dict[str, Any], out: Path) -> Path:
    import pandas as pd

    from text2sql_cli.io import atomic_path

    path = out / "diff.csv"
    columns = ["id", "db_id", "question", "gold", "sql_a", "verdict_a", "sql_b", "verdict_b"]
    with atomic_path(path) as tmp:
        pd.DataFrame(diffed["rows"], columns=columns).to_csv(tmp, index=False)
    return path
