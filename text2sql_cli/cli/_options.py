"""The effective options a command runs with, and where each came from (config.option_sources)."""

from __future__ import annotations


def print_effective_options(values: dict, sources: dict[str, str], title: str) -> None:
    """The options a command will use, each with where it came from (flag, --config, env, .env,
    preset); those at their defaults on one line. Stderr, main process only."""
    import os

    if os.environ.get("RANK", "0") != "0":
        return
    from rich.markup import escape

    from text2sql_cli.cli._console import err

    chosen = [(k, v, sources[k]) for k, v in values.items() if sources.get(k, "default") != "default"]
    defaults = [
        f"{k}={v}" for k, v in values.items() if sources.get(k, "default") == "default" and v is not None
    ]
    err.print(f"[bold]{title} options[/]")
    for key, value, source in chosen:
        err.print(f"  {key} = {escape(str(value))}  [dim]({escape(source)})[/]")
    if defaults:
        err.print(f"  [dim]defaults: {escape(', '.join(defaults))}[/]")


def hub_config_of(hub_config: str | None, old: str | None) -> str | None:
    """The hub dataset config: --hub-config, or its old spelling --config (which now means a YAML
    file of options on every command), with a warning."""
    if old is None:
        return hub_config
    from text2sql_cli.cli._console import err
    from text2sql_cli.errors import UsageError

    if hub_config is not None and hub_config != old:
        raise UsageError("--config and --hub-config disagree", hint="give --hub-config only")
    err.print("warning: --config for a hub dataset config is now --hub-config (--config is a YAML file)")
    return old
