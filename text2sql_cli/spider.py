"""Spider import: Spider's json (db_id, question, query) plus its SQLite databases -> t2s rows.

    import_spider(spider_dir, split="dev", skip_missing=) -> list[dict]   id, db_id, context, question, answer
    schema_ddl(sqlite_path) -> str                            the CREATE TABLE text of a database
    write_rows(rows, out)                                     JSONL, written atomically

Layout read (the official release): `<dir>/dev.json`, `<dir>/train_spider.json`,
`<dir>/train_others.json`, and `<dir>/database/<db_id>/<db_id>.sqlite` (a test-suite release's
extra `.sqlite` files in the same folder are used by `t2s eval --db-dir <dir>/database`). The
context is the CREATE TABLE text stored in each database, so Spider rows train and evaluate like
ko_text2sql rows. Databases are opened read-only.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from text2sql_cli.errors import InputError

SPLITS = {"dev": ("dev.json",), "train": ("train_spider.json", "train_others.json")}


def schema_ddl(sqlite_path: str | Path) -> str:
    uri = Path(sqlite_path).resolve().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        rows = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
    finally:
        conn.close()
    return "\n".join(sql.strip().rstrip(";") + ";" for (sql,) in rows)


def import_spider(
    spider_dir: str | Path, split: str = "dev", *, skip_missing: bool = False, skipped: dict | None = None
) -> list[dict]:
    """Rows for one split; every problem (missing json, missing databases) reported at once.
    `skip_missing` leaves out the rows of databases absent from `database/` (Spider dev's wta_1 in
    some copies) instead of failing; `skipped` (a dict) then receives {db_id: rows left out}."""
    root = Path(spider_dir)
    if split not in SPLITS:
        raise InputError(root, f"unknown split {split!r}", hint=f"choose one of {', '.join(SPLITS)}")
    files = [root / name for name in SPLITS[split] if (root / name).exists()]
    if not files:
        raise InputError(
            root, f"no {' or '.join(SPLITS[split])} here", hint="pass the unzipped Spider folder"
        )
    examples = []
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(path, f"not valid JSON ({err})") from None
        for i, item in enumerate(data):
            if not all(isinstance(item.get(k), str) for k in ("db_id", "question", "query")):
                raise InputError(path, f"item {i} lacks db_id, question or query")
            examples.append((path.stem, i, item))
    contexts, missing = {}, set()
    for _, _, item in examples:
        db_id = item["db_id"]
        if db_id in contexts or db_id in missing:
            continue
        db_file = root / "database" / db_id / f"{db_id}.sqlite"
        if db_file.exists():
            contexts[db_id] = schema_ddl(db_file)
        else:
            missing.add(db_id)
    if missing and skip_missing:
        for _, _, item in examples:
            if item["db_id"] in missing and skipped is not None:
                skipped[item["db_id"]] = skipped.get(item["db_id"], 0) + 1
        examples = [e for e in examples if e[2]["db_id"] not in missing]
    elif missing:
        names = ", ".join(sorted(missing)[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(
            root / "database",
            f"{len(missing)} databases missing ({names})",
            hint="expected database/<db_id>/<db_id>.sqlite; --skip-missing leaves their rows out",
        )
    return [
        {
            "id": f"{stem}-{i}",
            "db_id": item["db_id"],
            "context": contexts[item["db_id"]],
            "question": item["question"].strip(),
            "answer": item["query"].strip(),
        }
        for stem, i, item in examples
    ]


def write_rows(rows: list[dict], out: str | Path) -> None:
    from text2sql_cli.io import write_jsonl

    write_jsonl(out, rows)
