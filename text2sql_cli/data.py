"""Rows of (db_id, context, question, answer): load, validate, split by database domain.

Sources: a local `.jsonl`, `.json`, `.csv` or `.parquet` file, or a hub dataset id loaded through
`datasets` (`shangrilar/ko_text2sql` with config `origin`). Other schemas map their columns with
`columns={"answer": "query"}` (Spider names its SQL `query`).

Every problem names the file and the line (JSONL, CSV) or row (JSON, Parquet, hub). Validation
looks at every row and reports the first problem with the count of the others, so one run shows
the size of the mess. `drop_na=True` drops incomplete rows instead, like the book's `dropna()`.

Ids: a source `id` column is kept; otherwise a row's id is its 0-based position in the source, so
ids stay stable across reruns (resume relies on that). `db_id` is kept as a string.
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from text2sql_cli.errors import InputError, UsageError

FIELDS = ("db_id", "context", "question", "answer")
LOCAL_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@dataclass(frozen=True)
class Example:
    id: str
    db_id: str
    context: str
    question: str
    answer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadReport:
    """What loading saw: how many rows were read and dropped, and why."""

    source: str
    read: int = 0
    dropped: Counter | None = None


# The commands that take --columns and --drop-na (named in the hints of commands without them).
COLUMN_COMMANDS = "t2s data split, train, infer and filter"


def parse_columns(spec: str | None, fields: tuple[str, ...] = ("id", *FIELDS)) -> dict[str, str]:
    """`"question=q,answer=query"` -> {"question": "q", "answer": "query"} (t2s field = source column)."""
    if not spec:
        return {}
    mapping = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in fields or not value:
            raise UsageError(
                f"bad --columns entry {part.strip()!r}",
                hint=f"write FIELD=COLUMN pairs, FIELD one of {', '.join(fields)} (e.g. {fields[-1]}=query)",
            )
        mapping[key] = value
    return mapping


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _read_local(path: Path) -> tuple[list[dict[str, Any]], list[int], str]:
    """Rows, the line/row number of each for messages, and the unit ('line' or 'row')."""
    try:
        rows, where, unit = _read_rows(path)
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start})", hint="save the file as UTF-8") from None
    for row, at in zip(rows, where):
        if not isinstance(row, dict):
            raise InputError(
                path,
                f"{unit} {at}: expected a row object with db_id, context, question, answer; got "
                f"{type(row).__name__}",
                line=at if unit == "line" else None,
            )
    return rows, where, unit


def _read_rows(path: Path) -> tuple[list[Any], list[int], str]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        from text2sql_cli.io import iter_jsonl

        pairs = list(iter_jsonl(path))
        return [r for _, r in pairs], [n for n, _ in pairs], "line"
    if suffix == ".csv":
        import io

        from text2sql_cli.io import read_text

        reader = csv.DictReader(io.StringIO(read_text(path), newline=""))  # BOM dropped (Excel)
        rows, where = [], []
        start = 2
        for row in reader:
            rows.append(row)
            where.append(start)
            start = reader.line_num + 1
        return rows, where, "line"
    if suffix == ".json":
        from text2sql_cli.io import read_text

        try:
            data = json.loads(read_text(path))
        except json.JSONDecodeError as err:
            raise InputError(path, f"not valid JSON ({err.msg})", line=err.lineno) from None
        if isinstance(data, dict) and "data" in data:
            data = data["data"]
        if not isinstance(data, list):
            raise InputError(path, "expected a JSON array of row objects", hint="or use JSONL")
        return data, list(range(len(data))), "row"
    if suffix == ".parquet":
        import pyarrow
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(path).to_pylist()
        except (pyarrow.ArrowException, OSError) as err:
            raise InputError(path, f"not a readable Parquet file ({err})", hint="check the file") from None
        return rows, list(range(len(rows))), "row"
    raise InputError(
        path, f"unsupported file type {suffix!r}", hint=f"use one of {', '.join(LOCAL_SUFFIXES)}"
    )


def _read_hub(name: str, config: str | None, split: str) -> list[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_dataset(name, config, split=split)
    except Exception as err:  # datasets raises many kinds; the message is what matters
        raise InputError(
            name,
            f"cannot load dataset (config={config}, split={split}): {type(err).__name__}: {err}",
            hint="check the id, --config and --split, or pass a local file (offline machines need one)",
        ) from None
    return ds.to_list()


def load_examples(
    source: str | Path,
    *,
    config: str | None = None,
    split: str = "train",
    columns: dict[str, str] | None = None,
    require_answer: bool = True,
    drop_na: bool = False,
    flags: tuple[str, ...] = ("--columns", "--drop-na"),
) -> tuple[list[Example], LoadReport]:
    """Load and validate rows. Raises InputError on the first bad row unless `drop_na`. `flags`:
    which of --columns and --drop-na the calling command has; the hints name only those, else the
    commands that have them."""
    source_str = str(source)
    path = Path(source_str)
    if path.suffix.lower() in LOCAL_SUFFIXES or path.exists():
        if path.is_dir():
            raise InputError(
                path, "is a directory, not a data file", hint=f"give a {'/'.join(LOCAL_SUFFIXES)} file"
            )
        if not path.is_file():
            raise InputError(path, "no such file", hint="check the path")
        rows, where, unit = _read_local(path)
    else:
        rows = _read_hub(source_str, config, split)
        where, unit = list(range(len(rows))), "row"

    mapping = {f: f for f in (*FIELDS, "id")} | (columns or {})
    needed = [f for f in FIELDS if require_answer or f != "answer"]
    report = LoadReport(source=source_str, read=len(rows), dropped=Counter())
    if not rows:
        raise InputError(source_str, "has no rows", hint="give a file with at least one row")
    present = set().union(*(r.keys() for r in rows[:50]))
    absent = [
        f"{f} (column {mapping[f]!r})" if mapping[f] != f else f for f in needed if mapping[f] not in present
    ]
    if absent:
        raise InputError(
            source_str,
            f"missing column(s): {', '.join(absent)}; found {', '.join(sorted(map(str, present)))}",
            hint="map them with --columns, e.g. --columns answer=query"
            if "--columns" in flags
            else f"rename the columns to {', '.join(FIELDS)} ({COLUMN_COMMANDS} map them with --columns)",
        )

    examples: list[Example] = []
    problems: list[tuple[int, str]] = []
    first_seen: dict[str, int] = {}
    for index, (row, at) in enumerate(zip(rows, where)):
        not_text = [  # a number or list where SQL or text belongs (a db_id may be a number)
            f"{f} is {type(v).__name__} {v!r:.40}"
            for f in FIELDS
            if not _is_missing(v := row.get(mapping[f]))
            and not isinstance(v, str)
            and not (f == "db_id" and isinstance(v, int) and not isinstance(v, bool))
        ]
        if not_text:
            raise InputError(
                source_str,
                f"{'' if unit == 'line' else f'row {at}: '}{'; '.join(not_text)}: it must be text",
                line=at if unit == "line" else None,
                hint="write it as a string",
            )
        bad = [f for f in needed if _is_missing(row.get(mapping[f]))]
        if bad:
            problems.append((at, f"empty or missing {', '.join(bad)}"))
            report.dropped["missing_field"] += 1
            continue
        raw_id = row.get(mapping["id"])
        answer = row.get(mapping["answer"])
        row_id = str(index) if _is_missing(raw_id) else str(raw_id)
        if row_id in first_seen:
            raise InputError(
                source_str,
                f"{'' if unit == 'line' else f'row {at}: '}duplicate id {row_id!r} (first at {unit} "
                f"{first_seen[row_id]})",
                line=at if unit == "line" else None,
                hint="ids must be unique",
            )
        first_seen[row_id] = at
        examples.append(
            Example(
                id=row_id,
                db_id=_db_id(row[mapping["db_id"]]),
                context=str(row[mapping["context"]]),
                question=str(row[mapping["question"]]).strip(),
                answer=None if _is_missing(answer) else str(answer).strip(),
            )
        )
    if problems and not drop_na:
        at, what = problems[0]
        more = f" (and {len(problems) - 1} more rows)" if len(problems) > 1 else ""
        where_text = "" if unit == "line" else f"row {at}: "
        raise InputError(
            source_str,
            f"{where_text}{what}{more}",
            line=at if unit == "line" else None,
            hint="fill the field, or pass --drop-na to drop such rows"
            if "--drop-na" in flags
            else f"fill the field or remove the row ({COLUMN_COMMANDS} can drop such rows with --drop-na)",
        )
    return examples, report


def _db_id(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


@dataclass
class Split:
    train: list[Example]
    test: list[Example]
    test_dbs: list[str]


def split_by_db(
    examples: list[Example],
    *,
    test_dbs: list[str] | None = None,
    test_frac: float | None = None,
    seed: int = 42,
) -> Split:
    """Hold out whole domains: the named db_ids, or a seeded fraction of the distinct db_ids.

    Train is shuffled with `seed` (the book shuffles with 42); test keeps the source order.
    """
    if (test_dbs is None) == (test_frac is None):
        raise UsageError("give exactly one of --test-db and --test-frac")
    all_dbs = sorted({e.db_id for e in examples}, key=_natural)
    rng = random.Random(seed)
    if test_dbs is not None:
        unknown = [d for d in test_dbs if d not in all_dbs]
        if unknown:
            raise UsageError(
                f"--test-db {', '.join(unknown)} not in the data",
                hint=f"db_ids present: {', '.join(all_dbs)}",
            )
        held = list(test_dbs)
    else:
        if not 0 < test_frac < 1:
            raise UsageError(f"--test-frac must be between 0 and 1, got {test_frac}")
        count = max(1, round(len(all_dbs) * test_frac))
        if count >= len(all_dbs):
            raise UsageError(f"--test-frac {test_frac} leaves no training domain ({len(all_dbs)} db_ids)")
        held = sorted(rng.sample(all_dbs, count), key=_natural)
    held_set = set(held)
    train = [e for e in examples if e.db_id not in held_set]
    test = [e for e in examples if e.db_id in held_set]
    rng.shuffle(train)
    return Split(train=train, test=test, test_dbs=held)


def _natural(db_id: str) -> tuple[int, int | str]:
    return (0, int(db_id)) if db_id.isdigit() else (1, db_id)


def counts_by_db(examples: list[Example]) -> dict[str, int]:
    counts = Counter(e.db_id for e in examples)
    return {k: counts[k] for k in sorted(counts, key=_natural)}
