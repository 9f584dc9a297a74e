"""Read SQL in its own dialect and transpile MySQL / PostgreSQL SQL to SQLite.

`to_sqlite(sql, dialect, names=)` returns a `Transpiled` with the SQLite text and a `note` when
sqlglot could not parse the input (the text is then passed through unchanged: SQLite may still
accept it, and if it does not, the execution error says why). `dialect="sqlite"` never rewrites:
SQLite SQL runs as written, so `"col"`, `[col]`, `a || b` and integer `/` keep SQLite's meaning.

`detect_dialect(ddl) -> (dialect, reason)` reads the DDL: backticks, `AUTO_INCREMENT`, `ENGINE=`
-> mysql; `SERIAL`, `::` (and `BYTEA`, `TIMESTAMPTZ`, `ILIKE`) -> postgres; otherwise sqlite.
With real SQLite databases (`--db-dir`) `auto` is sqlite.

Identifiers, whatever the dialect: a double-quoted token that names a column or table of the
schema (`names`) is an identifier (SQLite's own rule), and `[x]` is an identifier. Division keeps
the source dialect's meaning: MySQL `/` is exact (`CAST(a AS REAL) / b`), `DIV` is integer
division; PostgreSQL `/` on integers is integer division, as in SQLite (sqlglot's rewrites,
pinned by tests).

Beyond sqlglot's own transpilation, MySQL date arithmetic (`DATE_SUB(NOW(), INTERVAL 7 DAY)`,
`d - INTERVAL 1 DAY`) becomes SQLite `DATETIME(d, '-7 day')`, and LEFT/RIGHT become SUBSTR. Functions
SQLite lacks (`YEAR`, `MONTH`, `NOW`, `CONCAT`, ...) are registered on sandbox connections instead
(see `sandbox`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIALECTS = ("auto", "mysql", "postgres", "sqlite")

_POSTGRES_MARKERS = re.compile(r"::|\bILIKE\b|\bSERIAL\b|\bBIGSERIAL\b|\bBYTEA\b|\bTIMESTAMPTZ\b", re.I)
_MYSQL_MARKERS = re.compile(
    r"`|\bAUTO_INCREMENT\b|\bENGINE\s*=|\bUNSIGNED\b|\bCURDATE\b|\bDATE_SUB\b|\bDATE_ADD\b", re.I
)


@dataclass(frozen=True)
class Transpiled:
    sql: str
    dialect: str  # the dialect the text was read as
    note: str | None = None  # set when the text could not be transpiled and passes through


def detect_dialect(text: str) -> tuple[str, str]:
    """The dialect `text` (DDL, or DDL and SQL) is written in, and the marker that says so."""
    mysql = _MYSQL_MARKERS.search(text)
    postgres = _POSTGRES_MARKERS.search(text)
    if postgres and not mysql:
        return "postgres", f"the DDL has {postgres.group(0).strip()}"
    if mysql:
        return "mysql", f"the DDL has {mysql.group(0).strip()}"
    return "sqlite", "no MySQL or PostgreSQL marker in the DDL"


def resolve_dialect(sql: str, dialect: str) -> str:
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; choose one of {', '.join(DIALECTS)}")
    return detect_dialect(sql)[0] if dialect == "auto" else dialect


def quote_identifiers(sql: str, dialect: str, names: frozenset[str] = frozenset()) -> str:
    """`[x]` -> an identifier, and `"x"` -> an identifier when x (case-folded) is in `names`, in
    the quoting `dialect` reads as an identifier. Text inside single quotes and comments is kept."""
    if dialect == "sqlite" or ('"' not in sql and "[" not in sql):
        return sql
    quote = "`" if dialect == "mysql" else '"'
    out, i, n = [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'" or sql.startswith("--", i) or sql.startswith("/*", i) or ch == "`":
            end = _skip(sql, i, backslash=dialect == "mysql")
            out.append(sql[i:end])
            i = end
            continue
        if ch in '"[':
            close = sql.find('"' if ch == '"' else "]", i + 1)
            if close != -1:
                inner = sql[i + 1 : close]
                if ch == "[" or (dialect == "mysql" and inner.lower() in names):
                    out.append(f"{quote}{inner}{quote}")
                    i = close + 1
                    continue
                out.append(sql[i : close + 1])
                i = close + 1
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _skip(sql: str, i: int, backslash: bool) -> int:
    """The end of the quoted string or comment that starts at `i` (`backslash`: MySQL's escape)."""
    if sql.startswith("--", i):
        end = sql.find("\n", i)
        return len(sql) if end == -1 else end
    if sql.startswith("/*", i):
        end = sql.find("*/", i + 2)
        return len(sql) if end == -1 else end + 2
    quote, j, n = sql[i], i + 1, len(sql)
    while j < n:
        if backslash and quote == "'" and sql[j] == "\\":
            j += 2
            continue
        if sql[j] == quote:
            if j + 1 < n and sql[j + 1] == quote:  # a doubled quote
                j += 2
                continue
            return j + 1
        j += 1
    return n


def to_sqlite(sql: str, dialect: str = "auto", names: frozenset[str] = frozenset()) -> Transpiled:
    """One or more statements in `dialect` -> SQLite text (statements joined with `;\\n`)."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    source = resolve_dialect(sql, dialect)
    if source == "sqlite":
        return Transpiled(sql, source)
    try:
        trees = [
            t for t in sqlglot.parse(quote_identifiers(sql, source, names), read=source) if t is not None
        ]
        out = ";\n".join(_rewrite(t, source).sql(dialect="sqlite") for t in trees)
    except (SqlglotError, ValueError, RecursionError) as err:
        return Transpiled(sql, source, note=f"not transpiled ({type(err).__name__}): {str(err)[:200]}")
    return Transpiled(out, source)


def sqlite_tree(sql: str, dialect: str = "auto", names: frozenset[str] = frozenset()):
    """The single statement `sql` parsed in its dialect with the SQLite rewrites applied, or None
    when it does not parse as exactly one statement (callers then run the text as it is)."""
    import sqlglot
    from sqlglot.errors import SqlglotError

    source = resolve_dialect(sql, dialect)
    try:
        trees = [
            t for t in sqlglot.parse(quote_identifiers(sql, source, names), read=source) if t is not None
        ]
    except (SqlglotError, ValueError, RecursionError):
        return None
    return _rewrite(trees[0], source) if len(trees) == 1 else None


def _rewrite(tree, source: str = "mysql"):
    """Rewrites sqlglot leaves to SQLite-incompatible text (date arithmetic, NOW). MySQL's
    functions and date arithmetic become the emulation's calls first (`mysql_rewrite`)."""
    from sqlglot import exp

    if source == "mysql":
        from text2sql_cli.sql.mysql_rewrite import rewrite

        tree = rewrite(tree)

    def fix(node):
        if isinstance(node, exp.Anonymous) and node.name.upper() == "NOW":
            return exp.CurrentTimestamp()
        if isinstance(node, exp.Left):  # LEFT is a keyword in SQLite; LEFT(s, n) does not parse
            return exp.Substring(this=node.this, start=exp.Literal.number(1), length=node.expression)
        if isinstance(node, exp.Right):
            return exp.Substring(this=node.this, start=exp.Neg(this=node.expression))
        if isinstance(node, (exp.DateSub, exp.DateAdd)):
            sign = -1 if isinstance(node, exp.DateSub) else 1
            return _shift(node.this, node.expression, node.args.get("unit"), sign) or node
        if isinstance(node, (exp.Sub, exp.Add)) and isinstance(node.expression, exp.Interval):
            sign = -1 if isinstance(node, exp.Sub) else 1
            interval = node.expression
            return _shift(node.this, interval, interval.args.get("unit"), sign) or node
        return node

    return tree.transform(fix)


def _shift(base, amount, unit, sign):
    """`base` shifted by `amount unit` as SQLite DATETIME()/DATE() with a modifier string."""
    from sqlglot import exp

    if isinstance(amount, exp.Interval):
        unit = unit or amount.args.get("unit")
        amount = amount.this
    if not isinstance(amount, exp.Literal) or unit is None:
        return None
    text = amount.this.strip()
    parts = text.split()
    if len(parts) == 2:  # PostgreSQL INTERVAL '7 days'
        text, unit_name = parts
    else:
        unit_name = unit.name
    try:
        number = float(text) * sign
    except ValueError:
        return None
    unit_name = unit_name.lower().rstrip("s")
    if unit_name not in ("second", "minute", "hour", "day", "month", "year"):
        if unit_name != "week":
            return None
        number, unit_name = number * 7, "day"
    count = int(number) if number == int(number) else number
    modifier = exp.Literal.string(f"{count:+} {unit_name}")
    func = "DATE" if isinstance(base, exp.CurrentDate) else "DATETIME"
    return exp.Anonymous(this=func, expressions=[base.copy(), modifier])
