# Round-trip survival of synthetic queries: for each query type, how many generated queries
# were kept by cleaning, and how many of those bring their source passage into the top K of
# each retriever's run (and of either). Reads a generation folder (generated_queries.jsonl, the
# rows kept and dropped) and TREC runs over its kept queries, for example the candidates stage
# of an `adapt` recipe run:
#   python3 scripts/round_trip_survival.py RUN/generate/generated_queries.jsonl 20 \
#       bm25=RUN/candidates/bm25.trec dense=RUN/candidates/dense.trec
import collections
import json
import sys

rows_path, k = sys.argv[1], int(sys.argv[2])
runs = {}
for arg in sys.argv[3:]:
    name, path = arg.split("=", 1)
    ranked = collections.defaultdict(list)
    for line in open(path):
        q, _, d, rank, _score, _ = line.split()
        ranked[q].append((int(rank), d))
    runs[name] = {q: {d for r, d in sorted(v)[:k]} for q, v in ranked.items()}

by_type = collections.defaultdict(collections.Counter)
for line in open(rows_path):
    row = json.loads(line)
    c = by_type[row["type"]]
    c["generated"] += 1
    if row.get("dropped"):
        c["dropped: " + str(row["dropped"])] += 1
        continue
    c["kept"] += 1
    hits = [name for name, run in runs.items() if row["passage_id"] in run.get(row["id"], ())]
    for name in hits:
        c[name] += 1
    if hits:
        c["either"] += 1

names = list(runs)
print(f"| type | generated | kept by cleaning | " + " | ".join(f"source in {n} top {k}" for n in names)
      + f" | in either top {k} | dropped (why) |")
print("|---" * (5 + len(names)) + "|")
for kind, c in sorted(by_type.items()):
    kept = c["kept"]
    share = lambda n: f"{n} ({100 * n / kept:.1f} %)" if kept else "0"
    dropped = ", ".join(f"{n} {key[9:]}" for key, n in sorted(c.items()) if key.startswith("dropped: "))
    print(f"| {kind} | {c['generated']} | {kept} | " + " | ".join(share(c[n]) for n in names)
          + f" | {share(c['either'])} | {dropped or '-'} |")
