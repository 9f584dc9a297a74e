"""Tables the gold query uses but the row's DDL lacks, rebuilt from what references them.

    infer_missing_tables(ddl, gold_sql, dialect) -> (ddl with CREATE TABLEs added, names inferred)

Some rows (the ko_text2sql test split has a few) name a table only in a FOREIGN KEY. Rather than
give up (`gold_error`), t2s builds it: the referenced key columns with the referencing columns'
types (the key is its primary key), plus the columns the gold query reads from it, typed from the
literals they are compared with or their names (`*_id` INT, `*_at`/`*date*` DATETIME, else
VARCHAR). An example scored this way is marked `schema_inferred`; `--no-infer-schema` turns it off.
The added DDL is plain SQL that MySQL, PostgreSQL and SQLite all read.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1024)
def infer_missing_tables(ddl: str, gold_sql: str, dialect: str) -> tuple[str, tuple[str, ...]]:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import cached_schema

    try:
        schema = cached_schema(ddl, dialect)
        tree = sqlglot.parse_one(gold_sql, read=dialect if dialect != "auto" else "mysql")
    except (SchemaError, SqlglotError, ValueError, RecursionError):
        return ddl, ()
    if tree is None:
        return ddl, ()
    ctes = {cte.alias.lower() for cte in tree.find_all(exp.CTE)}
    aliases: dict[str, str] = {}
    missing: list[str] = []
    for table in tree.find_all(exp.Table):
        name = table.name
        if not name or name.lower() in ctes:
            continue
        aliases[(table.alias or name).lower()] = name.lower()
        if schema.table(name) is None and name.lower() not in [m.lower() for m in missing]:
            missing.append(name)
    if not missing:
        return ddl, ()
    known_columns = {c.name.lower() for t in schema.tables for c in t.columns}
    creates = []
    for name in missing:
        columns, key = _referenced_columns(schema, name)
        for column in tree.find_all(exp.Column):
            owner = aliases.get(column.table.lower()) if column.table else None
            unqualified = not column.table and len(missing) == 1 and column.name.lower() not in known_columns
            if (owner == name.lower() or unqualified) and column.name.lower() not in {
                c.lower() for c in columns
            }:
                columns[column.name] = _guess_type(column)
        if not columns:
            return ddl, ()
        creates.append(_create(name, columns, key, dialect))
    return ddl.rstrip().rstrip(";") + ";\n" + "\n".join(creates), tuple(missing)


def _referenced_columns(schema, name: str) -> tuple[dict[str, str], list[str]]:
    columns: dict[str, str] = {}
    key: list[str] = []
    for table in schema.tables:
        for fk in table.foreign_keys:
            if fk.ref_table.lower() != name.lower():
                continue
            refs = fk.ref_columns or fk.columns
            for ref, own in zip(refs, fk.columns):
                source = table.column(own)
                columns.setdefault(ref, _sql_type(source.type if source else "INT"))
                if ref not in key:
                    key.append(ref)
    return columns, key


def _sql_type(type_name: str) -> str:
    t = type_name.upper()
    if t in ("VARCHAR", "CHAR", "NVARCHAR", "NCHAR"):
        return f"{t}(100)"
    if t in ("DECIMAL", "NUMERIC"):
        return f"{t}(12,2)"
    return t or "INT"


def _guess_type(column) -> str:
    from sqlglot import exp

    parent = column.parent
    if isinstance(parent, (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)):
        other = parent.expression if parent.this is column else parent.this
        if isinstance(other, exp.Literal):
            if not other.is_string:
                return "DECIMAL(12,2)" if "." in other.this else "INT"
            return "DATETIME" if other.this[:4].isdigit() and other.this[4:5] == "-" else "VARCHAR(100)"
    name = column.name.lower()
    if name == "id" or name.endswith("_id") or name.endswith("id") and len(name) > 2:
        return "INT"
    if name.endswith("_at") or "date" in name or name.endswith("_time"):
        return "DATETIME"
    if name.startswith(("num_", "count", "total", "amount", "price", "qty", "quantity")):
        return "DECIMAL(12,2)"
    return "VARCHAR(100)"


def _create(name: str, columns: dict[str, str], key: list[str], dialect: str) -> str:
    def quote(n: str) -> str:
        return f"`{n}`" if dialect == "mysql" else f'"{n}"'

    parts = [
        f"{quote(c)} {t if dialect != 'postgres' else t.replace('DATETIME', 'TIMESTAMP')}"
        for c, t in columns.items()
    ]
    if key:
        parts.append(f"PRIMARY KEY ({', '.join(quote(k) for k in key)})")
    return f"CREATE TABLE {quote(name)} ({', '.join(parts)});"
