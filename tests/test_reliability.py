"""Numerical extremes, hostile inputs and determinism (the reliability checklist)."""
import math
import numpy as np
import pytest
import torch
import attn_unmask as au


@pytest.mark.parametrize("w_scale", [1e-6, 1e-3, 1., 1e2, 1e3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_everything_finite_when_W_is_scaled(w_scale, dtype):
    inst = au.random_instance(5, 14, seed=0)
    W, X = (inst.W * w_scale).to(dtype), inst.X.to(dtype)
    B = au.attention(X, W)                       # scores up to ~1e3 * O(1): saturated rows included
    X1 = X + 0.1
    V = torch.ones_like(X)
    outs = [au.attention(X1, W), au.loss(X1, W, B), au.gradient(X1, W, B), au.hvp(X1, W, B, V), au.hessian(X1, W, B)]
    for out in outs:
        assert out.dtype == dtype and torch.isfinite(out).all()
    for method in ("newton", "newton_cg", "lbfgs"):
        r = au.recover(W, B, X0=X1, method=method, max_iter=10)
        assert r.X.dtype == dtype and torch.isfinite(r.X).all()
        assert math.isfinite(r.loss) and math.isfinite(r.grad_norm)


def test_scores_up_to_1e4_stay_exact():
    S = torch.tensor([[1e4, 0., -1e4], [1e-8, 2e-8, 0.]], dtype=torch.float64)
    A = au.softmax_rows(S)
    assert torch.isfinite(A).all()
    assert torch.allclose(A[0], torch.tensor([1., 0., 0.], dtype=torch.float64))
    assert torch.allclose(A[1], torch.softmax(S[1], 0), rtol=1e-15)


@pytest.mark.parametrize("arg", ["X", "W", "B"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_are_refused_by_name(arg, bad):
    inst = au.random_instance(3, 6, seed=1)
    args = dict(X=inst.X.clone(), W=inst.W.clone(), B=inst.B.clone())
    args[arg][0, 0] = bad
    with pytest.raises(ValueError, match=f"{arg} contains"):
        au.gradient(args["X"], args["W"], args["B"])


def test_recover_refuses_bad_attention_by_name():
    inst = au.random_instance(3, 6, seed=1)
    with pytest.raises(ValueError, match="B contains NaN"):
        au.recover(inst.W, inst.B * float("nan"))
    with pytest.raises(ValueError, match="not row-stochastic"):
        au.recover(inst.W, inst.B * 2)
    r = au.recover(inst.W, inst.B * 2, renormalize=True, X0=inst.X + 0.01, method="newton")
    assert r.converged


def test_half_precision_is_refused_clearly():
    inst = au.random_instance(3, 6, seed=1)
    for dt in (torch.float16, torch.bfloat16):
        with pytest.raises(TypeError, match="half precision"):
            au.attention(inst.X.to(dt), inst.W.to(dt))


def test_attention_with_exact_zeros_is_a_valid_target():
    inst = au.random_instance(4, 10, seed=2)
    B = inst.B.clone()
    B[B < B.median()] = 0                          # top-k style truncation, then renormalise
    B = B / B.sum(-1, keepdim=True)
    # from a start 5% away (not the answer), the solver must fit the truncated map at least as well as the true input does;
    # the closed form refuses zeros, so auto must search, and say honestly that it does not reproduce B
    r = au.recover(inst.W, B, X0=au.near_start(inst.X, 0.05, seed=1), method="newton", max_iter=50)
    assert torch.isfinite(r.X).all() and r.loss <= au.loss(inst.X, inst.W, B).item() * (1 + 1e-8)
    r = au.recover(inst.W, B)
    assert torch.isfinite(r.X).all() and not r.converged and "zero entries" in r.message
    assert r.loss <= au.loss(inst.X, inst.W, B).item() * 1.01


def test_seed_makes_randomised_methods_bit_reproducible():
    inst = au.random_instance(3, 40, seed=3)
    X0 = inst.X + 0.05
    runs = [au.recover(inst.W, inst.B, X0=X0, method="approx_newton", eps0=0.9, seed=11) for _ in range(2)]
    assert torch.equal(runs[0].X, runs[1].X)
    assert runs[0].info["sampled_rows"] == runs[1].info["sampled_rows"]
    starts = [au.recover(inst.W, inst.B, method="gd", max_iter=0, seed=s).X for s in (5, 5, 6)]
    assert torch.equal(starts[0], starts[1]) and not torch.equal(starts[0], starts[2])


def test_numpy_inputs_give_torch_outputs():
    inst = au.random_instance(3, 6, seed=4)
    g = au.gradient(inst.X.numpy(), inst.W.numpy(), inst.B.numpy())
    assert isinstance(g, torch.Tensor) and torch.allclose(g, au.gradient(*inst))
    with pytest.raises(TypeError, match="object"):
        au.attention(np.array([[1, "a"]], dtype=object), inst.W)


@pytest.mark.parametrize("kind", ["causal", "padding", "causal+padding"])
@pytest.mark.parametrize("heads", [None, 2])
def test_masked_maps_complete_and_recover(kind, heads):
    d, n = 6, 30
    inst = au.random_instance(d, n, heads=heads, seed=7)
    pad = au.padding_mask(torch.arange(n) < n - 4)
    M = {"causal": au.causal_mask(n), "padding": pad, "causal+padding": au.causal_mask(n) + pad}[kind]
    B = au.attention(inst.X, inst.W, mask=M)
    full = au.complete_attention(inst.W, B, M)
    assert full.shape == B.shape and au.relative_error(full, inst.B) < 1e-9
    assert au.relative_error(au.complete_attention(inst.W.float(), B.float(), M.float()), inst.B.float()) < 1e-3
    r = au.recover(inst.W, B, mask=M)
    assert r.converged and r.attention_error < 1e-8 and r.info["start"].startswith("closed form"), r
