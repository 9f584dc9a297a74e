"""The one rich progress bar every long run shows (training, generation, EX, filtering, LLM batches).

    with ProgressBar("EX", total, enabled=show) as bar:
        bar.advance(n)                      # or bar.advance(1, cost=usd) with show_cost=True

    bar = ProgressBar("train", steps, completed=done, text="loss {loss}", fields={"loss": "-"},
                      bar_width=8, remaining=True)
    bar.start(); bar.update(completed=step, loss="0.1235"); bar.stop()

`text` is a line of named fields (`{loss}`, `{cost:.4f}`) shown after the count; `update` sets
them. `completed` starts the bar part-way (a resumed run), and the time left is estimated from
what is done after the start. It draws on stderr (or the given console) so stdout stays clean for
results and pipes, and does nothing when disabled or when there is nothing to do. rich is imported
only when a bar is drawn.
"""

from __future__ import annotations

import re
from typing import Any

_FIELD = re.compile(r"\{(\w+)")


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
        text: str = "",
        fields: dict[str, Any] | None = None,
        bar_width: int | None = 40,
    ):
        self.label, self.total, self.completed = label, total, completed
        self.enabled = enabled and total > 0
        self.console, self.remaining, self.transient, self.bar_width = (
            console,
            remaining,
            transient,
            bar_width,
        )
        self.text, self.fields = text, dict(fields or {})
        if show_cost:  # the running USD cost of an LLM batch, set by advance(cost=...)
            self.text, self.fields["cost"] = (f"{text} " if text else "") + "${cost:.4f}", 0.0
        self._bar: Any = None

    def start(self) -> ProgressBar:
        if self.enabled and self._bar is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            columns: list[Any] = [
                TextColumn("{task.description}"),
                BarColumn(bar_width=self.bar_width),
                MofNCompleteColumn(),
            ]
            if self.text:  # "{loss}" -> rich's "{task.fields[loss]}"
                columns.append(TextColumn(_FIELD.sub(r"{task.fields[\1]", self.text)))
            columns.append(TimeRemainingColumn() if self.remaining else TimeElapsedColumn())
            self._bar = Progress(
                *columns, console=self.console or Console(stderr=True), transient=self.transient
            )
            self._bar.start()
            self._task = self._bar.add_task(
                self.label, total=self.total, completed=self.completed, **self.fields
            )
        return self

    def advance(self, n: int = 1, *, cost: float | None = None) -> None:
        if self._bar is not None:
            fields = {} if cost is None else {"cost": cost}
            self._bar.update(self._task, advance=n, **fields)

    def update(self, *, completed: int | None = None, **fields: Any) -> None:
        """Set the count done (when given) and any of the `text` fields."""
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, **fields)

    def refresh(self) -> None:
        if self._bar is not None:
            self._bar.refresh()

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
