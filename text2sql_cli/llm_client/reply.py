"""Strict reading of a model's JSON reply, shared by every parser of LLM output (the verdicts of
the judge and the filter, the synth teacher's pairs).

    parse_json_reply(text) -> Any          ParseError unless the reply is JSON

Surrounding whitespace and one markdown code fence around the whole reply (```json ... ``` or
``` ... ```, as chat models write when the JSON response format is not enforced) are not part of
it; anything else that is not JSON (a bare `yes`, truncated JSON) is malformed. What the JSON must
hold is the caller's check.
"""

from __future__ import annotations

import json
import re
from typing import Any

from text2sql_cli.llm_client.datatypes import ParseError

_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)\n?[ \t]*```", re.S | re.I)


def parse_json_reply(text: Any) -> Any:
    if not isinstance(text, str):
        raise ParseError(f"the reply is {type(text).__name__}, not text")
    text = text.strip()
    fenced = _FENCE.fullmatch(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ParseError(f"not JSON ({err.msg})") from None
