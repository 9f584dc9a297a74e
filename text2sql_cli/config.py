"""Configuration: one rule for every command.

Precedence, highest first: command-line flag > `T2S_*` environment variable > `.env` file in the
working directory > built-in default. A flag left unset on the command line does not count as given
(the CLI passes only the flags the user typed). The one addition: `t2s train --config FILE` (a YAML
file of options) sits between the flags and the environment, and `t2s train --preset` replaces the
built-in defaults (training/config.py).

Names: a command's option `--flag` is the field `flag` of its `*Settings` class (the long form
where a flag has two: `--k`/`--instances` is `instances`) and the variable `T2S_<COMMAND>_<FLAG>`,
from the class's `env_prefix` (`t2s eval --mode` <-> `mode` <-> `T2S_EVAL_MODE`, `t2s train
--max-len` <-> `T2S_TRAIN_MAX_LEN`); summaries and run records key settings by the same names.
Shared knobs keep one shared prefix: `T2S_JUDGE_*` for the LLM judge's endpoint (`t2s eval` and
`t2s filter`), `T2S_LLM_*` for the OpenAI-compatible client; there the flag is not `--<field>`
(`--judge` is `T2S_JUDGE_MODEL`), so the class's `FLAGS` names it. Either way an invalid value
names the flag and its variable (`--mode (T2S_EVAL_MODE): Input should be ...`). Choices are
`Literal`s in `text2sql_cli/choices.py` (no pydantic, so `t2s --help` stays fast), shared with the
CLI, so `--help` lists them; `--help` reads the defaults from these classes when it is shown.

Each feature declares its own settings class by subclassing `T2SSettings`, next to the code that
uses it; `settings_classes()` finds them all so that `.env.example` can be checked against them
(tests/test_config.py). Secrets are `SecretStr`: they never print, and `public_dump()` leaves them
out of run metadata.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

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
    "text2sql_cli.llm_client.settings",
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

    # field -> its command-line flag, where the flag is not `--<field>` (see the module docstring);
    # None: the field has no flag (set it through the environment only)
    FLAGS: ClassVar[dict[str, str | None]] = {}
    FIELDS_ARE_FLAGS: ClassVar[bool] = True

    @classmethod
    def flag_of(cls, name: str) -> str | None:
        if name in cls.FLAGS:
            return cls.FLAGS[name]
        return "--" + name.replace("_", "-") if cls.FIELDS_ARE_FLAGS else None

    @classmethod
    def from_flags(cls, **flags: Any):
        """Build from CLI flags; `None` means "not given", so env, .env and defaults apply."""
        check_dotenv()
        check_environ()
        given = {k: v for k, v in flags.items() if v is not None}
        try:
            return cls(**given)
        except ValidationError as err:
            problems = "; ".join(_describe(cls, e) for e in err.errors())
            fields = {str(e["loc"][0]) for e in err.errors() if e["loc"]}
            flagged = any(f not in cls.model_fields or cls.flag_of(f) for f in fields) or not fields
            where = "the flag, the " if flagged else "the "  # a setting without a flag is env-only
            raise ConfigError(
                f"invalid configuration: {problems}",
                hint=f"fix {where}{ENV_PREFIX}* variable or the .env line",
            ) from None

    def public_dump(self) -> dict[str, Any]:
        """Everything but secrets, JSON-ready: safe for run.json, logs and reports."""
        out = {}
        for name, value in self.model_dump(mode="json").items():
            if isinstance(getattr(self, name), SecretStr):
                continue
            out[name] = value
        return out


def option_sources(
    cls: type[T2SSettings],
    flags: dict[str, Any],
    *,
    before_env: tuple[tuple[str, set[str]], ...] = (),
    after_env: tuple[tuple[str, set[str]], ...] = (),
) -> dict[str, str]:
    """Where each option of `cls` got its value, by the precedence rule: "flag" (given, not None),
    then the `before_env` layers (e.g. ("--config FILE", keys)), "env T2S_X", ".env T2S_X", the
    `after_env` layers (e.g. ("preset book", keys)), else "default"."""
    import os

    dotenv: dict[str, Any] = {}
    if Path(".env").is_file():
        from dotenv import dotenv_values

        dotenv = {k.upper(): v for k, v in dotenv_values(".env").items()}
    environ = {k.upper() for k in os.environ}
    out: dict[str, str] = {}
    for name in cls.model_fields:
        names = [n.upper() for n in env_names_of_field(cls, name)]
        if flags.get(name) is not None:
            out[name] = "flag"
            continue
        layer = next((label for label, keys in before_env if name in keys), None)
        if layer is None:
            layer = next((f"env {n}" for n in names if n in environ), None)
        if layer is None:
            layer = next((f".env {n}" for n in names if n in dotenv), None)
        if layer is None:
            layer = next((label for label, keys in after_env if name in keys), None)
        out[name] = layer or "default"
    return out


_WARNED: set[tuple[str, str]] = set()  # warn once per process, however many settings load


def _describe(cls: type[T2SSettings], error: dict[str, Any]) -> str:
    """`--seed (T2S_SEED): Input should be a valid integer` — the flag (or the field where it has
    none), where else it can be set, and why."""
    field = str(error["loc"][0]) if error["loc"] else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    if field not in cls.model_fields:
        return f"{field or cls.__name__}: {message}"
    envs = ", ".join(env_names_of_field(cls, field))
    return f"{cls.flag_of(field) or field} ({envs}): {message}"


def check_dotenv(path: str | Path = ".env") -> None:
    """A `.env` line that cannot be parsed is an error naming the file and line (python-dotenv
    would only warn and skip it, so a setting the user wrote would silently not apply). A `T2S_*`
    name that no setting reads (a typo) gets a one-line warning on stderr."""
    import sys

    from dotenv.parser import parse_stream

    path = Path(path)
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as fh:
        bindings = list(parse_stream(fh))
    for binding in bindings:
        if binding.error:
            text = binding.original.string.strip()
            raise ConfigError(
                f"{path}:{binding.original.line}: cannot parse {text[:60]!r}",
                hint=(
                    "write NAME=value (quote values with spaces, close every quote) or comment it out with #"
                ),
            )
    known = {name for cls in settings_classes() for name in env_names(cls)}
    for binding in bindings:
        if binding.key and binding.key.startswith(ENV_PREFIX) and binding.key not in known:
            if (str(path), binding.key) in _WARNED:
                continue
            _WARNED.add((str(path), binding.key))
            line = binding.original.line + binding.original.string[
                : binding.original.string.find(binding.key)
            ].count("\n")
            print(
                f"warning: {path}:{line}: {binding.key} is not a t2s setting (see .env.example); it is "
                "ignored",
                file=sys.stderr,
            )


# Names the project's own tooling sets (CI services, the GPU benchmark, tests, the MySQL emulation's
# pinned clock), not settings a user writes.
_TOOLING_PREFIXES = ("T2S_TEST_", "T2S_SERVICES_", "T2S_GPU_", "T2S_MARIADB_", "T2S_POSTGRES_")
_TOOLING = {"T2S_PINNED_NOW"}


def check_environ(environ: Mapping[str, str] | None = None) -> None:
    """A `T2S_*` variable in the process environment that no setting reads (a typo such as
    T2S_TRAIN_LEARNING_RATE) gets a one-line warning on stderr, as a `.env` typo does, with the
    closest real name."""
    import difflib
    import os
    import sys

    environ = os.environ if environ is None else environ
    names = [
        n
        for n in environ
        if n.startswith(ENV_PREFIX) and n not in _TOOLING and not n.startswith(_TOOLING_PREFIXES)
    ]
    if not names:
        return
    known = {name for cls in settings_classes() for name in env_names(cls)}
    for name in sorted(names):
        if name in known or ("env", name) in _WARNED:
            continue
        _WARNED.add(("env", name))
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        print(
            f"warning: environment variable {name} is not a t2s setting{hint}; it is ignored "
            "(see .env.example)",
            file=sys.stderr,
        )


def env_names(cls: type[T2SSettings]) -> list[str]:
    """The environment variable names a settings class reads (aliases included)."""
    return [env for name in cls.model_fields for env in env_names_of_field(cls, name)]


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


def env_example_text() -> str:
    """The text of `.env.example`: every variable of every settings class, commented out, with its
    default and help. Regenerate with `python -m text2sql_cli.config > .env.example`."""
    lines = [
        "# t2s configuration. Copy to .env and uncomment what you need.",
        "# Precedence: command-line flag > T2S_* environment variable > .env > default.",
        "# Keys: OPENAI_API_KEY is sent only to api.openai.com; other base URLs get only the key given for "
        "them.",
        "",
    ]
    for cls in settings_classes():
        title = " ".join((cls.__doc__ or cls.__name__).strip().split("\n\n")[0].split())
        lines.append(f"# --- {title}")
        for name, field in cls.model_fields.items():
            names = env_names_of_field(cls, name)
            default = field.default
            shown = "" if default is None or repr(default) == "PydanticUndefined" else default
            if isinstance(shown, bool):
                shown = str(shown).lower()
            if isinstance(shown, tuple):
                shown = ",".join(map(str, shown))
            help_text = f"  # {field.description}" if field.description else ""
            for env in names:
                lines.append(f"# {env}={shown}{help_text}")
        lines.append("")
    return "\n".join(lines)


def env_names_of_field(cls: type[T2SSettings], name: str) -> list[str]:
    field = cls.model_fields[name]
    choices = getattr(field.validation_alias, "choices", None)
    if choices:
        return [str(c) for c in choices]
    if isinstance(field.validation_alias, str):
        return [field.validation_alias]
    prefix = cls.model_config.get("env_prefix") or ENV_PREFIX
    return [f"{prefix}{name}".upper()]


if __name__ == "__main__":
    # Import through the package: subclasses register on text2sql_cli.config, not on __main__.
    from text2sql_cli import config

    print(config.env_example_text(), end="")
