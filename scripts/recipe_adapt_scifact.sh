#!/usr/bin/env bash
# The `adapt` recipe on SciFact with all-MiniLM-L6-v2, at the recipe's defaults (no label used:
# inverse-cloze queries without an LLM, or an LLM when OPENAI_BASE_URL is set), on the CPU
# default. Prints the before/after table; the run folder keeps manifest.json with each stage's
# time and memory. Re-running resumes or skips what is done.
#   bash scripts/recipe_adapt_scifact.sh [RUN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-${DENSIFY_CACHE:-$HOME/.cache/densify}/runs/scifact-adapt}
MODEL=$(bash scripts/fetch_minilm.sh)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/densify/target}"
cargo build --release -q -p densify-cli
mkdir -p "$(dirname "$RUN")"
CONFIG="$(dirname "$RUN")/$(basename "$RUN").toml"
"$CARGO_TARGET_DIR/release/densify" recipe --print-config adapt \
  | sed -e "0,/^model = /s|^model = .*|model = \"$MODEL\"|" -e "0,/^output = /s|^output = .*|output = \"$RUN\"|" > "$CONFIG"
/usr/bin/time -v "$CARGO_TARGET_DIR/release/densify" recipe run "$CONFIG"
"$CARGO_TARGET_DIR/release/densify" recipe status "$RUN"
