#!/usr/bin/env bash
# Create .venv (if missing) and install bert-keras with pinned dependencies and the offline assets.
#   bash scripts/setup.sh         runtime only
#   bash scripts/setup.sh --dev   also the test/reference side (pytest, torch 2.13.0 CPU, transformers)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
pip_install() {
  # This machine's pip configuration lists local wheel folders that may be absent: hide those warnings only.
  .venv/bin/python -m pip --disable-pip-version-check -q install "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }
}
pip_install --upgrade pip
if [ "${1:-}" = "--dev" ]; then
  pip_install -r requirements-dev.txt
else
  pip_install -r requirements.txt
fi
pip_install --no-deps -e .
VENV_PYTHON=.venv/bin/python bash scripts/fetch_assets.sh
