"""Synthesized test-suite databases for DDL-only data (the idea of Zhong et al. 2020).

    gold_literals(gold_sql, schema) -> Literals
    synthesize(schema, literals, k=5, seed=0) -> tuple[bytes, ...]   (sandbox snapshots)
    instances_for(ddl, gold_sql, k=, seed=, dialect=) -> tuple[bytes, ...]   (cached)

Each instance fills every table with typed random rows that respect PRIMARY KEY, UNIQUE, NOT NULL
and FOREIGN KEY (child values are drawn from the parent's keys when the parent table is in the
DDL), with NULLs in nullable columns and repeated values. The literals the gold query compares
columns with (WHERE/HAVING/ON: =, <>, <, >, IN, LIKE, BETWEEN) are seeded into those columns,
with neighbours (n-1, n+1, the day before and after) and, for LIKE, strings that do and do not
match, so that filters keep some rows and drop others. Table sizes vary between instances (a
prediction is correct only if it matches on every instance).

Deterministic: the same DDL, gold literals, k and seed give the same bytes. `instances_for`
caches the parsed schema per distinct DDL and the instances per (DDL, literals, k, seed), in the
calling process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass, field
from functools import lru_cache

from text2sql_cli.sql.sandbox import snapshot
from text2sql_cli.sql.schema import Column, Schema, Table, build_database, parse_schema

_NULL_RATE = 0.15
_SEED_RATE = 0.45  # share of values drawn from the gold literals, when a column has some
_DUPLICATE_RATE = 0.12  # rows that repeat an earlier row's non-key values
_EMPTY_RATE = 0.08  # nullable text values that are '' (besides the NULLs)
_EPOCH = dt.date(2019, 1, 1)


@dataclass(frozen=True)
class Literals:
    """Values to seed, keyed by (table or "", column), lower case. "" = any table with that column."""

    values: tuple[tuple[tuple[str, str], tuple], ...] = field(default=())

    def for_column(self, table: str, column: str) -> list:
        out: list = []
        for (t, c), vals in self.values:
            if c == column.lower() and t in ("", table.lower()):
                out.extend(vals)
        return out


def gold_literals(gold_sql: str, schema: Schema | None = None) -> Literals:
    """The literals `gold_sql` (SQLite syntax) compares columns with, by column."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    try:
        tree = sqlglot.parse_one(gold_sql, read="sqlite")
    except (SqlglotError, ValueError, RecursionError):
        return Literals()
    if tree is None:
        return Literals()
    aliases = {}
    for table in tree.find_all(exp.Table):
        aliases[(table.alias or table.name).lower()] = table.name.lower()
    found: dict[tuple[str, str], list] = {}
    predicates = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.In, exp.Between)
    for node in tree.find_all(*predicates):
        if _mentions_clock(node):  # col vs CURDATE()/NOW()/date arithmetic on them: dates around now
            for column in node.find_all(exp.Column):
                key = (
                    aliases.get(column.table.lower(), column.table.lower()) if column.table else "",
                    column.name.lower(),
                )
                found.setdefault(key, []).extend(_around_now())
            continue
        column = node.this if isinstance(node.this, exp.Column) else node.expression
        if isinstance(node.this, exp.AggFunc) and isinstance(node.this.this, exp.Column):
            column = node.this.this  # HAVING AVG(price) >= 1000: groups whose values sit at 1000
        if not isinstance(column, exp.Column):
            continue
        others = [node.expression] if not isinstance(node, (exp.In, exp.Between)) else []
        if isinstance(node, exp.In):
            others = list(node.expressions)
        if isinstance(node, exp.Between):
            others = [node.args.get("low"), node.args.get("high")]
        key = (
            aliases.get(column.table.lower(), column.table.lower()) if column.table else "",
            column.name.lower(),
        )
        for other in others:
            value = _literal(other)
            if value is None:
                continue
            if isinstance(node, (exp.Like, exp.ILike)) and isinstance(value, str):
                found.setdefault(key, []).extend(_like_variants(value) + _date_like_variants(value))
            else:
                found.setdefault(key, []).extend(_neighbours(value))
    return Literals(tuple((k, tuple(dict.fromkeys(v))) for k, v in sorted(found.items())))


def _literal(node):
    from sqlglot import exp

    if isinstance(node, exp.Literal):
        if node.is_string:
            return node.this
        try:
            number = float(node.this)
        except ValueError:
            return None
        return int(number) if number.is_integer() and "." not in node.this else number
    if isinstance(node, exp.Boolean):
        return int(node.this)
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        value = _literal(node.this)
        return -value if isinstance(value, (int, float)) else None
    return None


def _neighbours(value) -> list:
    if isinstance(value, (int, float)):
        return [value, value - 1, value + 1]
    try:
        day = dt.date.fromisoformat(value[:10])
    except (ValueError, TypeError):
        return [value]
    rest = value[10:]
    return [value] + [(day + dt.timedelta(days=d)).isoformat() + rest for d in (-1, 1)]


def _like_variants(pattern: str) -> list[str]:
    """Strings that match the LIKE pattern and strings that match only a neighbouring pattern:
    the literal alone, inside longer text, as prefix and as suffix (so `'%x%'`, `'x%'`, `'%x'` and
    `= 'x'` each keep different rows), one or two characters for `_`, other case, and the literal
    cut short."""
    core = pattern.replace("%", "").replace("_", "")
    matching = pattern.replace("_", "x")
    variants = [matching.replace("%", ""), matching.replace("%", "가"), matching.replace("%", "z1")]
    variants += [core, f"앞{core}", f"{core}뒤", f"앞{core}뒤", core.upper(), core.lower()]
    variants += [pattern.replace("%", "").replace("_", "xy"), pattern.replace("%", "").replace("_", "")]
    return list(dict.fromkeys(v for v in variants + [core[:-1] or "q", "no" + core[1:]]))


def _date_like_variants(pattern: str) -> list[str]:
    """Dates for a LIKE on a date column ('2023-02-%', '2023%'): inside the period and just outside."""
    import re

    m = re.match(r"^(\d{4})(?:-(\d{2}))?", pattern)
    if not m or not pattern[m.end() :].lstrip("-").startswith(("%", "_")) and pattern[m.end() :] != "":
        return []
    year, month = int(m.group(1)), int(m.group(2) or 0)
    try:
        if month:
            first = dt.date(year, month, 1)
            last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        else:
            first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    except ValueError:
        return []
    days = [
        first,
        first + (last - first) / 2,
        last,
        first - dt.timedelta(days=1),
        last + dt.timedelta(days=1),
    ]
    out = [d.isoformat() for d in days]
    return out + [f"{last.isoformat()} 23:59:59", f"{first.isoformat()} 00:00:00"]


def _fits(value, col: Column) -> bool:
    """Whether a seed can go into `col` on every engine (a server rejects text in a DATE column)."""
    if value is None:
        return True
    if col.kind in ("int", "float", "bool"):
        return isinstance(value, (int, float)) or _numeric_text(value) is not None
    if col.kind in ("date", "datetime"):
        if not isinstance(value, str):
            return False
        try:
            dt.datetime.fromisoformat(value if len(value) > 10 else value[:10])
        except ValueError:
            return False
        return True
    if col.kind == "time":
        return isinstance(value, str) and value[:2].isdigit() and value[2:3] == ":"
    if col.choices:
        return isinstance(value, str) and value.lower() in {c.lower() for c in col.choices}
    return True


_CLOCK = ("CURDATE", "NOW", "CURRENT_DATE", "CURRENT_TIMESTAMP", "SYSDATE", "CURTIME", "UTC_DATE")
_CLOCK += ("T2S_NOW", "T2S_CURDATE", "T2S_CURTIME")  # the same, after mysql_rewrite


def _mentions_clock(node) -> bool:
    from sqlglot import exp

    for sub in node.walk():
        if isinstance(sub, (exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime)):
            return True
        if isinstance(sub, exp.Anonymous) and sub.name.upper() in _CLOCK:
            return True
    return False


def _around_now() -> list[str]:
    """Dates and times around the pinned `now()`: the day itself, the days and weeks around it,
    the same month and year, and outside them (issue 12: a count against CURDATE() must vary)."""
    from text2sql_cli.sql.mysql_emulation import now

    instant = now()
    today = instant.date()
    days = (
        0,
        -1,
        1,
        -2,
        -6,
        -7,
        -8,
        -13,
        -14,
        -15,
        -29,
        -30,
        -31,
        -32,
        -89,
        -90,
        -91,
        -364,
        -365,
        -366,
        -400,
    )
    out = [(today + dt.timedelta(days=d)).isoformat() for d in days]
    out += [today.replace(day=1).isoformat(), (today.replace(day=1) - dt.timedelta(days=1)).isoformat()]
    out += [today.replace(month=1, day=1).isoformat(), today.replace(month=12, day=31).isoformat()]
    out += [
        instant.strftime("%Y-%m-%d %H:%M:%S"),
        f"{today.isoformat()} 00:00:00",
        f"{today.isoformat()} 23:59:59",
    ]
    out += [(instant - dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")]
    out += [(instant - dt.timedelta(days=1, seconds=1)).strftime("%Y-%m-%d %H:%M:%S")]
    out += [(instant + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")]
    return out


def synthesize(
    schema: Schema, literals: Literals = Literals(), *, k: int = 5, seed: int = 0, attempt: int = 0
) -> tuple[bytes, ...]:
    """`k` filled instances of `schema`, as sandbox snapshots. `attempt` > 0 gives further,
    different instances that use the gold literals more often (re-synthesis for a gold query whose
    result was the same everywhere)."""
    literals = _along_foreign_keys(schema, literals)
    digest = hashlib.sha256("\n".join(schema.sqlite_ddl).encode() + repr(literals).encode()).hexdigest()[:16]
    seed_rate = min(0.9, _SEED_RATE + 0.2 * attempt)
    out = []
    for i in range(k):
        rng = random.Random(f"{seed}:{i}:{digest}" + (f":retry{attempt}" if attempt else ""))
        conn = build_database(schema)
        generated: dict[str, list[dict]] = {}
        # Instance 2 of K: numeric values constant per column (a value equals the average:
        # `> (SELECT AVG(x) ...)` vs `>=`); instance 3: children reference only half of their
        # parents (parents without children: JOIN vs LEFT JOIN, NOT IN, COUNT of none).
        shape = {1: "flat", 2: "sparse"}.get(i, "") if k >= 3 else ""
        for table in _parents_first(schema):
            rows = _fill(table, schema, literals, generated, rng, seed_rate, shape)
            generated[table.name.lower()] = rows
            if rows:
                names = [c.name for c in table.columns]
                marks = ", ".join("?" for _ in names)
                cols = ", ".join(f'"{n}"' for n in names)
                conn.executemany(
                    f'INSERT OR IGNORE INTO "{table.name}" ({cols}) VALUES ({marks})',
                    [tuple(r[n] for n in names) for r in rows],
                )
        out.append(snapshot(conn))
        conn.close()
    return tuple(out)


def _along_foreign_keys(schema: Schema, literals: Literals) -> Literals:
    """Literals compared with a FK column are seeded into the referenced key too (and back)."""
    extra: dict[tuple[str, str], list] = {}
    for table in schema.tables:
        for fk in table.foreign_keys:
            if len(fk.columns) != 1 or len(fk.ref_columns) != 1:
                continue
            child = (table.name.lower(), fk.columns[0].lower())
            parent = (fk.ref_table.lower(), fk.ref_columns[0].lower())
            shared = literals.for_column(*child) + literals.for_column(*parent)
            if shared:
                extra.setdefault(child, []).extend(shared)
                extra.setdefault(parent, []).extend(shared)
    if not extra:
        return literals
    merged = dict(literals.values)
    for key, vals in extra.items():
        merged[key] = tuple(dict.fromkeys(tuple(merged.get(key, ())) + tuple(vals)))
    return Literals(tuple(sorted(merged.items())))


@lru_cache(maxsize=512)
def cached_schema(ddl: str, dialect: str = "auto") -> Schema:
    return parse_schema(ddl, dialect)


@lru_cache(maxsize=256)
def _cached_instances(
    ddl: str, dialect: str, literals: Literals, k: int, seed: int, attempt: int = 0
) -> tuple[bytes, ...]:
    return synthesize(cached_schema(ddl, dialect), literals, k=k, seed=seed, attempt=attempt)


def instances_for(
    ddl: str, gold_sql: str | None, *, k: int = 5, seed: int = 0, dialect: str = "auto", attempt: int = 0
) -> tuple[bytes, ...]:
    """Synthesized instances for `ddl`, seeded with the literals of `gold_sql` (SQLite syntax).
    Dates compared with the clock are seeded around the pinned `mysql_emulation.now()`."""
    schema = cached_schema(ddl, dialect)
    literals = gold_literals(gold_sql, schema) if gold_sql else Literals()
    return _cached_instances(ddl, dialect, literals, k, seed, attempt)


def _parents_first(schema: Schema) -> list[Table]:
    """Tables ordered so that FK parents come before children (cycles are broken arbitrarily)."""
    names = {t.name.lower(): t for t in schema.tables}
    order: list[Table] = []
    visiting: set[str] = set()

    def visit(table: Table) -> None:
        key = table.name.lower()
        if table in order or key in visiting:
            return
        visiting.add(key)
        for fk in table.foreign_keys:
            parent = names.get(fk.ref_table.lower())
            if parent is not None and parent is not table:
                visit(parent)
        order.append(table)

    for table in schema.tables:
        visit(table)
    return order


def _fill(
    table: Table,
    schema: Schema,
    literals: Literals,
    generated: dict,
    rng: random.Random,
    seed_rate: float,
    shape: str = "",
) -> list[dict]:
    n = rng.choice((4, 12, 25, 60))
    fk_pools = _fk_pools(table, generated)
    if shape == "sparse":
        fk_pools = {c: pool[: max(1, len(pool) // 2)] for c, pool in fk_pools.items()}
    rows: list[dict] = []
    seen_unique: dict[tuple[str, ...], set] = {u: set() for u in table.uniques}
    pk = table.primary_key
    if pk and tuple(pk) not in seen_unique:
        seen_unique[tuple(pk)] = set()
    keyed = {c for cols in seen_unique for c in cols}
    # One NULL per nullable column in every instance, so COUNT(col), IS NULL and LEFT JOINs differ.
    null_row = {c.name: rng.randrange(n) for c in table.columns if not c.not_null and not c.primary_key}
    # ... and one '' per nullable text column (NULL vs '' vs a value).
    empty_row = {  # (not for ENUM columns, whose '' a server refuses)
        c.name: (null_row[c.name] + 1) % n
        for c in table.columns
        if c.name in null_row and c.kind == "text" and not c.choices
    }
    flat = {}
    if shape == "flat":
        for col in table.columns:
            if (
                col.kind in ("int", "float")
                and not col.primary_key
                and not col.unique
                and col.name.lower() not in fk_pools
            ):
                seeds = [v for v in literals.for_column(table.name, col.name) if _fits(v, col)]
                # the gold's own literal when it has one: an average exactly at the threshold
                flat[col.name] = (
                    _coerce(seeds[0], col) if seeds else _value(col, 0, n, [], None, rng, seed_rate)
                )
    for index in range(n):
        row = {}
        for col in table.columns:
            seeds = [v for v in literals.for_column(table.name, col.name) if _fits(v, col)]
            row[col.name] = _value(col, index, n, seeds, fk_pools.get(col.name.lower()), rng, seed_rate)
            if col.name in flat:
                row[col.name] = flat[col.name]
            if null_row.get(col.name) == index:
                row[col.name] = None
            elif empty_row.get(col.name) == index and n > 1:
                row[col.name] = ""
        if rows and rng.random() < _DUPLICATE_RATE:  # repeat an earlier row's values (DISTINCT matters)
            earlier = rng.choice(rows)
            for col in table.columns:
                if col.name not in keyed and not col.primary_key:
                    row[col.name] = earlier[col.name]
        for col in table.columns:  # VARCHAR(n): keep the distinguishing end of longer text
            value = row[col.name]
            if col.length and isinstance(value, str) and len(value) > col.length:
                row[col.name] = value[-col.length :]
        if _fix_unique(row, table, seen_unique, index):
            rows.append(row)
    return rows


def _fk_pools(table: Table, generated: dict) -> dict[str, list]:
    pools = {}
    for fk in table.foreign_keys:
        parent_rows = generated.get(fk.ref_table.lower())
        if not parent_rows or len(fk.columns) != 1:
            continue
        ref = fk.ref_columns[0] if fk.ref_columns else None
        if ref is None:
            continue
        values = [r.get(ref) for r in parent_rows if r.get(ref) is not None]
        if values:
            pools[fk.columns[0].lower()] = values
    return pools


def _value(
    col: Column, index: int, n: int, seeds: list, fk_pool: list | None, rng: random.Random, seed_rate: float
):
    if col.primary_key and col.kind == "int":
        if seeds and rng.random() < seed_rate:
            choice = rng.choice(seeds)
            if isinstance(choice, int):
                return choice
        return index + 1
    if not col.not_null and not col.primary_key and rng.random() < _NULL_RATE:
        return None
    if fk_pool is not None:  # FOREIGN KEY intact: only parent keys, seeded ones when they exist
        seeded = [v for v in seeds if v in fk_pool]
        if seeded and rng.random() < seed_rate:
            return rng.choice(seeded)
        return rng.choice(fk_pool)
    if seeds and rng.random() < seed_rate:
        return _coerce(rng.choice(seeds), col)
    if col.choices:  # ENUM/SET: one of its values (a server refuses anything else)
        return rng.choice(col.choices)
    if col.kind == "text" and not col.not_null and rng.random() < _EMPTY_RATE:
        return ""  # NULL vs '' vs a value: `IS NULL`, `= ''` and COALESCE tell them apart
    if col.kind == "int" and _looks_like_key(col) and not col.unique:
        return rng.randint(1, max(3, n // 4))  # a key into a table the DDL lacks: repeat values
    return _random(col, n, rng)


def _looks_like_key(col: Column) -> bool:
    name = col.name.lower()
    return name.endswith("_id") or name.endswith("id") and len(name) > 2


def _numeric_text(value):
    if not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() and "." not in value else number


def _coerce(value, col: Column):
    if col.kind in ("int", "float", "bool") and _numeric_text(value) is not None:
        value = _numeric_text(value)  # WHERE id = '5' seeds the number 5
    if col.kind in ("int", "bool") and isinstance(value, float) and value.is_integer():
        return int(value)
    if col.kind == "date" and isinstance(value, str) and len(value) > 10 and value[4:5] == "-":
        return value[:10]  # a datetime seed in a DATE column keeps its day
    return value


def _random(col: Column, n: int, rng: random.Random):
    kind = col.kind
    if kind == "int":
        return rng.randint(0, max(2 * n, 10)) if rng.random() < 0.7 else rng.randint(0, 10_000_000)
    if kind == "bool":
        return rng.randint(0, 1)
    if kind == "float":
        return round(rng.uniform(0, 1000), 2)
    if kind in ("date", "datetime"):
        day = _EPOCH + dt.timedelta(days=rng.randint(0, 6 * 365))
        if kind == "date":
            return day.isoformat()
        return f"{day.isoformat()} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    if kind == "time":
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
    # Repeated values: a small vocabulary per column, so GROUP BY and DISTINCT see duplicates.
    return f"{col.name}_{rng.randint(1, max(3, n // 3))}"


def _fix_unique(row: dict, table: Table, seen: dict, index: int) -> bool:
    """Make the row satisfy every UNIQUE/PK set (adjust text, renumber ints) or drop it."""
    for columns, used in seen.items():
        key = tuple(row[c] for c in columns)
        if any(v is None for v in key) and tuple(columns) != tuple(table.primary_key):
            continue
        attempt = 0
        while key in used:
            attempt += 1
            if attempt > 5:
                return False
            col = columns[-1]
            value = row[col]
            if isinstance(value, str):
                text = f"{value}_{index}_{attempt}"
                limit = table.column(col).length if table.column(col) is not None else None
                row[col] = text[-limit:] if limit else text
            elif isinstance(value, (int, float)):
                row[col] = value + (index + 1) * 1000 + attempt
            else:
                return False
            key = tuple(row[c] for c in columns)
        used.add(key)
    return True
