#!/usr/bin/env bash
# Issue 20's generation-throughput comparison, side by side in one run on one machine: queries/s
# of `densify generate queries` (question type, 32 SciFact passages per level, at most 48 new
# tokens) against a real llama.cpp server for each prompt layout and each small LLM, through
# scripts/synth_figures.sh (ONLY_RATE=1). Variants, in this order:
#   smollm2              SmolLM2-135M-Instruct, chat endpoint, the shipped prompts (3 few-shot
#                        examples drawn per passage, passage cut to 2,048 characters);
#   smollm2-fixed        the same with one few-shot set per query type (prompts.fixed_examples),
#                        so llama-server's prompt cache computes only the passage;
#   smollm2-fixed-1024   and passages cut to 1,024 characters;
#   gemma3, gemma3-fixed Gemma 3 270M (pretrained, no chat template: completions endpoint).
# Prints one row per (variant, concurrency): seconds, queries/s, kept by cleaning.
#   bash scripts/synth_rate_compare.sh [OUT_DIR]   (default /tmp/densify-synth-rate)
# VARIANTS="smollm2 smollm2-fixed" picks a subset; LEVELS (default "1 4") the concurrencies.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/densify-synth-rate}
VARIANTS=${VARIANTS:-smollm2 smollm2-fixed smollm2-fixed-1024 gemma3 gemma3-fixed}
export LEVELS=${LEVELS:-1 4} ONLY_RATE=1
mkdir -p "$OUT"
for v in $VARIANTS; do
  knobs=(VARIANT="$v")
  [[ $v == gemma3* ]] && knobs+=(LLM=gemma3 ENDPOINT=completions)
  [[ $v == *-fixed* ]] && knobs+=(FIXED_EXAMPLES=1)
  [[ $v == *-1024 ]] && knobs+=(PASSAGE_CHARS=1024)
  env "${knobs[@]}" bash scripts/synth_figures.sh "$OUT/$v" > "$OUT/$v.log" 2>&1
done
printf '%-20s %11s %8s %10s %5s\n' variant concurrency seconds queries/s kept
for v in $VARIANTS; do
  awk -v v="$v" '
    /^== concurrency/ {c = $3; s = "-"; r = "-"}
    /request\(s\) in/ {s = $4; r = $6; gsub(/[()\/s;]/, "", r)}
    $2 == "kept" && c != "" {printf "%-20s %11s %8s %10s %5s\n", v, c, s, r, $3; c = ""}
  ' "$OUT/$v.log"
done
