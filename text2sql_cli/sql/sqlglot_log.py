"""sqlglot's warnings (syntax it drops or cannot carry over while transpiling) are collected, not
printed: sqlglot logs them on the "sqlglot" logger, which with no handler configured prints each
to stderr, once per parse (EX and EM each parse a row, so twice per row).

    with capture() as messages:   # the innermost capture gets them; nothing reaches stderr
        ...
    summarize(messages) -> {"count": n, "examples": [first distinct messages]}
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

EXAMPLES = 5
_LOGGER = logging.getLogger("sqlglot")
_stack: list[list[str]] = []


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if _stack and record.levelno >= logging.WARNING:
            _stack[-1].append(record.getMessage())


_HANDLER = _Collect()


@contextmanager
def capture() -> Iterator[list[str]]:
    messages: list[str] = []
    if not _stack:
        _LOGGER.addHandler(_HANDLER)
        _LOGGER.propagate = False
    _stack.append(messages)
    try:
        yield messages
    finally:
        _stack.pop()
        if not _stack:
            _LOGGER.removeHandler(_HANDLER)
            _LOGGER.propagate = True


def summarize(messages: Iterable[str]) -> dict:
    messages = list(messages)
    return {"count": len(messages), "examples": list(dict.fromkeys(messages))[:EXAMPLES]}
