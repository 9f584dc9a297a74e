"""The teacher's requests and the strict parsing of its replies.

    requests_for(source, start, count, per_request, lang, examples) -> list[Request]
    parse_pairs(text) -> list[dict]          ParseError unless a JSON object with a "pairs" list

Request ids are `<db_id>/<round>/<index>`: deterministic, so the shared client's resume cache
(`<out>/teacher_cache.jsonl`, keyed by model, prompt and id) answers a rerun without paying again.
Each request leans on one group of SQL features (prompts.SYNTH_FOCUS, rotated), so a database's
requests together cover joins, grouping, ordering, dates and subqueries.
"""

from __future__ import annotations

import json
from typing import Any

from text2sql_cli.llm_client import ParseError, Request
from text2sql_cli.llm_client.reply import parse_json_reply

PARAMS = {"response_format": {"type": "json_object"}, "temperature": 0.9}
TOKENS_PER_PAIR = 90  # a question and its SQL, for --dry-run estimates only


def examples_block(examples: list[dict[str, str]]) -> str:
    from text2sql_cli.prompts import SYNTH_EXAMPLES_HEADER, SYNTH_NO_EXAMPLES

    if not examples:
        return SYNTH_NO_EXAMPLES
    shots = [
        json.dumps({"question": e["question"], "sql": e["answer"]}, ensure_ascii=False) for e in examples
    ]
    return SYNTH_EXAMPLES_HEADER + "\n" + "\n".join(shots)


def requests_for(
    db_id: str,
    ddl: str,
    *,
    round_no: int,
    count: int,
    per_request: int,
    lang: str,
    examples: list[dict[str, str]],
) -> list[Request]:
    """`count` requests for one database's `round_no`, each asking for `per_request` pairs."""
    from text2sql_cli.prompts import SYNTH_FOCUS, SYNTH_LANGUAGES, SYNTH_TEMPLATE

    shots = examples_block(examples)
    out = []
    for i in range(count):
        focus = SYNTH_FOCUS[(round_no * 7 + i) % len(SYNTH_FOCUS)]
        text = SYNTH_TEMPLATE.render(
            lang=SYNTH_LANGUAGES[lang], count=str(per_request), focus=focus, ddl=ddl, examples=shots
        )
        out.append(Request(f"{db_id}/{round_no}/{i}", [{"role": "user", "content": text}]))
    return out


def parse_pairs(text: str) -> list[dict[str, Any]]:
    """The reply's pairs, as given (each checked later). Malformed replies raise ParseError: the
    client asks again, then records the request `unparseable`."""
    obj = parse_json_reply(text)
    if not isinstance(obj, dict) or not isinstance(obj.get("pairs"), list):
        raise ParseError('not a JSON object with a "pairs" list')
    return [p if isinstance(p, dict) else {"invalid": p} for p in obj["pairs"]]
