"""Issue 7's structural promises: no host round-trips inside CG, and approx_newton without the dense Jacobian or Hessian."""
import contextlib, math
import pytest
import torch
import attn_unmask as au
from attn_unmask.hessian import HessianOperator
from attn_unmask.solvers import conjugate_gradient
from conftest import DEVICES

# Every way a tensor's value reaches Python; on a GPU each one waits for the queued kernels.
HOST_READS = ("__bool__", "__float__", "__int__", "__index__", "item", "tolist", "numpy")


@contextlib.contextmanager
def counting_host_reads():
    count = {"reads": 0}
    originals = {name: getattr(torch.Tensor, name) for name in HOST_READS}
    def counted(f):
        def wrapper(self, *args, **kwargs):
            count["reads"] += 1
            return f(self, *args, **kwargs)
        return wrapper
    for name, f in originals.items(): setattr(torch.Tensor, name, counted(f))
    try: yield count
    finally:
        for name, f in originals.items(): setattr(torch.Tensor, name, f)


def _off_solution(d, n, seed=0, scale=0.05):
    inst = au.random_instance(d, n, seed=seed)
    noise = torch.randn(d, n, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    X = inst.X + scale * inst.X.norm() / math.sqrt(d * n) * noise
    return X, inst.W, inst.B


def test_the_counter_sees_host_reads():
    with counting_host_reads() as c:
        t = torch.ones(3)
        float(t.sum()); bool(t.all()); t.tolist()
    assert c["reads"] == 3


@pytest.mark.parametrize("device", DEVICES)
def test_cg_reads_the_host_once_per_check(device):
    # a tight relative tolerance, so CG runs for tens of products
    X, W, B = (t.to(device) for t in _off_solution(6, 40, scale=1e-6))
    op = HessianOperator(X, W, B)
    g = au.gradient(X, W, B)
    p_every, steps_every, _ = conjugate_gradient(op, -g, None, 240, 1e-6, check_every=1)
    with counting_host_reads() as c:
        p_batched, steps_batched, _ = conjugate_gradient(op, -g, None, 240, 1e-6, check_every=8)
    steps = int(steps_batched)
    assert steps > 16                                   # enough products for the bound below to mean something
    assert c["reads"] <= math.ceil(steps / 8) + 1, (c["reads"], steps)
    # checking less often changes nothing but the number of wasted products: same steps, same direction
    assert int(steps_every) == steps
    assert torch.equal(p_every, p_batched)


def test_cg_negative_curvature_first_step_gives_steepest_descent():
    g = torch.tensor([1., -2., 3.], dtype=torch.float64)
    p, steps, negative = conjugate_gradient(lambda v: -v, -g, None, 10, 0.5, check_every=4)
    assert torch.equal(p, -g) and int(steps) == 0 and bool(negative)


def test_matrix_free_approx_newton_never_forms_the_jacobian():
    # d=16, n=1024: the Jacobian would have 2^20 x 2^14 entries (128 GiB in float64), the Hessian 2 GiB.
    # The default eps0 = 0.5 samples here (m < n^2), so the sampled path itself runs.
    d, n = 16, 1024
    X, W, B = _off_solution(d, n)
    r = au.recover(W, B, X0=X, method="approx_newton", max_iter=1, max_cg=5, seed=0)
    assert r.info["hessian"] == "matrix_free"            # what hessian='auto' picks when J would not fit
    assert 0 < r.info["sampled_rows"][0] < n * n
    assert r.n_iter == 1 and r.loss < au.loss(X, W, B).item()


def test_approx_newton_variants_converge_and_are_reproducible():
    X0, W, B = _off_solution(3, 80)
    runs = {}
    for hessian in ("matrix_free", "dense"):
        a, b = (au.recover(W, B, X0=X0, method="approx_newton", eps0=0.9, hessian=hessian, seed=3) for _ in range(2))
        assert a.info["sampled_rows"][0] < 80 * 80           # it did sample
        assert a.converged and a.attention_error < 1e-9, a
        assert torch.equal(a.X, b.X)
        other = au.recover(W, B, X0=X0, method="approx_newton", eps0=0.9, hessian=hessian, seed=4)
        assert not torch.equal(a.X, other.X)                 # the seed is what fixes the sample
        runs[hessian] = a
    assert au.recover(W, B, X0=X0, method="approx_newton", max_iter=1).info["hessian"] == "dense"   # small: J fits
    with pytest.raises(ValueError, match="hessian must be 'auto', 'matrix_free' or 'dense'"):
        au.recover(W, B, X0=X0, method="approx_newton", hessian="sparse")


@pytest.mark.parametrize("device", DEVICES)
def test_every_public_function_runs_where_its_inputs_live(device):
    # What a GPU session runs (CI has no GPU, so there the CUDA case is skipped and the CPU case runs the same code).
    inst = au.random_instance(4, 12, heads=2, seed=5)
    X, W, B = inst.X.to(device), inst.W.to(device), inst.B.to(device)
    X1 = X + 0.01 * torch.randn(X.shape, dtype=X.dtype, generator=torch.Generator().manual_seed(0)).to(device)
    V = torch.ones_like(X)
    mask = au.causal_mask(12, device=device)
    outputs = {
        "attention": au.attention(X1, W, mask=mask), "loss": au.loss(X1, W, B), "gradient": au.gradient(X1, W, B),
        "hvp": au.hvp(X1, W, B, V), "hessian_operator": au.hessian_operator(X1, W, B)(V), "hessian": au.hessian(X1, W, B),
        "jacobian": au.jacobian(X1, W), "jacobian_row_norms": au.jacobian_row_norms(X1, W, mask=mask),
        "perturb_attention": au.perturb_attention(B, "multiplicative", 1e-3, seed=0),
        "algebraic_recover": au.algebraic_recover(W, B), "hessian_blocks": au.hessian_blocks(X1, W, B),
        "problem.blocks": au.make_problem(W, B).blocks(X1), "log_objective.blocks": au.LogObjective(au.make_problem(W, B)).blocks(X1),
        "complete_attention": au.complete_attention(W, au.attention(X, W, mask=mask), mask),
    }
    for name, out in outputs.items():
        assert out.device.type == device and out.dtype == torch.float64 and torch.isfinite(out).all(), name
    runs = {m: au.recover(W, B, X0=X1, method=m, max_iter=30) for m in ("newton", "newton_cg", "gd", "adam", "lbfgs", "log_lm")}
    runs["approx_newton (dense)"] = au.recover(W, B, X0=X1, method="approx_newton", hessian="dense", seed=0)
    runs["approx_newton (matrix-free)"] = au.recover(W, B, X0=X1, method="approx_newton", hessian="matrix_free", seed=0)
    runs["auto"], runs["algebraic"] = au.recover(W, B), au.recover(W, B, method="algebraic")
    for name, r in runs.items():
        assert r.X.device.type == device and torch.isfinite(r.X).all(), name
    for name in ("newton", "newton_cg", "approx_newton (dense)", "approx_newton (matrix-free)", "auto", "log_lm"):
        assert runs[name].converged and runs[name].attention_error < 1e-8, (name, runs[name])
