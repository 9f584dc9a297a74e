"""The batch progress bar with the running cost: the shared `text2sql_cli.progress.ProgressBar`."""

from __future__ import annotations

from text2sql_cli.progress import ProgressBar


class _Progress(ProgressBar):
    """`advance(cost)`: one more request done, `cost` USD spent so far."""

    def __init__(self, enabled: bool, label: str, total: int, done: int):
        super().__init__(label, total, enabled=enabled, completed=done, show_cost=True)

    def advance(self, cost: float) -> None:  # type: ignore[override]
        super().advance(1, cost=cost)
