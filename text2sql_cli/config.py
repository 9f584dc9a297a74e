"""Configuration: one rule for every command.

Precedence, highest first: command-line flag > `T2S_*` environment variable > `.env` file in the
working directory > built-in default. A flag left unset on the command line does not count as given
(the CLI passes only the flags the user typed).

Each feature declares its own settings class by subclassing `T2SSettings`, next to the code that
uses it; `settings_classes()` finds them all so that `.env.example` can be checked against them
(tests/test_config.py). Secrets are `SecretStr`: they never print, and `public_dump()` leaves them
out of run metadata.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from text2sql_cli.errors import ConfigError

ENV_PREFIX = "T2S_"
# The documented list of every variable (checked against the settings classes by the tests).
REPO_ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"

# Modules that define T2SSettings subclasses. Importing them must stay cheap (no torch at import).
SETTINGS_MODULES = (
    "text2sql_cli.config",
    "text2sql_cli.data",
    "text2sql_cli.training",
    "text2sql_cli.inference",
    "text2sql_cli.evaluation.execution",
    "text2sql_cli.llm_client",
    "text2sql_cli.evaluation.judge",
    "text2sql_cli.filtering",
)


class T2SSettings(BaseSettings):
    """Base for every settings class: `T2S_` prefix, `.env` support, unknown keys ignored."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    @classmethod
    def from_flags(cls, **flags: Any):
        """Build from CLI flags; `None` means "not given", so env, .env and defaults apply."""
        given = {k: v for k, v in flags.items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or cls.__name__}: {e['msg']}"
                for e in err.errors()
            )
            raise ConfigError(
                f"invalid configuration ({problems})",
                hint=f"check the flags and the {ENV_PREFIX}* variables or .env",
            ) from None

    def public_dump(self) -> dict[str, Any]:
        """Everything but secrets, JSON-ready: safe for run.json, logs and reports."""
        out = {}
        for name, value in self.model_dump(mode="json").items():
            if isinstance(getattr(self, name), SecretStr):
                continue
            out[name] = value
        return out


def env_names(cls: type[T2SSettings]) -> list[str]:
    """The environment variable names a settings class reads (aliases included)."""
    names = []
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        if choices:
            names.extend(str(c) for c in choices)
        elif isinstance(alias, str):
            names.append(alias)
        else:
            names.append(f"{ENV_PREFIX}{name}".upper())
    return names


def settings_classes() -> list[type[T2SSettings]]:
    """Every settings class of the project (for docs and the .env.example check)."""
    for module in SETTINGS_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a real import error inside an existing module
                raise
    found: list[type[T2SSettings]] = []
    stack = list(T2SSettings.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls not in found:
            found.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: (c.__module__, c.__name__))
