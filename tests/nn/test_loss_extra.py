"""The losses of dyngraph/nn/_functional_loss_extra.py and nn/modules/loss_extra.py against
PyTorch (values, gradients, module reprs and state dicts, errors), gradcheck in float64, and
compiled calls against eager ones."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import nn
from dyngraph.nn import functional as F
from tests.conftest import (assert_close, assert_repr_like_torch, requires_torch, to_np,
                            torch)
from tests.opinfos.ctc_ops import ctc_brute_force

if torch is not None:
    import torch.nn.functional as TF

RNG = np.random.default_rng(2024)
REDUCTIONS = ["mean", "sum", "none"]


def randn(*shape):
    return RNG.standard_normal(shape)


def uniform(low, high, *shape):
    return RNG.uniform(low, high, shape)


def signs(*shape):
    return np.where(RNG.random(shape) < 0.5, -1.0, 1.0)


def check_vs_torch(dg_fn, torch_fn, arrays, grad_mask=None, rtol=1e-9, atol=1e-10):
    """Forward and gradients of dg_fn vs torch_fn on the same inputs (float ones need grad)."""
    arrays = [np.asarray(a) for a in arrays]
    grad_mask = grad_mask or [a.dtype.kind == "f" for a in arrays]
    d = [dg.tensor(a, requires_grad=bool(g)) for a, g in zip(arrays, grad_mask)]
    t = [torch.tensor(a, requires_grad=bool(g)) for a, g in zip(arrays, grad_mask)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got, want = dg_fn(*d), torch_fn(*t)
    assert tuple(got.shape) == tuple(want.shape)
    assert got.dtype.name == str(want.dtype).replace("torch.", "")
    assert_close(got, want, rtol=rtol, atol=atol)
    seed = RNG.standard_normal(tuple(want.shape))
    want.backward(torch.tensor(seed, dtype=want.dtype))
    got.backward(dg.tensor(seed, dtype=got.dtype))
    for dt, tt, g in zip(d, t, grad_mask):
        if g and tt.grad is None:      # e.g. a target used only in comparisons
            assert dt.grad is None or not to_np(dt.grad).any()
        elif g:
            assert dt.grad is not None, "missing gradient"
            assert_close(dt.grad, tt.grad, rtol=rtol, atol=atol)


def gradcheck(fn, arrays, grad_mask=None):
    arrays = [np.asarray(a) for a in arrays]
    grad_mask = grad_mask or [a.dtype.kind == "f" for a in arrays]
    ins = [dg.tensor(a, requires_grad=bool(g)) for a, g in zip(arrays, grad_mask)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dg.autograd.gradcheck(fn, ins, eps=1e-6, atol=1e-6, rtol=1e-4)


def _both(name, **kw):
    """The same functional with the same keyword arguments, in dyngraph and in torch."""
    return (lambda *a: getattr(F, name)(*a, **kw)), (lambda *a: getattr(TF, name)(*a, **kw))


# (id, functional name, keyword arguments, input arrays): each is checked against torch for every
# reduction, and by gradcheck with reduction='sum'
_MM_T = np.array([0, 2, 1, 2])
_ML_T = np.array([[3, 0, -1, 1, 2], [1, 1, 4, -1, -1], [-1, 2, 0, 0, 0], [0, 1, 2, 3, 4]])
CASES = [
    ("gnll-hetero", "gaussian_nll_loss", {}, [randn(4, 3), randn(4, 3), uniform(0.2, 2, 4, 3)]),
    ("gnll-full-clamped", "gaussian_nll_loss", {"full": True, "eps": 0.5},
     [randn(4, 3), randn(4, 3), uniform(0.1, 1.5, 4, 3)]),
    ("gnll-var-last-dim-dropped", "gaussian_nll_loss", {},
     [randn(4, 3), randn(4, 3), uniform(0.2, 2, 4)]),
    ("gnll-var-size1", "gaussian_nll_loss", {}, [randn(4, 3), randn(4, 3), uniform(0.2, 2, 4, 1)]),
    ("gnll-var-size1-lead", "gaussian_nll_loss", {},
     [randn(2, 3, 4), randn(2, 3, 4), uniform(0.2, 2, 2, 1, 4)]),
    ("gnll-target-broadcast", "gaussian_nll_loss", {},
     [randn(4, 3), randn(3), uniform(0.2, 2, 4, 3)]),
    ("poisson-log", "poisson_nll_loss", {}, [randn(4, 3), uniform(0, 5, 4, 3)]),
    ("poisson-rate", "poisson_nll_loss", {"log_input": False},
     [uniform(0.1, 3, 4, 3), uniform(0, 5, 4, 3)]),
    ("poisson-full", "poisson_nll_loss", {"full": True},
     [randn(2, 4), np.array([[0.5, 0.9, 1.5, 4.0], [2.0, 7.0, 1.2, 0.3]])]),
    ("poisson-rate-full-eps", "poisson_nll_loss", {"log_input": False, "full": True, "eps": 0.1},
     [uniform(0, 3, 4, 3), uniform(1.5, 6, 4, 3)]),
    ("poisson-broadcast", "poisson_nll_loss", {}, [randn(4, 3), uniform(0, 5, 3)]),
    ("hinge", "hinge_embedding_loss", {}, [randn(4, 3), signs(4, 3)]),
    ("hinge-margin-odd-labels", "hinge_embedding_loss", {"margin": 0.5},
     [randn(2, 3), np.array([[1.0, -1.0, 0.5], [-1.0, 2.0, 1.0]])]),
    ("hinge-broadcast", "hinge_embedding_loss", {}, [randn(4, 3), signs(3)]),
    ("soft-margin", "soft_margin_loss", {}, [randn(4, 3) * 3, signs(4, 3)]),
    ("soft-margin-broadcast", "soft_margin_loss", {}, [randn(4, 3), signs(3)]),
    ("multilabel-soft", "multilabel_soft_margin_loss", {},
     [randn(4, 3) * 3, (RNG.random((4, 3)) < 0.5).astype(float)]),
    ("multilabel-soft-weight", "multilabel_soft_margin_loss", {"weight": None},
     [randn(4, 3), (RNG.random((4, 3)) < 0.5).astype(float), uniform(0.5, 2, 3)]),
    ("multilabel-soft-1d", "multilabel_soft_margin_loss", {},
     [randn(5), (RNG.random(5) < 0.5).astype(float)]),
    ("multi-margin-p1", "multi_margin_loss", {}, [randn(4, 3), _MM_T]),
    ("multi-margin-p2-margin", "multi_margin_loss", {"p": 2, "margin": 0.7}, [randn(4, 3), _MM_T]),
    ("multi-margin-weight", "multi_margin_loss", {"weight": None},
     [randn(4, 3), _MM_T, uniform(0.5, 2, 3)]),
    ("multi-margin-1d", "multi_margin_loss", {}, [randn(5), np.array(3)]),
    ("multi-margin-1d-target1", "multi_margin_loss", {"p": 2}, [randn(5), np.array([1])]),
    ("multilabel-margin", "multilabel_margin_loss", {}, [randn(4, 5), _ML_T]),
    ("multilabel-margin-1d", "multilabel_margin_loss", {}, [randn(5), np.array([4, 1, -1, 0, 0])]),
    ("triplet", "triplet_margin_loss", {}, [randn(4, 6), randn(4, 6), randn(4, 6)]),
    ("triplet-p1-swap", "triplet_margin_loss", {"p": 1, "swap": True, "margin": 2.0},
     [randn(4, 6), randn(4, 6), randn(4, 6)]),
    ("triplet-p3-eps", "triplet_margin_loss", {"p": 3, "eps": 0.1},
     [randn(4, 6), randn(4, 6), randn(4, 6)]),
    ("triplet-pinf-swap", "triplet_margin_loss", {"p": float("inf"), "swap": True},
     [randn(4, 6), randn(4, 6), randn(4, 6)]),
    ("triplet-broadcast", "triplet_margin_loss", {}, [randn(4, 6), randn(1, 6), randn(4, 6)]),
    ("triplet-1d", "triplet_margin_loss", {"margin": 3.0}, [randn(6), randn(6), randn(6)]),
    ("triplet-3d", "triplet_margin_loss", {}, [randn(2, 3, 4), randn(2, 3, 4), randn(2, 3, 4)]),
    ("triplet-distance", "triplet_margin_with_distance_loss", {},
     [randn(4, 6), randn(4, 6), randn(4, 6)]),
    ("triplet-distance-swap", "triplet_margin_with_distance_loss", {"swap": True, "margin": 2.0},
     [randn(4, 6), randn(4, 6), randn(4, 6)]),
]


# inputs PyTorch refuses to differentiate (dyngraph does differentiate them)
_NO_TORCH_GRAD = {"soft_margin_loss": [True, False], "multi_margin_loss": [True, False, False]}


def _call(name, kw, reduction):
    """dyngraph and torch callables; a weight given as the last array goes to `weight`."""
    dfn, tfn = _both(name, **{k: v for k, v in kw.items() if k != "weight"}, reduction=reduction)
    if "weight" in kw:
        return ((lambda *a: getattr(F, name)(*a[:-1], weight=a[-1], reduction=reduction,
                                             **{k: v for k, v in kw.items() if k != "weight"})),
                (lambda *a: getattr(TF, name)(*a[:-1], weight=a[-1], reduction=reduction,
                                              **{k: v for k, v in kw.items() if k != "weight"})))
    return dfn, tfn


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_vs_torch(case, reduction):
    _, name, kw, arrays = case
    dfn, tfn = _call(name, kw, reduction)
    check_vs_torch(dfn, tfn, arrays, _NO_TORCH_GRAD.get(name))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradcheck(case):
    _, name, kw, arrays = case
    if name == "gaussian_nll_loss" and "eps" in kw:
        pytest.skip("the clamp at eps is invisible to autograd (as in PyTorch): not a derivative")
    dfn, _ = _call(name, kw, "sum") if torch is not None else (None, None)
    if dfn is None:
        kws = {k: v for k, v in kw.items() if k != "weight"}
        dfn = ((lambda *a: getattr(F, name)(*a[:-1], weight=a[-1], reduction="sum", **kws))
               if "weight" in kw else (lambda *a: getattr(F, name)(*a, reduction="sum", **kws)))
    gradcheck(dfn, arrays)


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", [c for c in CASES if c[0] in (
    "gnll-hetero", "poisson-full", "hinge", "soft-margin", "multilabel-soft",
    "multi-margin-p2-margin", "multilabel-margin", "triplet-p1-swap")], ids=lambda c: c[0])
def test_float32_and_float64(case, dtype):
    _, name, kw, arrays = case
    cast = [a.astype(dtype) if np.asarray(a).dtype.kind == "f" else a for a in arrays]
    dfn, tfn = _call(name, kw, "mean")
    tol = {"float32": (1e-5, 1e-6), "float64": (1e-9, 1e-10)}[dtype]
    check_vs_torch(dfn, tfn, cast, _NO_TORCH_GRAD.get(name), rtol=tol[0], atol=tol[1])


@requires_torch
def test_gaussian_nll_float_var_and_clamped_gradient():
    x, y = randn(3, 2), randn(3, 2)
    check_vs_torch(lambda a, b: F.gaussian_nll_loss(a, b, 0.3, full=True),
                   lambda a, b: TF.gaussian_nll_loss(a, b, 0.3, full=True), [x, y])
    # var below eps: the value uses eps, the gradient is the one at the clamped value
    v = np.array([[1e-9, 0.5], [2.0, 1e-3], [0.2, 0.05]])
    check_vs_torch(lambda a, b, c: F.gaussian_nll_loss(a, b, c, eps=1e-2),
                   lambda a, b, c: TF.gaussian_nll_loss(a, b, c, eps=1e-2), [x, y, v])


def test_soft_margin_is_stable_for_large_margins():
    # PyTorch's log1p(exp(-x y)) overflows to inf here; the stable form gives the exact value
    x = dg.tensor([-1000.0, 1000.0, 40.0], requires_grad=True)
    loss = F.soft_margin_loss(x, dg.tensor([1.0, 1.0, -1.0]), reduction="none")
    assert_close(loss, np.array([1000.0, 0.0, 40.0]))
    loss.sum().backward()
    assert_close(x.grad, np.array([-1.0, 0.0, 1.0]))


def test_poisson_full_gradient_wrt_target_is_finite():
    # PyTorch gives nan at target = 0 (0 * log 0 in the masked Stirling term); dyngraph gives 0
    t = dg.tensor([0.0, 1.0, 3.0], requires_grad=True)
    F.poisson_nll_loss(dg.tensor([0.1, 0.2, 0.3]), t, full=True, reduction="sum").backward()
    g = to_np(t.grad)
    assert np.isfinite(g).all()
    assert_close(g[:2], np.array([-0.1, -0.2]), "float32")


def test_empty_batches():
    x = dg.zeros(0, 3, requires_grad=True)
    t = dg.zeros(0, dtype=dg.int64)
    assert tuple(F.multi_margin_loss(x, t, reduction="none").shape) == (0,)
    assert np.isnan(F.multi_margin_loss(x, t).item())      # PyTorch: uninitialised memory
    assert F.multilabel_margin_loss(x, dg.zeros(0, 3, dtype=dg.int64)).item() == 0.0
    assert tuple(F.soft_margin_loss(x, x.detach(), reduction="none").shape) == (0, 3)
    assert np.isnan(F.soft_margin_loss(x, x.detach()).item())
    loss = F.triplet_margin_loss(x, x, x, reduction="sum")
    loss.backward()
    assert loss.item() == 0.0 and tuple(x.grad.shape) == (0, 3)


# ----------------------------------------------------------------------------------------------
# CTC
# ----------------------------------------------------------------------------------------------

def _ctc_case(rng, steps, n, classes, max_target, *, blank=0, impossible=False):
    """Random log-probabilities (T, N, C), padded targets with repeats, and lengths."""
    logits = rng.standard_normal((steps, n, classes)) * 2
    labels = [c for c in range(classes) if c != blank]
    tl = rng.integers(0, max_target + 1, n)
    tl[0] = max_target
    targets = rng.choice(labels, (n, max_target))
    targets[0, 1] = targets[0, 0]                     # a repeated label
    il = rng.integers(max(1, steps - 3), steps + 1, n)
    il[0] = steps
    if impossible:
        il[-1], tl[-1] = 2, min(max_target, 3)           # 3 labels cannot fit in 2 steps
        targets[-1, :3] = labels[:1] * 3
    return logits, targets, il, tl


def _ctc_pair(logits, targets, il, tl, *, concat=False, dtype="float64", **kw):
    """dyngraph and torch losses (and their logits) for one case."""
    if concat:
        targets = np.concatenate([targets[i, :tl[i]] for i in range(len(tl))])
    x = dg.tensor(logits.astype(dtype), requires_grad=True)
    xt = torch.tensor(logits.astype(dtype), requires_grad=True)
    got = F.ctc_loss(x.log_softmax(2), dg.tensor(targets), dg.tensor(il), dg.tensor(tl), **kw)
    want = TF.ctc_loss(xt.log_softmax(2), torch.tensor(targets), torch.tensor(il),
                       torch.tensor(tl), **kw)
    return x, xt, got, want


@requires_torch
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("concat", [False, True])
def test_ctc_random_cases_vs_torch(seed, reduction, concat):
    rng = np.random.default_rng(seed)
    steps, n, classes, s = [(12, 4, 5, 4), (30, 3, 8, 10), (7, 5, 3, 3), (20, 2, 6, 6)][seed]
    case = _ctc_case(rng, steps, n, classes, s, blank=seed % 2 * (classes - 1))
    x, xt, got, want = _ctc_pair(*case, concat=concat, reduction=reduction,
                                 blank=seed % 2 * (classes - 1))
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want, rtol=1e-9, atol=1e-10)
    seed_grad = rng.standard_normal(tuple(want.shape))
    got.backward(dg.tensor(seed_grad))
    want.backward(torch.tensor(seed_grad))
    assert_close(x.grad, xt.grad, rtol=1e-8, atol=1e-10)


@requires_torch
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_impossible_alignments(zero_infinity, reduction):
    case = _ctc_case(np.random.default_rng(7), 10, 3, 5, 4, impossible=True)
    x, xt, got, want = _ctc_pair(*case, reduction=reduction, zero_infinity=zero_infinity)
    assert_close(got, want)
    if reduction == "none":
        assert np.isinf(to_np(got)[-1]) != zero_infinity
    got.sum().backward()
    want.sum().backward()
    assert_close(x.grad, xt.grad, rtol=1e-8, atol=1e-10)       # nan where torch has nan
    assert np.isnan(to_np(x.grad)).any() != zero_infinity


@requires_torch
def test_ctc_gradient_wrt_log_probs_matches_torch():
    """PyTorch's gradient w.r.t. log_probs is exp(log_probs) - posterior (not -posterior)."""
    logits, targets, il, tl = _ctc_case(np.random.default_rng(3), 9, 3, 4, 3)
    lp_np = torch.tensor(logits).log_softmax(2).numpy()
    lp, lpt = dg.tensor(lp_np, requires_grad=True), torch.tensor(lp_np, requires_grad=True)
    F.ctc_loss(lp, dg.tensor(targets), dg.tensor(il), dg.tensor(tl), reduction="sum").backward()
    TF.ctc_loss(lpt, torch.tensor(targets), torch.tensor(il), torch.tensor(tl),
                reduction="sum").backward()
    assert_close(lp.grad, lpt.grad, rtol=1e-9, atol=1e-12)
    assert (to_np(lp.grad)[int(il.min()):, np.argmin(il)] == 0).all()   # past the input's end


@requires_torch
def test_ctc_float32_unbatched_and_tuple_lengths():
    logits, targets, il, tl = _ctc_case(np.random.default_rng(5), 15, 3, 6, 5)
    x, xt, got, want = _ctc_pair(logits, targets, il, tl, dtype="float32")
    assert got.dtype is dg.float32
    assert_close(got, want, rtol=2e-5, atol=1e-6)
    got.backward()
    want.backward()
    assert_close(x.grad, xt.grad, rtol=1e-4, atol=1e-6)
    lp = torch.tensor(logits[:, 0]).log_softmax(1)
    for reduction in REDUCTIONS:
        want = TF.ctc_loss(lp, torch.tensor(targets[0]), torch.tensor(il[0]),
                           torch.tensor(tl[0]), reduction=reduction)
        got = F.ctc_loss(dg.tensor(lp.numpy()), dg.tensor(targets[0]), dg.tensor(il[0]),
                         dg.tensor(tl[0]), reduction=reduction)
        assert tuple(got.shape) == tuple(want.shape) == ()
        assert_close(got, want)
    lp3 = torch.tensor(logits).log_softmax(2)
    want = TF.ctc_loss(lp3, torch.tensor(targets), tuple(il.tolist()), tuple(tl.tolist()))
    got = F.ctc_loss(dg.tensor(lp3.numpy()), dg.tensor(targets), tuple(il.tolist()),
                     list(tl.tolist()))
    assert_close(got, want)


def test_ctc_against_brute_force_enumeration():
    rng = np.random.default_rng(11)
    lp = np.log(rng.dirichlet(np.ones(3), size=(5, 2)))              # (T=5, N=2, C=3)
    targets, il, tl = np.array([[1, 1], [2, 1]]), np.array([5, 4]), np.array([2, 1])
    nll, _ = ctc_brute_force(lp, targets, il, tl)
    got = F.ctc_loss(dg.tensor(lp), dg.tensor(targets), dg.tensor(il), dg.tensor(tl),
                     reduction="none")
    assert_close(got, nll)
    # an empty target on an empty input has loss 0; on a longer input, -sum(log p(blank))
    got = F.ctc_loss(dg.tensor(lp), dg.tensor(targets), dg.tensor([0, 3]), dg.tensor([0, 0]),
                     reduction="none")
    assert_close(got, np.array([0.0, -lp[:3, 1, 0].sum()]))


@requires_torch
def test_ctc_mean_divides_by_target_lengths_clamped_at_one():
    logits, targets, il, tl = _ctc_case(np.random.default_rng(9), 8, 3, 4, 3)
    tl[1] = 0
    x, xt, got, want = _ctc_pair(logits, targets, il, tl)
    none = F.ctc_loss(x.log_softmax(2), dg.tensor(targets), dg.tensor(il), dg.tensor(tl),
                      reduction="none")
    assert_close(got, (to_np(none) / np.maximum(tl, 1)).mean())
    assert_close(got, want)


def test_ctc_module_and_double_call_compiled():
    logits, targets, il, tl = _ctc_case(np.random.default_rng(1), 10, 3, 5, 4)
    crit = nn.CTCLoss(blank=0, zero_infinity=True)
    x = dg.tensor(logits, requires_grad=True)
    args = (dg.tensor(targets), dg.tensor(il), dg.tensor(tl))
    crit(x.log_softmax(2), *args).backward()
    want = to_np(x.grad).copy()
    eager = F.ctc_loss(x.log_softmax(2), *args, zero_infinity=True)

    def step(t):
        return crit(t.log_softmax(2), *args)

    compiled = dg.compile(step, backend="llvm")
    for _ in range(2):
        x.grad = None
        loss = compiled(x)
        loss.backward()
        assert_close(loss, eager)
        assert_close(x.grad, want)


# ----------------------------------------------------------------------------------------------
# Compiled mode
# ----------------------------------------------------------------------------------------------

def test_compiled_losses_match_eager():
    x = dg.tensor(randn(4, 5), requires_grad=True)
    a, p, n = (dg.tensor(randn(4, 6)) for _ in range(3))
    var = dg.tensor(uniform(0.2, 2, 4, 5))
    mm_t, ml_t = dg.tensor(np.array([0, 4, 1, 2])), dg.tensor(_ML_T)
    y = dg.tensor(signs(4, 5))

    def fn(x):
        return (F.multi_margin_loss(x, mm_t, p=2, weight=dg.ones(5) * 0.5)
                + F.multilabel_margin_loss(x, ml_t) + F.soft_margin_loss(x, y)
                + F.gaussian_nll_loss(x, y, var, full=True) + F.poisson_nll_loss(x, y.abs())
                + F.hinge_embedding_loss(x, y) + F.multilabel_soft_margin_loss(x, y.relu())
                + F.triplet_margin_loss(a * x.sum(), p, n, swap=True))

    want = fn(x)
    want.backward()
    want_grad = to_np(x.grad).copy()
    compiled = dg.compile(fn, backend="llvm")
    for _ in range(2):
        x.grad = None
        got = compiled(x)
        got.backward()
        assert_close(got, want, rtol=1e-9, atol=1e-10)
        assert_close(x.grad, want_grad, rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------------

def _module_pairs():
    w = np.array([0.5, 1.0, 2.0])
    return [
        ("GaussianNLLLoss", {"full": True, "eps": 1e-3}, {}),
        ("PoissonNLLLoss", {"log_input": False, "full": True}, {}),
        ("HingeEmbeddingLoss", {"margin": 0.5}, {}),
        ("MultiMarginLoss", {"p": 2, "margin": 0.5}, {"weight": w}),
        ("MultiLabelMarginLoss", {}, {}),
        ("MultiLabelSoftMarginLoss", {}, {"weight": w}),
        ("SoftMarginLoss", {"reduction": "sum"}, {}),
        ("TripletMarginLoss", {"margin": 0.5, "p": 1.0, "swap": True}, {}),
        ("TripletMarginWithDistanceLoss", {"margin": 0.5}, {}),
        ("CTCLoss", {"blank": 2, "zero_infinity": True}, {}),
    ]


@requires_torch
@pytest.mark.parametrize("name,kw,tensors", _module_pairs(), ids=lambda v: v
                         if isinstance(v, str) else "")
def test_module_repr_state_dict_and_attributes(name, kw, tensors):
    d = getattr(nn, name)(**kw, **{k: dg.tensor(v) for k, v in tensors.items()})
    t = getattr(torch.nn, name)(**kw, **{k: torch.tensor(v) for k, v in tensors.items()})
    assert_repr_like_torch(d, t)
    assert list(d.state_dict()) == list(t.state_dict())
    for k in list(kw) + ["reduction"]:
        assert getattr(d, k) == getattr(t, k)
    for k in tensors:
        assert_close(getattr(d, k), getattr(t, k))


@requires_torch
def test_modules_match_functionals():
    x, tgt = randn(4, 3), signs(4, 3)
    w = np.array([0.5, 1.0, 2.0])
    for dmod, tmod, args in [
        (nn.MultiMarginLoss(p=2, weight=dg.tensor(w)), torch.nn.MultiMarginLoss(
            p=2, weight=torch.tensor(w)), [x, _MM_T]),
        (nn.MultiLabelSoftMarginLoss(weight=dg.tensor(w), reduction="none"),
         torch.nn.MultiLabelSoftMarginLoss(weight=torch.tensor(w), reduction="none"),
         [x, (tgt > 0).astype(float)]),
        (nn.HingeEmbeddingLoss(margin=2.0), torch.nn.HingeEmbeddingLoss(margin=2.0), [x, tgt]),
        (nn.SoftMarginLoss(), torch.nn.SoftMarginLoss(), [x, -tgt.astype(np.int64)]),
        (nn.PoissonNLLLoss(), torch.nn.PoissonNLLLoss(), [x, np.abs(tgt)]),
        (nn.GaussianNLLLoss(), torch.nn.GaussianNLLLoss(), [x, tgt, np.ones((4, 1))]),
        (nn.MultiLabelMarginLoss(), torch.nn.MultiLabelMarginLoss(), [randn(4, 5), _ML_T]),
        (nn.TripletMarginLoss(p=3), torch.nn.TripletMarginLoss(p=3), [x, tgt, x[::-1].copy()]),
        (nn.TripletMarginWithDistanceLoss(swap=True),
         torch.nn.TripletMarginWithDistanceLoss(swap=True), [x, tgt, x[::-1].copy()]),
    ]:
        check_vs_torch(dmod, tmod, args)


@requires_torch
def test_triplet_with_custom_distance_function():
    def dcos(u, v, lib):
        return 1.0 - lib.cosine_similarity(u, v)

    check_vs_torch(
        lambda a, p, n: nn.TripletMarginWithDistanceLoss(
            distance_function=lambda u, v: dcos(u, v, F), swap=True, reduction="none")(a, p, n),
        lambda a, p, n: torch.nn.TripletMarginWithDistanceLoss(
            distance_function=lambda u, v: dcos(u, v, TF), swap=True, reduction="none")(a, p, n),
        [randn(5, 4), randn(5, 4), randn(5, 4)])


def test_legacy_size_average_and_reduce():
    x, t = dg.tensor(randn(4, 3)), dg.tensor(signs(4, 3))
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        crit = nn.SoftMarginLoss(size_average=False)
    assert crit.reduction == "sum"
    assert_close(crit(x, t), F.soft_margin_loss(x, t, reduction="sum"))
    with pytest.warns(UserWarning, match="deprecated"):
        got = F.hinge_embedding_loss(x, t, reduce=False)
    assert tuple(got.shape) == (4, 3)
    with pytest.warns(UserWarning, match="deprecated"):
        got = F.multi_margin_loss(x, dg.tensor(_MM_T), size_average=True, reduce=True)
    assert_close(got, F.multi_margin_loss(x, dg.tensor(_MM_T)))


# ----------------------------------------------------------------------------------------------
# Errors (the same exception type as PyTorch, and a message that names the function)
# ----------------------------------------------------------------------------------------------

def _error_cases():
    x23, i2 = randn(2, 3), np.array([0, 1])
    lp = np.log(np.full((4, 2, 3), 1 / 3))
    tg, il, tl = np.array([[1, 2], [2, 1]]), np.array([4, 4]), np.array([2, 2])
    return [
        ("gnll-neg-var", "gaussian_nll_loss", [x23, x23, -np.ones((2, 3))], {}),
        ("gnll-var-size", "gaussian_nll_loss", [x23, x23, np.ones(3)], {}),
        ("gnll-var-11", "gaussian_nll_loss", [x23, x23, np.ones((1, 1))], {}),
        ("gnll-reduction", "gaussian_nll_loss", [x23, x23, np.ones((2, 3))], {"reduction": "x"}),
        ("poisson-reduction", "poisson_nll_loss", [x23, x23], {"reduction": "bad"}),
        ("mm-p3", "multi_margin_loss", [x23, i2], {"p": 3}),
        ("mm-target-range", "multi_margin_loss", [x23, np.array([0, 3])], {}),
        ("mm-target-neg", "multi_margin_loss", [x23, np.array([0, -1])], {}),
        ("mm-target-size", "multi_margin_loss", [x23, np.array([0, 1, 2])], {}),
        ("mm-target-float", "multi_margin_loss", [x23, np.array([0.0, 1.0])], {}),
        ("mm-3d", "multi_margin_loss", [randn(2, 3, 4), i2], {}),
        ("mm-c0", "multi_margin_loss", [randn(2, 0), i2], {}),
        ("mm-weight-2d", "multi_margin_loss", [x23, i2], {"weight": np.ones((1, 3))}),
        ("mm-weight-size", "multi_margin_loss", [x23, i2], {"weight": np.ones(4)}),
        ("mm-int-input", "multi_margin_loss", [np.ones((2, 3), dtype=np.int64), i2], {}),
        ("ml-target-size", "multilabel_margin_loss", [x23, np.array([[0, -1], [1, -1]])], {}),
        ("ml-target-range", "multilabel_margin_loss", [x23, np.array([[0, 3, -1], [1, -1, 0]])],
         {}),
        ("ml-target-after-pad", "multilabel_margin_loss",
         [x23, np.array([[0, -1, 7], [1, -1, 0]])], {}),
        ("ml-target-float", "multilabel_margin_loss", [x23, np.zeros((2, 3))], {}),
        ("triplet-margin", "triplet_margin_loss", [x23, x23, x23], {"margin": 0.0}),
        ("triplet-dims", "triplet_margin_loss", [x23, randn(3), x23], {}),
        ("triplet-reduction", "triplet_margin_loss", [x23, x23, x23], {"reduction": "bad"}),
        ("tmwd-margin", "triplet_margin_with_distance_loss", [x23, x23, x23], {"margin": -1.0}),
        ("tmwd-dims", "triplet_margin_with_distance_loss", [x23, x23, randn(3)], {}),
        ("tmwd-reduction", "triplet_margin_with_distance_loss", [x23, x23, x23],
         {"reduction": "bad"}),
        ("ctc-blank", "ctc_loss", [lp, tg, il, tl], {"blank": 3}),
        ("ctc-il-big", "ctc_loss", [lp, tg, np.array([5, 4]), tl], {}),
        ("ctc-il-neg", "ctc_loss", [lp, tg, np.array([-1, 4]), tl], {}),
        ("ctc-tl-neg", "ctc_loss", [lp, tg, il, np.array([-1, 2])], {}),
        ("ctc-tl-big", "ctc_loss", [lp, tg, il, np.array([3, 2])], {}),
        ("ctc-il-size", "ctc_loss", [lp, tg, np.array([4]), tl], {}),
        ("ctc-tl-size", "ctc_loss", [lp, tg, il, np.array([1, 1, 1])], {}),
        ("ctc-targets-batch", "ctc_loss", [lp, tg[:1], il, tl], {}),
        ("ctc-concat-size", "ctc_loss", [lp, np.array([1, 2, 2]), il, tl], {}),
        ("ctc-float-lengths", "ctc_loss", [lp, tg, il.astype(float), tl], {}),
        ("ctc-1d", "ctc_loss", [lp[:, 0, 0], tg, il, tl], {}),
        ("ctc-4d", "ctc_loss", [lp[None], tg, il, tl], {}),
        ("ctc-empty", "ctc_loss", [lp[:, :0], tg[:0], il[:0], tl[:0]], {}),
        ("ctc-reduction", "ctc_loss", [lp, tg, il, tl], {"reduction": "bad"}),
        ("ctc-float16", "ctc_loss", [lp.astype(np.float16), tg, il, tl], {}),
    ]


@requires_torch
@pytest.mark.parametrize("case", _error_cases(), ids=lambda c: c[0])
def test_errors_like_torch(case):
    _, name, arrays, kw = case

    def conv(lib):
        return {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}

    with pytest.raises(Exception) as want:
        getattr(TF, name)(*[torch.tensor(a) for a in arrays], **conv(torch))
    with pytest.raises(want.type) as got:
        getattr(F, name)(*[dg.tensor(a) for a in arrays], **conv(dg))
    msg = str(got.value)
    assert msg, "an error without a message"


@requires_torch
def test_error_messages_name_the_function_and_the_fix():
    x = dg.tensor(randn(2, 3))
    with pytest.raises(RuntimeError, match=r"multi_margin_loss: target out of range.*\[0, 3\)"):
        F.multi_margin_loss(x, dg.tensor([0, 3]))
    with pytest.raises(RuntimeError, match=r"multilabel_margin_loss.*out of range: got 7"):
        F.multilabel_margin_loss(x, dg.tensor([[0, -1, 7], [1, -1, 0]]))
    with pytest.raises(RuntimeError, match=r"ctc_loss: Expected input_lengths to have value at "
                       r"most 4"):
        F.ctc_loss(dg.zeros(4, 2, 3), dg.tensor([[1], [1]]), (5, 4), (1, 1))
    with pytest.raises(IndexError, match=r"ctc_loss: target 3 is out of bounds"):
        F.ctc_loss(dg.zeros(4, 2, 3), dg.tensor([[1], [3]]), (4, 4), (1, 1))
    with pytest.raises(ValueError, match=r"var is of incorrect size.*\[2, 3\]"):
        F.gaussian_nll_loss(x, x, dg.ones(3))
    with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater"):
        nn.TripletMarginLoss(margin=0)
    with pytest.raises(ValueError, match="TripletMarginWithDistanceLoss: expected margin"):
        nn.TripletMarginWithDistanceLoss(margin=-1)
    with pytest.raises(ValueError, match="only p == 1 and p == 2 supported"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="MultiMarginLoss: expected weight to be None or 1D"):
        nn.MultiMarginLoss(weight=dg.ones(2, 3))
    with pytest.raises(TypeError, match="ctc_loss"):
        F.ctc_loss(dg.zeros(4, 2, 3), dg.tensor([[1], [1]]), 4.0, (1, 1))
