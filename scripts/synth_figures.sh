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
# Knobs for the throughput comparisons of docs/benchmarks.md (defaults: the shipped prompts):
#   LEVELS="1 4"        concurrency levels of step 1 (default "1 4 8");
#   FIXED_EXAMPLES=1    one few-shot set per query type for the run (`prompts.fixed_examples`),
#                       so the server's prompt cache computes only the passage;
#   PASSAGE_CHARS=N     passages cut to N characters (`prompts.max_passage_chars`, default 2048);
#   LLM=gemma3          Gemma 3 270M instead of SmolLM2-135M-Instruct (fetched with FETCH_GEMMA=1);
#   ENDPOINT=completions  the plain completions endpoint (for a model without a chat template),
#                       stopping at a blank line or the next "Passage:".
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/densify-synth-figures}
MODEL=$(bash scripts/fetch_minilm.sh)
if [[ "${LLM:-smollm2}" == gemma3 ]]; then
  eval "$(FETCH_GEMMA=1 bash scripts/fetch_llama_server.sh)"
  DENSIFY_LLAMA_MODEL=$DENSIFY_GEMMA_MODEL
else
  eval "$(bash scripts/fetch_llama_server.sh)"
fi
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
echo "llama-server $(basename "$(dirname "$DENSIFY_LLAMA_SERVER")") on port $PORT, $(nproc) threads, $(basename "$DENSIFY_LLAMA_MODEL"); $(date -u)"

PROMPTS="[prompts]
fixed_examples = $([[ "${FIXED_EXAMPLES:-0}" == 1 ]] && echo true || echo false)
max_passage_chars = ${PASSAGE_CHARS:-2048}"
LLM_TABLE="[llm]
max_tokens = 48
endpoint = \"${ENDPOINT:-chat}\""
# A pretrained model continues the few-shot pattern past its answer: stop at the next example.
[[ "${ENDPOINT:-chat}" == completions ]] && LLM_TABLE+='
stop = ["\n\n", "\nPassage:"]'
cat > "$OUT/rate.toml" <<TOML
few_shot_split = "train"
$PROMPTS
$LLM_TABLE
TOML
# Each level gets its own passages (sample seed = the level): llama-server caches prompts per
# slot, so passages asked before would be answered from its cache.
for c in ${LEVELS:-1 4 8}; do
  rm -rf "$OUT/rate-c$c"
  sed "s/^\[llm\]/[queries]\nseed = $c\n[llm]/" "$OUT/rate.toml" > "$OUT/rate-c$c.toml"
  echo "== concurrency $c"
  "$BIN" generate queries --dataset scifact --output "$OUT/rate-c$c" --config "$OUT/rate-c$c.toml" \
    --types question --limit 32 --concurrency "$c" 2>&1 | grep -E 'request|kept|http' || true
done

[[ "${ONLY_RATE:-0}" == 1 ]] && exit 0
cat > "$OUT/filters.toml" <<TOML
few_shot_split = "train"
$PROMPTS
$LLM_TABLE
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
