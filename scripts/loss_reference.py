#!/usr/bin/env python3
"""PyTorch reference values and input gradients for densify-loss (tests/loss_parity.rs).

Each loss is written here independently, the way a PyTorch user would (F.kl_div, F.cross_entropy,
logcumsumexp, torch.linalg.matrix_norm(..., "nuc")), from the formulas in the Rust docs. Inputs are
generated with a fixed seed, rounded to float32 (so Rust sees the very same numbers), and the
losses are evaluated in float64. Output: tests/fixtures/loss/reference.json with, per case, the
inputs, the mean-reduced loss, the per-query losses and d(mean loss)/d(scores).

Cross-check (upstream_cross_check): every case is also run through the upstream
sentence-transformers (6.2.0) loss class where one computes the same loss, fed the case's scores
by stand-in models (see the section's comment), and must equal the hand-written value to 1e-6
relative (value and gradient); such cases get "upstream": "<ClassName>" in the JSON, for
information (tests/loss_parity.rs reads cases as serde_json::Value and ignores fields it does not
index). How each class is called:
  MultipleNegativesRankingLoss  scale = 1/temperature, util.dot_score, one query per call (its
                                candidates as the document columns), averaged over queries
  DistillKLDivLoss              student/teacher temperatures; only where τ_s² equals densify's
                                factor (1, or τ_s·τ_t with temperature_scaling); one call, or one
                                per query when there is a mask
  MarginMSELoss                 positive column first; one call, or one per query with a mask
  ListNetLoss                   one call, each query's valid columns as its documents
  ListMLELoss                   one call, documents in densify's order (label descending, ties by
                                column), respect_input_order=True
  RankNetLoss                   reduction_log="natural", one query per call, averaged
Where the upstream class defines the loss differently (DistillKLDivLoss's τ_s² factor,
PListMLELoss's weights, RankNetLoss's defaults; listwise distillation has no single class) the
exact relation is checked and printed instead. The Wasserstein losses have no upstream class.

Run: scripts/make_loss_fixtures.sh (makes a throwaway venv with torch==2.9.0 and
sentence-transformers==6.2.0).
"""
import contextlib
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
D = torch.float64
NEG = -1e30  # densify's masked logit


def masked_log_softmax(x, mask):
    return torch.log_softmax(torch.where(mask, x, torch.full_like(x, NEG)), dim=1)


# ---- losses: (scores, batch dict, config) -> per-query tensor [B] (or [1]) -----------------------

def info_nce(s, b, c):
    B, N = s.shape
    pos = b["positive"]
    cand = b.get("candidates", b.get("mask", torch.ones_like(s, dtype=torch.bool))).clone()
    cand[torch.arange(B), pos] = True
    logits = torch.where(cand, s / c["temperature"], torch.full_like(s, -math.inf))
    return F.cross_entropy(logits, pos, reduction="none")


def kl(s, b, c):
    mask = b.get("mask", torch.ones_like(s, dtype=torch.bool))
    log_s = masked_log_softmax(s / c["student_temperature"], mask)
    if c.get("teacher_input", "Scores") == "Scores":
        log_t = masked_log_softmax(b["teacher"] / c["teacher_temperature"], mask)
        p_t = log_t.exp()
    else:
        p_t = torch.where(mask, b["teacher"], torch.zeros_like(s))
        log_t = torch.log(p_t.clamp_min(1e-300))
    per = torch.where(p_t > 0, p_t * (log_t - log_s), torch.zeros_like(s)).sum(1)
    # Same as F.kl_div(log_s, log_t, log_target=True, reduction="none").sum(1) where defined.
    scale = c["student_temperature"] * c["teacher_temperature"] if c.get("temperature_scaling") else 1.0
    return per * scale


def listwise(s, b, c):
    k = kl(s, b, {"teacher_temperature": c["teacher_temperature"], "student_temperature": c["student_temperature"]})
    n = info_nce(s, b, {"temperature": c["contrastive_temperature"]})
    return k + c["contrastive_weight"] * n


def margin_mse(s, b, c):
    B, N = s.shape
    pos = b["positive"]
    t = b["teacher"]
    mask = b.get("mask", torch.ones_like(s, dtype=torch.bool)).clone()
    mask[torch.arange(B), pos] = False
    sm = s[torch.arange(B), pos][:, None] - s
    tm = t[torch.arange(B), pos][:, None] - t
    sq = torch.where(mask, (sm - tm) ** 2, torch.zeros_like(s))
    return sq.sum(1) / mask.sum(1).clamp_min(1)


def list_net(s, b, c):
    mask = b.get("mask", torch.ones_like(s, dtype=torch.bool))
    y = torch.where(mask, b["labels"], torch.full_like(s, -math.inf))
    target = torch.softmax(y, dim=1)
    log_p = masked_log_softmax(s, mask)
    return -(target * log_p).sum(1)


def list_mle(s, b, c):
    B, N = s.shape
    mask = b.get("mask", torch.ones_like(s, dtype=torch.bool))
    out = []
    for r in range(B):
        cols = [j for j in range(N) if mask[r, j]]
        cols.sort(key=lambda j: (-b["labels"][r, j].item(), j))
        x = s[r, cols]
        n = len(cols)
        lse = torch.logcumsumexp(x.flip(0), 0).flip(0)
        if c.get("position_aware"):
            i = torch.arange(1, n + 1, dtype=D)
            w = 0.5 ** (i - 1) * (1 - 0.5 ** (n - i + 1)) / (1 - 0.5 ** n)
        else:
            w = torch.ones(n, dtype=D)
        out.append((w * (lse - x)).sum())
    return torch.stack(out)


def rank_net(s, b, c):
    mask = b.get("mask", torch.ones_like(s, dtype=torch.bool))
    y = b["labels"]
    pairs = (y[:, :, None] > y[:, None, :]) & mask[:, :, None] & mask[:, None, :]
    d = s[:, :, None] - s[:, None, :]
    bce = F.binary_cross_entropy_with_logits(d, torch.ones_like(d), reduction="none")  # log(1+e^-d)
    return torch.where(pairs, bce, torch.zeros_like(d)).sum((1, 2)) / pairs.sum((1, 2)).clamp_min(1)


def binary_cross_entropy(s, b, c):
    # sentence-transformers' CrossEncoder BinaryCrossEntropyLoss = BCEWithLogitsLoss on each
    # (query, candidate) pair: label 1 at the list's positive, 0 elsewhere; mean per list.
    B, N = s.shape
    mask = b.get("mask", torch.ones_like(s, dtype=torch.bool))
    y = torch.zeros_like(s)
    y[torch.arange(B), b["positive"]] = 1.0
    per = F.binary_cross_entropy_with_logits(
        s, y, reduction="none", pos_weight=torch.tensor(c["pos_weight"], dtype=D))
    return torch.where(mask, per, torch.zeros_like(per)).sum(1) / mask.sum(1)


def sycl(s, b, c):
    mask = b.get("mask", torch.ones_like(s, dtype=torch.bool))
    P = masked_log_softmax(s / c["temperature"], mask).exp()
    T = masked_log_softmax(b["labels"], mask).exp()
    B = s.shape[0]
    mu_p, mu_t = P.mean(0), T.mean(0)
    C_p = (P - mu_p) / math.sqrt(B - 1)
    C_t = (T - mu_t) / math.sqrt(B - 1)
    # tr((Σ_P Σ_T)^(1/2)) with Σ = CᵀC and the B rows as samples is the nuclear norm of
    # C_P C_Tᵀ (B x B). (‖C_Pᵀ C_T‖_* is the same only when C is laid out [columns, batch].)
    nuc = torch.linalg.matrix_norm(C_p @ C_t.T, ord="nuc")
    if D == torch.float64:  # fixtures only: not in float32 timing runs
        check_frechet_trace(C_p.detach().numpy(), C_t.detach().numpy(), nuc.item())
    return (((mu_p - mu_t) ** 2).sum() + (C_p ** 2).sum() + (C_t ** 2).sum() - 2 * nuc).reshape(1)


def wasserstein_1d(s, b, c):
    B, N = s.shape
    mask = b.get("mask", torch.ones_like(s, dtype=torch.bool))
    P = masked_log_softmax(s / c["temperature"], mask).exp()
    T = masked_log_softmax(b["labels"] / c["label_temperature"], mask).exp()
    out = []
    for r in range(B):
        grades = sorted({b["labels"][r, j].item() for j in range(N) if mask[r, j]})
        total = torch.zeros((), dtype=D)
        for k in range(len(grades) - 1):
            below = mask[r] & (b["labels"][r] <= grades[k])
            total = total + (grades[k + 1] - grades[k]) * (P[r] - T[r])[below].sum().abs()
        out.append(total)
    return torch.stack(out)


def check_frechet_trace(c_p, c_t, nuc):
    """Cross-checks the nuclear norm against tr((Σ_P^½ Σ_T Σ_P^½)^½) = tr((Σ_P Σ_T)^½) by scipy."""
    import numpy as np
    from scipy.linalg import sqrtm

    root = sqrtm(c_p.T @ c_p)
    trace = float(np.trace(sqrtm(root @ (c_t.T @ c_t) @ root)).real)
    assert abs(trace - nuc) <= 1e-6 * max(1.0, abs(nuc)), (trace, nuc)


LOSSES = {
    "info_nce": info_nce, "kl_distillation": kl, "listwise_distillation": listwise,
    "margin_mse": margin_mse, "list_net": list_net, "list_mle": list_mle, "rank_net": rank_net,
    "sycl_wasserstein": sycl, "wasserstein_1d": wasserstein_1d,
    "binary_cross_entropy": binary_cross_entropy,
}
DEFAULTS = {
    "info_nce": {"temperature": 0.05},
    "kl_distillation": {"teacher_temperature": 1.0, "student_temperature": 1.0},
    "listwise_distillation": {"teacher_temperature": 0.3, "student_temperature": 0.05,
                              "contrastive_weight": 0.1, "contrastive_temperature": 0.01},
    "margin_mse": {}, "list_net": {}, "list_mle": {}, "rank_net": {},
    "sycl_wasserstein": {"temperature": 1.0},
    "wasserstein_1d": {"temperature": 1.0, "label_temperature": 1.0},
    "binary_cross_entropy": {"pos_weight": 1.0},
}


def f32(x):
    return x.to(torch.float32).to(D)


def make_batch(B, N, kind, ragged, in_batch_list=None):
    if kind == "normal":
        s = torch.randn(B, N, dtype=D) * 2
    elif kind == "extreme":
        s = torch.sign(torch.randn(B, N, dtype=D)) * 1e4 * (1 + torch.rand(B, N, dtype=D))
    else:  # equal
        s = torch.full((B, N), 0.7, dtype=D)
    batch = {
        "teacher": f32(torch.randn(B, N, dtype=D) * 3),
        "labels": torch.randint(0, 4, (B, N)).to(D),
        "positive": torch.randint(0, N, (B,)),
    }
    if ragged:
        lengths = [max(1, N - (r * 3) % N) for r in range(B)]
        mask = torch.zeros(B, N, dtype=torch.bool)
        for r, L in enumerate(lengths):
            mask[r, :L] = True
        batch["mask"] = mask
        batch["positive"] = torch.tensor([(r * 5) % L for r, L in enumerate(lengths)])
    if in_batch_list:
        L = in_batch_list
        own = torch.zeros(B, N, dtype=torch.bool)
        for r in range(B):
            own[r, r * L:(r + 1) * L] = True
        batch["mask"] = own
        batch["positive"] = torch.tensor([r * L for r in range(B)])
        # The positive is the teacher's top of its own list; exclude likely false negatives.
        t = batch["teacher"].clone()
        t[own] = t[own].abs()
        t[torch.arange(B), batch["positive"]] = 10.0
        t = f32(t)
        batch["teacher"] = t
        top = t.max(1).values
        likely = t > 0.6 * top[:, None]
        likely[torch.arange(B), batch["positive"]] = False
        batch["candidates"] = ~likely
    return f32(s), batch


def case(name, loss, B, N, kind="normal", ragged=False, config=None, in_batch_list=None):
    cfg = dict(DEFAULTS[loss])
    cfg.update(config or {})
    s, b = make_batch(B, N, kind, ragged, in_batch_list)
    if loss == "kl_distillation" and cfg.get("teacher_input") == "Probabilities":
        mask = b.get("mask", torch.ones(B, N, dtype=torch.bool))
        b["teacher"] = f32(masked_log_softmax(b["teacher"], mask).exp())
    s.requires_grad_(True)
    t0 = time.perf_counter()
    per = LOSSES[loss](s, b, cfg)
    value = per.mean()
    value.backward()
    out = {
        "name": name, "loss": loss, "config": cfg, "shape": [B, N],
        "scores": s.detach().tolist(),
        "value": value.item(), "per_query": per.detach().tolist(), "grad": s.grad.tolist(),
    }
    # All-equal scores make C_P = 0, where the nuclear norm has no gradient: PyTorch and densify
    # each return a valid subgradient, not the same one.
    out["subgradient"] = loss == "sycl_wasserstein" and kind == "equal"
    for key in ("teacher", "labels"):
        out[key] = b[key].tolist()
    out["positive"] = b["positive"].tolist()
    for key in ("mask", "candidates"):
        if key in b:
            out[key] = b[key].tolist()
    assert math.isfinite(out["value"]) and all(math.isfinite(g) for row in out["grad"] for g in row), name
    return out


def all_cases():
    cases = []
    for loss in LOSSES:
        if loss == "binary_cross_entropy":
            continue  # its cases come last, so the earlier cases' random draws stay as they were
        if loss == "listwise_distillation":
            cases.append(case(f"{loss}/in_batch", loss, 4, 20, in_batch_list=5))
            cases.append(case(f"{loss}/in_batch_extreme", loss, 3, 12, kind="extreme", in_batch_list=4))
            continue
        cases.append(case(f"{loss}/basic", loss, 4, 8))
        cases.append(case(f"{loss}/ragged", loss, 5, 7, ragged=True))
        cases.append(case(f"{loss}/extreme", loss, 4, 6, kind="extreme"))
        cases.append(case(f"{loss}/equal", loss, 3, 5, kind="equal"))
        cases.append(case(f"{loss}/batch64", loss, 64, 4))
        if loss != "sycl_wasserstein":
            cases.append(case(f"{loss}/batch1", loss, 1, 6))
        temps = {"info_nce": ["temperature"], "kl_distillation": ["teacher_temperature", "student_temperature"],
                 "sycl_wasserstein": ["temperature"], "wasserstein_1d": ["temperature", "label_temperature"]}
        for t in (0.01, 0.1, 10.0):
            if loss in temps:
                cases.append(case(f"{loss}/temperature_{t}", loss, 4, 6, config={k: t for k in temps[loss]}))
    cases.append(case("info_nce/in_batch", "info_nce", 4, 12, in_batch_list=3, config={"temperature": 0.01}))
    cases.append(case("kl_distillation/t2_scaling", "kl_distillation", 4, 6,
                      config={"teacher_temperature": 2.0, "student_temperature": 2.0, "temperature_scaling": True}))
    cases.append(case("kl_distillation/probabilities", "kl_distillation", 4, 6, ragged=True,
                      config={"teacher_input": "Probabilities", "student_temperature": 0.5}))
    cases.append(case("list_mle/position_aware", "list_mle", 4, 8, config={"position_aware": True}))
    cases.append(case("list_mle/position_aware_ragged", "list_mle", 5, 7, ragged=True, config={"position_aware": True}))
    bce = "binary_cross_entropy"
    cases.append(case(f"{bce}/basic", bce, 4, 8))
    cases.append(case(f"{bce}/ragged", bce, 5, 7, ragged=True))
    cases.append(case(f"{bce}/extreme", bce, 4, 6, kind="extreme"))
    cases.append(case(f"{bce}/equal", bce, 3, 5, kind="equal"))
    cases.append(case(f"{bce}/batch64", bce, 64, 4))
    cases.append(case(f"{bce}/pos_weight_7", bce, 4, 8, config={"pos_weight": 7.0}))
    return cases


def list_mle_vectorized(s, b, c):
    """ListMLE as a PyTorch user writes it for speed (no mask): sort, gather, logcumsumexp."""
    order = torch.sort(b["labels"], dim=1, descending=True, stable=True).indices
    x = torch.gather(s, 1, order)
    lse = torch.logcumsumexp(x.flip(1), 1).flip(1)
    return (lse - x).sum(1)


def wasserstein_1d_vectorized(s, b, c):
    """1-D Wasserstein over grades 0..3 (no mask): CDF differences at each grade level."""
    P = torch.softmax(s / c["temperature"], 1)
    T = torch.softmax(b["labels"] / c["label_temperature"], 1)
    levels = torch.arange(0, 3, dtype=s.dtype)
    present = torch.stack([(b["labels"] == g).any(1) for g in range(4)], 1).to(s.dtype)
    below = (b["labels"][:, :, None] <= levels[None, None, :]).to(s.dtype)
    cdf = ((P - T)[:, :, None] * below).sum(1)
    # gap from level g to the next present grade above it; every grade 0..3 is present here.
    return (cdf.abs() * present[:, 1:]).sum(1)


def sycl_float64(s, b, c):
    """The SyCL loss in float64, as the method (and densify) computes it."""
    return sycl(s.double(), {k: v.double() if v.is_floating_point() else v for k, v in b.items()}, c)


FAST = {"list_mle": list_mle_vectorized, "wasserstein_1d": wasserstein_1d_vectorized,
        "sycl_wasserstein": sycl_float64}


def timing(loss, B, N, repeats):
    """Forward + backward seconds of one loss in float32 (what a training step runs)."""
    cfg = DEFAULTS[loss]
    fn = FAST.get(loss, LOSSES[loss])
    s = torch.randn(B, N, requires_grad=True)
    b = {"teacher": torch.randn(B, N), "labels": torch.randint(0, 4, (B, N)).float(),
         "positive": torch.zeros(B, dtype=torch.long)}
    global D
    old, D = D, torch.float32
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(s, b, cfg).mean().backward()
        best = min(best, time.perf_counter() - t0)
        s.grad = None
    D = old
    return best


# ---- cross-check against the upstream sentence-transformers loss classes -------------------------
#
# The same cases through sentence-transformers' own loss classes, fed the case's scores by
# stand-in models:
#   * bi-encoder losses (MultipleNegativesRankingLoss, DistillKLDivLoss, MarginMSELoss) call
#     model(features)["sentence_embedding"] per column and a similarity function. The stand-in
#     returns the embedding given in features; the query embedding is 1 (shape [B, 1]) and each
#     candidate column's embedding is its score (shape [B, 1]), so the dot product
#     (util.dot_score / util.pairwise_dot_score) is exactly the case's score.
#   * cross-encoder losses (ListNetLoss, ListMLELoss, PListMLELoss, RankNetLoss) call
#     model.preprocess(pairs) and model(tokens)["scores"]; the stand-in scores the pair
#     (query "b", document "j") as scores[b, j]. Each query's documents are its valid columns
#     (mask), so a ragged mask becomes ragged document lists, as upstream pads them.
# The cross-encoder classes cast the model's scores and the labels with .float() and build
# their padding matrices in the default dtype; for the asserted comparison they run in float64
# (see _upstream_float64: the inputs are float32 numbers, so the cast itself is exact). The
# bi-encoder classes keep the embeddings' dtype. The same classes are also run as they are in
# float32 (column "f32"), for information only.
# A case is marked "upstream": "<Class>" in the JSON only where the class computes the same
# loss; where the definitions differ, the exact relation is checked and printed instead.

UPSTREAM_RTOL = 1e-6


class _Embeddings(torch.nn.Module):
    """Stand-in SentenceTransformer: model(features)["sentence_embedding"] = features["embedding"]."""

    def forward(self, features):
        return {"sentence_embedding": features["embedding"]}


class _PairScores(torch.nn.Module):
    """Stand-in CrossEncoder with one output label scoring (query "b", document "j") as scores[b, j]."""

    num_labels = 1

    def __init__(self, scores):
        super().__init__()
        self.scores = scores  # the leaf tensor the gradient is taken for (not a parameter)

    @property
    def device(self):
        return self.scores.device

    def preprocess(self, pairs, prompt=None, task=None):
        return {"index": torch.tensor([[int(q), int(d)] for q, d in pairs], dtype=torch.long)}

    def forward(self, tokens):
        i = tokens["index"]
        return {"scores": self.scores[i[:, 0], i[:, 1]]}


class _upstream_float64:
    """Runs the cross-encoder losses' own code in float64: Tensor.float() (their cast of the
    scores and labels) returns float64 and the default dtype (their padding matrices) is float64.
    The scores and labels are float32 numbers, so only the arithmetic after the cast changes."""

    def __enter__(self):
        self.old_dtype, self.old_float = torch.get_default_dtype(), torch.Tensor.float
        torch.set_default_dtype(torch.float64)
        torch.Tensor.float = lambda self, memory_format=torch.preserve_format: self.to(
            torch.float64, memory_format=memory_format)

    def __exit__(self, *exc):
        torch.Tensor.float = self.old_float
        torch.set_default_dtype(self.old_dtype)


def _tensors(case, dtype):
    B, N = case["shape"]
    s = torch.tensor(case["scores"], dtype=dtype).requires_grad_(True)
    mask = torch.tensor(case["mask"]) if "mask" in case else torch.ones(B, N, dtype=torch.bool)
    cand = torch.tensor(case["candidates"]) if "candidates" in case else mask.clone()
    pos = torch.tensor(case["positive"])
    cand[torch.arange(B), pos] = True
    return s, torch.tensor(case["teacher"], dtype=dtype), torch.tensor(case["labels"], dtype=dtype), pos, mask, cand


def _columns(row_mask):
    return [j for j in range(row_mask.numel()) if row_mask[j]]


def _bi(columns):
    """Features for a bi-encoder loss: query embedding 1, one [B, 1] embedding per column."""
    one = torch.ones_like(columns[0])[:, None]
    return [{"embedding": one}] + [{"embedding": c[:, None]} for c in columns]


def _label_order(labels, cols):
    """densify's ListMLE order: label descending, ties by lower column first."""
    return sorted(cols, key=lambda j: (-labels[j].item(), j))


def upstream_mnrl(case, dtype, temperature=None):
    """MultipleNegativesRankingLoss(scale=1/τ, similarity_fct=util.dot_score), one query per call
    (a batch of one: the query, its positive as the positive column, its other candidates as hard
    negative columns; with a single query there are no other in-batch documents), averaged over
    the queries. One call over the whole batch is not possible: MNRL scores every query against
    every query's documents, where a densify case gives each query its own list."""
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.util import dot_score

    s, t, y, pos, mask, cand = _tensors(case, dtype)
    tau = temperature if temperature is not None else case["config"]["temperature"]
    loss = MultipleNegativesRankingLoss(_Embeddings(), scale=1.0 / tau, similarity_fct=dot_score)
    B = s.shape[0]
    total = 0
    for b in range(B):
        p = int(pos[b])
        cols = [p] + [j for j in _columns(cand[b]) if j != p]
        total = total + loss(_bi([s[b, j].reshape(1) for j in cols]), labels=None)
    return total / B, s


def upstream_kl(case, dtype):
    """DistillKLDivLoss(student_temperature=τ_s, teacher_temperature=τ_t) (pairwise_dot_score):
    the whole batch in one call when there is no mask, else one call per query over its valid
    columns, averaged (a query with one valid column has loss 0; upstream refuses one column).
    Upstream always multiplies by τ_s² (densify: by τ_s·τ_t, and only with temperature_scaling)."""
    from sentence_transformers.sentence_transformer.losses import DistillKLDivLoss

    s, t, y, pos, mask, cand = _tensors(case, dtype)
    c = case["config"]
    probabilities = c.get("teacher_input", "Scores") == "Probabilities"
    # Teacher probabilities p enter as scores log p at τ_t = 1: softmax(log p) = p / Σp.
    t_t = 1.0 if probabilities else c["teacher_temperature"]
    loss = DistillKLDivLoss(_Embeddings(), student_temperature=c["student_temperature"], teacher_temperature=t_t)
    if probabilities:
        t = torch.where(mask, t.clamp_min(1e-300).log(), t)
    B, N = s.shape
    if "mask" not in case:
        return loss(_bi([s[:, j] for j in range(N)]), t), s
    total = 0
    for b in range(B):
        cols = _columns(mask[b])
        if len(cols) > 1:
            total = total + loss(_bi([s[b, j].reshape(1) for j in cols]), t[b, cols][None])
    return total / B, s


def upstream_margin_mse(case, dtype):
    """MarginMSELoss (pairwise_dot_score), columns ordered positive first: the whole batch in one
    call when there is no mask (upstream's mean over all B·(N−1) margins is densify's mean of
    per-query means when every query has N−1 negatives), else one call per query, averaged (a
    query without negatives has loss 0)."""
    from sentence_transformers.sentence_transformer.losses import MarginMSELoss

    s, t, y, pos, mask, cand = _tensors(case, dtype)
    loss = MarginMSELoss(_Embeddings())
    B, N = s.shape
    if "mask" not in case:
        order = torch.tensor([[int(pos[b])] + [j for j in range(N) if j != pos[b]] for b in range(B)])
        cols = s.gather(1, order)
        return loss(_bi([cols[:, k] for k in range(N)]), t.gather(1, order)), s
    total = 0
    for b in range(B):
        p = int(pos[b])
        cols = [p] + [j for j in _columns(mask[b]) if j != p]
        if len(cols) > 1:
            total = total + loss(_bi([s[b, j].reshape(1) for j in cols]), t[b, cols][None])
    return total / B, s


def _cross(case, dtype, make_loss, order=None, per_query=False):
    s, t, y, pos, mask, cand = _tensors(case, dtype)
    B = s.shape[0]
    with _upstream_float64() if dtype == torch.float64 else contextlib.nullcontext():
        loss = make_loss(_PairScores(s))
        docs = []
        for b in range(B):
            cols = _columns(mask[b])
            docs.append(order(y[b], cols) if order else cols)
        if per_query:
            total = 0
            for b in range(B):
                total = total + loss([[str(b)], [[str(j) for j in docs[b]]]], [y[b, docs[b]]])
            return total / B, s
        return loss([[str(b) for b in range(B)], [[str(j) for j in d] for d in docs]],
                    [y[b, d] for b, d in enumerate(docs)]), s


def upstream_list_net(case, dtype):
    """ListNetLoss: the whole batch in one call (cross-entropy against softmax(labels), mean over
    queries; padding at −1e16 with target 0)."""
    from sentence_transformers.cross_encoder.losses import ListNetLoss
    return _cross(case, dtype, lambda m: ListNetLoss(m))


def upstream_list_mle(case, dtype, respect_input_order=True):
    """ListMLELoss: the whole batch in one call. With respect_input_order=True (upstream's
    default) each query's documents are given in densify's order (label descending, ties by
    column); with False upstream sorts the labels itself (torch.sort, not stable)."""
    from sentence_transformers.cross_encoder.losses import ListMLELoss
    return _cross(case, dtype, lambda m: ListMLELoss(m, respect_input_order=respect_input_order),
                  order=_label_order if respect_input_order else None)


def upstream_plist_mle(case, dtype):
    """PListMLELoss with its default PListMLELambdaWeight, documents in densify's order."""
    from sentence_transformers.cross_encoder.losses import PListMLELoss
    return _cross(case, dtype, lambda m: PListMLELoss(m), order=_label_order)


def upstream_rank_net(case, dtype, per_query=True, reduction_log="natural"):
    """RankNetLoss (LambdaLoss with NoWeightingScheme, σ = 1). densify's loss is one call per
    query with reduction_log="natural", averaged; upstream's default ("binary", one call over
    the batch) divides by ln 2 and by the number of pairs in the whole batch."""
    from sentence_transformers.cross_encoder.losses import RankNetLoss
    return _cross(case, dtype, lambda m: RankNetLoss(m, reduction_log=reduction_log), per_query=per_query)


def _list_mle_upstream_weights(case):
    """ListMLE with PListMLELambdaWeight's weights (2^(n−i) − 1) / (Σ_k (2^(n−k) − 1) + 1e-10)."""
    s, t, y, pos, mask, cand = _tensors(case, D)
    out = []
    for b in range(s.shape[0]):
        cols = _label_order(y[b], _columns(mask[b]))
        x = s[b, cols].detach()
        n = len(cols)
        lse = torch.logcumsumexp(x.flip(0), 0).flip(0)
        w = 2.0 ** (n - torch.arange(1, n + 1, dtype=D)) - 1
        out.append((w / (w.sum() + 1e-10) * (lse - x)).sum())
    return torch.stack(out).mean().item()


def _rank_net_pairs(case):
    y = torch.tensor(case["labels"], dtype=D)
    mask = torch.tensor(case["mask"]) if "mask" in case else torch.ones_like(y, dtype=torch.bool)
    return ((y[:, :, None] > y[:, None, :]) & mask[:, :, None] & mask[:, None, :]).sum((1, 2)).to(D)


def _relations(case):
    """(upstream class, how it differs, upstream function, densify value -> expected upstream
    value) for the cases where an upstream class exists but defines the loss differently."""
    c = case["config"]
    loss = case["loss"]
    if loss == "kl_distillation":
        t_s, t_t = c["student_temperature"], c["teacher_temperature"]
        densify_scale = t_s * t_t if c.get("temperature_scaling") else 1.0
        if t_s ** 2 != densify_scale:
            return [("DistillKLDivLoss",
                     f"upstream = densify × τ_s²/{densify_scale:g}: upstream always multiplies by τ_s² "
                     f"(τ_s = {t_s:g}), densify by τ_s·τ_t and only with temperature_scaling"
                     + ("; teacher probabilities p given as scores log p at τ_t = 1" if c.get("teacher_input") == "Probabilities" else ""),
                     lambda dt: upstream_kl(case, dt), lambda v: v * t_s ** 2 / densify_scale)]
    if loss == "list_mle" and c.get("position_aware"):
        return [("PListMLELoss",
                 "upstream = ListMLE weighted by w_i = (2^(n−i) − 1) / (Σ_k (2^(n−k) − 1) + 1e-10); "
                 "densify: w_i = (2^(n−i+1) − 1) / (2^n − 1)",
                 lambda dt: upstream_plist_mle(case, dt), lambda v: _list_mle_upstream_weights(case))]
    if loss == "rank_net":
        pairs = _rank_net_pairs(case)
        per = torch.tensor(case["per_query"], dtype=D)
        return [("RankNetLoss",
                 "with its defaults over the whole batch, upstream = Σ_b Σ_pairs / (ln 2 · Σ_b pairs_b) "
                 "(binary log, pairs pooled over the batch); densify = mean_b of per-query pair means, natural log",
                 lambda dt: upstream_rank_net(case, dt, per_query=False, reduction_log="binary"),
                 lambda v: ((per * pairs).sum() / pairs.sum().clamp_min(1) / math.log(2)).item())]
    if loss == "listwise_distillation":
        t_s = c["student_temperature"]
        kl_case = dict(case, config={"student_temperature": t_s, "teacher_temperature": c["teacher_temperature"]})

        def composite(dt):
            k, s1 = upstream_kl(kl_case, dt)
            n, s2 = upstream_mnrl(case, dt, temperature=c["contrastive_temperature"])
            return k / t_s ** 2 + c["contrastive_weight"] * n, None

        return [("DistillKLDivLoss+MNRL",
                 "no single class: densify = DistillKLDivLoss/τ_s² over the own list + w · "
                 "MultipleNegativesRankingLoss(scale 1/τ_c) over the candidates",
                 composite, lambda v: v)]
    return []


def _matches(case):
    """The upstream class computing exactly densify's loss for this case, or None."""
    c = case["config"]
    loss = case["loss"]
    if loss == "info_nce":
        return "MultipleNegativesRankingLoss", lambda dt: upstream_mnrl(case, dt)
    if loss == "kl_distillation":
        t_s, t_t = c["student_temperature"], c["teacher_temperature"]
        densify_scale = t_s * t_t if c.get("temperature_scaling") else 1.0
        if t_s ** 2 == densify_scale:
            return "DistillKLDivLoss", lambda dt: upstream_kl(case, dt)
    if loss == "margin_mse":
        return "MarginMSELoss", lambda dt: upstream_margin_mse(case, dt)
    if loss == "list_net":
        return "ListNetLoss", lambda dt: upstream_list_net(case, dt)
    if loss == "list_mle" and not c.get("position_aware"):
        return "ListMLELoss", lambda dt: upstream_list_mle(case, dt)
    if loss == "rank_net":
        return "RankNetLoss", lambda dt: upstream_rank_net(case, dt)
    return None


def _run(fn, dtype):
    value, s = fn(dtype)
    if s is None:
        return value.item(), None
    value.backward()
    return value.item(), s.grad.detach().to(D)


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300) if a != b else 0.0


def upstream_cross_check(cases):
    """Runs every case through the upstream class where one exists, asserts equality to
    UPSTREAM_RTOL (value, and d(loss)/d(scores) relative to max |grad|), marks the matching cases
    with "upstream": "<Class>" and prints a table. Returns the number of matching cases."""
    import logging

    import sentence_transformers

    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    print(f"upstream: sentence-transformers {sentence_transformers.__version__} loss classes "
          f"(float64 via stand-in models; 'f32' = the same classes fed float32, for information)")
    print(f"{'case':<38} {'upstream class':<30} {'|Δvalue|':>9} {'rel':>8} {'grad rel':>8} {'f32 rel':>8}")
    matched, failures = 0, []
    for case in cases:
        name = case["name"]
        found = _matches(case)
        if found:
            cls, fn = found
            value, grad = _run(fn, torch.float64)
            value32, _ = _run(fn, torch.float32)
            want = torch.tensor(case["grad"], dtype=D)
            scale = max(want.abs().max().item(), 1e-300)
            gerr = (grad - want).abs().max().item() / scale
            err = _rel(value, case["value"])
            ok = err <= UPSTREAM_RTOL and gerr <= UPSTREAM_RTOL
            if ok:
                case["upstream"] = cls
                matched += 1
            else:
                failures.append(name)
            print(f"{name:<38} {cls:<30} {abs(value - case['value']):9.2e} {err:8.1e} {gerr:8.1e} "
                  f"{_rel(value32, case['value']):8.1e}{'' if ok else '  MISMATCH'}")
            if case["loss"] == "list_mle":  # informational: upstream sorting the labels itself
                v2, _ = _run(lambda dt: upstream_list_mle(case, dt, respect_input_order=False), torch.float64)
                print(f"{'':<38} {'  respect_input_order=False':<30} {abs(v2 - case['value']):9.2e} "
                      f"{_rel(v2, case['value']):8.1e}")
        for cls, description, fn, expected in _relations(case):
            value, _ = _run(lambda dt: (fn(dt)[0], None), torch.float64)
            err = _rel(value, expected(case["value"]))
            print(f"{name:<38} {cls + ' (differs)':<30} {abs(value - case['value']):9.2e} "
                  f"{_rel(value, case['value']):8.1e}\n{'':<39}{description}; that relation holds to {err:.1e}")
            if err > UPSTREAM_RTOL:
                failures.append(f"{name} (relation)")
        if not found and not _relations(case):
            print(f"{name:<38} {'—':<30}")
    assert not failures, f"upstream mismatches: {failures}"
    print(f"{matched} of {len(cases)} cases equal an upstream class to {UPSTREAM_RTOL:g} (marked \"upstream\")")
    return matched


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bench":
        torch.set_num_threads(2)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, best of 5")
        only = sys.argv[2] if len(sys.argv) > 2 else ""  # e.g. "sycl_wasserstein"
        for loss in LOSSES:
            if loss == "listwise_distillation" or only not in loss:
                continue
            for B, N in ((64, 128), (16, 4096)):
                reps = 1 if loss == "rank_net" and N > 128 else 5
                print(f"{loss:<18} [{B}, {N}]  {timing(loss, B, N, reps) * 1e3:9.2f} ms")
        sys.exit(0)
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/loss/reference.json"
    cases = all_cases()
    upstream_cross_check(cases)
    with open(out, "w") as f:
        json.dump({"tool": f"torch {torch.__version__}, float64", "cases": cases}, f)
        f.write("\n")
    print(f"{len(cases)} cases -> {out}")
