#!/usr/bin/env bash
# Issue 22: the labels-only fine-tune over several seeds, densify and sentence-transformers side
# by side on one machine. Each seed: all-MiniLM-L6-v2 fine-tuned on SciFact's 919 train pairs
# (InfoNCE / MNRL at scale 20, batch 32, 1 epoch, lr 2e-5, warm-up 10 %, max length 256), then
# SciFact test nDCG@10 and Recall@100:
#   - densify with each sampler in SAMPLERS (default "shuffled no_duplicates");
#   - sentence-transformers 6.2.0 with BatchSamplers.NO_DUPLICATES (scripts/st_mnrl_scifact.py
#     --no-duplicates --seed N), in the venv of scripts/bench_train_step.sh (torch 2.9.0, transformers 5.25.0;
#     sentence-transformers, datasets, accelerate and pytrec_eval installed here when missing).
# Prints one row per (tool, seed) and then mean and sample standard deviation per tool; every
# figure is also kept in OUT/seeds.tsv.
#   bash scripts/seeds_scifact.sh [OUT_DIR] [SEEDS]     (default /tmp/densify-seeds, "42 43 44 45 46")
# SKIP_ST=1 runs densify only. About 8 minutes per seed and tool on 2 cores (training and the
# corpus encode of the evaluation).
# DATASET=nfcorpus runs the same on another BEIR dataset (train -> test, the same settings).
# TRAIN_PAIRS=N trains both tools on N judged train pairs drawn once, seeded (Python's
# random.Random(0).sample over the pairs sorted by (query id, doc id)), the same N pairs for every
# seed and tool: NFCorpus's train split has 110,575 pairs (3,456 steps of 32, about 11 hours per
# run on 2 cores). The subsample is a BEIR folder OUT/DATASET-N-pairs whose corpus, queries and
# dev/test qrels link to the dataset's own; only qrels/train.tsv is new.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/densify-seeds}
SEEDS=${2:-42 43 44 45 46}
SAMPLERS=${SAMPLERS:-shuffled no_duplicates}
DATASET=${DATASET:-scifact}
CACHE=${DENSIFY_CACHE:-$HOME/.cache/densify}
MODEL=$(bash scripts/fetch_minilm.sh)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"
cargo build --release -q -p densify-cli
BIN=$CARGO_TARGET_DIR/release/densify
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DATA=${DENSIFY_DATA:-../shared/data}/$DATASET
[ -f "$DATA/corpus.jsonl" ] || { echo "error: $DATA/corpus.jsonl not found (set DENSIFY_DATA)" >&2; exit 1; }
DATA=$(cd "$DATA" && pwd)
if [[ -n "${TRAIN_PAIRS:-}" ]]; then
  SUB=$OUT/$DATASET-$TRAIN_PAIRS-pairs
  mkdir -p "$SUB/qrels"
  ln -sf "$DATA/corpus.jsonl" "$SUB/corpus.jsonl"
  ln -sf "$DATA/queries.jsonl" "$SUB/queries.jsonl"
  for split in "$DATA"/qrels/*.tsv; do
    [ "$(basename "$split")" = train.tsv ] || ln -sf "$split" "$SUB/qrels/$(basename "$split")"
  done
  python3 - "$DATA/qrels/train.tsv" "$TRAIN_PAIRS" "$SUB/qrels/train.tsv" <<'PY'
import random, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")]
rows = sorted((q, d, g) for q, d, g in rows[1:] if int(g) > 0)
n = int(sys.argv[2])
if n > len(rows):
    sys.exit(f"TRAIN_PAIRS={n} but {sys.argv[1]} has {len(rows)} judged pairs")
sample = sorted(random.Random(0).sample(rows, n))
with open(sys.argv[3] + ".tmp", "w", encoding="utf-8") as f:
    f.write("query-id\tcorpus-id\tscore\n")
    f.writelines(f"{q}\t{d}\t{g}\n" for q, d, g in sample)
import os; os.replace(sys.argv[3] + ".tmp", sys.argv[3])
print(f"{n} of {len(rows)} train pairs ({len({q for q, _, _ in sample})} queries) -> {sys.argv[3]}")
PY
  DATA=$SUB
fi
TSV=$OUT/seeds.tsv
printf 'tool\tseed\tndcg@10\trecall@100\ttrain_seconds\tpeak_rss_kb\n' > "$TSV"

rss() { grep "Maximum resident" "$1" | awk '{print $NF}'; }

for seed in $SEEDS; do
  for sampler in $SAMPLERS; do
    run=$OUT/densify-$sampler-$seed
    rm -rf "$run"
    cat > "$run.toml" <<TOML
model = "$MODEL"
output = "$run"
dataset = "$DATA"
split = "train"
batch_size = 32
epochs = 1
seed = $seed
query_max_length = 256
passage_max_length = 256
batch_sampler = "$sampler"

[loss]
type = "info_nce"
temperature = 0.05

[optimizer]
learning_rate = 2e-5
warmup_ratio = 0.1
weight_decay = 0.0
max_grad_norm = 1.0
TOML
    /usr/bin/time -v "$BIN" train --config "$run.toml" 2> "$run-train.log" >/dev/null
    "$BIN" dense --model "$run/final" --dataset "$DATA" --split test --k 100 \
      --output "$run.trec" --evaluate > "$run-eval.txt"
    ndcg=$(awk '$1 == "ndcg_cut_10" {print $NF}' "$run-eval.txt")
    recall=$(awk '$1 == "recall_100" {print $NF}' "$run-eval.txt")
    seconds=$(grep -o '^train: [0-9]* steps in [0-9.]* s' "$run-train.log" | awk '{print $(NF-1)}')
    printf 'densify-%s\t%s\t%s\t%s\t%s\t%s\n' "$sampler" "$seed" "$ndcg" "$recall" "$seconds" \
      "$(rss "$run-train.log")" | tee -a "$TSV"
  done
  if [[ -z "${SKIP_ST:-}" ]]; then
    VENV=$CACHE/venv-torch
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/python" -c 'import sentence_transformers, datasets, accelerate, pytrec_eval' 2>/dev/null ||
      "$VENV/bin/pip" install -q torch==2.9.0 transformers==5.25.0 sentence-transformers==6.2.0 datasets==5.2.0 \
        accelerate==1.15.0 pytrec_eval-terrier==0.5.11
    log=$OUT/st-$seed.log
    HF_HUB_OFFLINE=1 /usr/bin/time -v "$VENV/bin/python" scripts/st_mnrl_scifact.py \
      --model "$MODEL" --data "$DATA" --seed "$seed" --no-duplicates > "$log" 2>&1
    result=$(grep '^{"ndcg' "$log" | tail -1)
    printf 'st-no_duplicates\t%s\t%s\t%s\t%s\t%s\n' "$seed" \
      "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ndcg@10"])' "$result")" \
      "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["recall@100"])' "$result")" \
      "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["train_seconds"])' "$result")" \
      "$(rss "$log")" | tee -a "$TSV"
  fi
done

echo "== mean and sample standard deviation of nDCG@10 per tool ($(nproc) cores)"
python3 - "$TSV" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
for tool in dict.fromkeys(r["tool"] for r in rows):
    ndcg = [float(r["ndcg@10"]) for r in rows if r["tool"] == tool]
    recall = [float(r["recall@100"]) for r in rows if r["tool"] == tool]
    sd = statistics.stdev(ndcg) if len(ndcg) > 1 else float("nan")
    print(f"{tool}: nDCG@10 mean {statistics.mean(ndcg):.4f} sd {sd:.4f} over {len(ndcg)} seeds "
          f"({', '.join(f'{x:.4f}' for x in ndcg)}); Recall@100 mean {statistics.mean(recall):.4f}")
PY
