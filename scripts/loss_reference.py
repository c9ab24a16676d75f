#!/usr/bin/env python3
"""PyTorch reference values and input gradients for densify-loss (tests/loss_parity.rs).

Each loss is written here independently, the way a PyTorch user would (F.kl_div, F.cross_entropy,
logcumsumexp, torch.linalg.matrix_norm(..., "nuc")), from the formulas in the Rust docs. Inputs are
generated with a fixed seed, rounded to float32 (so Rust sees the very same numbers), and the
losses are evaluated in float64. Output: tests/fixtures/loss/reference.json with, per case, the
inputs, the mean-reduced loss, the per-query losses and d(mean loss)/d(scores).

Run: scripts/make_loss_fixtures.sh (makes a throwaway venv with torch==2.9.0).
"""
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
}
DEFAULTS = {
    "info_nce": {"temperature": 0.05},
    "kl_distillation": {"teacher_temperature": 1.0, "student_temperature": 1.0},
    "listwise_distillation": {"teacher_temperature": 0.3, "student_temperature": 0.05,
                              "contrastive_weight": 0.1, "contrastive_temperature": 0.01},
    "margin_mse": {}, "list_net": {}, "list_mle": {}, "rank_net": {},
    "sycl_wasserstein": {"temperature": 1.0},
    "wasserstein_1d": {"temperature": 1.0, "label_temperature": 1.0},
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


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bench":
        torch.set_num_threads(2)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, best of 5")
        for loss in LOSSES:
            if loss == "listwise_distillation":
                continue
            for B, N in ((64, 128), (16, 4096)):
                reps = 1 if loss == "rank_net" and N > 128 else 5
                print(f"{loss:<18} [{B}, {N}]  {timing(loss, B, N, reps) * 1e3:9.2f} ms")
        sys.exit(0)
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/loss/reference.json"
    cases = all_cases()
    with open(out, "w") as f:
        json.dump({"tool": f"torch {torch.__version__}, float64", "cases": cases}, f)
        f.write("\n")
    print(f"{len(cases)} cases -> {out}")
