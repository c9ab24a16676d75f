#!/usr/bin/env bash
# The `adapt` recipe on SciFact with all-MiniLM-L6-v2, at the recipe's defaults (no label used:
# inverse-cloze queries without an LLM, or an LLM when OPENAI_BASE_URL is set), on the CPU
# default: `scripts/recipe_scifact.sh adapt`.
#   bash scripts/recipe_adapt_scifact.sh [RUN_DIR]
set -euo pipefail
exec bash "$(dirname "$0")/recipe_scifact.sh" adapt "$@"
