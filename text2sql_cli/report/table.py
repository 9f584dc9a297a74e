"""The runs table: one row per run, as a pandas DataFrame (runs.csv, runs.parquet), a rich table
for the terminal and the rows of the HTML page. Settings columns are shown where they vary.

`tokens` is the training data's tokens (prompt + SQL) times the epochs trained; `gpu_hours` is
the training time times the processes, on CUDA only (None on a CPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from text2sql_cli.report.collect import Run

SETTINGS = ("kind", "base", "r", "alpha", "data", "data_fraction")
METRICS = ("ex", "em", "judge", "kappa")
# which way is better, for highlighting the best value of a column
BEST = {"ex": max, "em": max, "judge": max, "kappa": max, "train_time_s": min, "gpu_hours": min}
LABELS = {
    "ex": "EX",
    "em": "EM",
    "judge": "judge",
    "kappa": "κ",
    "trainable_params": "params",
    "tokens": "tokens",
    "train_time_s": "train s",
    "gpu_hours": "GPU h",
    "data_fraction": "fraction",
}


def short(value: Any) -> Any:
    """A path or hub id by its last part (data files, models) for display."""
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return (
            Path(value.rstrip("/")).stem
            if value.endswith((".jsonl", ".json", ".csv", ".parquet"))
            else Path(value.rstrip("/")).name
        )
    return value


def row(run: Run) -> dict[str, Any]:
    training = (run.run_info or {}).get("training") or {}
    data = ((run.run_info or {}).get("data") or {}).get("train") or {}
    tokens = None
    if data.get("prompt_tokens") is not None and training.get("epoch") is not None:
        tokens = round((data["prompt_tokens"] + data["completion_tokens"]) * training["epoch"])
    seconds = training.get("train_runtime_s")
    gpu_hours = None
    if seconds is not None and training.get("device") == "cuda":
        gpu_hours = seconds * (training.get("world_size") or 1) / 3600
    out = {"run": run.name, "status": run.status}
    out |= {key: short(run.settings.get(key)) if key != "kind" else run.kind for key in SETTINGS}
    out |= {m: run.metric(m) for m in METRICS}
    out |= {
        "examples": (run.summary or {}).get("examples"),
        "trainable_params": run.trainable_params,
        "tokens": tokens,
        "train_time_s": seconds,
        "gpu_hours": gpu_hours,
        "final_loss": training.get("final_loss"),
        "path": str(run.path),
    }
    return out


def frame(runs: list[Run]):
    import pandas as pd

    return pd.DataFrame([row(r) for r in runs])


def varying(df) -> list[str]:
    """The settings columns with more than one value among the runs that have one."""
    cols = []
    for col in SETTINGS:
        if df[col].dropna().astype(str).nunique() > 1:
            cols.append(col)
    return cols or ["kind"]


def best_index(df, col: str):
    """Row labels holding the column's best value (ties all win); empty when the column is empty."""
    values = df[col].dropna()
    if col not in BEST or values.empty or (len(values) > 1 and values.nunique() == 1):
        return set()  # nothing to tell apart
    best = BEST[col](values)
    return set(values.index[values == best])


def fmt(col: str, value: Any) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if col in ("ex", "em", "judge"):
        return f"{value:.1%}"
    if col == "kappa":
        return f"{value:.2f}"
    if col in ("trainable_params", "tokens", "examples"):
        return f"{int(value):,}"
    if col == "train_time_s":
        return f"{value:.1f}"
    if col == "gpu_hours":
        return f"{value:.2f}"
    if col in ("data_fraction", "r", "alpha") and isinstance(value, (int, float)):
        return f"{value:g}"
    return str(value)


def display_columns(df) -> list[str]:
    """The run, the settings that vary, then the numbers; a column empty for every run is left out
    (no judge, no GPU), and the status only when some run is not done."""
    cols = ["run", *varying(df)]
    if set(df["status"].dropna()) - {"done", "complete"} or df["status"].isna().any():
        cols.append("status")
    numbers = [*METRICS, "trainable_params", "tokens", "train_time_s", "gpu_hours"]
    return cols + [c for c in numbers if df[c].notna().any()]


def rich_table(df, title: str):
    from rich.table import Table

    table = Table(title=title)
    cols = display_columns(df)
    bests = {c: best_index(df, c) for c in cols}
    for col in cols:
        table.add_column(
            LABELS.get(col, col),
            justify="right" if col in BEST or col in ("trainable_params", "tokens") else "left",
        )
    for i, r in df.iterrows():
        cells = []
        for col in cols:
            text = fmt(col, r[col])
            cells.append(f"[bold green]{text}[/]" if i in bests[col] and text != "-" else text)
        table.add_row(*cells)
    return table


def write_tables(df, out: Path) -> list[Path]:
    from text2sql_cli.io import atomic_path

    written = []
    with atomic_path(out / "runs.csv") as tmp:
        df.to_csv(tmp, index=False)
    written.append(out / "runs.csv")
    with atomic_path(out / "runs.parquet") as tmp:
        df.astype(
            {c: "string" for c in ("run", "status", "kind", "base", "data", "path") if c in df}
        ).to_parquet(tmp, index=False)
    written.append(out / "runs.parquet")
    return written
