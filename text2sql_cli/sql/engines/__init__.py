"""Where EX runs queries: embedded SQLite (default) or a real MariaDB/MySQL or PostgreSQL server.

    ENGINES                               ("sqlite", "mariadb", "postgres")
    check_url(engine, url) -> str         the SQLAlchemy URL with its driver, or EngineError
    open_run(engine, url) -> str          check_url + reach the server + drop dead runs' leftovers
    server_for(engine, url) -> ServerEngine  one pooled engine per (process, URL)
    engine_dialect(engine) -> str         the dialect SQL is written in for that engine

On a server, gold and predicted SQL run as written (no transpiling). With DDL-only data each
synthesized instance becomes a throwaway database built from the row's own DDL and the same rows
the SQLite path synthesizes (`scoring`); with `{db_id}` in the URL, queries run read-only on the
existing database of that name. Drivers: PyMySQL (`pip install 't2s[mariadb]'`) and psycopg 3
(`pip install 't2s[postgres]'`); SQLAlchemy provides the connection pool.
"""

from __future__ import annotations

import os

from text2sql_cli.errors import UsageError

ENGINES = ("sqlite", "mariadb", "postgres")
_DRIVERS = {
    "mariadb": ("mysql+pymysql", ("mysql", "mariadb", "mysql+pymysql", "mariadb+pymysql"), "pymysql"),
    "postgres": (
        "postgresql+psycopg",
        ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg3"),
        "psycopg",
    ),
}
_servers: dict[tuple[int, str, str], object] = {}


class EngineError(UsageError):
    """--engine / --db-url do not fit together, or the driver is missing."""


def engine_dialect(engine: str) -> str:
    return {"mariadb": "mysql", "postgres": "postgres"}.get(engine, "sqlite")


def check_url(engine: str, url: str | None) -> str:
    """`url` with the driver t2s uses (mysql:// -> mysql+pymysql://); EngineError when it does not fit."""
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}", hint=f"choose one of {', '.join(ENGINES)}")
    if engine == "sqlite":
        if url:
            raise EngineError(
                "--db-url needs --engine mariadb or postgres", hint="or use --db-dir for SQLite files"
            )
        return ""
    example = (
        "mysql://user@127.0.0.1:3306/" if engine == "mariadb" else "postgresql://user@127.0.0.1:5432/postgres"
    )
    if not url:
        raise EngineError(f"--engine {engine} needs --db-url", hint=f"e.g. --db-url {example}")
    driver, schemes, module = _DRIVERS[engine]
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in schemes:
        raise EngineError(f"--db-url {_redact(url)} is not a {engine} URL", hint=f"e.g. --db-url {example}")
    try:
        __import__(module)
    except ImportError:
        extra = "mariadb" if engine == "mariadb" else "postgres"
        raise EngineError(
            f"--engine {engine} needs the {module} driver", hint=f"pip install 't2s[{extra}]'"
        ) from None
    return f"{driver}://{rest}"


def server_for(engine: str, url: str, *, pool_size: int = 4):
    """The process's pooled `ServerEngine` for `url` (a forked worker gets its own)."""
    from text2sql_cli.sql.engines.server import ServerEngine

    key = (os.getpid(), engine, url)
    if key not in _servers:
        _servers[key] = ServerEngine(engine, url, pool_size=pool_size)
    return _servers[key]


def open_run(engine: str, url: str | None) -> str:
    """Check `url` and reach the server before any work starts; drop throwaway databases that
    dead runs on this host left behind. Returns the URL to put in tasks. The pool is closed
    again so that forked workers never share its sockets."""
    url = check_url(engine, url)
    if engine == "sqlite":
        return url
    if "{db_id}" in url:  # existing databases: each is reached (and checked) when its rows run
        return url
    probe = server_for(engine, url)
    try:
        probe.clean_leftovers()
    except Exception as err:
        raise EngineError(
            f"cannot use {engine} at {_redact(url)}: {str(err).strip().splitlines()[0][:200]}",
            hint="is the server running, and may this account create databases? "
            "(`.ci/services.sh start` starts local test servers)",
        ) from None
    finally:
        probe.dispose()
    return url


def _redact(url: str) -> str:
    """The URL without its password (never printed)."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest:
        creds, _, host = rest.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"
    return url


redact = _redact
