#!/usr/bin/env python3
"""Python reference timings for densify's benchmarks, on this machine.

  eval DIR    : pytrec_eval (pytrec-eval-terrier 0.5.11) on DIR/qrels.txt and DIR/run.trec written by
                `cargo run --release --example bench_eval -- DIR`, same measures; prints parse and
                evaluate seconds and the means, and checks them against DIR/densify.json.
  search      : numpy exact search, random 100,000 x 384 corpus, 1,000 queries, cosine, top 100
                (matmul + argpartition, chunked like densify's).
"""
import json
import sys
import time

import numpy as np

MEASURES = {"ndcg_cut.10", "recall.100", "map_cut.100", "recip_rank"}


def bench_eval(directory):
    import pytrec_eval

    t0 = time.perf_counter()
    qrels = {}
    with open(f"{directory}/qrels.txt") as f:
        for line in f:
            q, _, d, g = line.split()
            qrels.setdefault(q, {})[d] = int(g)
    run = {}
    with open(f"{directory}/run.trec") as f:
        for line in f:
            q, _, d, _, s, _ = line.split()
            run.setdefault(q, {})[d] = float(s)
    t1 = time.perf_counter()
    result = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run)
    t2 = time.perf_counter()
    names = sorted(next(iter(result.values())).keys())
    means = {m: sum(v[m] for v in result.values()) / len(result) for m in names}
    print(f"pytrec_eval: {len(run)} queries")
    print(f"  parse     {t1 - t0:8.3f} s")
    print(f"  evaluate  {t2 - t1:8.3f} s")
    print(f"  total     {t2 - t0:8.3f} s")
    for m in names:
        print(f"  {m:<12} {means[m]:.6f}")
    densify = json.load(open(f"{directory}/densify.json"))
    worst = max(abs(densify["means"][m] - means[m]) for m in names)
    total = densify["parse_s"] + densify["evaluate_s"]
    print(f"densify total {total:.3f} s -> {(t2 - t0) / total:.1f}x faster than pytrec_eval; "
          f"largest difference of means {worst:.2e}")
    assert worst <= 1e-6, "means differ"


def bench_search():
    rng = np.random.default_rng(7)
    corpus = (rng.random((100_000, 384), dtype=np.float32) * 2 - 1)
    queries = (rng.random((1_000, 384), dtype=np.float32) * 2 - 1)
    t0 = time.perf_counter()
    c = corpus / np.maximum(np.linalg.norm(corpus, axis=1, keepdims=True), 1e-12)
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    k, chunk = 100, 50_000
    best_s = np.full((q.shape[0], 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((q.shape[0], 0), dtype=np.int64)
    for start in range(0, c.shape[0], chunk):
        s = q @ c[start:start + chunk].T
        idx = np.argpartition(-s, k, axis=1)[:, :k]
        vals = np.take_along_axis(s, idx, axis=1)
        best_s = np.concatenate([best_s, vals], axis=1)
        best_i = np.concatenate([best_i, idx + start], axis=1)
        keep = np.argpartition(-best_s, k, axis=1)[:, :k] if best_s.shape[1] > k else np.arange(best_s.shape[1])[None].repeat(q.shape[0], 0)
        best_s = np.take_along_axis(best_s, keep, axis=1)
        best_i = np.take_along_axis(best_i, keep, axis=1)
    order = np.argsort(-best_s, axis=1)
    best_i = np.take_along_axis(best_i, order, axis=1)
    seconds = time.perf_counter() - t0
    print(f"numpy {np.__version__} exact search: 1000 queries x 100000 x 384, top 100: {seconds:.3f} s "
          f"({1000 / seconds:.0f} queries/s)")


if __name__ == "__main__":
    if sys.argv[1] == "eval":
        bench_eval(sys.argv[2])
    else:
        bench_search()
