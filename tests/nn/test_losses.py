"""Loss functions and modules against PyTorch (values and gradients), gradcheck in float64, and
PyTorch's warnings and errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import nn
from dyngraph.nn import _functional_loss as F
from tests.conftest import assert_close, requires_torch, torch

if torch is not None:
    import torch.nn.functional as TF

RNG = np.random.default_rng(1234)
REDUCTIONS = ["mean", "sum", "none"]


def _pair(arrays, grad_mask):
    """The same numpy inputs as dyngraph and torch tensors (float ones requiring grad)."""
    d, t = [], []
    for a, g in zip(arrays, grad_mask):
        a = np.asarray(a)
        d.append(dg.tensor(a, requires_grad=bool(g)))
        t.append(torch.tensor(a, requires_grad=bool(g)))
    return d, t


def check_vs_torch(dg_fn, torch_fn, arrays, grad_mask=None, rtol=1e-9, atol=1e-10):
    """Forward and gradients of dg_fn vs torch_fn on identical float64 inputs."""
    grad_mask = grad_mask or [np.asarray(a).dtype.kind == "f" for a in arrays]
    d, t = _pair(arrays, grad_mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = dg_fn(*d)
        want = torch_fn(*t)
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want, rtol=rtol, atol=atol)
    seed = RNG.standard_normal(tuple(want.shape))
    want.backward(torch.tensor(seed))
    got.backward(dg.tensor(seed))
    for dt, tt, g in zip(d, t, grad_mask):
        if g:
            assert dt.grad is not None, "missing gradient"
            assert_close(dt.grad, tt.grad, rtol=rtol, atol=atol)


def gradcheck(fn, arrays, grad_mask=None):
    grad_mask = grad_mask or [np.asarray(a).dtype.kind == "f" for a in arrays]
    ins = [dg.tensor(np.asarray(a), requires_grad=bool(g)) for a, g in zip(arrays, grad_mask)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert dg.autograd.gradcheck(fn, ins, eps=1e-6, atol=1e-6, rtol=1e-4)


def randn(*shape):
    return RNG.standard_normal(shape)


# ----------------------------------------------------------------------------------------------
# Regression losses
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss"])
def test_regression_losses(name, reduction):
    x, y = randn(4, 3), randn(4, 3)
    check_vs_torch(lambda a, b: getattr(F, name)(a, b, reduction=reduction),
                   lambda a, b: getattr(TF, name)(a, b, reduction=reduction), [x, y])


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression_losses(name, reduction):
    x, y, w = randn(4, 3), randn(4, 3), RNG.random((4, 3))
    check_vs_torch(lambda a, b, c: getattr(F, name)(a, b, reduction=reduction, weight=c),
                   lambda a, b, c: getattr(TF, name)(a, b, reduction=reduction, weight=c),
                   [x, y, w])


@requires_torch
@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_smooth_l1(beta, reduction):
    x, y = randn(5, 4), randn(5, 4)
    check_vs_torch(lambda a, b: F.smooth_l1_loss(a, b, reduction=reduction, beta=beta),
                   lambda a, b: TF.smooth_l1_loss(a, b, reduction=reduction, beta=beta), [x, y])


@requires_torch
@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_huber(delta, reduction):
    x, y = randn(5, 4), randn(5, 4)
    check_vs_torch(lambda a, b: F.huber_loss(a, b, reduction=reduction, delta=delta),
                   lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=delta), [x, y])


def test_regression_gradcheck():
    x, y = randn(3, 4), randn(3, 4)
    for fn in (F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss):
        gradcheck(fn, [x, y])


@requires_torch
def test_mse_broadcast_warning():
    x, y = randn(3, 1), randn(3)
    with pytest.warns(UserWarning, match="different to the input size"):
        got = F.mse_loss(dg.tensor(x), dg.tensor(y))
    with pytest.warns(UserWarning):
        want = TF.mse_loss(torch.tensor(x), torch.tensor(y))
    assert_close(got, want)


def test_mse_shape_error_names_both():
    with pytest.raises(RuntimeError, match=r"\(3, 2\).*\(4,\)"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            F.mse_loss(dg.randn(3, 2), dg.randn(4))


@requires_torch
def test_mse_integer_target():
    x, y = randn(4), np.array([1, 0, 2, -1])
    got = F.mse_loss(dg.tensor(x), dg.tensor(y))
    want = TF.mse_loss(torch.tensor(x), torch.tensor(y))
    assert got.dtype == dg.float64
    assert_close(got, want)
    x32 = dg.tensor(x, dtype=dg.float32)
    assert F.mse_loss(x32, dg.tensor(y)).dtype == dg.float32
    with pytest.raises(RuntimeError, match="int64.*int64"):
        F.mse_loss(dg.tensor(y), dg.tensor(y))


def test_bad_reduction():
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        F.mse_loss(dg.randn(3), dg.randn(3), reduction="bad")


@requires_torch
def test_legacy_size_average():
    x, y = randn(4), randn(4)
    with pytest.warns(UserWarning, match="reduction='sum'"):
        got = F.mse_loss(dg.tensor(x), dg.tensor(y), size_average=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = TF.mse_loss(torch.tensor(x), torch.tensor(y), size_average=False)
    assert_close(got, want)


# ----------------------------------------------------------------------------------------------
# Cross entropy / NLL
# ----------------------------------------------------------------------------------------------

def _ce_inputs(shape, ignore_index=-100):
    """Logits, class indices (one of them ignore_index) and class weights."""
    x = randn(*shape)
    c = shape[1] if len(shape) > 1 else shape[0]
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    t = RNG.integers(0, c, size=tshape)
    if t.ndim == 0:
        t = np.array(ignore_index if ignore_index >= 0 else 1)
    elif t.size > 1:
        t.reshape(-1)[1] = ignore_index
    return x, t, RNG.random(c) + 0.1


CE_OPTIONS = [dict(), dict(weight=True), dict(label_smoothing=0.15),
              dict(weight=True, label_smoothing=0.3), dict(ignore_index=2),
              dict(ignore_index=2, weight=True, label_smoothing=0.1)]


@requires_torch
@pytest.mark.parametrize("shape", [(6, 5), (3, 4, 2, 3), (5,)])
@pytest.mark.parametrize("opts", CE_OPTIONS, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_class_indices(shape, opts, reduction):
    x, t, w = _ce_inputs(shape, opts.get("ignore_index", -100))
    kw = dict(opts, reduction=reduction)
    use_w = kw.pop("weight", False)
    if use_w:
        check_vs_torch(lambda a, b, c: F.cross_entropy(a, b, weight=c, **kw),
                       lambda a, b, c: TF.cross_entropy(a, b, weight=c, **kw), [x, t, w],
                       grad_mask=[True, False, False])
    else:
        check_vs_torch(lambda a, b: F.cross_entropy(a, b, **kw),
                       lambda a, b: TF.cross_entropy(a, b, **kw), [x, t])


@requires_torch
@pytest.mark.parametrize("shape", [(6, 5), (2, 4, 3), (5,)])
@pytest.mark.parametrize("opts", [dict(), dict(weight=True), dict(label_smoothing=0.2),
                                  dict(weight=True, label_smoothing=0.25)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probabilities(shape, opts, reduction):
    x = randn(*shape)
    cdim = 1 if len(shape) > 1 else 0
    p = RNG.random(shape)
    p = p / p.sum(axis=cdim, keepdims=True)
    w = RNG.random(shape[cdim]) + 0.1
    kw = dict(opts, reduction=reduction)
    if kw.pop("weight", False):
        check_vs_torch(lambda a, b, c: F.cross_entropy(a, b, weight=c, **kw),
                       lambda a, b, c: TF.cross_entropy(a, b, weight=c, **kw), [x, p, w],
                       grad_mask=[True, True, False])
    else:
        check_vs_torch(lambda a, b: F.cross_entropy(a, b, **kw),
                       lambda a, b: TF.cross_entropy(a, b, **kw), [x, p])


def test_cross_entropy_gradcheck():
    x, t, w = _ce_inputs((4, 3))
    t = dg.tensor(t)
    gradcheck(lambda a, c: F.cross_entropy(a, t, weight=c, label_smoothing=0.2), [x, w])
    p = RNG.random((4, 3))
    gradcheck(lambda a, b: F.cross_entropy(a, b, label_smoothing=0.1), [x, p])


def test_cross_entropy_double_backward():
    x, t, _ = _ce_inputs((4, 3))
    t = dg.tensor(t)
    xs = dg.tensor(x, requires_grad=True)
    assert dg.autograd.gradgradcheck(lambda a: F.cross_entropy(a, t), [xs])


def test_cross_entropy_stable_for_huge_logits():
    x = dg.tensor([[1000.0, -1000.0, 0.0], [-5e3, 5e3, 0.0]], requires_grad=True)
    loss = F.cross_entropy(x, dg.tensor([0, 0]))
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), 1e4 / 2)
    loss.backward()
    assert np.isfinite(x.grad.numpy()).all()


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction, weighted):
    x, t, w = _ce_inputs((5, 4, 3), ignore_index=-100 if weighted else 1)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    if weighted:
        check_vs_torch(lambda a, b, c: F.nll_loss(a, b, weight=c, reduction=reduction),
                       lambda a, b, c: TF.nll_loss(a, b, weight=c, reduction=reduction),
                       [logp, t, w], grad_mask=[True, False, False])
    else:
        check_vs_torch(lambda a, b: F.nll_loss(a, b, reduction=reduction, ignore_index=1),
                       lambda a, b: TF.nll_loss(a, b, reduction=reduction, ignore_index=1),
                       [logp, t])


@requires_torch
@pytest.mark.parametrize("weighted", [False, True])
def test_all_ignored_gives_nan_and_zero_grad_like_torch(weighted):
    x, t, w = randn(3, 4), np.full(3, -100), RNG.random(4)
    xd, xt = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    got = F.cross_entropy(xd, dg.tensor(t), label_smoothing=0.1,
                          weight=dg.tensor(w) if weighted else None)
    want = TF.cross_entropy(xt, torch.tensor(t), label_smoothing=0.1,
                            weight=torch.tensor(w) if weighted else None)
    assert np.isnan(got.item()) and np.isnan(want.item())
    got.backward()
    want.backward()
    assert_close(xd.grad, xt.grad)


def test_cross_entropy_errors():
    x = dg.randn(3, 4)
    with pytest.raises(RuntimeError, match=r"float32.*\(3, 4\).*\(3,\)"):
        F.cross_entropy(x, dg.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match="int32"):
        F.nll_loss(x, dg.tensor([1, 2, 3], dtype=dg.int32))
    with pytest.raises(ValueError, match=r"batch_size \(3\).*batch_size \(2\)"):
        F.cross_entropy(x, dg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match=r"Expected target size \[3, 5\], got \[3, 4\]"):
        F.cross_entropy(dg.randn(3, 4, 5), dg.zeros(3, 4, dtype=dg.int64))
    with pytest.raises(IndexError, match="Target 5 is out of bounds"):
        F.cross_entropy(x, dg.tensor([1, 2, 5]))
    with pytest.raises(RuntimeError, match="all 4 classes.*\\[3\\]"):
        F.nll_loss(x, dg.tensor([1, 2, 3]), weight=dg.ones(3))
    with pytest.raises(RuntimeError, match=r"\(3, 4\).*\(3, 5\)"):
        F.cross_entropy(x, dg.rand(3, 5))
    with pytest.raises(RuntimeError, match="label_smoothing"):
        F.cross_entropy(x, dg.tensor([1, 2, 3]), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        F.cross_entropy(x, dg.rand(3, 4), ignore_index=1)


# ----------------------------------------------------------------------------------------------
# Binary cross entropy
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_bce(reduction, weighted):
    p = RNG.uniform(0.05, 0.95, (4, 3))
    t = RNG.random((4, 3))
    w = RNG.random(3)
    if weighted:
        check_vs_torch(lambda a, b, c: F.binary_cross_entropy(a, b, c, reduction=reduction),
                       lambda a, b, c: TF.binary_cross_entropy(a, b, c, reduction=reduction),
                       [p, t, w], grad_mask=[True, True, False])
    else:
        check_vs_torch(lambda a, b: F.binary_cross_entropy(a, b, reduction=reduction),
                       lambda a, b: TF.binary_cross_entropy(a, b, reduction=reduction), [p, t])


@requires_torch
def test_bce_clamps_log_at_minus_100():
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    got = F.binary_cross_entropy(dg.tensor(p), dg.tensor(t), reduction="none")
    want = TF.binary_cross_entropy(torch.tensor(p), torch.tensor(t), reduction="none")
    assert_close(got, want)
    x = dg.tensor(p, requires_grad=True)
    F.binary_cross_entropy(x, dg.tensor(t)).backward()
    assert not np.isnan(x.grad.numpy()).any()


def test_bce_errors():
    with pytest.raises(ValueError, match=r"\[3, 1\].*\[3\]"):
        F.binary_cross_entropy(dg.rand(3), dg.rand(3, 1))
    with pytest.raises(ValueError, match=r"\[3, 1\].*\[3\]"):
        F.binary_cross_entropy_with_logits(dg.rand(3), dg.rand(3, 1))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(dg.tensor([1.5]), dg.tensor([1.0]))


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", ["plain", "weight", "pos_weight", "both"])
def test_bce_with_logits(reduction, opts):
    x = randn(5, 3) * 4
    x[0, 0] = 0.0  # the kink of |x|: the gradient must still be sigmoid(0) - t
    x[1, 1] = 60.0
    x[2, 2] = -60.0
    t = RNG.random((5, 3))
    w, pw = RNG.random((5, 3)), RNG.random(3) * 3
    use_w, use_pw = opts in ("weight", "both"), opts in ("pos_weight", "both")

    def run(fn):
        def f(a, b, c, d):
            return fn(a, b, c if use_w else None, reduction=reduction,
                      pos_weight=d if use_pw else None)
        return f
    check_vs_torch(run(F.binary_cross_entropy_with_logits),
                   run(TF.binary_cross_entropy_with_logits), [x, t, w, pw],
                   grad_mask=[True, True, False, False])


def test_bce_with_logits_extreme_values_stay_finite():
    x = dg.tensor([1e4, -1e4, 0.0], requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(x, dg.tensor([0.0, 1.0, 1.0]), reduction="sum")
    np.testing.assert_allclose(loss.item(), 2e4 + np.log(2))
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, -1.0, -0.5])


def test_binary_gradcheck():
    p = RNG.uniform(0.1, 0.9, (3, 2))
    t = RNG.random((3, 2))
    gradcheck(F.binary_cross_entropy, [p, t])
    gradcheck(lambda a, b, c: F.binary_cross_entropy_with_logits(a, b, pos_weight=c),
              [randn(3, 2), t, RNG.random(2)])


# ----------------------------------------------------------------------------------------------
# KL divergence, cosine embedding, margin ranking
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction, log_target):
    x = np.log(RNG.dirichlet(np.ones(4), 3))
    t = RNG.dirichlet(np.ones(4), 3)
    if log_target:
        t = np.log(t)
    check_vs_torch(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
                   lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target),
                   [x, t])
    if not log_target:
        t[0, 1] = 0.0  # 0 * log 0 counts as 0 (torch's gradient for the target is nan there)
        check_vs_torch(lambda a, b: F.kl_div(a, b, reduction=reduction),
                       lambda a, b: TF.kl_div(a, b, reduction=reduction), [x, t],
                       grad_mask=[True, False])


def test_kl_div_mean_warns():
    with pytest.warns(UserWarning, match="batchmean"):
        F.kl_div(dg.randn(2, 3), dg.rand(2, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(dg.randn(2, 3), dg.rand(2, 3), reduction="batchmean")
    gradcheck(lambda a, b: F.kl_div(a, b, reduction="batchmean"),
              [randn(2, 3), RNG.uniform(0.1, 1, (2, 3))])


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_cosine_embedding(reduction, margin):
    a, b = randn(6, 4), randn(6, 4)
    t = np.array([1, -1, 1, -1, -1, 1])
    check_vs_torch(
        lambda x, y, z: F.cosine_embedding_loss(x, y, z, margin=margin, reduction=reduction),
        lambda x, y, z: TF.cosine_embedding_loss(x, y, z, margin=margin, reduction=reduction),
        [a, b, t])
    check_vs_torch(lambda x, y, z: F.cosine_embedding_loss(x, y, z, margin=margin),
                   lambda x, y, z: TF.cosine_embedding_loss(x, y, z, margin=margin),
                   [a[0], b[0], np.array(-1)])


def test_cosine_embedding_errors():
    with pytest.raises(RuntimeError, match=r"1D target tensor expects 2D input.*\[4\] and \[4\]"):
        F.cosine_embedding_loss(dg.randn(4), dg.randn(4), dg.tensor([1]))


@requires_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_ranking(reduction):
    a, b = randn(7), randn(7)
    t = np.sign(randn(7))
    check_vs_torch(
        lambda x, y, z: F.margin_ranking_loss(x, y, z, margin=0.2, reduction=reduction),
        lambda x, y, z: TF.margin_ranking_loss(x, y, z, margin=0.2, reduction=reduction),
        [a, b, t], grad_mask=[True, True, False])


# ----------------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------------

@requires_torch
def test_loss_modules_match_torch():
    x, y = randn(4, 3), randn(4, 3)
    logits, cls = randn(4, 3), RNG.integers(0, 3, 4)
    p, pb = RNG.uniform(0.1, 0.9, (4, 3)), RNG.random((4, 3))
    w, pw = RNG.random(3) + 0.1, RNG.random(3) + 0.5
    sgn = np.sign(randn(4))
    cases = [
        ("MSELoss", {}, (x, y)), ("L1Loss", {"reduction": "sum"}, (x, y)),
        ("SmoothL1Loss", {"beta": 0.5}, (x, y)), ("HuberLoss", {"delta": 0.7}, (x, y)),
        ("CrossEntropyLoss", {"weight": w, "label_smoothing": 0.1, "ignore_index": 1},
         (logits, cls)),
        ("NLLLoss", {"weight": w}, (logits, cls)),
        ("BCELoss", {"weight": w}, (p, pb)),
        ("BCEWithLogitsLoss", {"pos_weight": pw}, (x, pb)),
        ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, (x, y)),
        ("CosineEmbeddingLoss", {"margin": 0.1}, (x, y, sgn)),
        ("MarginRankingLoss", {"margin": 0.1}, (x[:, 0], y[:, 0], sgn)),
    ]
    for name, kw, args in cases:
        mask = [np.asarray(a).dtype.kind == "f" and a is not sgn for a in args]
        dkw = {k: dg.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        dmod, tmod = getattr(nn, name)(**dkw), getattr(torch.nn, name)(**tkw)
        assert list(dmod.state_dict()) == list(tmod.state_dict()), name
        check_vs_torch(dmod, tmod, list(args), grad_mask=mask)
        assert repr(dmod) == repr(tmod)
