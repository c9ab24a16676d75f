#!/usr/bin/env python3
"""sentence-transformers reference for one training step of densify (loss and gradients).

  train_step_reference.py MODEL_DIR DATA_DIR OUT_FILE

Takes the first 8 (query, positive passage) pairs of DATA_DIR/qrels/train.tsv (BEIR SciFact) in
file order, one pair per distinct query (later rows of a query already taken are skipped);
passage texts are `title + " " + text` (stripped) when a title exists, else `text`. Loads
SentenceTransformer(MODEL_DIR) (all-MiniLM-L6-v2: BERT, mean pooling, Normalize; max_seq_length
256) on the CPU in float32 with dropout off (model.eval()) but gradients on, and runs the real
sentence_transformers.losses.MultipleNegativesRankingLoss(model, scale=20.0) (cosine
similarity, in-batch negatives) the way the library's trainer calls it:

    features = [model.tokenize(queries), model.tokenize(passages)]  # = model.preprocess
    loss(features, labels=None).backward()

OUT_FILE (safetensors) holds:
  loss                        F64 [1]   the loss value (float32 forward, widened)
  query_embeddings            F32 [8, 384]  model outputs (after the Normalize module)
  passage_embeddings          F32 [8, 384]
  grad.word_embeddings.rows   I64 [k]   sorted token ids whose row of
                                        0.auto_model.embeddings.word_embeddings.weight has a
                                        nonzero gradient (all other rows are checked to be 0)
  grad.word_embeddings.values F32 [k, 384]  those gradient rows
  grad.encoder.layer.0.attention.self.query.weight F32 [384, 384]  ([out, in], torch layout)
  grad.encoder.layer.0.attention.self.query.bias   F32 [384]
  grad.encoder.layer.5.output.LayerNorm.weight     F32 [384]
  grad.encoder.layer.5.output.LayerNorm.bias       F32 [384]
and header metadata: format "densify-train-step/1", queries, passages, query_ids, passage_ids
(JSON lists), loss_float64 (the float64 recomputation), scale "20.0", max_seq_length "256",
versions (JSON: torch, sentence_transformers).

Note: in SciFact the 6th and 7th queries (ids 10 and 11) share their positive passage
(32587939), so that passage is in the batch twice; MultipleNegativesRankingLoss does not
deduplicate, so for each of those two queries the other copy counts as an in-batch negative.

It also recomputes the loss in float64 from the float32 embeddings, and prints the loss, k and
the max |gradient| of each saved tensor.

Run with HF_HUB_OFFLINE=1; see scripts/make_train_fixtures.sh.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import save_file

N_PAIRS = 8
SCALE = 20.0
MAX_SEQ_LENGTH = 256
PARAMS = {
    "grad.encoder.layer.0.attention.self.query.weight": "encoder.layer.0.attention.self.query.weight",
    "grad.encoder.layer.0.attention.self.query.bias": "encoder.layer.0.attention.self.query.bias",
    "grad.encoder.layer.5.output.LayerNorm.weight": "encoder.layer.5.output.LayerNorm.weight",
    "grad.encoder.layer.5.output.LayerNorm.bias": "encoder.layer.5.output.LayerNorm.bias",
}


def doc_text(d):
    return (d.get("title", "") + " " + d["text"]).strip() if d.get("title") else d["text"]


def train_pairs(data, n):
    """The first n (query id, corpus id) rows of qrels/train.tsv, one per distinct query."""
    pairs, seen = [], set()
    with open(f"{data}/qrels/train.tsv") as f:
        header = f.readline().split()
        assert header == ["query-id", "corpus-id", "score"], header
        for line in f:
            q, d, s = line.split()
            if q in seen or int(s) <= 0:
                continue
            seen.add(q)
            pairs.append((q, d))
            if len(pairs) == n:
                break
    assert len(pairs) == n, f"only {len(pairs)} pairs in qrels/train.tsv"
    queries = {x["_id"]: x["text"] for x in map(json.loads, open(f"{data}/queries.jsonl"))}
    wanted = {d for _, d in pairs}
    corpus = {}
    for line in open(f"{data}/corpus.jsonl"):
        x = json.loads(line)
        if x["_id"] in wanted:
            corpus[x["_id"]] = doc_text(x)
    return ([q for q, _ in pairs], [d for _, d in pairs],
            [queries[q] for q, _ in pairs], [corpus[d] for _, d in pairs])


def main():
    import sentence_transformers
    from sentence_transformers import SentenceTransformer
    # The class sentence_transformers.losses.MultipleNegativesRankingLoss (a deprecated alias
    # of this module path in 6.x).
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    model_dir, data, out = sys.argv[1:4]
    torch.manual_seed(0)
    query_ids, passage_ids, queries, passages = train_pairs(data, N_PAIRS)

    model = SentenceTransformer(model_dir, device="cpu")
    model.to(torch.float32)
    model.eval()  # dropout off; gradients stay enabled
    assert model.max_seq_length == MAX_SEQ_LENGTH, model.max_seq_length
    bert = model[0].auto_model
    for p in model.parameters():
        p.requires_grad_(True)
        p.grad = None

    # Keep the embeddings the loss sees: the whole model's output of each forward call.
    captured = []
    hook = model.register_forward_hook(lambda m, i, o: captured.append(o["sentence_embedding"].detach().clone()))

    loss_fn = MultipleNegativesRankingLoss(model, scale=SCALE)
    # model.tokenize is a deprecated alias of model.preprocess in 6.x; preprocess is what the
    # trainer's data collator calls on each text column. Truncates to max_seq_length.
    features = [model.preprocess(queries), model.preprocess(passages)]
    for name, f in zip(("queries", "passages"), features):
        assert f["input_ids"].shape[1] <= MAX_SEQ_LENGTH
        print(f"{name}: tokens per text (with [CLS]/[SEP]) {f['attention_mask'].sum(1).tolist()}, "
              f"features {sorted(f)}")
    with torch.enable_grad():
        loss_value = loss_fn(features, labels=None)
        loss_value.backward()
    hook.remove()
    assert len(captured) == 2, len(captured)
    q_emb, p_emb = captured
    assert q_emb.dtype == torch.float32 and q_emb.shape == (N_PAIRS, bert.config.hidden_size)

    # The loss again in float64 from the float32 embeddings (cosine similarity, scale, CE on
    # the diagonal).
    q64, p64 = q_emb.double(), p_emb.double()
    scores = SCALE * F.normalize(q64, dim=1) @ F.normalize(p64, dim=1).T
    loss64 = F.cross_entropy(scores, torch.arange(N_PAIRS)).item()
    print(f"norms of the embeddings: {q64.norm(dim=1).min().item():.7f} .. {q64.norm(dim=1).max().item():.7f} (queries), "
          f"{p64.norm(dim=1).min().item():.7f} .. {p64.norm(dim=1).max().item():.7f} (passages)")
    print(f"loss (float32, MultipleNegativesRankingLoss): {loss_value.item():.9f}")
    print(f"loss (float64 from the float32 embeddings):   {loss64:.9f}  |diff| {abs(loss64 - loss_value.item()):.2e}")

    # Word-embedding gradient: only the rows of tokens in the batch may be nonzero.
    g = bert.embeddings.word_embeddings.weight.grad
    nonzero = (g != 0).any(dim=1)
    rows = torch.nonzero(nonzero).flatten()
    in_batch = torch.unique(torch.cat([f["input_ids"].flatten() for f in features]))
    outside = torch.ones(g.shape[0], dtype=torch.bool)
    outside[in_batch] = False
    assert not nonzero[outside].any(), "nonzero word-embedding gradient rows outside the batch's tokens"
    zero_in_batch = [int(t) for t in in_batch if not nonzero[t]]
    assert (g[~nonzero] == 0).all()
    print(f"word embeddings: k = {rows.numel()} nonzero gradient rows of {g.shape[0]}; "
          f"{in_batch.numel()} distinct token ids in the batch; all other rows exactly zero: "
          f"{bool((g[~nonzero] == 0).all())}; batch tokens with a zero row: {zero_in_batch}")

    named = dict(bert.named_parameters())
    tensors = {
        "loss": np.array([loss_value.item()], dtype=np.float64),
        "query_embeddings": q_emb.numpy().astype(np.float32),
        "passage_embeddings": p_emb.numpy().astype(np.float32),
        "grad.word_embeddings.rows": rows.numpy().astype(np.int64),
        "grad.word_embeddings.values": g[rows].numpy().astype(np.float32),
    }
    for key, name in PARAMS.items():
        tensors[key] = named[name].grad.detach().numpy().astype(np.float32)
    for key, t in tensors.items():
        if key.startswith("grad.") and key != "grad.word_embeddings.rows":
            print(f"max |{key}| = {np.abs(t).max():.6e}  shape {list(t.shape)}")

    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(tensors, out, metadata={
        "format": "densify-train-step/1",
        "queries": json.dumps(queries),
        "passages": json.dumps(passages),
        "query_ids": json.dumps(query_ids),
        "passage_ids": json.dumps(passage_ids),
        "loss_float64": repr(loss64),
        "scale": str(SCALE),
        "max_seq_length": str(MAX_SEQ_LENGTH),
        "versions": json.dumps({"torch": torch.__version__,
                                "sentence_transformers": sentence_transformers.__version__}),
    })
    print(f"query ids {query_ids}; passage ids {passage_ids}")
    os.chmod(out, 0o644)
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
