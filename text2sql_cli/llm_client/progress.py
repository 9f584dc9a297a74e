"""The batch progress bar (rich, on stderr) with the running cost."""

from __future__ import annotations


class _Progress:
    """A rich progress bar on stderr with the running cost; does nothing when disabled."""

    def __init__(self, enabled: bool, label: str, total: int, done: int):
        self.enabled, self.label, self.total, self.done = enabled, label, total, done

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("${task.fields[cost]:.4f}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self.bar.__enter__()
            self.task = self.bar.add_task(self.label, total=self.total, completed=self.done, cost=0.0)
        return self

    def advance(self, cost: float) -> None:
        if self.enabled:
            self.bar.update(self.task, advance=1, cost=cost)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)
