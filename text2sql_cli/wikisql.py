"""WikiSQL import: questions + tables -> t2s rows, and each table's rows -> one SQLite database.

    import_wikisql(path, tables=None) -> Imported     rows (id, db_id, context, question, answer) + tables
    write_databases(tables, db_out) -> int            <db_out>/<table id>/<table id>.sqlite, Spider layout

Layouts read:
- the official release (salesforce/WikiSQL `data/`): `<split>.jsonl`, one question a line
  (`question`, `table_id`, `sql: {sel, agg, conds: [[column, operator, value], ...]}`), with the
  tables in `<split>.tables.jsonl` beside it (`id`, `header`, `types`, `rows`);
- JSONL or Parquet rows that carry their table inline (`table: {id, header, types, rows}`), as the
  hub's `wikisql` parquet does, where `sql.conds` is `{column_index: [...], operator_index: [...],
  condition: [...]}` and every cell and condition is a string.

The answer is the query WikiSQL's own evaluator runs (lib/dbengine.py), with names instead of
`col<i>`: ``SELECT AGG(`column`) FROM `table_<id>` WHERE `column` OP value AND ...``, aggregates
`['', 'MAX', 'MIN', 'COUNT', 'SUM', 'AVG']`, operators `['=', '>', '<']` (the fourth, 'OP', is a
placeholder with no SQL form and is refused). A value compared with a `real` column is a number,
read like the evaluator does ("1,998" -> 1998, else the first number in the text); other values
are quoted strings. The table is named `table_<id, '-' -> '_'>` as in the official `.db` files;
a column is its header, quoted (an empty header becomes `col<i>`, and a header that repeats one
before it, ignoring case as SQLite does, gets `_<i>`).

Quoting is MySQL's, the dialect t2s reads plain SQL as (`--dialect auto`, ko_text2sql's): backticks
around identifiers (SQLite accepts them too; a double-quoted name would read as a string in MySQL)
and a backslash in a string doubled.

Databases: TEXT columns are `COLLATE NOCASE`, because the official evaluator lowercases condition
values and questions often differ in case from the cells; the context (what the model sees) is the
plain CREATE TABLE. A `real` cell that reads as a number is stored as one, others as text.

Every bad row is reported as `file:line` (JSONL) or `file: row N` (Parquet); the first is raised
with the count of the others, so one run shows the size of the problem.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.errors import InputError

AGG_OPS = ["", "MAX", "MIN", "COUNT", "SUM", "AVG"]
COND_OPS = ["=", ">", "<", "OP"]
TYPES = {"text": "TEXT", "real": "REAL"}
_NUMBER = re.compile(r"[-+]?\d*\.\d+|\d+")  # the official evaluator's fallback (lib/dbengine.py)


class BadRow(ValueError):
    """One row's problem; the caller adds the file and line."""


@dataclass(frozen=True)
class Table:
    id: str
    columns: tuple[str, ...]  # unique SQL names, in header order
    types: tuple[str, ...]  # "text" or "real"
    rows: tuple[tuple[Any, ...], ...] | None  # None when the source has no rows

    @property
    def name(self) -> str:
        return "table_" + self.id.replace("-", "_")

    def ddl(self, *, nocase: bool = False) -> str:
        cols = []
        for col, kind in zip(self.columns, self.types):
            collate = " COLLATE NOCASE" if nocase and kind == "text" else ""
            cols.append(f"  {quote_identifier(col)} {TYPES[kind]}{collate}")
        return f"CREATE TABLE {quote_identifier(self.name)} (\n" + ",\n".join(cols) + "\n);"


@dataclass
class Imported:
    rows: list[dict[str, str]] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)  # the tables the rows use, by id


def quote_identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _column_names(header: list[str]) -> tuple[str, ...]:
    names, seen = [], set()
    for i, raw in enumerate(header):
        name = raw.strip() or f"col{i}"
        while name.lower() in seen:
            name = f"{name}_{i}"
        seen.add(name.lower())
        names.append(name)
    return tuple(names)


def parse_table(obj: Any) -> Table:
    if not isinstance(obj, dict):
        raise BadRow(f"expected a table object, got {type(obj).__name__}")
    table_id, header, types = obj.get("id"), obj.get("header"), obj.get("types")
    if not isinstance(table_id, str) or not table_id:
        raise BadRow("table lacks its 'id'")
    if not isinstance(header, list) or not header or not all(isinstance(h, str) for h in header):
        raise BadRow(f"table {table_id}: 'header' must be a non-empty list of strings")
    if not isinstance(types, list) or len(types) != len(header):
        raise BadRow(f"table {table_id}: 'types' must list one type per header column")
    unknown = sorted({str(t) for t in types} - set(TYPES))
    if unknown:
        raise BadRow(f"table {table_id}: unknown column type {unknown[0]!r} (WikiSQL has text and real)")
    rows = obj.get("rows")
    if rows is not None:
        if not isinstance(rows, list):
            raise BadRow(f"table {table_id}: 'rows' must be a list of rows")
        for n, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(header):
                raise BadRow(f"table {table_id}: rows[{n}] does not have {len(header)} cells")
        rows = tuple(tuple(_cell(v, t) for v, t in zip(row, types)) for row in rows)
    return Table(table_id, _column_names(header), tuple(types), rows)


def _cell(value: Any, kind: str) -> Any:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int, float))):
        raise BadRow(f"cell {value!r} is not a string or number")
    if kind == "real" and isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return value  # "n/a", "—": kept as text, as a REAL column in SQLite keeps it
    return value


def _number(value: Any) -> float | int:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value)
    try:
        return float(text.replace(",", ""))
    except ValueError:
        found = _NUMBER.findall(text)
        if not found:
            raise BadRow(f"condition value {text!r} on a real column is not a number") from None
        return float(found[0])


def _literal(value: Any, kind: str) -> str:
    if kind == "real":
        number = _number(value)
        return str(int(number)) if float(number).is_integer() else repr(float(number))
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a JSON 3.0 compared with the text "3"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadRow(f"condition value {value!r} is not a string or number")
    return quote_string(str(value))


def _conds(raw: Any) -> list[tuple[Any, Any, Any]]:
    """[[col, op, value], ...] (official) or {column_index: [...], operator_index: [...],
    condition: [...]} (the hub's columnar form) or a list of such dicts."""
    if isinstance(raw, dict):
        cols, ops, vals = (raw.get(k) for k in ("column_index", "operator_index", "condition"))
        if not all(isinstance(x, list) for x in (cols, ops, vals)) or not len(cols) == len(ops) == len(vals):
            raise BadRow("sql.conds must hold equally long column_index, operator_index, condition lists")
        return list(zip(cols, ops, vals))
    if not isinstance(raw, list):
        raise BadRow("sql.conds must be a list of [column, operator, value]")
    out = []
    for cond in raw:
        if isinstance(cond, dict):
            cond = [cond.get("column_index"), cond.get("operator_index"), cond.get("condition")]
        if not isinstance(cond, list) or len(cond) != 3:
            raise BadRow(f"condition {cond!r} is not [column, operator, value]")
        out.append(tuple(cond))
    return out


def _index(value: Any, size: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise BadRow(f"{what} {value!r} is not an index below {size}")
    return value


def build_sql(sql: Any, table: Table) -> str:
    if not isinstance(sql, dict):
        raise BadRow("'sql' must be an object with sel, agg, conds")
    n = len(table.columns)
    sel = table.columns[_index(sql.get("sel"), n, "sql.sel")]
    agg = AGG_OPS[_index(sql.get("agg"), len(AGG_OPS), "sql.agg")]
    target = f"{agg}({quote_identifier(sel)})" if agg else quote_identifier(sel)
    where = []
    for col, op, value in _conds(sql.get("conds", [])):
        c = _index(col, n, "condition column")
        o = _index(op, len(COND_OPS), "condition operator")
        if COND_OPS[o] == "OP":
            raise BadRow("condition operator 3 ('OP') is a placeholder with no SQL form")
        where.append(f"{quote_identifier(table.columns[c])} {COND_OPS[o]} {_literal(value, table.types[c])}")
    query = f"SELECT {target} FROM {quote_identifier(table.name)}"
    return query + (" WHERE " + " AND ".join(where) if where else "")


# ---- reading ----


def _records(path: Path) -> list[tuple[int, Any]]:
    """(line number for JSONL / row number for Parquet, object)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except (pyarrow.ArrowException, OSError) as err:
            raise InputError(path, f"not a readable Parquet file ({err})") from None
        return list(enumerate(rows))
    if path.suffix.lower() != ".jsonl":
        raise InputError(
            path, f"unsupported file type {path.suffix!r}", hint="give WikiSQL's .jsonl or .parquet"
        )
    out = []
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        out.append((number, json.loads(line)))
                    except json.JSONDecodeError as err:
                        raise InputError(path, f"not valid JSON ({err.msg})", line=number) from None
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start})", hint="save the file as UTF-8") from None
    return out


class _Problems:
    """Collect bad rows; raise the first with the count of the others."""

    def __init__(self, path: Path, parquet: bool):
        self.path, self.parquet, self.items = path, parquet, []

    def add(self, at: int, message: str) -> None:
        self.items.append((at, message))

    def raise_any(self) -> None:
        if not self.items:
            return
        at, message = self.items[0]
        more = f" (and {len(self.items) - 1} more bad rows)" if len(self.items) > 1 else ""
        if self.parquet:
            raise InputError(self.path, f"row {at}: {message}{more}", hint="fix or remove the row")
        raise InputError(self.path, message + more, line=at, hint="fix or remove the line")


def read_tables(path: Path) -> dict[str, Table]:
    if not path.exists():
        raise InputError(path, "tables file not found", hint="pass --tables <split>.tables.jsonl")
    problems, tables = _Problems(path, path.suffix.lower() == ".parquet"), {}
    for at, obj in _records(path):
        try:
            table = parse_table(obj)
        except BadRow as err:
            problems.add(at, str(err))
            continue
        tables[table.id] = table
    problems.raise_any()
    return tables


def default_tables_path(path: Path) -> Path:
    """`dev.jsonl` -> `dev.tables.jsonl` beside it (the official layout)."""
    return path.with_name(path.name.removesuffix(".jsonl") + ".tables.jsonl")


def import_wikisql(path: str | Path, tables: str | Path | None = None) -> Imported:
    """Rows for every question in `path`; tables come inline or from `tables` (default: beside)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "file not found", hint="give WikiSQL's <split>.jsonl or the hub's .parquet")
    records = _records(path)
    known: dict[str, Table] | None = None
    if tables is not None or any(isinstance(o, dict) and "table" not in o for _, o in records):
        known = read_tables(Path(tables) if tables else default_tables_path(path))
    problems, result = _Problems(path, path.suffix.lower() == ".parquet"), Imported()
    for i, (at, obj) in enumerate(records):
        try:
            row, table = _convert(obj, known)
        except BadRow as err:
            problems.add(at, str(err))
            continue
        result.tables.setdefault(table.id, table)
        result.rows.append({"id": f"{path.stem}-{i}", **row})
    problems.raise_any()
    return result


def _convert(obj: Any, known: dict[str, Table] | None) -> tuple[dict[str, str], Table]:
    if not isinstance(obj, dict):
        raise BadRow(f"expected a question object, got {type(obj).__name__}")
    question = obj.get("question")
    if not isinstance(question, str) or not question.strip():
        raise BadRow("missing 'question'")
    if "table" in obj:
        table = parse_table(obj["table"])
    else:
        table_id = obj.get("table_id")
        if not isinstance(table_id, str):
            raise BadRow("has neither 'table' nor 'table_id'")
        if known is None or table_id not in known:
            raise BadRow(f"table_id {table_id!r} is not in the tables file")
        table = known[table_id]
    if "sql" not in obj:
        raise BadRow("missing 'sql'")
    row = {"db_id": table.id, "context": table.ddl(), "question": question.strip()}
    return {**row, "answer": build_sql(obj["sql"], table)}, table


# ---- databases ----


def write_databases(tables: dict[str, Table], db_out: str | Path) -> int:
    """One SQLite database per table, `<db_out>/<id>/<id>.sqlite`, each built in a temporary file
    and renamed into place (an existing one is replaced). Returns how many had no rows."""
    import os
    import tempfile

    empty = 0
    for table in tables.values():
        folder = Path(db_out) / table.id
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".sqlite.tmp", dir=folder)
        os.close(fd)
        try:
            conn = sqlite3.connect(tmp)
            try:
                conn.execute(table.ddl(nocase=True))
                marks = ", ".join("?" for _ in table.columns)
                conn.executemany(
                    f"INSERT INTO {quote_identifier(table.name)} VALUES ({marks})", table.rows or ()
                )
                conn.commit()
            finally:
                conn.close()
            from text2sql_cli.io import give_umask_mode

            give_umask_mode(tmp)  # mkstemp makes 0600
            os.replace(tmp, folder / f"{table.id}.sqlite")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        empty += not table.rows
    return empty
