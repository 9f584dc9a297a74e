"""Statement splitting and the guard every query passes before it reaches a server.

    split(sql) -> list[str]                 statements of `sql` (quotes, comments, $$ bodies respected)
    guard(sql, engine) -> str | None        why `sql` may not run (None: it may)

A query may run when it is one statement, starts as a query (SELECT, WITH, VALUES, TABLE or a
parenthesis) and names no function or clause that reaches outside the database (files, other
sessions, server settings, locks). The read-only transaction and the statement time limit are the
real walls; this check refuses what a read-only transaction would still allow (MySQL's
`SELECT ... INTO OUTFILE`, `LOAD_FILE`, PostgreSQL's `lo_export`, `pg_read_file`, ...).
"""

from __future__ import annotations

import re

_QUERY_START = re.compile(r"^\s*(\(|select\b|with\b|values\b|table\b)", re.I)
_FORBIDDEN = {
    "mariadb": re.compile(
        r"\binto\s+(outfile|dumpfile)\b|\b(load_file|get_lock|release_lock|release_all_locks|"
        r"is_free_lock|sys_exec|sys_eval|benchmark)\s*\(",
        re.I,
    ),
    "postgres": re.compile(
        r"\b(lo_import|lo_export|lo_unlink|lo_from_bytea|lo_put|pg_read_file|pg_read_binary_file|pg_ls_dir|"
        r"pg_stat_file|pg_ls_\w+|pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|"
        r"set_config|pg_advisory_\w*lock\w*|dblink\w*|pg_notify|pg_logical_emit_message|"
        r"pg_create_\w+|pg_drop_\w+|nextval|setval)\s*\(",
        re.I,
    ),
}


def split(sql: str) -> list[str]:
    """The non-empty statements of `sql`, without their terminating semicolons."""
    out, start, i, n = [], 0, 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            i = _skip_quoted(sql, i, ch)
            continue
        if sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            continue
        if ch == "$":
            m = re.match(r"\$[A-Za-z_]*\$", sql[i:])
            if m:
                end = sql.find(m.group(0), i + len(m.group(0)))
                i = n if end < 0 else end + len(m.group(0))
                continue
        if ch == ";":
            out.append(sql[start:i])
            start = i + 1
        i += 1
    out.append(sql[start:])
    return [s.strip() for s in out if _code(s).strip()]


def _skip_quoted(sql: str, i: int, quote: str) -> int:
    j = i + 1
    while j < len(sql):
        if sql[j] == "\\" and quote != "`":
            j += 2
            continue
        if sql[j] == quote:
            if j + 1 < len(sql) and sql[j + 1] == quote:  # doubled quote
                j += 2
                continue
            return j + 1
        j += 1
    return j


def _code(sql: str) -> str:
    """`sql` with string literals, quoted names and comments blanked out (for keyword checks)."""
    parts, i, n = [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            end = _skip_quoted(sql, i, ch)
            parts.append(" '' ")
            i = end
        elif sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
            parts.append(" ")
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            parts.append(" ")
        else:
            parts.append(ch)
            i += 1
    return "".join(parts)


def guard(sql: str, engine: str) -> str | None:
    """None when `sql` may run on `engine`; otherwise the reason it may not."""
    statements = split(sql)
    if not statements:
        return "empty query"
    if len(statements) > 1:
        return f"one statement per query: found {len(statements)}"
    code = _code(statements[0])
    if not _QUERY_START.match(code):
        return "not authorized: only read-only queries may run"
    forbidden = _FORBIDDEN.get(engine)
    if forbidden is not None and (m := forbidden.search(code)):
        return f"not authorized: {m.group(0).rstrip('(').strip()} is not allowed"
    return None
