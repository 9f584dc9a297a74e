"""Issue 19 §3: replies that are not text, OpenAI's key over plain http, a file as --model."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from _servers import server_url  # reads the server URLs at import, before the env is cleared
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.errors import ConfigError
from text2sql_cli.llm_client import ClientConfig, Request, run_batch
from text2sql_cli.llm_client.verdict import parse_verdict

sys.path.insert(0, str(Path(__file__).parent))


@pytest.mark.parametrize("content", [5, ["yes"], 1.5], ids=["number", "list", "float"])
def test_reply_content_that_is_not_text_is_an_unparseable_verdict(
    fake_openai, tmp_path, content, monkeypatch
):
    monkeypatch.setenv("T2S_TEST_KEY", "sk-test")
    fake_openai.answer = lambda prompt: content
    cfg = ClientConfig.build("gpt-4o-mini", base_url=fake_openai.url, api_key_env="T2S_TEST_KEY")
    report = run_batch(
        [Request(0, [{"role": "user", "content": "<q0>"}])],
        cfg,
        cache_path=tmp_path / "cache.jsonl",
        progress=False,
        parse=lambda text: parse_verdict(text, ("verdict",)),
        parse_attempts=2,
    )
    (result,) = report.results
    assert result.status == "unparseable" and result.value is None
    assert (tmp_path / "cache.jsonl").exists()  # the cache survives: nothing crashed


def test_parse_verdict_refuses_a_non_string():
    from text2sql_cli.llm_client import ParseError

    with pytest.raises(ParseError, match="int, not text"):
        parse_verdict(5, ("verdict",))


@pytest.mark.parametrize("url", ["http://api.openai.com/v1", "http://api.openai.com"])
def test_plain_http_openai_url_is_refused_with_a_hint(url, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    with pytest.raises(ConfigError, match="unencrypted.*https://api.openai.com/v1") as err:
        ClientConfig.build("gpt-4o-mini", base_url=url)
    assert "sk-secret" not in str(err.value) and err.value.exit_code == 2


def test_infer_with_a_file_as_model_is_exit_2(tmp_path):
    model = tmp_path / "adapter_model.safetensors"
    model.write_bytes(b"\0" * 16)
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"db_id": "d", "question": "q", "context": "CREATE TABLE t (a INT);"}) + "\n")
    result = CliRunner().invoke(
        app, ["infer", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "p.jsonl")]
    )
    assert result.exit_code == 2 and "is a file, not a model directory" in result.output, result.output


def test_sqlglot_warnings_go_to_the_summary_not_stderr(tmp_path):
    row = {"db_id": "d", "context": "CREATE TABLE t (a INT);", "gold": "SELECT a FROM t"}
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        "".join(
            json.dumps({**row, "id": str(i), "sql": "SELECT a FROM t FOR UPDATE"}) + "\n" for i in range(3)
        )
    )
    result = CliRunner().invoke(app, ["eval", str(preds), "--out", str(tmp_path / "o"), "--dialect", "mysql"])
    assert result.exit_code == 0, result.output
    assert "Locking reads" not in result.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    warnings = summary["sqlglot_warnings"]
    assert warnings["count"] >= 3 and "FOR UPDATE" in warnings["examples"][0]


def test_truncated_adapter_is_named_damaged_before_any_model_loads(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    from text2sql_cli.artifacts import check_adapter_weights
    from text2sql_cli.errors import InputError

    weights = tmp_path / "adapter_model.safetensors"
    save_file(
        {"lora_A": np.zeros((8, 64), dtype=np.float32), "lora_B": np.ones((64, 8), dtype=np.float32)}, weights
    )
    check_adapter_weights(tmp_path)  # a whole file passes
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(InputError, match=r"adapter_model.safetensors: is damaged \(truncated") as err:
        check_adapter_weights(tmp_path)
    assert err.value.exit_code == 2 and "--base" not in str(err.value)


@pytest.mark.parametrize(
    "gold",
    ["SELECT zeroblob(999999999)", "SELECT printf('%.*c', 999999999, 'x')"],
    ids=["zeroblob", "printf"],
)
def test_filter_gold_check_runs_under_the_sandbox_limits(gold):
    from text2sql_cli.filtering.rules import SqlTask, check_sql

    found = check_sql(SqlTask("CREATE TABLE t (a INT);", gold, ("parse", "schema", "execute")))
    assert found.reason == "gold_error" and "SQLITE_LIMIT_LENGTH" in found.detail


@pytest.mark.parametrize("kind", ["mariadb", "postgres"])
def test_server_result_over_the_size_limit_is_an_error_not_rows(kind):
    from text2sql_cli.sql.engines import check_url, server_for

    engine = server_for(kind, check_url(kind, server_url(kind)))
    big = (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 70) "
        "SELECT REPEAT('x', 1000000) FROM r"
        if kind == "mariadb"
        else "SELECT repeat('x', 1000000) FROM generate_series(1, 70)"
    )
    result = engine.execute(big, timeout=30)
    assert not result.ok and result.rows == () and "result size limit" in result.error
