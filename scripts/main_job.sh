#!/usr/bin/env bash
# The main job on defaults, offline: fine-tune a sentiment classifier from the real all-MiniLM-L6-v2 weights on the
# real movie reviews (train split only), score the held-out test split, classify a few new texts, export the
# model as a versioned SavedModel with tokenization inside and classify the texts again through the export.
# About 13 minutes on a 2-core CPU. Run after `bash scripts/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
BK=".venv/bin/python -m bert_keras.cli"
MINILM=$(.venv/bin/python -m bert_keras.assets minilm)
RUN=${RUN:-runs/reviews}

$BK datasets reviews --output-dir data/reviews
$BK finetune --task classify --init-checkpoint "$MINILM" \
  --train-file data/reviews/train.csv --test-file data/reviews/test.csv --output-dir "$RUN" \
  --held-out-fraction 0.03 --max-train-examples 20000 --epochs 5 --steps-per-epoch 125 \
  --tail-tokens 64 --learning-rate 1e-4 --verbose 2
$BK evaluate --model "$RUN/model" --data data/reviews/test.csv --output "$RUN/test_metrics.json"
$BK predict --model "$RUN/model" --text "One of the best films I have seen in years." \
  "A dull, lifeless script and wooden acting." "It was fine, nothing special."
$BK export --model "$RUN/model" --output "${EXPORTS:-exports}" --name reviews
.venv/bin/python - "${EXPORTS:-exports}/reviews" <<'PY'
import os, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the export's tokenizer ops)
base = sys.argv[1]
path = os.path.join(base, str(max(int(v) for v in os.listdir(base) if v.isdigit())))
texts = ["One of the best films I have seen in years.", "A dull, lifeless script and wooden acting.",
         "It was fine, nothing special."]
out = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(texts))
for text, label, p in zip(texts, out["labels"].numpy(), out["probabilities"].numpy().max(-1)):
    print(f"{path}: {label.decode()} {p:.3f}  {text}")
PY
