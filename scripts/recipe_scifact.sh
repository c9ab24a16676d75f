#!/usr/bin/env bash
# A recipe on SciFact with all-MiniLM-L6-v2 at the recipe's defaults (its --print-config
# template with the model and run folder filled in), on the CPU default. Prints the table; the
# run folder keeps manifest.json with each stage's time and memory. Re-running resumes or skips
# what is done.
#   bash scripts/recipe_scifact.sh RECIPE [RUN_DIR]
# RECIPE: adapt, noisy_self_training, listwise_distillation, graded.
# listwise_distillation's teacher: TEACHER=DIR (TEACHER_KIND=cross_encoder or bi_encoder,
# default bi_encoder); without TEACHER, all-MiniLM-L6-v2 fine-tuned on SciFact's train labels
# (`densify train` at its defaults: InfoNCE, batch 32, one epoch) into RUN_DIR-teacher first.
# graded: the llama.cpp server and SmolLM2-135M-Instruct of scripts/fetch_llama_server.sh,
# started and stopped by the recipe ([server] appended to the template).
# adapt: QUERIES_SPLIT=train uses the texts of SciFact's train queries, without their labels,
# in place of synthetic queries ([queries] appended to the template).
# LEARNING_RATE=X sets [train.optimizer] learning_rate (the student's) in the template.
# TITLE_QUERIES=1: inverse cloze takes each passage's title as its query (title_as_query).
# adapt: LLM=gemma3 (or LLM=smollm2) writes the queries with llama.cpp's server, which the
# recipe starts and stops ([server] appended; FETCH_GEMMA=1 scripts/fetch_llama_server.sh
# fetches Gemma 3 270M): few-shot examples from NQ-UTD's labelled pairs, so no label of
# DATASET is read (InPars' use of MS MARCO's), one example set for the run and passages cut to
# 1,024 characters (the fastest settings of docs/benchmarks.md), Gemma (pretrained, no chat
# template) on the completions endpoint. QUERY_TYPES='"question", "claim"' sets the types
# (default "question"), PASSAGES=N the passages sampled (default the template's 1000).
# DATASET=NAME runs the recipe on another BEIR dataset (default scifact; the run folder is then
# named after it); MAX_QUERIES=N keeps the first N of QUERIES_SPLIT's queries.
# noisy_self_training: ITERATIONS=N sets iterate.max_iterations, DEV_SPLIT=S iterate.dev_split
# (a split with qrels other than train, e.g. NFCorpus's dev), which stops the loop and picks
# the student kept.
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=${1:?usage: recipe_scifact.sh RECIPE [RUN_DIR]}
SERVER_MODEL=
DATASET=${DATASET:-scifact}
RUN=${2:-${DENSIFY_CACHE:-$HOME/.cache/densify}/runs/$DATASET-$RECIPE}
MODEL=$(bash scripts/fetch_minilm.sh)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/densify/target}"
cargo build --release -q -p densify-cli
mkdir -p "$(dirname "$RUN")"
CONFIG="$(dirname "$RUN")/$(basename "$RUN").toml"
BIN="$CARGO_TARGET_DIR/release/densify"
SED=(-e "0,/^model = /s|^model = .*|model = \"$MODEL\"|" -e "0,/^output = /s|^output = .*|output = \"$RUN\"|"
     -e "0,/^dataset = /s|^dataset = .*|dataset = \"$DATASET\"|")
if [ -n "${LEARNING_RATE:-}" ]; then
  SED+=(-e "/^\[train.optimizer\]/,/^\[/s|^learning_rate = .*|learning_rate = $LEARNING_RATE|")
fi
if [ -n "${TITLE_QUERIES:-}" ]; then
  SED+=(-e "/^\[generate.inverse_cloze\]/,/^\[/s|^title_as_query = .*|title_as_query = true|")
fi
if [ -n "${PASSAGES:-}" ]; then
  SED+=(-e "/^\[generate.queries\]/,/^\[/s|^max_passages = .*|max_passages = $PASSAGES|")
fi
if [ -n "${ITERATIONS:-}" ]; then
  SED+=(-e "/^\[iterate\]/,/^\[/s|^max_iterations = .*|max_iterations = $ITERATIONS|")
fi
if [ -n "${DEV_SPLIT:-}" ]; then
  SED+=(-e "/^\[iterate\]/,/^\[/s|^max_iterations = .*|&\ndev_split = \"$DEV_SPLIT\"|")
fi
if [ "$RECIPE" = adapt ] && [ -n "${LLM:-}" ]; then
  if [ "$LLM" = gemma3 ]; then
    eval "$(FETCH_GEMMA=1 bash scripts/fetch_llama_server.sh)"
    SERVER_MODEL=$DENSIFY_GEMMA_MODEL ENDPOINT=completions
  else
    eval "$(bash scripts/fetch_llama_server.sh)"
    SERVER_MODEL=$DENSIFY_LLAMA_MODEL ENDPOINT=chat
  fi
  SED+=(-e "s|^generator = \"auto\"|generator = \"openai\"\nfew_shot_dataset = \"nq-utd\"\nfew_shot_split = \"test\"|"
        -e "/^\[generate.llm\]/,/^\[/s|^endpoint = .*|endpoint = \"$ENDPOINT\"|"
        -e "/^\[generate.llm\]/,/^\[/s|^max_tokens = .*|max_tokens = 48|"
        -e "/^\[generate.prompts\]/,/^\[/s|^max_passage_chars = .*|max_passage_chars = 1024|"
        -e "/^\[generate.prompts\]/,/^\[/s|^fixed_examples = .*|fixed_examples = true|"
        -e "/^\[generate.queries\]/,/^\[/{/^types = \[/,/^\]/c\\
types = [${QUERY_TYPES:-\"question\"}]
}")
  # A pretrained model continues the few-shot pattern past its answer: stop at the next example.
  [ "$ENDPOINT" = chat ] || SED+=(-e "/^\[generate.llm\]/,/^\[/s|^stop = .*|stop = [\"\\\\n\\\\n\", \"\\\\nPassage:\"]|")
fi
if [ "$RECIPE" = listwise_distillation ]; then
  if [ -z "${TEACHER:-}" ]; then
    TEACHER="$RUN-teacher/final"
    if [ ! -f "$TEACHER/model.safetensors" ]; then
      printf 'model = "%s"\ndataset = "scifact"\noutput = "%s"\n' "$MODEL" "$RUN-teacher" > "$RUN-teacher.toml"
      "$BIN" train --config "$RUN-teacher.toml"
    fi
  fi
  SED+=(-e "s|^model = \"models/cross-encoder\"|model = \"$TEACHER\"|"
        -e "s|^kind = \"cross_encoder\"|kind = \"${TEACHER_KIND:-bi_encoder}\"|")
fi
"$BIN" recipe --print-config "$RECIPE" | sed "${SED[@]}" > "$CONFIG"
if [ "$RECIPE" = graded ]; then
  eval "$(bash scripts/fetch_llama_server.sh)"
  SERVER_MODEL=$DENSIFY_LLAMA_MODEL
fi
if [ -n "${SERVER_MODEL:-}" ]; then
  printf '\n[server]\nbinary = "%s"\nmodel = "%s"\n' "$DENSIFY_LLAMA_SERVER" "$SERVER_MODEL" >> "$CONFIG"
fi
if [ "$RECIPE" = adapt ] && [ -n "${QUERIES_SPLIT:-}" ]; then
  printf '\n[queries]\nsplit = "%s"\n' "$QUERIES_SPLIT" >> "$CONFIG"
  [ -z "${MAX_QUERIES:-}" ] || printf 'max_queries = %s\n' "$MAX_QUERIES" >> "$CONFIG"
fi
/usr/bin/time -v "$BIN" recipe run "$CONFIG"
"$BIN" recipe status "$RUN"
