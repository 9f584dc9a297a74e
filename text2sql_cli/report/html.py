"""report/index.html: one page, no network (inline CSS, no scripts; the PNGs sit beside it).

Sections: the runs table (best per column in bold), each plot, the --diff examples, and a footer
saying what produced the page and from which inputs.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from text2sql_cli import __version__
from text2sql_cli.report.table import LABELS, best_index, display_columns, fmt

CSS = """
body { font-family: "NanumGothic", "Noto Sans CJK KR", "Noto Sans KR", sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 14px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f0f0f0; }
td.text { text-align: left; }
td.best { font-weight: bold; background: #e6f4e6; }
figure { margin: 1.5em 0; }
img { max-width: 100%; border: 1px solid #eee; }
pre { white-space: pre-wrap; margin: 0; font-size: 12px; }
footer { margin-top: 3em; font-size: 12px; color: #666; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value))


def runs_table(df) -> str:
    cols = display_columns(df)
    bests = {c: best_index(df, c) for c in cols}
    head = "".join(f"<th>{_e(LABELS.get(c, c))}</th>" for c in cols)
    body = []
    for i, row in df.iterrows():
        cells = []
        for c in cols:
            text = fmt(c, row[c])
            classes = []
            if c in ("run", "status", "kind", "base", "data"):
                classes.append("text")
            if i in bests[c] and text != "-":
                classes.append("best")
            cls = f' class="{" ".join(classes)}"' if classes else ""
            cells.append(f"<td{cls}>{_e(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table id="runs"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def diff_table(diff: dict[str, Any] | None) -> str:
    if diff is None:
        return ""
    a, b = diff["a"], diff["b"]
    if not diff["rows"]:
        return (
            f"<h2>Verdicts that differ: {_e(a)} vs {_e(b)}</h2>"
            "<p>None: both runs got the same verdict on every row.</p>"
        )
    head = (
        f"<tr><th>id</th><th>question</th><th>{_e(a)} SQL</th><th>{_e(a)}</th>"
        f"<th>{_e(b)} SQL</th><th>{_e(b)}</th></tr>"
    )
    body = "".join(
        "<tr>"
        f'<td class="text">{_e(r["id"])}</td><td class="text">{_e(r["question"])}</td>'
        f'<td class="text"><pre>{_e(r["sql_a"])}</pre></td><td class="text">{_e(r["verdict_a"])}</td>'
        f'<td class="text"><pre>{_e(r["sql_b"])}</pre></td><td class="text">{_e(r["verdict_b"])}</td>'
        "</tr>"
        for r in diff["rows"]
    )
    return (
        f"<h2>Verdicts that differ: {_e(a)} vs {_e(b)} ({len(diff['rows'])} rows)</h2>"
        f'<table id="diff">{head}{body}</table>'
    )


def write_page(
    df, plots: list[tuple[str, Path]], out: Path, *, inputs: list[Path], diff=None, notes=()
) -> Path:
    from text2sql_cli.io import atomic_write_text

    figures = "".join(
        f'<figure><h2>{_e(title)}</h2><img src="{_e(path.name)}" alt="{_e(title)}"></figure>'
        for title, path in plots
    )
    note_html = "".join(f"<p>{_e(n)}</p>" for n in notes)
    produced = datetime.now(timezone.utc).isoformat(timespec="seconds")
    sources = ", ".join(str(p) for p in inputs)
    page = f"""<!DOCTYPE html>
<html lang="ko"><head><meta charset="utf-8"><title>t2s report</title><style>{CSS}</style></head>
<body>
<h1>t2s report: {len(df)} run(s)</h1>
<p>EX: execution accuracy; EM: exact match; judge: share of rows the LLM judge said yes to; κ: Cohen's kappa
between EX and the judge. Best value per column in bold. The same table is in runs.csv and runs.parquet.</p>
{note_html}
{runs_table(df)}
{figures}
{diff_table(diff)}
<footer>Produced by t2s {_e(__version__)} report at {_e(produced)} from {_e(sources)}.</footer>
</body></html>
"""
    path = out / "index.html"
    atomic_write_text(path, page)
    return path
