"""The one interface every generation backend implements, and how the template is chosen.

A backend turns (ddl, question) items into raw generations. It renders prompts through
`prompts.py` itself (token ids for a local model, a chat message for an API model), so the runner
in `batch.py`/`stream.py` never sees prompt text and cannot drift from training.

A leaf: the backends (`hf.py`, `api.py`) import this module, never the other way round; building
one is `factory.load_backend`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from text2sql_cli.prompts import DEFAULT_TEMPLATE, PromptTemplate, get_template, load_template


@dataclass(frozen=True)
class Item:
    """One question to answer. `key` is the row id (batch mode) or the input line (stream mode)."""

    key: str
    ddl: str
    question: str


@dataclass(frozen=True)
class Generation:
    """A raw generation, or why there is none (an API request that kept failing).

    With `--candidates N`, `candidates` holds all N raw samples (`raw` is the first) and
    `logprobs` their mean token log-probabilities where the backend knows them (hf)."""

    raw: str | None
    error: str | None = None
    candidates: tuple[str | None, ...] | None = None
    logprobs: tuple[float | None, ...] | None = None


class Backend(Protocol):
    name: str
    template: PromptTemplate
    batch_size: int  # the micro-batch the runner should hand over; a backend may lower it (OOM)
    notes: list[str]  # things the user should know (template fallback, chosen batch size)

    def prepare(self, item: Item) -> Any:
        """The rendered prompt: token ids (hf) or chat messages (openai)."""

    def cost(self, prepared: Any) -> int:
        """A size for length-sorting micro-batches (prompt tokens or characters)."""

    def generate(self, prepared: list[Any]) -> list[Generation]:
        """One generation per prompt, in the order given."""

    def provenance(self) -> dict[str, Any]:
        """What made these predictions: model, adapter, template, precision, generation settings."""


def resolve_template(model_dir: str | Path | None, flag: str | None, notes: list[str]) -> PromptTemplate:
    """The template saved with the model; else `--template`; else the default (said on stderr).

    A `--template` that overrides a saved one is allowed (an explicit choice) but noted loudly,
    since a model prompted unlike its training data scores far below what it learned.
    """
    saved = load_template(model_dir) if model_dir is not None and Path(model_dir).is_dir() else None
    if saved is not None:
        if flag is not None and get_template(flag) != saved:
            notes.append(
                f"--template {flag} overrides the template {saved.name!r} this model was trained with "
                "(a prompt unlike its training data scores lower)"
            )
            return get_template(flag)
        return saved
    if flag is not None:
        return get_template(flag)
    notes.append(f"the model has no saved template (t2s_template.json): using --template {DEFAULT_TEMPLATE}")
    return get_template(DEFAULT_TEMPLATE)
