#!/usr/bin/env bash
# Runs the sentence-transformers parity test (tests/model_parity.rs) on other burn backends:
#   scripts/backend_parity.sh tch      libtorch on CPU (torch==2.9.0 from PyPI in a venv)
#   scripts/backend_parity.sh ndarray  burn's ndarray backend
#   scripts/backend_parity.sh wgpu     wgpu (software Vulkan from Debian's mesa-vulkan-drivers
#                                      on a machine without a GPU)
# Each builds into its own target dir under the cache (first build: minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${DENSIFY_CACHE:-$HOME/.cache/densify}
backend=${1:?usage: backend_parity.sh tch|ndarray|wgpu}
bash scripts/fetch_minilm.sh >/dev/null
export CARGO_TARGET_DIR=$CACHE/target-$backend
case "$backend" in
  tch)
    VENV=$CACHE/venv-torch
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q torch==2.9.0
    export PATH="$VENV/bin:$PATH" LIBTORCH_USE_PYTORCH=1
    TORCH_LIB=$("$VENV/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__) + "/lib")')
    export LD_LIBRARY_PATH="$TORCH_LIB:${LD_LIBRARY_PATH:-}" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
    device=tch-cpu ;;
  ndarray) device=ndarray ;;
  wgpu)
    if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
      apt-get update -qq && apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
    fi
    device=wgpu ;;
  *) echo "unknown backend $backend" >&2; exit 2 ;;
esac
LOG=$(mktemp)
if DENSIFY_TEST_DEVICE=$device cargo test --release --no-default-features --features "flex $backend" \
  --test model_parity -- --nocapture >"$LOG" 2>&1; then
  grep -E "device:|max \||test result" "$LOG"
else
  tail -40 "$LOG"
  exit 1
fi
if [ "${BENCH:-0}" = 1 ]; then
  cargo build --release --no-default-features --features "flex $backend" --example bench_encode
  /usr/bin/time -f "%MkB peak RSS" "$CARGO_TARGET_DIR/release/examples/bench_encode" "$device"
fi
