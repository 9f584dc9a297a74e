"""The run directory's README.md: a model card written from what the run recorded (run.json's
fields and the prompt template), replacing PEFT's placeholder card. Torch-free.

    model_card(info, template) -> str
"""

from __future__ import annotations

import json
from typing import Any

LOSS_KEYS = ("final_loss", "best_loss", "final_eval_loss", "best_eval_loss", "train_loss_mean")


def model_card(info: dict[str, Any], template: Any) -> str:
    """Markdown: base model, data (path, sha256, rows), options, final metrics, the prompt template,
    and how to run the adapter with t2s and with plain transformers + peft."""
    base = info["base_model"]
    training = info.get("training") or {}
    data = info.get("data") or {}
    lines = [
        f"# LoRA adapter for {base} (Text-to-SQL, trained with t2s)",
        "",
        f"Created {info.get('created_at')} by t2s {(info.get('versions') or {}).get('t2s') or ''}".rstrip()
        + ".",
        f"Command: `{' '.join(info.get('command') or [])}`",
        "",
        "## Base model",
        "",
        f"- base: `{base}`" + (f" (revision `{info['revision']}`)" if info.get("revision") else ""),
        f"- quantization: {info.get('quant', 'none')}; precision: {training.get('precision')}; "
        f"device: {training.get('device')} x {training.get('world_size')}",
        "",
        "## Data",
        "",
    ]
    for split in ("train", "eval"):
        d = data.get(split)
        if d:
            lines.append(
                f"- {split}: `{d.get('path')}` (sha256 `{d.get('sha256')}`), {d.get('rows')} rows "
                f"({d.get('skipped_too_long', 0)} skipped as longer than max_len)"
            )
    lines += ["", "## Final metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| step | {training.get('global_step')} |", f"| epoch | {training.get('epoch')} |"]
    lines += [f"| {k} | {training[k]} |" for k in LOSS_KEYS if training.get(k) is not None]
    lines += [f"| train_runtime_s | {training.get('train_runtime_s')} |", ""]
    lines += ["## Options", "", "```json", json.dumps(info.get("config") or {}, indent=2, ensure_ascii=False)]
    lines += ["```", ""]
    if info.get("config_sources"):
        lines += ["Where each option came from:", ""]
        lines += [f"- {k}: {v}" for k, v in info["config_sources"].items()]
        lines.append("")
    stop = ", ".join(f"`{s}`" for s in template.stop)
    lines += [
        "## Prompt template",
        "",
        f"`{template.name}`{' (rendered as the user turn of the chat template)' if template.chat else ''}; "
        f"generation stops at {stop or 'EOS'}. `{{ddl}}` is the schema, `{{question}}` the question:",
        "",
        "```text",
        template.text,
        "```",
        "",
        "## Run it",
        "",
        "With t2s (the template above is read from this directory):",
        "",
        "```bash",
        "t2s infer --model THIS_DIR --data test.jsonl --out preds.jsonl",
        "t2s eval preds.jsonl",
        "```",
        "",
        "With plain transformers and peft:",
        "",
        "```python",
        "from peft import PeftModel",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f'tok = AutoTokenizer.from_pretrained("{base}")',
        f'model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained("{base}"), "THIS_DIR")',
        f"template = {template.text!r}",
        "user = template.replace('{ddl}', DDL).replace('{question}', QUESTION).replace('{query}', '')",
        "prompt = user"
        if not template.chat
        else "prompt = tok.apply_chat_template([{'role': 'user', 'content': user.rstrip()}], tokenize=False, "
        "add_generation_prompt=True)",
        "ids = tok(prompt, return_tensors='pt')",
        "out = model.generate(**ids, max_new_tokens=256, do_sample=False)",
        "sql = tok.decode(out[0][ids['input_ids'].shape[1]:], skip_special_tokens=True)"
        + (f".split({template.stop[0]!r})[0].strip()" if template.stop else ".strip()"),
        "```",
        "",
    ]
    return "\n".join(lines)
