#!/usr/bin/env bash
# Two densify binaries side by side on the training step of scripts/bench_train_step.sh (listwise
# KL, 8 queries x 8 passages, query length 64, passage length 256, AdamW, fp32), alternating
# A, B, A, B so machine load hits both alike: for a before/after ratio of a change.
# Usage: scripts/bench_train_ab.sh BIN_A BIN_B [DEVICE] [STEPS]
#   (default device flex, 4 steps a run; the median of the step times after the first.)
# Needs the lists of scripts/bench_train_step.sh in $OUT (default /tmp/densify-bench-train-step), which
# that script writes; run it once first.
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2 DEVICE=${3:-flex} STEPS=${4:-4}
OUT=${OUT:-/tmp/densify-bench-train-step}
MODEL=$(bash scripts/fetch_minilm.sh)
DATA=$(cd ../shared/data/scifact && pwd)
[[ -f "$OUT/lists.jsonl" ]] || { echo "run scripts/bench_train_step.sh first ($OUT/lists.jsonl)"; exit 1; }
source scripts/train_step_config.sh
run() { # label binary
  train_step_config "ab-$1" 8 "$STEPS"
  "$2" train --config "$OUT/ab-$1.toml" --device "$DEVICE" 2> "$OUT/ab-$1.log"
  median_step_seconds "$OUT/ab-$1" 0
}
echo "== $(nproc) cores, $(date -u), device $DEVICE, $STEPS steps a run"
declare -a TA TB
for round in 1 2; do
  TA+=("$(run a "$A")")
  TB+=("$(run b "$B")")
  echo "round $round: A ${TA[-1]} s/step, B ${TB[-1]} s/step"
done
python3 -c "
a=[${TA[0]},${TA[1]}]; b=[${TB[0]},${TB[1]}]
print(f'A {min(a):.2f} s/step, B {min(b):.2f} s/step (best of 2): B is {min(a)/min(b):.2f}x A')"
