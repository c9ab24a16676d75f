#!/usr/bin/env bash
# Regenerates tests/fixtures/train/minilm_mnrl_step.safetensors: the loss, embeddings and some
# parameter gradients of one sentence-transformers MultipleNegativesRankingLoss step (scale 20)
# with all-MiniLM-L6-v2 on 8 SciFact train pairs (a throwaway venv with torch and
# sentence-transformers; minutes on the first run).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DENSIFY_CACHE:-$HOME/.cache/densify}
VENV=$CACHE/venv-torch
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.9.0 numpy scipy sentence-transformers==6.2.0 safetensors
MODEL=$(bash scripts/fetch_minilm.sh)
HF_HUB_OFFLINE=1 "$VENV/bin/python" scripts/train_step_reference.py "$MODEL" ../shared/data/scifact \
  tests/fixtures/train/minilm_mnrl_step.safetensors
