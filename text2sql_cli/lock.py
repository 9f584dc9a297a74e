"""One run per output: a lock file beside --out, so a second run refuses at once instead of both
paying for every API request and interleaving their writes.

    hold(out)       take the lock for `out` until `release_all()` (the CLI calls it after each
                    command) or the process exits; UsageError naming the holder when another live
                    process has it
    release_all()   drop the locks this process holds

The lock is `.NAME.t2s.lock` beside OUT (a directory or a file), created with O_EXCL and holding
the PID, the host, the process start time and the command line. A lock is stale, and silently
taken over, when it names this host and a PID that is gone or that was started at another time (a
reused PID); a lock from another host cannot be checked, so the message says how to remove it.
Under `accelerate launch` only rank 0 locks (every rank shares --out).
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import time
from pathlib import Path

from text2sql_cli.errors import UsageError

_held: list[Path] = []


def lock_path(out: str | Path) -> Path:
    """Beside `out`, not in it: taking the lock creates nothing inside a directory a run writes."""
    out = Path(out).absolute()
    return out.with_name(f".{out.name}.t2s.lock")


def hold(out: str | Path) -> Path | None:
    """Check that `out` can be written (`io.check_writable`: a read-only --out fails here, before
    any model loads or query runs), then lock it for this process (re-entrant); refuse when
    another live run holds it."""
    from text2sql_cli.io import check_writable

    check_writable(out, is_dir=not Path(out).suffix or Path(out).is_dir())
    if os.environ.get("RANK", "0") != "0":
        return None
    path = lock_path(out)
    if path in _held:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    record = json.dumps(_me()).encode()
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            holder = _read(path)
            if holder is None and _age(path) < 5:
                holder = {"pid": "?", "host": "?", "started": "just now"}  # being written
            if holder is not None and _alive(holder):
                raise UsageError(
                    f"{out} is in use by another t2s run (PID {holder.get('pid')} on {holder.get('host')}, "
                    f"since {holder.get('started', '?')})",
                    hint=f"wait for it, or remove {path} if that run is gone",
                ) from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(record)
        _held.append(path)
        return path
    raise UsageError(f"cannot take the lock {path}", hint="another run keeps creating it; retry")


def release_all() -> None:
    while _held:
        path = _held.pop()
        holder = _read(path)
        if holder is not None and holder.get("pid") == os.getpid():
            path.unlink(missing_ok=True)


atexit.register(release_all)


def _me() -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "start_ticks": _start_ticks(os.getpid()),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(["t2s", *sys.argv[1:]])[:300],
    }


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable or half-written: treated as stale
    return data if isinstance(data, dict) else None


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def _alive(holder: dict) -> bool:
    if holder.get("host") != socket.gethostname():
        return True  # cannot check a process on another machine
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    ticks = _start_ticks(pid)
    return ticks is None or holder.get("start_ticks") in (None, ticks)


def _start_ticks(pid: int) -> int | None:
    """The process start time in clock ticks since boot (Linux), to tell a reused PID apart."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None
