#!/usr/bin/env bash
# Quality run 2 of docs/results.md: all-MiniLM-L6-v2 fine-tuned on SciFact train with one hard
# negative per pair mined by densify from the zero-shot model's run (ranks 10-100 after the
# positives are removed), InfoNCE with in-batch negatives at scale 20, batch 32, 1 epoch,
# lr 2e-5, warm-up 10%, max length 256, seed 42; then the same at batch 128 with GradCache
# (mini-batches of 16). Each model is scored on SciFact test.
# Usage: scripts/train_scifact_mined.sh [OUT_DIR]   (default /tmp/densify-scifact-mined)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/densify-scifact-mined}
MODEL=${DENSIFY_MODEL_DIR:-${DENSIFY_CACHE:-$HOME/.cache/densify}/models/all-MiniLM-L6-v2}
bash scripts/fetch_minilm.sh >/dev/null
cargo build --release -q -p densify-cli
BIN="${CARGO_TARGET_DIR:-target}/release/densify"
mkdir -p "$OUT"
if [[ ! -f "$OUT/zero-shot-train.trec" ]]; then
  "$BIN" dense --model "$MODEL" --dataset scifact --split train --k 100 \
    --output "$OUT/zero-shot-train.trec"
fi
"$BIN" mine --dataset scifact --split train --run "$OUT/zero-shot-train.trec" \
  --range-min 10 --range-max 100 --num-negatives 1 --output "$OUT/mined.jsonl"

run() { # name, batch, extra TOML lines
  local name=$1 batch=$2 extra=$3
  rm -rf "$OUT/$name"
  cat > "$OUT/$name.toml" <<TOML
model = "$MODEL"
output = "$OUT/$name"
dataset = "scifact"
examples = "$OUT/mined.jsonl"
list_size = 2
batch_size = $batch
epochs = 1
seed = 42
query_max_length = 256
passage_max_length = 256
$extra

[loss]
type = "info_nce"
temperature = 0.05

[optimizer]
learning_rate = 2e-5
warmup_ratio = 0.1
max_grad_norm = 1.0
TOML
  echo "== $name"
  /usr/bin/time -f "peak RSS %M KB, wall %e s" "$BIN" train --config "$OUT/$name.toml"
  "$BIN" dense --model "$OUT/$name/final" --dataset scifact --split test --k 100 \
    --output "$OUT/$name.trec" --evaluate | grep -E "ndcg_cut_10 |recall_100 "
}
# SKIP_B32=1 runs only the GradCache model.
[[ -n "${SKIP_B32:-}" ]] || run mined-b32 32 ""
run mined-b128-gradcache 128 "grad_cache_mini_batch = 16"
