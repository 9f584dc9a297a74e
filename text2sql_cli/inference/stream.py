"""Pipe mode: questions on stdin, answers on stdout as soon as each is generated.

Text in (one question per line, schema from --ddl or --db) -> one line out per line in, so
output line n always answers input line n: newlines in the SQL are folded to spaces, and a
generation with no SQL, or a blank input line, gives an empty output line.

JSONL in (the first non-blank line starts with `{`): each line an object with `question` and
optionally `context` (else the --ddl/--db schema) -> the object back with `raw`, `sql` and
`extraction` added. Here lines do not correspond: blank lines are skipped, and a line that is not
such an object gets an error record on stderr (`{"line": n, "error": ...}`) and no output line,
so match answers to questions by their fields (e.g. an `id`), not by line number.

Micro-batching: a reader thread queues lines as they arrive; each step takes every line already
waiting (up to the batch size), so a file piped in is batched while an interactive user gets an
answer per line. Output is flushed after every item.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from text2sql_cli.errors import InputError, UsageError
from text2sql_cli.inference.backend import Backend, Generation, Item
from text2sql_cli.sql.extract import extract_sql

_END = object()


def ddl_from_sqlite(path: str | Path) -> str:
    """The CREATE statements of a SQLite database, opened read-only."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file", hint="give an existing SQLite database")
    try:
        con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
        try:
            rows = con.execute(
                "SELECT sql FROM sqlite_master WHERE type IN ('table', 'view') AND sql IS NOT NULL "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            ).fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        raise InputError(path, f"not a SQLite database ({err})") from None
    if not rows:
        raise InputError(path, "the database has no tables")
    return ";\n\n".join(r[0].strip() for r in rows) + ";"


def read_ddl(ddl: str | Path | None, db: str | Path | None) -> str | None:
    if ddl is not None and db is not None:
        raise UsageError("give --ddl or --db, not both")
    if db is not None:
        return ddl_from_sqlite(db)
    if ddl is not None:
        path = Path(ddl)
        if not path.is_file():
            raise InputError(path, "no such file", hint="give a file of CREATE TABLE statements")
        text = path.read_text(encoding="utf-8").strip()
        if not text:
            raise InputError(path, "the DDL file is empty")
        return text
    return None


@dataclass
class StreamSummary:
    answered: int = 0
    no_sql: int = 0
    bad_lines: int = 0


@dataclass(frozen=True)
class _Job:
    line: int
    item: Item
    record: dict[str, Any] | None  # the JSON object in JSONL mode, None in text mode


def run_stream(
    backend: Backend, lines: Iterable[str], out: TextIO, errors: TextIO, *, ddl: str | None
) -> StreamSummary:
    """Answer each input line on `out`; bad lines go to `errors` as JSON error records."""
    inbox: queue.Queue = queue.Queue()
    threading.Thread(target=_read_all, args=(lines, inbox), daemon=True).start()
    summary = StreamSummary()
    jsonl: bool | None = None
    leading_blanks = 0  # blank lines before the mode is known: empty answers if it is text
    finished = False
    while not finished:
        batch: list[_Job] = []
        slots: list[_Job | None] = []  # text mode: answers in input order, None for a blank line
        waiting = [inbox.get()]  # block for the first line, then take whatever else has arrived
        while len(waiting) < backend.batch_size:
            try:
                waiting.append(inbox.get_nowait())
            except queue.Empty:
                break
        for entry in waiting:
            if entry is _END:
                finished = True
                break
            number, text = entry
            if not text.strip():
                if jsonl is None:
                    leading_blanks += 1
                elif not jsonl:
                    slots.append(None)
                continue
            if jsonl is None:
                jsonl = text.lstrip().startswith("{")
                if not jsonl and ddl is None:
                    raise UsageError(
                        "questions on stdin need a schema", hint="pass --ddl FILE or --db FILE.sqlite"
                    )
                if not jsonl:
                    slots.extend([None] * leading_blanks)
            job = _parse(number, text, jsonl, ddl)
            if isinstance(job, str):
                summary.bad_lines += 1
                _emit(errors, json.dumps({"line": number, "error": job}, ensure_ascii=False))
            else:
                batch.append(job)
                slots.append(job)
        generations = backend.generate([backend.prepare(j.item) for j in batch]) if batch else []
        answers = {job.line: gen for job, gen in zip(batch, generations)}
        for job in batch if jsonl else slots:
            if job is None:
                _emit(out, "")
            else:
                _answer(job, answers[job.line], backend, out, errors, summary)
    if jsonl is None:  # only blank lines came: text mode by default, one empty answer each
        for _ in range(leading_blanks):
            _emit(out, "")
    return summary


def _read_all(lines: Iterable[str], inbox: queue.Queue) -> None:
    try:
        for number, text in enumerate(lines, start=1):
            inbox.put((number, text.rstrip("\r\n")))
    finally:
        inbox.put(_END)


def _parse(number: int, text: str, jsonl: bool, ddl: str | None) -> _Job | str:
    """A job, or the reason the line cannot be one."""
    if not jsonl:
        return _Job(number, Item(str(number), ddl or "", text.strip()), None)
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        return f"not valid JSON ({err.msg})"
    if not isinstance(record, dict):
        return "expected a JSON object"
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        return "missing or empty 'question'"
    context = record.get("context") or ddl
    if not isinstance(context, str) or not context.strip():
        return "no 'context' and no --ddl/--db schema"
    return _Job(number, Item(str(record.get("id", number)), context, question.strip()), record)


def _answer(
    job: _Job, gen: Generation, backend: Backend, out: TextIO, errors: TextIO, summary: StreamSummary
) -> None:
    extraction = extract_sql(gen.raw, backend.template.stop) if gen.raw is not None else None
    sql = extraction.sql if extraction else None
    summary.answered += 1
    if sql is None:
        summary.no_sql += 1
        reason = gen.error or "no SQL in the generation"
        _emit(errors, json.dumps({"line": job.line, "error": reason, "raw": gen.raw}, ensure_ascii=False))
    if job.record is None:
        _emit(out, " ".join((sql or "").split()))
        return
    row = dict(job.record, raw=gen.raw, sql=sql, extraction=extraction.method if extraction else "error")
    if gen.error:
        row["error"] = gen.error
    _emit(out, json.dumps(row, ensure_ascii=False))


def _emit(stream: TextIO, line: str) -> None:
    stream.write(line + "\n")
    stream.flush()
