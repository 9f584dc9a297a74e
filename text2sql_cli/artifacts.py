"""The files t2s writes and later reads back, owned in one place. Torch-free.

Run directories (`t2s train --out RUN`, `t2s model export --out DIR`):
    RUN_FILE (run.json)          a `RunRecord`; written last, so its existence means the run completed
    TRAIN_LOG (train_log.jsonl)  one line per logged step
    TEMPLATE_FILE                the prompt template (prompts.save_template / load_template)
    ADAPTER_CONFIG, ADAPTER_WEIGHTS   the PEFT adapter

Predictions files (`t2s infer --out OUT`, read by `t2s eval`):
    OUT                          one `prediction_row` per input row (JSONL)
    OUT.meta.json                the sidecar: format, fingerprint, `status` (a `PredictionStatus`),
                                 provenance, the template's stop markers (`stop`), data sha256, counts
`load_predictions` reads OUT back for scoring; SQL is re-extracted from `raw` with the stop markers
the sidecar records (the default template's where there is no sidecar).

Paths: `sha256_file`, `blocking_file` (the file that stops an --out directory from being created)
and `looks_local` (a model argument meant as a local path rather than a hub id), shared by every
command.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from text2sql_cli.errors import InputError, UsageError

RUN_FILE = "run.json"
TRAIN_LOG = "train_log.jsonl"
TEMPLATE_FILE = "t2s_template.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")

PREDICTIONS_FORMAT = "t2s.predictions/1"
PredictionStatus = Literal["running", "complete", "incomplete"]
# "incomplete": t2s infer finished but some rows have `error` (no generation); those rows are
# scored as generation_error, so the file is usable. "running" (or anything else) is unfinished.
FINISHED: tuple[PredictionStatus, ...] = ("complete", "incomplete")


# --- paths -------------------------------------------------------------------------------------


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def blocking_file(path: str | Path) -> Path | None:
    """The existing non-directory at `path` or above it, which would stop `path` from being created
    as a directory (found before any work starts, not when the first file is saved)."""
    path = Path(path)
    for part in (path, *path.parents):
        if part.exists():
            return None if part.is_dir() else part
    return None


# The shape of a hub id: `name` or `owner/name`, letters, digits, `_`, `-`, `.`.
_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")


def looks_local(model: str) -> bool:
    """Whether `model` is meant as a local path rather than a hub id.

    Yes when it starts with `.`, `/` or `~`, is not shaped like `owner/name` (more slashes, a
    backslash, a drive letter, `..`), exists here, or its first part exists here (`runs/r17` with
    `runs/`).
    """
    if model.startswith((".", "/", "~", "-")) or ".." in model or not _HUB_ID.fullmatch(model):
        return True
    if Path(model).exists():
        return True
    return "/" in model and Path(model.split("/", 1)[0]).exists()


def check_model_path(model: str | None) -> None:
    """A local-looking `--model`/`--base` that does not exist is a typo, not a hub id to look up."""
    if model and looks_local(model) and not Path(model).expanduser().exists():
        raise UsageError(
            f"no such model directory {model}", hint="give a t2s run dir, a model dir or a hub id"
        )
    if model and Path(model).expanduser().is_file():
        raise UsageError(
            f"{model} is a file, not a model directory",
            hint="give the folder that holds it (a t2s run dir or a model dir) or a hub id",
        )


# --- run.json ----------------------------------------------------------------------------------


class RunRecord(BaseModel):
    """What run.json holds. `t2s train` writes kind "lora-adapter"; `t2s model export` writes the
    merged directory's copy with kind "merged" (+ merged_from, merge_dtype) and records `merged` in
    the run's own. Unknown keys are kept, so a newer t2s's record survives a round trip."""

    model_config = ConfigDict(extra="allow")

    format: int = 1
    kind: Literal["lora-adapter", "merged"]
    status: Literal["completed"] = "completed"
    created_at: str
    base_model: str
    revision: str | None = None
    trust_remote_code: bool = False
    template: str | None = None
    quant: str = "none"
    config: dict[str, Any] = {}
    data: dict[str, Any] = {}
    versions: dict[str, str | None] = {}
    command: list[str] = []
    training: dict[str, Any] = {}
    merged: str | None = None
    merged_from: str | None = None
    merge_dtype: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The keys that were set, in order: what run.json holds."""
        return self.model_dump(mode="json", exclude_unset=True)


def write_run(run_dir: str | Path, record: RunRecord) -> None:
    from text2sql_cli.io import write_json

    write_json(Path(run_dir) / RUN_FILE, record.to_json())


def read_run(run_dir: str | Path) -> RunRecord:
    """RUN's run.json; a missing directory or file, or a record t2s cannot read, is a one-line error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(
            f"{run_dir}: no such run directory", hint="give the --out directory of a `t2s train` run"
        )
    path = run_dir / RUN_FILE
    if not path.is_file():
        raise UsageError(
            f"{run_dir} is not a completed t2s run (no {RUN_FILE})",
            hint="train one with `t2s train`, or finish it with `t2s train --resume`",
        )
    try:
        return RunRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, f"not valid JSON ({err})", hint="retrain, or restore the file") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        raise InputError(path, f"not a t2s run record: {where}: {first['msg']}") from None


def has_adapter_weights(run_dir: str | Path) -> bool:
    return any((Path(run_dir) / name).is_file() for name in ADAPTER_WEIGHTS)


def check_adapter_weights(run_dir: str | Path) -> None:
    """InputError when the adapter's weights file is damaged (truncated by a full disk, a copy
    that stopped, a kill mid-save), found by its own structure before any model loads: a
    safetensors header must parse and its tensors must end where the file ends; a .bin (a torch
    zip archive) must have its central directory."""
    for name in ADAPTER_WEIGHTS:
        path = Path(run_dir) / name
        if path.is_file():
            problem = _safetensors_problem(path) if name.endswith(".safetensors") else _zip_problem(path)
            if problem:
                raise InputError(
                    path,
                    f"is damaged ({problem})",
                    hint="copy it again, or retrain (--resume from a checkpoint)",
                )
            return


def _safetensors_problem(path: Path) -> str | None:
    import struct

    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return f"{size} bytes, shorter than a safetensors header"
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            return f"truncated: the header alone needs {length + 8} bytes, the file has {size}"
        try:
            header = json.loads(fh.read(length))
        except (ValueError, UnicodeDecodeError):
            return "its safetensors header is not valid JSON"
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    needed = 8 + length + max(ends, default=0)
    if needed != size:
        return f"truncated: its tensors need {needed} bytes, the file has {size}"
    return None


def _zip_problem(path: Path) -> str | None:
    import zipfile

    try:
        with zipfile.ZipFile(path):
            return None
    except zipfile.BadZipFile:
        return "not a complete torch archive"


def adapter_sha256(adapter_dir: str | Path) -> str | None:
    """The adapter weights' sha256 (the first of ADAPTER_WEIGHTS present), or None."""
    for name in ADAPTER_WEIGHTS:
        file = Path(adapter_dir) / name
        if file.is_file():
            return sha256_file(file)
    return None


# --- predictions file ---------------------------------------------------------------------------


def meta_path(out: str | Path) -> Path:
    """The sidecar beside a predictions file: OUT.meta.json."""
    out = Path(out)
    return out.with_name(out.name + ".meta.json")


def prediction_row(
    *,
    id: str,
    db_id: str,
    question: str,
    context: str,
    gold: str | None,
    raw: str | None,
    stop: tuple[str, ...],
    fingerprint: str,
    error: str | None = None,
) -> dict[str, Any]:
    """One predictions-file row: the inputs, the raw generation and the SQL extracted from it with
    the template's stop markers; a row without a generation carries `error` instead."""
    from text2sql_cli.sql.extract import extract_sql

    row: dict[str, Any] = {
        "id": id,
        "db_id": db_id,
        "question": question,
        "context": context,
        "gold": gold,
        "raw": raw,
    }
    if raw is None:
        row.update(sql=None, extraction="error", fingerprint=fingerprint, error=error or "no generation")
        return row
    extraction = extract_sql(raw, stop)
    row.update(sql=extraction.sql, extraction=extraction.method, fingerprint=fingerprint)
    return row


def write_predictions_meta(
    out: str | Path,
    *,
    fingerprint: str,
    status: PredictionStatus,
    stop: tuple[str, ...],
    data: str | Path,
    provenance: dict[str, Any],
    batch_size: int,
    world_size: int,
    counts: dict[str, Any],
) -> None:
    from datetime import datetime, timezone

    from text2sql_cli.io import write_json

    path = Path(data)
    write_json(
        meta_path(out),
        {
            "format": PREDICTIONS_FORMAT,
            "fingerprint": fingerprint,
            "status": status,
            "stop": list(stop),
            "data": str(data),
            "data_sha256": sha256_file(path) if path.is_file() else None,  # None: a hub data set
            "provenance": provenance,
            "batch_size": batch_size,
            "world_size": world_size,
            "counts": counts,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        },
    )


def read_predictions_meta(out: str | Path) -> dict[str, Any] | None:
    """The sidecar's content, None when there is none (a file from another tool); unreadable JSON
    is a one-line error naming the sidecar."""
    path = meta_path(out)
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(
            path, "not valid JSON", hint="rerun the same t2s infer command to rewrite it"
        ) from None
    return meta if isinstance(meta, dict) else {}


def stop_markers(meta: dict[str, Any] | None) -> tuple[str, ...]:
    """The stop markers the predictions were generated with: the sidecar's `stop` (or, in a
    sidecar from before `stop` was recorded, its provenance's generation settings); without a
    sidecar, the default template's."""
    if meta is not None:
        stop = meta.get("stop")
        if stop is None:
            stop = ((meta.get("provenance") or {}).get("generation") or {}).get("stop")
        if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
            return tuple(stop)
    from text2sql_cli.prompts import DEFAULT_TEMPLATE, get_template

    return tuple(get_template(DEFAULT_TEMPLATE).stop)


def predictions_provenance(path: str | Path) -> dict[str, Any]:
    """What an eval summary records about the predictions it scored: the file (path, sha256) and,
    from its sidecar, the fingerprint, backend, model, weights, adapter (+ sha256), template (name
    + sha256 of its text), generation settings and data sha256. Keys are None for a file without a
    sidecar (another tool's)."""
    import json as _json

    path = Path(path)
    meta = read_predictions_meta(path) or {}
    prov = meta.get("provenance") or {}
    template = prov.get("template")
    template_sha = (
        hashlib.sha256(_json.dumps(template, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        if isinstance(template, dict)
        else None
    )
    return {
        "path": str(path.resolve()),
        "sha256": sha256_file(path),
        "sidecar": meta_path(path).name if meta else None,
        "fingerprint": meta.get("fingerprint"),
        "status": meta.get("status"),
        "backend": prov.get("backend"),
        "model": prov.get("model"),
        "weights": prov.get("weights"),
        "adapter": prov.get("adapter"),
        "adapter_sha256": prov.get("adapter_sha256"),
        "template": template.get("name") if isinstance(template, dict) else template,
        "template_sha256": template_sha,
        "generation": prov.get("generation"),
        "data": meta.get("data"),
        "data_sha256": meta.get("data_sha256"),
    }


@dataclass(frozen=True)
class Prediction:
    """A predictions-file row as `t2s eval` scores it."""

    id: str
    db_id: str
    question: str | None
    context: str | None
    gold: str | None
    raw: str | None
    sql: str | None
    extraction: str  # how `sql` was found: "given" (from the file) or an `Extraction.method`
    error: str | None = None  # why `t2s infer` produced no generation; such a row is not scored
    db_id_value: Any = None  # db_id as the file has it (an int stays an int in results.jsonl)


def check_finished(path: str | Path, partial: bool) -> dict[str, Any] | None:
    """Refuse a file `t2s infer` has not finished (its sidecar's status is not in FINISHED).

    Returns {"rows": present, "of": expected, "status": ...} for an unfinished file scored with
    `partial`, None otherwise. No sidecar (a file from another tool) is scored as it is."""
    path = Path(path)
    meta = read_predictions_meta(path)
    if meta is None:
        return None
    status = meta.get("status")
    if status in FINISHED:
        return None
    expected = (meta.get("counts") or {}).get("rows")
    present = _count_ids(path)
    if not partial:
        raise InputError(
            path,
            f"t2s infer has not finished this file: it has {present} of "
            f"{expected if expected is not None else '?'} "
            f"rows ({meta_path(path).name} says status {status!r})",
            hint="rerun the same t2s infer command to finish it, or pass --partial to score what is there",
        )
    return {"rows": present, "of": expected, "status": status}


def _count_ids(path: Path) -> int:
    from text2sql_cli.io import iter_jsonl

    try:
        return len({str(obj.get("id", n)) for n, obj in iter_jsonl(path, tolerate_torn_tail=True)})
    except InputError:
        return sum(1 for line in path.open(encoding="utf-8") if line.strip())


# The fields of a predictions row that `--columns` can map to another tool's column names.
PREDICTION_FIELDS = ("id", "db_id", "question", "context", "raw", "sql", "gold")


def load_predictions(
    path: str | Path,
    stop: tuple[str, ...] | None = None,
    *,
    partial: bool = False,
    columns: dict[str, str] | None = None,
) -> list[Prediction]:
    """Read a predictions file; bad lines raise InputError naming the file and line.

    A row without `sql` has it extracted from `raw` with `stop`, by default the stop markers the
    sidecar records. A file whose sidecar says it is unfinished is refused unless `partial`; then a
    torn last line is skipped and, where a resumed run appended an id again, the generation wins.
    `columns` maps t2s fields to another tool's names ({"sql": "pred", "gold": "query"}); a data
    file (questions and gold, no generation) is refused with "run t2s infer first".
    """
    from text2sql_cli.io import check_text_fields, iter_jsonl
    from text2sql_cli.sql.extract import extract_sql

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file", hint="pass the predictions JSONL written by `t2s infer`")
    check_finished(path, partial)
    if stop is None:
        stop = stop_markers(read_predictions_meta(path))
    out: dict[str, Prediction] = {}
    for number, obj in iter_jsonl(path, tolerate_torn_tail=partial):
        if columns:
            _map_columns(path, number, obj, columns)
        check_text_fields(path, number, obj, ("question", "context", "gold", "answer", "raw", "sql"))
        missing = [k for k in ("db_id",) if obj.get(k) is None]
        if "sql" not in obj and "raw" not in obj and obj.get("error") is None:
            if obj.get("question") is not None and ("gold" in obj or "answer" in obj):
                raise InputError(
                    path,
                    "this is a data file (questions and gold SQL, no 'sql' or 'raw' column): "
                    "run t2s infer first",
                    line=number,
                    hint="or, for another tool's predictions, name its SQL column: --columns sql=COLUMN",
                )
            missing.append("sql or raw")
        if missing:
            raise InputError(path, f"missing {', '.join(missing)}", line=number)
        error = obj.get("error")
        sql, method = obj.get("sql"), "given"
        if error is not None:
            sql, method, error = None, "error", str(error)
        elif "sql" not in obj:
            found = extract_sql(obj.get("raw") or "", stop)
            sql, method = found.sql, found.method
        elif sql is None:
            method = "failed"
        pred = Prediction(
            id=str(obj.get("id", number)),
            db_id=str(obj["db_id"]),
            question=obj.get("question"),
            context=obj.get("context"),
            gold=obj.get("gold", obj.get("answer")),
            raw=obj.get("raw"),
            sql=sql,
            extraction=method,
            error=error,
            db_id_value=obj["db_id"],
        )
        # Without `partial` every row counts, as written. In a partial file a resumed run may
        # have appended an id again: a generation beats an error, a later row an earlier one.
        key = pred.id if partial else f"{number}"
        if key not in out or out[key].error is not None or pred.error is None:
            out[key] = pred
    if not out:
        raise InputError(path, "the file has no predictions")
    return list(out.values())


def _map_columns(path: Path, number: int, obj: dict[str, Any], columns: dict[str, str]) -> None:
    """Read t2s fields from another tool's columns, in place; a mapped column that is absent is an
    error naming it (a typo would otherwise read as "no prediction").

    Every mapping reads the row as given, so the order of the pairs does not matter and one column
    may feed two fields (`sql=answer,gold=answer` scores the gold SQL against itself). A mapped
    column then counts only as the fields it was mapped to, never also under its own name
    (`gold=sql` leaves no prediction in `sql`; `sql=answer` leaves no gold in `answer`): reading it
    twice could score a prediction against itself without anyone asking for it."""
    for field, column in columns.items():
        if column not in obj:
            raise InputError(
                path,
                f"no column {column!r} (from --columns {field}={column})",
                line=number,
                hint=f"the row has {', '.join(sorted(obj)) or 'no columns'}",
            )
    values = {field: obj[column] for field, column in columns.items()}
    for column in set(columns.values()):
        del obj[column]
    obj.update(values)
