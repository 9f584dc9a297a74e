"""The LLM check of `t2s filter` against the local fake server: yes kept, no dropped, malformed
and failing verdicts held (never dropped, never "yes"), resume sends only what is missing, dry
run and cost cap."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.filtering.llm import CACHE_FILE, parse_filter_verdict
from text2sql_cli.llm_client import ParseError
from text2sql_cli.prompts import FILTER_PROMPT, FILTER_TEMPLATE

pytestmark = pytest.mark.timeout(60)
runner = CliRunner()
DDL = "CREATE TABLE players (player_id INT PRIMARY KEY, username VARCHAR(50), level INT);"


def answer(prompt: str) -> str:
    """The fake LLM: the question's tag decides the reply."""
    if "[no]" in prompt:
        return json.dumps({"verdict": "no", "reason": "it filters on the wrong column"})
    if "[bad]" in prompt:
        return "yes, looks fine"
    if "[maybe]" in prompt:
        return json.dumps({"verdict": "maybe"})
    return json.dumps({"verdict": "yes", "reason": "answers the question"})


def rows(*tags: str) -> list[dict]:
    return [
        {
            "id": f"r{i}",
            "db_id": 1,
            "context": DDL,
            "question": f"질문 {i} [{tag}]",
            "answer": f"SELECT username FROM players WHERE level > {i}",
        }
        for i, tag in enumerate(tags)
    ]


@pytest.fixture
def llm(fake_openai, monkeypatch):
    fake_openai.answer = answer
    monkeypatch.setenv("T2S_LLM_MAX_ATTEMPTS", "2")
    return fake_openai


def write(tmp_path, data):
    (tmp_path / "rows.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data), encoding="utf-8"
    )


def read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def run(server, *extra):
    args = [
        "filter",
        "rows.jsonl",
        "--out",
        "out",
        "--judge",
        "gpt-4o-mini",
        "--judge-base-url",
        server.url,
        "--rpm",
        "60000",
        *map(str, extra),
    ]
    return runner.invoke(app, args)


def test_yes_is_kept_and_no_is_dropped_with_the_llms_reason(llm, tmp_path):
    write(tmp_path, rows("yes", "no", "yes"))
    result = run(llm)
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read(tmp_path / "out/kept.jsonl")] == ["r0", "r2"]
    (dropped,) = read(tmp_path / "out/dropped.jsonl")
    assert dropped["reason"] == "llm_rejected" and dropped["detail"] == "it filters on the wrong column"


def test_malformed_and_failed_verdicts_are_held_not_dropped_nor_kept(llm, tmp_path):
    llm.script("[err]", ["500"] * 10)
    write(tmp_path, rows("yes", "bad", "maybe", "err"))
    result = run(llm)
    # results are written, but a request that ended in an error makes the run exit 1 (issue 19)
    assert result.exit_code == 1, result.output
    assert "1 of 4 LLM filter requests ended in errors" in " ".join(result.output.split())
    assert "rerun the same command: it retries them" in " ".join(result.output.split())
    assert [r["id"] for r in read(tmp_path / "out/kept.jsonl")] == ["r0"]
    assert read(tmp_path / "out/dropped.jsonl") == []
    held = {h["id"]: h for h in read(tmp_path / "out/held.jsonl")}
    assert {k: h["status"] for k, h in held.items()} == {
        "r1": "llm_unparseable",
        "r2": "llm_unparseable",
        "r3": "llm_error",
    }
    assert not any(h["kept"] for h in held.values())
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["llm_unverified"] == {"error": 1, "unparseable": 2}
    assert (summary["kept"], summary["dropped"], summary["held"]) == (1, 0, 3)
    assert "could not judge 3 rows" in " ".join(result.output.split())


def test_keep_policy_keeps_unverified_rows_and_still_lists_them(llm, tmp_path):
    write(tmp_path, rows("yes", "bad"))
    run(llm, "--on-llm-failure", "keep")
    assert [r["id"] for r in read(tmp_path / "out/kept.jsonl")] == ["r0", "r1"]
    assert [(h["id"], h["kept"]) for h in read(tmp_path / "out/held.jsonl")] == [("r1", True)]
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["llm_unverified"] == {"unparseable": 1} and summary["held"] == 0


def test_rows_dropped_by_rules_are_not_sent(llm, tmp_path):
    data = rows("yes", "yes")
    data[1]["answer"] = "SELECT nickname FROM players"
    write(tmp_path, data)
    run(llm)
    assert llm.count() == 1 and "질문 0" in llm.seen[0].prompt


def test_request_is_the_filter_prompt_as_one_user_message_asking_for_json(llm, tmp_path):
    data = rows("yes")
    write(tmp_path, data)
    run(llm)
    body = llm.seen[0].body
    assert FILTER_TEMPLATE.text == FILTER_PROMPT
    expected = FILTER_TEMPLATE.render(context=DDL, question=data[0]["question"], answer=data[0]["answer"])
    assert body["messages"] == [{"role": "user", "content": expected}]
    assert body["response_format"] == {"type": "json_object"} and body["temperature"] == 0


def test_rerun_sends_only_what_is_missing(llm, tmp_path):
    llm.script("[err]", ["500", "500"])  # fails both attempts of the first run, then answers
    write(tmp_path, rows("yes", "no", "err"))
    run(llm)
    first = llm.count()
    assert (tmp_path / "out" / CACHE_FILE).exists()
    write(tmp_path, rows("yes", "no", "err", "yes"))  # one new row, one row that errored
    result = run(llm)
    assert result.exit_code == 0, result.output
    resent = [r.prompt for r in llm.seen[first:]]
    assert len(resent) == 2 and any("[err]" in p for p in resent) and any("질문 3" in p for p in resent)
    assert [r["id"] for r in read(tmp_path / "out/kept.jsonl")] == ["r0", "r2", "r3"]
    assert read(tmp_path / "out/held.jsonl") == []


def test_dry_run_sends_and_writes_nothing(llm, tmp_path):
    write(tmp_path, rows("yes", "no"))
    result = run(llm, "--dry-run")
    assert result.exit_code == 0, result.output
    assert llm.count() == 0 and not (tmp_path / "out").exists()
    text = " ".join(result.output.split())
    assert "2 of 2 requests to send" in text and "cost about $" in text


def test_max_cost_stops_cleanly_and_holds_the_rest(llm, tmp_path):
    write(tmp_path, rows(*["yes"] * 6))
    result = run(llm, "--max-cost", "0.0003", "--tpm", "100000000")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out/summary.json").read_text())
    assert summary["llm"]["stopped"] and summary["llm_unverified"].get("skipped", 0) >= 1
    assert summary["dropped"] == 0 and summary["kept"] + summary["held"] == 6
    assert llm.count() == summary["kept"]


def test_custom_prompt_file_replaces_the_prompt(llm, tmp_path):
    (tmp_path / "p.txt").write_text(
        'Q: {question}\nSQL: {answer}\nJSON {"resolve_yn": "yes"|"no"}', encoding="utf-8"
    )
    write(tmp_path, rows("yes"))
    assert run(llm, "--judge-prompt", "p.txt").exit_code == 0
    assert llm.seen[0].prompt.startswith("Q: 질문 0 [yes]\nSQL: SELECT")


def test_bad_prompt_file_is_exit_2(llm, tmp_path):
    (tmp_path / "p.txt").write_text("Q: {question} {gen_sql}", encoding="utf-8")
    write(tmp_path, rows("yes"))
    result = run(llm, "--judge-prompt", "p.txt")
    assert result.exit_code == 2 and "gen_sql" in result.output and llm.count() == 0


def test_unreachable_endpoint_is_exit_1_and_writes_no_outputs(tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("T2S_LLM_MAX_ATTEMPTS", "1")
    write(tmp_path, rows("yes", "no", "yes"))
    result = runner.invoke(
        app,
        [
            "filter",
            "rows.jsonl",
            "--out",
            "out",
            "--judge",
            "gpt-4o-mini",
            "--judge-base-url",
            f"http://127.0.0.1:{port}/v1",
        ],
    )
    assert result.exit_code == 1, result.output
    assert f"cannot reach http://127.0.0.1:{port}/v1: connection refused" in result.output
    assert "check --judge-base-url and that the server" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    for name in ("kept.jsonl", "dropped.jsonl", "held.jsonl", "summary.json"):
        assert not (tmp_path / "out" / name).exists()


def test_parse_is_strict():
    assert parse_filter_verdict('{"verdict": " YES ", "reason": "ok"}') == {"verdict": "yes", "reason": "ok"}
    assert parse_filter_verdict('{"resolve_yn": "no"}') == {"verdict": "no", "reason": None}
    for text in ("yes", '{"verdict": "maybe"}', '["yes"]', '{"answer": "yes"}', '{"verdict": true}'):
        with pytest.raises(ParseError):
            parse_filter_verdict(text)
