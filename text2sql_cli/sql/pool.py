"""Run independent tasks in worker processes, in order, surviving workers that die or hang.

    run_tasks(fn, tasks, workers=2, on_crash=fn(task, message) -> result,
              on_overrun=fn(task, label, message) -> result) -> list

`fn` must be a module-level function. With `workers <= 1` the tasks run in this process (fastest
for small jobs; the sandbox's own limits still hold). With more, each worker process takes one
task at a time over a pipe, and:
- a worker whose SQL statement runs past its deadline + `margin_s` (the sandbox tells the pool
  each statement's deadline and label through shared memory) is killed and replaced; its task
  gets `on_overrun(task, label, message)`. This is what stops a single SQL function call that
  never reaches SQLite's progress handler.
- a worker that dies (segfault, OOM kill, the memory cap) is replaced; its task gets
  `on_crash(task, message)`.
- each worker's address space is capped at what it had mapped when it started + `memory_mb`
  (RLIMIT_AS), so a query that allocates without bound fails with MemoryError in that worker.
- workers die with this process: PR_SET_PDEATHSIG (Linux) kills them if it is killed (even with
  kill -9), they exit when their pipe closes, and they ignore SIGINT (Ctrl-C reaches the whole
  process group; this process stops them). Leaving `run_tasks` by any exception, Ctrl-C and
  SIGTERM included, kills every worker before the exception propagates; a signal that landed
  where it was swallowed (a fork hook, an SQLite callback) is re-raised at the next loop turn.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any

from text2sql_cli import interrupts

MEMORY_MB = 512  # address space a worker may add to what it mapped at start
MARGIN_S = 0.3  # how far past its deadline a statement may run before its worker is killed
_LABEL = 16  # bytes of shared memory per worker for the running statement's label


def run_tasks(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    workers: int = 2,
    on_crash: Callable[[Any, str], Any],
    on_overrun: Callable[[Any, str, str], Any] | None = None,
    chunk_size: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    memory_mb: int | None = MEMORY_MB,
    margin_s: float = MARGIN_S,
) -> list:
    """`on_progress(n)` is called as tasks finish, for a progress bar. `chunk_size` is accepted
    for compatibility; workers take one task at a time so a killed worker loses only its own."""
    advance = on_progress or (lambda n: None)
    signals = interrupts.count()
    if workers <= 1 or len(tasks) <= 1:
        results = []
        for task in tasks:
            results.append(fn(task))
            interrupts.check(signals)
            advance(1)
        return results
    overrun = on_overrun or (lambda task, label, message: on_crash(task, message))
    pool = _Pool(fn, min(workers, len(tasks)), memory_mb)
    try:
        return pool.run(tasks, on_crash, overrun, advance, margin_s, signals)
    finally:
        pool.close()


class _Pool:
    def __init__(self, fn, size: int, memory_mb: int | None):
        self.ctx = _context()
        self.fn = fn
        self.memory_mb = memory_mb
        self.deadlines = self.ctx.RawArray("d", size)
        self.labels = self.ctx.RawArray("c", size * _LABEL)
        self.slots: list[_Slot] = [self._start(i) for i in range(size)]

    def _start(self, index: int) -> _Slot:
        self.deadlines[index] = 0.0
        mine, theirs = self.ctx.Pipe()
        proc = self.ctx.Process(
            target=_worker,
            args=(self.fn, theirs, self.deadlines, self.labels, index, self.memory_mb, os.getpid()),
            daemon=True,
        )
        proc.start()
        theirs.close()
        return _Slot(index, proc, mine)

    def _replace(self, slot: _Slot) -> _Slot:
        _kill(slot)
        self.slots[slot.index] = self._start(slot.index)
        return self.slots[slot.index]

    def run(self, tasks, on_crash, on_overrun, advance, margin_s, signals) -> list:
        results: list = [None] * len(tasks)
        todo = deque(range(len(tasks)))
        left = len(tasks)
        while left:
            interrupts.check(signals)  # a signal swallowed where it landed (a fork hook) still stops
            for slot in self.slots:
                if slot.task is None and todo:
                    slot.task = todo.popleft()
                    slot.conn.send((slot.task, tasks[slot.task]))
            busy = [s for s in self.slots if s.task is not None]
            ready = set(wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout=0.05))
            for slot in busy:
                index = slot.task
                outcome = self._outcome(slot, ready, margin_s)
                if outcome is None:
                    continue
                kind, value = outcome
                if kind == "ok":
                    results[index] = value
                elif kind == "raised":
                    raise value
                elif kind == "overrun":
                    results[index] = on_overrun(tasks[index], *value)
                else:
                    results[index] = on_crash(tasks[index], value)
                slot = self.slots[slot.index]
                slot.task = None
                left -= 1
                advance(1)
        return results

    def _outcome(self, slot: _Slot, ready: set, margin_s: float):
        if slot.conn in ready:
            try:
                return slot.conn.recv()
            except (EOFError, OSError):
                pass  # died while answering: a crash
        deadline = self.deadlines[slot.index]
        if slot.proc.sentinel in ready or not slot.proc.is_alive():
            code = slot.proc.exitcode
            self._replace(slot)
            return "crash", f"the worker process died while running this task (exit code {code})"
        if deadline and time.monotonic() > deadline + margin_s:
            raw = bytes(self.labels[slot.index * _LABEL : (slot.index + 1) * _LABEL])
            label = raw.rstrip(b"\0").decode() or "query"
            self._replace(slot)
            return "overrun", (label, f"killed: the {label} query ran past its time limit")
        return None

    def close(self) -> None:
        for slot in self.slots:
            _kill(slot)


class _Slot:
    def __init__(self, index: int, proc, conn):
        self.index, self.proc, self.conn = index, proc, conn
        self.task: int | None = None


def _kill(slot: _Slot) -> None:
    if slot.proc.is_alive():
        slot.proc.kill()
    slot.proc.join(timeout=5)
    slot.conn.close()


def _context():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _worker(fn, conn, deadlines, labels, index, memory_mb, parent) -> None:
    from text2sql_cli.sql import sandbox

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    if memory_mb:
        cap_address_space(memory_mb)

    def watch(deadline: float, label: str) -> None:
        labels[index * _LABEL : (index + 1) * _LABEL] = label.encode()[:_LABEL].ljust(_LABEL, b"\0")
        deadlines[index] = deadline

    sandbox.watch = watch
    while True:
        try:
            index_task = conn.recv()
        except (EOFError, OSError):
            os._exit(0)  # the parent is gone
        number, task = index_task
        try:
            answer = ("ok", fn(task))
        except MemoryError:
            answer = ("crash", f"the task ran out of memory (worker cap {memory_mb} MB)")
        except Exception as err:  # the caller's bug: re-raised in the parent
            answer = ("raised", err)
        deadlines[index] = 0.0
        conn.send(answer)


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def cap_address_space(extra_mb: int) -> int:
    """Cap this process's address space at what it maps now + `extra_mb`; returns the cap in bytes.
    Relative to the current size because a forked worker already maps the parent's libraries and
    heap (hundreds of MB of virtual memory that it mostly shares and never touches)."""
    import resource

    now = _mapped_bytes()
    cap = now + extra_mb * 2**20
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    return cap


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
