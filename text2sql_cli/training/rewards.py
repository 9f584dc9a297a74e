"""Rewards for `t2s train --method grpo`: execution match against gold.

    RewardSettings                   scheme and where the SQL runs (recorded in run.json)
    ExecutionReward(settings, stop)  a TRL reward function: (prompts, completions, **columns) -> floats
    FormatReward(stop)               1.0 when the completion holds one SQL statement that parses

The execution reward takes each completion's verdict from `sql/goldmatch.py`, the code behind
`t2s eval --metric ex` (its databases: `--db-dir`, or databases synthesized from the row's DDL and
seeded with the gold query's literals; its default comparisons, `strict`, or `spider` with
--db-dir), and maps it to a number. Arctic-Text2SQL-R1's scheme is the default: 1 when the result
matches gold on every database, 0.1 when the SQL runs but differs, 0 otherwise (an error, a
timeout, no SQL, a comparison that gave up). A row whose gold query does not run gives every
completion 0: no learning signal, and counted, never a reward for agreeing with a failure.

Work runs in the sandbox worker pool (read-only, time limit, row cap). Verdicts are cached per
(row id, SQL), so the repeated samples of a group, and a prompt seen again in a later epoch, cost
nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

SCHEMES = {
    "arctic": {"correct": 1.0, "runs": 0.1, "fails": 0.0},
    "binary": {"correct": 1.0, "runs": 0.0, "fails": 0.0},
}


@dataclass(frozen=True)
class RewardSettings:
    scheme: str = "arctic"
    format_weight: float = 0.0  # > 0 adds FormatReward with this weight
    instances: int = 5
    seed: int = 0
    timeout: float = 5.0
    workers: int = 2
    db_dir: str | None = None
    mode: str = "strict"
    dialect: str = "auto"

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "values": SCHEMES[self.scheme]}


class ExecutionReward:
    """Callable as TRL's reward function; the dataset's columns arrive as keyword lists."""

    def __init__(self, settings: RewardSettings, stop: tuple[str, ...]):
        self.settings = settings
        self.stop = stop
        self.values = SCHEMES[settings.scheme]
        self.cache: dict[tuple[str, str | None], str] = {}
        self.statuses: Counter = Counter()  # over every completion scored, cache hits included
        self.__name__ = "execution"  # TRL names the logged reward column after it

    def __call__(self, prompts, completions, *, id, db_id, context, gold, **_: Any) -> list[float]:
        from text2sql_cli.sql.extract import extract_sql
        from text2sql_cli.sql.goldmatch import gold_task, statuses

        sqls = [extract_sql(_text(c), self.stop).sql for c in completions]
        keys = [(str(i), sql) for i, sql in zip(id, sqls)]
        todo: dict[tuple[str, str | None], Any] = {}
        for key, row_db, ddl, answer in zip(keys, db_id, context, gold):
            if key not in self.cache and key not in todo:
                todo[key] = gold_task(
                    str(row_db),
                    ddl,
                    answer,
                    key[1],
                    mode=self.settings.mode,
                    dialect=self.settings.dialect,
                    timeout=self.settings.timeout,
                    instances=self.settings.instances,
                    seed=self.settings.seed,
                    db_dir=self.settings.db_dir,
                )
        if todo:
            workers = self.settings.workers if len(todo) >= 8 else 1
            self.cache.update(zip(todo, statuses(list(todo.values()), workers=workers)))
        scored = [self.cache[k] for k in keys]
        self.statuses.update(scored)
        return [self.reward(s) for s in scored]

    def reward(self, status: str) -> float:
        if status == "correct":
            return self.values["correct"]
        if status == "wrong_result":  # it ran and returned rows; just not gold's
            return self.values["runs"]
        # pred_error, timeout (0 by design), extraction_failed, and the statuses EX excludes:
        # gold_error, no_gold, compare_gave_up (undecided: no reward for it), crashed
        return self.values["fails"]


class FormatReward:
    """1.0 when the completion's SQL was found cleanly and parses as one statement, else 0."""

    def __init__(self, stop: tuple[str, ...]):
        self.stop = stop
        self.__name__ = "format"

    def __call__(self, prompts, completions, **_: Any) -> list[float]:
        import sqlglot
        from sqlglot.errors import SqlglotError

        from text2sql_cli.sql.extract import extract_sql

        out = []
        for completion in completions:
            sql = extract_sql(_text(completion), self.stop).sql
            try:
                ok = sql is not None and len([t for t in sqlglot.parse(sql, read="mysql") if t]) == 1
            except (SqlglotError, ValueError, RecursionError):
                ok = False
            out.append(1.0 if ok else 0.0)
        return out


def _text(completion: Any) -> str:
    """A standard-format completion is a string; a conversational one a list of messages."""
    if isinstance(completion, str):
        return completion
    return "".join(m.get("content", "") for m in completion if isinstance(m, dict))
