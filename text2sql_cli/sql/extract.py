"""Extract the SQL query from a raw model generation.

    extract_sql(text, stop=("###",)) -> Extraction(sql, method)

The rules, in order (tests/fixtures/messy_outputs.jsonl holds the outputs they were built on):

1. Reasoning is dropped: only the text after the last `</think>` (or `</thinking>`,
   `</reasoning>`) counts, also when the opening tag was in the prompt. Reasoning that never
   closes has no answer: "failed".
2. Fences: among the complete fences (```` ``` ```` with any tag: sql, sqlite, SQLite, mysql,
   postgresql, or none) whose body holds a query, the LAST one is the answer (a model that writes
   several fences revises, or explores first and answers last). Inside it, leading comments and
   labels are skipped. Without a complete fence, an unclosed one at the end is used -> "fence".
3. Without fences, the query starts at the first line that starts with SELECT, WITH or `(SELECT`,
   also after a label on the same line (`SQL: SELECT ...`, `정답: SELECT ...`, `### SQL: SELECT`)
   or an inline backtick. A start that does not read as SQL (`SELECT 문을 사용하면 ...`: a
   FROM-less SELECT of bare names) is skipped for the next one.
4. The query ends at the first top-level `;` -> "semicolon", else at the first stop marker (the
   default template's `###`; never inside a string literal) -> "stop", else at a stray closing
   fence or the end of the text -> "whole". Prose after a query without `;` is cut where the SQL
   ends: the longest prefix, by lines and then by words, that sqlglot parses -> "parsed".

Text with no query is `Extraction(None, "failed")`, so callers record `extraction_failed` instead
of executing prose. Statements other than queries (INSERT, DROP, ...) are extracted as they are,
so that the sandbox refuses them and the example counts as a wrong prediction, not as a failed
extraction. Regular expressions find the query; sqlglot (pure Python, loaded on first use) says
whether a candidate reads as SQL and where a query without `;` ends. Nothing here imports torch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_FENCE = re.compile(r"```(?P<first>[^\n`]*)\n?(?P<body>.*?)```", re.S)
_TAG = re.compile(r"^[ \t]*(?!(?:SELECT|WITH)\b)[\w+-]+", re.I)  # sql, sqlite3, postgresql, ...
_OPEN_FENCE = re.compile(r"```[ \t]*[\w+-]*[^\n`]*\n?(.*)$", re.S)
_QUERY = r"(?:SELECT|WITH)\b|\(\s*SELECT\b"
# A query start: at a line start (after markdown marks), after a label's colon, or a backtick.
_START = re.compile(
    rf"(?:^[ \t>*#\-]*|[:：][ \t*]*|(?P<tick>`))(?P<q>{_QUERY})",
    re.I | re.M,
)
_OTHER_START = re.compile(
    r"^[ \t>*#\-]*(?:[^\n:：]{0,40}[:：][ \t]*)?"
    r"(?P<q>(?:INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|REPLACE|PRAGMA)\b)",
    re.I | re.M,
)
_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
_MAX_TRIM_TRIES = 120
_REASONING_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.I)
_REASONING_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.I)


@dataclass(frozen=True)
class Extraction:
    sql: str | None
    method: str  # "fence" | "semicolon" | "stop" | "parsed" | "whole" | "failed"

    @property
    def ok(self) -> bool:
        return self.sql is not None


def extract_sql(text: str | None, stop: Sequence[str] = ()) -> Extraction:
    if not text or not text.strip():
        return Extraction(None, "failed")
    answer = _after_reasoning(text)
    if answer is None:
        return Extraction(None, "failed")
    body = _fence_body(answer)
    if body is not None:
        found = _query_in(body, stop)
        return Extraction(found[0], "fence") if found else Extraction(None, "failed")
    found = _query_in(answer.replace("```", "\n"), stop)
    return Extraction(*found) if found else Extraction(None, "failed")


def _after_reasoning(text: str) -> str | None:
    """The text after the last closing reasoning tag; None when reasoning opened and never closed."""
    closes = list(_REASONING_CLOSE.finditer(text))
    if closes:
        return text[closes[-1].end() :]
    if _REASONING_OPEN.search(text):  # reasoning that never finished: no answer was given
        return None
    return text


def _fence_body(text: str) -> str | None:
    """The last complete fence that holds a statement (queries first); else an unclosed last one."""
    # the tag line may hold the query itself (```sql SELECT ...```, ```SELECT ...```)
    bodies = [_TAG.sub("", m["first"], count=1) + "\n" + m["body"] for m in _FENCE.finditer(text)]
    for wanted in (_START, _OTHER_START):
        chosen = [b for b in bodies if wanted.search(_LEADING_COMMENTS.sub("", b, count=1))]
        if chosen:
            return chosen[-1]
    if text.count("```") % 2 == 1:
        tail = _OPEN_FENCE.search(text[text.rfind("```") :])
        if tail and _START.search(tail.group(1)):
            return tail.group(1)
    return None


def _query_in(text: str, stop: Sequence[str]) -> tuple[str, str] | None:
    """(sql, method) for the first query in `text` that reads as SQL, else the first other statement."""
    text = _LEADING_COMMENTS.sub("", text, count=1)
    for match in _START.finditer(text):
        found = _query_from(text[match.start("q") :], stop, inline=match.group("tick") is not None)
        if found and _reads_as_sql(found[0]):
            return found
    match = _OTHER_START.search(text)
    return _query_from(text[match.start("q") :], stop) if match else None


def _query_from(text: str, stop: Sequence[str], inline: bool = False) -> tuple[str, str] | None:
    """The statement at the start of `text`; `inline`: it was opened by a backtick, which closes it."""
    end, method = _end_of_statement(text, stop, inline)
    sql = text[:end].strip().rstrip("`").strip()
    if method in ("whole", "stop"):
        trimmed = _parse_trim(sql)
        if trimmed is not None and trimmed != sql:
            sql, method = trimmed, "parsed"
    return (sql, method) if sql else None


def _end_of_statement(text: str, stop: Sequence[str], inline: bool = False) -> tuple[int, str]:
    """Index of the first top-level `;` or stop marker (outside quotes and comments)."""
    markers = [s for s in stop if s]
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if inline and ch == "`":
            return i, "whole"
        if ch in "'\"`":
            end = text.find(ch, i + 1)
            while end != -1 and end + 1 < n and text[end + 1] == ch:  # doubled quote escape
                end = text.find(ch, end + 2)
            if end == -1 or "\n\n" in text[i:end]:  # an unclosed quote: the rest is not SQL
                i += 1
                continue
            i = end + 1
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
            return i, "semicolon"
        if any(text.startswith(s, i) for s in markers):
            return i, "stop"
        i += 1
    return n, "whole"


def _parses(sql: str) -> bool:
    import sqlglot
    from sqlglot.errors import SqlglotError

    for dialect in ("sqlite", "mysql", "postgres"):
        try:
            trees = sqlglot.parse(sql, read=dialect)
        except (SqlglotError, ValueError, RecursionError):
            continue
        if len([t for t in trees if t is not None]) == 1:
            return True
    return False


def _parse_trim(sql: str) -> str | None:
    """`sql` cut where the SQL ends when prose follows it; None when the text parses as it is or no
    prefix does (the text is then kept: SQLite may still run what sqlglot cannot read). A cut is
    taken only when what it drops reads as prose, so SQL that sqlglot cannot read is not shortened."""
    if _parses(sql):
        return None
    lines = sql.split("\n")
    floor, kept = None, 0
    for n_lines in range(len(lines) - 1, max(0, len(lines) - 1 - _MAX_TRIM_TRIES), -1):
        candidate = "\n".join(lines[:n_lines]).strip()
        if candidate and _parses(candidate) and _reads_as_sql(candidate):
            floor, kept = candidate, n_lines
            break
    # words at the start of the next line may still belong to the query
    upto = "\n".join(lines[: kept + 1])
    ends = [m.start() for m in re.finditer(r"\s+", upto)] + [len(upto)]
    for end in reversed(ends[-_MAX_TRIM_TRIES:]):
        candidate = upto[:end].strip()
        if floor is not None and len(candidate) <= len(floor):
            break
        if candidate != sql and _parses(candidate) and _reads_as_sql(candidate):
            if _ends_in_implicit_alias(candidate):
                continue  # `FROM t This query ...`: the first word of the prose read as an alias
            floor = candidate
            break
    if floor is None or not _looks_like_prose(sql[len(floor) :] if sql.startswith(floor) else ""):
        return None
    return floor


def _ends_in_implicit_alias(sql: str) -> bool:
    """The last word of `sql` is an alias written without AS (`FROM t This`, `COUNT(*) 이`)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    last = re.search(r"([^\W\d][\w]*)\s*$", sql)
    if not last:
        return False
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (SqlglotError, ValueError, RecursionError):
        return False
    word = last.group(1)
    aliases = sum(1 for n in tree.find_all(exp.TableAlias) if n.name == word) + sum(
        1 for n in tree.find_all(exp.Alias) if n.alias == word
    )
    return aliases > len(re.findall(rf"\bAS\s+[`\"\[]?{re.escape(word)}\b", sql, re.I))  # more than written


_SQL_WORDS = {
    "and", "or", "not", "in", "is", "like", "between", "order", "group", "by", "having", "limit",
    "offset", "where", "from", "join", "left", "right", "inner", "outer", "cross", "on", "union",
    "except", "intersect", "as", "asc", "desc", "case", "when", "then", "else", "end", "select",
    "with", "match", "glob", "regexp", "escape", "collate", "using", "natural", "all", "distinct",
}  # fmt: skip


def _looks_like_prose(rest: str) -> bool:
    """Hangul outside quotes, or a first line of three or more bare words not led by an SQL keyword."""
    rest = re.sub(r"'[^']*'", "", rest).strip().lstrip("(-*>#:").strip()
    if not rest:
        return False
    if re.search(r"[\uac00-\ud7a3]", rest):
        return True
    words = re.findall(r"[^\W\d_][\w']*", rest.split("\n", 1)[0])
    return len(words) >= 3 and words[0].lower() not in _SQL_WORDS


def _reads_as_sql(sql: str) -> bool:
    """False for prose that starts with SELECT: a FROM-less SELECT whose items are bare names
    (`SELECT 문을 사용하면`), which no database could run."""
    if not re.match(r"SELECT\b", sql, re.I):
        return True
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (SqlglotError, ValueError, RecursionError):
        return not re.match(r"SELECT\s+[^\W\d_]*[\uac00-\ud7a3]", sql, re.I)  # Hangul word right after SELECT
    if not isinstance(tree, exp.Select) or (tree.args.get("from_") or tree.args.get("from")) is not None:
        return True
    items = tree.expressions
    return bool(items) and not any(isinstance(e.unalias(), exp.Column) for e in items)
