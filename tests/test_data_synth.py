"""`t2s data synth` against the local fake OpenAI server: canned teacher replies with valid pairs,
invalid ones (unknown names, parse errors, constant results, not a query), duplicates and
malformed JSON; every dropped pair keeps its reason; reruns resume from the cache without paying
again; dry run sends nothing; bad input is one line and exit 2."""

from __future__ import annotations

import json
import sqlite3

import pytest
from _servers import server_url  # reads the server URLs at import, before the env is cleared
from typer.testing import CliRunner

from text2sql_cli.cli import app
from text2sql_cli.llm_client import ParseError
from text2sql_cli.prompts import SYNTH_FOCUS, SYNTH_PROMPT, SYNTH_TEMPLATE
from text2sql_cli.synth.checks import question_key
from text2sql_cli.synth.generate import parse_pairs

pytestmark = pytest.mark.timeout(120)
runner = CliRunner()

SHOP = """CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(50), city VARCHAR(30), joined DATE);
CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT REFERENCES customers(id), amount INT,
  ordered_at DATE);
"""
LIBRARY = "CREATE TABLE books (book_id INT PRIMARY KEY, title VARCHAR(100), year INT);"

GOOD = [
    {"question": "서울에 사는 고객의 이름은?", "sql": "SELECT name FROM customers WHERE city = '서울'"},
    {
        "question": "고객별 총 주문 금액은?",
        "sql": "SELECT c.name, SUM(o.amount) FROM customers AS c JOIN orders AS o ON o.customer_id = c.id "
        "GROUP BY c.name",
    },
    {"question": "주문은 모두 몇 건인가?", "sql": "SELECT COUNT(*) FROM orders"},
]
BAD = [
    ({"question": "고객 이메일 목록", "sql": "SELECT email FROM customers"}, "unknown_column"),
    ({"question": "상품 목록", "sql": "SELECT * FROM products"}, "unknown_table"),
    ({"question": "깨진 쿼리", "sql": "SELEC name FROM"}, "parse_error"),
    ({"question": "숫자 1", "sql": "SELECT 1"}, "constant_result"),
    ({"question": "주문 삭제", "sql": "DELETE FROM orders"}, "parse_error"),
    ({"question": "SQL이 없는 질문"}, "missing_field"),
    ("just a string", "missing_field"),
    # the same SQL as GOOD[0] up to case, spacing and quoting; then GOOD[2]'s question re-punctuated
    ({"question": "서울 고객 이름", "sql": "select NAME from Customers where city='서울';"}, "duplicate"),
    ({"question": "주문은 모두 몇 건인가??", "sql": "SELECT COUNT(id) FROM orders"}, "duplicate"),
]
BOOKS = [
    {"question": "2000년 이후 출간된 책 제목은?", "sql": "SELECT title FROM books WHERE year > 2000"},
    {"question": "가장 최근 책은?", "sql": "SELECT title FROM books ORDER BY year DESC LIMIT 1"},
]
MALFORMED_FOCUS = SYNTH_FOCUS[1]  # the second request of a round leans on joins: it answers badly


def teacher(prompt: str) -> str:
    if "You are reviewing" in prompt:  # the judge (filtering's LLM check)
        verdict = "no" if "COUNT(*)" in prompt else "yes"
        return json.dumps({"verdict": verdict, "reason": "counts rows, not what was asked"})
    if MALFORMED_FOCUS in prompt:
        return '{"pairs": [{"question": "잘린 답'  # truncated JSON
    if "books" in prompt:
        return json.dumps({"pairs": BOOKS}, ensure_ascii=False)
    return "```json\n" + json.dumps({"pairs": GOOD + [b for b, _ in BAD]}, ensure_ascii=False) + "\n```"


@pytest.fixture
def server(fake_openai, monkeypatch):
    fake_openai.answer = teacher
    monkeypatch.setenv("T2S_LLM_MAX_ATTEMPTS", "2")
    return fake_openai


@pytest.fixture
def ddl_dir(tmp_path):
    d = tmp_path / "schemas"
    d.mkdir()
    (d / "shop.sql").write_text(SHOP, encoding="utf-8")
    (d / "library.sql").write_text(LIBRARY, encoding="utf-8")
    return d


def synth(server, out, *extra):
    args = ["data", "synth", "--out", str(out), "--teacher", "gpt-4o-mini", "--teacher-base-url", server.url]
    return runner.invoke(app, [*args, "--rpm", "60000", *map(str, extra)])


def read(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_pairs_are_checked_deduplicated_and_written_as_t2s_rows(server, ddl_dir, tmp_path):
    out = tmp_path / "out"
    result = synth(server, out, "--ddl", ddl_dir / "shop.sql", "--n", 10, "--per-request", 5, "--rounds", 1)
    assert result.exit_code == 0, result.output
    rows = read(out / "synth.jsonl")
    assert [r["answer"] for r in rows] == [p["sql"] for p in GOOD]
    assert all(set(r) == {"id", "db_id", "context", "question", "answer"} for r in rows)
    assert {r["db_id"] for r in rows} == {"shop"} and rows[0]["context"] == SHOP.strip()
    assert len({r["id"] for r in rows}) == 3
    dropped = read(out / "dropped.jsonl")
    assert [(d["question"], d["reason"]) for d in dropped] == [
        (b.get("question", "") if isinstance(b, dict) else "", reason) for b, reason in BAD
    ]
    assert all(d["detail"] for d in dropped)
    assert "same SQL as synth-shop-0-0-0" in dropped[7]["detail"]
    assert "same question as synth-shop-0-0-2" in dropped[8]["detail"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kept"] == 3 and summary["dropped"] == len(BAD)
    assert summary["by_reason"]["duplicate"] == 2 and summary["by_reason"]["parse_error"] == 2
    # request 0 answered; request 1 (joins) answered malformed JSON each time: no pairs
    assert summary["teacher_requests"]["unanswered"] == {"unparseable": 1}
    assert server.count(MALFORMED_FOCUS) == 2  # asked again once (T2S_LLM_MAX_ATTEMPTS=2)
    assert summary["by_db"]["shop"] == {
        "source": str(ddl_dir / "shop.sql"),
        "requests": 2,
        "kept": 3,
        "short_of_n": 7,
        "dropped": dict(summary["by_db"]["shop"]["dropped"]),
    }
    assert summary["teacher"]["model"] == "gpt-4o-mini" and summary["teacher_requests"]["cost_usd_total"] > 0


def test_two_rounds_ask_for_the_shortfall_and_each_file_is_a_db_id(server, ddl_dir, tmp_path):
    out = tmp_path / "out"
    result = synth(server, out, "--ddl", ddl_dir, "--n", 4, "--per-request", 4, "--rounds", 3, "--lang", "en")
    assert result.exit_code == 0, result.output
    rows = read(out / "synth.jsonl")
    assert sorted({r["db_id"] for r in rows}) == ["library", "shop"]
    summary = json.loads((out / "summary.json").read_text())
    # round 1: one request each; both short (2 and 3 kept of 4), so round 2 asks ceil(short*1.5/4)
    # = 1 more each, which leans on joins (malformed), so round 3 asks again: the same pairs again
    assert summary["by_db"]["library"]["requests"] == 3 and summary["by_db"]["shop"]["requests"] == 3
    assert summary["teacher_requests"]["unanswered"] == {"unparseable": 2}
    assert summary["by_db"]["library"]["kept"] == 2
    assert summary["by_db"]["library"]["dropped"] == {"duplicate": 2}
    prompts = {s.prompt for s in server.seen if "books" in s.prompt}
    assert all("English" in p for p in prompts) and len(prompts) == 3


def test_rerun_resumes_from_the_cache_without_paying_again(server, ddl_dir, tmp_path):
    out = tmp_path / "out"
    args = ("--ddl", ddl_dir, "--n", 3, "--per-request", 3, "--rounds", 2)
    assert synth(server, out, *args).exit_code == 0
    sent = server.count()
    first = (out / "synth.jsonl").read_text()
    result = synth(server, out, *args)
    assert result.exit_code == 0, result.output
    assert server.count() == sent  # everything answered from teacher_cache.jsonl
    assert (out / "synth.jsonl").read_text() == first
    summary = json.loads((out / "summary.json").read_text())
    assert summary["teacher_requests"]["http_requests_sent"] == 0
    assert (
        summary["teacher_requests"]["cost_usd_this_run"] == 0 < summary["teacher_requests"]["cost_usd_total"]
    )
    assert (out / "teacher_cache.jsonl").is_file()


def test_dry_run_estimates_and_sends_and_writes_nothing(server, ddl_dir, tmp_path):
    out = tmp_path / "out"
    result = synth(server, out, "--ddl", ddl_dir, "--n", 50, "--dry-run")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Dry run" in text and "10 of 10 requests to send" in text and "cost about $" in text
    assert server.count() == 0 and not out.exists()


def test_the_judge_drops_what_it_rejects(server, ddl_dir, tmp_path):
    out = tmp_path / "out"
    result = synth(
        server,
        out,
        "--ddl",
        ddl_dir / "shop.sql",
        "--n",
        5,
        "--per-request",
        5,
        "--rounds",
        1,
        "--judge",
        "gpt-4o-mini",
        "--judge-base-url",
        server.url,
    )
    assert result.exit_code == 0, result.output
    assert [r["answer"] for r in read(out / "synth.jsonl")] == [GOOD[0]["sql"], GOOD[1]["sql"]]
    rejected = [d for d in read(out / "dropped.jsonl") if d["reason"] == "llm_rejected"]
    assert [d["answer"] for d in rejected] == [GOOD[2]["sql"]] and rejected[0]["detail"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["judge"]["counts"] == {"yes": 2, "no": 1} and summary["held"] == 0


def test_a_sqlite_database_gives_the_schema_and_its_rows_check_the_sql(server, tmp_path):
    db = tmp_path / "library.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE books (book_id INT PRIMARY KEY, title VARCHAR(100), year INT)")
    conn.executemany("INSERT INTO books VALUES (?, ?, ?)", [(1, "A", 1990), (2, "B", 1995)])
    conn.commit()
    conn.close()
    out = tmp_path / "out"
    result = synth(server, out, "--db", db, "--n", 2, "--per-request", 2, "--rounds", 1)
    assert result.exit_code == 0, result.output
    (row,) = read(out / "synth.jsonl")
    assert row["db_id"] == "library" and row["context"].startswith("CREATE TABLE books")
    (dropped,) = read(out / "dropped.jsonl")  # no book after 2000 in the real rows
    assert dropped["answer"] == BOOKS[0]["sql"] and dropped["reason"] == "empty_result"


def test_seed_data_rows_become_few_shot_examples(server, ddl_dir, tmp_path):
    seed = tmp_path / "seed.jsonl"
    mine = {
        "db_id": "shop",
        "context": SHOP,
        "question": "내 질문 예시",
        "answer": "SELECT city FROM customers",
    }
    seed.write_text(json.dumps(mine, ensure_ascii=False) + "\n", encoding="utf-8")
    result = synth(
        server, tmp_path / "out", "--ddl", ddl_dir / "shop.sql", "--n", 1, "--rounds", 1, "--seed-data", seed
    )
    assert result.exit_code == 0, result.output
    assert "내 질문 예시" in server.seen[0].prompt and "SELECT city FROM customers" in server.seen[0].prompt


def test_the_request_is_the_synth_prompt_asking_for_json():
    text = SYNTH_TEMPLATE.render(lang="Korean", count="10", focus=SYNTH_FOCUS[0], ddl=LIBRARY, examples="")
    assert SYNTH_TEMPLATE.problems() == "" and SYNTH_TEMPLATE.text == SYNTH_PROMPT
    assert LIBRARY in text and '{"pairs": [' in text and "joins" not in SYNTH_FOCUS[0]


@pytest.mark.parametrize(
    "reply",
    ["not json", "[]", '{"pairs": "x"}', '{"questions": []}', '{"pairs": [{"question": "q"'],
)
def test_malformed_replies_are_parse_errors(reply):
    with pytest.raises(ParseError):
        parse_pairs(reply)


def test_question_key_ignores_case_spacing_and_punctuation():
    assert question_key("  How many Orders?? ") == question_key("how many orders")
    assert question_key("주문은 몇 건?") != question_key("고객은 몇 명?")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--ddl", "missing.sql"], "missing.sql: not found"),
        ([], "give the schema one way"),
        (["--ddl", "{empty}"], "no CREATE TABLE statement"),
        (["--ddl", "{shop}", "--db", "{shop}"], "give the schema one way"),
        (["--ddl", "{shop}", "--lang", "fr"], "--lang 'fr' is not ko or en"),
        (["--ddl", "{shop}", "--n", "0"], "--n must be at least 1"),
        (["--ddl", "{shop}", "--judge-base-url", "http://x"], "only apply to the LLM check"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(ddl_dir, tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.sql").write_text("-- nothing here\nSELECT 1;\n", encoding="utf-8")
    args = [a.format(empty=tmp_path / "empty.sql", shop=ddl_dir / "shop.sql") for a in args]
    base = [
        "data",
        "synth",
        "--out",
        str(tmp_path / "out"),
        "--teacher",
        "m",
        "--teacher-base-url",
        "http://127.0.0.1:9",
    ]
    result = runner.invoke(app, [*base, *args])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) <= 2 and expected in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_failed_teacher_requests_write_what_came_and_exit_1(server, ddl_dir, tmp_path):
    server.script(SYNTH_FOCUS[0], ["500"] * 10)
    out = tmp_path / "out"
    result = synth(server, out, "--ddl", ddl_dir / "shop.sql", "--n", 10, "--per-request", 5, "--rounds", 1)
    assert result.exit_code == 1, result.output
    text = " ".join(result.output.split())
    assert "1 of 2 teacher requests ended in errors" in text and "rerun the same command" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["teacher_requests"]["unanswered"] == {"error": 1, "unparseable": 1}
    assert read(out / "synth.jsonl") == []


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
def test_a_server_database_gives_the_schema_and_its_rows_check_the_sql(server, tmp_path, engine):
    import os

    import sqlalchemy as sa

    base = server_url(engine)
    name = f"t2s_synth_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    try:
        db = sa.create_engine(url)
        with db.begin() as conn:
            conn.execute(
                sa.text("CREATE TABLE books (book_id INT PRIMARY KEY, title VARCHAR(100), year INT)")
            )
            conn.execute(sa.text("INSERT INTO books VALUES (1, 'A', 1990), (2, 'B', 1995)"))
        db.dispose()
        out = tmp_path / "out"
        result = synth(server, out, "--db-url", url, "--n", 2, "--per-request", 2, "--rounds", 1)
        assert result.exit_code == 0, result.output
        (row,) = read(out / "synth.jsonl")
        assert row["db_id"] == name and "CREATE TABLE books" in row["context"]
        assert "ENGINE" not in row["context"] and row["answer"] == BOOKS[1]["sql"]
        (dropped,) = read(out / "dropped.jsonl")  # no book after 2000 on the server
        assert dropped["reason"] == "empty_result" and dropped["detail"] == "no rows on the real database"
    finally:
        from text2sql_cli.sql.engines import _servers

        for key in [k for k in _servers if name in k[2]]:
            _servers.pop(key).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def test_an_unreachable_server_is_one_line_and_exit_2(tmp_path):
    result = runner.invoke(
        app,
        [
            "data",
            "synth",
            "--out",
            str(tmp_path / "out"),
            "--teacher",
            "m",
            "--teacher-base-url",
            "http://127.0.0.1:9",
            "--db-url",
            "postgresql://nobody:secret@127.0.0.1:9/shop",
        ],
    )
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert (
        "cannot read the schema at postgresql://nobody:***@127.0.0.1:9/shop" in text and "secret" not in text
    )


def test_a_rerun_sends_only_the_requests_that_failed(server, ddl_dir, tmp_path):
    server.script(SYNTH_FOCUS[0], ["500", "500"])  # fails both attempts of the first run only
    out = tmp_path / "out"
    args = ("--ddl", ddl_dir / "shop.sql", "--n", 10, "--per-request", 5, "--rounds", 1)
    assert synth(server, out, *args).exit_code == 1
    assert read(out / "synth.jsonl") == []
    before = server.count()
    result = synth(server, out, *args)
    assert result.exit_code == 0, result.output
    # one request sent again; the unparseable one is answered from the cache, not paid again
    assert server.count() - before == 1 and SYNTH_FOCUS[0] in server.seen[-1].prompt
    assert [r["answer"] for r in read(out / "synth.jsonl")] == [p["sql"] for p in GOOD]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["teacher_requests"]["unanswered"] == {"unparseable": 1}
    assert summary["produced_by"].startswith("t2s data synth (t2s ")


def test_pairs_the_judge_cannot_rule_on_are_held_not_kept_nor_dropped(server, ddl_dir, tmp_path):
    def answer(prompt: str) -> str:
        if "You are reviewing" in prompt and "COUNT(*)" in prompt:
            return "yes, probably"  # never a valid verdict
        return teacher(prompt)

    server.answer = answer
    out = tmp_path / "out"
    args = ("--ddl", ddl_dir / "shop.sql", "--n", 5, "--per-request", 5, "--rounds", 1)
    result = synth(server, out, *args, "--judge", "gpt-4o-mini", "--judge-base-url", server.url)
    assert result.exit_code == 0, result.output
    assert [r["answer"] for r in read(out / "synth.jsonl")] == [GOOD[0]["sql"], GOOD[1]["sql"]]
    (held,) = read(out / "held.jsonl")
    assert held["answer"] == GOOD[2]["sql"] and held["llm_status"] == "unparseable"
    assert not [d for d in read(out / "dropped.jsonl") if d["reason"] == "llm_rejected"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["held"] == 1 and summary["judge"]["counts"] == {"yes": 2, "unparseable": 1}


def test_pairs_past_n_are_listed_as_surplus_not_counted_as_dropped(server, ddl_dir, tmp_path):
    out = tmp_path / "out"
    result = synth(server, out, "--ddl", ddl_dir / "shop.sql", "--n", 2, "--per-request", 5, "--rounds", 1)
    assert result.exit_code == 0, result.output
    assert [r["answer"] for r in read(out / "synth.jsonl")] == [GOOD[0]["sql"], GOOD[1]["sql"]]
    (surplus,) = [d for d in read(out / "dropped.jsonl") if d["reason"] == "surplus"]
    assert surplus["answer"] == GOOD[2]["sql"] and "_meta" not in surplus and surplus["request"] == "shop/0/0"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["surplus"] == 1 and "surplus" not in summary["by_reason"]
    assert summary["kept"] == 2 and summary["by_db"]["shop"]["short_of_n"] == 0


def test_no_key_for_openai_names_the_teacher_flags(ddl_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    args = ["data", "synth", "--out", "out", "--teacher", "gpt-4o-mini", "--ddl", str(ddl_dir / "shop.sql")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "no OpenAI API key for --teacher" in text and "--teacher-base-url" in text
    assert runner.invoke(app, [*args, "--dry-run"]).exit_code == 0  # a dry run sends nothing: no key needed
