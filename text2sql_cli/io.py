"""File helpers shared by every command: atomic writes, JSONL read/append.

Invariant: a result file either does not exist or is complete. Whole files are written to a
temporary file in the same directory and renamed into place. Resumable runs append whole lines
and flush them; a reader ignores a torn last line (the one a crash can leave) and the run redoes
that item.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from text2sql_cli.errors import InputError, T2SError, UsageError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block succeeds,
    removed when it fails (so a full disk leaves the old file or none, never half a file: the
    error says how much was being written and how much is free)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise _write_error(path, err) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are for others to read too
        os.replace(tmp, path)
    except OSError as err:
        size = Path(tmp).stat().st_size if Path(tmp).exists() else None
        Path(tmp).unlink(missing_ok=True)
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EPERM):
            raise _write_error(path, err, size) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class WriteError(T2SError):
    """An output that cannot be written: a full disk, a read-only or forbidden location."""


def _write_error(path: Path, err: OSError, written: int | None = None) -> T2SError:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = shutil.disk_usage(path.parent).free
        except OSError:
            free = 0
        size = f"{written / 2**20:.1f} MB written so far" if written else "size unknown"
        return WriteError(
            f"{path}: no space left on device ({size}, {free / 2**20:.1f} MB free); nothing was half-written",
            hint="free some space and rerun",
        )
    reason = "read-only file system" if err.errno == errno.EROFS else (err.strerror or str(err)).lower()
    return UsageError(f"cannot write {path} ({reason})", hint="choose an --out you can write to")


def check_writable(out: str | Path, *, is_dir: bool = True) -> None:
    """Fail now, before models load or queries run, when `out` (a directory, or a file's folder)
    cannot be created or written. Creates nothing that was not there: missing folders are probed
    at their nearest existing parent."""
    out = Path(out).absolute()
    folder = out if is_dir else out.parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return  # the caller's own checks name a file in the way
    try:
        fd, probe = tempfile.mkstemp(prefix=".t2s-write-check.", dir=existing)
    except OSError as err:
        raise _write_error(folder if existing == folder else existing, err) from None
    os.close(fd)
    os.unlink(probe)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def give_umask_mode(path: str | Path) -> None:
    """Give a file or folder made by mkstemp/mkdtemp (0600/0700) the mode the user's umask gives."""
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, default=str)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write all rows atomically; returns the count."""
    lines = [dumps(r) for r in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def read_text(path: str | Path) -> str:
    """A text input file as str: UTF-8, with or without a byte-order mark (Excel writes one).
    Anything else is an InputError naming the file, the encoding it looks like and how to convert
    it; so is a file that cannot be read (permissions, a directory)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except PermissionError:
        raise InputError(path, "cannot be read (permission denied)", hint=f"chmod u+r {path}") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not a file") from None
    except FileNotFoundError:
        raise InputError(path, "no such file", hint="check the path") from None
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror or err})") from None
    return decode_text(path, data)


_CONVERT = "convert it to UTF-8, e.g. iconv -f {enc} -t UTF-8 {path} > {stem}.utf8{suffix}"


def decode_text(path: str | Path, data: bytes) -> str:
    """`data` (the bytes of `path`) as UTF-8 text; see `read_text`."""
    path = Path(path)
    found = None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(data):
        found = ("UTF-16", "UTF-16")
    if found is None:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            found = _guess_legacy(data)
            if found is None:
                raise InputError(
                    path, f"is not UTF-8 text (invalid byte at offset {err.start})", hint="save it as UTF-8"
                ) from None
    label, iconv = found
    hint = _CONVERT.format(enc=iconv, path=path, stem=path.stem, suffix=path.suffix)
    raise InputError(path, f"looks like {label} text; t2s reads UTF-8", hint=hint)


def _looks_utf16(data: bytes) -> bool:
    head = data[:200]
    return len(head) >= 4 and head.count(0) >= len(head) // 3


def _guess_legacy(data: bytes) -> tuple[str, str] | None:
    """(what to call it, its iconv name) for the first legacy encoding that decodes `data`."""
    for label, iconv in (("CP949 (EUC-KR)", "CP949"), ("Shift_JIS", "SHIFT_JIS"), ("GB18030", "GB18030")):
        try:
            data.decode(iconv.lower())
        except UnicodeDecodeError:
            continue
        return label, iconv
    return None


def check_text_fields(path: str | Path, line: int, obj: dict[str, Any], fields: Iterable[str]) -> None:
    """InputError when one of `fields` holds a number, NaN, a list or an object instead of text
    (null or absent is the caller's business)."""
    bad = [
        f"{f} is {'NaN' if v != v else type(v).__name__}"
        for f in fields
        if (v := obj.get(f)) is not None and not isinstance(v, str)
    ]
    if bad:
        raise InputError(
            path, f"{', '.join(bad)}: it must be text", line=line, hint="write it as a JSON string"
        )


def iter_jsonl(path: str | Path, *, tolerate_torn_tail: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_number, object). Bad lines raise InputError naming the file and line, except a
    torn last line when `tolerate_torn_tail` (a crashed append) which is skipped. The file must
    be UTF-8 (a byte-order mark is allowed); see `read_text`."""
    path = Path(path)
    lines = read_text(path).splitlines(keepends=True)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            if tolerate_torn_tail and number == len(lines) and not line.endswith("\n"):
                return
            raise InputError(
                path, f"not valid JSON ({err.msg})", line=number, hint="fix or remove that line"
            ) from None
        if not isinstance(obj, dict):
            raise InputError(path, "expected a JSON object per line", line=number)
        yield number, obj


def read_jsonl(path: str | Path, **kw: Any) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_jsonl(path, **kw)]


class JsonlAppender:
    """Append-only JSONL for resumable runs: each row is one write + flush (+ fsync on close).

    Before appending, a torn last line left by a crash is cut off so the file stays valid JSONL.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _truncate_torn_tail(self.path)
        self._fh = self.path.open("a", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        try:
            self._fh.write(dumps(row) + "\n")
            self._fh.flush()
        except OSError as err:  # a torn last line is cut off on resume
            raise _write_error(self.path, err) from None

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _truncate_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    cut = data.rfind(b"\n") + 1
    with path.open("r+b") as fh:
        fh.truncate(cut)
