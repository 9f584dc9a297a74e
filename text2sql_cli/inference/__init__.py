"""Generation backends behind one interface, and the two ways `t2s infer` drives them.

    InferSettings                  the knobs (flag > T2S_* env > .env > default); torch-free import
    run_batch_inference(...)     DATA file -> predictions JSONL, resumable, sharded under accelerate
    run_stream(...)              stdin -> stdout, one answer per input, flushed per item
    load_backend(...)            `hf` (transformers + peft) or `openai` (any OpenAI-compatible server)

Modules: `backend.py` (the interface, a leaf), `factory.py` (builds one), `hf.py` (local models),
`api.py` (OpenAI-compatible servers through `llm_client`), `batch.py` (files: resume, provenance,
sharding), `stream.py` (pipes). Importing this package loads neither torch nor transformers;
the backends import them when they are built.

Decoding is greedy (the book's setting) unless `--candidates N` > 1: then N samples per question
(`--temperature`, `--top-p`, `--seed`) are executed and one is selected (`candidates.py`).
One prompt template per run.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from text2sql_cli.artifacts import PREDICTIONS_FORMAT
from text2sql_cli.choices import Backend, Dialect, InferQuant, Precision, Select  # shared with --help
from text2sql_cli.config import T2SSettings
from text2sql_cli.errors import UsageError
from text2sql_cli.llm_client.settings import ClientConfig, Endpoint


class InferSettings(T2SSettings, Endpoint):
    """Settings of `t2s infer`: the field is the flag, the variable T2S_INFER_<FLAG>."""

    model_config = SettingsConfigDict(**{**T2SSettings.model_config, "env_prefix": "T2S_INFER_"})
    # no flag: the key, and how candidates run (set through T2S_INFER_* only)
    FLAGS = dict.fromkeys(("api_key", "exec_instances", "exec_timeout", "exec_workers", "dialect"))

    backend: Backend = Field("hf")
    template: str | None = Field(
        None,
        description="template for a model saved without one (hub base models, API models)",
    )
    max_new_tokens: int = Field(256, gt=0)
    batch_size: str = Field("auto", description="N or auto")
    precision: Precision = Field("auto")
    quant: InferQuant = Field("none")
    # --backend openai: base_url and api_key come from llm_client.Endpoint (T2S_INFER_BASE_URL,
    # T2S_INFER_API_KEY; the key has no flag)
    model_name: str | None = Field(None, description="the model the --base-url server serves")

    # --candidates N: sample N, execute them, keep one (inference/candidates.py)
    candidates: int = Field(1, ge=1, le=64)
    select: Select = Field("vote")
    temperature: float = Field(
        0.7,
        gt=0,
        le=2,
        description="sampling, with --candidates > 1",
    )
    top_p: float = Field(0.95, gt=0, le=1)
    seed: int = Field(0, description="sampling and synthesized databases")
    db_dir: Path | None = Field(None, description="Spider-layout databases to run candidates on")
    drop_empty: bool = Field(False)
    exec_instances: int = Field(5, ge=1, le=50)
    exec_timeout: float = Field(5.0, gt=0)
    exec_workers: int = Field(2, ge=1)
    dialect: Dialect = Field("auto")

    def selection(self) -> dict | None:
        """The selection settings the sidecar records (None for plain greedy decoding)."""
        if self.candidates == 1:
            return None
        return {
            "candidates": self.candidates,
            "rule": self.select,
            "drop_empty": self.drop_empty,
            "databases": str(self.db_dir)
            if self.db_dir
            else f"synthesized from the DDL, {self.exec_instances} instances",
            "instances": None if self.db_dir else self.exec_instances,
            "seed": self.seed,
            "timeout_s": self.exec_timeout,
            "dialect": self.dialect,
        }

    def client(self) -> ClientConfig:
        """`--backend openai`'s client: the key is T2S_INFER_API_KEY, sent to --base-url only."""
        if not self.model_name:
            raise UsageError("--backend openai needs --model-name", hint="the model name the server serves")
        return self.client_for(self.model_name, model_flag="--model-name")

    @field_validator("batch_size")
    @classmethod
    def _batch_size(cls, value: str) -> str:
        value = str(value).strip().lower()
        if value != "auto" and not (value.isdigit() and int(value) > 0):
            raise ValueError("must be a positive integer or 'auto'")
        return value

    def fixed_batch_size(self) -> int | None:
        """The batch size the user fixed, or None for auto."""
        return None if self.batch_size == "auto" else int(self.batch_size)


def __getattr__(name: str):
    # Lazy re-exports: `from text2sql_cli.inference import run_batch_inference` stays cheap to
    # type, and `import text2sql_cli.inference` stays torch-free.
    lazy = {
        "run_batch_inference": "batch",
        "run_stream": "stream",
        "load_backend": "factory",
        "Backend": "backend",
        "Item": "backend",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{lazy[name]}"), name)
    raise AttributeError(name)


__all__ = ["InferSettings", "PREDICTIONS_FORMAT", "run_batch_inference", "run_stream", "load_backend"]
