"""The PyTorch side of densify's training-step benchmark (docs/benchmarks.md): the same loop as
`densify train` with listwise KL distillation, on all-MiniLM-L6-v2 in fp32 with AdamW.

For each step: 8 queries (max 64 tokens) and their 8 candidates each (max 256 tokens) from the
JSONL that scripts/bench_train_step.sh writes, mean pooling and L2 normalisation as the model's
sentence-transformers config says, cosine scores, KL(softmax(teacher / 0.3) || softmax(student
/ 0.05)) averaged over queries, backward, global-norm clipping at 1, AdamW (lr 2e-5). Prints
seconds per step (median of the steps after the first two) and peak RSS.

Usage: python scripts/train_step_bench.py MODEL_DIR EXAMPLES_JSONL CORPUS_JSONL [STEPS]
"""

import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer


def main():
    model_dir, examples_path, corpus_path = sys.argv[1:4]
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 7
    torch.manual_seed(42)
    corpus = {}
    for line in open(corpus_path):
        d = json.loads(line)
        corpus[str(d["_id"])] = (d.get("title", "") + " " + d["text"]).strip() if d.get("title") else d["text"]
    examples = [json.loads(l) for l in open(examples_path)]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.0)

    def embed(texts, max_length):
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        out = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)

    times = []
    for step in range(steps):
        batch = examples[(step * 8) % len(examples):][:8]
        start = time.perf_counter()
        q = embed([e["query"] for e in batch], 64)
        p = embed([corpus[c["doc_id"]] for e in batch for c in e["candidates"]], 256).view(len(batch), 8, -1)
        student = torch.einsum("bd,bld->bl", q, p)
        teacher = torch.tensor([[c["teacher"] for c in e["candidates"]] for e in batch])
        loss = F.kl_div(
            F.log_softmax(student / 0.05, dim=-1),
            F.log_softmax(teacher / 0.3, dim=-1),
            log_target=True,
            reduction="batchmean",
        )
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        times.append(time.perf_counter() - start)
        print(f"step {step + 1}: {times[-1]:.3f} s, loss {loss.item():.4f}", file=sys.stderr)
    median = statistics.median(times[2:])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    label = os.environ.get("BENCH_LABEL", "")
    print(json.dumps({"backend": f"pytorch {torch.__version__} ({torch.get_num_threads()} threads{label})",
                      "seconds_per_step": round(median, 3), "peak_rss_mb": round(peak)}))


if __name__ == "__main__":
    main()
