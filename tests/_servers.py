"""The MariaDB and PostgreSQL servers the engine tests use, as `.ci/services.sh start` exports them.

Read at import (the autouse fixture clears T2S_* variables before each test). In CI (CI=true) a
missing server fails the test that needs it; locally it skips, with the same message.
"""

from __future__ import annotations

import os

import pytest

URLS = {
    "mariadb": os.environ.get("T2S_TEST_MARIADB_URL"),
    "postgres": os.environ.get("T2S_TEST_POSTGRES_URL"),
}
HOW = {
    "mariadb": "apt-get install mariadb-server",
    "postgres": "apt-get install postgresql",
}


def server_url(engine: str) -> str:
    """The test server's URL, or fail (CI) / skip (locally) saying how to get one."""
    url = URLS[engine]
    if url:
        return url
    message = (
        f"no {engine} test server: T2S_TEST_{engine.upper()}_URL is unset. Install it ({HOW[engine]}) "
        f'and start it with `eval "$(.ci/services.sh start)"` (make test does this)'
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)
