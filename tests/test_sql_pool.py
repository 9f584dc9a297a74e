"""The worker pool keeps order and survives a worker that dies."""

import os

import pytest

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


def _hang_in_c(x):
    """Stands for a single SQL call that never reaches SQLite's progress handler."""
    import time

    from text2sql_cli.sql import sandbox

    if x == "hang":
        sandbox.watch(time.monotonic() + 0.2, "pred")
        time.sleep(60)
    return x


def test_worker_past_its_deadline_is_killed_and_replaced():
    import time

    start = time.monotonic()
    results = run_tasks(
        _hang_in_c,
        ["a", "hang", "b", "c"],
        workers=2,
        on_crash=lambda t, m: "crashed",
        on_overrun=lambda t, label, m: f"overrun:{label}",
        margin_s=0.3,
    )
    assert results == ["a", "overrun:pred", "b", "c"]
    assert time.monotonic() - start < 30  # killed, not waited for (the task sleeps 60 s)


def _allocate(mb):
    return len(bytearray(mb * 2**20))


def test_worker_memory_is_capped():
    results = run_tasks(_allocate, [1, 2048, 1], workers=2, on_crash=lambda t, m: m, memory_mb=256)
    assert results[0] == results[2] == 2**20 and "out of memory" in results[1]


_ORPHAN_SCRIPT = """
import os, sys, time
from text2sql_cli.sql.pool import run_tasks
def nap(x):
    os.write(1, f"{os.getpid()}\\n".encode())
    time.sleep(60)
if __name__ == "__main__":
    run_tasks(nap, [1, 2], workers=2, on_crash=lambda t, m: None)
"""


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_workers_die_with_their_parent(tmp_path, sig):
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(_ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    workers = [int(parent.stdout.readline()) for _ in range(2)]
    parent.send_signal(getattr(signal, sig))
    parent.wait(timeout=10)
    deadline = time.monotonic() + 3
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
