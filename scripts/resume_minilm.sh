#!/usr/bin/env bash
# Quality 4 of docs/results.md: exact resume on a real model. all-MiniLM-L6-v2 on SciFact train
# pairs (quality 1's settings: InfoNCE at scale 20, batch 32, lr 2e-5, warm-up 10%, max length
# 256, seed 42, dropout on), 20 optimizer steps, checkpoints every 10. Run A goes straight
# through; run B is killed with SIGKILL as soon as its step-10 checkpoint exists and then
# continued with --resume. The two final models must be byte-identical.
# Usage: scripts/resume_minilm.sh [OUT_DIR]   (default /tmp/densify-resume-minilm)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/densify-resume-minilm}
MODEL=$(bash scripts/fetch_minilm.sh)
cargo build --release -q -p densify-cli
BIN="${CARGO_TARGET_DIR:-target}/release/densify"
rm -rf "$OUT"; mkdir -p "$OUT"
config() { # name
  cat > "$OUT/$1.toml" <<TOML
model = "$MODEL"
output = "$OUT/$1"
dataset = "scifact"
split = "train"
batch_size = 32
epochs = 1
max_steps = 20
checkpoint_every = 10
seed = 42
query_max_length = 256
passage_max_length = 256
[loss]
type = "info_nce"
temperature = 0.05
[optimizer]
learning_rate = 2e-5
warmup_ratio = 0.1
TOML
}
config straight; config killed
echo "== run A: 20 steps straight"
"$BIN" train --config "$OUT/straight.toml" 2>&1 | tail -n 1
echo "== run B: killed after its step-10 checkpoint"
"$BIN" train --config "$OUT/killed.toml" > "$OUT/killed.log" 2>&1 &
PID=$!
until [[ -d "$OUT/killed/checkpoints/step-00000010" ]]; do
  kill -0 $PID 2>/dev/null || { echo "run B ended before its checkpoint"; exit 1; }
  sleep 0.2
done
kill -9 $PID; wait $PID 2>/dev/null || true
echo "killed at $(grep -c '"kind":"step"' "$OUT/killed/metrics.jsonl" || true) logged steps; checkpoints: $(ls "$OUT/killed/checkpoints" | tr '\n' ' ')"
"$BIN" train --config "$OUT/killed.toml" --resume 2>&1 | tail -n 1
A=$(sha256sum < "$OUT/straight/final/model.safetensors" | cut -c1-64)
B=$(sha256sum < "$OUT/killed/final/model.safetensors" | cut -c1-64)
echo "run A final model sha256 $A"
echo "run B final model sha256 $B"
if [[ "$A" == "$B" ]]; then echo "bit-identical: yes"; else echo "bit-identical: NO"; exit 1; fi
