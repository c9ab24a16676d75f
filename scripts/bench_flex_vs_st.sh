#!/usr/bin/env bash
# Encoding speed of the pure-Rust default (flex) against sentence-transformers, side by side in
# one run on this machine: the SciFact corpus (5,183 documents, max length 256, batch 32) with
# all-MiniLM-L6-v2, then the same with densify's bench_encode example. Peak RSS from
# /usr/bin/time. Needs the venv of scripts/make_model_fixtures.sh (torch 2.9.0,
# sentence-transformers 6.2.0). About 15 minutes on 2 cores; run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DENSIFY_CACHE:-$HOME/.cache/densify}
VENV=$CACHE/venv-torch
MODEL=$(bash scripts/fetch_minilm.sh)
DATA=${DENSIFY_DATA:-../shared/data}
cargo build --release --example bench_encode >&2
BIN=${CARGO_TARGET_DIR:-target}/release/examples/bench_encode
echo "== sentence-transformers (torch threads: ${OMP_NUM_THREADS:-all})"
HF_HUB_OFFLINE=1 /usr/bin/time -f "peak RSS %M KB, %e s" \
  "$VENV/bin/python" scripts/st_reference.py scifact "$MODEL" "$DATA/scifact"
echo "== densify flex"
/usr/bin/time -f "peak RSS %M KB, %e s" "$BIN" flex "$MODEL"
