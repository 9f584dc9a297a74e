"""`--help` for every t2s command: options in titled panels, every default shown, readable at 80
columns.

Typer's own renderer puts long, short, negative long and negative short names, the type and the
help in six table columns, so at 80 columns a flag like `--gradient-checkpointing` is cut and the
help wraps one word per line. Here an option is one name column (`--lr FLOAT`,
`--packing/--no-packing`, `--k, --instances INT`) and its help; a name longer than the column gets
its own line and its help starts on the next one (as argparse does), so no name is ever cut.

Defaults: an option declared with a real default shows it. An option declared `None` ("not given",
so that the environment, `.env` or a preset can fill it) shows the default of the settings field
behind its flag, read from the command's settings classes when the help is rendered (never
retyped in the CLI, and never imported at start-up: `t2s --help` loads no pydantic).

Help texts are plain text, never rich markup: `[sft]` in a help string prints as written. Nothing
is patched: the commands use these classes through typer's `cls=`, and the renderer reads only the
parameters' public attributes (opts, secondary_opts, default, metavar, nargs, rich_help_panel) and
draws with rich's Console, Panel and Text. tests/test_help.py pins the result for every command.
"""

from __future__ import annotations

import importlib
import os
import shutil
from typing import Any

from typer.core import TyperCommand, TyperGroup

# Panel names, the same on every command (a panel lists only what the command has).
DATA = "Data"
MODEL = "Model"
LORA = "LoRA"
OPTIMISATION = "Optimisation"
GRPO = "GRPO"
GENERATION = "Generation"
CANDIDATES = "Candidates"
API = "API server"
PIPE = "Pipe mode"
METRICS = "Metrics"
CHECKS = "Checks"
SPLIT = "Split"
SCHEMA = "Schema"
PAIRS = "Pairs"
SWEEP = "Sweep"
LAUNCH = "Launch"
EXECUTION = "Execution"
INSPECT = "Inspect"
JUDGE = "LLM judge"
TEACHER = "Teacher LLM"
OUTPUT = "Output"
OPTIONS = "Options"  # anything without a panel, and --help
ARGUMENTS = "Arguments"
# Panels show in this order on every command (a panel not listed comes before Options).
ORDER = (
    ARGUMENTS,
    SWEEP,
    DATA,
    SCHEMA,
    PAIRS,
    SPLIT,
    MODEL,
    LORA,
    OPTIMISATION,
    GRPO,
    GENERATION,
    CANDIDATES,
    API,
    PIPE,
    METRICS,
    CHECKS,
    EXECUTION,
    INSPECT,
    TEACHER,
    JUDGE,
    LAUNCH,
    OUTPUT,
)

_TYPES = {"int": "INT", "integer": "INT", "float": "FLOAT", "path": "PATH", "str": "TEXT", "text": "TEXT"}
_NAME_SHARE = 0.4  # the name column takes at most this share of the panel's width


class _RendersHelp:
    """`--help` and a bare command (no_args_is_help) both show render()'s page. Click shows a
    bare command's help through NoArgsIsHelpError, whose text typer's error printer drops (it
    expects its own renderer to have printed already); so that case prints here, exit code 2 as
    before."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(render(self, ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        # The "Usage:" line above a usage error (a missing option, an unknown flag) names the
        # arguments as the help page does (`PREDICTIONS`), not as typer's `{predictions}`.
        return usage_pieces(self, ctx)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            import typer

            typer.echo(ctx.get_help(), color=ctx.color)
            ctx.exit(2)
        return super().parse_args(ctx, args)


class HelpCommand(_RendersHelp, TyperCommand):
    """A command whose `--help` is rendered by this module. `settings`: "module:Class" paths of the
    settings classes whose field defaults the help shows for options declared `None`; `dynamic`:
    flag -> a function (called when the help is shown) saying a default that depends on other
    options, from the constants the code uses."""

    settings: tuple[str, ...] = ()
    dynamic: dict[str, Any] = {}


class HelpGroup(_RendersHelp, TyperGroup):
    """A command group (`t2s`, `t2s data`, `t2s model`) whose `--help` is rendered here."""


def command(*settings: str, dynamic: dict[str, Any] | None = None) -> type[HelpCommand]:
    """The command class for `app.command(cls=...)`: help defaults come from these settings
    classes ("text2sql_cli.training.config:TrainSettings") and the `dynamic` functions."""
    return type("HelpCommand", (HelpCommand,), {"settings": settings, "dynamic": dynamic or {}})


# --- what the help says ------------------------------------------------------------------------


def option_name(param: Any) -> str:
    """`--lr FLOAT`, `-o, --out PATH`, `--packing/--no-packing`, `DATA`."""
    if param.param_type_name == "argument":
        name = (param.metavar or param.name or "").upper()
        return name + ("..." if param.nargs == -1 else "")
    shorts = [o for o in param.opts if not o.startswith("--")]
    longs = [o for o in param.opts if o.startswith("--")]
    if param.is_flag and param.secondary_opts:
        pos = longs[0] if longs else param.opts[0]
        return ", ".join([*shorts, f"{pos}/{param.secondary_opts[0]}"])  # both whole: users grep for them
    name = ", ".join([*shorts, *longs])
    meta = metavar(param)
    return f"{name} {meta}" if meta else name


def metavar(param: Any) -> str:
    """The value an option takes: its declared metavar (choices: `[a|b]`) or its type in capitals
    (`INT`, `PATH`, `TEXT...` when repeatable); nothing for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if param.metavar:
        return param.metavar
    kind = getattr(getattr(param, "type", None), "name", None) or param.bare_type()  # click / typer
    inner = kind[kind.index("[") + 1 : -1] if "[" in kind else kind
    names = [_TYPES.get(k.strip().lower(), k.strip().upper()) for k in inner.split(",")]
    if param.nargs > 1 and len(names) == 1:
        names = names * param.nargs
    repeat = "..." if getattr(param, "multiple", False) or kind.startswith("list[") else ""
    return " ".join(names) + repeat


def default_text(command: Any, param: Any) -> str | None:
    """The default `--help` shows for `param`, or None: the declared default, else (declared None,
    meaning "not given") the default of the settings field behind the flag. A plain switch is
    off unless given, so it shows none."""
    show = getattr(param, "show_default", None)
    if isinstance(show, str):
        return show
    dynamic = next((f for o in param.opts if (f := getattr(command, "dynamic", {}).get(o))), None)
    if dynamic is not None:
        return dynamic()
    if show is False or param.required:
        return None
    value = param.default
    if value is None:
        value = settings_default(command, param)
    if value is None or callable(value):
        return None
    if getattr(param, "is_flag", False):
        if not param.secondary_opts:
            return None
        names = [o for o in param.opts if o.startswith("--")] or param.opts
        return (names[0] if value else param.secondary_opts[0]).lstrip("-")
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or None  # as the flag is typed
    if isinstance(value, bool):
        return str(value).lower()
    value = getattr(value, "value", value)  # an Enum
    return str(value) if str(value) != "" else None


def settings_default(command: Any, param: Any) -> Any:
    """The default of the field (of the command's settings classes) whose flag is one of
    `param`'s names, or None. The classes are imported here, when help is shown."""
    for path in getattr(command, "settings", ()):
        module, _, name = path.partition(":")
        cls = getattr(importlib.import_module(module), name)
        for field in cls.model_fields:
            if cls.flag_of(field) in param.opts:
                return cls.model_fields[field].get_default(call_default_factory=True)
    return None


def option_help(command: Any, param: Any) -> tuple[str, str | None, bool]:
    """(help text with single line breaks joined, default or None, required)."""
    text = " ".join((getattr(param, "help", None) or "").split())
    return text, default_text(command, param), bool(param.required)


def panels(command: Any, ctx: Any) -> list[tuple[str, list[Any]]]:
    """The visible params grouped by `rich_help_panel`, panels in ORDER (Options last); arguments
    in their own panel unless they name one."""
    grouped: dict[str, list[Any]] = {}
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False)]
    params.sort(key=lambda p: p.param_type_name != "argument")
    for param in params:
        default = ARGUMENTS if param.param_type_name == "argument" else OPTIONS
        grouped.setdefault(getattr(param, "rich_help_panel", None) or default, []).append(param)
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(grouped.items(), key=lambda item: (item[0] == OPTIONS, rank.get(item[0], len(ORDER))))


def usage_pieces(command: Any, ctx: Any) -> list[str]:
    """`[OPTIONS] PREDICTIONS`, `[OPTIONS] COMMAND [ARGS]...`: arguments by their names in
    capitals, as the panels show them."""
    args = [option_name(p) for p in command.get_params(ctx) if p.param_type_name == "argument"]
    group = ["COMMAND [ARGS]..."] if isinstance(command, TyperGroup) else []
    return [command.options_metavar or "[OPTIONS]", *args, *group]


# --- how it looks ------------------------------------------------------------------------------


def terminal_width(ctx: Any) -> int:
    """The width to render at: the context's (CliRunner's terminal_width), TERMINAL_WIDTH (typer's
    variable), else COLUMNS or the terminal's size (shutil), at least 40."""
    width = ctx.terminal_width or int(os.environ.get("TERMINAL_WIDTH") or 0)
    return max(40, width or shutil.get_terminal_size().columns)


def render(command: Any, ctx: Any) -> str:
    """The whole `--help` page of `command` as a string (ANSI colours only on a terminal)."""
    import io
    import sys

    from rich.console import Console, Group
    from rich.padding import Padding
    from rich.panel import Panel
    from rich.text import Text

    width = terminal_width(ctx)
    console = Console(
        file=io.StringIO(), width=width, force_terminal=sys.stdout.isatty(), highlight=False, markup=False
    )
    usage = Text("Usage: ", style="yellow")
    usage.append(f"{ctx.command_path} {' '.join(usage_pieces(command, ctx))}", style="bold")
    console.print(Padding(usage, (1, 1)))
    for i, (paragraph, verbatim) in enumerate(_paragraphs(command.help or "")):
        style = "" if i == 0 else "dim"
        if not verbatim:
            console.print(Padding(Text(paragraph, style=style), (0, 1, 1, 1)))
            continue
        lines = []  # an example command per line; a long one continues indented
        for line in paragraph.splitlines():
            wrapped = Text(line, style=style).wrap(console, width - 6)
            lines.append(wrapped[0])
            lines.extend(Text("    ").append_text(rest) for rest in wrapped[1:])
        console.print(Padding(Group(*lines), (0, 1, 1, 1)))

    inner = width - 4  # a panel's two borders and two padding spaces
    rows_named = [(option_name(p), panel, p) for panel, params in panels(command, ctx) for p in params]
    commands = _commands(command, ctx)
    limit = max(12, int(inner * _NAME_SHARE))
    fitting = [len(n) for n, _, _ in rows_named if len(n) <= limit] + [len(n) for n, _ in commands]
    name_width = min(limit, max(fitting, default=limit))

    current: list[Text] = []
    title = None
    for name, panel, param in [*rows_named, (None, None, None)]:
        if panel != title and title is not None:
            console.print(_panel(Panel, Group, current, title))
            current = []
        title = panel
        if name is None:
            break
        text, default, required = option_help(command, param)
        tail = [Text(f"[default: {default}]", style="dim")] if default is not None else []
        tail += [Text("[required]", style="dim red")] if required else []
        current.extend(_row(console, Text, name, Text(text), name_width, inner, param, tail))
    if commands:
        lines = []
        for name, summary in commands:
            lines.extend(_row(console, Text, name, Text(summary), name_width, inner, None))
        console.print(_panel(Panel, Group, lines, "Commands"))
    return console.file.getvalue()


def _paragraphs(help_text: str) -> list[tuple[str, bool]]:
    """Help paragraphs, each with whether it is verbatim: text before a lone \\f only; single
    line breaks joined, except in a paragraph marked with \\b (kept verbatim: examples)."""
    import inspect

    text = inspect.cleandoc(help_text).partition("\f")[0]
    out = []
    for paragraph in text.split("\n\n"):
        if paragraph.startswith("\b"):
            out.append((paragraph.removeprefix("\b").strip("\n"), True))
        elif paragraph.strip():
            out.append((" ".join(paragraph.split()), False))
    return out


def _commands(command: Any, ctx: Any) -> list[tuple[str, str]]:
    if not isinstance(command, TyperGroup):
        return []
    out = []
    for name in command.list_commands(ctx):
        sub = command.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            paragraphs = _paragraphs(sub.short_help or sub.help or "")
            out.append((name, paragraphs[0][0] if paragraphs else ""))
    return out


def _row(
    console: Any, text_cls: Any, name: str, help_text: Any, name_width: int, inner: int, param: Any, tail=()
):
    """The lines of one option: its name (styled) in the name column and its wrapped help beside
    it, or, when the name is wider than the column, the name alone and the help below. `tail`
    (`[default: x]`) follows the help and is never broken inside."""
    styled = text_cls()
    styled.append(name, style="bold cyan")  # a span, not the line's base style: the help stays plain
    if param is not None and param.param_type_name == "option":
        meta = metavar(param)
        if meta and name.endswith(meta):
            styled.stylize("yellow", len(name) - len(meta))
    indent = name_width + 2
    width = inner - indent
    help_lines = list(help_text.wrap(console, width)) if len(help_text) else []
    for piece in tail:
        if help_lines and len(help_lines[-1]) + 1 + len(piece) <= width:
            help_lines[-1].append(" ")
            help_lines[-1].append_text(piece)
        else:
            help_lines.extend(piece.wrap(console, width, overflow="fold"))  # breaks at spaces first
    lines = []
    if len(name) <= name_width:
        first = styled.copy()
        first.pad_right(indent - len(name))
        if help_lines:
            first.append_text(help_lines[0])
            help_lines = help_lines[1:]
        lines.append(first)
    else:
        lines.extend(styled.wrap(console, inner, overflow="fold"))
    for line in help_lines:
        padded = text_cls(" " * indent)
        padded.append_text(line)
        lines.append(padded)
    return lines


def _panel(panel_cls: Any, group_cls: Any, lines: list, title: str):
    return panel_cls(
        group_cls(*lines), title=title, title_align="left", border_style="dim", padding=(0, 1), expand=True
    )
