"""Run independent tasks in worker processes, in order, surviving workers that die.

    run_tasks(fn, tasks, workers=2, on_crash=fn(task, message) -> result) -> list

`fn` must be a module-level function (it is pickled). With `workers <= 1` the tasks run in this
process (fastest for small jobs; time limits still hold, since the sandbox enforces them inside
SQLite). With more, tasks go to a process pool in chunks; if a worker dies (a segfault, the OOM
killer), the pool is rebuilt and the unfinished tasks rerun one by one, and a task that kills a
worker on its own gets `on_crash(task, message)` as its result instead of taking the run down.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any


def run_tasks(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    workers: int = 2,
    on_crash: Callable[[Any, str], Any],
    chunk_size: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> list:
    """`on_progress(n)` is called as tasks finish (n at a time), for a progress bar."""
    advance = on_progress or (lambda n: None)
    if workers <= 1 or len(tasks) <= 1:
        results = []
        for task in tasks:
            results.append(fn(task))
            advance(1)
        return results
    size = chunk_size or max(1, min(64, len(tasks) // (workers * 4) or 1))
    chunks = [list(range(i, min(i + size, len(tasks)))) for i in range(0, len(tasks), size)]
    results: list = [None] * len(tasks)
    done = [False] * len(tasks)
    leftover = _run_chunks(fn, tasks, chunks, workers, results, done, advance)
    for index in leftover:  # after a crash: one task per pool, so the culprit is isolated
        if done[index]:
            continue
        if _run_chunks(fn, tasks, [[index]], 1, results, done, advance):
            results[index] = on_crash(tasks[index], "the worker process died while running this task")
            done[index] = True
            advance(1)
    return results


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _run_chunks(fn, tasks, chunks, workers, results, done, advance) -> list[int]:
    """Run chunks; return the indices left unfinished because the pool broke."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=_context()) as pool:
        futures = [(chunk, pool.submit(_run_chunk, fn, [tasks[i] for i in chunk])) for chunk in chunks]
        broken: list[int] = []
        for chunk, future in futures:
            try:
                for index, result in zip(chunk, future.result()):
                    results[index] = result
                    done[index] = True
                advance(len(chunk))
            except BrokenProcessPool:
                broken.extend(chunk)
    return broken


def _run_chunk(fn, chunk):
    return [fn(task) for task in chunk]
