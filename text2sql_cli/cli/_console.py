"""Consoles: `out` (stdout) for results and summary tables, `err` (stderr) for progress and notes.

`t2s infer` in pipe mode writes SQL to stdout, so everything for humans goes to `err` there.
"""

from rich.console import Console

out = Console()
err = Console(stderr=True)
