"""EX on a server engine: the databases one example runs on, and its queries as the engine runs them.

    prepare(sql, mode, role, keep_distinct) -> str        no transpiling; spider mode's text rewrites
    server_databases(task, gold_sqlite) -> context manager yielding ([(name, run(sql))], more(attempt),
        rows_skipped()): the rows the server refused while loading (reported, never hidden)
    table_rows(snapshot) -> list[TableRows]               the rows of a synthesized SQLite instance

With `{db_id}` in the task's URL, the one database is that existing database (read-only). Otherwise
the K instances the SQLite path synthesizes for the row (same DDL, gold literals, K and seed) are
each loaded into a throwaway database on the server, parents before children, and dropped when the
block exits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from functools import partial

from text2sql_cli.sql.engines import engine_dialect, server_for
from text2sql_cli.sql.engines.server import TableRows
from text2sql_cli.sql.sandbox import ExecutionResult


def prepare(sql: str, mode: str, role: str = "gold", keep_distinct: bool = False) -> str:
    """The text to run on a server: `sql` as written, except for spider mode's official text
    rewrites (`compare.spider_query`: DISTINCT removed, ...). Never transpiled."""
    from text2sql_cli.sql.compare import spider_query

    return spider_query(sql, role=role, keep_distinct=keep_distinct) if mode == "spider" else sql


def table_rows(snapshot: bytes, order: list[str]) -> list[TableRows]:
    """Every table's rows in a synthesized instance, tables in `order` (parents first)."""
    from text2sql_cli.sql.sandbox import open_snapshot

    conn = open_snapshot(snapshot)
    try:
        out = []
        for name in order:
            cursor = conn.execute(f'SELECT * FROM "{name}"')
            columns = tuple(d[0] for d in cursor.description)
            out.append(TableRows(name, columns, tuple(cursor.fetchall())))
        return out
    finally:
        conn.close()


@contextlib.contextmanager
def server_databases(task, gold_sqlite: str) -> Iterator[tuple[list, Callable | None, Callable[[], int]]]:
    """One `run(sql)` per database the example is scored on; throwaway ones dropped on exit."""
    engine_name = task.engine
    run_args = dict(timeout=task.timeout, max_rows=task.max_rows)
    if "{db_id}" in task.db_url:
        url = task.db_url.replace("{db_id}", task.db_id)
        engine = server_for(engine_name, url)
        try:
            engine.ping()
        except Exception as err:
            if not engine.is_query_error(err):
                raise
            raise FileNotFoundError(
                f"no database for db_id {task.db_id!r} on {engine_name}: {_first_line(err)}"
            ) from None
        yield [(f"{engine_name} database {task.db_id}", partial(engine.execute, **run_args))], None, lambda: 0
        return
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import _parents_first, cached_schema, instances_for

    if not task.context or not task.context.strip():
        raise SchemaError("the example has no DDL (context)")
    dialect = engine_dialect(engine_name)
    snapshots = instances_for(task.context, gold_sqlite, k=task.instances, seed=task.seed, dialect=dialect)
    order = [t.name for t in _parents_first(cached_schema(task.context, dialect))]
    engine = server_for(engine_name, task.db_url)
    skipped_before = engine.skipped_rows
    with engine.session(), contextlib.ExitStack() as stack:

        def load(snapshots, note: str) -> list:
            runners = []
            for i, data in enumerate(snapshots):
                try:
                    name = stack.enter_context(engine.throwaway(task.context, table_rows(data, order)))
                except Exception as err:
                    if not engine.is_query_error(err):
                        raise  # the server is unreachable or went away: not the row's fault
                    raise SchemaError(f"the DDL does not load on {engine_name}: {_first_line(err)}") from None
                where = f"on {engine_name} (seed {task.seed}{note})"
                label = f"synthesized database {i + 1} of {len(snapshots)} {where}"
                runners.append((label, partial(engine.execute, database=name, **run_args)))
            return runners

        def more(attempt: int) -> list:
            extra = instances_for(
                task.context, gold_sqlite, k=task.instances, seed=task.seed, dialect=dialect, attempt=attempt
            )
            return load(extra, f", re-synthesis {attempt}")

        yield load(snapshots, ""), more, lambda: engine.skipped_rows - skipped_before


def _first_line(err: Exception) -> str:
    args = getattr(err, "args", ())
    if len(args) == 2 and isinstance(args[0], int):
        return f"({args[0]}) {args[1]}"
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def run_on_instances(
    engine_name: str, url: str, context: str, sql: str, snapshots: tuple[bytes, ...] | None, **run_args
) -> list[ExecutionResult]:
    """`sql` run as written on throwaway databases built from `context`: one per snapshot, or one
    empty database when `snapshots` is None (for `t2s filter --engine`). SchemaError when the DDL
    does not load on the server."""
    from text2sql_cli.sql.schema import SchemaError
    from text2sql_cli.sql.synth import _parents_first, cached_schema

    dialect = engine_dialect(engine_name)
    order = [t.name for t in _parents_first(cached_schema(context, dialect))]
    engine = server_for(engine_name, url)
    results = []
    with engine.session():
        for data in snapshots if snapshots is not None else (None,):
            tables = table_rows(data, order) if data is not None else []
            try:
                with engine.throwaway(context, tables) as name:
                    results.append(engine.execute(sql, database=name, **run_args))
            except Exception as err:
                if not engine.is_query_error(err):
                    raise
                raise SchemaError(f"the DDL does not load on {engine_name}: {_first_line(err)}") from None
    return results
