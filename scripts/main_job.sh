#!/usr/bin/env bash
# The main job on defaults, offline, end to end: fine-tune a sentiment classifier from the real all-MiniLM-L6-v2
# weights on the real movie reviews (train split only) and score the held-out test split; export it as a
# versioned SavedModel with tokenization inside; start the TF Serving API server on 127.0.0.1; query it over gRPC
# and REST; classify the whole held-out split through the server (accuracy); stop the server.
# About 15 minutes on a 2-core CPU. Run after `bash scripts/setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
export TF_CPP_MIN_LOG_LEVEL=2
BK=".venv/bin/python -m bert_keras.cli"
MINILM=$(.venv/bin/python -m bert_keras.assets minilm)
# The classify recipe's hyper-parameters, one flag or value a line, from their one definition (RECIPES["classify"]
# in bert_keras/benchmarks/finetune.py, which the finetune benchmark runs too).
RECIPE=$(.venv/bin/python -m bert_keras.benchmarks.finetune --print-args classify)
mapfile -t RECIPE <<< "$RECIPE"
RUN=${RUN:-runs/reviews}
EXPORTS=${EXPORTS:-exports}
GRPC_PORT=${GRPC_PORT:-8500}
REST_PORT=${REST_PORT:-8501}
TEXTS=("One of the best films I have seen in years." "A dull, lifeless script and wooden acting."
       "It was fine, nothing special.")

$BK datasets reviews --output-dir data/reviews
$BK finetune --task classify --init-checkpoint "$MINILM" \
  --train-file data/reviews/train.csv --test-file data/reviews/test.csv --output-dir "$RUN" \
  "${RECIPE[@]}" --verbose 2
$BK evaluate --model "$RUN/model" --data data/reviews/test.csv --output "$RUN/test_metrics.json"
$BK export --model "$RUN/model" --output "$EXPORTS" --name reviews

mkdir -p "$RUN"
$BK serve --model_base_path "$EXPORTS/reviews" --model_name reviews --enable_batching \
  --port "$GRPC_PORT" --rest_api_port "$REST_PORT" > "$RUN/server.log" 2>&1 &
SERVER=$!
trap 'kill -TERM $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do  # wait until a version is AVAILABLE (or the server died)
  kill -0 $SERVER 2>/dev/null || { cat "$RUN/server.log"; exit 1; }
  $BK query --model reviews --address "127.0.0.1:$GRPC_PORT" --status 2>/dev/null | grep -q AVAILABLE && break
  sleep 1
done
echo "== the server's answers over gRPC, then REST"
$BK query --model reviews --address "127.0.0.1:$GRPC_PORT" --text "${TEXTS[@]}"
$BK query --model reviews --api rest --address "http://127.0.0.1:$REST_PORT" --text "${TEXTS[@]}"
echo "== the held-out test split through the server (gRPC)"
$BK query --model reviews --address "127.0.0.1:$GRPC_PORT" --data data/reviews/test.csv
kill -TERM $SERVER
wait $SERVER
trap - EXIT
echo "server stopped; its request log: $RUN/server.log"
