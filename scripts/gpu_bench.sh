#!/usr/bin/env bash
# GPU figures for docs/benchmarks.md, run on a machine with an NVIDIA GPU, PyTorch and
# sentence-transformers: zero-shot SciFact test (max length 256, batch 32, cosine) with
# sentence-transformers on CUDA, then with each given densify binary on its device, printing for
# each: corpus documents/s, nDCG@10 / Recall@100, peak GPU memory (nvidia-smi, whole device), and
# the max |difference| of densify's corpus embeddings to sentence-transformers' on the same GPU.
#
#   scripts/gpu_bench.sh MODEL_DIR DATA_DIR OUT_DIR BIN=DEVICE [BIN=DEVICE ...]
#   e.g. scripts/gpu_bench.sh ~/.cache/densify/models/all-MiniLM-L6-v2 ../shared/data/scifact \
#          /tmp/gpu target-gpu/release/densify=cuda:0 target-gpu/release/densify=wgpu
#
# Binary: `cargo build --release -p densify-cli --no-default-features --features "flex wgpu tch"`
# (cuda:N is then libtorch CUDA), built against the GPU machine's PyTorch; docs/benchmarks.md
# gives the environment used for the published figures. pytrec_eval (pytrec-eval-terrier) must be
# importable for the sentence-transformers line.
set -euo pipefail
model=${1:?usage: gpu_bench.sh MODEL_DIR DATA_DIR OUT_DIR BIN=DEVICE...}
data=${2:?}
out=${3:?}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"

peak_gpu_mib() { # runs "$@" while sampling nvidia-smi; prints the peak used MiB after it ends
  local log
  log=$(mktemp)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 >"$log" &
  local smi=$!
  local rc=0
  "$@" || rc=$?
  kill "$smi" 2>/dev/null; wait "$smi" 2>/dev/null || true
  echo "peak GPU memory in use: $(sort -n "$log" | tail -1) MiB (device total, sampled every 100 ms)"
  rm -f "$log"
  return $rc
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== sentence-transformers on cuda"
HF_HUB_OFFLINE=1 ST_DEVICE=cuda ST_SAVE="$out/st.safetensors" \
  peak_gpu_mib python3 "$here/st_reference.py" scifact "$model" "$data"

for pair in "$@"; do
  bin=${pair%%=*}
  device=${pair#*=}
  name=$(echo "$device" | tr -c 'a-z0-9\n' '-')
  echo "== densify $device ($bin)"
  peak_gpu_mib "$bin" dense --model "$model" --dataset "$data" --split test --max-length 256 \
    --batch-size 32 --device "$device" --output "$out/$name.trec" --evaluate
  "$bin" encode --model "$model" --dataset "$data" --what corpus --max-length 256 \
    --batch-size 32 --device "$device" --output "$out/$name.safetensors"
  python3 "$here/st_reference.py" compare "$out/st.safetensors" "$out/$name.safetensors"
done
