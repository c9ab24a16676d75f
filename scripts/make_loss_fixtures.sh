#!/usr/bin/env bash
# Regenerates tests/fixtures/loss/reference.json with PyTorch (torch==2.9.0 in a throwaway venv;
# scipy cross-checks the SyCL trace term; sentence-transformers==6.2.0's loss classes cross-check
# the cases they define the same way).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${DENSIFY_CACHE:-$HOME/.cache/densify}/venv-torch
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.9.0 numpy scipy sentence-transformers==6.2.0
HF_HUB_OFFLINE=1 "$VENV/bin/python" scripts/loss_reference.py tests/fixtures/loss/reference.json
