"""Extract the SQL query from a raw model generation.

    extract_sql(text, stop=("###",)) -> Extraction(sql, method)

Order of rules: the first ```sql fence (else the first ``` fence) -> "fence"; otherwise the text
up to the first stop marker (the default template's is "###": base models go on with
`### SQL 봇:` blocks) -> "stop", and then up to the first top-level `;` (outside quotes and
comments) -> "semicolon"; untouched text -> "whole". Leading prose before a line that starts with
SELECT/WITH is dropped. Text that does not start with a SQL keyword is not SQL: the result is
`Extraction(None, "failed")`, so callers record `extraction_failed` instead of executing prose.

Pure standard library; safe to import from inference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*(sql|sqlite|mysql|postgresql|postgres)?[ \t]*\n?(.*?)(?:```|$)", re.I | re.S)
_SQL_START = re.compile(
    r"^\s*(SELECT|WITH|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|REPLACE|PRAGMA|VALUES)\b", re.I
)
_SQL_LINE = re.compile(r"^[ \t]*(SELECT|WITH)\b", re.I | re.M)


@dataclass(frozen=True)
class Extraction:
    sql: str | None
    method: str  # "fence" | "stop" | "semicolon" | "whole" | "failed"

    @property
    def ok(self) -> bool:
        return self.sql is not None


def extract_sql(text: str | None, stop: Sequence[str] = ()) -> Extraction:
    if not text or not text.strip():
        return Extraction(None, "failed")
    fenced = _first_fence(text)
    if fenced is not None:
        body = _cut_semicolon(fenced)[0].strip()
        return _checked(body, "fence")
    method = "whole"
    cut = _cut_stop(text, stop)
    if cut is not None:
        text, method = cut, "stop"
    text = _from_sql_line(text)
    text, had_semicolon = _cut_semicolon(text)
    if had_semicolon:
        method = "semicolon"
    return _checked(text.strip(), method)


def _first_fence(text: str) -> str | None:
    matches = list(_FENCE.finditer(text))
    if not matches:
        return None
    tagged = [m for m in matches if m.group(1)]
    return (tagged or matches)[0].group(2)


def _cut_stop(text: str, stop: Sequence[str]) -> str | None:
    positions = [text.find(s) for s in stop if s and s in text]
    # A stop marker at the very start (the model echoed "### SQL:") is not the end of the query.
    positions = [p for p in positions if text[:p].strip()]
    return text[: min(positions)] if positions else None


def _from_sql_line(text: str) -> str:
    if _SQL_START.match(text):
        return text
    found = _SQL_LINE.search(text)
    return text[found.start() :] if found else text


def _cut_semicolon(text: str) -> tuple[str, bool]:
    """Text up to the first `;` outside string literals, quoted names and comments."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"`":
            end = text.find(ch, i + 1)
            while end != -1 and end + 1 < n and text[end + 1] == ch:  # doubled quote escape
                end = text.find(ch, end + 2)
            i = n if end == -1 else end + 1
            continue
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end == -1 else end + 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end == -1 else end + 2
            continue
        if ch == ";":
            return text[:i], True
        i += 1
    return text, False


def _checked(sql: str, method: str) -> Extraction:
    if not sql or not _SQL_START.match(sql):
        return Extraction(None, "failed")
    return Extraction(sql, method)
