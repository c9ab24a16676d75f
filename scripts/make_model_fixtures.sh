#!/usr/bin/env bash
# Regenerates tests/fixtures/model/*.safetensors: sentence-transformers embeddings of 50 SciFact
# passages and 50 queries with all-MiniLM-L6-v2 (a throwaway venv with torch and
# sentence-transformers; minutes on the first run).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DENSIFY_CACHE:-$HOME/.cache/densify}
VENV=$CACHE/venv-torch
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.9.0 numpy scipy sentence-transformers==6.2.0 pytrec-eval-terrier==0.5.11
MODEL=$(bash scripts/fetch_minilm.sh)
HF_HUB_OFFLINE=1 "$VENV/bin/python" scripts/st_reference.py embed "$MODEL" ../shared/data/scifact tests/fixtures/model
