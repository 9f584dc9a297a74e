"""Extraction over real-style messy model output (Korean and English; chat, base and reasoning models).

Each line of fixtures/messy_outputs.jsonl is one raw generation with the SQL a reader would take
from it (`null`: there is none). The stop marker is the default template's `###`.
"""

import json
from pathlib import Path

import pytest

from text2sql_cli.sql.extract import extract_sql

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "fixtures" / "messy_outputs.jsonl")
    .read_text(encoding="utf-8")
    .splitlines()
    if line.strip()
]


def test_fixture_covers_korean_english_chat_and_base_models():
    assert len(CASES) >= 60
    assert {c["lang"] for c in CASES} == {"ko", "en"}
    assert {"chat", "base", "reasoning"} <= {c["model"] for c in CASES}


@pytest.mark.parametrize("case", CASES, ids=[f"{c['id']}-{c['note']}" for c in CASES])
def test_messy_output_gives_the_intended_sql(case):
    assert extract_sql(case["raw"], stop=("###",)).sql == case["sql"]


SAMPLE = Path(__file__).parents[1] / "examples" / "sample.jsonl"
PROSE = (
    "\n이 쿼리는 결과를 반환합니다.",
    " This query returns the rows.",
    "\n\nExplanation: it does the job.",
)


def test_gold_queries_survive_the_prose_a_model_appends():
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[::3]  # 50 of the 150 keep the suite quick
    answers = [json.loads(line)["answer"].strip() for line in lines]
    wrong = []
    for answer in answers:
        want = answer.rstrip(";").strip()
        for raw in (answer, *(want + prose for prose in PROSE), f"```sql\n{answer}\n```", "SQL: " + want):
            if extract_sql(raw, stop=("###",)).sql != want:
                wrong.append(raw)
    assert wrong == []
