#!/usr/bin/env bash
# Regenerates tests/fixtures/eval/*.json: pytrec_eval reference values for densify's parity tests.
# Needs Python 3 with pip (a throwaway venv is made under the cache dir) and ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DENSIFY_CACHE:-$HOME/.cache/densify}
VENV=$CACHE/venv-eval
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q pytrec-eval-terrier==0.5.11 numpy
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CACHE/target}
cargo build --release -q -p densify-cli
DENSIFY=$CARGO_TARGET_DIR/release/densify
TMP=$(mktemp -d)
OUT=tests/fixtures/eval
for ds in scifact nfcorpus; do
  "$DENSIFY" bm25 --dataset "$ds" --split test --k 1000 --output "$TMP/$ds.trec"
  "$VENV/bin/python" scripts/pytrec_eval_reference.py --qrels "../shared/data/$ds/qrels/test.tsv" \
    --run "$TMP/$ds.trec" --out "$OUT/$ds-test-bm25.json"
done
"$VENV/bin/python" scripts/pytrec_eval_reference.py --qrels $OUT/edge/qrels.txt \
  --run $OUT/edge/run.trec --out $OUT/edge/reference.json --mrr 1 2 10
rm -rf "$TMP"
ls -la $OUT $OUT/edge
