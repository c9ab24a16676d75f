#!/usr/bin/env bash
# The benchmark figures of docs/benchmarks.md, side by side with the Python references, on this
# machine. Needs Python 3 with pip (a throwaway venv under the cache dir).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DENSIFY_CACHE:-$HOME/.cache/densify}
VENV=$CACHE/venv-eval
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q pytrec-eval-terrier==0.5.11 numpy
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
cargo build --release -q --examples
DIR=$(mktemp -d)
TIME="/usr/bin/time -f %MkB-peak-RSS"
echo "== evaluation: 10,000 queries x 1,000 documents =="
$TIME "$CARGO_TARGET_DIR/release/examples/bench_eval" "$DIR"
$TIME "$VENV/bin/python" scripts/bench_reference.py eval "$DIR"
echo "== exact search: 100,000 x 384 corpus, 1,000 queries, top 100, cosine =="
$TIME "$CARGO_TARGET_DIR/release/examples/bench_search" flex
$TIME "$VENV/bin/python" scripts/bench_reference.py search
echo "== losses (forward + backward) and noise =="
$TIME "$CARGO_TARGET_DIR/release/examples/bench_loss"
TORCH=$CACHE/venv-torch
[ -x "$TORCH/bin/python" ] || python3 -m venv "$TORCH"
"$TORCH/bin/pip" install -q torch==2.9.0 numpy scipy
OMP_NUM_THREADS=2 "$TORCH/bin/python" scripts/loss_reference.py bench
rm -rf "$DIR"
