#!/usr/bin/env bash
# The whole t2s pipeline offline on the bundled sample, with a tiny random smoke model:
#   split -> tiny model -> train (LoRA) -> infer -> eval -> report
# Run by `make demo` (which sets up .venv first). Finishes in a few minutes on 2 CPU cores.
# The tiny model writes SQL-shaped text that rarely runs: this shows every stage and output, not accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${DEMO_DIR:-demo}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
# One torch thread: the tiny model's matrices are too small to split, and on a busy 2-core machine
# extra threads mostly wait for each other (measured: 30 warm-up steps 7 s instead of 56 s of wall time).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
rm -rf "$OUT"

echo "== 1/6 split: hold out db_id 1 (the game domain), as the book does"
t2s data split examples/sample.jsonl --test-db 1 --out "$OUT/data"

echo "== 2/6 tiny smoke model: a random Llama + tokenizer, warmed up on the TRAINING rows only"
t2s model tiny --data "$OUT/data/train.jsonl" --out "$OUT/tiny-base" --pretrain-steps 150

echo "== 3/6 train a LoRA adapter (loss on the SQL completion only)"
t2s train --base "$OUT/tiny-base" --data "$OUT/data/train.jsonl" --out "$OUT/run" \
  --r 8 --alpha 16 --lr 3e-3 --batch-size 8 --epochs 2 --max-len 512

echo "== 4/6 generate SQL for the held-out domain with the run's saved template"
t2s infer --model "$OUT/run" --data "$OUT/data/test.jsonl" --out "$OUT/preds.jsonl" --max-new-tokens 64

echo "== 5/6 score: execution accuracy on synthesized SQLite databases + exact match"
t2s eval "$OUT/preds.jsonl" --metric ex,em --out "$OUT/eval"

echo
echo "== the metric itself: the gold SQL scored as if it were a prediction (EX must say 100 % correct)"
# --columns reads the test rows' gold column (answer) as both the prediction and the gold
t2s eval "$OUT/data/test.jsonl" --columns sql=answer,gold=answer --metric ex --out "$OUT/eval-gold"

echo
echo "== a few predictions, read back with pandas from $OUT/eval/results.jsonl"
python - "$OUT/eval/results.jsonl" <<'PY'
import sys

import pandas as pd

results = pd.read_json(sys.argv[1], lines=True)
for row in results.head(3).itertuples():  # status: correct, wrong_result, error...
    print(f"- {row.question}\n  gold: {row.gold}\n  pred: {row.sql}\n  {row.status}: {row.reason or ''}")
PY

echo
echo "== 6/6 report: the run's table, loss curve and plots as one page (t2s report takes sweeps too)"
t2s report "$OUT/run" --out "$OUT/report"

echo
echo "Outputs: $OUT/data/{train,test}.jsonl  $OUT/run/ (adapter, template, run.json)  $OUT/preds.jsonl  $OUT/eval/{results.jsonl,summary.json}"
echo "Report page: open $(cd "$OUT/report" && pwd)/index.html in a browser (runs.csv beside it)"
