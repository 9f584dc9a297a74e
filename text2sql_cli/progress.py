"""The one rich progress bar every long run shows (generation, EX, filtering, LLM batches).

    with ProgressBar("EX", total, enabled=show) as bar:
        bar.advance(n)                      # or bar.advance(1, cost=usd) with show_cost=True

It draws on stderr (or the given console) so stdout stays clean for results and pipes, and does
nothing when disabled or when there is nothing to do. rich is imported only when a bar is drawn.
"""

from __future__ import annotations

from typing import Any


class ProgressBar:
    def __init__(
        self,
        label: str,
        total: int,
        *,
        enabled: bool = True,
        completed: int = 0,
        console: Any = None,
        show_cost: bool = False,
        remaining: bool = False,
        transient: bool = False,
    ):
        self.label, self.total, self.completed = label, total, completed
        self.enabled = enabled and total > 0
        self.console, self.show_cost, self.remaining, self.transient = (
            console,
            show_cost,
            remaining,
            transient,
        )

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns: list[Any] = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
            if self.show_cost:
                columns.append(TextColumn("${task.fields[cost]:.4f}"))
            columns.append(TimeRemainingColumn() if self.remaining else TimeElapsedColumn())
            self._bar = Progress(
                *columns, console=self.console or Console(stderr=True), transient=self.transient
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.label, total=self.total, completed=self.completed, cost=0.0)
        return self

    def advance(self, n: int = 1, *, cost: float | None = None) -> None:
        if self.enabled:
            fields = {} if cost is None else {"cost": cost}
            self._bar.update(self._task, advance=n, **fields)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._bar.__exit__(*exc)
