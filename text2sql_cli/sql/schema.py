"""DDL text -> `Schema` -> an in-memory SQLite database.

`parse_schema(ddl, dialect)` reads CREATE TABLE statements (MySQL, PostgreSQL or SQLite style,
through sqlglot) into a `Schema`: tables, typed columns, PRIMARY KEY, UNIQUE, NOT NULL and FOREIGN
KEY, plus the SQLite DDL text that keeps those constraints. INSERT statements in the context are
kept (transpiled) so that contexts that ship rows load them. Other statements (CREATE INDEX, ...)
are ignored: they do not change query results.

`build_database(ddl, dialect)` returns a writable in-memory connection holding that schema; the
sandbox runs queries on a read-only snapshot of it (`sandbox.snapshot` / `sandbox.open_snapshot`).
A DDL that cannot be read raises `SchemaError`, whose message says which statement failed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from text2sql_cli.sql.dialect import resolve_dialect

# How synthesis fills a column, from its declared type.
KINDS = ("int", "float", "bool", "date", "datetime", "time", "text")


class SchemaError(ValueError):
    """The DDL cannot be read or does not load into SQLite."""


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the declared type, upper case, without parameters (VARCHAR, DATETIME, ...)
    kind: str  # one of KINDS
    not_null: bool = False
    primary_key: bool = False
    unique: bool = False
    length: int | None = None  # VARCHAR(n)/CHAR(n): a server rejects longer text
    choices: tuple[str, ...] = ()  # ENUM('a', 'b') / SET(...): the only values a server accepts


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    uniques: tuple[tuple[str, ...], ...] = ()  # single- and multi-column UNIQUE sets
    foreign_keys: tuple[ForeignKey, ...] = ()

    def column(self, name: str) -> Column | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)


@dataclass(frozen=True)
class Schema:
    tables: tuple[Table, ...]
    sqlite_ddl: tuple[str, ...]  # CREATE TABLE statements in SQLite syntax
    inserts: tuple[str, ...] = ()  # INSERT statements found in the context, in SQLite syntax
    notes: tuple[str, ...] = field(default=())

    def table(self, name: str) -> Table | None:
        lowered = name.lower()
        return next((t for t in self.tables if t.name.lower() == lowered), None)


def column_kind(type_name: str) -> str:
    t = type_name.upper()
    if t in ("BOOLEAN", "BOOL", "BIT"):
        return "bool"
    if "INT" in t or "SERIAL" in t:
        return "int"
    if t in ("DECIMAL", "NUMERIC", "FLOAT", "DOUBLE", "REAL", "MONEY", "BIGDECIMAL") or "FLOAT" in t:
        return "float"
    if t in ("DATETIME", "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMPLTZ", "DATETIME64"):
        return "datetime"
    if t in ("DATE", "DATE32"):
        return "date"
    if t in ("TIME", "TIMETZ"):
        return "time"
    return "text"


def parse_schema(ddl: str, dialect: str = "auto") -> Schema:
    """Read every CREATE TABLE (and INSERT) of `ddl`; raise `SchemaError` when there is none."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    source = resolve_dialect(ddl, dialect)
    try:
        trees = [t for t in sqlglot.parse(ddl, read=source) if t is not None]
    except SqlglotError as err:
        raise SchemaError(f"cannot parse the DDL as {source}: {str(err).splitlines()[0][:200]}") from None
    tables, creates, inserts = [], [], []
    for tree in trees:
        if isinstance(tree, exp.Create) and str(tree.args.get("kind", "")).upper() == "TABLE":
            if not isinstance(tree.this, exp.Schema):
                continue  # CREATE TABLE ... AS SELECT: no columns to read
            tables.append(_table(tree.this))
            creates.append(_sqlite_create(tree, case_insensitive=source == "mysql"))
        elif isinstance(tree, exp.Insert):
            inserts.append(tree.sql(dialect="sqlite"))
    if not tables:
        raise SchemaError("the DDL has no CREATE TABLE statement")
    return Schema(tuple(tables), tuple(creates), tuple(inserts))


def build_database(ddl: str | Schema, dialect: str = "auto") -> sqlite3.Connection:
    """A writable in-memory SQLite database with the schema (and any INSERTed rows) of `ddl`."""
    schema = ddl if isinstance(ddl, Schema) else parse_schema(ddl, dialect)
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    statements = [("", s) for s in schema.sqlite_ddl] + [("the INSERT ", s) for s in schema.inserts]
    for kind, statement in statements:
        try:
            conn.execute(statement)
        except sqlite3.Error as err:
            conn.close()
            raise SchemaError(f"SQLite rejects {kind}{statement[:80]!r}...: {err}") from None
    conn.commit()
    return conn


def _name(node) -> str:
    return node.name if hasattr(node, "name") else str(node)


def _table(schema_node) -> Table:
    from sqlglot import exp

    columns: list[Column] = []
    primary: list[str] = []
    uniques: list[tuple[str, ...]] = []
    fks: list[ForeignKey] = []
    for item in schema_node.expressions:
        if isinstance(item, exp.ColumnDef):
            col, col_fk = _column(item)
            columns.append(col)
            if col.primary_key:
                primary.append(col.name)
            if col.unique:
                uniques.append((col.name,))
            if col_fk:
                fks.append(col_fk)
        elif isinstance(item, exp.PrimaryKey):
            primary = [_name(e) for e in item.expressions]
        elif isinstance(item, exp.UniqueColumnConstraint) and isinstance(item.this, exp.Schema):
            uniques.append(tuple(_name(e) for e in item.this.expressions))
        elif isinstance(item, exp.ForeignKey):
            ref = item.args.get("reference")
            if ref is not None and isinstance(ref.this, exp.Schema):
                fks.append(
                    ForeignKey(
                        tuple(_name(e) for e in item.expressions),
                        ref.this.this.name,
                        tuple(_name(e) for e in ref.this.expressions),
                    )
                )
    pk = tuple(primary)
    if len(pk) > 1:  # a composite key: no single column is unique on its own
        columns = [c if c.name not in pk else _replace(c, primary_key=False) for c in columns]
    elif pk:
        columns = [_replace(c, primary_key=True) if c.name == pk[0] else c for c in columns]
    return Table(schema_node.this.name, tuple(columns), pk, tuple(uniques), tuple(fks))


def _replace(col: Column, **changes) -> Column:
    from dataclasses import replace

    return replace(col, **changes)


def _column(node) -> tuple[Column, ForeignKey | None]:
    from sqlglot import exp

    kind = node.args.get("kind")
    type_name = kind.this.name if kind is not None else "TEXT"
    not_null = primary = unique = False
    fk = None
    for constraint in node.constraints:
        c = constraint.kind
        if isinstance(c, exp.NotNullColumnConstraint) and not c.args.get("allow_null"):
            not_null = True
        elif isinstance(c, exp.PrimaryKeyColumnConstraint):
            primary = True
        elif isinstance(c, exp.UniqueColumnConstraint):
            unique = True
        elif isinstance(c, exp.Reference) and isinstance(c.this, exp.Schema):
            fk = ForeignKey((node.name,), c.this.this.name, tuple(_name(e) for e in c.this.expressions))
        elif isinstance(c, exp.Reference) and isinstance(c.this, exp.Table):
            fk = ForeignKey((node.name,), c.this.name, ())
    length = None
    if kind is not None and column_kind(type_name) == "text" and kind.expressions:
        size = kind.expressions[0].this if hasattr(kind.expressions[0], "this") else None
        if isinstance(size, exp.Literal) and size.this.isdigit():
            length = int(size.this)
    choices: tuple[str, ...] = ()
    if kind is not None and type_name.upper() in ("ENUM", "SET"):
        choices = tuple(e.this for e in kind.expressions if isinstance(e, exp.Literal) and e.is_string)
    col = Column(
        node.name,
        type_name.upper(),
        column_kind(type_name),
        not_null or primary,
        primary,
        unique,
        length,
        choices,
    )
    return col, fk


def _nocase(node) -> bool:
    """A text column without a collation of its own (an explicit one is translated instead)."""
    from sqlglot import exp

    kind = node.args.get("kind")
    if (
        kind is None
        or column_kind(kind.this.name) != "text"
        or "BLOB" in kind.this.name
        or "BINARY" in kind.this.name
    ):
        return False
    return not any(isinstance(c.kind, exp.CollateColumnConstraint) for c in node.constraints)


def _sqlite_create(tree, case_insensitive: bool = False) -> str:
    """SQLite text of a CREATE TABLE; SERIAL types become INTEGER so that the key is a rowid. With
    `case_insensitive` (MySQL DDL), text columns without a collation get COLLATE NOCASE, as MySQL's
    default collations compare text without case (see mysql_emulation)."""
    from sqlglot import exp

    def fix(node):
        if isinstance(node, exp.DataType) and "SERIAL" in node.this.name:
            return exp.DataType.build("INT")
        if isinstance(node, exp.DataType) and node.this.name in ("ENUM", "SET"):  # SQLite has neither
            return exp.DataType.build("TEXT")
        if case_insensitive and isinstance(node, exp.CollateColumnConstraint):  # MySQL names -> SQLite's
            name = node.this.name.upper() if node.this is not None else ""
            if name not in ("NOCASE", "BINARY", "RTRIM"):
                return exp.CollateColumnConstraint(
                    this=exp.Var(this="NOCASE" if name.endswith("_CI") else "BINARY")
                )
        if case_insensitive and isinstance(node, exp.ColumnDef) and _nocase(node):
            node.append(
                "constraints",
                exp.ColumnConstraint(kind=exp.CollateColumnConstraint(this=exp.Var(this="NOCASE"))),
            )
        return node

    return tree.transform(fix).sql(dialect="sqlite")
