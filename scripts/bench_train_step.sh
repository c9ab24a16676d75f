#!/usr/bin/env bash
# densify's training-step benchmark (docs/benchmarks.md): listwise KL distillation (teacher
# temperature 0.3, student 0.05) on all-MiniLM-L6-v2, 8 queries x 8 passages per step, query
# length 64, passage length 256, AdamW (lr 2e-5), fp32, dropout on, on flex, ndarray and
# tch-CPU through `densify train`, side by side with the same loop in PyTorch
# (scripts/train_step_bench.py), in one run on this machine. Seconds per step are the median of
# steps 3 to 7 (from metrics.jsonl); peak RSS is /usr/bin/time's. Then GradCache's peak RSS at
# 64 queries x 8 passages (mini-batches of 8 queries), flex, 1 step.
# Usage: scripts/bench_train_step.sh [OUT_DIR]   (default /tmp/densify-bench-train-step)
# BACKENDS="flex ndarray tch-cpu" selects the densify backends (tch needs torch==2.9.0 in the
# venv, as scripts/backend_parity.sh sets up; the build goes to its own target dir).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/densify-bench-train-step}
CACHE=${DENSIFY_CACHE:-$HOME/.cache/densify}
BACKENDS=${BACKENDS:-flex ndarray tch-cpu}
MODEL=$(bash scripts/fetch_minilm.sh)
VENV=$CACHE/venv-torch
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.9.0 transformers
export PATH="$VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
TORCH_LIB=$("$VENV/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__) + "/lib")')
export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}"
FEATURES=flex
[[ " $BACKENDS " == *" ndarray "* ]] && FEATURES="$FEATURES,ndarray"
[[ " $BACKENDS " == *" tch-cpu "* ]] && FEATURES="$FEATURES,tch"
export CARGO_TARGET_DIR=$CACHE/target-bench
cargo build --release -q -p densify-cli --features "$FEATURES"
BIN=$CARGO_TARGET_DIR/release/densify
mkdir -p "$OUT"
DATA=$(python3 -c 'import sys; from pathlib import Path; print(next(p for p in [Path("../shared/data/scifact")] if p.exists()).resolve())')
# 64 lists: SciFact train queries, 8 seeded random documents each, random teacher scores.
python3 - "$DATA" "$OUT/lists.jsonl" <<'PY'
import json, random, sys
data, out = sys.argv[1:3]
random.seed(42)
ids = [json.loads(l)["_id"] for l in open(f"{data}/corpus.jsonl")]
queries = [json.loads(l) for l in open(f"{data}/queries.jsonl")]
train = {l.split("\t")[0] for l in list(open(f"{data}/qrels/train.tsv"))[1:]}
queries = [q for q in queries if str(q["_id"]) in train][:512]
with open(out, "w") as f:
    for q in queries:
        docs = random.sample(ids, 8)
        f.write(json.dumps({"query_id": str(q["_id"]), "query": q["text"],
            "candidates": [{"doc_id": str(d), "teacher": round(random.uniform(-5, 5), 3)} for d in docs]}) + "\n")
PY
source scripts/train_step_config.sh
echo "== $(nproc) cores, $(date -u)"
for backend in $BACKENDS; do
  train_step_config "kl-$backend" 8 7
  /usr/bin/time -f "%M" -o "$OUT/kl-$backend.rss" "$BIN" train --config "$OUT/kl-$backend.toml" --device "$backend" 2> "$OUT/kl-$backend.log"
  echo "{\"backend\": \"densify $backend\", \"seconds_per_step\": $(median_step_seconds "$OUT/kl-$backend" 1), \"peak_rss_mb\": $(( $(cat "$OUT/kl-$backend.rss") / 1024 ))}"
done
"$VENV/bin/python" scripts/train_step_bench.py "$MODEL" "$OUT/lists.jsonl" "$DATA/corpus.jsonl" 7 2> "$OUT/pytorch.log"
# PyTorch again with glibc's malloc set as the densify binary sets it for itself
# (crates/densify-cli/src/malloc.rs), so the comparison also shows what those settings give it.
MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647 MALLOC_TOP_PAD_=268435456 \
  BENCH_LABEL=", glibc malloc as densify sets it" \
  "$VENV/bin/python" scripts/train_step_bench.py "$MODEL" "$OUT/lists.jsonl" "$DATA/corpus.jsonl" 7 2> "$OUT/pytorch-malloc.log"
train_step_config gradcache-64x8 64 1 "grad_cache_mini_batch = 8"
/usr/bin/time -f "%M" -o "$OUT/gradcache.rss" "$BIN" train --config "$OUT/gradcache-64x8.toml" 2> "$OUT/gradcache.log"
echo "{\"backend\": \"densify flex, GradCache 64 x 8 (mini-batch 8)\", \"seconds_per_step\": $(python3 -c "import json; s=[json.loads(l) for l in open('$OUT/gradcache-64x8/metrics.jsonl') if '\"kind\":\"step\"' in l]; print(round(s[-1]['seconds']/len(s),1))"), \"peak_rss_mb\": $(( $(cat "$OUT/gradcache.rss") / 1024 ))}"
