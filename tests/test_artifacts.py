"""artifacts.py: the one reader/writer of run.json and of the predictions file and its sidecar,
sha256_file, the --out blocking-file check and the local-path rule for model arguments."""

from __future__ import annotations

import hashlib
import json

import pytest

from text2sql_cli.artifacts import (
    RunRecord,
    blocking_file,
    load_predictions,
    looks_local,
    meta_path,
    read_run,
    sha256_file,
    write_predictions_meta,
    write_run,
)
from text2sql_cli.errors import InputError, UsageError

RAW = "SELECT 1 END_OF_SQL and more text"


def _preds(path, raw=RAW):
    path.write_text(json.dumps({"id": "1", "db_id": "d", "raw": raw}) + "\n", encoding="utf-8")
    return path


def _meta(path, stop, status="complete"):
    write_predictions_meta(
        path,
        fingerprint="f",
        status=status,
        stop=stop,
        data="nowhere.jsonl",
        provenance={},
        batch_size=1,
        world_size=1,
        counts={"rows": 1},
    )


def test_eval_re_extracts_with_the_stop_markers_the_sidecar_records(tmp_path):
    preds = _preds(tmp_path / "p.jsonl")
    _meta(preds, ("END_OF_SQL",))
    assert json.loads(meta_path(preds).read_text())["stop"] == ["END_OF_SQL"]
    [pred] = load_predictions(preds)
    assert pred.sql == "SELECT 1" and pred.extraction == "stop"


def test_a_sidecar_without_stop_markers_cuts_nothing_at_a_marker(tmp_path):
    preds = _preds(tmp_path / "p.jsonl", raw="SELECT 1 ### SQL")
    _meta(preds, ())
    [pred] = load_predictions(preds)
    assert pred.extraction != "stop" and "###" in (pred.sql or pred.raw)


def test_without_a_sidecar_the_default_templates_markers_apply(tmp_path):
    [pred] = load_predictions(_preds(tmp_path / "p.jsonl", raw="SELECT 1\n### Question: next"))
    assert pred.sql == "SELECT 1" and pred.extraction == "stop"


def test_sidecar_status_running_is_refused_and_names_the_sidecar(tmp_path):
    preds = _preds(tmp_path / "p.jsonl")
    _meta(preds, ("###",), status="running")
    with pytest.raises(InputError, match=r"p\.jsonl\.meta\.json says status 'running'"):
        load_predictions(preds)


def test_run_record_round_trip_keeps_unknown_keys(tmp_path):
    record = RunRecord(kind="lora-adapter", created_at="now", base_model="base", future_key={"a": 1})
    write_run(tmp_path, record)
    back = read_run(tmp_path)
    assert back.base_model == "base" and back.kind == "lora-adapter"
    assert back.to_json() == {
        "kind": "lora-adapter",
        "created_at": "now",
        "base_model": "base",
        "future_key": {"a": 1},
    }


def test_run_record_without_a_base_model_is_a_one_line_error(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"kind": "lora-adapter", "created_at": "x"}))
    with pytest.raises(InputError, match="base_model"):
        read_run(tmp_path)


def test_missing_run_dir_and_missing_run_json_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no such run directory"):
        read_run(tmp_path / "nope")
    with pytest.raises(UsageError, match=r"not a completed t2s run \(no run.json\)"):
        read_run(tmp_path)


def test_sha256_file_is_the_files_sha256(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (3 << 20))
    assert sha256_file(path) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()


def test_blocking_file_finds_a_file_at_or_above_the_path(tmp_path):
    (tmp_path / "file").write_text("")
    assert blocking_file(tmp_path / "file") == tmp_path / "file"
    assert blocking_file(tmp_path / "file" / "sub" / "dir") == tmp_path / "file"
    assert blocking_file(tmp_path / "new" / "dir") is None


def test_looks_local_paths_and_hub_ids(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "model.bin").write_text("")
    assert all(looks_local(m) for m in ("./m", "/abs", "~/m", "a/b/c", "runs/r1", "model.bin", "..x"))
    assert not any(looks_local(m) for m in ("gpt2", "beomi/Yi-Ko-6B", "Qwen/Qwen2.5-0.5B-Instruct"))
