"""Domain errors. The library raises these; the CLI (one place, `cli/__init__.py`) turns them into a
one-line message on stderr and an exit code. Every message says what to do about it.

Exit codes: 2 for bad input or configuration (the user can fix it by changing what they typed or
the file they gave), 1 for failures while running (a model that fails to load, an API that keeps
failing).
"""

from __future__ import annotations

from pathlib import Path


class T2SError(Exception):
    """Base class. `str(err)` is the whole one-line message shown to the user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = self.message if not self.hint else f"{self.message}; {self.hint}"
        return " ".join(text.split("\n"))


class UsageError(T2SError):
    """A flag, option value or combination of options that cannot work."""

    exit_code = 2


class ConfigError(UsageError):
    """Missing or invalid configuration: a key, a base URL, a config file."""


class InputError(UsageError):
    """A bad input file. Names the file and, where it applies, the line (1-based) or row."""

    def __init__(
        self,
        path: str | Path | None,
        message: str,
        *,
        line: int | None = None,
        hint: str | None = None,
    ):
        self.path = str(path) if path is not None else None
        self.line = line
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}", hint=hint)


class ModelLoadError(T2SError):
    """A model, adapter or tokenizer that cannot be loaded. Never fall back to another model."""


class EnvironmentNotSupported(T2SError):
    """The requested feature needs hardware or a library this machine lacks (CUDA, bitsandbytes)."""

    exit_code = 2


class ApiError(T2SError):
    """An OpenAI-compatible endpoint that keeps failing after retries."""


class RequestsFailed(T2SError):
    """Results were written, but some LLM requests (judge, filter) ended in errors: exit 1, so a
    script or CI notices; a rerun retries exactly those rows (the others are cached)."""


def check_request_errors(what: str, errors: int, total: int) -> None:
    """Raise RequestsFailed when `errors` of `total` `what` requests ended in errors."""
    if errors:
        raise RequestsFailed(
            f"{errors} of {total} {what} requests ended in errors (left out of the results)",
            hint="rerun the same command: it retries them and reuses the answered rows",
        )
