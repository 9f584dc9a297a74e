"""The report's PNGs, drawn with matplotlib's headless Agg backend. Each function returns the file
it wrote, or None when its plot does not apply (no loss logs, r and alpha not varied, ...).

Korean text (questions, file names, labels) needs a font with Hangul: `setup_fonts` looks one up
through matplotlib's font manager (NanumGothic from Debian's fonts-nanum, Noto Sans CJK, ...).
Without one, labels are reduced to ASCII with a warning, so no plot shows empty boxes.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from text2sql_cli.report.book import book_result
from text2sql_cli.report.collect import Run
from text2sql_cli.report.table import short

DPI = 100
PREFERRED_FONTS = (
    "NanumGothic",
    "NanumBarunGothic",
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Malgun Gothic",
    "AppleGothic",
)
_state: dict[str, Any] = {"cjk": None}


def find_cjk_font() -> str | None:
    """The family name of an installed font that draws Hangul, preferring common Korean fonts."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    fonts = font_manager.fontManager.ttflist
    if not any(f.name in PREFERRED_FONTS for f in fonts):
        # matplotlib's font cache predates a font installed since (apt-get install fonts-nanum)
        known = {f.fname for f in fonts}
        for path in font_manager.findSystemFonts():
            if path not in known and any(k in Path(path).name.lower() for k in ("nanum", "cjk", "gothic")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        fonts = font_manager.fontManager.ttflist
    ranked = sorted(
        fonts,
        key=lambda f: (
            PREFERRED_FONTS.index(f.name) if f.name in PREFERRED_FONTS else len(PREFERRED_FONTS),
            f.name,
        ),
    )
    for font in ranked:
        try:
            if FT2Font(font.fname).get_char_index(ord("가")):
                return font.name
        except (OSError, RuntimeError, ValueError):
            continue
    return None


def setup_fonts() -> str | None:
    """Use the Agg backend and a Hangul font; returns the font's name, or None (ASCII labels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if _state["cjk"] is None:
        name = find_cjk_font()
        _state["cjk"] = name or ""
        if name is None:
            warnings.warn(
                "no font with Korean glyphs found (install fonts-nanum); plot labels use ASCII only",
                stacklevel=2,
            )
    if _state["cjk"]:
        plt.rcParams["font.family"] = [_state["cjk"], "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return _state["cjk"] or None


def label(text: Any) -> str:
    """Text for a plot: as is with a Hangul font, else its ASCII characters (never boxes)."""
    text = str(text)
    if _state["cjk"] or text.isascii():
        return text
    ascii_text = text.encode("ascii", "ignore").decode().strip()
    return ascii_text or "?"


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    from text2sql_cli.io import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")
    plt.close(fig)
    return path


def loss_curves(runs: list[Run], path: Path) -> Path | None:
    """Train loss (solid) and eval loss (dashed) of every run, against steps and tokens."""
    import matplotlib.pyplot as plt

    logged = [r for r in runs if any("loss" in row for row in r.log)]
    if not logged:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for run in logged:
        per_step = _tokens_per_step(run)
        for key, style in (("loss", "-"), ("eval_loss", "--")):
            rows = [row for row in run.log if key in row]
            if not rows:
                continue
            steps = [row["step"] for row in rows]
            values = [row[key] for row in rows]
            name = label(run.name) + (" (eval)" if key == "eval_loss" else "")
            line = axes[0].plot(steps, values, style, label=name)[0]
            if per_step:
                axes[1].plot([s * per_step for s in steps], values, style, color=line.get_color(), label=name)
    axes[0].set(xlabel="optimizer step", ylabel="loss", title="Loss by step")
    axes[1].set(xlabel="training tokens (approx.)", ylabel="loss", title="Loss by tokens")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _tokens_per_step(run: Run) -> float | None:
    info = run.run_info or {}
    data = (info.get("data") or {}).get("train") or {}
    training = info.get("training") or {}
    if not data.get("rows") or not training.get("effective_batch_size"):
        return None
    per_row = (data["prompt_tokens"] + data["completion_tokens"]) / data["rows"]
    return per_row * training["effective_batch_size"]


def score_bars(runs: list[Run], path: Path) -> Path | None:
    """EX and judge per run; the book's judge score as a red mark where a run matches a book setting."""
    import matplotlib.pyplot as plt

    scored = [r for r in runs if r.metric("ex") is not None or r.metric("judge") is not None]
    if not scored:
        return None
    metrics = [m for m in ("ex", "judge") if any(r.metric(m) is not None for r in scored)]
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(max(6, 1.1 * len(scored)) * len(metrics), 4.8), squeeze=False
    )
    marked = False
    for ax, metric in zip(axes[0], metrics):
        xs = range(len(scored))
        values = [r.metric(metric) for r in scored]
        bars = ax.bar(xs, [v if v is not None else 0 for v in values], color="#4c72b0")
        for bar, value in zip(bars, values):
            text = "n/a" if value is None else f"{value:.0%}"
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
            if value is None:
                bar.set_alpha(0.0)
        for x, run in zip(xs, scored):
            ref = book_result(run)
            if ref is not None:
                ax.hlines(
                    ref.score,
                    x - 0.4,
                    x + 0.4,
                    colors="red",
                    linewidth=2.5,
                    label="book (GPT-4 judge)" if not marked else None,
                )
                marked = True
        ax.set_xticks(list(xs), [label(r.name) for r in scored], rotation=30, ha="right", fontsize=8)
        ax.set(
            ylim=(0, 1.05),
            ylabel="share of test rows",
            title="Execution accuracy (EX)" if metric == "ex" else "LLM judge: yes",
        )
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def heatmap(runs: list[Run], path: Path) -> Path | None:
    """EX over r x alpha, when both vary among trained runs (mean over the other settings)."""
    import matplotlib.pyplot as plt

    cells: dict[tuple[Any, Any], list[float]] = {}
    for run in runs:
        r, a, ex = run.settings.get("r"), run.settings.get("alpha"), run.metric("ex")
        if r is not None and a is not None and ex is not None:
            cells.setdefault((r, a), []).append(ex)
    rs = sorted({k[0] for k in cells})
    alphas = sorted({k[1] for k in cells})
    if len(rs) < 2 and len(alphas) < 2 or len(cells) < 2:
        return None
    import numpy as np

    grid = np.full((len(rs), len(alphas)), np.nan)
    for (r, a), values in cells.items():
        grid[rs.index(r), alphas.index(a)] = sum(values) / len(values)
    fig, ax = plt.subplots(figsize=(1.6 * len(alphas) + 3, 1.2 * len(rs) + 2))
    image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=1, origin="lower")
    for i in range(len(rs)):
        for j in range(len(alphas)):
            text = "-" if np.isnan(grid[i, j]) else f"{grid[i, j]:.1%}"
            ax.text(j, i, text, ha="center", va="center", color="white")
    ax.set_xticks(range(len(alphas)), [str(a) for a in alphas])
    ax.set_yticks(range(len(rs)), [str(r) for r in rs])
    ax.set(xlabel="LoRA alpha", ylabel="LoRA r", title="EX by r x alpha (mean over other settings)")
    fig.colorbar(image, ax=ax, label="EX")
    fig.tight_layout()
    return _save(fig, path)


def fraction_lines(runs: list[Run], path: Path) -> Path | None:
    """EX (and judge) against the data fraction, one line per data file (and other setting)."""
    import matplotlib.pyplot as plt

    fractions = {r.settings.get("data_fraction") for r in runs if r.settings.get("data_fraction") is not None}
    if len(fractions) < 2:
        return None
    lines: dict[str, list[tuple[float, float, float | None]]] = {}
    for run in runs:
        f, ex = run.settings.get("data_fraction"), run.metric("ex")
        if f is None or ex is None:
            continue
        others = [
            f"{k}={short(v)}"
            for k, v in run.settings.items()
            if k not in ("data_fraction", "base", "untuned") and v is not None
        ]
        if run.settings.get("base") and len({str(r.settings.get("base")) for r in runs}) > 1:
            others.append(f"base={short(run.settings['base'])}")
        lines.setdefault(", ".join(others) or "all", []).append((f, ex, run.metric("judge")))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, points in sorted(lines.items()):
        points.sort()
        line = ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label=label(name) + " EX")[0]
        if any(p[2] is not None for p in points):
            judged = [p for p in points if p[2] is not None]
            ax.plot(
                [p[0] for p in judged],
                [p[2] for p in judged],
                "s--",
                color=line.get_color(),
                label=label(name) + " judge",
            )
    ax.set(
        xlabel="share of the training data",
        ylabel="accuracy",
        ylim=(0, 1.05),
        title="Accuracy by training-data fraction",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def per_db_bars(runs: list[Run], path: Path) -> Path | None:
    """EX per db_id, one bar per run in each group."""
    import matplotlib.pyplot as plt

    scored = [r for r in runs if r.summary and "ex" in (r.summary.get("metrics") or {})]
    if not scored:
        return None
    dbs = sorted({db for r in scored for db in (r.summary.get("per_db") or {})}, key=lambda d: (len(d), d))
    if not dbs:
        return None
    width = 0.8 / len(scored)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(dbs) * max(1, len(scored) / 3)), 4.5))
    for i, run in enumerate(scored):
        per_db = run.summary.get("per_db") or {}
        values = [(per_db.get(db) or {}).get("ex") for db in dbs]
        xs = [j + (i - (len(scored) - 1) / 2) * width for j in range(len(dbs))]
        ax.bar(xs, [v or 0 for v in values], width, label=label(run.name))
    ax.set_xticks(range(len(dbs)), [label(db) for db in dbs])
    ax.set(xlabel="db_id", ylabel="EX", ylim=(0, 1.05), title="EX per database (db_id)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def confusion(runs: list[Run], path: Path) -> Path | None:
    """EX vs judge confusion matrix for every run that has both."""
    import matplotlib.pyplot as plt

    judged = [r for r in runs if r.summary and (r.summary.get("agreement") or {}).get("confusion")]
    if not judged:
        return None
    cols = min(4, len(judged))
    rows = (len(judged) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(judged) :]:
        ax.axis("off")
    for ax, run in zip(axes.flat, judged):
        a = run.summary["agreement"]
        c = a["confusion"]
        grid = [
            [c["ex_correct_judge_yes"], c["ex_correct_judge_no"]],
            [c["ex_wrong_judge_yes"], c["ex_wrong_judge_no"]],
        ]
        ax.imshow(grid, cmap="Blues")
        for i in range(2):
            for j in range(2):
                ax.text(j, i, str(grid[i][j]), ha="center", va="center", fontsize=12)
        ax.set_xticks([0, 1], ["judge yes", "judge no"])
        ax.set_yticks([0, 1], ["EX correct", "EX wrong"])
        kappa = a.get("cohen_kappa")
        ax.set_title(f"{label(run.name)}\nκ = {'n/a' if kappa is None else f'{kappa:.2f}'}", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


PLOTS = (
    ("loss.png", "Loss curves", loss_curves),
    ("scores.png", "EX and judge per run", score_bars),
    ("heatmap.png", "r x alpha", heatmap),
    ("fraction.png", "Accuracy by data fraction", fraction_lines),
    ("per_db.png", "EX per db_id", per_db_bars),
    ("confusion.png", "EX vs judge", confusion),
)


def draw_all(runs: list[Run], out: Path) -> list[tuple[str, Path]]:
    setup_fonts()
    drawn = []
    for filename, title, draw in PLOTS:
        written = draw(runs, out / filename)
        if written is not None:
            drawn.append((title, written))
    return drawn
