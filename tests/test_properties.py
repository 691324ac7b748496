"""Property-based checks over random shapes, scales and dtypes: closed forms agree with autograd, attention rows sum
to one, outputs keep the inputs' dtype and device, and recover never returns a non-finite X."""
import pytest
import torch
from hypothesis import given, strategies as st
import attn_unmask as au
from conftest import DEVICES

shape = st.tuples(st.integers(1, 7), st.integers(1, 9), st.sampled_from([None, 1, 3]))


def problem(d, n, heads, scale, seed, dtype=torch.float64, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(d, n, generator=g, dtype=torch.float64) * scale
    W = torch.randn(*(() if heads is None else (heads,)), d, d, generator=g, dtype=torch.float64) / d
    B = torch.softmax(torch.randn(*W.shape[:-2], n, n, generator=g, dtype=torch.float64), -1)
    return (t.to(device=device, dtype=dtype) for t in (X, W, B))


def reference_loss(X, W, B, reg):
    return 0.5 * ((torch.softmax(X.mT @ W @ X, -1) - B) ** 2).sum() + 0.5 * reg * (X ** 2).sum()


def rel(a, b):
    return float((a - b).norm() / max(float(b.norm()), 1e-8))


@given(shape, st.floats(1e-3, 5.), st.floats(0., 1.), st.integers(0, 2**31 - 1))
def test_gradient_and_hvp_match_autograd(s, scale, reg, seed):
    d, n, heads = s
    X, W, B = problem(d, n, heads, scale, seed)
    V = torch.randn(d, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    Xr = X.clone().requires_grad_()
    g, = torch.autograd.grad(reference_loss(Xr, W, B, reg), Xr, create_graph=True)
    hv, = torch.autograd.grad((g * V).sum(), Xr)
    assert rel(au.gradient(X, W, B, reg), g.detach()) < 1e-10
    # Saturated rows (scale 5 gives probabilities 1 - 1e-12) make the product a difference of terms far larger than
    # itself, and float64 leaves both implementations ~1e-7 from a 60-digit reference there (seed 124 above, measured
    # with mpmath). So the error is judged against the size of those terms, bounded a priori by
    # |dS| <= 2|W||X||V| through a softmax of norm <= 1: a few hundred roundings of (|W||X|)^2|V| + |W||V| + reg|V|.
    err = float((au.hvp(X, W, B, V, reg) - hv).norm())
    w, x, v = float(torch.linalg.matrix_norm(W, 2).max()), float(X.norm()), float(V.norm())
    assert err <= 1e-9 * float(hv.norm()) + 1e3 * 2.2e-16 * ((w * x) ** 2 * v + w * v + reg * v)


@given(shape, st.floats(1e-2, 3.), st.integers(0, 2**31 - 1))
def test_dense_hessian_matches_hvps(s, scale, seed):
    d, n, heads = s
    X, W, B = problem(d, n, heads, scale, seed)
    H = au.hessian(X, W, B, 0.1)
    assert rel(H, H.T) < 1e-12
    V = torch.randn(d, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    assert rel(H @ au.vec(V), au.vec(au.hvp(X, W, B, V, 0.1))) < 1e-10


@given(shape, st.floats(1e-8, 1e2), st.integers(0, 2**31 - 1))
def test_attention_is_row_stochastic_at_any_scale(s, scale, seed):
    d, n, heads = s
    X, W, _ = problem(d, n, heads, scale, seed)
    for dtype in (torch.float32, torch.float64):
        A = au.attention(X.to(dtype), W.to(dtype))
        assert A.dtype == dtype and torch.isfinite(A).all()
        assert float((A.sum(-1) - 1).abs().max()) < (1e-5 if dtype == torch.float32 else 1e-12)


@given(st.integers(1, 5), st.integers(2, 12), st.sampled_from(["newton", "newton_cg", "gd", "lbfgs"]),
       st.floats(1e-3, 30.), st.integers(0, 2**31 - 1))
def test_recover_is_finite_and_honest(d, n, method, x0_scale, seed):
    inst = au.random_instance(d, n, seed=seed)
    X0 = x0_scale * torch.randn(d, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    r = au.recover(inst.W, inst.B, X0=X0, method=method, max_iter=15)
    assert torch.isfinite(r.X).all()
    # what the status claims, checked against an independent recomputation (not against the solver's own numbers)
    assert r.converged == (au.relative_attention_error(r.X, inst.W, inst.B) <= 1e-10)
    assert r.status in ('converged', 'max_iter', 'stalled', 'failed')
    assert r.n_iter <= 15 and len(r.history) == r.n_iter + 1


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_outputs_follow_input_dtype_and_device(device, dtype):
    X, W, B = problem(4, 6, 2, 1., 0, dtype=dtype, device=device)
    V = torch.ones_like(X)
    for out in (au.attention(X, W), au.loss(X, W, B), au.gradient(X, W, B), au.hvp(X, W, B, V), au.hessian(X, W, B),
                au.jacobian(X, W), au.recover(W, B, X0=X, method="newton", max_iter=3).X):
        assert out.dtype == dtype and out.device.type == device
