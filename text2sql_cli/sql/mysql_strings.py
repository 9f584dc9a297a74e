"""MySQL's string functions on SQLite (registered by `mysql_emulation`): REGEXP, FIND_IN_SET,
SUBSTRING_INDEX, LPAD/RPAD, FIELD, INSTR/LOCATE, REVERSE, OCTET_LENGTH (LENGTH in bytes), the row
key of COUNT(DISTINCT a, b) and GROUP_CONCAT with ORDER BY and SEPARATOR (SQLite 3.40 has no
ordered aggregates). Comparisons ignore case, as on MySQL's default _ci collations.
"""

from __future__ import annotations

import json
import re

from text2sql_cli.sql.mysql_values import null_safe, to_number, to_text


@null_safe
def regexp(pattern, value):
    """SQLite calls regexp(pattern, value) for `value REGEXP pattern`; case-insensitive as on a _ci column."""
    return 1 if re.search(str(pattern), to_text(value), re.IGNORECASE) else 0


@null_safe
def find_in_set(needle, haystack):
    items = to_text(haystack).split(",") if to_text(haystack) else []
    folded = to_text(needle).casefold()
    return next((i + 1 for i, item in enumerate(items) if item.casefold() == folded), 0)


@null_safe
def substring_index(text, delim, count):
    text, delim, count = to_text(text), to_text(delim), int(to_number(count))
    if not delim or count == 0:
        return ""
    parts = text.split(delim)
    return delim.join(parts[:count] if count > 0 else parts[count:])


def _padder(left: bool):
    """LPAD (`left`) or RPAD: `text` cut or filled with repeats of `fill` to `length` characters;
    NULL for a negative length, or an empty fill that would be needed."""

    @null_safe
    def pad(text, length, fill):
        text, length, fill = to_text(text), int(to_number(length)), to_text(fill)
        if length < 0:
            return None
        if len(text) >= length:
            return text[:length]
        if not fill:
            return None
        filling = (fill * length)[: length - len(text)]
        return filling + text if left else text + filling

    return pad


lpad, rpad = _padder(left=True), _padder(left=False)


def field(value, *items):
    if value is None:
        return 0
    if all(isinstance(v, (int, float)) for v in (value, *items) if v is not None):
        return next((i + 1 for i, v in enumerate(items) if v is not None and v == value), 0)
    folded = to_text(value).casefold()
    return next((i + 1 for i, v in enumerate(items) if v is not None and to_text(v).casefold() == folded), 0)


@null_safe
def instr(text, needle):
    """INSTR/LOCATE/POSITION: 1-based, 0 when absent; case-insensitive as on a _ci column."""
    return to_text(text).casefold().find(to_text(needle).casefold()) + 1


@null_safe
def reverse(text):
    return to_text(text)[::-1]


@null_safe
def octet_length(value):
    return len(to_text(value).encode("utf-8"))


def row_key(*values):
    """COUNT(DISTINCT a, b): one value per row, NULL when any part is NULL; text case-folded."""
    if any(v is None for v in values):
        return None
    return json.dumps([v.casefold() if isinstance(v, str) else v for v in values], ensure_ascii=False)


class GroupConcat:
    """T2S_GROUP_CONCAT(distinct, separator, value, key1, desc1, key2, desc2, ...)."""

    def __init__(self):
        self.rows: list[tuple] = []
        self.distinct = False
        self.separator = ","

    def step(self, distinct, separator, value, *keys):
        self.distinct, self.separator = bool(distinct), "" if separator is None else str(separator)
        if value is not None:
            self.rows.append((value, keys))

    def finalize(self):
        rows = self.rows
        if self.distinct:
            seen, unique = set(), []
            for value, keys in rows:
                marker = value.casefold() if isinstance(value, str) else value
                if marker not in seen:
                    seen.add(marker)
                    unique.append((value, keys))
            rows = unique
        n_keys = len(rows[0][1]) // 2 if rows else 0
        for k in reversed(range(n_keys)):  # stable sorts, last key first
            descending = bool(rows[0][1][2 * k + 1])
            rows = sorted(rows, key=lambda r, k=k: _sort_key(r[1][2 * k]), reverse=descending)
        return self.separator.join(to_text(value) for value, _ in rows) if rows else None


def _sort_key(value):
    if value is None:
        return (0, 0)  # NULLs first ascending, as MySQL sorts them
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value).casefold())
