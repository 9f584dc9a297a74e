"""progress.ProgressBar, the one rich bar: named text fields, a start part-way, nothing when off."""

from __future__ import annotations

import io

from rich.console import Console

from text2sql_cli.progress import ProgressBar


def _console(buf: io.StringIO) -> Console:
    return Console(file=buf, width=80, force_terminal=False)


def test_update_sets_the_count_and_the_named_text_fields():
    buf = io.StringIO()
    bar = ProgressBar("train", 10, console=_console(buf), text="loss {loss}", fields={"loss": "-"}).start()
    bar.update(completed=5, loss="0.5000")
    bar.refresh()
    bar.stop()
    assert "5/10" in buf.getvalue() and "loss 0.5000" in buf.getvalue(), buf.getvalue()


def test_a_bar_started_part_way_shows_the_steps_already_done():
    buf = io.StringIO()
    with ProgressBar("train", 100, completed=40, console=_console(buf), remaining=True) as bar:
        bar.advance(2)
    assert "42/100" in buf.getvalue(), buf.getvalue()


def test_a_disabled_or_empty_bar_draws_nothing():
    buf = io.StringIO()
    for bar in (ProgressBar("off", 10, enabled=False, console=_console(buf)), ProgressBar("empty", 0)):
        with bar:
            bar.advance(1, cost=0.1)
            bar.update(completed=3)
            bar.refresh()
    assert buf.getvalue() == ""
