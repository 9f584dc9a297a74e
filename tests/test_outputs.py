"""Outputs that cannot be written fail at once with one line; a full disk leaves nothing half-written;
a corrupt database in --db-dir is named."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from text2sql_cli import io
from text2sql_cli.cli import app
from text2sql_cli.errors import T2SError, UsageError

ROW = {
    "id": "1",
    "db_id": "d",
    "context": "CREATE TABLE t (a INT);",
    "gold": "SELECT a FROM t",
    "sql": "SELECT a FROM t",
}


def _preds(tmp_path: Path) -> Path:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(ROW) + "\n")
    return path


def _refuse_writes_under(monkeypatch, folder: Path, code: int) -> None:
    """What a read-only mount or a full disk does (chmod cannot stop root, who runs CI)."""
    real = io.tempfile.mkstemp

    def mkstemp(*args, dir=None, **kw):
        if dir is not None and Path(dir).absolute().is_relative_to(folder):
            raise OSError(code, os.strerror(code))
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr(io.tempfile, "mkstemp", mkstemp)


def test_read_only_out_is_refused_before_ex_runs(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    _refuse_writes_under(monkeypatch, ro, errno.EROFS)
    ran = []
    monkeypatch.setattr("text2sql_cli.evaluation.execution.ex_column", lambda *a, **k: ran.append(1))
    result = CliRunner().invoke(
        app, ["eval", str(_preds(tmp_path)), "--out", str(ro / "eval"), "--metric", "ex"]
    )
    assert result.exit_code == 2 and not ran
    assert "read-only file system" in result.output and "Traceback" not in result.output


def test_train_with_an_unwritable_out_fails_before_the_model_loads(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    _refuse_writes_under(monkeypatch, ro, errno.EACCES)
    data = tmp_path / "d.jsonl"
    data.write_text(
        json.dumps({"db_id": "d", "question": "q", "context": ROW["context"], "answer": ROW["gold"]}) + "\n"
    )
    result = CliRunner().invoke(
        app, ["train", "--base", str(tmp_path), "--data", str(data), "--out", str(ro / "run")]
    )
    assert result.exit_code == 2 and "cannot write" in result.output, result.output


def test_full_disk_leaves_no_half_written_file_and_says_so(tmp_path, monkeypatch):
    target = tmp_path / "results.jsonl"
    target.write_text("old complete content\n")

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            self.fh.write(text[:10])
            self.fh.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: Full(real_open(self, *a, **k)))
    with pytest.raises(T2SError, match="no space left on device .* nothing was half-written") as err:
        io.atomic_write_text(target, "x" * 1000)
    assert err.value.exit_code == 1
    monkeypatch.undo()
    assert target.read_text() == "old complete content\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.jsonl"]  # no temp file left


@pytest.mark.parametrize("content", [b"", b"not a database" * 50], ids=["empty", "junk"])
def test_corrupt_database_in_db_dir_is_exit_2_naming_the_file(tmp_path, content):
    (tmp_path / "dbs" / "d").mkdir(parents=True)
    bad = tmp_path / "dbs" / "d" / "d.sqlite"
    bad.write_bytes(content)
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(_preds(tmp_path)),
            "--out",
            str(tmp_path / "o"),
            "--metric",
            "ex",
            "--db-dir",
            str(tmp_path / "dbs"),
        ],
    )
    assert result.exit_code == 2 and str(bad) in result.output and "SQLite" in result.output, result.output


def test_truncated_database_is_named_damaged(tmp_path):
    from text2sql_cli.sql.sandbox import check_database_file

    path = tmp_path / "x.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (a)")
    conn.executemany("INSERT INTO t VALUES (?)", [(str(i) * 50,) for i in range(5000)])
    conn.commit()
    conn.close()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    assert "damaged" in check_database_file(path)


def test_results_get_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        io.write_json(tmp_path / "s.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o644


def test_check_writable_creates_nothing(tmp_path):
    io.check_writable(tmp_path / "a" / "b")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError), pytest.MonkeyPatch.context() as mp:
        _refuse_writes_under(mp, tmp_path, errno.EACCES)
        io.check_writable(tmp_path / "a")
