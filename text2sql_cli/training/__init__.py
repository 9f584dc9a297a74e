"""LoRA / QLoRA supervised fine-tuning for Text-to-SQL (`t2s train`).

- `config`: TrainConfig (flags, YAML, T2S_TRAIN_* env, presets); torch-free.
- `options`: TrainConfig -> LoraConfig / BitsAndBytesConfig / TrainingArguments.
- `data`: rows -> token ids through prompts.encode, completion-only labels, pad and packing collators.
- `run`: `train(cfg)`, the run directory and run.json.
- `callbacks`: the rich progress bar, the loss log and checkpoint-on-signal (imports transformers;
  loaded lazily).

`text2sql_cli.quiet` (shared with infer and export) silences named, known-harmless library messages.

Importing this package loads no torch, transformers or peft.
"""

from text2sql_cli.training.config import PRESETS, TrainConfig, load_config_file, resolve_config
from text2sql_cli.training.run import RUN_FILE, TrainResult, train

__all__ = ["PRESETS", "RUN_FILE", "TrainConfig", "TrainResult", "load_config_file", "resolve_config", "train"]
