"""`t2s infer --backend openai` takes its server and key through llm_client's Endpoint (the judge's
base): T2S_INFER_BASE_URL / --base-url and T2S_INFER_API_KEY, sent to that URL only; never the
OpenAI key to another host, never a T2S_JUDGE_* value, never the key in an output."""

from __future__ import annotations

import pytest
from _tiny import write_rows
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.errors import ConfigError, UsageError
from text2sql_cli.inference import InferSettings
from text2sql_cli.llm_client import Endpoint, EndpointSettings

runner = CliRunner()


def test_infer_and_the_judge_share_the_endpoint_fields_under_their_own_prefixes(monkeypatch):
    assert issubclass(InferSettings, Endpoint) and issubclass(EndpointSettings, Endpoint)
    monkeypatch.setenv("T2S_INFER_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("T2S_INFER_API_KEY", "sk-infer")
    monkeypatch.setenv("T2S_JUDGE_BASE_URL", "http://127.0.0.1:8/v1")
    monkeypatch.setenv("T2S_JUDGE_API_KEY", "sk-judge")
    infer = InferSettings.from_flags(model_name="m").client()
    judge = EndpointSettings.from_flags(model="j").client()
    assert (infer.base_url, infer.api_key.get_secret_value()) == ("http://127.0.0.1:9/v1", "sk-infer")
    assert (judge.base_url, judge.api_key.get_secret_value()) == ("http://127.0.0.1:8/v1", "sk-judge")
    assert "api_key" not in InferSettings.from_flags().public_dump()


def test_infer_without_a_model_name_is_a_usage_error():
    with pytest.raises(UsageError, match="--backend openai needs --model-name"):
        InferSettings.from_flags(base_url="http://127.0.0.1:9/v1").client()


def test_the_openai_key_is_not_sent_to_another_base_url(fake_openai, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("T2S_JUDGE_API_KEY", "sk-judge-secret")
    fake_openai.answer = lambda prompt: "SELECT 1;"
    out = tmp_path / "p.jsonl"
    args = ["infer", "--backend", "openai", "--base-url", fake_openai.url, "--model-name", "served"]
    result = runner.invoke(
        app, [*args, "--data", str(write_rows(tmp_path / "r.jsonl", 2)), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert [s.authorization for s in fake_openai.seen] == [None, None]  # no Authorization header at all


def test_the_infer_key_goes_to_its_base_url_and_into_no_output(fake_openai, tmp_path, monkeypatch):
    monkeypatch.setenv("T2S_INFER_API_KEY", "sk-infer-secret")
    monkeypatch.setenv("T2S_INFER_BASE_URL", fake_openai.url)
    fake_openai.answer = lambda prompt: "SELECT 1;"
    out = tmp_path / "p.jsonl"
    args = ["infer", "--backend", "openai", "--model-name", "served"]
    result = runner.invoke(
        app, [*args, "--data", str(write_rows(tmp_path / "r.jsonl", 2)), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert {s.authorization for s in fake_openai.seen} == {"Bearer sk-infer-secret"}
    written = "".join(p.read_text(encoding="utf-8") for p in tmp_path.rglob("*") if p.is_file())
    assert "sk-infer-secret" not in written + result.output


def test_the_openai_url_without_a_key_says_how_to_set_one(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="no OpenAI API key"):
        InferSettings.from_flags(model_name="gpt-4o-mini").client()


def test_a_missing_openai_key_hints_at_infers_own_base_url_flag(tmp_path, monkeypatch):
    """Issue 18 item 10: a hint names an option of the command that failed (infer has --base-url,
    not the judge's --judge-base-url)."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    args = ["infer", "--backend", "openai", "--model-name", "gpt-4o-mini", "--out", str(tmp_path / "p.jsonl")]
    result = runner.invoke(app, [*args, "--data", str(write_rows(tmp_path / "r.jsonl", 1))])
    assert result.exit_code == 2 and "no OpenAI API key" in result.output, result.output
    assert "--base-url" in result.output and "--judge-base-url" not in result.output


def test_an_unreachable_server_hints_at_infers_own_base_url_flag(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("T2S_LLM_MAX_ATTEMPTS", "1")
    args = ["infer", "--backend", "openai", "--base-url", f"http://127.0.0.1:{port}/v1", "--model-name", "m"]
    result = runner.invoke(
        app, [*args, "--data", str(write_rows(tmp_path / "r.jsonl", 1)), "--out", str(tmp_path / "p.jsonl")]
    )
    assert result.exit_code != 0 and f"cannot reach http://127.0.0.1:{port}/v1" in result.output
    assert "check --base-url and that the server is running" in result.output, result.output
    assert "--judge-base-url" not in result.output


def test_an_unknown_model_hint_names_each_commands_own_model_flag():
    """The server's "model does not exist" refusal: infer's hint says --model-name, the judge's
    (t2s eval/filter) --judge; each base-URL hint names that command's URL flag."""
    from text2sql_cli.llm_client.runner import _hint

    refusal = "HTTP 404: The model 'nope' does not exist"
    infer = InferSettings.from_flags(base_url="http://127.0.0.1:9/v1", model_name="nope").client()
    judge = EndpointSettings.from_flags(model="nope", base_url="http://127.0.0.1:9/v1").client()
    assert "check --model-name " in _hint(refusal, infer) and "check --judge " in _hint(refusal, judge)
    assert (infer.url_flag, judge.url_flag) == ("--base-url", "--judge-base-url")
