"""3-D convolution and the pooling layers added with it (3-D max/avg/adaptive pooling, LP pooling,
max unpooling, fractional max pooling) against PyTorch: outputs, indices, gradients, module reprs
and state dicts, finite-difference gradchecks, errors, and compiled mode against eager."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn as nn
import dyngraph.nn.functional as F
from dyngraph.autograd import gradcheck, gradgradcheck
from tests.conftest import (assert_close, assert_repr_like_torch, requires_pinned_torch,
                            requires_torch, to_np, torch)

RNG = np.random.default_rng(7)
TOLS = {"float32": dict(rtol=2e-5, atol=2e-5), "float64": dict(rtol=1e-10, atol=1e-12)}


def _x(*shape, dtype="float64"):
    return RNG.standard_normal(shape).astype(dtype)


def _ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


def _parity(dfn, tfn, arrays, dtype="float64", grad=True, n_grad=None):
    """Same outputs (indices included) and the same gradients of the float inputs (the first
    n_grad of them when given)."""
    tol = TOLS[dtype]
    wants = [grad and a.dtype.kind == "f" and (n_grad is None or i < n_grad)
             for i, a in enumerate(arrays)]
    darr = [dg.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    tarr = [torch.tensor(a, requires_grad=w) for a, w in zip(arrays, wants)]
    dy, ty = dfn(*darr), tfn(*tarr)
    douts = dy if isinstance(dy, tuple) else (dy,)
    touts = ty if isinstance(ty, tuple) else (ty,)
    assert len(douts) == len(touts)
    for d, t in zip(douts, touts):
        assert tuple(d.shape) == tuple(t.shape)
        assert d.dtype.name == str(t.dtype).replace("torch.", "")
        assert_close(d, t, **tol)
    if not grad:
        return
    seed = RNG.standard_normal(tuple(touts[0].shape)).astype(dtype)
    touts[0].backward(torch.tensor(seed))
    douts[0].backward(dg.tensor(seed))
    for d, t in zip(darr, tarr):
        if t.requires_grad:
            assert_close(d.grad, t.grad, **tol)


# ----------------------------------------------------------------------------------------------
# conv3d / conv_transpose3d
# ----------------------------------------------------------------------------------------------

CONV3D = [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(1, 2, 3), padding=(1, 0, 2), dilation=(2, 1, 1)),
    dict(groups=2, padding="same", dilation=(1, 2, 1)),
    dict(padding="valid", groups=2),
    dict(padding="same"),   # even kernel: the extra element goes on the right, as in PyTorch
]


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", CONV3D, ids=_ids)
def test_conv3d_matches_torch(kw, dtype):
    ks = (2, 3, 2) if kw.get("padding") == "same" and not kw.get("groups") else (3, 2, 3)
    arrays = [_x(2, 4, 6, 5, 7, dtype=dtype), _x(6, 4 // kw.get("groups", 1), *ks, dtype=dtype),
              _x(6, dtype=dtype)]
    _parity(lambda x, w, b: F.conv3d(x, w, b, **kw),
            lambda x, w, b: torch.nn.functional.conv3d(x, w, b, **kw), arrays, dtype)


CONVT3D = [
    dict(),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(1, 2, 3), padding=(0, 1, 1), output_padding=(0, 1, 2), dilation=(2, 1, 1)),
    dict(groups=2, stride=2, dilation=2, output_padding=1),
]


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", CONVT3D, ids=_ids)
def test_conv_transpose3d_matches_torch(kw, dtype):
    g = kw.get("groups", 1)
    arrays = [_x(2, 4, 3, 4, 2, dtype=dtype), _x(4, 6 // g, 3, 2, 2, dtype=dtype),
              _x(6, dtype=dtype)]
    _parity(lambda x, w, b: F.conv_transpose3d(x, w, b, **kw),
            lambda x, w, b: torch.nn.functional.conv_transpose3d(x, w, b, **kw), arrays, dtype)


@requires_torch
def test_conv3d_unbatched_size_one_and_empty_batch():
    _parity(lambda x, w: F.conv3d(x, w, padding=1),
            lambda x, w: torch.nn.functional.conv3d(x, w, padding=1),
            [_x(2, 1, 4, 1), _x(3, 2, 1, 3, 1)])
    _parity(lambda x, w: F.conv_transpose3d(x, w, stride=2),
            lambda x, w: torch.nn.functional.conv_transpose3d(x, w, stride=2),
            [_x(2, 1, 3, 1), _x(2, 3, 1, 2, 1)])
    y = F.conv3d(dg.zeros(0, 2, 4, 4, 4), dg.zeros(3, 2, 2, 2, 2, dtype=dg.float32))
    assert tuple(y.shape) == (0, 3, 3, 3, 3)


def test_conv3d_gradcheck_and_double_backward():
    x = dg.tensor(_x(1, 2, 3, 4, 3), requires_grad=True)
    w = dg.tensor(_x(2, 1, 2, 2, 2), requires_grad=True)
    b = dg.tensor(_x(2), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding=1, groups=2),
                     (x, w, b))
    assert gradgradcheck(lambda x, w: F.conv3d(x, w, padding=(0, 1, 1), dilation=(1, 1, 2)),
                         (x, dg.tensor(_x(3, 2, 2, 2, 1), requires_grad=True)))
    wt = dg.tensor(_x(2, 3, 2, 1, 2), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv_transpose3d(x, w, stride=2, padding=1,
                                                     output_padding=1), (x, wt))
    assert gradgradcheck(lambda x, w: F.conv_transpose3d(x, w, stride=(1, 2, 1)), (x, wt))


@requires_torch
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv3d_module_matches_torch(mode):
    kw = dict(stride=(1, 2, 1), padding=(1, 2, 1), dilation=1, groups=2, padding_mode=mode)
    d, t = nn.Conv3d(4, 6, (3, 2, 3), **kw), torch.nn.Conv3d(4, 6, (3, 2, 3), **kw)
    assert_repr_like_torch(d, t)
    assert list(d.state_dict()) == list(t.state_dict())
    assert tuple(d.weight.shape) == tuple(t.weight.shape)
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    x = _x(2, 4, 5, 6, 4, dtype="float32")
    assert_close(d(dg.tensor(x)), t(torch.tensor(x)), **TOLS["float32"])


@requires_torch
def test_conv3d_module_same_padding_and_default_init():
    d, t = nn.Conv3d(2, 3, (2, 3, 4), padding="same", bias=False), \
        torch.nn.Conv3d(2, 3, (2, 3, 4), padding="same", bias=False)
    assert_repr_like_torch(d, t)
    assert d.bias is None and list(d.state_dict()) == ["weight"]
    x = _x(1, 2, 4, 5, 6, dtype="float32")
    assert tuple(d(dg.tensor(x)).shape) == (1, 3, 4, 5, 6)
    # kaiming_uniform_(a=sqrt(5)): |w| <= 1/sqrt(fan_in)
    bound = 1 / math.sqrt(2 * 2 * 3 * 4)
    assert float(d.weight.abs().max()) <= bound + 1e-7


@requires_torch
def test_conv_transpose3d_module_matches_torch_with_output_size():
    kw = dict(stride=2, padding=1, groups=2, bias=True)
    d, t = nn.ConvTranspose3d(4, 2, 3, **kw), torch.nn.ConvTranspose3d(4, 2, 3, **kw)
    assert_repr_like_torch(d, t)
    assert list(d.state_dict()) == list(t.state_dict())
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})
    x = _x(1, 4, 3, 4, 2, dtype="float32")
    for size in (None, [6, 8, 4], (1, 2, 5, 7, 4)):
        assert_close(d(dg.tensor(x), output_size=size), t(torch.tensor(x), output_size=size),
                     **TOLS["float32"])
    with pytest.raises(ValueError, match="ConvTranspose3d"):
        d(dg.tensor(x), output_size=[9, 8, 4])
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose3d(2, 2, 3, padding_mode="reflect")


def test_conv3d_errors_name_the_function_and_shapes():
    x = dg.randn(1, 2, 2, 2, 2)
    with pytest.raises(RuntimeError, match=r"conv3d: calculated padded input size per channel: "
                                           r"\(2 x 2 x 2\). Kernel size: \(3 x 3 x 3\)"):
        F.conv3d(x, dg.randn(1, 2, 3, 3, 3))
    with pytest.raises(RuntimeError, match="Expected 4D .* or 5D .* input to conv3d"):
        F.conv3d(dg.randn(2, 2, 2), dg.randn(1, 2, 1, 1, 1))
    with pytest.raises(RuntimeError, match="expected a 5-D weight"):
        F.conv3d(x, dg.randn(1, 2, 3, 3))
    with pytest.raises(RuntimeError, match="expected input.* to have 4 channels"):
        F.conv3d(x, dg.randn(2, 2, 1, 1, 1), groups=2)
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided"):
        F.conv3d(x, dg.randn(1, 2, 1, 1, 1), stride=2, padding="same")
    with pytest.raises(RuntimeError, match="output padding must be smaller"):
        F.conv_transpose3d(x, dg.randn(2, 1, 1, 1, 1), stride=1, output_padding=1)
    with pytest.raises(RuntimeError, match="conv3d: input dtype float64 and parameter dtype"):
        F.conv3d(x.double(), dg.randn(1, 2, 1, 1, 1))
    with pytest.raises(ValueError, match="Conv3d: in_channels"):
        nn.Conv3d(3, 4, 1, groups=2)
    if torch is not None:   # the same inputs fail in PyTorch too, with the same exception type
        with pytest.raises(RuntimeError):
            torch.nn.functional.conv3d(torch.randn(1, 2, 2, 2, 2), torch.randn(1, 2, 3, 3, 3))


# ----------------------------------------------------------------------------------------------
# 3-D max / average / adaptive pooling
# ----------------------------------------------------------------------------------------------

def _module_parity(name, kw, arrays, dtype="float64"):
    d, t = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert_repr_like_torch(d, t)
    assert list(d.state_dict()) == list(t.state_dict())
    _parity(d, t, arrays, dtype)


MAXPOOL3D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0), dilation=(2, 1, 1)),
    dict(kernel_size=3, stride=2, ceil_mode=True, return_indices=True),
    dict(kernel_size=(1, 2, 3), stride=1, padding=(0, 1, 1), return_indices=True),
]


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", MAXPOOL3D, ids=_ids)
def test_maxpool3d_matches_torch(kw, dtype):
    _module_parity("MaxPool3d", kw, [_x(2, 3, 6, 7, 5, dtype=dtype)], dtype)


@requires_torch
def test_maxpool3d_unbatched_and_ties():
    _parity(lambda x: F.max_pool3d(x, 2, 1, return_indices=True),
            lambda x: torch.nn.functional.max_pool3d(x, 2, 1, return_indices=True),
            [_x(2, 3, 4, 3)])
    # ties: the gradient goes to the first maximum of each window, as in PyTorch
    _parity(lambda x: F.max_pool3d(x, 2, 1, return_indices=True),
            lambda x: torch.nn.functional.max_pool3d(x, 2, 1, return_indices=True),
            [np.ones((1, 1, 3, 3, 3))])


AVGPOOL3D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False, ceil_mode=True),
    dict(kernel_size=(2, 3, 1), stride=(1, 2, 1), padding=(1, 1, 0), divisor_override=5),
    dict(kernel_size=3, stride=2, ceil_mode=True),
]


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", AVGPOOL3D, ids=_ids)
def test_avgpool3d_matches_torch(kw, dtype):
    _module_parity("AvgPool3d", kw, [_x(2, 3, 6, 7, 5, dtype=dtype)], dtype)


@requires_torch
@pytest.mark.parametrize("size", [2, (3, None, 2), (6, 7, 5), (1, 1, 1), (4, 5, 3)], ids=str)
def test_adaptive_pool3d_matches_torch(size):
    _module_parity("AdaptiveAvgPool3d", dict(output_size=size), [_x(2, 3, 6, 7, 5)])
    _module_parity("AdaptiveMaxPool3d", dict(output_size=size, return_indices=True),
                   [_x(2, 3, 6, 7, 5)])
    _parity(lambda x: F.adaptive_max_pool3d(x, size), lambda x: torch.nn.functional
            .adaptive_max_pool3d(x, size), [_x(3, 6, 7, 5)])   # unbatched


def test_pool3d_gradcheck_and_double_backward():
    x = dg.tensor(_x(1, 2, 4, 3, 5), requires_grad=True)
    for fn in (lambda t: F.max_pool3d(t, 2, 1, 1),
               lambda t: F.avg_pool3d(t, (2, 3, 2), 2, 1, ceil_mode=True),
               lambda t: F.adaptive_avg_pool3d(t, (3, 2, 2)),
               lambda t: F.adaptive_max_pool3d(t, (3, 2, 2))):
        assert gradcheck(fn, (x,))
        assert gradgradcheck(lambda t, fn=fn: fn(t) ** 2, (x,))


@requires_torch
def test_pool3d_empty_batch():
    for name, fn in (("max_pool3d", lambda m, t: m.max_pool3d(t, 2)),
                     ("avg_pool3d", lambda m, t: m.avg_pool3d(t, 2)),
                     ("adaptive_avg_pool3d", lambda m, t: m.adaptive_avg_pool3d(t, 2)),
                     ("adaptive_max_pool3d", lambda m, t: m.adaptive_max_pool3d(t, 2))):
        d = fn(F, dg.zeros(0, 2, 4, 4, 4))
        t = fn(torch.nn.functional, torch.zeros(0, 2, 4, 4, 4))
        assert tuple(d.shape) == tuple(t.shape), name


def test_pool3d_errors():
    with pytest.raises(RuntimeError, match="Expected 4D .* or 5D .* input to max_pool3d"):
        F.max_pool3d(dg.randn(1, 2, 3), 2)
    with pytest.raises(RuntimeError, match="avg_pool3d: pad should be at most half"):
        F.avg_pool3d(dg.randn(1, 1, 4, 4, 4), 2, padding=2)
    with pytest.raises(RuntimeError, match="max_pool3d: given input size.*too small"):
        F.max_pool3d(dg.randn(1, 1, 1, 4, 4), 2)
    with pytest.raises(RuntimeError, match="avg_pool3d: divisor must be not zero"):
        F.avg_pool3d(dg.randn(1, 1, 4, 4, 4), 2, divisor_override=0)
    with pytest.raises(RuntimeError, match="adaptive_avg_pool3d: output_size must be 3"):
        F.adaptive_avg_pool3d(dg.randn(1, 1, 4, 4, 4), (2, 2))


# ----------------------------------------------------------------------------------------------
# LP pooling
# ----------------------------------------------------------------------------------------------

LPPOOL = [
    ("LPPool1d", dict(norm_type=2, kernel_size=3), (2, 3, 10)),
    ("LPPool1d", dict(norm_type=1.5, kernel_size=2, stride=3, ceil_mode=True), (3, 11)),
    ("LPPool2d", dict(norm_type=2, kernel_size=(3, 2), stride=1), (2, 3, 6, 5)),
    ("LPPool2d", dict(norm_type=3, kernel_size=2, ceil_mode=True), (2, 3, 5, 5)),
    ("LPPool2d", dict(norm_type=float("inf"), kernel_size=2), (2, 3, 6, 4)),
    ("LPPool3d", dict(norm_type=2, kernel_size=2), (2, 3, 4, 5, 4)),
    ("LPPool3d", dict(norm_type=1, kernel_size=(1, 2, 3), stride=(1, 1, 2)), (3, 4, 5, 6)),
]


@requires_pinned_torch   # torch 2.11's LP pooling differs for norm_type=inf and negative sums
@pytest.mark.parametrize("name,kw,shape", LPPOOL, ids=lambda v: str(v))
def test_lppool_matches_torch(name, kw, shape):
    # positive inputs: for odd p a negative window sum gives NaN in both libraries
    x = np.abs(_x(*shape)) + 0.1
    _module_parity(name, kw, [x])


@requires_pinned_torch
def test_lppool_negative_sums_and_minus_inf():
    x = _x(1, 2, 6, 6)
    _parity(lambda t: F.lp_pool2d(t, 3, 2), lambda t: torch.nn.functional.lp_pool2d(t, 3, 2),
            [x], grad=False)   # NaN where a window's sum of cubes is negative, in both
    _parity(lambda t: F.lp_pool2d(t, -math.inf, 2),
            lambda t: torch.nn.functional.lp_pool2d(t, -math.inf, 2), [x])


def test_lppool_gradcheck():
    x = dg.tensor(np.abs(_x(1, 2, 4, 3, 4)) + 0.5, requires_grad=True)
    assert gradcheck(lambda t: F.lp_pool3d(t, 2, 2, 1), (x,))
    assert gradcheck(lambda t: F.lp_pool1d(t, 3, 2), (x[0, :, 0].detach().contiguous(),))


# ----------------------------------------------------------------------------------------------
# max unpooling
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dims,shape,kw,size", [
    (1, (2, 3, 9), dict(kernel_size=2), None),
    (1, (3, 9), dict(kernel_size=3, stride=2, padding=1), [9]),
    (2, (2, 3, 7, 6), dict(kernel_size=2), [7, 6]),
    (2, (3, 7, 6), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)), None),
    (3, (2, 2, 5, 6, 4), dict(kernel_size=2), (2, 2, 5, 6, 4)),
    (3, (2, 5, 6, 4), dict(kernel_size=(2, 3, 1), stride=(1, 2, 2)), [5, 6, 4]),
], ids=str)
def test_max_unpool_matches_torch(dims, shape, kw, size):
    tpool = getattr(torch.nn.functional, f"max_pool{dims}d")
    y, idx = tpool(torch.tensor(_x(*shape)), return_indices=True, **kw)
    name = f"MaxUnpool{dims}d"
    d, t = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert_repr_like_torch(d, t)
    _parity(lambda v, i: d(v, i, output_size=size), lambda v, i: t(v, i, output_size=size),
            [y.numpy(), idx.numpy()])


def test_max_unpool_inverts_max_pool_and_gradcheck():
    x = dg.tensor(_x(1, 2, 4, 6, 4))
    y, idx = F.max_pool3d(x, 2, return_indices=True)
    back = F.max_unpool3d(y, idx, 2)
    assert_close(F.max_pool3d(back, 2), y)
    v = dg.tensor(to_np(y), requires_grad=True)
    assert gradcheck(lambda t: F.max_unpool3d(t, idx, 2), (v,))
    assert gradgradcheck(lambda t: F.max_unpool3d(t, idx, 2) ** 2, (v,))


def test_max_unpool_errors():
    y, idx = F.max_pool2d(dg.randn(1, 2, 4, 4), 2, return_indices=True)
    with pytest.raises(RuntimeError, match="max_unpool2d: elements in indices should be type "
                                           "int64 but got: int32"):
        F.max_unpool2d(y, idx.int(), 2)
    with pytest.raises(RuntimeError, match="expected shape of indices to be same"):
        F.max_unpool2d(y, idx[:, :, :1], 2)
    with pytest.raises(ValueError, match=r'invalid output_size "\[6, 4\]" \(dim 0 must be '
                                         r'between 2 and 6\)'):
        F.max_unpool2d(y, idx, 2, output_size=(6, 4))
    with pytest.raises(ValueError, match="output_size should be a sequence containing 2 or 4"):
        F.max_unpool2d(y, idx, 2, output_size=(4,))
    with pytest.raises(RuntimeError, match="max_unpool2d: found an invalid max index"):
        F.max_unpool2d(y, idx * 0 + 100, 2)


# ----------------------------------------------------------------------------------------------
# fractional max pooling
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", [dict(kernel_size=2, output_size=(4, 3)),
                                dict(kernel_size=(3, 2), output_ratio=(0.5, 0.7)),
                                dict(kernel_size=2, output_size=1),
                                dict(kernel_size=1, output_size=(9, 8))], ids=_ids)
def test_fractional_max_pool2d_matches_torch(kw, dtype):
    x, u = _x(2, 3, 9, 8, dtype=dtype), RNG.random((2, 3, 2)).astype(dtype)
    _parity(lambda t, s: F.fractional_max_pool2d(t, return_indices=True, _random_samples=s,
                                                 **kw),
            lambda t, s: torch.nn.functional.fractional_max_pool2d(
                t, return_indices=True, _random_samples=s, **kw), [x, u], dtype, n_grad=1)
    _parity(lambda t, s: F.fractional_max_pool2d(t[0], _random_samples=s[:1], **kw),
            lambda t, s: torch.nn.functional.fractional_max_pool2d(
                t[0], _random_samples=s[:1], **kw), [x, u], dtype, n_grad=1)   # unbatched


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", [dict(kernel_size=2, output_size=(3, 4, 2)),
                                dict(kernel_size=(1, 2, 3), output_ratio=0.5),
                                dict(kernel_size=3, output_size=(4, 5, 3))], ids=_ids)
def test_fractional_max_pool3d_matches_torch(kw, dtype):
    x, u = _x(2, 2, 7, 8, 6, dtype=dtype), RNG.random((2, 2, 3)).astype(dtype)
    _parity(lambda t, s: F.fractional_max_pool3d(t, return_indices=True, _random_samples=s,
                                                 **kw),
            lambda t, s: torch.nn.functional.fractional_max_pool3d(
                t, return_indices=True, _random_samples=s, **kw), [x, u], dtype, n_grad=1)


@requires_torch
def test_fractional_max_pool_modules_match_torch():
    u = RNG.random((2, 3, 2))
    kw = dict(kernel_size=2, output_size=(4, 3), return_indices=True)
    d = nn.FractionalMaxPool2d(**kw, _random_samples=dg.tensor(u))
    t = torch.nn.FractionalMaxPool2d(**kw, _random_samples=torch.tensor(u))
    assert_repr_like_torch(d, t)
    assert list(d.state_dict()) == list(t.state_dict()) == ["_random_samples"]
    _parity(d, t, [_x(2, 3, 9, 8)])
    d3 = nn.FractionalMaxPool3d(2, output_ratio=(0.5, 0.5, 0.6))
    assert list(d3.state_dict()) == [] and d3.output_ratio == (0.5, 0.5, 0.6)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
        nn.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(ValueError, match="only one of output_size and output_ratio"):
        nn.FractionalMaxPool3d(2, output_size=2, output_ratio=0.5)
    with pytest.raises(ValueError, match="requires specifying either"):
        nn.FractionalMaxPool2d(2)


def test_fractional_max_pool_random_windows_and_gradient():
    x = dg.tensor(_x(2, 3, 10, 9), requires_grad=True)
    y, idx = F.fractional_max_pool2d(x, 3, output_size=(4, 5), return_indices=True)
    assert tuple(y.shape) == (2, 3, 4, 5) and idx.dtype is dg.int64
    # every output is the input at its index, and the gradient lands there
    assert_close(y, np.take_along_axis(to_np(x).reshape(2, 3, -1),
                                       to_np(idx).reshape(2, 3, -1), 2).reshape(2, 3, 4, 5))
    y.sum().backward()
    grad = np.zeros((2, 3, 90))
    for b in range(2):
        for c in range(3):
            np.add.at(grad[b, c], to_np(idx)[b, c].ravel(), 1.0)
    assert_close(x.grad, grad.reshape(2, 3, 10, 9))
    u = dg.tensor(RNG.random((1, 2, 3)))
    v = dg.tensor(_x(1, 2, 5, 6, 4), requires_grad=True)
    assert gradcheck(lambda t: F.fractional_max_pool3d(t, 2, (3, 4, 2), _random_samples=u), (v,))


def test_fractional_max_pool_errors():
    x = dg.randn(1, 2, 5, 5)
    with pytest.raises(RuntimeError, match=r"fractional_max_pool2d\(\): pool height 3 too large "
                                           "relative to input height 5"):
        F.fractional_max_pool2d(x, 3, output_size=4)
    with pytest.raises(RuntimeError, match="expected _random_samples of shape"):
        F.fractional_max_pool2d(x, 2, 3, _random_samples=dg.rand(1, 2, 3))
    with pytest.raises(RuntimeError, match="same dtype as input"):
        F.fractional_max_pool2d(x, 2, 3, _random_samples=dg.rand(1, 2, 2, dtype=dg.float64))
    with pytest.raises(ValueError, match="requires specifying either an output_size"):
        F.fractional_max_pool3d(dg.randn(1, 1, 4, 4, 4), 2)
    # 3-D needs output + kernel - 1 < input (2-D allows equality), as in PyTorch
    assert tuple(F.fractional_max_pool2d(x, 2, 4).shape) == (1, 2, 4, 4)
    with pytest.raises(RuntimeError, match="pool width 2 too large relative to input width 5"):
        F.fractional_max_pool3d(dg.randn(1, 1, 5, 5, 5), 2, (3, 3, 4))


# ----------------------------------------------------------------------------------------------
# compiled mode
# ----------------------------------------------------------------------------------------------

def test_compiled_conv3d_and_pools_match_eager():
    conv = nn.Conv3d(2, 4, 3, padding=1)
    up = nn.ConvTranspose3d(4, 2, 2, stride=2)

    def fn(x):
        h = F.relu(conv(x))
        h = F.max_pool3d(h, 2) + F.avg_pool3d(h, 2) + F.lp_pool3d(h.abs() + 1, 2, 2)
        return up(F.adaptive_avg_pool3d(h, (2, 2, 2)))

    x = dg.randn(2, 2, 4, 6, 4)
    compiled = dg.compile(fn, backend="llvm")
    want = fn(x)
    for _ in range(2):      # the first call traces, the second runs the compiled code
        assert_close(compiled(x), want, rtol=1e-5, atol=1e-5)
    # the native conv loops are 2-D only: 3-D windows run as interpreter steps, and say so
    text = str(compiled.explain())
    assert "im2col: interpreter" in text and "col2im: interpreter" in text


def test_compiled_training_step_conv3d_matches_eager():
    conv = nn.Conv3d(2, 3, (2, 3, 2), stride=(1, 2, 1), padding=1)
    x = dg.randn(2, 2, 3, 5, 4)

    def step(t):
        y = F.fractional_max_pool3d(conv(t), 2, output_size=(2, 1, 2),
                                    _random_samples=dg.full((2, 3, 3), 0.5))
        return (y ** 2).sum()

    conv.zero_grad()
    step(x).backward()
    want = to_np(conv.weight.grad).copy()
    compiled = dg.compile(step, backend="llvm")
    for _ in range(2):
        conv.zero_grad()
        compiled(x).backward()
        assert_close(conv.weight.grad, want, rtol=1e-5, atol=1e-5)
