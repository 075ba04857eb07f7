#!/usr/bin/env bash
# Create .venv (if missing), install bert-keras with pinned dependencies and the offline assets.
#   bash scripts/setup.sh         runtime only
#   bash scripts/setup.sh --dev   also the test/reference side (pytest, torch 2.13.0 CPU, transformers)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null
if [ "${1:-}" = "--dev" ]; then
  "${PIP[@]}" install -r requirements-dev.txt
else
  "${PIP[@]}" install -r requirements.txt
fi
"${PIP[@]}" install --no-deps --no-build-isolation -e . 2>/dev/null || "${PIP[@]}" install --no-deps -e .
bash scripts/fetch_assets.sh
