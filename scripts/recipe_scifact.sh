#!/usr/bin/env bash
# A recipe on SciFact with all-MiniLM-L6-v2 at the recipe's defaults (its --print-config
# template with the model and run folder filled in), on the CPU default. Prints the table; the
# run folder keeps manifest.json with each stage's time and memory. Re-running resumes or skips
# what is done.
#   bash scripts/recipe_scifact.sh RECIPE [RUN_DIR]     (RECIPE: adapt, noisy_self_training)
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=${1:?usage: recipe_scifact.sh RECIPE [RUN_DIR]}
RUN=${2:-${DENSIFY_CACHE:-$HOME/.cache/densify}/runs/scifact-$RECIPE}
MODEL=$(bash scripts/fetch_minilm.sh)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/densify/target}"
cargo build --release -q -p densify-cli
mkdir -p "$(dirname "$RUN")"
CONFIG="$(dirname "$RUN")/$(basename "$RUN").toml"
"$CARGO_TARGET_DIR/release/densify" recipe --print-config "$RECIPE" \
  | sed -e "0,/^model = /s|^model = .*|model = \"$MODEL\"|" -e "0,/^output = /s|^output = .*|output = \"$RUN\"|" > "$CONFIG"
/usr/bin/time -v "$CARGO_TARGET_DIR/release/densify" recipe run "$CONFIG"
"$CARGO_TARGET_DIR/release/densify" recipe status "$RUN"
