"""torch's top-level nn aliases (dyngraph/ops/toplevel_nn.py), called positionally in torch's
argument order, against torch 2.13."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from tests.conftest import assert_close, requires_torch, to_np, torch

pytestmark = requires_torch
_rng = np.random.default_rng(10)


def _r(*shape, low=-1.0, high=1.0):
    return _rng.uniform(low, high, shape)


class _NoGrad(np.ndarray):
    """An argument array that must not require grad (running stats, loss weights)."""

    def __new__(cls, a):
        return np.asarray(a).view(cls)


def _both(*arrays, rg=True):
    """(dyngraph tensors, torch tensors) of float64 arrays (int arrays never require grad)."""
    d, t = [], []
    for a in arrays:
        g = rg and np.asarray(a).dtype.kind == "f" and not isinstance(a, _NoGrad)
        a = np.asarray(a).view(np.ndarray)
        d.append(dg.tensor(a, requires_grad=g))
        t.append(torch.tensor(a, requires_grad=g))
    return d, t


X4, W4, B4 = _r(2, 4, 5, 5), _r(6, 2, 3, 3), _r(6)
X3, W3 = _r(2, 4, 7), _r(6, 4, 3)
C = _r(4)
T01 = _rng.integers(0, 2, (3, 4)).astype(np.float64)
SIGNS = np.where(_rng.uniform(size=5) > 0.5, 1.0, -1.0)

# (name, arrays, extra positional arguments after them, compare gradients)
CASES = [
    ("conv1d", [X3, W3, _r(6)], (1, 1), True),
    ("conv2d", [X4, W4, B4], (2, 1, 1, 2), True),
    ("conv3d", [_r(1, 2, 3, 4, 4), _r(3, 2, 2, 2, 2)], (), True),
    ("conv_transpose1d", [X3, _r(4, 3, 3)], (None, 2, 1, 1), True),
    ("conv_transpose2d", [X4, _r(4, 2, 3, 3), _r(4)], (2, 1, 1, 2), True),
    ("conv_transpose3d", [_r(1, 2, 3, 3, 3), _r(2, 3, 2, 2, 2)], (), True),
    ("convolution", [X4, W4, B4], ([1, 1], [1, 1], [1, 1], False, [0, 0], 2), True),
    ("convolution", [X3, _r(4, 3, 3), _r(3)], ([2], [1], [1], True, [1], 1), True),
    ("batch_norm", [X4, C, C, None, None], (True, 0.1, 1e-5, False), True),
    ("batch_norm", [X4, C, C, _NoGrad(_r(4)), _NoGrad(_r(4, low=0.5, high=2))],
     (False, 0.1, 1e-5, False), True),
    ("layer_norm", [X3, (7,), _r(7), _r(7)], (1e-5, True), True),
    ("group_norm", [X4, 2, C, C], (1e-5, True), True),
    ("instance_norm", [X3, C, C, None, None], (True, 0.1, 1e-5, False), True),
    ("rms_norm", [X3, (7,), _r(7)], (), True),
    ("embedding", [_r(10, 3), np.array([[1, 2], [9, 1]])], (), True),
    ("embedding", [_r(10, 3), np.array([1, 2, 0, 1])], (1,), True),
    ("max_pool1d", [X3], (2,), True),
    ("max_pool2d", [X4], (3, 2, 1), True),
    ("max_pool3d", [_r(1, 2, 4, 4, 4)], (2,), True),
    ("avg_pool1d", [X3], (3, 2, 1, True, False), True),
    ("adaptive_avg_pool1d", [X3], (3,), True),
    ("bilinear", [_r(3, 2), _r(3, 4), _r(5, 2, 4), _r(5)], (), True),
    ("celu", [X3], (0.7,), True),
    ("selu", [X3], (), True),
    ("threshold", [X3], (0.1, -2.0), True),
    ("rrelu", [X3], (0.1, 0.3, False), True),
    ("prelu", [X4, _r(4)], (), True),
    ("hardshrink", [X3], (0.3,), True),
    ("pixel_shuffle", [_r(1, 8, 2, 3)], (2,), True),
    ("pixel_unshuffle", [_r(1, 2, 4, 6)], (2,), True),
    ("channel_shuffle", [_r(1, 6, 2, 2)], (3,), False),
    ("native_channel_shuffle", [_r(1, 6, 2, 2)], (2,), False),
    ("constant_pad_nd", [X3], ((1, 2, 0, -1), 0.5), True),
    ("constant_pad_nd", [X3], ((2, 1),), True),
    ("kl_div", [np.log(_r(3, 4, low=0.1, high=1)), _r(3, 4, low=0.1, high=1)], (), True),
    ("kl_div", [np.log(_r(3, 4, low=0.1, high=1)), _r(3, 4, low=0.1, high=1)], (1,), True),
    ("margin_ranking_loss", [_r(5), _r(5), SIGNS], (), True),
    ("hinge_embedding_loss", [_r(5), SIGNS], (), True),
    ("kl_div", [np.log(_r(3, 4, low=0.1, high=1)), _r(3, 4, low=-1, high=0)], (2,), True),
    ("margin_ranking_loss", [_r(5), _r(5), SIGNS], (0.2, 0), True),
    ("cosine_embedding_loss", [_r(5, 3), _r(5, 3), SIGNS], (0.1, 2), True),
    ("hinge_embedding_loss", [_r(5), SIGNS], (0.5, 1), True),
    ("poisson_nll_loss", [_r(3, 4), _r(3, 4, low=0, high=3)], (True, True, 1e-8, 1), True),
    ("poisson_nll_loss", [_r(3, 4, low=0.1, high=2), _r(3, 4, low=0, high=3)],
     (False, False, 1e-8, 0), True),
    ("triplet_margin_loss", [_r(4, 3), _r(4, 3), _r(4, 3)], (1.0, 2.0, 1e-6, True, 2), True),
    ("binary_cross_entropy_with_logits",
     [_r(3, 4), T01, _NoGrad(_r(3, 4, low=0.1)), _NoGrad(_r(4, low=0.1))],
     (1,), True),
    ("binary_cross_entropy_with_logits", [_r(3, 4), T01], (None, None, 0), True),
]


def _call(mod, name, arrays, extra, tensors):
    args = list(tensors) + list(extra)
    return getattr(mod, name)(*args)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_alias_matches_torch_positionally(case):
    name, arrays, extra, grads = case
    assert hasattr(torch, name) and hasattr(dg, name)
    arrs = [a for a in arrays if isinstance(a, np.ndarray)]
    d, t = _both(*arrs, rg=grads)

    def place(ts):  # put non-array arguments (ints, None) back where they were
        it = iter(ts)
        return [next(it) if isinstance(a, np.ndarray) else a for a in arrays]

    rd, rt = _call(dg, name, arrays, extra, place(d)), _call(torch, name, arrays, extra, place(t))
    assert_close(rd, rt, rtol=1e-7 if name in ("rrelu", "celu") else None)
    assert rd.dtype == dg.float64 or rd.dtype.name == str(rt.dtype).split(".")[-1]
    if grads:
        w = np.random.default_rng(1).uniform(size=tuple(rt.shape))
        (rd * dg.tensor(w)).sum().backward()
        (rt * torch.tensor(w)).sum().backward()
        for a, b in zip(d, t):
            if b.requires_grad and b.grad is not None:
                assert_close(a.grad, b.grad, rtol=1e-7 if name in ("rrelu", "celu") else None)


def test_tuple_returning_aliases():
    (x, w), (tx, tw) = _both(X3, _r(10, 3))
    for name, args in (("max_pool1d_with_indices", (2, 1, 1)), ("adaptive_max_pool1d", (3,))):
        rd, rt = getattr(dg, name)(x, *args), getattr(torch, name)(tx, *args)
        assert len(rd) == len(rt) == 2
        assert_close(rd[0], rt[0])
        assert_close(rd[1], rt[1])
    idx, offs = np.array([1, 2, 4, 5, 4, 3, 2, 9]), np.array([0, 3])
    for mode in (0, 1, 2):
        rd = dg.embedding_bag(w, dg.tensor(idx), dg.tensor(offs), False, mode)
        rt = torch.embedding_bag(tw, torch.tensor(idx), torch.tensor(offs), False, mode)
        assert len(rd) == 4
        for a, b in zip(rd, rt):
            assert tuple(a.shape) == tuple(b.shape)
            assert_close(a, b)
    rd = dg.embedding_bag(w, dg.tensor(idx), dg.tensor([0, 3, 8]), False, 1, False, None, True)
    rt = torch.embedding_bag(tw, torch.tensor(idx), torch.tensor([0, 3, 8]), False, 1, False,
                             None, True)
    for a, b in zip(rd, rt):
        assert_close(a, b)


def test_native_norms_and_dropout():
    (x, wt, b), (tx, twt, tb) = _both(X3, _r(7), _r(7))
    for a, e in zip(dg.native_layer_norm(x, (7,), wt, b, 1e-5),
                    torch.native_layer_norm(tx, (7,), twt, tb, 1e-5)):
        assert_close(a, e)
    (x4, c), (tx4, tc) = _both(X4, C)
    rd = dg.native_batch_norm(x4, c, c, None, None, True, 0.1, 1e-5)
    rt = torch.native_batch_norm(tx4, tc, tc, None, None, True, 0.1, 1e-5)
    for a, e in zip(rd, rt):
        assert_close(a, e)
    rm, rv = np.zeros(4), np.ones(4)
    rd = dg.native_batch_norm(x4, c, c, dg.tensor(rm), dg.tensor(rv), False, 0.1, 1e-5)
    rt = torch.native_batch_norm(tx4, tc, tc, torch.tensor(rm), torch.tensor(rv), False, 0.1,
                                 1e-5)
    assert [tuple(a.shape) for a in rd] == [tuple(a.shape) for a in rt]
    assert_close(rd[0], rt[0])
    v = _r(3, 4, 5)
    for dim in (0, 2, -1):
        assert_close(dg.norm_except_dim(dg.tensor(v), 2, dim),
                     torch.norm_except_dim(torch.tensor(v), 2, dim))
    out, mask = dg.native_dropout(dg.ones(200, 10), 0.3, True)
    assert mask.dtype == dg.bool
    np.testing.assert_allclose(to_np(out)[to_np(mask)], 1 / 0.7, rtol=1e-6)
    assert (to_np(out)[~to_np(mask)] == 0).all()
    out, mask = dg.native_dropout(dg.ones(3), 0.3, False)
    assert to_np(mask).all() and to_np(out).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", ["dropout", "alpha_dropout", "feature_alpha_dropout",
                                  "feature_dropout"])
def test_dropout_aliases(name):
    x = dg.ones(8, 16, 4, 4)
    assert getattr(dg, name)(x, 0.5, False) is x   # not training: the input itself
    y = getattr(dg, name)(x, 0.5, True)
    assert y.shape == x.shape and y is not x
    if name.startswith("feature"):  # whole channels share one draw
        per_channel = to_np(y).reshape(8, 16, -1)
        assert (per_channel == per_channel[..., :1]).all()
    z = dg.ones(8, 16, 4, 4)
    r = getattr(dg, name + "_")(z, 0.5, True)
    assert r is z and not (to_np(z) == 1).all()
    with pytest.raises(TypeError):
        getattr(dg, name)(x, 0.5)      # train is required, as in torch
    with pytest.raises(TypeError):
        getattr(torch, name)(torch.ones(2, 2), 0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        getattr(dg, name)(x, 1.5, True)


def test_inplace_activation_aliases_and_reduction_errors():
    for name, args in (("celu_", (0.5,)), ("selu_", ()), ("threshold_", (0.0, -1.0)),
                       ("rrelu_", (0.1, 0.3, False))):
        d, t = dg.tensor(X3.copy()), torch.tensor(X3.copy())
        assert getattr(dg, name)(d, *args) is d
        getattr(torch, name)(t, *args)
        assert_close(d, t)
    with pytest.raises(ValueError, match="reduction must be 0"):
        dg.kl_div(dg.zeros(2), dg.zeros(2), 3)
    assert_close(dg.kl_div(dg.zeros(2), dg.ones(2), "sum"), np.array(0.0), "float32")
    with pytest.raises(NotImplementedError, match="generator"):
        dg.rrelu(dg.zeros(2), 0.1, 0.3, True, dg.Generator())


def test_ctc_loss_alias():
    T, N, Cn, S = 6, 2, 4, 3
    lp = torch.randn(T, N, Cn, dtype=torch.float64).log_softmax(2).detach().requires_grad_()
    tg = torch.tensor([[1, 2, 3], [2, 2, 1]])
    il, tl = [6, 5], [3, 2]
    ld = dg.tensor(lp.detach().numpy(), requires_grad=True)
    for red in (0, 1, 2):
        rd = dg.ctc_loss(ld, dg.tensor(tg.numpy()), il, tl, 0, red)
        rt = torch.ctc_loss(lp, tg, il, tl, 0, red)
        assert_close(rd, rt)
    rd.sum().backward()
    rt.sum().backward()
    assert_close(ld.grad, lp.grad, atol=1e-10)
    assert S == 3


def test_compiled_alias_matches_eager():
    x, w = dg.randn(2, 3, 8), dg.randn(4, 3, 3)

    def fn(x, w):
        return dg.max_pool1d(dg.selu(dg.conv1d(x, w, None, 1, 1)), 2).sum(2) + \
            dg.layer_norm(x, (8,))[:, :, :4].mean(1).sum(1, keepdim=True)

    cfn = dg.compile(fn, backend="llvm")
    eager = fn(x, w)
    cfn(x, w)
    assert_close(cfn(x, w), eager, "float32", rtol=1e-5, atol=1e-5)
