"""The worker pool keeps order and survives a worker that dies."""

import os

from text2sql_cli.sql.pool import run_tasks


def _square_or_die(x):
    if x == 3:
        os._exit(1)  # a crash (segfault, OOM kill) in the worker
    return x * x


def test_results_keep_input_order():
    assert run_tasks(_square_or_die, [5, 1, 4, 2], workers=2, on_crash=lambda t, m: None) == [25, 1, 16, 4]


def test_crashing_task_is_marked_and_the_rest_complete():
    results = run_tasks(
        _square_or_die, [1, 2, 3, 4], workers=2, on_crash=lambda t, m: "crashed", chunk_size=2
    )
    assert results == [1, 4, "crashed", 16]


def _square(x):
    return x * x


def test_progress_counts_every_task_once_in_process_and_in_a_pool():
    for workers in (1, 2):
        seen = []
        results = run_tasks(
            _square,
            list(range(50)),
            workers=workers,
            on_crash=lambda t, m: None,
            chunk_size=7,
            on_progress=seen.append,
        )
        assert results == [x * x for x in range(50)] and sum(seen) == 50
