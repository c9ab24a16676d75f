#!/usr/bin/env bash
# Runs the densify binary on a catalogue of bad inputs and faults and prints, per case, the exit
# status and the first line of the message: the table in docs/robustness.md.
# Usage: scripts/bad_inputs.sh [path/to/densify]   (default: builds it with cargo)
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-}
if [[ -z "$BIN" ]]; then
  cargo build -q -p densify-cli
  BIN="${CARGO_TARGET_DIR:-target}/debug/densify"
fi
MODEL=${DENSIFY_MODEL_DIR:-${DENSIFY_CACHE:-$HOME/.cache/densify}/models/all-MiniLM-L6-v2}
[[ -f "$MODEL/model.safetensors" ]] || bash scripts/fetch_minilm.sh >/dev/null
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
EDGE=tests/fixtures/eval/edge

case_() { # name, then the command
  local name=$1; shift
  local out code
  out=$("$@" 2>&1 >/dev/null); code=$?
  printf '| %s | %s | %s |\n' "$name" "$code" "$(printf '%s' "$out" | head -1 | sed "s#$T/##g; s#$T#TMPDIR#g; s#$HOME#~#g; s#|#\\\\|#g" | cut -c1-170)"
}

printf 'q1 Q0 d1 1 2.0 t\nq1 Q0 d1 2 1.0 t\n' > "$T/dup.trec"
printf 'q 0 d 99999999999\n' > "$T/grade.txt"
printf '{"_id": "a", "text": "x"}\n{"_id": "b", "text": "\xff"}\n' > "$T/corpus-utf8.jsonl"
printf '{"_id": 1.5, "text": "x"}\n' > "$T/float-id.jsonl"
mkfifo "$T/fifo.trec"
cp $EDGE/run.trec "$T/run.trec"

echo '| input | exit | message |'
echo '|---|---|---|'
case_ 'eval: run judged twice' "$BIN" eval --qrels $EDGE/qrels.txt --run "$T/dup.trec"
case_ 'eval: grade beyond i32' "$BIN" eval --qrels "$T/grade.txt" --run $EDGE/run.trec
case_ 'eval: run is a FIFO' "$BIN" eval --qrels $EDGE/qrels.txt --run "$T/fifo.trec"
case_ 'bm25: --k1=NaN' "$BIN" bm25 --dataset nq-utd --k1=NaN --output "$T/o.trec"
case_ 'bm25: --b=inf' "$BIN" bm25 --dataset nq-utd --b=inf --output "$T/o.trec"
case_ 'bm25: --k1=-1' "$BIN" bm25 --dataset nq-utd --k1=-1 --output "$T/o.trec"
case_ 'bm25: output = corpus' "$BIN" bm25 --dataset ../shared/data/nq-utd --output ../shared/data/nq-utd/corpus.jsonl
case_ 'bm25: output folder missing' "$BIN" bm25 --dataset nq-utd --output "$T/nowhere/o.trec"
case_ 'fuse: --k=-1' "$BIN" fuse --run "$T/run.trec" --k=-1 --output "$T/f.trec"
case_ 'fuse: --k=NaN' "$BIN" fuse --run "$T/run.trec" --k=NaN --output "$T/f.trec"
case_ 'fuse: output = a run' "$BIN" fuse --run "$T/run.trec" --output "$T/./run.trec"
case_ 'noise-queries: output = queries' "$BIN" noise-queries --dataset ../shared/data/nq-utd --op '{"type": "delete", "p": 0.1}' --output ../shared/data/nq-utd/queries.jsonl
case_ 'encode: --max-length 100000' "$BIN" encode --model "$MODEL" --dataset nq-utd --what queries --max-length 100000 --output "$T/q.safetensors"
case_ 'encode: --query-max-length 0' "$BIN" encode --model "$MODEL" --dataset nq-utd --what queries --query-max-length 0 --output "$T/q.safetensors"
case_ 'encode: model is not a model' "$BIN" encode --model "$T" --dataset nq-utd --what queries --output "$T/q.safetensors"
case_ 'dense: --device cuda:0 (not built)' "$BIN" dense --model "$MODEL" --dataset nq-utd --device cuda:0 --output "$T/d.trec"
case_ 'search: corpus is a FIFO' "$BIN" search --queries "$T/fifo.trec" --corpus "$T/fifo.trec" --output "$T/s.trec"
case_ 'bm25: corpus line with invalid UTF-8' bash -c "mkdir -p $T/ds/qrels && cp $T/corpus-utf8.jsonl $T/ds/corpus.jsonl && printf '{\"_id\": \"q\", \"text\": \"x\"}\n' > $T/ds/queries.jsonl && printf 'q\ta\t1\n' > $T/ds/qrels/test.tsv && $BIN bm25 --dataset $T/ds --output $T/o.trec"
case_ 'bm25: corpus _id 1.5' bash -c "cp $T/float-id.jsonl $T/ds/corpus.jsonl && $BIN bm25 --dataset $T/ds --output $T/o.trec"
case_ 'noise-queries: --op p = 1.5' "$BIN" noise-queries --dataset nq-utd --op '{"type": "delete", "p": 1.5}' --output "$T/n.jsonl"
case_ 'noise-queries: --op unknown field' "$BIN" noise-queries --dataset nq-utd --op '{"type": "delete", "q": 0.1}' --output "$T/n.jsonl"
