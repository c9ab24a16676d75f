#!/usr/bin/env bash
# The label-free hybrid teacher as a reranker (issue 20): BM25's and all-MiniLM-L6-v2's top 100
# fused by RRF (k = 60), then that top 100 reranked by `densify rerank --kind hybrid`
# (BM25 + the same MiniLM, min-max normalised per query, weight W on BM25), against BM25 alone,
# the base model alone and their fusion. No label is used except to score.
#   bash scripts/hybrid_rerank.sh DATASET SPLIT [OUT_DIR]
# WEIGHTS="0.3 0.5 0.7" reranks at each weight (default 0.5; choose on a dev or train split).
# Prints one row per system: nDCG@10 and Recall@100 on SPLIT. The corpus is encoded once per
# dataset (kept beside OUT_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
DATASET=${1:?usage: hybrid_rerank.sh DATASET SPLIT [OUT_DIR]}
SPLIT=${2:?usage: hybrid_rerank.sh DATASET SPLIT [OUT_DIR]}
OUT=${3:-${DENSIFY_CACHE:-$HOME/.cache/densify}/hybrid/$DATASET-$SPLIT}
WEIGHTS=${WEIGHTS:-0.5}
MODEL=$(bash scripts/fetch_minilm.sh)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/densify/target}"
cargo build --release -q -p densify-cli
BIN="$CARGO_TARGET_DIR/release/densify"
mkdir -p "$OUT"
CORPUS="$(dirname "$OUT")/$DATASET-corpus.safetensors"
if [ -d "$DATASET" ]; then ROOT=$DATASET; else ROOT=${DENSIFY_DATA:-../shared/data}/$DATASET; fi
QRELS="$ROOT/qrels/$SPLIT.tsv"
[ -f "$QRELS" ] || { echo "error: $QRELS not found (set DENSIFY_DATA)" >&2; exit 1; }
[ -f "$CORPUS" ] || "$BIN" encode --model "$MODEL" --dataset "$DATASET" --split "$SPLIT" \
  --what corpus --max-length 256 --output "$CORPUS"
"$BIN" encode --model "$MODEL" --dataset "$DATASET" --split "$SPLIT" --what queries \
  --max-length 256 --output "$OUT/queries.safetensors"
"$BIN" search --queries "$OUT/queries.safetensors" --corpus "$CORPUS" --k 100 \
  --output "$OUT/dense.trec"
"$BIN" bm25 --dataset "$DATASET" --split "$SPLIT" --k 100 --output "$OUT/bm25.trec"
"$BIN" fuse --run "$OUT/bm25.trec" --run "$OUT/dense.trec" --depth 100 --output "$OUT/fused.trec"
SYSTEMS="bm25 dense fused"
for w in $WEIGHTS; do
  /usr/bin/time -f "hybrid $w: %e s, peak RSS %M KB" "$BIN" rerank --kind hybrid \
    --bm25-weight "$w" --model "$MODEL" --dataset "$DATASET" --split "$SPLIT" \
    --run "$OUT/fused.trec" --depth 100 --corpus-embeddings "$CORPUS" --output "$OUT/hybrid-$w.trec"
  SYSTEMS="$SYSTEMS hybrid-$w"
done
echo "| $DATASET $SPLIT | nDCG@10 | Recall@100 |"
echo "|---|---|---|"
for s in $SYSTEMS; do
  "$BIN" eval --qrels "$QRELS" --run "$OUT/$s.trec" \
    -m ndcg_cut.10 -m recall.100 >"$OUT/$s.eval"
  awk -v s="$s" '$1 == "ndcg_cut_10" {n = $3} $1 == "recall_100" {r = $3} END {printf "| %s | %s | %s |\n", s, n, r}' "$OUT/$s.eval"
done
