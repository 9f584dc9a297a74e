"""Canonical SQL text for exact match (EM).

`normalize_sql(sql, dialect)` parses with sqlglot and prints one canonical form: keyword case,
identifier case and quoting, whitespace and a trailing `;` do not matter; table aliases are
replaced by table names where each table appears once (so `FROM players AS p ... p.name` equals
`FROM players ... players.name`); `AS` aliases of output columns that nothing refers to are
dropped. Literals keep their case. SQL that sqlglot cannot parse is compared by its
whitespace- and case-folded text, so EM still works (conservatively) on odd SQL.
"""

from __future__ import annotations


def normalize_sql(sql: str, dialect: str = "mysql") -> str:
    import sqlglot
    from sqlglot.errors import SqlglotError

    text = sql.strip().rstrip(";").strip()
    try:
        tree = sqlglot.parse_one(text, read=dialect)
    except (SqlglotError, ValueError, RecursionError):
        return " ".join(text.lower().split())
    if tree is None:
        return ""
    tree = _drop_table_aliases(_fold_identifiers(tree))
    tree = _drop_unused_column_aliases(tree)
    return tree.sql(dialect="sqlite", normalize=True, identify=False)


def _fold_identifiers(tree):
    from sqlglot import exp

    def fix(node):
        if isinstance(node, exp.Identifier):
            return exp.Identifier(this=node.name.lower(), quoted=False)
        return node

    return tree.transform(fix)


def _drop_table_aliases(tree):
    from sqlglot import exp

    tables = list(tree.find_all(exp.Table))
    names = [t.name for t in tables]
    renames = {}
    for table in tables:
        alias = table.alias
        if alias and names.count(table.name) == 1:
            renames[alias] = table.name
            table.set("alias", None)
    if len(tables) == 1 and not list(tree.find_all(exp.Subquery)):
        for column in tree.find_all(exp.Column):  # one table: `t.a` and `a` are the same column
            column.set("table", None)
        return tree
    if not renames:
        return tree
    for column in tree.find_all(exp.Column):
        if column.table in renames:
            column.set("table", exp.to_identifier(renames[column.table]))
    return tree


def _drop_unused_column_aliases(tree):
    from sqlglot import exp

    for select in tree.find_all(exp.Select):
        referenced = {c.name for c in select.find_all(exp.Column) if not c.table}
        for i, projection in enumerate(select.expressions):
            if isinstance(projection, exp.Alias) and projection.alias not in referenced:
                select.expressions[i] = projection.this
                projection.this.parent = select
    return tree
