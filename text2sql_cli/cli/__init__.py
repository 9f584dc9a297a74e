"""The `t2s` command line: a thin Typer layer.

Each command lives in its own module with a `register(app)` function. Command modules import only
typer and the standard library at module level, so `t2s --help` loads no torch or transformers;
the work is imported inside the command function.

Errors: the library raises `T2SError`s; `T2SGroup.invoke` is the one place that turns them into a
one-line message on stderr and the error's exit code (2 for bad input), with no traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from text2sql_cli import __version__
from text2sql_cli.cli._help import HelpGroup

COMMAND_MODULES = ("data", "model", "train", "infer", "evaluate", "filter", "sweep", "report")


class T2SGroup(HelpGroup):
    def invoke(self, ctx):
        from text2sql_cli import interrupts
        from text2sql_cli.errors import T2SError

        interrupts.install()
        try:
            return super().invoke(ctx)
        except T2SError as err:
            print(f"Error: {err}", file=sys.stderr)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt as err:  # Ctrl-C (130) or SIGTERM (143); never a traceback
            print(interrupts.line(err), file=sys.stderr)
            interrupts.fast_exit()
            raise typer.Exit(interrupts.exit_code(err)) from None
        finally:
            from text2sql_cli.lock import release_all

            release_all()  # the --out lock a command took


app = typer.Typer(
    cls=T2SGroup,
    name="t2s",
    help="Build Text-to-SQL small LLMs: data -> filter -> train -> infer -> eval, then sweep + report.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"t2s {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Build Text-to-SQL small LLMs: data -> filter -> train -> infer -> eval, then sweep + report."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"{__name__}.{_name}").register(app)


def main() -> None:
    app()
