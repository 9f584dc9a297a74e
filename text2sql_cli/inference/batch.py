"""Batch mode: a data file in, one prediction row per input out, in input order.

Output `OUT` (JSONL), one row per input row:
    id, db_id, question, context, gold (null without an answer), raw (the generation), sql (null
    when extraction fails), extraction (extract_sql's method, or "error"), fingerprint
    (+ error, only when the backend gave no generation, e.g. an API request that kept failing)
and a sidecar `OUT.meta.json` (both formats are owned by `artifacts.py`): the format tag, the
fingerprint, the template's stop markers (`t2s eval` re-extracts SQL with them), the full
provenance (backend, model, weights, adapter and its sha256, template name and text, precision,
quant, generation settings, device, library versions), the data file and its sha256, the batch
size used and the counts. `status` is "complete" only when every row has a generation;
"incomplete" when some rows failed (counted under `errors`; the next run retries them).

Resume: ids already in OUT (rows without `error`) are skipped; rows with `error` are generated
again. Each row carries its inputs (id, question, context), and a resume is refused, before the
model loads, when OUT holds an id the data lacks or a row whose question or context differs from
the data's: a finished OUT holds exactly the data's rows, in its order, and no stale prediction
for an edited question. (db_id and gold, which do not change the generation, are refreshed from
the data when OUT is rewritten.) While running, rows are appended
per finished micro-batch (length-sorted, so out of order; with --candidates once the batch is
selected, which runs while the next one generates); a kill -9 leaves at most a torn last
line, which the next run cuts off. When all rows are done, OUT is rewritten in input order
(atomically), so a finished file is always ordered. A run whose fingerprint (backend, weights,
adapter hash, template, precision, quant, generation settings, API URL) differs from the one that
started OUT is refused: mixing two models in one file would make every metric meaningless.

Multi-process (`accelerate launch -m text2sql_cli infer ...`): rank r takes pending rows r, r+W,
r+2W, ... and appends to `OUT.rank<r>.part`; after a barrier rank 0 merges OUT and the parts
into the ordered OUT and removes the parts. A crashed multi-process run resumes from OUT plus the
parts, with any number of processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.artifacts import (
    PredictionStatus,
    meta_path,
    prediction_row,
    read_predictions_meta,
    write_predictions_meta,
)
from text2sql_cli.data import Example, load_examples
from text2sql_cli.errors import InputError, UsageError
from text2sql_cli.inference import InferSettings
from text2sql_cli.inference.backend import Backend, Item
from text2sql_cli.inference.factory import load_backend
from text2sql_cli.io import JsonlAppender, iter_jsonl, write_jsonl
from text2sql_cli.progress import ProgressBar

# Provenance entries that decide whether two runs may share an output file. The rest (paths,
# device, versions) describe the run without changing what the model generates.
IDENTITY_KEYS = (
    "backend",
    "weights",
    "adapter_sha256",
    "base_url",
    "template",
    "precision",
    "quant",
    "generation",
)


@dataclass
class BatchSummary:
    out: Path
    total: int
    resumed: int  # rows already in OUT when the run started
    generated: int = 0  # rows given a generation by this run (all processes)
    errors: int = 0  # rows in OUT without a generation (failed; a rerun retries them)
    first_error: str | None = None  # one failure's message, to show the user
    methods: Counter = field(default_factory=Counter)  # extraction methods over all of OUT
    seconds: float = 0.0
    batch_size: int = 0
    world_size: int = 1
    rank: int = 0
    notes: list[str] = field(default_factory=list)
    fallbacks: int | None = None  # --candidates: rows where no candidate ran (first kept, marked)

    @property
    def extracted(self) -> int:
        return sum(n for m, n in self.methods.items() if m not in ("failed", "error"))


def part_path(out: Path, rank: int) -> Path:
    return out.with_name(f"{out.name}.rank{rank}.part")


def fingerprint(provenance: dict[str, Any]) -> str:
    identity = {k: provenance.get(k) for k in IDENTITY_KEYS}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Dist:
    """This process's place among `accelerate launch` processes (or alone)."""

    def __init__(self) -> None:
        self.state = None
        self.rank, self.world, self.device = 0, 1, None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            import torch
            from accelerate import PartialState

            self.state = PartialState(cpu=not torch.cuda.is_available())
            self.rank, self.world, self.device = (
                self.state.process_index,
                self.state.num_processes,
                self.state.device,
            )

    def barrier(self) -> None:
        if self.state is not None:
            self.state.wait_for_everyone()


def run_batch_inference(
    cfg: InferSettings,
    *,
    data: str | Path,
    out: str | Path,
    model: str | None,
    base: str | None = None,
    columns: dict[str, str] | None = None,
    overwrite: bool = False,
    drop_na: bool = False,
    on_start: Callable[[Backend, int, int], None] | None = None,
    console: Any = None,
) -> BatchSummary:
    """Generate predictions for every row of `data` into `out`. See the module docstring.

    `on_start(backend, rows, already_done)` runs once the model is loaded (rank 0 only);
    `console`, a rich Console, shows a progress bar (rank 0 only).
    """
    out = Path(out)
    check_out_path(out)
    examples, _ = load_examples(data, require_answer=False, columns=columns, drop_na=drop_na)
    if not examples:
        raise InputError(data, "no rows to predict", hint="check the file")
    dist = _Dist()
    if overwrite and dist.rank == 0:
        for path in (out, meta_path(out), *out.parent.glob(f"{out.name}.rank*.part")):
            path.unlink(missing_ok=True)
    dist.barrier()
    _check_same_data(out, examples, data)  # before the model loads: a refusal should be instant
    backend = load_backend(cfg, model=model, base=base, device=dist.device)
    if backend.name == "openai":
        backend.cache_path = out.with_name(out.name + ".llm_cache.jsonl")  # the client's resume record
    provenance = backend.provenance()
    if cfg.selection() is not None:  # part of `generation`, so a resume with other settings is refused
        provenance["generation"] = {**provenance["generation"], "selection": cfg.selection()}
    fp = fingerprint(provenance)
    _check_compatible(out, provenance, fp)  # every rank checks, so every rank fails alike
    dist.barrier()
    done = _done_ids(out)
    summary = BatchSummary(
        out=out,
        total=len(examples),
        resumed=len(done & {e.id for e in examples}),
        world_size=dist.world,
        rank=dist.rank,
        notes=list(backend.notes),
    )
    dist.barrier()  # every rank has read the same `done` before anyone appends
    if dist.rank == 0:
        _write_meta(out, backend, provenance, fp, data, status="running", summary=summary)
    pending = [e for e in examples if e.id not in done]
    mine = pending[dist.rank :: dist.world]
    if on_start is not None and dist.rank == 0:
        on_start(backend, len(examples), summary.resumed)
    start = time.perf_counter()
    target = out if dist.world == 1 else part_path(out, dist.rank)
    with JsonlAppender(target) as sink:
        _generate_into(backend, mine, sink, fp, summary, console=console if dist.rank == 0 else None, cfg=cfg)
    summary.seconds = time.perf_counter() - start
    summary.batch_size = backend.batch_size
    dist.barrier()
    if dist.rank == 0:
        merged = _merge(out, examples, dist.world > 1)
        # Report the whole file, every rank's rows included, not just this rank's share.
        summary.methods = Counter(r.get("extraction") for r in merged)
        if cfg.candidates > 1:  # rows whose candidates all failed to run: a marked guess
            summary.fallbacks = sum(1 for r in merged if r.get("selected", {}).get("fallback"))
        failed = [r for r in merged if "error" in r]
        summary.errors = len(failed)
        summary.first_error = summary.first_error or (failed[0]["error"] if failed else None)
        summary.generated = len(merged) - summary.errors - summary.resumed
        _write_meta(
            out,
            backend,
            provenance,
            fp,
            data,
            status="incomplete" if failed else "complete",
            summary=summary,
        )
    dist.barrier()
    return summary


def _generate_into(
    backend: Backend,
    examples: list[Example],
    sink: JsonlAppender,
    fp: str,
    summary: BatchSummary,
    *,
    console: Any,
    cfg: InferSettings | None = None,
) -> None:
    prepared = [backend.prepare(Item(e.id, e.context, e.question)) for e in examples]
    # Longest first: similar lengths share a batch (little padding), and an out-of-memory shows
    # on the first batch rather than an hour in.
    order = sorted(range(len(examples)), key=lambda i: -backend.cost(prepared[i]))
    bar = ProgressBar(
        "generating", len(order), enabled=console is not None, console=console, remaining=True, transient=True
    )
    selecting = cfg is not None and cfg.candidates > 1
    with bar, _Selector(cfg, backend.template.stop) if selecting else nullcontext() as selector:
        pos = 0
        while pos < len(order):
            chunk = order[pos : pos + backend.batch_size]
            generations = backend.generate([prepared[i] for i in chunk])
            rows = [
                prediction_row(
                    id=examples[i].id,
                    db_id=examples[i].db_id,
                    question=examples[i].question,
                    context=examples[i].context,
                    gold=examples[i].answer,
                    raw=gen.raw,
                    error=gen.error,
                    stop=backend.template.stop,
                    fingerprint=fp,
                )
                for i, gen in zip(chunk, generations)
            ]
            pos += len(chunk)
            if selector is None:
                _write_rows(rows, sink, summary, bar)
            else:  # written once selected, while the next chunk generates
                for done in selector.submit(rows, generations, last=pos >= len(order)):
                    _write_rows(done, sink, summary, bar)


class _Selector:
    """--candidates: run a chunk's candidate execution and selection (`choose_for_rows`) in a
    background thread, so the sandbox pool's worker processes run it while this thread generates
    the next chunk. The execution touches no torch state, so the sampled candidates, and hence
    the selections, are the same as running the chunks one after the other.

    `submit(rows, generations)` starts this chunk and returns the rows of the chunk before it,
    selected (or this chunk's, too, with `last`). Leaving by an exception waits for the chunk in
    flight (its pool stops at the next loop turn on Ctrl-C/SIGTERM) and drops its rows unwritten:
    the next run generates them again."""

    def __init__(self, cfg: InferSettings, stop: tuple[str, ...]):
        self.cfg, self.stop = cfg, stop
        self.pending: tuple[Any, list[dict[str, Any]]] | None = None

    def __enter__(self) -> _Selector:
        from concurrent.futures import ThreadPoolExecutor

        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="t2s-select")
        return self

    def __exit__(self, *exc) -> None:
        self.thread.shutdown(wait=True, cancel_futures=True)

    def submit(self, rows: list[dict[str, Any]], generations: list[Any], *, last: bool) -> list[list]:
        from text2sql_cli.inference.candidates import choose_for_rows

        done = [self._finish()] if self.pending is not None else []
        self.pending = (self.thread.submit(choose_for_rows, rows, generations, self.cfg, self.stop), rows)
        if last:
            done.append(self._finish())
        return done

    def _finish(self) -> list[dict[str, Any]]:
        job, rows = self.pending
        self.pending = None
        job.result()  # re-raises the selection's error here
        return rows


def _write_rows(rows: list[dict[str, Any]], sink: JsonlAppender, summary: BatchSummary, bar) -> None:
    for row in rows:
        sink.write(row)
        if "error" in row:
            summary.errors += 1
            summary.first_error = summary.first_error or row["error"]
        else:
            summary.generated += 1
        summary.methods[row["extraction"]] += 1
    bar.advance(len(rows))


def _rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [row for _, row in iter_jsonl(path, tolerate_torn_tail=True)]


def _existing_rows(out: Path) -> list[dict[str, Any]]:
    rows = _rows(out)
    for part in sorted(out.parent.glob(f"{out.name}.rank*.part")):
        rows.extend(_rows(part))
    return rows


def _done_ids(out: Path) -> set[str]:
    return {str(r["id"]) for r in _existing_rows(out) if "id" in r and "error" not in r}


def check_out_path(out: Path) -> None:
    if out.is_dir():
        raise UsageError(
            f"--out {out} is a directory", hint=f"give a file name, e.g. --out {out / 'preds.jsonl'}"
        )


def _check_same_data(out: Path, examples: list[Example], data: str | Path) -> None:
    """Refuse to resume OUT from other data: ids the data lacks, or questions/contexts edited since."""
    inputs = {e.id: e for e in examples}
    foreign: dict[str, None] = {}  # ordered sets
    changed: dict[str, None] = {}
    for row in _existing_rows(out):
        key = str(row.get("id"))
        example = inputs.get(key)
        if example is None:
            foreign[key] = None
        elif (row.get("question"), row.get("context")) != (example.question, example.context):
            changed[key] = None
    problems = []
    if foreign:
        problems.append(f"{len(foreign)} row(s) with ids not in {data} ({_some(foreign)})")
    if changed:
        problems.append(
            f"{len(changed)} row(s) whose question or context differs from {data} ({_some(changed)})"
        )
    if problems:
        raise UsageError(
            f"{out} was made from other data: {'; '.join(problems)}",
            hint="use another --out, or --overwrite to start it again",
        )


def _some(ids: dict[str, None], n: int = 3) -> str:
    shown = ", ".join(list(ids)[:n])
    return f"e.g. {shown}" + (", ..." if len(ids) > n else "")


def _check_compatible(out: Path, provenance: dict[str, Any], fp: str) -> None:
    rows = _existing_rows(out)
    if not rows:
        return  # nothing to mix with (a left-over sidecar is rewritten)
    if meta_path(out).exists():
        try:
            old = read_predictions_meta(out) or {}
        except InputError:
            old = {}
        if old.get("fingerprint") != fp:
            raise UsageError(
                f"{out} was made with different settings "
                f"({_differences(old.get('provenance', {}), provenance)})",
                hint="use another --out, or --overwrite to start it again",
            )
        return
    found = {r.get("fingerprint") for r in rows}
    if found != {fp}:
        raise UsageError(
            f"{out} holds rows from another run or tool (fingerprint {', '.join(map(str, found))}, now {fp})",
            hint="use another --out, or --overwrite to start it again",
        )


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    diffs = []
    for key in IDENTITY_KEYS:
        a, b = old.get(key), new.get(key)
        if a != b:
            if isinstance(a, dict) and isinstance(b, dict):
                inner = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
                diffs.append(
                    f"{key}.{'/'.join(inner)}: {[a.get(k) for k in inner]} -> {[b.get(k) for k in inner]}"
                )
            else:
                diffs.append(f"{key}: {a!r} -> {b!r}")
    return "; ".join(diffs) or "unknown provenance"


def _merge(out: Path, examples: list[Example], has_parts: bool) -> list[dict[str, Any]]:
    """Rewrite OUT in input order, one row per input id: a success beats an error, later beats earlier.

    Only the data's ids are kept (`_check_same_data` has refused any other), and db_id/gold come
    from the data, so OUT describes exactly the rows it was asked for.
    """
    best: dict[str, dict[str, Any]] = {}
    for row in _existing_rows(out):
        key = str(row.get("id"))
        if key not in best or "error" in best[key] or "error" not in row:
            best[key] = row
    ordered = [dict(best[e.id], db_id=e.db_id, gold=e.answer) for e in examples if e.id in best]
    write_jsonl(out, ordered)
    if has_parts:
        for part in out.parent.glob(f"{out.name}.rank*.part"):
            part.unlink()
    return ordered


def _write_meta(
    out: Path,
    backend: Backend,
    provenance: dict[str, Any],
    fp: str,
    data: str | Path,
    *,
    status: PredictionStatus,
    summary: BatchSummary,
) -> None:
    write_predictions_meta(
        out,
        fingerprint=fp,
        status=status,
        stop=tuple(backend.template.stop),
        data=data,
        provenance=provenance,
        batch_size=backend.batch_size,
        world_size=summary.world_size,
        counts={
            "rows": summary.total,
            "resumed": summary.resumed,
            "generated": summary.generated,
            "errors": summary.errors,
            "extraction": dict(summary.methods),
            **({"fallback": summary.fallbacks} if summary.fallbacks is not None else {}),
        },
    )
