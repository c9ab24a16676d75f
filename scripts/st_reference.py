#!/usr/bin/env python3
"""sentence-transformers reference values for densify-model (tests/model_parity.rs).

  embed MODEL_DIR DATA_DIR OUT_DIR : embeddings of the first 50 SciFact corpus passages
      (title + " " + text) and the first 50 test queries with SentenceTransformer(MODEL_DIR),
      written as densify embeddings files (safetensors: `embeddings` F32 [n, dim], ids in the
      header metadata): OUT_DIR/passages.safetensors, OUT_DIR/queries.safetensors.
  check MODEL_DIR SAVED_DIR DATA_DIR : loads a folder densify saved with SentenceTransformer and
      prints the max |difference| to the original model's embeddings on the same texts.
  scifact MODEL_DIR DATA_DIR : zero-shot SciFact test nDCG@10 / Recall@100 (cosine, max length
      256, exact search, pytrec_eval), with encoding speed.
  cross SAVED_DIR : loads a densify-saved cross-encoder with sentence_transformers.CrossEncoder
      and prints its scores for three fixed pairs.
  compare A B : max |difference| between two densify embeddings files, rows matched by id.

Environment: ST_DEVICE (default cpu; e.g. cuda) picks sentence-transformers' device; for
`scifact`, ST_SAVE=PATH also writes its normalised corpus embeddings there (for `compare`).

Run with HF_HUB_OFFLINE=1; see scripts/make_model_fixtures.sh.
"""
import json
import os
import sys
import time

import numpy as np
from safetensors.numpy import save_file


DEVICE = os.environ.get("ST_DEVICE", "cpu")


def load_beir(data):
    corpus = [json.loads(l) for l in open(f"{data}/corpus.jsonl")]
    queries = {q["_id"]: q["text"] for q in map(json.loads, open(f"{data}/queries.jsonl"))}
    qrels = {}
    for n, line in enumerate(open(f"{data}/qrels/test.tsv")):
        if n == 0:
            continue
        q, d, s = line.split()
        qrels.setdefault(q, {})[d] = int(s)
    test = [(q, queries[q]) for q in queries if q in qrels]
    return corpus, test, qrels


def doc_text(d):
    return (d.get("title", "") + " " + d["text"]).strip() if d.get("title") else d["text"]


def texts(data):
    corpus, test, _ = load_beir(data)
    return [(d["_id"], doc_text(d)) for d in corpus[:50]], test[:50]


def write(path, ids, emb):
    save_file({"embeddings": np.ascontiguousarray(emb, dtype=np.float32)}, path,
              metadata={"format": "densify-embeddings/1", "ids": json.dumps(ids)})


def main():
    from sentence_transformers import SentenceTransformer

    cmd = sys.argv[1]
    if cmd == "embed":
        model_dir, data, out = sys.argv[2:5]
        model = SentenceTransformer(model_dir, device="cpu")
        passages, queries = texts(data)
        for name, items in (("passages", passages), ("queries", queries)):
            emb = model.encode([t for _, t in items], batch_size=16, convert_to_numpy=True)
            write(f"{out}/{name}.safetensors", [i for i, _ in items], emb)
        print(f"sentence-transformers {__import__('sentence_transformers').__version__}: wrote {out}")
    elif cmd == "check":
        model_dir, saved, data = sys.argv[2:5]
        passages, queries = texts(data)
        all_texts = [t for _, t in passages + queries]
        a = SentenceTransformer(model_dir, device="cpu").encode(all_texts, convert_to_numpy=True)
        b = SentenceTransformer(saved, device="cpu").encode(all_texts, convert_to_numpy=True)
        print(f"max |difference| SentenceTransformer(original) vs SentenceTransformer(densify-saved): {np.abs(a - b).max():.3e}")
    elif cmd == "scifact":
        import pytrec_eval
        import torch
        if DEVICE == "cpu":
            torch.set_num_threads(2)
        model_dir, data = sys.argv[2:4]
        corpus, test, qrels = load_beir(data)
        model = SentenceTransformer(model_dir, device=DEVICE)
        model.max_seq_length = 256
        texts_ = [doc_text(x) for x in corpus]
        if DEVICE != "cpu":
            # Warm-up (CUDA context, kernel selection), as densify's benchmark does.
            model.encode(texts_[:32], batch_size=32)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        d = model.encode(texts_, batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
        t1 = time.perf_counter()
        q = model.encode([t for _, t in test], batch_size=32, convert_to_numpy=True, normalize_embeddings=True)
        t2 = time.perf_counter()
        if os.environ.get("ST_SAVE"):
            write(os.environ["ST_SAVE"], [x["_id"] for x in corpus], d)
        if DEVICE != "cpu":
            print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}: peak allocated "
                  f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")
        scores = q @ d.T
        run = {}
        for i, (qid, _) in enumerate(test):
            top = np.argsort(-scores[i])[:1000]
            run[qid] = {corpus[j]["_id"]: float(scores[i, j]) for j in top}
        r = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(run)
        nd = np.mean([v["ndcg_cut_10"] for v in r.values()])
        rc = np.mean([v["recall_100"] for v in r.values()])
        print(f"sentence-transformers SciFact test: nDCG@10 {nd:.4f}, Recall@100 {rc:.4f}; "
              f"corpus {len(corpus) / (t1 - t0):.1f} docs/s ({t1 - t0:.1f} s), queries {t2 - t1:.1f} s")
    elif cmd == "compare":
        from safetensors import safe_open
        rows = []
        for path in sys.argv[2:4]:
            with safe_open(path, "np") as f:
                ids = json.loads(f.metadata()["ids"])
                rows.append(dict(zip(ids, f.get_tensor("embeddings"))))
        a, b = rows
        if set(a) != set(b):
            sys.exit(f"compare: the files hold different ids ({len(a)} vs {len(b)})")
        diff = max(float(np.abs(a[i] - b[i]).max()) for i in a)
        print(f"max |difference| over {len(a)} rows: {diff:.3e}")
    elif cmd == "cross":
        from sentence_transformers import CrossEncoder
        saved = sys.argv[2]
        pairs = [("what is a cat", "a cat is a small animal"), ("what is a cat", "stock markets fell"), ("vitamin d", "")]
        print(json.dumps([float(s) for s in CrossEncoder(saved, device=DEVICE).predict(pairs, activation_fn=torch_identity())]))


def torch_identity():
    import torch
    return torch.nn.Identity()


if __name__ == "__main__":
    main()
