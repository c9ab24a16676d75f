#!/usr/bin/env python3
"""sentence-transformers reference run: fine-tune all-MiniLM-L6-v2 on SciFact train with
MultipleNegativesRankingLoss, then score SciFact test (the issue's baseline for densify-train).

Training (SentenceTransformerTrainer, library defaults unless listed):
  * data: one (query, positive) pair per row of DATA/qrels/train.tsv with grade > 0 (SciFact: 919
    pairs, 809 queries). Positive text = title + " " + text when the title is non-empty, else text
    (BEIR's convention, = densify_data::Document::full_text). Pairs are sorted by (query id, doc id)
    compared as strings before the Dataset is built, so a reimplementation can use the same order;
    the trainer then shuffles it (RandomSampler with torch.Generator().manual_seed(42)).
  * loss: MultipleNegativesRankingLoss(scale=20, cos_sim), in-batch negatives.
  * batch 32, 1 epoch, lr 2e-5, linear schedule, warmup ratio 0.1 (passed as warmup_steps=0.1: the
    float form transformers 5 takes; ceil(0.1 * steps) warmup steps), weight_decay 0,
    max_grad_norm 1, AdamW (transformers 5 + torch >= 2.8 default: adamw_torch_fused), seed 42,
    max_seq_length 256, default batch sampler, dataloader_drop_last False (so the last, short
    batch is trained on: 919 pairs -> 29 steps, the last of 23 pairs; 3 warmup steps).
  * no evaluation during training, no checkpoints (save_strategy "no"), report_to none.
Evaluation (SciFact test, 300 queries): encode the whole corpus and the test queries (batch 32,
normalised embeddings), exact cosine search, top 100 per query, nDCG@10 and Recall@100 from
pytrec_eval (mean over the queries of the test qrels) or, if pytrec_eval is not importable, a
trec_eval-style fallback (gain = grade, 1/log2(rank+1) discount, ideal from the qrels).

Output: progress lines, then one JSON line at the end:
  {"ndcg@10": ..., "recall@100": ..., "train_seconds": ..., "steps": ..., "final_loss": ..., ...}
("final_loss" = loss of the last optimizer step; "mean_loss" = the trainer's mean training loss;
with --base, "base_ndcg@10" / "base_recall@100" too; metrics are null with --skip-eval.)

Usage:
  st_mnrl_scifact.py [--model DIR] [--data DIR] [--max-steps N] [--threads N] [--skip-eval]
                     [--base] [--save DIR] [--log FILE.json] [--seed N] [--no-duplicates]
  --log writes per-step loss, grad norm, learning rate, batch size and the batch's pair indices
  (into the sorted pair list), and checks the order against torch.randperm(n, generator=seed 42)
  (it matches: the trainer's epoch-0 order is that permutation, batches are consecutive slices).
  With --max-steps N the linear schedule (and its ceil(0.1 N) warmup) is laid over N steps, as
  the trainer does; the step-1 learning rate is 0 in any case (warmup starts at 0).

Smoke test (about 80 s on 2 busy cores, about 5.6 GB peak RSS):
  ~/.cache/densify/venv-torch/bin/python scripts/st_mnrl_scifact.py --max-steps 2 --skip-eval
Full run (CPU, 2 threads; about 20 s per step on 2 cores, plus a corpus encode per evaluation):
  HF_HUB_OFFLINE=1 ~/.cache/densify/venv-torch/bin/python scripts/st_mnrl_scifact.py --base \
      --log /tmp/st_mnrl_scifact_log.json

Environment this was written against (venv ~/.cache/densify/venv-torch, Python 3.11):
  torch 2.9.0 (CPU), sentence-transformers 6.2.0, transformers 5.23.0, tokenizers 0.23.3,
  datasets 5.2.0, accelerate 1.15.0, numpy 2.4.6, pytrec_eval-terrier 0.5.11
  (pip install datasets==5.2.0 accelerate==1.15.0; the trainer refuses to run without them).
"""
import argparse
import json
import math
import os
import sys
import tempfile
import time

DEFAULT_MODEL = os.path.expanduser("~/.cache/densify/models/all-MiniLM-L6-v2")
SEED = 42


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="sentence-transformers model folder")
    p.add_argument("--data", default="/work/shared/data/scifact", help="BEIR SciFact folder")
    p.add_argument("--max-steps", type=int, default=None, help="stop after N steps (smoke tests)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--skip-eval", action="store_true", help="train only")
    p.add_argument("--base", action="store_true", help="also evaluate the base model first")
    p.add_argument("--save", default=None, help="save the fine-tuned model to this folder")
    p.add_argument("--log", default=None, help="write per-step training records to this JSON file")
    p.add_argument("--seed", type=int, default=SEED,
                   help="the trainer's seed (data order, dropout) and the order check's (default 42)")
    p.add_argument("--no-duplicates", action="store_true",
                   help="batch_sampler=BatchSamplers.NO_DUPLICATES (the sampler the docs recommend for MNRL)")
    return p.parse_args()


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data

def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def doc_text(d):
    title = d.get("title") or ""
    return f"{title} {d['text']}" if title else d["text"]


def read_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and parts[0] == "query-id":
                continue
            if len(parts) < 3:
                continue
            q, d, g = parts[0], parts[1], int(parts[2])
            qrels.setdefault(q, {})[d] = g
    return qrels


def load_data(data):
    corpus = {d["_id"]: d for d in read_jsonl(f"{data}/corpus.jsonl")}
    queries = {q["_id"]: q["text"] for q in read_jsonl(f"{data}/queries.jsonl")}
    return corpus, queries


def train_pairs(data, corpus, queries):
    qrels = read_qrels(f"{data}/qrels/train.tsv")
    keys = sorted((q, d) for q, docs in qrels.items() for d, g in docs.items() if g > 0)
    missing = [(q, d) for q, d in keys if q not in queries or d not in corpus]
    if missing:
        raise SystemExit(f"train qrels name unknown ids, e.g. {missing[:3]}")
    return keys, [queries[q] for q, _ in keys], [doc_text(corpus[d]) for _, d in keys]


# ---------------------------------------------------------------- evaluation

def fallback_eval(qrels, run):
    """trec_eval-style nDCG@10 and Recall@100 (mean over the qrels queries)."""
    ndcgs, recalls = [], []
    for q, rel in qrels.items():
        # trec_eval ties: score descending, then doc id descending
        ranked = sorted(run.get(q, {}).items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, (d, _) in enumerate(ranked[:10]))
        ideal = sorted((g for g in rel.values() if g > 0), reverse=True)[:10]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        ndcgs.append(dcg / idcg if idcg > 0 else 0.0)
        nrel = sum(1 for g in rel.values() if g > 0)
        hit = sum(1 for d, _ in ranked[:100] if rel.get(d, 0) > 0)
        recalls.append(hit / nrel if nrel else 0.0)
    return sum(ndcgs) / len(ndcgs), sum(recalls) / len(recalls)


def evaluate(model, data, corpus, queries, label, batch_size=32, top_k=100, query_ids=None):
    """Encode corpus + test queries, exact cosine top-k, nDCG@10 / Recall@100."""
    import torch

    qrels = read_qrels(f"{data}/qrels/test.tsv")
    if query_ids is not None:
        qrels = {q: qrels[q] for q in query_ids}
    qids = sorted(qrels)
    doc_ids = list(corpus)
    log(f"{label}: encoding {len(doc_ids)} passages (batch {batch_size})")
    t0 = time.time()
    docs = []
    chunk = 1024  # progress granularity
    for start in range(0, len(doc_ids), chunk):
        texts = [doc_text(corpus[d]) for d in doc_ids[start:start + chunk]]
        docs.append(model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_tensor=True, show_progress_bar=False))
        log(f"{label}:   {min(start + chunk, len(doc_ids))}/{len(doc_ids)} passages "
            f"({time.time() - t0:.0f} s)")
    docs = torch.cat(docs)
    qemb = model.encode([queries[q] for q in qids], batch_size=batch_size,
                        normalize_embeddings=True, convert_to_tensor=True, show_progress_bar=False)
    encode_s = time.time() - t0
    log(f"{label}: encoded {len(qids)} queries; {encode_s:.1f} s in all")
    scores = qemb @ docs.T  # both sides unit length: cosine
    top = torch.topk(scores, k=min(top_k, len(doc_ids)), dim=1)
    run = {
        q: {doc_ids[j]: float(s) for s, j in zip(top.values[i].tolist(), top.indices[i].tolist())}
        for i, q in enumerate(qids)
    }
    try:
        import pytrec_eval

        ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"})
        per_q = ev.evaluate(run)
        ndcg = sum(v["ndcg_cut_10"] for v in per_q.values()) / len(qrels)
        recall = sum(v["recall_100"] for v in per_q.values()) / len(qrels)
        how = "pytrec_eval"
    except ImportError:
        ndcg, recall = fallback_eval(qrels, run)
        how = "fallback"
    log(f"{label}: nDCG@10 {ndcg:.4f}  Recall@100 {recall:.4f}  ({how}, {len(qrels)} queries)")
    return {"ndcg@10": ndcg, "recall@100": recall, "encode_seconds": encode_s, "metrics_by": how}


# ---------------------------------------------------------------- training

def main():
    args = parse_args()
    t = str(args.threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ.setdefault(var, t)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

    import torch
    import transformers
    from datasets import Dataset
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)
    from sentence_transformers.training_args import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    torch.set_num_threads(args.threads)
    transformers.set_seed(args.seed)
    result = {"ndcg@10": None, "recall@100": None}

    corpus, queries = load_data(args.data)
    keys, anchors, positives = train_pairs(args.data, corpus, queries)
    log(f"{len(keys)} train pairs from {len({q for q, _ in keys})} queries; "
        f"{len(corpus)} passages, {len(queries)} queries")

    model = SentenceTransformer(args.model, device="cpu")
    model.max_seq_length = 256
    if args.base and not args.skip_eval:
        base = evaluate(model, args.data, corpus, queries, "base")
        result["base_ndcg@10"], result["base_recall@100"] = base["ndcg@10"], base["recall@100"]

    # Records per step: the loss module sees each batch; the trainer's logs (logging_steps=1)
    # give the exact step loss, the pre-clip grad norm and the learning rate used by that step.
    index_of = {}
    if args.log:
        tok = model.tokenizer
        enc = lambda texts: tok(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
        for i, (a, p) in enumerate(zip(enc(anchors), enc(positives))):
            index_of.setdefault((tuple(a), tuple(p)), []).append(i)
    batches = []

    class RecordingMNRL(MultipleNegativesRankingLoss):
        def forward(self, sentence_features, labels):
            loss = super().forward(sentence_features, labels)
            rec = {"batch_size": int(sentence_features[0]["input_ids"].shape[0]),
                   "loss": float(loss.detach())}
            if index_of:
                idx = []
                fa, fp = sentence_features[0], sentence_features[1]
                for r in range(rec["batch_size"]):
                    a = fa["input_ids"][r][fa["attention_mask"][r].bool()].tolist()
                    p = fp["input_ids"][r][fp["attention_mask"][r].bool()].tolist()
                    hits = index_of.get((tuple(a), tuple(p)), [])
                    idx.append(hits[0] if len(hits) == 1 else (hits or None))
                rec["pairs"] = idx
            batches.append(rec)
            return loss

    step_logs = []

    class Steps(TrainerCallback):
        def on_log(self, a, state, control, logs=None, **kw):
            if logs and "loss" in logs and "train_runtime" not in logs:
                step_logs.append({"step": state.global_step, **logs})
                lr = logs.get("learning_rate")
                log(f"step {state.global_step}/{state.max_steps}  loss {logs['loss']:.4f}  "
                    f"grad_norm {logs.get('grad_norm', float('nan')):.3f}  lr {lr:.3e}")

    loss = RecordingMNRL(model, scale=20.0)  # similarity_fct defaults to cos_sim
    train_ds = Dataset.from_dict({"anchor": anchors, "positive": positives})
    with tempfile.TemporaryDirectory(prefix="st_mnrl_scifact_") as out_dir:
        targs = SentenceTransformerTrainingArguments(
            output_dir=out_dir,
            per_device_train_batch_size=32,
            num_train_epochs=1,
            max_steps=args.max_steps if args.max_steps else -1,
            learning_rate=2e-5,
            warmup_steps=0.1,  # = warmup_ratio 0.1 (transformers 5 takes the ratio as a float here)
            lr_scheduler_type="linear",
            weight_decay=0.0,
            max_grad_norm=1.0,
            seed=args.seed,
            eval_strategy="no",
            save_strategy="no",
            report_to="none",
            logging_strategy="steps",
            logging_steps=1,
            disable_tqdm=True,
            use_cpu=True,
            dataloader_drop_last=False,
            **({"batch_sampler": BatchSamplers.NO_DUPLICATES} if args.no_duplicates else {}),
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=targs, train_dataset=train_ds, loss=loss, callbacks=[Steps()])
        for cb in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(cb)
        n_batches = len(trainer.get_train_dataloader())
        log(f"train dataloader: {n_batches} batches of <= 32 (drop_last "
            f"{targs.dataloader_drop_last}); optimizer {targs.optim}; "
            f"max_steps {args.max_steps or 'none (1 epoch)'}")
        t0 = time.time()
        out = trainer.train()
        train_s = time.time() - t0

    steps = trainer.state.global_step
    final_loss = step_logs[-1]["loss"] if step_logs else (batches[-1]["loss"] if batches else None)
    log(f"trained {steps} steps in {train_s:.1f} s; final loss {final_loss:.4f}; "
        f"mean loss {out.training_loss:.4f}")
    result.update({"train_seconds": round(train_s, 2), "steps": steps, "final_loss": final_loss,
                   "mean_loss": out.training_loss, "pairs": len(keys),
                   "batches_per_epoch": n_batches,
                   "last_batch_size": batches[-1]["batch_size"] if batches else None})

    if args.log:
        expected = torch.randperm(len(keys), generator=torch.Generator().manual_seed(args.seed)).tolist()
        seen = [i for b in batches for i in b.get("pairs", [])]
        order_ok = seen == expected[:len(seen)]
        log(f"batch order {'matches' if order_ok else 'DOES NOT match'} "
            f"torch.randperm({len(keys)}, generator=manual_seed({args.seed}))")
        result["order_is_randperm_seed42"] = order_ok
        records = []
        for i, b in enumerate(batches):
            rec = dict(b)
            if i < len(step_logs):
                rec.update({k: step_logs[i][k] for k in ("step", "learning_rate", "grad_norm")
                            if k in step_logs[i]})
                rec["trainer_loss"] = step_logs[i]["loss"]
            records.append(rec)
        with open(args.log, "w") as f:
            json.dump({"pairs": [list(k) for k in keys], "steps": records,
                       "order_is_randperm_seed42": order_ok, "training_args": {
                           "optim": str(targs.optim), "warmup_steps": targs.warmup_steps,
                           "lr_scheduler_type": str(targs.lr_scheduler_type)}}, f)
        log(f"wrote {args.log}")

    if args.save:
        model.save(args.save)
        log(f"saved the fine-tuned model to {args.save}")

    if not args.skip_eval:
        ft = evaluate(model, args.data, corpus, queries, "fine-tuned")
        result["ndcg@10"], result["recall@100"] = ft["ndcg@10"], ft["recall@100"]
        result["metrics_by"] = ft["metrics_by"]

    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
