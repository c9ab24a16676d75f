#!/usr/bin/env python3
"""Reference values from pytrec_eval for densify's evaluation parity tests.

Reads a qrels file (TREC `qid iter doc grade` or BEIR tsv with header) and a TREC run, evaluates
with pytrec_eval (pytrec-eval-terrier 0.5.11, which bundles trec_eval and stores scores as
float32), and writes JSON: per-query values for every measure, plus the means over the run and
qrels queries (trec_eval's default) and over all qrels queries (trec_eval -c).

`recip_rank.K` (MRR@K) is not a trec_eval measure: it is trec_eval's recip_rank on the run cut to
its best K documents per query, ranked as trec_eval ranks (float32 score descending, then doc id
descending).

Usage: pytrec_eval_reference.py --qrels Q --run R --out OUT.json [--timing]
"""
import argparse
import json
import time

import numpy as np
import pytrec_eval

MEASURES = [
    "ndcg", "ndcg_cut.1,3,5,10,100,1000", "recall.1,5,10,100,1000", "P.1,5,10,100",
    "map", "map_cut.10,100,1000", "recip_rank", "success.1,5,10",
]
MRR_CUTOFFS = [10]


def read_qrels(path):
    qrels = {}
    with open(path) as f:
        for n, line in enumerate(f):
            parts = line.split()
            if not parts or (n == 0 and parts[0] == "query-id"):
                continue
            if len(parts) == 4:
                q, _, d, g = parts
            else:
                q, d, g = parts
            qrels.setdefault(q, {})[d] = int(g)
    return qrels


def read_run(path):
    run = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts:
                run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run


def cut(run, k):
    out = {}
    for q, docs in run.items():
        ranked = sorted(docs.items(), key=lambda x: (np.float32(x[1]), x[0].encode()), reverse=True)
        out[q] = dict(ranked[:k])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--qrels", required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--measures", nargs="*", default=MEASURES)
    ap.add_argument("--mrr", nargs="*", type=int, default=MRR_CUTOFFS)
    args = ap.parse_args()

    t0 = time.perf_counter()
    qrels = read_qrels(args.qrels)
    run = read_run(args.run)
    t1 = time.perf_counter()
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, set(args.measures))
    per_query = evaluator.evaluate(run)
    for k in args.mrr:
        rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut(run, k))
        for q, values in rr.items():
            per_query[q][f"recip_rank_{k}"] = values["recip_rank"]
    t2 = time.perf_counter()

    names = sorted(next(iter(per_query.values())).keys()) if per_query else []
    means = {m: sum(v[m] for v in per_query.values()) / len(per_query) for m in names}
    means_all = {m: sum(v[m] for v in per_query.values()) / len(qrels) for m in names}
    result = {
        "tool": "pytrec-eval-terrier 0.5.11",
        "qrels": args.qrels.split("/")[-1],
        "run_lines": sum(len(d) for d in run.values()),
        "run_score_sum": sum(sum(d.values()) for d in run.values()),
        "num_q": len(per_query),
        "num_q_all": len(qrels),
        "means": means,
        "means_all_qrels": means_all,
        "per_query": per_query,
        "seconds": {"parse": t1 - t0, "evaluate": t2 - t1},
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
