"""Ctrl-C and SIGTERM: stop promptly, say so, exit 130 / 143.

    install()        SIGINT and SIGTERM raise `Interrupted(signum)` (call in the main thread)
    received()       the last signal received (SIGINT when none was recorded)
    count(), check(n)  raise a signal that a C callback swallowed (SQLite's authorizer, progress
                       handler and functions each turn an exception into an SQL error)
    line(err), exit_code(err)   what the CLI prints and exits with
    Interrupted      a KeyboardInterrupt that knows its signal; `exit_code` is 128 + signum

`Interrupted` subclasses KeyboardInterrupt, so every `except Exception` lets it through and code
that already cleans up on KeyboardInterrupt (worker pools, appenders) cleans up on SIGTERM too.
Some C callbacks swallow an exception raised inside them (SQLite's progress handler turns it into
"interrupted"); the handler records the signal first, so such code can re-raise the right one
(`sandbox.execute` does).
"""

from __future__ import annotations

import logging
import signal
import sys

MESSAGE = "interrupted; rerun to resume"
_received: list[int] = []


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int = signal.SIGINT):
        self.signum = int(signum)
        super().__init__(signal.Signals(self.signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _handler(signum: int, frame: object) -> None:
    _received.append(signum)
    # The signal may land inside an asyncio task (an LLM request); asyncio.run's shutdown then logs
    # that task's copy of this exception as a traceback. We are stopping on purpose: no traceback.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    raise Interrupted(signum)


def _is_ours(err: BaseException | None) -> bool:
    if isinstance(err, Interrupted):
        return True
    group = getattr(err, "exceptions", None)  # an exception group (Python 3.11+)
    return isinstance(group, (list, tuple)) and any(_is_ours(e) for e in group)


def _quiet_unraisable(unraisable) -> None:
    """An `Interrupted` that landed where Python cannot raise it (a __del__, a fork hook) is
    already recorded in `_received` and re-raised by `check`; printing it would be a traceback."""
    if not _is_ours(unraisable.exc_value):
        sys.__unraisablehook__(unraisable)


def install() -> None:
    """Route SIGINT and SIGTERM through `Interrupted`; a no-op outside the main thread."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return
    sys.unraisablehook = _quiet_unraisable
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) in (signal.SIG_IGN,):
            continue  # e.g. nohup: the user asked not to be interrupted by it
        signal.signal(sig, _handler)


def received() -> int:
    return _received[-1] if _received else int(signal.SIGINT)


def count() -> int:
    """How many signals have arrived; compare before and after code whose callbacks may swallow."""
    return len(_received)


def check(before: int) -> None:
    """Raise `Interrupted` if a signal arrived since `count()` was `before`."""
    if len(_received) > before:
        raise Interrupted(_received[-1])


def exit_code(err: BaseException) -> int:
    return getattr(err, "exit_code", 128 + int(signal.SIGINT))


def fast_exit() -> None:
    """Stopping on a signal: skip the garbage collection of every object at interpreter exit
    (seconds with datasets/pyarrow/sqlglot loaded, and much longer on a loaded machine). Files
    are closed and flushed by their owners; nothing here needs a finalizer."""
    import gc

    gc.freeze()


def line(err: BaseException) -> str:
    """The one line shown on stderr: `interrupted; rerun to resume (SIGTERM)`."""
    return f"{MESSAGE} ({signal.Signals(exit_code(err) - 128).name})"
