"""THE prompt templates. Training and inference both render through this module; a second copy of
prompt text anywhere else is a bug (train/infer prompt drift is the most common failure in this
field).

A SQL-generation template is a text with `{ddl}`, `{question}` and `{query}` placeholders, `{query}`
last: the inference prompt is the text with `{query}` empty, and the training text is exactly
`prompt + sql + eos` (tests/test_prompts.py holds that invariant). Chat templates wrap the same
user message in the tokenizer's chat template.

The template used to train a model is saved next to it (`t2s_template.json`) and read back by
`t2s infer`, so a model always generates with the prompt it was trained on.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from text2sql_cli.errors import InputError, UsageError

TEMPLATE_FILE = "t2s_template.json"
DEFAULT_TEMPLATE = "ko-sql-bot"
_PLACEHOLDER = re.compile(r"\{(ddl|question|query)\}")

# The book's make_prompt, character for character (BOOK.md, "SQL generation prompt").
KO_SQL_BOT = """당신은 SQL을 생성하는 SQL 봇입니다. DDL의 테이블을 활용한 Question을 해결할 수 있는 SQL 쿼리를 생성하세요.

### DDL:
{ddl}

### Question:
{question}

### SQL:
{query}"""  # noqa: E501 (prompt text kept verbatim)

EN_SQL_BOT = """You are a SQL bot. Write one SQL query over the tables in the DDL that answers the Question.

### DDL:
{ddl}

### Question:
{question}

### SQL:
{query}"""


@dataclass(frozen=True)
class PromptTemplate:
    """A SQL-generation prompt.

    `stop` lists markers after which a generation is no longer SQL (the base model's next
    `### ...` section). `chat=True` renders `text` (with `{query}` empty) as the user turn of the
    tokenizer's chat template and the SQL as the assistant turn.
    """

    name: str
    text: str
    stop: tuple[str, ...] = ("###",)
    chat: bool = False
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        problems = validate_template_text(self.text)
        if problems:
            raise UsageError(f"template {self.name!r}: {problems}")

    def render_prompt(self, ddl: str, question: str, tokenizer: Any = None) -> str:
        """The inference prompt: everything the model sees before it writes SQL."""
        if not self.chat:
            return _fill(self.text, ddl=ddl, question=question, query="")
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise UsageError(
                f"template {self.name!r} needs a tokenizer with a chat template",
                hint="use an instruct base model, or --template ko-sql-bot",
            )
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": self.render_user(ddl, question)}],
            tokenize=False,
            add_generation_prompt=True,
        )

    def render_user(self, ddl: str, question: str) -> str:
        """A chat template's user turn (what an API server wraps in its chat template)."""
        return _fill(self.text, ddl=ddl, question=question, query="").rstrip()

    def render_training(self, ddl: str, question: str, sql: str, eos: str, tokenizer: Any = None) -> str:
        """Training text: exactly `render_prompt(...) + sql + eos`."""
        return self.render_prompt(ddl, question, tokenizer) + sql + eos

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PromptTemplate:
        return cls(
            name=str(data["name"]),
            text=str(data["text"]),
            stop=tuple(data.get("stop", ("###",))),
            chat=bool(data.get("chat", False)),
            description=str(data.get("description", "")),
        )


def _fill(text: str, **values: str) -> str:
    # One pass, so braces or placeholder-like text inside the DDL or question stay as they are.
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def validate_template_text(text: str) -> str:
    """'' if usable, else what is wrong with it."""
    found = _PLACEHOLDER.findall(text)
    missing = [p for p in ("ddl", "question", "query") if p not in found]
    unknown = sorted(set(re.findall(r"\{(\w+)\}", text)) - {"ddl", "question", "query"})
    if missing:
        typo = f" (unknown: {', '.join('{' + u + '}' for u in unknown)})" if unknown else ""
        return "missing placeholder(s) " + ", ".join("{" + m + "}" for m in missing) + typo
    if not text.endswith("{query}"):
        return "must end with {query} so that training text = prompt + SQL"
    return ""


TEMPLATES: dict[str, PromptTemplate] = {
    t.name: t
    for t in (
        PromptTemplate("ko-sql-bot", KO_SQL_BOT, description="the book's prompt (default)"),
        PromptTemplate("en-sql-bot", EN_SQL_BOT, description="English wording, same sections"),
        PromptTemplate(
            "chat", KO_SQL_BOT, chat=True, description="ko-sql-bot inside the tokenizer's chat template"
        ),
    )
}


def get_template(name_or_path: str | Path) -> PromptTemplate:
    """A registered template by name, or a template file: `.json` as saved with a model, or plain
    text with the three placeholders (named after the file)."""
    key = str(name_or_path)
    if key in TEMPLATES:
        return TEMPLATES[key]
    path = Path(key)
    if not path.is_file():
        raise UsageError(
            f"unknown template {key!r}",
            hint=f"use one of {', '.join(TEMPLATES)} or a path to a template file",
        )
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            return PromptTemplate.from_dict(json.loads(raw))
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise InputError(path, f"not a t2s template ({err})", hint="it needs 'name' and 'text'") from None
    problems = validate_template_text(raw)
    if problems:
        raise InputError(path, problems, hint="write {ddl}, {question} and end with {query}")
    # The default stop marker only makes sense for templates whose sections start with ###.
    return PromptTemplate(name=path.stem, text=raw, stop=("###",) if "###" in raw else ())


def save_template(model_dir: str | Path, template: PromptTemplate) -> Path:
    """Write the template next to a model. Written via a temp file, so it is never half-written."""
    from text2sql_cli.io import atomic_write_text

    path = Path(model_dir) / TEMPLATE_FILE
    atomic_write_text(path, json.dumps(template.to_dict(), ensure_ascii=False, indent=2) + "\n")
    return path


def load_template(model_dir: str | Path) -> PromptTemplate | None:
    """The template saved with a model, or None if the directory has none (e.g. a hub base model)."""
    path = Path(model_dir) / TEMPLATE_FILE
    if not path.is_file():
        return None
    return get_template(path)


def encode(
    template: PromptTemplate, tokenizer: Any, ddl: str, question: str, sql: str | None = None
) -> tuple[list[int], list[int]]:
    """Token ids of (prompt, completion). Training concatenates them and masks the prompt;
    inference feeds the prompt ids alone. Encoding the two parts separately keeps the prompt's
    tokens identical in both, whatever merges a BPE would make across the boundary.

    The completion is the SQL followed by the EOS token (the book omits EOS, so its model never
    learns to stop); it is empty when `sql` is None.
    """
    prompt = template.render_prompt(ddl, question, tokenizer)
    # A chat template writes its own BOS; a plain prompt gets the tokenizer's usual specials.
    prompt_ids = list(tokenizer(prompt, add_special_tokens=not template.chat)["input_ids"])
    if sql is None:
        return prompt_ids, []
    if tokenizer.eos_token_id is None:
        raise UsageError("the tokenizer has no EOS token", hint="set tokenizer.eos_token in the base model")
    completion_ids = list(tokenizer(sql, add_special_tokens=False)["input_ids"]) + [tokenizer.eos_token_id]
    return prompt_ids, completion_ids


# --- LLM judge (evaluation/judge.py) -------------------------------------------------------------
# The book's GPT-4 judge prompt, character for character (BOOK.md, "Judge prompt"). It is sent as a
# single system message. A custom judge template uses the same four placeholders and must ask for
# {"resolve_yn": "yes"|"no"}. The JSON example's braces are not placeholders: filling is one pass
# over exactly these four names.
BOOK_JUDGE_PROMPT = """Based on below DDL and Question, evaluate gen_sql can resolve Question. If gen_sql and gt_sql do equal job, return "yes" else return "no". Output JSON Format: {"resolve_yn": ""}

DDL: {context}
Question: {question}
gt_sql: {answer}
gen_sql: {gen_sql}"""  # noqa: E501 (prompt text kept verbatim)

JUDGE_PLACEHOLDERS = ("context", "question", "answer", "gen_sql")


# --- LLM data filter (filtering/llm.py) ----------------------------------------------------------
# `t2s filter --judge MODEL` asks whether a training row's gold SQL answers its question over its
# DDL (the book's origin -> clean step). Sent as one user message with the JSON response format.
# A custom template (--judge-prompt FILE) uses {context}, {question} and {answer} and must ask for
# {"verdict": "yes"|"no", "reason": "..."} (the book's {"resolve_yn": ...} key is read too). The
# JSON example's braces are not placeholders: filling is one pass over exactly these three names.
FILTER_PROMPT = """You are reviewing one example of a Text-to-SQL training set. Decide whether the SQL query correctly answers the question, using only the tables and columns defined in the DDL.

Say "no" if the SQL answers a different question, misses a condition the question asks for, returns the wrong columns or aggregation, or uses a table or column that is not in the DDL. Say "yes" if it answers the question, even if you would have written it differently.

DDL:
{context}

Question:
{question}

SQL:
{answer}

Reply with only a JSON object: {"verdict": "yes" or "no", "reason": "one short sentence"}"""  # noqa: E501 (prompt text kept verbatim)

FILTER_PLACEHOLDERS = ("context", "question", "answer")


@dataclass(frozen=True)
class TextTemplate:
    """A prompt text with named placeholders (the judge's and the LLM filter's).

    `allowed` are the placeholders it may use, `required` those it must. Filling is one pass over
    exactly the allowed names, so other braces (a JSON example in the text, braces inside a DDL or
    a question) stay as they are.
    """

    name: str
    text: str
    allowed: tuple[str, ...]
    required: tuple[str, ...]

    def problems(self) -> str:
        """'' if usable, else what is wrong with it."""
        unknown = sorted(set(re.findall(r"\{(\w+)\}", self.text)) - set(self.allowed))
        if unknown:
            return "unknown placeholder(s) " + ", ".join("{" + u + "}" for u in unknown)
        missing = [p for p in self.required if "{" + p + "}" not in self.text]
        if missing:
            return "missing placeholder(s) " + ", ".join("{" + m + "}" for m in missing)
        return ""

    def render(self, **values: str) -> str:
        pattern = re.compile(r"\{(" + "|".join(map(re.escape, self.allowed)) + r")\}")
        return pattern.sub(lambda m: values[m.group(1)], self.text)

    def with_file(self, path: str | Path | None, *, what: str) -> TextTemplate:
        """This template, or one read from `path` with the same placeholders (checked: a bad file is
        an InputError naming it). `what` names the file in errors ("judge prompt file")."""
        if path is None:
            return self
        path = Path(path)
        if not path.is_file():
            raise InputError(path, f"{what} not found", hint="check --judge-prompt")
        custom = TextTemplate(str(path), path.read_text(encoding="utf-8"), self.allowed, self.required)
        problem = custom.problems()
        if problem:
            names = ", ".join("{" + p + "}" for p in self.allowed)
            raise InputError(path, problem, hint=f"use {names}")
        return custom


JUDGE_TEMPLATE = TextTemplate("book", BOOK_JUDGE_PROMPT, JUDGE_PLACEHOLDERS, required=("gen_sql",))
FILTER_TEMPLATE = TextTemplate("default", FILTER_PROMPT, FILTER_PLACEHOLDERS, required=("question", "answer"))


# --- Teacher for `t2s data synth` (synth/generate.py) --------------------------------------------
# One user message per request, JSON response format. {lang} is the language's name, {count} the
# pairs asked for, {focus} the SQL features this request leans on (rotated across requests so the
# set covers joins, grouping, ordering, dates and subqueries), {examples} few-shot rows from
# --seed-data (or a line saying there are none). The JSON example's braces are not placeholders.
SYNTH_PROMPT = """You write training data for a Text-to-SQL model. Below is the DDL of one database. Write {count} different pairs of a question a user of this database would ask, in natural {lang}, and the one SQL query that answers it.

Rules:
- Use only the tables and columns defined in the DDL, in the SQL dialect the DDL is written in.
- Each SQL is one read-only SELECT statement (WITH ... SELECT allowed) that returns data which depends on the rows in the database.
- Vary the difficulty (easy, medium, hard) and the wording; do not repeat a question or a query.
- Lean on these SQL features in this set: {focus}.
- Write each question the way a person would ask it, without naming SQL keywords, tables or columns literally.

DDL:
{ddl}

{examples}

Reply with only a JSON object: {"pairs": [{"question": "...", "sql": "...", "difficulty": "easy|medium|hard"}]}"""  # noqa: E501 (prompt text kept verbatim)

SYNTH_PLACEHOLDERS = ("lang", "count", "focus", "ddl", "examples")
SYNTH_LANGUAGES = {"ko": "Korean (한국어)", "en": "English"}
SYNTH_FOCUS = (
    "filters with WHERE and ordering with ORDER BY / LIMIT",
    "joins across related tables",
    "aggregation with GROUP BY and HAVING",
    "dates and times (ranges, years, months, recent periods)",
    "subqueries (IN, EXISTS, scalar subqueries) and comparisons with averages",
    "a mix of all of these: joins, grouping, ordering, dates and subqueries",
)
SYNTH_EXAMPLES_HEADER = "Examples of the style wanted (from the user's own data):"
SYNTH_NO_EXAMPLES = "(No examples given.)"
SYNTH_TEMPLATE = TextTemplate("synth", SYNTH_PROMPT, SYNTH_PLACEHOLDERS, required=SYNTH_PLACEHOLDERS)
