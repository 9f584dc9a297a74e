import json

import pytest

from text2sql_cli.errors import InputError, UsageError
from text2sql_cli.prompts import (
    TEMPLATE_FILE,
    TEMPLATES,
    PromptTemplate,
    encode,
    get_template,
    load_template,
    save_template,
)

BOOK_PROMPT = (
    "당신은 SQL을 생성하는 SQL 봇입니다. DDL의 테이블을 활용한 Question을 해결할 수 있는 SQL 쿼리를 생성하세요.\n"  # noqa: E501 (the book's text)
    "\n### DDL:\nCREATE TABLE t (a INT);\n"
    "\n### Question:\n몇 개야?\n"
    "\n### SQL:\n"
)


def test_default_template_reproduces_book_make_prompt():
    assert TEMPLATES["ko-sql-bot"].render_prompt("CREATE TABLE t (a INT);", "몇 개야?") == BOOK_PROMPT


def test_training_text_is_prompt_plus_sql_plus_eos():
    t = TEMPLATES["ko-sql-bot"]
    sql = "SELECT COUNT(*) FROM t;"
    assert t.render_training("CREATE TABLE t (a INT);", "몇 개야?", sql, "</s>") == BOOK_PROMPT + sql + "</s>"


def test_braces_and_placeholder_text_in_inputs_stay_verbatim():
    t = TEMPLATES["ko-sql-bot"]
    ddl = "CREATE TABLE t (j TEXT DEFAULT '{}');"
    question = "{query} 라는 글자가 든 질문"
    prompt = t.render_prompt(ddl, question)
    assert ddl in prompt and question in prompt and prompt.endswith("### SQL:\n")


def test_template_without_query_last_is_rejected():
    with pytest.raises(UsageError, match="end with"):
        PromptTemplate("bad", "{query} {ddl} {question} tail")


def test_template_missing_placeholder_is_rejected():
    with pytest.raises(UsageError, match=r"\{question\}"):
        PromptTemplate("bad", "{ddl} {query}")


def test_saved_template_round_trips(tmp_path):
    custom = PromptTemplate("mine", "Schema:\n{ddl}\nQ: {question}\nA: {query}", stop=("Q:",))
    save_template(tmp_path, custom)
    assert json.loads((tmp_path / TEMPLATE_FILE).read_text())["name"] == "mine"
    assert load_template(tmp_path) == custom


def test_model_dir_without_template_gives_none(tmp_path):
    assert load_template(tmp_path) is None


def test_plain_text_template_file_is_accepted(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("{ddl}\n{question}\n{query}", encoding="utf-8")
    assert get_template(path).render_prompt("D", "Q") == "D\nQ\n"


def test_bad_template_file_names_the_file(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("{ddl} only", encoding="utf-8")
    with pytest.raises(InputError, match="bad.txt"):
        get_template(path)


def test_unknown_template_lists_the_known_ones():
    with pytest.raises(UsageError, match="ko-sql-bot"):
        get_template("no-such-template")


class _CharTokenizer:
    """Stands in for a HF tokenizer: one id per character, BOS=1, EOS=2."""

    eos_token_id = 2
    chat_template = None

    def __call__(self, text, add_special_tokens=True):
        ids = [ord(c) + 10 for c in text]
        return {"input_ids": ([1] if add_special_tokens else []) + ids}


def test_encode_keeps_prompt_ids_identical_for_training_and_inference():
    t = TEMPLATES["ko-sql-bot"]
    tok = _CharTokenizer()
    infer_ids, none = encode(t, tok, "DDL", "Q")
    train_prompt, completion = encode(t, tok, "DDL", "Q", "SELECT 1;")
    assert none == [] and infer_ids == train_prompt
    assert completion == [ord(c) + 10 for c in "SELECT 1;"] + [2]


def test_chat_template_needs_a_tokenizer_with_one():
    with pytest.raises(UsageError, match="chat template"):
        TEMPLATES["chat"].render_prompt("D", "Q", _CharTokenizer())


def test_template_file_typo_names_the_unknown_placeholder(tmp_path):
    path = tmp_path / "typo.txt"
    path.write_text("{ddl}\n{questoin}\n{query}", encoding="utf-8")
    with pytest.raises(InputError, match=r"missing placeholder\(s\) \{question\} \(unknown: \{questoin\}\)"):
        get_template(path)


def test_template_file_stop_marker_follows_its_sections(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("{ddl}\nQ: {question}\nA: {query}", encoding="utf-8")
    hashed = tmp_path / "hashed.txt"
    hashed.write_text("### DDL\n{ddl}\n### Q\n{question}\n### SQL\n{query}", encoding="utf-8")
    assert get_template(plain).stop == () and get_template(hashed).stop == ("###",)
