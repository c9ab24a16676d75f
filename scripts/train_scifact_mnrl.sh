#!/usr/bin/env bash
# Quality run 1 of docs/results.md, densify and sentence-transformers side by side in one run:
# fine-tune all-MiniLM-L6-v2 on SciFact train (919 (query, positive) pairs, InfoNCE / MNRL at
# scale 20 with in-batch negatives, batch 32, 1 epoch, lr 2e-5, warm-up 10%, max length 256,
# seed 42), then SciFact test nDCG@10 / Recall@100 of each fine-tuned model.
# Usage: scripts/train_scifact_mnrl.sh [OUT_DIR]   (default /tmp/densify-scifact-mnrl)
# Set SKIP_ST=1 to run densify only; TCH=1 also trains on libtorch's CPU backend (--device
# tch-cpu, torch 2.9.0 from the venv of scripts/bench_train_step.sh) after flex.
# BATCH_SAMPLER=no_duplicates trains densify with sentence-transformers' NO_DUPLICATES batches
# (default: shuffled), and sentence-transformers with BatchSamplers.NO_DUPLICATES.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/densify-scifact-mnrl}
MODEL=${DENSIFY_MODEL_DIR:-${DENSIFY_CACHE:-$HOME/.cache/densify}/models/all-MiniLM-L6-v2}
bash scripts/fetch_minilm.sh >/dev/null
cargo build --release -q -p densify-cli
BIN="${CARGO_TARGET_DIR:-target}/release/densify"
mkdir -p "$OUT"
rm -rf "$OUT/densify"
cat > "$OUT/train.toml" <<TOML
model = "$MODEL"
output = "$OUT/densify"
dataset = "scifact"
split = "train"
batch_size = 32
epochs = 1
seed = 42
query_max_length = 256
passage_max_length = 256
batch_sampler = "${BATCH_SAMPLER:-shuffled}"

[loss]
type = "info_nce"
temperature = 0.05

[optimizer]
learning_rate = 2e-5
warmup_ratio = 0.1
weight_decay = 0.0
max_grad_norm = 1.0
TOML
echo "== densify ($(nproc) cores)"
/usr/bin/time -v "$BIN" train --config "$OUT/train.toml" 2> >(tee "$OUT/densify-train.log" >&2)
"$BIN" dense --model "$OUT/densify/final" --dataset scifact --split test --k 100 \
  --output "$OUT/densify.trec" --evaluate | tee "$OUT/densify-eval.txt"
if [[ -n "${TCH:-}" ]]; then
  echo "== densify on tch-cpu"
  VENV=${DENSIFY_CACHE:-$HOME/.cache/densify}/venv-torch
  TORCH_LIB=$("$VENV/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__) + "/lib")')
  TCH_BIN=${DENSIFY_CACHE:-$HOME/.cache/densify}/target-bench/release/densify
  PATH="$VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1 CARGO_TARGET_DIR=$(dirname "$(dirname "$TCH_BIN")") \
    cargo build --release -q -p densify-cli --features flex,tch
  rm -rf "$OUT/densify-tch"
  sed "s#^output = .*#output = \"$OUT/densify-tch\"#" "$OUT/train.toml" > "$OUT/train-tch.toml"
  LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}" /usr/bin/time -v "$TCH_BIN" train \
    --config "$OUT/train-tch.toml" --device tch-cpu 2> >(tee "$OUT/densify-tch-train.log" >&2)
  "$BIN" dense --model "$OUT/densify-tch/final" --dataset scifact --split test --k 100 \
    --output "$OUT/densify-tch.trec" --evaluate | tee "$OUT/densify-tch-eval.txt"
fi
if [[ -z "${SKIP_ST:-}" ]]; then
  echo "== sentence-transformers"
  HF_HUB_OFFLINE=1 /usr/bin/time -v "$HOME/.cache/densify/venv-torch/bin/python" \
    scripts/st_mnrl_scifact.py --model "$MODEL" --save "$OUT/st" \
    ${BATCH_SAMPLER:+$([ "$BATCH_SAMPLER" = no_duplicates ] && echo --no-duplicates)} 2>&1 | tee "$OUT/st.log" | grep -v "it/s\]" | tail -30
fi
echo "== summary"
grep -E "^train:|Maximum resident" "$OUT/densify-train.log" || true
grep -E "ndcg_cut_10 |recall_100 " "$OUT/densify-eval.txt" || true
if [[ -n "${TCH:-}" ]]; then
  echo "tch-cpu:"
  grep -E "^train:|Maximum resident" "$OUT/densify-tch-train.log" || true
  grep -E "ndcg_cut_10 |recall_100 " "$OUT/densify-tch-eval.txt" || true
fi
[[ -f "$OUT/st.log" ]] && grep -E '^\{"ndcg|Maximum resident' "$OUT/st.log" || true
