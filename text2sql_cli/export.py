"""Merge a trained adapter into its base and save a standalone model; push a run to the hub.

Merging happens in 16-bit (or fp32 on request) on a freshly loaded, unquantized base, never into a
4-bit model: merging into NF4 weights would round the LoRA update away and is not reversible. The
base is found through the run's run.json (base_model, revision, trust_remote_code).

The merged directory is written to a temporary sibling and renamed into place, so it is complete or
absent. Its run.json is the run's, with kind "merged" and the merge settings.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from text2sql_cli.artifacts import (
    ADAPTER_WEIGHTS,
    TRAIN_LOG,
    RunRecord,
    blocking_file,
    has_adapter_weights,
    read_run,
    write_run,
)
from text2sql_cli.errors import ApiError, ModelLoadError, UsageError

DTYPES = ("auto", "float16", "bfloat16", "float32")


def check_export(run_dir: str | Path, out: str | Path | None) -> RunRecord:
    """Everything about RUN and --out that can be wrong, found before any model loads. Returns
    the run's run.json."""
    run_dir = Path(run_dir)
    info = read_run(run_dir)
    if info.kind != "lora-adapter":
        raise UsageError(f"{run_dir} holds a {info.kind!r} model, not an adapter to merge")
    if not has_adapter_weights(run_dir):
        raise UsageError(
            f"no adapter weights in {run_dir} ({' or '.join(ADAPTER_WEIGHTS)})",
            hint="was training interrupted? rerun t2s train with --resume",
        )
    if out is not None:
        out = Path(out)
        blocker = blocking_file(out)
        if blocker is not None:
            raise UsageError(
                f"--out {out}: {blocker} is a file, not a directory", hint="give a directory path"
            )
        if out.is_dir() and any(out.iterdir()):
            raise UsageError(
                f"{out} already exists and is not empty", hint="choose another --out or remove it"
            )
    return info


def check_vocab(model: Any, tokenizer: Any) -> None:
    """Every token id the tokenizer can produce needs a row in the embedding and the LM head."""
    rows = model.get_input_embeddings().weight.shape[0]
    head = model.get_output_embeddings()
    head_rows = head.weight.shape[0] if head is not None else rows
    if len(tokenizer) > min(rows, head_rows):
        raise ModelLoadError(
            f"tokenizer has {len(tokenizer)} tokens but the model's embedding/LM head have "
            f"{rows}/{head_rows} rows",
            hint="the adapter was trained with another tokenizer; export with the run's own base model",
        )


def merge_run(
    run_dir: str | Path, out: str | Path, *, dtype: str = "auto", device: str | None = None
) -> Path:
    """Base (16-bit) + adapter -> merged standalone model in `out`. Returns `out`.

    `dtype="auto"` merges in bfloat16 when the run trained in bf16 (bf16-native bases such as Llama 3
    or Gemma overflow in fp16), else in float16 like the book."""
    from text2sql_cli.quiet import quiet_known_noise

    if dtype not in DTYPES:
        raise UsageError(f"unknown --dtype {dtype!r}", hint=f"use one of {', '.join(DTYPES)}")
    check_export(run_dir, out)
    if dtype == "auto":
        trained = str(read_run(run_dir).training.get("precision", ""))
        dtype = "bfloat16" if "bf16" in trained else "float16"
    with quiet_known_noise():  # before peft (and so bitsandbytes) is first imported
        return _merge(run_dir, out, dtype=dtype, device=device)


def _merge(run_dir: str | Path, out: str | Path, *, dtype: str, device: str | None) -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from text2sql_cli.prompts import load_template, save_template

    run_dir, out = Path(run_dir), Path(out)
    info = read_run(run_dir)  # checked by merge_run (check_export)
    from text2sql_cli.artifacts import check_adapter_weights

    check_adapter_weights(run_dir)  # a damaged file says so, before the base model loads
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        base = AutoModelForCausalLM.from_pretrained(
            info.base_model,
            revision=info.revision,
            trust_remote_code=info.trust_remote_code,
            dtype=getattr(torch, dtype),
        ).to(device)
        tokenizer = AutoTokenizer.from_pretrained(run_dir)
        model = PeftModel.from_pretrained(base, run_dir)
    except (OSError, ValueError) as err:
        raise ModelLoadError(
            f"cannot load {info.base_model!r} + adapter {run_dir}: {str(err).splitlines()[0]}",
            hint="the base must be reachable (hub id online, or the same local directory as in training)",
        ) from None
    check_vocab(model, tokenizer)
    merged = model.merge_and_unload()

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        template = load_template(run_dir)
        if template is not None:
            save_template(tmp, template)
        if (run_dir / TRAIN_LOG).exists():
            shutil.copy2(run_dir / TRAIN_LOG, tmp / TRAIN_LOG)
        write_run(
            tmp, info.model_copy(update={"kind": "merged", "merged_from": str(run_dir), "merge_dtype": dtype})
        )
        if out.exists():
            out.rmdir()
        from text2sql_cli.io import give_umask_mode

        give_umask_mode(tmp)  # mkdtemp makes 0700; the merged model is for others to read too
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_run(run_dir, info.model_copy(update={"merged": os.path.relpath(out, run_dir)}))
    return out


def push_to_hub(folder: str | Path, repo: str, *, private: bool = True, token: str | None = None) -> str:
    """Upload a run (adapter) or merged directory to `repo`; checkpoints and nested merges stay home.
    Returns the repo URL. Offline or failing uploads raise a one-line error."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ApiError(
            f"cannot push to {repo!r}: HF_HUB_OFFLINE is set",
            hint="unset HF_HUB_OFFLINE, log in with `hf auth login` (or set HF_TOKEN), and push with "
            "`t2s model export RUN --push-to-hub REPO`",
        )
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id=repo, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo,
            folder_path=str(folder),
            ignore_patterns=["checkpoints/*", "merged/*", ".*"],
            commit_message="t2s: upload trained model",
        )
    except Exception as err:  # network, auth and hub errors all end the same way for the user
        raise ApiError(
            f"push to {repo!r} failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
            hint=(
                "check the network and your hub token (`hf auth login` or HF_TOKEN) and write access "
                "to the repo"
            ),
        ) from None
    return str(url)
