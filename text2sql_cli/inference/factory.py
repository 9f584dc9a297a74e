"""Build the backend `--backend` names. Heavy libraries load here, not at import."""

from __future__ import annotations

from typing import Any

from text2sql_cli.artifacts import check_model_path
from text2sql_cli.errors import UsageError
from text2sql_cli.inference import InferSettings
from text2sql_cli.inference.backend import Backend


def load_backend(
    cfg: InferSettings, *, model: str | None, base: str | None = None, device: Any = None
) -> Backend:
    check_model_path(model)
    check_model_path(base)
    if cfg.backend == "hf":
        if not model:
            raise UsageError(
                "--model is required for the hf backend", hint="give a t2s run dir or a model id"
            )
        from text2sql_cli.inference.hf import HFBackend

        return HFBackend.load(cfg, model=model, base=base, device=device)
    from text2sql_cli.inference.api import OpenAIBackend

    return OpenAIBackend.build(cfg, model=model)
