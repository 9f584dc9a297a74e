"""Progress bars stay readable at 80 columns: no number cut short."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from text2sql_cli.progress import ProgressBar
from text2sql_cli.training.callbacks import RichProgress


def test_the_training_bar_fits_80_columns_with_every_number_whole():
    buf = io.StringIO()
    bar = RichProgress()
    bar.console = Console(file=buf, width=80, force_terminal=False)
    state = SimpleNamespace(max_steps=10000, global_step=0, epoch=0.0, is_world_process_zero=True)
    bar.on_train_begin(None, state, None)
    bar.on_log(None, state, None, logs={"loss": 0.123456, "learning_rate": 0.001, "eval_loss": 0.5})
    state.global_step, state.epoch = 9999, 12.99
    bar.on_step_end(None, state, None)
    bar.progress.refresh()
    bar.close()
    text = buf.getvalue()
    assert "…" not in text, text
    for part in ("9999/10000", "ep 12.99", "loss 0.1235", "eval 0.5000", "lr 1.0e-03"):
        assert part in text, text


def test_the_shared_bar_fits_80_columns():
    buf = io.StringIO()
    console = Console(file=buf, width=80, force_terminal=False)
    with ProgressBar("generating", 100000, console=console, show_cost=True, remaining=True) as bar:
        bar.advance(99999, cost=12.3456)
    text = buf.getvalue()
    assert "…" not in text and "99999/100000" in text and "$12.3456" in text, text
