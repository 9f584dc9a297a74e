"""What each EX mode runs: the dialect an example is read in, the names in scope, and the
query text per mode (`prepare_query`). Torch-free; sqlglot loads on first use.

    example_dialect(task) -> (dialect, reason)
    names_in_scope(task, dialect) -> frozenset of lower-cased table and column names
    prepare_query(sql, dialect, mode, role, keep_distinct, names) -> (SQLite text, order matters)
    connections(task, gold_sqlite, dialect) -> [(name, run(sql) -> ExecutionResult)]
    database_files(db_dir, db_id) -> the Spider-layout files of one db_id
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

OFFICIAL_MODES = ("spider", "bird", "sqleval")  # on real SQLite files these run plain SQLite


def example_dialect(task) -> tuple[str, str]:
    """The dialect this example's SQL is read in, and why."""
    from text2sql_cli.sql.dialect import detect_dialect

    if task.engine != "sqlite":
        from text2sql_cli.sql.engines import engine_dialect

        return engine_dialect(task.engine), f"--engine {task.engine}: SQL runs as written"
    if task.dialect != "auto":
        return task.dialect, "--dialect"
    if task.db_dir:
        return "sqlite", "real SQLite databases: SQL runs as written"
    return detect_dialect(task.context or "")


def names_in_scope(task, dialect: str) -> frozenset[str]:
    """Lower-cased table and column names in scope: the databases' when real, else the DDL's."""
    if task.db_dir:
        files = database_files(Path(task.db_dir), task.db_id)
        return frozenset().union(*(_file_names(str(f)) for f in files))
    return _schema_names(task.context, dialect)


@lru_cache(maxsize=256)
def _file_names(path: str) -> frozenset[str]:
    import sqlite3

    conn = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        tables = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        ]
        columns = [r[1] for t in tables for r in conn.execute("SELECT * FROM pragma_table_info(?)", (t,))]
    finally:
        conn.close()
    return frozenset(n.lower() for n in (*tables, *columns))


@lru_cache(maxsize=1024)
def _schema_names(context: str | None, dialect: str) -> frozenset[str]:
    """Lower-cased table and column names of the DDL (a double-quoted one is an identifier)."""
    if not context:
        return frozenset()
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import cached_schema

    try:
        schema = cached_schema(context, dialect)
    except SchemaError:
        return frozenset()
    return frozenset(name.lower() for t in schema.tables for name in (t.name, *(c.name for c in t.columns)))


@lru_cache(maxsize=8192)
def prepare_query(
    sql: str,
    dialect: str,
    mode: str,
    role: str = "gold",
    keep_distinct: bool = False,
    names: frozenset[str] = frozenset(),
) -> tuple[str, bool]:
    """The SQLite text to run and whether row order matters (meaningful for the gold query).

    spider: the official evaluator's text rewrites, and order from `'order by'` anywhere in the
    gold text (its heuristic); other modes: order from a top-level ORDER BY (parsed). Then SQL
    that is not SQLite is transpiled (text sqlglot cannot parse runs unchanged)."""
    from text2sql_cli.sql.compare import spider_query
    from text2sql_cli.sql.dialect import sqlite_tree

    if mode == "spider":
        sql = spider_query(sql, role=role, keep_distinct=keep_distinct)
        ordered = "order by" in sql.lower()
        if dialect == "sqlite":
            return sql, ordered
        tree = sqlite_tree(sql, dialect, names)
        return (sql if tree is None else tree.sql(dialect="sqlite")), ordered
    tree = sqlite_tree(sql, dialect, names)
    if tree is None:
        return sql, "order by" in " ".join(sql.lower().split())  # unparseable: the textual heuristic
    ordered = tree.args.get("order") is not None
    return (sql if dialect == "sqlite" else tree.sql(dialect="sqlite")), ordered


def database_files(db_dir: Path, db_id: str) -> list[Path]:
    """`<db_dir>/<db_id>/*.sqlite`, sorted; FileNotFoundError when there is none."""
    files = sorted((db_dir / db_id).glob("*.sqlite"))
    if not files:
        raise FileNotFoundError(f"no database for db_id {db_id!r}: expected {db_dir / db_id}/*.sqlite")
    return files


def connections(task, gold_sqlite: str, dialect: str, attempt: int = 0) -> list[tuple[str, object]]:
    """(name for messages, run(sql) -> ExecutionResult) for each database of the example."""
    from functools import partial

    from text2sql_cli.sql.sandbox import execute, open_snapshot

    run = dict(timeout=task.timeout, max_rows=task.max_rows)
    if task.db_dir:
        plain = dialect == "sqlite" and task.mode in OFFICIAL_MODES
        return [
            (str(p), partial(execute, _readonly(str(p), plain), **run))
            for p in database_files(Path(task.db_dir), task.db_id)
        ]
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import instances_for

    if not task.context or not task.context.strip():
        raise SchemaError("the example has no DDL (context)")
    snapshots = instances_for(
        task.context, gold_sqlite, k=task.instances, seed=task.seed, dialect=dialect, attempt=attempt
    )
    extra = f", re-synthesis {attempt}" if attempt else ""
    if task.save_to:
        _save_snapshots(Path(task.save_to), snapshots, attempt)
    return [
        (
            f"synthesized database {i + 1} of {len(snapshots)} (seed {task.seed}{extra})",
            partial(execute, open_snapshot(data), **run),
        )
        for i, data in enumerate(snapshots)
    ]


def _save_snapshots(folder: Path, snapshots, attempt: int) -> None:
    """--save-dbs: the synthesized databases as SQLite files, instance-N.sqlite (re-synthesis
    rounds: instance-N-rR.sqlite), each written to a temp file then renamed."""
    import os

    folder.mkdir(parents=True, exist_ok=True)
    for i, data in enumerate(snapshots):
        target = folder / (f"instance-{i + 1}" + (f"-r{attempt}" if attempt else "") + ".sqlite")
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)


@lru_cache(maxsize=64)
def _readonly(path: str, plain: bool = False):
    """A sandboxed connection to a database file; `plain`: without the MySQL functions the sandbox
    adds, so SQL read as SQLite fails where SQLite (and so the official scripts) would."""
    from text2sql_cli.sql.sandbox import open_readonly

    return open_readonly(path, mysql_functions=not plain)
