"""What the API backend sends (no server): a plain template as the exact training prompt to
/v1/completions with its stop markers, a chat template as one user turn to /v1/chat/completions;
judge requests cap their output."""

from __future__ import annotations

from types import SimpleNamespace

from text2sql_cli.inference.api import OpenAIBackend
from text2sql_cli.inference.backend import Item
from text2sql_cli.llm_client.verdict import VERDICT_PARAMS
from text2sql_cli.prompts import TEMPLATES


def _backend(name: str) -> OpenAIBackend:
    return OpenAIBackend(
        client=SimpleNamespace(model="m", base_url="http://127.0.0.1:1/v1"),
        template=TEMPLATES[name],
        max_new_tokens=64,
    )


ITEM = Item(key="r1", ddl="CREATE TABLE t (a INT);", question="How many?")


def test_plain_template_goes_to_completions_as_trained():
    backend = _backend("ko-sql-bot")
    key, text = backend.prepare(ITEM)
    request = backend.request(key, text)
    # exactly the training prompt: trailing newline after "### SQL:" kept, no chat wrapping
    assert request.prompt == TEMPLATES["ko-sql-bot"].render_prompt(ITEM.ddl, ITEM.question)
    assert request.prompt.endswith("### SQL:\n") and request.messages == []
    assert backend.params() == {"temperature": 0, "max_tokens": 64, "stop": ["###"]}
    assert backend.provenance()["endpoint"] == "/v1/completions"


def test_chat_template_goes_to_chat_completions():
    backend = _backend("chat")
    key, text = backend.prepare(ITEM)
    request = backend.request(key, text)
    assert request.prompt is None
    assert request.messages == [
        {"role": "user", "content": TEMPLATES["chat"].render_user(ITEM.ddl, ITEM.question)}
    ]
    assert "stop" not in backend.params()
    assert backend.provenance()["endpoint"] == "/v1/chat/completions"


def test_chat_and_completion_of_the_same_text_never_share_a_cache_entry():
    from text2sql_cli.llm_client import Request, prompt_hash

    chat = Request(id="1", messages=[{"role": "user", "content": "x"}])
    plain = Request(id="1", messages=[], prompt="x")
    assert prompt_hash("m", chat.keyed, {}) != prompt_hash("m", plain.keyed, {})


def test_judge_requests_set_max_tokens():
    assert VERDICT_PARAMS["max_tokens"] > 0
