# Sourced by scripts/bench_train_step.sh and scripts/bench_train_ab.sh: the training step they
# time (listwise KL, teacher temperature 0.3, student 0.05, lists of 8, query length 64,
# passage length 256, AdamW lr 2e-5, seed 42) and the median of its step times.
# Both need OUT (the folder holding lists.jsonl), MODEL and DATA set.

# train_step_config NAME BATCH STEPS [EXTRA]: writes $OUT/NAME.toml (output $OUT/NAME, removed).
train_step_config() {
  cat > "$OUT/$1.toml" <<TOML
model = "$MODEL"
output = "$OUT/$1"
dataset = "$DATA"
examples = "$OUT/lists.jsonl"
batch_size = $2
max_steps = $3
list_size = 8
in_batch_negatives = false
query_max_length = 64
passage_max_length = 256
seed = 42
${4:-}
[loss]
type = "kl_distillation"
teacher_temperature = 0.3
student_temperature = 0.05
[optimizer]
learning_rate = 2e-5
TOML
  rm -rf "${OUT:?}/$1"
}

# median_step_seconds DIR SKIP: the median time between consecutive steps of DIR/metrics.jsonl,
# leaving out the first SKIP intervals (warm-up).
median_step_seconds() {
  python3 - "$1/metrics.jsonl" "$2" <<'PY'
import json, statistics, sys
s = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"step"' in l]
t = [b["seconds"] - a["seconds"] for a, b in zip(s, s[1:])]
print(round(statistics.median(t[int(sys.argv[2]):]), 3))
PY
}
