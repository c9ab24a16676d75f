#!/usr/bin/env bash
# The densify-synth figures of docs/benchmarks.md, against a real llama.cpp server
# (SmolLM2-135M-Instruct, built and fetched by scripts/fetch_llama_server.sh):
#  1. queries/s at concurrency 1, 4 and 8 (question type, 32 SciFact passages each, the default
#     prompts: passage cut to 2,048 characters, 3 few-shot examples from SciFact train);
#  2. the share of answers dropped by cleaning (from the same runs and from step 3);
#  3. for 500 SciFact passages (seeded sample, one `web` query each), how many queries survive
#     each filter: round trip in BM25's top 20, round trip in the zero-shot all-MiniLM-L6-v2's
#     top 20, fusion of both runs (>= 20 candidates), teacher top-1 (the zero-shot MiniLM as a
#     bi-encoder teacher), percentile cut.
# Usage: scripts/synth_figures.sh [OUT_DIR]   (default /tmp/densify-synth-figures)
# SKIP_DENSE=1 skips the MiniLM steps (encoding SciFact's corpus takes several minutes);
# ONLY_RATE=1 stops after the concurrency figures.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/densify-synth-figures}
MODEL=$(bash scripts/fetch_minilm.sh)
eval "$(bash scripts/fetch_llama_server.sh)"
cargo build --release -q -p densify-cli
BIN="${CARGO_TARGET_DIR:-target}/release/densify"
mkdir -p "$OUT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$DENSIFY_LLAMA_SERVER" -m "$DENSIFY_LLAMA_MODEL" --host 127.0.0.1 --port "$PORT" -c 16384 -np 8 -t "$(nproc)" --no-webui \
  > "$OUT/llama-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/health" >/dev/null; do sleep 0.5; done
export OPENAI_BASE_URL="http://127.0.0.1:$PORT/v1"
echo "llama-server $(basename "$(dirname "$DENSIFY_LLAMA_SERVER")") on port $PORT, $(nproc) threads; $(date -u)"

cat > "$OUT/rate.toml" <<TOML
few_shot_split = "train"
[llm]
max_tokens = 48
TOML
# Each level gets its own passages (sample seed = the level): llama-server caches prompts per
# slot, so passages asked before would be answered from its cache.
for c in 1 4 8; do
  rm -rf "$OUT/rate-c$c"
  sed "s/^\[llm\]/[queries]\nseed = $c\n[llm]/" "$OUT/rate.toml" > "$OUT/rate-c$c.toml"
  echo "== concurrency $c"
  "$BIN" generate queries --dataset scifact --output "$OUT/rate-c$c" --config "$OUT/rate-c$c.toml" \
    --types question --limit 32 --concurrency "$c" 2>&1 | grep -E 'request|kept|http' || true
done

[[ "${ONLY_RATE:-0}" == 1 ]] && exit 0
cat > "$OUT/filters.toml" <<TOML
few_shot_split = "train"
[llm]
max_tokens = 48
concurrency = 4
[queries]
max_passages = 500
types = ["web"]
TOML
echo "== 500 passages, one web query each"
"$BIN" generate queries --dataset scifact --output "$OUT/synthetic" --config "$OUT/filters.toml" 2>&1 | tail -n 4
"$BIN" bm25 --dataset "$OUT/synthetic" --split train --k 100 --output "$OUT/bm25.trec" 2>/dev/null
stage() { # name, TOML stages
  cat > "$OUT/$1.filter.toml"
  "$BIN" filter --dataset "$OUT/synthetic" --config "$OUT/$1.filter.toml" --output "$OUT/filtered-$1" 2>&1 | grep -E '^\s+[a-z_]+ +[0-9]+ in|kept'
}
echo "== round trip, BM25 top 20"
stage bm25 <<TOML
[[stages]]
type = "round_trip"
runs = ["$OUT/bm25.trec"]
TOML
if [[ "${SKIP_DENSE:-0}" != 1 ]]; then
  if [[ ! -f "$OUT/minilm.trec" ]]; then
    "$BIN" dense --model "$MODEL" --dataset "$OUT/synthetic" --split train --k 100 \
      --passage-max-length 256 --output "$OUT/minilm.trec" 2>/dev/null
  fi
  echo "== round trip (MiniLM top 20), then BM25 top 20, fusion, teacher top-1, percentile cut"
  stage all <<TOML
[[stages]]
type = "round_trip"
runs = ["$OUT/minilm.trec"]
[[stages]]
type = "round_trip"
runs = ["$OUT/bm25.trec"]
[[stages]]
type = "fuse"
runs = ["$OUT/minilm.trec", "$OUT/bm25.trec"]
depth = 20
[[stages]]
type = "teacher"
model = "$MODEL"
kind = "bi_encoder"
[[stages]]
type = "percentile_cut"
TOML
fi
