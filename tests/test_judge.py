"""The LLM judge over the fake server: the book's prompt and request shape, strict parsing,
failures never counted as "no", custom prompts, resume and dry run."""

from __future__ import annotations

import json

import pytest

from text2sql_cli.errors import InputError
from text2sql_cli.evaluation.judge import (
    JudgeConfig,
    estimate_judge,
    parse_verdict,
    run_judge,
)
from text2sql_cli.llm_client import ParseError
from text2sql_cli.prompts import BOOK_JUDGE_PROMPT, JUDGE_TEMPLATE

pytestmark = pytest.mark.timeout(60)

DDL = "CREATE TABLE players (id INT PRIMARY KEY, name VARCHAR(20));"


def rows(n: int = 4) -> list[dict]:
    out = []
    for i in range(n):
        gold = f"SELECT name FROM players WHERE id = {i}"
        sql = gold if i % 2 == 0 else f"SELECT id FROM players WHERE id = {i}"
        out.append(
            {
                "id": i,
                "db_id": "1",
                "question": f"q{i}",
                "context": DDL,
                "gold": gold,
                "raw": sql + "\n\n### SQL 봇: ...",
                "sql": sql,
            }
        )
    return out


def judge_cfg(server, **kw) -> JudgeConfig:
    kw.setdefault("rpm", 60_000)
    kw.setdefault("llm_max_attempts", 3)
    return JudgeConfig.build("gpt-4-turbo-preview", base_url=server.url, **kw)


def test_default_request_is_the_books_prompt_as_one_system_message(fake_openai, tmp_path):
    row = rows(1)[0]
    run_judge([row], judge_cfg(fake_openai), tmp_path, progress=False)
    body = fake_openai.seen[0].body
    assert JUDGE_TEMPLATE.text == BOOK_JUDGE_PROMPT
    expected = JUDGE_TEMPLATE.render(context=DDL, question="q0", answer=row["gold"], gen_sql=row["sql"])
    assert body["messages"] == [{"role": "system", "content": expected}]
    assert body["response_format"] == {"type": "json_object"} and body["temperature"] == 0
    assert body["model"] == "gpt-4-turbo-preview"


def test_book_prompt_text_is_verbatim():
    assert BOOK_JUDGE_PROMPT.startswith(
        "Based on below DDL and Question, evaluate gen_sql can resolve Question."
    )
    assert (
        'Output JSON Format: {"resolve_yn": ""}\n\nDDL: {context}\nQuestion: {question}\n'
        in BOOK_JUDGE_PROMPT
    )
    assert BOOK_JUDGE_PROMPT.endswith("gt_sql: {answer}\ngen_sql: {gen_sql}")


def test_judge_sees_extracted_sql_by_default_and_raw_on_request(fake_openai, tmp_path):
    row = rows(1)[0]
    run_judge([row], judge_cfg(fake_openai), tmp_path / "a", progress=False)
    run_judge([row], judge_cfg(fake_openai, sees="raw"), tmp_path / "b", progress=False)
    sql_prompt, raw_prompt = (r.prompt for r in fake_openai.seen)
    assert "### SQL 봇" not in sql_prompt and "### SQL 봇" in raw_prompt


def test_verdicts_follow_input_order_and_score_the_judged_rows(fake_openai, tmp_path):
    report = run_judge(rows(6), judge_cfg(fake_openai), tmp_path, progress=False)
    assert [v.id for v in report.verdicts] == list(range(6))
    assert [v.verdict for v in report.verdicts] == ["yes", "no"] * 3
    assert report.summary["score"] == pytest.approx(0.5) and report.summary["judged"] == 6


@pytest.mark.parametrize(
    "reply",
    [
        '{"resolve_yn": "maybe"}',
        "yes",
        '{"answer": "yes"}',
        '["yes"]',
        '{"resolve_yn": true}',
        '{"resolve_yn": "ye',
        '```json\n{"resolve_yn": "yes"',
        "```json\nyes\n```",
        'Sure! ```json\n{"resolve_yn": "yes"}\n```',
    ],
)
def test_malformed_replies_are_never_yes_or_no(reply):
    with pytest.raises(ParseError):
        parse_verdict(reply)


@pytest.mark.parametrize(
    "reply",
    [
        '```json\n{"resolve_yn": "yes"}\n```',
        '```\n{"resolve_yn": "yes"}\n```',
        '```JSON {"resolve_yn": "yes"}```',
        '\n  {"resolve_yn": "yes"}  \n',
        '  ```json\n  {"resolve_yn": "yes"}\n  ```\n',
    ],
)
def test_a_fenced_or_padded_verdict_is_the_verdict(reply):
    assert parse_verdict(reply) == "yes"


def test_verdict_parsing_ignores_case_and_spaces():
    assert parse_verdict('{"resolve_yn": " Yes "}') == "yes"
    assert parse_verdict('{"resolve_yn": "NO"}') == "no"


def test_failed_rows_are_reported_apart_and_left_out_of_the_score(fake_openai, tmp_path):
    fake_openai.script("WHERE id = 0", ["bad_content"] * 5)  # row 0 would be a "yes"
    fake_openai.script("WHERE id = 1", ["500"] * 5)
    report = run_judge(rows(4), judge_cfg(fake_openai), tmp_path, progress=False)
    assert [v.verdict for v in report.verdicts] == ["unparseable", "error", "yes", "no"]
    s = report.summary
    assert (s["yes"], s["no"], s["unparseable"], s["error"], s["judged"]) == (1, 1, 1, 1, 2)
    assert s["score"] == pytest.approx(0.5) and "excluded" in s["score_note"]
    assert "HTTP 500" in report.verdicts[1].reason


def test_row_without_extracted_sql_is_no_without_asking(fake_openai, tmp_path):
    row = {**rows(1)[0], "sql": None}
    report = run_judge([row], judge_cfg(fake_openai), tmp_path, progress=False)
    assert report.verdicts[0].verdict == "no" and "no SQL" in report.verdicts[0].reason
    assert fake_openai.count() == 0


def test_rerun_sends_nothing_new(fake_openai, tmp_path):
    run_judge(rows(4), judge_cfg(fake_openai), tmp_path, progress=False)
    again = run_judge(rows(4), judge_cfg(fake_openai), tmp_path, progress=False)
    assert fake_openai.count() == 4 and all(v.cached for v in again.verdicts)
    assert [v.verdict for v in again.verdicts] == ["yes", "no", "yes", "no"]


def test_changed_prediction_is_judged_again(fake_openai, tmp_path):
    run_judge(rows(2), judge_cfg(fake_openai), tmp_path, progress=False)
    changed = rows(2)
    changed[1]["sql"] = changed[1]["gold"]
    report = run_judge(changed, judge_cfg(fake_openai), tmp_path, progress=False)
    assert fake_openai.count() == 3 and report.verdicts[1].verdict == "yes"


def test_custom_prompt_file_is_used(fake_openai, tmp_path):
    prompt = tmp_path / "judge.txt"
    prompt.write_text('Strict judge.\ngt_sql: {answer}\ngen_sql: {gen_sql}\nReply {"resolve_yn": "yes|no"}')
    run_judge(rows(1), judge_cfg(fake_openai, prompt_file=prompt), tmp_path, progress=False)
    assert fake_openai.seen[0].prompt.startswith("Strict judge.\ngt_sql: SELECT name")


def test_custom_prompt_with_unknown_placeholder_is_rejected(fake_openai, tmp_path):
    prompt = tmp_path / "judge.txt"
    prompt.write_text("{ddl} {gen_sql}")
    with pytest.raises(InputError, match=r"\{ddl\}") as err:
        judge_cfg(fake_openai, prompt_file=prompt)
    assert err.value.exit_code == 2


def test_missing_columns_are_reported_all_at_once(fake_openai, tmp_path):
    bad = [{"id": 1, "question": "q"}, {"id": 2}]
    with pytest.raises(InputError, match="row 1 lacks context, gold, sql; row 2 lacks question"):
        run_judge(bad, judge_cfg(fake_openai), tmp_path, progress=False)


def test_dry_run_estimates_without_sending(fake_openai, tmp_path):
    est = estimate_judge(rows(4), judge_cfg(fake_openai), tmp_path)
    assert fake_openai.count() == 0 and est.to_send == 4 and est.cost > 0


def test_judge_key_goes_to_judge_url_and_openai_key_does_not(fake_openai, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("T2S_JUDGE_API_KEY", "judge-secret")
    cfg = judge_cfg(fake_openai)
    report = run_judge(rows(1), cfg, tmp_path, progress=False)
    assert fake_openai.seen[0].authorization == "Bearer judge-secret"
    dumped = json.dumps(report.summary) + (tmp_path / "judge_cache.jsonl").read_text()
    assert "secret" not in dumped


def write_preds(path, n: int = 4) -> None:
    path.write_text("".join(json.dumps({**r, "id": str(r["id"])}) + "\n" for r in rows(n)))


def test_eval_cli_writes_judge_columns_and_agreement(fake_openai, tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(preds),
            "--out",
            str(tmp_path / "ev"),
            "--judge",
            "gpt-4",
            "--judge-base-url",
            fake_openai.url,
            "--rpm",
            "60000",
        ],
    )
    assert result.exit_code == 0, result.output
    results = [json.loads(line) for line in (tmp_path / "ev" / "results.jsonl").read_text().splitlines()]
    assert [r["judge_verdict"] for r in results] == ["yes", "no", "yes", "no"]
    assert [r["judge"] for r in results] == [True, False, True, False]
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["judge"]["score"] == 0.5 and "agreement" in summary
    assert "cohen_kappa" in summary["agreement"] and "Cohen's kappa" in result.output


def test_eval_cli_dry_run_sends_nothing(fake_openai, tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    result = CliRunner().invoke(
        app,
        [
            "eval",
            str(preds),
            "--out",
            str(tmp_path / "ev"),
            "--judge",
            "gpt-4",
            "--judge-base-url",
            fake_openai.url,
            "--dry-run",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "4 of 4 requests" in result.output and fake_openai.count() == 0
    assert not (tmp_path / "ev" / "results.jsonl").exists()


def test_eval_cli_judge_flags_need_judge(tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    result = CliRunner().invoke(app, ["eval", str(preds), "--max-cost", "1"])
    assert result.exit_code == 2 and "--judge MODEL" in result.output


def test_eval_cli_missing_openai_key_is_exit_2(tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    result = CliRunner().invoke(app, ["eval", str(preds), "--judge", "gpt-4"])
    assert result.exit_code == 2 and "OPENAI_API_KEY" in result.output


def test_eval_cli_dry_run_needs_no_key(tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    result = CliRunner().invoke(
        app, ["eval", str(preds), "--judge", "gpt-4", "--dry-run", "--out", str(tmp_path / "ev")]
    )
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output and not (tmp_path / "ev" / "judge_cache.jsonl").exists()


def test_eval_exits_1_when_judge_requests_ended_in_errors_and_the_rerun_retries_them(fake_openai, tmp_path):
    from typer.testing import CliRunner

    from text2sql_cli.cli import app

    preds = tmp_path / "preds.jsonl"
    write_preds(preds)
    fake_openai.script("WHERE id = 1", ["500"] * 20)
    args = ["eval", str(preds), "--out", str(tmp_path / "ev"), "--judge", "gpt-4"]
    args += ["--judge-base-url", fake_openai.url, "--rpm", "60000"]
    result = CliRunner().invoke(app, args)
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "1 of 4 judge requests ended in errors" in text and "rerun the same command" in text
    assert (tmp_path / "ev" / "results.jsonl").exists()  # what was judged is written
    fake_openai._scripts.clear()  # the server answers now
    sent = fake_openai.count()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert fake_openai.count() - sent == 1  # only the row that failed is sent again
