"""Execution accuracy (EX) over a predictions file: the settings of `t2s eval --metric ex` and the
`ex` column. Each example's verdict comes from `sql/goldmatch.py` (shared with the GRPO reward and
`t2s data pass-rate`, so they agree); its docstring lists the databases and statuses.

    ExecutionSettings            the knobs (`T2S_EVAL_*`, flags of `t2s eval`)
    ex_column(predictions, settings) -> list[dict]   the `ex` metric column, in input order

A row `t2s infer` could not generate is `generation_error` (excluded, not run).

This module imports only pydantic and the standard library at load time (config.py imports it to
list settings classes); sqlglot loads when evaluation starts.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_serializer, model_validator
from pydantic_settings import SettingsConfigDict

from text2sql_cli.choices import Dialect, Engine, EvalMode  # shared with --help
from text2sql_cli.config import T2SSettings
from text2sql_cli.sql.goldmatch import (
    ExTask,
    ExVerdict,
    default_float_tol,
    default_mode,
    score_all,
)

MODE_TIMEOUT = {"bird": 30.0, "sqleval": 10.0}  # the harnesses' own limits; else 5 s (official Spider: 60 s)
DEFAULT_TIMEOUT = 5.0


EvalDialect = Dialect
EvalEngine = Engine


class ExecutionSettings(T2SSettings):
    """Execution accuracy settings of `t2s eval` (T2S_EVAL_<FLAG>; see config.py for precedence).

    The field is the flag (`--k` is the short form of `--instances`); summary.json records them
    under these names."""

    model_config = SettingsConfigDict(**{**T2SSettings.model_config, "env_prefix": "T2S_EVAL_"})

    mode: EvalMode | None = Field(
        None,
        description="result comparison: strict, spider (test-suite), bird (sets), sqleval (defog); "
        "default strict on synthesized databases, spider with db_dir",
    )
    keep_distinct: bool = Field(
        False, description="spider mode: keep DISTINCT (the official --keep_distinct)"
    )
    dialect: EvalDialect = Field(
        "auto",
        description="dialect of gold/predicted SQL and DDL (auto: sqlite with db_dir, else from the DDL)",
    )
    timeout: float | None = Field(
        None, gt=0, description="seconds per query (default 5; bird 30, sqleval 10)"
    )
    workers: int = Field(2, ge=1, description="worker processes (1 = run in this process)")
    seed: int = Field(0, description="seed for synthesized databases")
    instances: int = Field(5, ge=1, le=50, description="synthesized databases per example (K)")
    float_tol: float | None = Field(
        None, ge=0, description="numbers equal when |a - b| <= this (default 1e-6 in strict, exact otherwise)"
    )
    max_rows: int = Field(100_000, ge=1, description="a query returning more rows fails")
    db_dir: Path | None = Field(None, description="Spider-layout databases; replaces synthesis")
    engine: EvalEngine = Field(
        "sqlite", description="where queries run: embedded sqlite, or a mariadb/postgres server (--db-url)"
    )
    db_url: str | None = Field(
        None, description="server URL for --engine mariadb/postgres; with {db_id}: existing databases"
    )
    exclude_low_information: bool = Field(
        False, description="leave out of EX the examples whose gold result is the same on every database"
    )
    infer_schema: bool = Field(
        True, description="build tables the gold SQL uses but the DDL lacks (from foreign keys and the query)"
    )
    now: str | None = Field(
        None,
        description="the instant NOW()/CURDATE() return, 'YYYY-MM-DD HH:MM:SS' (default: the run's start)",
    )

    @field_serializer("db_url", when_used="json")
    def _without_password(self, url: str | None) -> str | None:  # reports and run records never hold it
        from text2sql_cli.sql.engines import redact

        return redact(url) if url else url

    @model_validator(mode="after")
    def _mode_defaults(self):
        """Fill what depends on the mode, so the report records the values actually used."""
        if self.mode is None:
            self.mode = default_mode(self.db_dir)
        if self.timeout is None:
            self.timeout = MODE_TIMEOUT.get(self.mode, DEFAULT_TIMEOUT)
        if self.float_tol is None:
            self.float_tol = default_float_tol(self.mode)
        return self


def ex_column(
    predictions, settings: ExecutionSettings, *, progress: bool = False, save_dbs: Path | None = None
) -> list[dict]:
    """Score every prediction (objects with db_id, context, gold, sql); results in input order.
    `progress` shows a rich bar on stderr; `save_dbs` writes each example's synthesized databases
    to save_dbs/<id>/ (a file-safe form of the id)."""
    from text2sql_cli.progress import ProgressBar
    from text2sql_cli.sql.mysql_emulation import pin_now, unpin

    # One clock for the whole run, gold and prediction alike; the report records it.
    settings.now = pin_now(settings.now)
    db_url = ""
    if settings.engine != "sqlite" or settings.db_url:
        from text2sql_cli.sql.engines import EngineError, open_run

        if settings.db_dir and settings.engine != "sqlite":
            raise EngineError(
                "--db-dir holds SQLite files; it does not go with --engine " + settings.engine,
                hint="for existing server databases pass --db-url with {db_id}, e.g. mysql://u@host/{db_id}",
            )
        db_url = open_run(settings.engine, settings.db_url)
    # A row t2s infer could not generate has nothing to run: excluded, never scored as wrong.
    scored = [p for p in predictions if getattr(p, "error", None) is None]
    tasks = [
        ExTask(
            db_id=p.db_id,
            context=p.context,
            gold=p.gold,
            pred=p.sql,
            mode=settings.mode,
            dialect=settings.dialect,
            timeout=settings.timeout,
            max_rows=settings.max_rows,
            float_tol=settings.float_tol,
            keep_distinct=settings.keep_distinct,
            instances=settings.instances,
            seed=settings.seed,
            db_dir=str(settings.db_dir) if settings.db_dir else None,
            engine=settings.engine,
            db_url=db_url,
            exclude_low_information=settings.exclude_low_information,
            infer_schema=settings.infer_schema,
            save_to=str(Path(save_dbs) / safe_name(p.id)) if save_dbs is not None else None,
        )
        for p in scored
    ]
    workers = settings.workers if len(tasks) >= 32 else 1  # a pool costs more than it saves
    try:
        with ProgressBar("EX", len(tasks), enabled=progress) as bar:
            results = score_all(tasks, workers=workers, on_progress=bar.advance)
    finally:
        unpin()
    verdicts = iter(results)
    return [
        next(verdicts)
        if getattr(p, "error", None) is None
        else ExVerdict("generation_error", reason=f"t2s infer produced no generation: {p.error}").as_row()
        for p in predictions
    ]


def safe_name(text: str) -> str:
    """An example id as a folder name: letters, digits, `-`, `_`, `.`; anything else as `_`."""
    import re

    name = re.sub(r"[^\w.-]", "_", str(text)).strip(".") or "_"
    return name[:100]
