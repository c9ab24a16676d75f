# Teacher headroom on real queries: does a min-max mix of BM25 and the base model rank the
# RRF-fused top-30 lists better than either alone?  Approximation: a doc missing from a run's
# top 100 gets that run's 100th score.
import sys, collections, math
qrels_path, bm25_path, dense_path = sys.argv[1:4]
qrels = collections.defaultdict(dict)
for i, line in enumerate(open(qrels_path)):
    p = line.split()
    if i == 0 and not p[-1].isdigit(): continue
    q, d, r = p[0], p[1], int(p[2])
    if r > 0: qrels[q][d] = r
def run(path):
    r = collections.defaultdict(dict)
    for line in open(path):
        q, _, d, rank, s, _ = line.split()
        r[q][d] = float(s)
    return r
bm25, dense = run(bm25_path), run(dense_path)
def ndcg(ranked, rel, k=10):
    dcg = sum((2**rel.get(d,0)-1)/math.log2(i+2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum((2**r-1)/math.log2(i+2) for i, r in enumerate(ideal))
    return dcg/idcg if idcg else 0
def mm(scores, docs):
    lo = min(scores.values()); v = {d: scores.get(d, lo) for d in docs}
    a, b = min(v.values()), max(v.values())
    return {d: (x-a)/(b-a) if b > a else 0 for d, x in v.items()}
for depth in (30, 100):
    res = collections.defaultdict(list)
    full = collections.defaultdict(list)
    for q in qrels:
        if q not in bm25 or q not in dense: continue
        rrf = collections.Counter()
        for r in (bm25[q], dense[q]):
            for i, d in enumerate(sorted(r, key=r.get, reverse=True)):
                rrf[d] += 1/(60+i+1)
        docs = [d for d, _ in rrf.most_common(depth)]
        lb, ld = mm(bm25[q], docs), mm(dense[q], docs)
        for w in (0.0, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0):
            s = {d: w*lb[d]+(1-w)*ld[d] for d in docs}
            res[w].append(ndcg(sorted(docs, key=s.get, reverse=True), qrels[q]))
        res['rrf'].append(ndcg(docs, qrels[q]))
    print(f"lists of RRF top {depth}, {len(res['rrf'])} queries:")
    for w, v in res.items(): print(f"  bm25_weight {w}: nDCG@10 {sum(v)/len(v):.4f}")
