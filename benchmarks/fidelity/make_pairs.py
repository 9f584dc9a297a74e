"""Build the labelled equivalence set for bench_fidelity.py from examples/sample.jsonl (issue 12 §4).

    python benchmarks/fidelity/make_pairs.py        # writes benchmarks/fidelity/pairs.jsonl

Every gold query of the sample is mutated by rules whose effect is known:

- `equivalent` rewrites (reformatting, renamed aliases, swapped AND/= operands, NOT <, IN -> OR,
  BETWEEN -> range, COUNT(1), LIMIT n OFFSET 0, INNER JOIN, DISTINCT -> GROUP BY, literal case and
  `=` -> LIKE under MySQL's case-insensitive collation, qualified columns);
- `different` mutations (>= vs >, DISTINCT dropped, LIKE prefix vs contains, literal and date
  boundaries, NULL vs '', LEFT vs inner join, aggregates swapped, ORDER BY flipped, LIMIT changed,
  IN item dropped, a WHERE conjunct dropped, NOT IN vs IN).

A `different` pair is kept only with a witness: a small database that satisfies the schema's keys
and foreign keys and on which gold and prediction give different results (strict comparison, order
when gold has ORDER BY), found by a random search that is independent of t2s's synthesizer (its own
generator, seeded with the literals of both queries).
Its rows are stored with the pair. A mutation for which no witness turns up in the search is left
out and counted. An `equivalent` pair must agree on every database of the same search (a rewrite
that does not is a bug in this script and is left out, counted). Queries run through t2s's MySQL
emulation on SQLite with the clock pinned at NOW; bench_fidelity.py re-checks the witnesses.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from pathlib import Path

import sqlglot
from sqlglot import exp

from text2sql_cli.sql import mysql_emulation
from text2sql_cli.sql.compare import rows_match
from text2sql_cli.sql.dialect import to_sqlite
from text2sql_cli.sql.sandbox import execute, open_snapshot, snapshot
from text2sql_cli.sql.schema import build_database, parse_schema

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parents[1] / "examples" / "sample.jsonl"
OUT = HERE / "pairs.jsonl"
NOW = "2024-03-16 10:20:30"
SEARCH = 300  # random databases tried per pair


def _tree(sql: str):
    return sqlglot.parse_one(sql, read="mysql")


def _sql(tree) -> str:
    return tree.sql(dialect="mysql")


# --- equivalent rewrites ------------------------------------------------------------------------


def eq_reformat(tree):
    return tree.sql(dialect="mysql", pretty=True)


def eq_alias_rename(tree):
    names = {t.alias: f"t{i}" for i, t in enumerate(tree.find_all(exp.Table)) if t.alias}
    if not names:
        return None
    tree = tree.copy()
    for t in tree.find_all(exp.Table):
        if t.alias in names:
            t.set("alias", exp.TableAlias(this=exp.to_identifier(names[t.alias])))
    for c in tree.find_all(exp.Column):
        if c.table in names:
            c.set("table", exp.to_identifier(names[c.table]))
    return _sql(tree)


def _where(tree):
    where = tree.args.get("where")
    return where.this if where is not None else None


def eq_and_swap(tree):
    tree = tree.copy()
    cond = _where(tree)
    if not isinstance(cond, exp.And):
        return None
    cond.replace(exp.And(this=cond.expression.copy(), expression=cond.this.copy()))
    return _sql(tree)


def eq_eq_swap(tree):
    tree = tree.copy()
    node = next((n for n in tree.find_all(exp.EQ) if isinstance(n.expression, exp.Literal)), None)
    if node is None:
        return None
    node.replace(exp.EQ(this=node.expression.copy(), expression=node.this.copy()))
    return _sql(tree)


def eq_not_lt(tree):
    tree = tree.copy()
    node = next(iter(tree.find_all(exp.GTE)), None)
    if node is None or node.find_ancestor(exp.Having) is not None:
        return None
    node.replace(
        exp.Not(this=exp.Paren(this=exp.LT(this=node.this.copy(), expression=node.expression.copy())))
    )
    return _sql(tree)


def eq_in_to_or(tree):
    tree = tree.copy()
    node = next((n for n in tree.find_all(exp.In) if n.expressions and not n.args.get("query")), None)
    if node is None or isinstance(node.parent, exp.Not):
        return None
    parts = [exp.EQ(this=node.this.copy(), expression=e.copy()) for e in node.expressions]
    cond = parts[0]
    for p in parts[1:]:
        cond = exp.Or(this=cond, expression=p)
    node.replace(exp.Paren(this=cond))
    return _sql(tree)


def eq_between_to_range(tree):
    tree = tree.copy()
    node = next(iter(tree.find_all(exp.Between)), None)
    if node is None:
        return None
    low = exp.GTE(this=node.this.copy(), expression=node.args["low"].copy())
    high = exp.LTE(this=node.this.copy(), expression=node.args["high"].copy())
    node.replace(exp.Paren(this=exp.And(this=low, expression=high)))
    return _sql(tree)


def eq_count_one(tree):
    tree = tree.copy()
    node = next((n for n in tree.find_all(exp.Count) if isinstance(n.this, exp.Star)), None)
    if node is None:
        return None
    node.set("this", exp.Literal.number(1))
    return _sql(tree)


def eq_limit_offset(tree):
    if tree.args.get("limit") is None or tree.args.get("offset") is not None:
        return None
    return _sql(tree) + " OFFSET 0"


def eq_inner_join(tree):
    text = _sql(tree)
    if " JOIN " not in text or "LEFT JOIN" in text:
        return None
    return text.replace(" JOIN ", " INNER JOIN ")


def eq_distinct_group_by(tree):
    if not isinstance(tree, exp.Select) or tree.args.get("distinct") is None or tree.args.get("group"):
        return None
    if any(e.find(exp.AggFunc) for e in tree.expressions) or tree.args.get("order"):
        return None
    tree = tree.copy()
    tree.set("distinct", None)
    return _sql(tree.group_by(*[e.unalias().copy() for e in tree.expressions]))


def eq_literal_case(tree):
    tree = tree.copy()
    node = next(
        (
            n
            for n in tree.find_all(exp.EQ)
            if isinstance(n.expression, exp.Literal)
            and n.expression.is_string
            and n.expression.this.upper() != n.expression.this.lower()
        ),
        None,
    )
    if node is None:
        return None
    text = node.expression.this
    node.expression.replace(exp.Literal.string(text.lower() if text != text.lower() else text.upper()))
    return _sql(tree)


def eq_eq_to_like(tree):
    tree = tree.copy()
    node = next(
        (
            n
            for n in tree.find_all(exp.EQ)
            if isinstance(n.this, exp.Column)
            and isinstance(n.expression, exp.Literal)
            and n.expression.is_string
            and not any(ch in n.expression.this for ch in "%_ ")
        ),
        None,
    )
    if node is None:
        return None
    node.replace(exp.Like(this=node.this.copy(), expression=node.expression.copy()))
    return _sql(tree)


def eq_qualify(tree):
    tables = list(tree.find_all(exp.Table))
    if len(tables) != 1 or tables[0].alias or tree.find(exp.Subquery):
        return None
    tree = tree.copy()
    name = tables[0].name
    aliases = {e.alias for e in tree.expressions if isinstance(e, exp.Alias)}
    for c in tree.find_all(exp.Column):
        if not c.table and c.name not in aliases:
            c.set("table", exp.to_identifier(name))
    return _sql(tree)


EQUIVALENT = [
    eq_reformat,
    eq_alias_rename,
    eq_and_swap,
    eq_eq_swap,
    eq_not_lt,
    eq_in_to_or,
    eq_between_to_range,
    eq_count_one,
    eq_limit_offset,
    eq_inner_join,
    eq_distinct_group_by,
    eq_literal_case,
    eq_eq_to_like,
    eq_qualify,
]


# --- different mutations ------------------------------------------------------------------------


def df_boundary(tree):
    tree = tree.copy()
    swaps = {exp.GTE: exp.GT, exp.GT: exp.GTE, exp.LTE: exp.LT, exp.LT: exp.LTE}
    node = next((n for n in tree.walk() if type(n) in swaps), None)
    if node is None:
        return None
    node.replace(swaps[type(node)](this=node.this.copy(), expression=node.expression.copy()))
    return _sql(tree)


def df_drop_distinct(tree):
    tree = tree.copy()
    if isinstance(tree, exp.Select) and tree.args.get("distinct") is not None:
        tree.set("distinct", None)
        return _sql(tree)
    node = next((n for n in tree.find_all(exp.Distinct) if isinstance(n.parent, exp.Count)), None)
    if node is None:
        return None
    node.replace(node.expressions[0].copy())
    return _sql(tree)


def df_like(tree):
    tree = tree.copy()
    node = next((n for n in tree.find_all(exp.Like) if isinstance(n.expression, exp.Literal)), None)
    if node is None:
        return None
    text = node.expression.this
    new = text[1:] if text.startswith("%") else "%" + text
    node.expression.replace(exp.Literal.string(new))
    return _sql(tree)


def df_literal(tree):
    tree = tree.copy()
    node = next(
        (
            n
            for n in tree.find_all(exp.Literal)
            if not n.is_string
            and isinstance(n.parent, (exp.EQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between))
        ),
        None,
    )
    if node is None:
        return None
    node.replace(exp.Literal.number(int(float(node.this)) + 1))
    return _sql(tree)


def df_date(tree):
    tree = tree.copy()
    for node in tree.find_all(exp.Literal):
        text = node.this
        if node.is_string and len(text) >= 10 and text[4:5] == "-" and text[7:8] == "-":
            if len(text) > 10:  # '... 23:59:59' -> the bare date: the classic BETWEEN near miss
                node.replace(exp.Literal.string(text[:10]))
            else:
                day = dt.date.fromisoformat(text) + dt.timedelta(days=1)
                node.replace(exp.Literal.string(day.isoformat()))
            return _sql(tree)
    return None


def df_null_empty(tree):
    tree = tree.copy()
    node = next(iter(tree.find_all(exp.Is)), None)
    if node is None:
        return None
    empty = exp.EQ(this=node.this.copy(), expression=exp.Literal.string(""))
    if isinstance(node.parent, exp.Not):
        node.parent.replace(exp.NEQ(this=node.this.copy(), expression=exp.Literal.string("")))
    else:
        node.replace(empty)
    return _sql(tree)


def df_join_kind(tree):
    text = _sql(tree)
    if "LEFT JOIN" in text:
        return text.replace("LEFT JOIN", "JOIN", 1)
    if " JOIN " in text:
        return text.replace(" JOIN ", " LEFT JOIN ", 1)
    return None


def df_aggregate(tree):
    tree = tree.copy()
    swaps = {exp.Sum: exp.Avg, exp.Avg: exp.Sum, exp.Max: exp.Min, exp.Min: exp.Max}
    node = next((n for n in tree.walk() if type(n) in swaps), None)
    if node is not None:
        node.replace(swaps[type(node)](this=node.this.copy()))
        return _sql(tree)
    node = next((n for n in tree.find_all(exp.Count) if isinstance(n.this, exp.Column)), None)
    if node is None:
        return None
    node.set("this", exp.Star())
    return _sql(tree)


def df_order(tree):
    order = tree.args.get("order")
    if order is None:
        return None
    tree = tree.copy()
    first = tree.args["order"].expressions[0]
    first.set("desc", not first.args.get("desc"))
    return _sql(tree)


def df_limit(tree):
    limit = tree.args.get("limit")
    if limit is None:
        return None
    tree = tree.copy()
    value = tree.args["limit"].expression
    tree.args["limit"].set("expression", exp.Literal.number(int(value.this) + 1))
    return _sql(tree)


def df_in_item(tree):
    tree = tree.copy()
    node = next((n for n in tree.find_all(exp.In) if len(n.expressions) >= 2), None)
    if node is None:
        return None
    node.set("expressions", [e.copy() for e in node.expressions[:-1]])
    return _sql(tree)


def df_drop_conjunct(tree):
    tree = tree.copy()
    cond = _where(tree)
    if not isinstance(cond, exp.And):
        return None
    cond.replace(cond.this.copy())
    return _sql(tree)


def df_not_in(tree):
    tree = tree.copy()
    node = next((n for n in tree.find_all(exp.Not) if isinstance(n.this, exp.In)), None)
    if node is None:
        return None
    node.replace(node.this.copy())
    return _sql(tree)


def df_equality_value(tree):
    tree = tree.copy()
    node = next(
        (
            n
            for n in tree.find_all(exp.EQ)
            if isinstance(n.expression, exp.Literal) and n.expression.is_string
        ),
        None,
    )
    if node is None:
        return None
    node.expression.replace(exp.Literal.string(node.expression.this + "x"))
    return _sql(tree)


DIFFERENT = [
    df_boundary,
    df_drop_distinct,
    df_like,
    df_literal,
    df_date,
    df_null_empty,
    df_join_kind,
    df_aggregate,
    df_order,
    df_limit,
    df_in_item,
    df_drop_conjunct,
    df_not_in,
    df_equality_value,
]


# --- the independent witness search -------------------------------------------------------------


def _pool(gold: str, pred: str) -> list:
    """Values to draw from: both queries' literals, their neighbours, LIKE variants, dates around NOW."""
    out: list = ["", "x", "가나다"]
    for sql in (gold, pred):
        for lit in _tree(sql).find_all(exp.Literal):
            text = lit.this
            if not lit.is_string:
                n = float(text)
                n = int(n) if n.is_integer() else n
                out += [n, n - 1, n + 1]
                continue
            bare = text.replace("%", "").replace("_", "")
            out += [text, bare, "앞" + bare, bare + "뒤", bare.lower(), bare.upper()]
            if len(text) >= 10 and text[4:5] == "-":
                try:
                    day = dt.date.fromisoformat(text[:10])
                except ValueError:
                    continue
                out += [(day + dt.timedelta(days=d)).isoformat() for d in (-1, 1)]
                out += [f"{text[:10]} 12:00:00", f"{text[:10]} 23:59:59"]
    now = dt.datetime.fromisoformat(NOW)
    out += [(now + dt.timedelta(days=d)).strftime("%Y-%m-%d") for d in (-2, -1, 0, 1)]
    out += [(now + dt.timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S") for h in (-30, -1, 1)]
    return out


def _typed(pool: list, kind: str) -> list:
    """The pool values a column of `kind` can hold on every engine (MariaDB rejects the rest)."""
    numbers = [v for v in pool if isinstance(v, (int, float)) and not isinstance(v, bool)]
    dates = [v for v in pool if isinstance(v, str) and len(v) >= 10 and v[4:5] == "-" and v[7:8] == "-"]
    if kind == "int":
        return [int(v) for v in numbers if float(v).is_integer()] or [0]
    if kind == "float":
        return numbers or [0.0]
    if kind == "bool":
        return [0, 1]
    if kind == "date":
        return sorted({d[:10] for d in dates}) or ["2024-01-01"]
    if kind == "datetime":  # a bare date is midnight on MySQL (and sorts before any later time here)
        return sorted(set(dates) | {f"{d[:10]} 00:00:00" for d in dates}) or ["2024-01-01 00:00:00"]
    if kind == "time":
        return ["00:00:00", "12:30:00", "23:59:59"]
    return [v for v in pool if isinstance(v, str)] or ["x"]


def _random_db(schema, pool: list, rng: random.Random):
    """A small database that satisfies the schema's keys: PRIMARY KEY/UNIQUE (INSERT OR IGNORE),
    NOT NULL, and FOREIGN KEYs (a child value is one of the parent's, or NULL where allowed), as
    any database a real server holds would."""
    from text2sql_cli.sql.synth import _parents_first

    conn = build_database(schema)
    for table in _parents_first(schema):
        n = rng.randint(0, 7)
        typed = {c.name: _typed(pool, c.kind) for c in table.columns}
        vocab = {c.name: [rng.choice(typed[c.name]) for _ in range(3)] for c in table.columns}
        parents = {}
        for fk in table.foreign_keys:
            if len(fk.columns) == 1 and schema.table(fk.ref_table) is not None:
                ref = fk.ref_columns[0] if fk.ref_columns else fk.columns[0]
                values = conn.execute(f'SELECT "{ref}" FROM "{schema.table(fk.ref_table).name}"').fetchall()
                parents[fk.columns[0]] = [v for (v,) in values if v is not None]
        for i in range(n):
            row = []
            for col in table.columns:
                r = rng.random()
                if col.primary_key and col.kind == "int":
                    value = i + 1
                elif not col.not_null and r < 0.15:
                    value = None
                elif col.name in parents:
                    if not parents[col.name]:
                        value = None
                    else:
                        value = rng.choice(parents[col.name])
                elif col.kind == "int" and r < 0.55:
                    value = rng.randint(1, 4)
                elif r < 0.6:
                    value = rng.choice(vocab[col.name])
                else:
                    value = rng.choice(typed[col.name])
                row.append(value)
            if any(v is None for v, c in zip(row, table.columns) if c.not_null):
                continue  # a NOT NULL foreign key with no parent row: no such row can exist
            names = ", ".join(f'"{c.name}"' for c in table.columns)
            marks = ", ".join("?" for _ in table.columns)
            conn.execute(f'INSERT OR IGNORE INTO "{table.name}" ({names}) VALUES ({marks})', row)
    return conn


def _dump(conn, schema) -> dict:
    return {
        t.name: [list(r) for r in conn.execute(f'SELECT * FROM "{t.name}"').fetchall()] for t in schema.tables
    }


def _differs(gold_sqlite: str, pred_sqlite: str, ordered: bool, db) -> bool | None:
    g, p = execute(db, gold_sqlite), execute(db, pred_sqlite)
    if not g.ok:
        return None
    if not p.ok:
        return True
    return not rows_match(g.rows, p.rows, mode="strict", order_matters=ordered, float_tol=1e-6)


def search(context: str, gold: str, pred: str, seed: str):
    """(first database on which the queries differ as rows, databases tried, gold failures)."""
    schema = parse_schema(context, "mysql")
    g, p = to_sqlite(gold, "mysql").sql, to_sqlite(pred, "mysql").sql
    ordered = _tree(gold).args.get("order") is not None
    rng = random.Random(seed)
    pool = _pool(gold, pred)
    failures = 0
    for i in range(SEARCH):
        conn = _random_db(schema, pool, rng)
        db = open_snapshot(snapshot(conn))
        verdict = _differs(g, p, ordered, db)
        if verdict is None:
            failures += 1
        elif verdict:
            return _dump(conn, schema), i + 1, failures
    return None, SEARCH, failures


def main() -> None:
    mysql_emulation.pin_now(NOW)
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    pairs, dropped = [], {"different_without_witness": 0, "equivalent_but_differs": 0, "gold_fails": 0}
    for row in rows:
        gold = row["answer"].strip().rstrip(";")
        tree = _tree(gold)
        for label, rules in (("equivalent", EQUIVALENT), ("different", DIFFERENT)):
            for rule in rules:
                try:
                    pred = rule(tree)
                except Exception as err:  # a rule that does not fit this query's shape
                    print(f"{row['id']} {rule.__name__}: skipped ({type(err).__name__})", file=sys.stderr)
                    pred = None
                if pred is None or " ".join(pred.split()) == " ".join(gold.split()):
                    continue
                witness, tried, failures = search(row["context"], gold, pred, f"{row['id']}:{rule.__name__}")
                if failures == tried:
                    dropped["gold_fails"] += 1
                    continue
                if label == "different" and witness is None:
                    dropped["different_without_witness"] += 1
                    continue
                if label == "equivalent" and witness is not None:
                    dropped["equivalent_but_differs"] += 1
                    print(f"{row['id']} {rule.__name__}: rewrite differs, left out", file=sys.stderr)
                    continue
                pairs.append(
                    {
                        "id": f"{row['id']}-{rule.__name__}",
                        "db_id": str(row["db_id"]),
                        "question": row["question"],
                        "context": row["context"],
                        "gold": gold,
                        "pred": pred,
                        "label": label,
                        "mutation": rule.__name__,
                        "witness": witness,
                    }
                )
    tmp = OUT.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    tmp.replace(OUT)
    counts = {lab: sum(p["label"] == lab for p in pairs) for lab in ("equivalent", "different")}
    print(f"wrote {len(pairs)} pairs to {OUT} ({counts}); left out: {dropped}; clock pinned at {NOW}")


if __name__ == "__main__":
    main()
