"""The resume cache: a JSONL file of finished calls keyed by (model, prompt hash, id, fingerprint),
plus the Batch API jobs a run submitted (records with a "batch" field; see load_batches).

Only "ok" and "unparseable" records are reused; "error" and "skipped" are sent again. A torn last
line (kill -9 mid-append) is ignored. API keys never reach the cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from text2sql_cli.llm_client.datatypes import Request
from text2sql_cli.llm_client.settings import ClientConfig

REUSED_STATUSES = ("ok", "unparseable")


def prompt_hash(model: str, messages: list[dict[str, str]], params: Mapping[str, Any]) -> str:
    blob = json.dumps(
        {"model": model, "messages": messages, "params": dict(params)}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_key(model: str, phash: str, item_id: Any, fingerprint: str) -> str:
    return hashlib.sha256(f"{model}\0{phash}\0{item_id}\0{fingerprint}".encode()).hexdigest()[:32]


def load_cache(path: Path | None) -> dict[str, dict[str, Any]]:
    """key -> last record. A torn last line (a crash mid-append) is ignored."""
    if path is None or not Path(path).exists():
        return {}
    from text2sql_cli.io import iter_jsonl

    return {rec["key"]: rec for _, rec in iter_jsonl(path, tolerate_torn_tail=True) if "key" in rec}


def load_batches(path: Path | None, *, include_merged: bool = False) -> list[dict[str, Any]]:
    """Batch API jobs recorded in the cache (llm_client.batch), oldest first, one dict per input
    file: {"input_file_id", "keys", "batch_id" (absent if the run died before the batch was
    created)}. Merged ones (their answers are in the cache) are left out unless asked for."""
    if path is None or not Path(path).exists():
        return []
    from text2sql_cli.io import iter_jsonl

    jobs: dict[str, dict[str, Any]] = {}
    merged: set[str] = set()
    for _, rec in iter_jsonl(path, tolerate_torn_tail=True):
        kind = rec.get("batch")
        if kind in ("uploaded", "submitted"):
            job = jobs.setdefault(rec["input_file_id"], {"input_file_id": rec["input_file_id"]})
            job["keys"] = rec["keys"]
            if kind == "submitted":
                job["batch_id"] = rec["batch_id"]
        elif kind == "merged":
            merged.add(rec["batch_id"])
    return [j for j in jobs.values() if include_merged or j.get("batch_id") not in merged]


def _text(messages: list[dict[str, str]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages)


def _reusable(cache, cfg: ClientConfig, req: Request, params) -> dict[str, Any] | None:
    rec = cache.get(cache_key(cfg.model, prompt_hash(cfg.model, req.keyed, params), req.id, req.fingerprint))
    return rec if rec and rec.get("status") in REUSED_STATUSES else None
