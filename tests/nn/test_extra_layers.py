"""The extra layers (PReLU ... InstanceNorm, `_functional_extra.py` and `extra_layers.py`)
against PyTorch: values, gradients, reprs, state_dict keys and errors; random layers by their
statistics (dyngraph's random stream differs from PyTorch's); gradcheck in float64."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn as nn
import dyngraph.nn.functional as F
from dyngraph.autograd import gradcheck
from tests.conftest import assert_close, assert_repr_like_torch, requires_torch, torch

RNG = np.random.default_rng(7)


def _a(*shape, scale=1.0):
    return RNG.standard_normal(shape) * scale


def _tF():
    return torch.nn.functional


def _parity(fn, tfn, inputs, dtype="float64", rtol=None, atol=None):
    """Same value and same input gradients for a random output gradient."""
    np_dt = getattr(np, dtype)
    d = [dg.tensor(a.astype(np_dt), requires_grad=True) for a in inputs]
    t = [torch.tensor(a.astype(np_dt), requires_grad=True) for a in inputs]
    dy, ty = fn(*d), tfn(*t)
    assert tuple(dy.shape) == tuple(ty.shape)
    assert dy.dtype.name == str(ty.dtype).replace("torch.", "")
    assert_close(dy, ty, dtype, rtol=rtol, atol=atol)
    seed = RNG.standard_normal(tuple(ty.shape)).astype(np_dt)
    ty.backward(torch.tensor(seed))
    dy.backward(dg.tensor(seed))
    for a, b in zip(d, t):
        assert_close(a.grad, b.grad, dtype, rtol=rtol, atol=atol)


# (name, dyngraph call, torch call, input arrays)
CASES = [
    ("prelu_channels", F.prelu, lambda x, w: _tF().prelu(x, w), [_a(2, 3, 4), _a(3)]),
    ("prelu_one", F.prelu, lambda x, w: _tF().prelu(x, w), [_a(2, 3, 4, 2), _a(1)]),
    ("prelu_2d", F.prelu, lambda x, w: _tF().prelu(x, w), [_a(4, 5), _a(5)]),
    ("prelu_vector", F.prelu, lambda x, w: _tF().prelu(x, w), [_a(5), _a(1)]),
    ("prelu_scalar_weight", F.prelu, lambda x, w: _tF().prelu(x, w), [_a(2, 3), np.array(0.3)]),
    ("rrelu_eval", lambda x: F.rrelu(x, 0.1, 0.4), lambda x: _tF().rrelu(x, 0.1, 0.4),
     [_a(3, 4)]),
    ("hardshrink", lambda x: F.hardshrink(x, 0.6), lambda x: _tF().hardshrink(x, 0.6),
     [_a(4, 5)]),
    ("hardshrink_default", F.hardshrink, lambda x: _tF().hardshrink(x), [_a(20)]),
    ("softshrink", lambda x: F.softshrink(x, 0.6), lambda x: _tF().softshrink(x, 0.6),
     [_a(4, 5)]),
    ("softshrink_zero", lambda x: F.softshrink(x, 0.0), lambda x: _tF().softshrink(x, 0.0),
     [_a(7)]),
    ("pixel_shuffle", lambda x: F.pixel_shuffle(x, 2), lambda x: _tF().pixel_shuffle(x, 2),
     [_a(2, 8, 3, 2)]),
    ("pixel_shuffle_lead", lambda x: F.pixel_shuffle(x, 3), lambda x: _tF().pixel_shuffle(x, 3),
     [_a(2, 1, 9, 2, 1)]),
    ("pixel_shuffle_unbatched", lambda x: F.pixel_shuffle(x, 2),
     lambda x: _tF().pixel_shuffle(x, 2), [_a(4, 2, 3)]),
    ("pixel_unshuffle", lambda x: F.pixel_unshuffle(x, 2),
     lambda x: _tF().pixel_unshuffle(x, 2), [_a(2, 3, 4, 6)]),
    ("pixel_unshuffle_lead", lambda x: F.pixel_unshuffle(x, 3),
     lambda x: _tF().pixel_unshuffle(x, 3), [_a(2, 2, 1, 3, 6)]),
    ("channel_shuffle", lambda x: F.channel_shuffle(x, 3),
     lambda x: _tF().channel_shuffle(x, 3), [_a(2, 6, 2, 3)]),
    ("channel_shuffle_3d", lambda x: F.channel_shuffle(x, 2),
     lambda x: _tF().channel_shuffle(x, 2), [_a(2, 4, 5)]),
    # torch's native_channel_shuffle has no derivative: its value equals channel_shuffle's
    ("native_channel_shuffle", lambda x: F.native_channel_shuffle(x, 2),
     lambda x: _tF().channel_shuffle(x, 2), [_a(1, 4, 2, 2, 2)]),
    ("lrn_3d", lambda x: F.local_response_norm(x, 3, 0.1, 0.6, 1.5),
     lambda x: _tF().local_response_norm(x, 3, 0.1, 0.6, 1.5), [_a(2, 5, 4)]),
    ("lrn_4d_even", lambda x: F.local_response_norm(x, 2, 0.2),
     lambda x: _tF().local_response_norm(x, 2, 0.2), [_a(2, 5, 3, 2)]),
    ("lrn_5d", lambda x: F.local_response_norm(x, 4, 0.3, 0.5, 2.0),
     lambda x: _tF().local_response_norm(x, 4, 0.3, 0.5, 2.0), [_a(1, 6, 2, 3, 2)]),
    ("lrn_window_wider_than_channels", lambda x: F.local_response_norm(x, 7, 0.5),
     lambda x: _tF().local_response_norm(x, 7, 0.5), [_a(2, 3, 4)]),
    ("lrn_size1", lambda x: F.local_response_norm(x, 1, 0.5),
     lambda x: _tF().local_response_norm(x, 1, 0.5), [_a(2, 3, 4)]),
    ("instance_norm", lambda x: F.instance_norm(x), lambda x: _tF().instance_norm(x),
     [_a(2, 3, 5)]),
    ("instance_norm_affine", lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-3),
     lambda x, w, b: _tF().instance_norm(x, weight=w, bias=b, eps=1e-3),
     [_a(2, 3, 4, 3), _a(3), _a(3)]),
    ("instance_norm_3d", lambda x: F.instance_norm(x), lambda x: _tF().instance_norm(x),
     [_a(1, 2, 2, 3, 2)]),
    ("cosine_similarity_module", nn.CosineSimilarity(dim=-1), torch.nn.CosineSimilarity(dim=-1)
     if torch else None, [_a(2, 3, 4), _a(3, 4)]),
    ("pairwise_distance_module", nn.PairwiseDistance(p=1.5, keepdim=True),
     torch.nn.PairwiseDistance(p=1.5, keepdim=True) if torch else None, [_a(3, 4), _a(3, 4)]),
]


@requires_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,fn,tfn,inputs", CASES, ids=[c[0] for c in CASES])
def test_functional_against_torch(name, fn, tfn, inputs, dtype):
    _parity(fn, tfn, inputs, dtype)


@pytest.mark.parametrize("name,fn,inputs", [(c[0], c[1], c[3]) for c in CASES],
                         ids=[c[0] for c in CASES])
def test_gradcheck(name, fn, inputs):
    d = [dg.tensor(a, requires_grad=True) for a in inputs]
    assert gradcheck(fn, d, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("fn", [lambda x: F.local_response_norm(x, 3, 0.3),
                                lambda x: F.instance_norm(x),
                                lambda x: F.softshrink(x, 0.2)])
def test_second_derivatives(fn):
    x = dg.tensor(_a(2, 3, 4), requires_grad=True)
    go = dg.tensor(_a(2, 3, 4))

    def first(t):
        with dg.enable_grad():
            return dg.autograd.grad(fn(t), [t], go, create_graph=True)[0]

    assert gradcheck(first, [x], eps=1e-6, atol=1e-5, rtol=1e-4)


@requires_torch
def test_shrink_and_prelu_keep_nan_and_kinks_like_torch():
    a = np.array([np.nan, 0.5, -0.5, 1.0, -1.0, 0.2, 0.0])
    for name in ("hardshrink", "softshrink"):
        _parity(lambda x, n=name: getattr(F, n)(x, 0.5),
                lambda x, n=name: getattr(_tF(), n)(x, 0.5), [a])
    _parity(F.prelu, lambda x, w: _tF().prelu(x, w), [a, np.array([0.25])])


@requires_torch
def test_empty_inputs():
    for fn, tfn, shape in [
            (lambda x: F.pixel_shuffle(x, 2), lambda x: _tF().pixel_shuffle(x, 2), (0, 4, 2, 3)),
            (lambda x: F.channel_shuffle(x, 2), lambda x: _tF().channel_shuffle(x, 2),
             (0, 4, 3)),
            (lambda x: F.prelu(x, dg.tensor([0.1, 0.2])),
             lambda x: _tF().prelu(x, torch.tensor([0.1, 0.2])), (0, 2, 3)),
            (lambda x: F.local_response_norm(x, 2), lambda x: _tF().local_response_norm(x, 2),
             (0, 3, 4)),
            (lambda x: F.hardshrink(x), lambda x: _tF().hardshrink(x), (0, 3))]:
        a = np.zeros(shape, np.float32)
        dy, ty = fn(dg.tensor(a)), tfn(torch.tensor(a))
        assert tuple(dy.shape) == tuple(ty.shape)
    # torch returns an empty input to pixel_unshuffle unchanged; dyngraph keeps the usual shape
    assert F.pixel_unshuffle(dg.zeros(0, 1, 2, 2), 2).shape == (0, 4, 1, 1)


@requires_torch
def test_functional_errors_match_torch():
    x4 = dg.randn(2, 3, 4, 4)
    cases = [
        (lambda m: m.prelu(x4 if m is F else torch.randn(2, 3, 4, 4),
                           (dg if m is F else torch).ones(2)), RuntimeError, "Mismatch"),
        (lambda m: m.prelu((dg if m is F else torch).ones(2, 3), (dg if m is F else torch)
                           .ones(1, 3)), RuntimeError, "scalar or 1D"),
        (lambda m: m.prelu((dg if m is F else torch).ones(2, 3), 0.25), TypeError, "weight"),
        (lambda m: m.softshrink((dg if m is F else torch).ones(3), -1.0), RuntimeError,
         "lambda must be in range"),
        (lambda m: m.rrelu((dg if m is F else torch).ones(3), 0.5, 0.1), RuntimeError,
         "Lower bound should be less than or equal to the upper bound"),
        (lambda m: m.hardshrink((dg if m is F else torch).tensor([1, 2])), NotImplementedError,
         None),
        (lambda m: m.pixel_shuffle((dg if m is F else torch).ones(4, 4), 2), RuntimeError,
         "at least 3 dimensions"),
        (lambda m: m.pixel_shuffle((dg if m is F else torch).ones(1, 3, 4, 4), 2), RuntimeError,
         "divisible by the square of upscale_factor"),
        (lambda m: m.pixel_shuffle((dg if m is F else torch).ones(1, 4, 4, 4), 0), RuntimeError,
         "positive upscale_factor"),
        (lambda m: m.pixel_unshuffle((dg if m is F else torch).ones(1, 4, 3, 4), 2),
         RuntimeError, "height to be divisible"),
        (lambda m: m.pixel_unshuffle((dg if m is F else torch).ones(1, 4, 4, 3), 2),
         RuntimeError, "width to be divisible"),
        (lambda m: m.channel_shuffle((dg if m is F else torch).ones(2, 4), 2), RuntimeError,
         "expects input with > 2 dims"),
        (lambda m: m.channel_shuffle((dg if m is F else torch).ones(1, 4, 2), 3), RuntimeError,
         "Number of channels must be divisible by groups"),
        (lambda m: m.channel_shuffle((dg if m is F else torch).ones(1, 4, 2), 0), RuntimeError,
         "must be positive"),
        (lambda m: m.local_response_norm((dg if m is F else torch).ones(2, 3), 2), ValueError,
         "Expected 3D or higher dimensionality"),
        (lambda m: m.instance_norm((dg if m is F else torch).ones(2, 3, 1)), ValueError,
         "Expected more than 1 spatial element when training"),
        (lambda m: m.instance_norm((dg if m is F else torch).ones(2, 3, 4),
                                   use_input_stats=False), RuntimeError,
         "Expected running_mean and running_var to be defined"),
        (lambda m: m.instance_norm((dg if m is F else torch).ones(2, 3, 4),
                                   weight=(dg if m is F else torch).ones(2)), RuntimeError,
         "weight should contain"),
        (lambda m: m.dropout1d((dg if m is F else torch).ones(2, 3, 4, 5)), RuntimeError,
         "dropout1d: Expected 2D or 3D input"),
        (lambda m: m.dropout2d((dg if m is F else torch).ones(2, 3), 1.5), ValueError,
         "dropout probability has to be between 0 and 1"),
        (lambda m: m.feature_alpha_dropout((dg if m is F else torch).ones(3), 0.5, True),
         RuntimeError, "Feature dropout requires at least 2 dimensions"),
    ]
    for call, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            call(_tF())
        with pytest.raises(exc, match=msg):
            call(F)


def test_not_a_tensor_names_the_function():
    for fn in (F.prelu, F.hardshrink, F.pixel_shuffle, F.channel_shuffle, F.instance_norm,
               F.gumbel_softmax, F.dropout2d):
        args = (dg.ones(1),) if fn is F.prelu else ()
        args = (2,) if fn in (F.pixel_shuffle, F.channel_shuffle) else args
        with pytest.raises(TypeError, match=fn.__name__):
            fn([1.0, 2.0], *args)


# ----------------------------------------------------------------------------------------------
# in-place forms and random activations
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("name,args", [("celu_", (0.7,)), ("selu_", ()),
                                       ("threshold_", (0.1, -2.0)), ("rrelu_", (0.1, 0.3))])
def test_inplace_forms(name, args):
    a = _a(3, 4)
    d, t = dg.tensor(a), torch.tensor(a)
    out_d, out_t = getattr(F, name)(d, *args), getattr(_tF(), name)(t, *args)
    assert out_d is d
    # rtol 1e-7: torch's celu rounds 1/alpha differently in float64
    assert_close(d, t, rtol=1e-7)
    assert_close(out_d, out_t, rtol=1e-7)
    # autograd through the in-place form: gradient of the out-of-place one
    x = dg.tensor(a, requires_grad=True)
    y = getattr(F, name)(x * 1.0, *args)
    y.sum().backward()
    xt = torch.tensor(a, requires_grad=True)
    getattr(_tF(), name)(xt * 1.0, *args).sum().backward()
    assert_close(x.grad, xt.grad, rtol=1e-7)


def test_rrelu_training_draws_slopes_in_range():
    lower, upper = 0.1, 0.3
    x = dg.tensor(-np.abs(_a(200, 100)) - 0.01, requires_grad=True)
    y = F.rrelu(x, lower, upper, training=True)
    ratio = (y / x).detach().numpy()
    assert ratio.min() >= lower and ratio.max() <= upper
    assert abs(ratio.mean() - (lower + upper) / 2) < 2e-3
    assert abs(ratio.std() - (upper - lower) / np.sqrt(12)) < 2e-3
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), ratio, rtol=1e-12)
    pos = dg.tensor(np.abs(_a(50)))
    assert_close(F.rrelu(pos, training=True), pos)
    # eval: the mean slope, like leaky_relu
    assert_close(F.rrelu(x.detach(), lower, upper), F.leaky_relu(x.detach(), 0.2))
    # a new draw on each call; the same draw after reseeding
    dg.manual_seed(3)
    a = F.rrelu(x.detach(), training=True)
    b = F.rrelu(x.detach(), training=True)
    dg.manual_seed(3)
    assert_close(F.rrelu(x.detach(), training=True), a)
    assert not np.allclose(a.numpy(), b.numpy())


def test_rrelu_module_train_and_eval():
    m = nn.RReLU(0.2, 0.4)
    x = dg.tensor(-np.ones((100, 100)))
    out = m(x).numpy()
    assert out.min() >= -0.4 and out.max() <= -0.2 and out.std() > 0.01
    m.eval()
    np.testing.assert_allclose(m(x).numpy(), -0.3 * np.ones((100, 100)))
    y = dg.tensor(-np.ones(3))
    assert nn.RReLU(inplace=True).eval()(y) is y


# ----------------------------------------------------------------------------------------------
# dropout
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn,shape,channel_dims", [
    (F.dropout1d, (40, 50, 6), 2), (F.dropout1d, (400, 6), 1),
    (F.dropout2d, (40, 50, 2, 3), 2), (F.dropout2d, (400, 2, 3), 2),
    (F.dropout3d, (40, 50, 2, 1, 3), 2), (F.dropout3d, (400, 2, 1, 3), 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_channel_dropout_statistics(fn, shape, channel_dims, dtype):
    p = 0.3
    x = dg.ones(*shape, dtype=getattr(dg, dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = fn(x, p)
    assert y.dtype == x.dtype
    out = y.detach().numpy().reshape(int(np.prod(shape[:channel_dims])), -1)
    # whole channels are zeroed or scaled by 1/(1-p)
    assert ((out == 0).all(1) | np.isclose(out, 1 / (1 - p)).all(1)).all()
    dropped = (out == 0).all(1).mean()
    assert abs(dropped - p) < 0.05
    y.sum().backward()
    assert_close(x.grad, y.detach(), dtype)  # the gradient is the same mask and scale


@pytest.mark.parametrize("fn", [F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
                                F.feature_alpha_dropout])
def test_dropout_identity_and_edges(fn):
    shape = {F.dropout1d: (2, 3, 4), F.dropout3d: (2, 3, 2, 2, 2)}.get(fn, (2, 3, 4, 4))
    x = dg.randn(*shape)
    assert fn(x, 0.5, training=False) is x
    assert fn(x, 0.0, training=True) is x
    zero = fn(x, 1.0, training=True)
    assert zero.shape == x.shape and not zero.numpy().any()
    empty = dg.randn(0, *shape[1:])
    assert fn(empty, 0.5, training=True) is empty
    y = x.clone()
    assert fn(y, 0.5, training=True, inplace=True) is y
    with pytest.raises(ValueError, match="between 0 and 1"):
        fn(x, -0.1)


@requires_torch
def test_dropout2d_and_3d_warn_like_torch():
    for fn, tfn, shape in [(F.dropout2d, _tF().dropout2d, (2, 3, 4)),
                           (F.dropout2d, _tF().dropout2d, (2, 3)),
                           (F.dropout3d, _tF().dropout3d, (2, 3, 4))]:
        with warnings.catch_warnings(record=True) as dw:
            warnings.simplefilter("always")
            fn(dg.ones(*shape), 0.5)
        with warnings.catch_warnings(record=True) as tw:
            warnings.simplefilter("always")
            tfn(torch.ones(*shape), 0.5)
        assert [str(w.message) for w in dw] == [str(w.message) for w in tw]
        assert all(w.filename == __file__ for w in dw)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_alpha_dropout_keeps_mean_and_variance(dtype):
    p = 0.2
    x = dg.randn(400, 500, dtype=getattr(dg, dtype), requires_grad=True)
    out = F.alpha_dropout(x, p, training=True)
    out.sum().backward()
    y, xs = out.detach().numpy(), x.detach().numpy()
    assert abs(y.mean()) < 0.01 and abs(y.var() - 1) < 0.01
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    kept = x.grad.numpy() != 0  # the gradient is a where kept, 0 where dropped
    np.testing.assert_allclose(x.grad.numpy()[kept], a, rtol=1e-6)
    assert abs((~kept).mean() - p) < 0.01
    np.testing.assert_allclose(y[~kept], a * alpha * (p - 1), rtol=1e-6)
    np.testing.assert_allclose(y[kept], a * xs[kept] + a * alpha * p, rtol=1e-5, atol=1e-6)


def test_feature_alpha_dropout_drops_whole_channels():
    p = 0.4
    x = dg.randn(200, 300, 8, requires_grad=True)
    out = F.feature_alpha_dropout(x, p, training=True)
    out.sum().backward()
    y, xs, g = out.detach().numpy(), x.detach().numpy(), x.grad.numpy()
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    dropped = (g == 0).all(-1)
    assert ((g == 0).any(-1) == dropped).all()  # whole channels
    assert abs(dropped.mean() - p) < 0.02
    np.testing.assert_allclose(y[dropped], a * alpha * (p - 1), rtol=1e-6)
    np.testing.assert_allclose(y[~dropped], a * xs[~dropped] + a * alpha * p, rtol=1e-5,
                               atol=1e-6)
    assert abs(y.mean()) < 0.02 and abs(y.var() - 1) < 0.02


@requires_torch
@pytest.mark.parametrize("name", ["Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                                  "FeatureAlphaDropout"])
def test_dropout_modules(name):
    m, t = getattr(nn, name)(0.25), getattr(torch.nn, name)(0.25)
    assert_repr_like_torch(m, t)
    assert_repr_like_torch(getattr(nn, name)(0.1, True), getattr(torch.nn, name)(0.1, True))
    shape = {"Dropout1d": (4, 5, 6), "Dropout3d": (4, 5, 2, 2, 2)}.get(name, (4, 5, 3, 3))
    x = dg.randn(*shape)
    m.eval()
    assert_close(m(x), x)
    m.train()
    assert not np.allclose(m(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        getattr(nn, name)(1.5)


# ----------------------------------------------------------------------------------------------
# modules with weights or buffers
# ----------------------------------------------------------------------------------------------

def _copy_weights(d, t):
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})


def _module_parity(d, t, x, modes=("train", "eval"), steps=1, dtype="float32"):
    """Outputs, input and parameter gradients, and buffers after `steps` calls per mode."""
    _copy_weights(d, t)
    assert list(d.state_dict()) == list(t.state_dict())
    for mode in modes:
        getattr(d, mode)()
        getattr(t, mode)()
        for _ in range(steps):
            d.zero_grad()
            t.zero_grad()
            dx = dg.tensor(x, requires_grad=True)
            tx = torch.tensor(x, requires_grad=True)
            dy, ty = d(dx), t(tx)
            assert_close(dy, ty, dtype)
            seed = RNG.standard_normal(tuple(ty.shape)).astype(x.dtype)
            ty.backward(torch.tensor(seed))
            dy.backward(dg.tensor(seed))
            assert_close(dx.grad, tx.grad, dtype)
            tp = dict(t.named_parameters())
            for name, p in d.named_parameters():
                assert_close(p.grad, tp[name].grad, dtype)
        tb = dict(t.named_buffers())
        for name, b in d.named_buffers():
            assert_close(b, tb[name], dtype)


@requires_torch
@pytest.mark.parametrize("num,init,shape", [(1, 0.25, (2, 3, 4)), (3, 0.1, (2, 3, 4, 5)),
                                            (1, 0.3, (6,)), (4, 0.2, (5, 4))])
def test_prelu_module(num, init, shape):
    d, t = nn.PReLU(num, init), torch.nn.PReLU(num, init)
    assert_close(d.weight, t.weight.detach())
    assert_repr_like_torch(d, t)
    with torch.no_grad():
        t.weight.copy_(torch.tensor(_a(num)))
    _module_parity(d, t, _a(*shape).astype(np.float32))
    assert nn.PReLU(2, dtype=dg.float64).weight.dtype == dg.float64


@requires_torch
@pytest.mark.parametrize("cls", ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d"])
@pytest.mark.parametrize("affine,track", [(False, False), (True, False), (False, True),
                                          (True, True)])
def test_instance_norm_modules(cls, affine, track):
    spatial = {"InstanceNorm1d": (5,), "InstanceNorm2d": (3, 4),
               "InstanceNorm3d": (2, 3, 2)}[cls]
    d = getattr(nn, cls)(3, affine=affine, track_running_stats=track, momentum=0.2)
    t = getattr(torch.nn, cls)(3, affine=affine, track_running_stats=track, momentum=0.2)
    assert_repr_like_torch(d, t)
    if affine:
        with torch.no_grad():
            t.weight.copy_(torch.tensor(_a(3)))
            t.bias.copy_(torch.tensor(_a(3)))
    x = (_a(2, 3, *spatial) * 2 + 1).astype(np.float32)
    _module_parity(d, t, x, steps=2)
    _module_parity(d, t, x[0], steps=2)  # unbatched (C, *spatial)


@requires_torch
def test_instance_norm_momentum_none_and_channel_mismatch():
    d = nn.InstanceNorm1d(3, momentum=None, track_running_stats=True)
    t = torch.nn.InstanceNorm1d(3, momentum=None, track_running_stats=True)
    _module_parity(d, t, _a(2, 3, 4).astype(np.float32), steps=2)
    assert int(d.num_batches_tracked.item()) == int(t.num_batches_tracked.item()) == 0
    with pytest.warns(UserWarning, match="does not match num_features"):
        nn.InstanceNorm1d(4)(dg.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"to match num_features \(4\), but got: 3"):
        nn.InstanceNorm1d(4, affine=True)(dg.randn(2, 3, 5))
    with pytest.raises(ValueError, match="expected 4D or 5D input"):
        nn.InstanceNorm3d(3)(dg.randn(2, 3, 5))


@requires_torch
def test_instance_norm_refuses_old_running_stats_like_torch():
    state = {"running_mean": np.zeros(2, np.float32), "running_var": np.ones(2, np.float32)}
    for strict in (True, False):
        with pytest.raises(RuntimeError) as d:
            nn.InstanceNorm2d(2).load_state_dict({k: dg.tensor(v) for k, v in state.items()},
                                                 strict=strict)
        with pytest.raises(RuntimeError) as t:
            torch.nn.InstanceNorm2d(2).load_state_dict(
                {k: torch.tensor(v) for k, v in state.items()}, strict=strict)
        assert str(d.value) == str(t.value)
    m = nn.InstanceNorm2d(2, track_running_stats=True)
    m.load_state_dict({k: dg.tensor(v) for k, v in state.items()}, strict=False)


@requires_torch
def test_instance_norm_functional_updates_running_stats_like_torch():
    a = _a(4, 3, 6) * 3 + 1
    rm, rv = dg.tensor(_a(3)), dg.tensor(np.abs(_a(3)) + 0.5)
    trm, trv = torch.tensor(rm.numpy()), torch.tensor(rv.numpy())
    out = F.instance_norm(dg.tensor(a), rm, rv, momentum=0.3)
    ref = _tF().instance_norm(torch.tensor(a), trm, trv, momentum=0.3)
    assert_close(out, ref)
    assert_close(rm, trm)
    assert_close(rv, trv)
    out = F.instance_norm(dg.tensor(a), rm, rv, use_input_stats=False)
    assert_close(out, _tF().instance_norm(torch.tensor(a), trm, trv, use_input_stats=False))


# ----------------------------------------------------------------------------------------------
# stateless modules
# ----------------------------------------------------------------------------------------------

# (name, args, input shape)
STATELESS = [
    ("Hardshrink", (), (3, 4)), ("Hardshrink", (1,), (3, 4)), ("Softshrink", (), (3, 4)),
    ("Softshrink", (0.3,), (3, 4)), ("Softmax2d", (), (2, 3, 4, 5)), ("Softmax2d", (), (3, 4, 5)),
    ("PixelShuffle", (2,), (2, 8, 3, 3)), ("PixelUnshuffle", (2,), (2, 2, 4, 6)),
    ("ChannelShuffle", (2,), (2, 4, 3, 3)),
    ("ConstantPad1d", (2, 3.5), (2, 3, 4)), ("ConstantPad1d", ((1, 0), -1.0), (3, 4)),
    ("ConstantPad2d", ((1, 2, 0, 3), 0.5), (2, 3, 4, 4)), ("ConstantPad3d", (1, 2.0), (3, 2, 2, 2)),
    ("ZeroPad1d", ((2, 1),), (2, 3, 4)), ("ZeroPad2d", (1,), (3, 4, 4)),
    ("ZeroPad2d", ((1, -1, 2, 0),), (1, 3, 4, 4)),
    ("ZeroPad3d", ((1, 0, 0, 1, 2, 2),), (1, 2, 2, 3, 2)),
    ("ReflectionPad1d", (2,), (2, 3, 4)), ("ReflectionPad1d", ((3, 1),), (3, 4)),
    ("ReflectionPad2d", ((1, 2, 3, 0),), (2, 3, 4, 5)), ("ReflectionPad2d", (1,), (3, 4, 5)),
    ("ReflectionPad3d", (1,), (1, 2, 3, 3, 3)),
    ("ReflectionPad3d", ((1, 0, 2, 1, 0, 1),), (2, 3, 4, 3)),
    ("ReplicationPad1d", ((3, 1),), (2, 3, 4)), ("ReplicationPad1d", (2,), (3, 1)),
    ("ReplicationPad2d", ((1, 2, 3, 0),), (2, 3, 4, 5)), ("ReplicationPad2d", (2,), (3, 4, 5)),
    ("ReplicationPad3d", (1,), (1, 2, 3, 3, 3)), ("ReplicationPad3d", (2,), (2, 1, 2, 3)),
    ("CircularPad1d", (2,), (2, 3, 4)), ("CircularPad1d", ((4, 1),), (3, 4)),
    ("CircularPad2d", ((1, 2, 3, 0),), (2, 3, 4, 5)), ("CircularPad2d", (1,), (3, 4, 5)),
    ("CircularPad3d", (1,), (1, 2, 3, 3, 3)),
    ("CircularPad3d", ((1, 0, 2, 1, 0, 1),), (2, 3, 4, 3)),
    ("Upsample", ((5, 7),), (2, 3, 4, 4)),
    ("Upsample", (None, 2, "bilinear"), (2, 3, 4, 5)),
    ("Upsample", (None, 1.5, "bilinear", True), (1, 2, 4, 5)),
    ("Upsample", (None, (2, 3), "bicubic"), (1, 2, 3, 4)),
    ("Upsample", (None, 2, "bicubic", True), (1, 2, 3, 4)),
    ("Upsample", ((3, 9), None, "bicubic"), (1, 2, 5, 4)),
    ("Upsample", (7, None, "linear"), (2, 3, 4)),
    ("Upsample", (None, 2, "trilinear"), (1, 2, 2, 3, 2)),
    ("Upsample", (None, 2, "nearest-exact"), (1, 2, 3, 3)),
    ("UpsamplingNearest2d", (None, 3), (2, 3, 2, 3)),
    ("UpsamplingNearest2d", ((5, 4),), (1, 1, 3, 3)),
    ("UpsamplingBilinear2d", (None, 2), (2, 3, 2, 3)), ("UpsamplingBilinear2d", (7,), (1, 2, 3, 4)),
    ("LocalResponseNorm", (3,), (2, 5, 3, 3)), ("LocalResponseNorm", (2, 0.1, 0.5, 2.0), (2, 5, 4)),
    ("CrossMapLRN2d", (3, 0.1, 0.75, 2.0), (2, 6, 3, 3)), ("CrossMapLRN2d", (4, 0.5), (1, 5, 2, 2)),
]


@requires_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,args,shape", STATELESS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(STATELESS)])
def test_stateless_modules(name, args, shape, dtype):
    d, t = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert_repr_like_torch(d, t)
    assert not list(d.state_dict()) and not list(t.state_dict())
    x = _a(*shape).astype(dtype)
    if name == "CrossMapLRN2d":  # PyTorch's backward differs from the forward's gradient
        assert_close(d(dg.tensor(x)), t(torch.tensor(x)), dtype)
        return
    rtol = 2e-5 if dtype == "float32" and "bicubic" in args else None
    _parity(d, t, [x], dtype, rtol=rtol)


@pytest.mark.parametrize("size,channels", [(1, 4), (2, 5), (3, 1), (4, 6), (5, 3), (8, 4)])
def test_cross_map_lrn2d_matches_torch_forward_and_gradcheck(size, channels):
    x = _a(2, channels, 2, 3)
    d = nn.CrossMapLRN2d(size, 0.4, 0.75, 2.0)
    if torch is not None:
        assert_close(d(dg.tensor(x)), torch.nn.CrossMapLRN2d(size, 0.4, 0.75, 2.0)(
            torch.tensor(x)))
    assert gradcheck(d, [dg.tensor(x, requires_grad=True)], eps=1e-6, atol=1e-6, rtol=1e-4)
    with pytest.raises(ValueError, match="Expected input to be 4D"):
        d(dg.randn(2, 3, 4))


@requires_torch
def test_module_errors_match_torch():
    for name, args, shape, exc, msg in [
            ("Softmax2d", (), (3, 4), ValueError, "expected input to be 3D or 4D"),
            ("CircularPad2d", (1,), (2, 3, 4, 5, 6), ValueError, "expected 3D or 4D input"),
            ("CircularPad1d", (1,), (4,), ValueError, "expected 2D or 3D input"),
            ("ReflectionPad1d", (4,), (2, 3, 4), RuntimeError, None)]:
        with pytest.raises(exc, match=msg):
            getattr(torch.nn, name)(*args)(torch.ones(*shape))
        with pytest.raises(exc, match=msg):
            getattr(nn, name)(*args)(dg.ones(*shape))


def test_upsample_keeps_its_arguments_like_torch():
    m = nn.Upsample(scale_factor=(2, 3), mode="bilinear")
    assert m.scale_factor == (2.0, 3.0) and m.name == "Upsample"
    assert nn.Upsample(size=4).scale_factor is None
    m.__setstate__({k: v for k, v in m.__dict__.items() if k != "recompute_scale_factor"})
    assert m.recompute_scale_factor is True


def test_interpolate_bicubic_needs_4d_input():
    with pytest.raises(NotImplementedError, match="got 3D input, but bicubic mode needs 4D"):
        F.interpolate(dg.randn(1, 1, 4), scale_factor=2, mode="bicubic")


@requires_torch
@pytest.mark.parametrize("shape,kw", [((1, 2, 3, 200), dict(size=(5, 150))),
                                      ((1, 1, 200, 2), dict(scale_factor=1.5))])
def test_bicubic_large_dims_take_the_gather_path(shape, kw):
    _parity(lambda x: F.interpolate(x, mode="bicubic", **kw),
            lambda x: _tF().interpolate(x, mode="bicubic", **kw), [_a(*shape)], rtol=1e-9)


# ----------------------------------------------------------------------------------------------
# gumbel_softmax
# ----------------------------------------------------------------------------------------------

def test_gumbel_softmax_samples_follow_the_softmax():
    logits = dg.tensor([[1.0, 0.0, -1.0, 2.0]]).expand(20000, 4)
    probs = F.softmax(logits[0], 0).numpy()
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    h = hard.numpy()
    assert set(np.unique(h)) == {0.0, 1.0} and (h.sum(1) == 1).all()
    np.testing.assert_allclose(h.mean(0), probs, atol=0.015)
    soft = F.gumbel_softmax(logits, tau=0.5).numpy()
    np.testing.assert_allclose(soft.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.bincount(soft.argmax(1), minlength=4) / 20000, probs,
                               atol=0.015)
    # a lower temperature gives samples closer to one-hot
    cold = F.gumbel_softmax(logits, tau=0.1).numpy()
    assert cold.max(1).mean() > soft.max(1).mean()


def test_gumbel_softmax_dim_and_dtype():
    x = dg.randn(3, 5, 2, dtype=dg.float64)
    y = F.gumbel_softmax(x, dim=1, hard=True)
    assert y.dtype == dg.float64 and y.shape == x.shape
    np.testing.assert_allclose(y.numpy().sum(1), 1.0)


def test_gumbel_softmax_hard_has_the_soft_gradient():
    logits = dg.tensor(_a(4, 6), requires_grad=True)
    go = dg.tensor(_a(4, 6))
    dg.manual_seed(11)
    soft = F.gumbel_softmax(logits, tau=0.7)
    (gs,) = dg.autograd.grad(soft, [logits], go)
    dg.manual_seed(11)
    hard = F.gumbel_softmax(logits, tau=0.7, hard=True)
    (gh,) = dg.autograd.grad(hard, [logits], go)
    assert_close(gh, gs)
    assert_close(hard.argmax(-1), soft.argmax(-1))
    assert not gs.abs().sum().item() == 0


def test_gumbel_softmax_eps_is_deprecated():
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        F.gumbel_softmax(dg.zeros(2, 3), eps=1e-3)


# ----------------------------------------------------------------------------------------------
# compiled mode
# ----------------------------------------------------------------------------------------------

def test_compiled_matches_eager():
    def fn(x, w):
        y = F.prelu(x, w)
        y = F.hardshrink(y, 0.3) + F.softshrink(x, 0.2)
        y = F.instance_norm(y)
        y = F.local_response_norm(y, 3, 0.1, 0.75, 1.0)
        y = F.pad(y, (1, 2, 2, 1), mode="reflect")
        y = F.channel_shuffle(y, 2)
        y = F.pixel_shuffle(y, 2)
        return F.interpolate(y, scale_factor=0.5, mode="bicubic")

    x, w = dg.randn(2, 8, 5, 6), dg.randn(8)
    compiled = dg.compile(fn, backend="llvm", fullgraph=True)
    want = fn(x, w).numpy()
    for _ in range(2):  # the second call runs the compiled code
        np.testing.assert_allclose(compiled(x, w).numpy(), want, rtol=1e-5, atol=1e-6)
