"""Pooling layers, pad and interpolate against PyTorch: outputs, indices and input gradients over
option combinations; the max-pool gradient goes to each window's argmax; double backward; errors."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn as nn
import dyngraph.nn.functional as F
from dyngraph.autograd import gradcheck, gradgradcheck
from tests.conftest import assert_close, requires_torch, torch

RNG = np.random.default_rng(1)


def _x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _ids(kw):
    return ",".join(f"{k}={v}" for k, v in kw.items())


def _parity(dfn, tfn, x, rtol=2e-5, atol=2e-5):
    """Same outputs (all of them, indices included) and the same input gradient."""
    dx, tx = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    dy, ty = dfn(dx), tfn(tx)
    douts = dy if isinstance(dy, tuple) else (dy,)
    touts = ty if isinstance(ty, tuple) else (ty,)
    assert len(douts) == len(touts)
    for d, t in zip(douts, touts):
        assert tuple(d.shape) == tuple(t.shape)
        assert d.dtype.name == str(t.dtype).replace("torch.", "")
        assert_close(d, t, rtol=rtol, atol=atol)
    seed = RNG.standard_normal(tuple(touts[0].shape)).astype(np.float32)
    touts[0].backward(torch.tensor(seed))
    douts[0].backward(dg.tensor(seed))
    assert_close(dx.grad, tx.grad, rtol=rtol, atol=atol)


def _module_parity(name, kw, x):
    d, t = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(d) == repr(t)
    for mode in ("train", "eval"):
        getattr(d, mode)()
        getattr(t, mode)()
        _parity(d, t, x)


# ----------------------------------------------------------------------------------------------
# max pooling
# ----------------------------------------------------------------------------------------------

MAXPOOL2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1)),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, return_indices=True),
    dict(kernel_size=2, dilation=2, return_indices=True),
    dict(kernel_size=(3, 2), stride=1, padding=(1, 0), dilation=(2, 3)),
    dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
]


@requires_torch
@pytest.mark.parametrize("kw", MAXPOOL2D, ids=_ids)
def test_maxpool2d_matches_torch(kw):
    _module_parity("MaxPool2d", kw, _x(2, 3, 9, 10))


@requires_torch
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, ceil_mode=True, return_indices=True),
                                dict(kernel_size=2, dilation=3, stride=1, return_indices=True)],
                         ids=_ids)
def test_maxpool1d_matches_torch(kw):
    _module_parity("MaxPool1d", kw, _x(2, 3, 11))


@requires_torch
def test_maxpool_unbatched_input():
    _parity(lambda x: F.max_pool2d(x, 2, return_indices=True),
            lambda x: torch.nn.functional.max_pool2d(x, 2, return_indices=True), _x(3, 6, 5))
    _parity(lambda x: F.max_pool1d(x, 2), lambda x: torch.nn.functional.max_pool1d(x, 2),
            _x(3, 7))


@requires_torch
def test_maxpool_gradient_goes_to_first_argmax_on_ties():
    x = np.array([[[[1, 1, 0, 2], [1, 0, 2, 2], [3, 3, 5, 5], [3, 3, 5, 5]]]], np.float32)
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
        _parity(lambda t, kw=kw: F.max_pool2d(t, return_indices=True, **kw),
                lambda t, kw=kw: torch.nn.functional.max_pool2d(t, return_indices=True, **kw), x)
    # overlapping windows: a position that is the maximum of two windows gets both gradients
    x = np.array([[[0.0, 4.0, 1.0, 3.0, 2.0]]], np.float32)
    _parity(lambda t: F.max_pool1d(t, 3, 1), lambda t: torch.nn.functional.max_pool1d(t, 3, 1), x)


def test_maxpool_gradcheck_and_double_backward():
    x = dg.tensor(RNG.standard_normal((1, 2, 5, 4)), requires_grad=True)
    fn = lambda t: F.max_pool2d(t, (2, 3), stride=(2, 1), padding=1, ceil_mode=True)  # noqa
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


# ----------------------------------------------------------------------------------------------
# average pooling
# ----------------------------------------------------------------------------------------------

AVGPOOL2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
    dict(kernel_size=2, divisor_override=3),
    dict(kernel_size=3, padding=1, stride=1, divisor_override=2, ceil_mode=True),
]


@requires_torch
@pytest.mark.parametrize("kw", AVGPOOL2D, ids=_ids)
def test_avgpool2d_matches_torch(kw):
    _module_parity("AvgPool2d", kw, _x(2, 3, 9, 10))


@requires_torch
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=3, padding=1, count_include_pad=False),
                                dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
                                dict(kernel_size=4, stride=3, padding=2, ceil_mode=True,
                                     count_include_pad=False)],
                         ids=_ids)
def test_avgpool1d_matches_torch(kw):
    _module_parity("AvgPool1d", kw, _x(2, 3, 11))


def test_avgpool_double_backward():
    x = dg.tensor(RNG.standard_normal((1, 1, 4, 5)), requires_grad=True)
    fn = lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False) ** 2  # noqa
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


# ----------------------------------------------------------------------------------------------
# adaptive pooling
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("size", [1, 3, (2, 5), (None, 4), (4, None), (7, 3), (9, 10)], ids=str)
def test_adaptive_avgpool2d_matches_torch(size):
    _module_parity("AdaptiveAvgPool2d", dict(output_size=size), _x(2, 3, 9, 10))


@requires_torch
@pytest.mark.parametrize("size", [1, 3, (2, 5), (None, 4), (7, 3)], ids=str)
@pytest.mark.parametrize("ret", [False, True])
def test_adaptive_maxpool2d_matches_torch(size, ret):
    _module_parity("AdaptiveMaxPool2d", dict(output_size=size, return_indices=ret),
                   _x(2, 3, 9, 10))


@requires_torch
@pytest.mark.parametrize("size", [1, 4, 11, 5])
def test_adaptive_pool1d_matches_torch(size):
    _module_parity("AdaptiveAvgPool1d", dict(output_size=size), _x(2, 3, 11))
    _module_parity("AdaptiveMaxPool1d", dict(output_size=size, return_indices=True),
                   _x(2, 3, 11))


@requires_torch
def test_adaptive_pool_unbatched():
    _parity(lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
            lambda x: torch.nn.functional.adaptive_avg_pool2d(x, (2, 3)), _x(3, 7, 5))
    _parity(lambda x: F.adaptive_max_pool2d(x, 2),
            lambda x: torch.nn.functional.adaptive_max_pool2d(x, 2), _x(3, 7, 5))


def test_adaptive_avgpool_double_backward():
    x = dg.tensor(RNG.standard_normal((1, 2, 5, 4)), requires_grad=True)
    assert gradgradcheck(lambda t: F.adaptive_avg_pool2d(t, (3, 2)) ** 2, (x,))


# ----------------------------------------------------------------------------------------------
# pad
# ----------------------------------------------------------------------------------------------

PADS = [(1, 2), (2, 0, 1, 3), (1, 1, 0, 2, 2, 1)]


@requires_torch
@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", PADS, ids=str)
def test_pad_matches_torch(mode, pad):
    x = _x(*(2, 3, 4, 5, 6)[:2 + len(pad) // 2])
    _parity(lambda t: F.pad(t, pad, mode=mode),
            lambda t: torch.nn.functional.pad(t, pad, mode=mode), x)


@requires_torch
@pytest.mark.parametrize("pad,value", [((-1, 2), 0.0), ((1, -2, 2, 1), 3.5), ((0, 0, 0, 0, 1, 1),
                                                                                -1.0)], ids=str)
def test_constant_pad_crop_and_value(pad, value):
    _parity(lambda t: F.pad(t, pad, value=value),
            lambda t: torch.nn.functional.pad(t, pad, value=value), _x(2, 3, 5))


@requires_torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad", [(-1, 2), (2, -1, -2, 1)], ids=str)
def test_non_constant_pad_with_cropping(mode, pad):
    x = _x(*(2, 3, 5, 6)[:2 + len(pad) // 2])
    _parity(lambda t: F.pad(t, pad, mode=mode),
            lambda t: torch.nn.functional.pad(t, pad, mode=mode), x)


@requires_torch
def test_pad_unbatched_and_1d():
    _parity(lambda t: F.pad(t, (2, 3), mode="reflect"),
            lambda t: torch.nn.functional.pad(t, (2, 3), mode="reflect"), _x(3, 6))
    _parity(lambda t: F.pad(t, (1, 2, 2, 1), mode="circular"),
            lambda t: torch.nn.functional.pad(t, (1, 2, 2, 1), mode="circular"), _x(3, 4, 5))


def test_pad_double_backward():
    x = dg.tensor(RNG.standard_normal((1, 2, 3)), requires_grad=True)
    for mode in ("constant", "reflect", "replicate", "circular"):
        assert gradgradcheck(lambda t, mode=mode: F.pad(t, (2, 1), mode=mode) ** 2, (x,))


# ----------------------------------------------------------------------------------------------
# interpolate
# ----------------------------------------------------------------------------------------------

INTERP = [
    dict(size=(7, 5)), dict(scale_factor=2), dict(scale_factor=(1.7, 0.6)),
    dict(scale_factor=3, recompute_scale_factor=True), dict(size=(3, 4)), dict(size=13),
]


@requires_torch
@pytest.mark.parametrize("mode,align", [("nearest", None), ("nearest-exact", None),
                                        ("bilinear", False), ("bilinear", True), ("area", None)])
@pytest.mark.parametrize("kw", INTERP, ids=_ids)
def test_interpolate_2d_matches_torch(mode, align, kw):
    _parity(lambda t: F.interpolate(t, mode=mode, align_corners=align, **kw),
            lambda t: torch.nn.functional.interpolate(t, mode=mode, align_corners=align, **kw),
            _x(2, 3, 5, 6))


@requires_torch
@pytest.mark.parametrize("mode,align", [("nearest", None), ("linear", False), ("linear", True),
                                        ("area", None)])
@pytest.mark.parametrize("kw", [dict(size=9), dict(scale_factor=0.5), dict(scale_factor=2.5)],
                         ids=_ids)
def test_interpolate_1d_matches_torch(mode, align, kw):
    _parity(lambda t: F.interpolate(t, mode=mode, align_corners=align, **kw),
            lambda t: torch.nn.functional.interpolate(t, mode=mode, align_corners=align, **kw),
            _x(2, 3, 7))


@requires_torch
@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False),
                                        ("bilinear", True)])
def test_interpolate_gather_path_matches_torch(mode, align):
    """Dims longer than the matmul threshold, and non-finite inputs, take the gather path."""
    from dyngraph.nn import _functional_conv as FC
    x = _x(1, 2, 3, FC._MATMUL_MAX + 7)
    _parity(lambda t: F.interpolate(t, size=(5, 150), mode=mode, align_corners=align),
            lambda t: torch.nn.functional.interpolate(t, size=(5, 150), mode=mode,
                                                      align_corners=align), x)
    x = _x(1, 2, 4, 5)
    x[0, 1, 2, 3] = np.inf
    x[0, 0, 1, 1] = np.nan
    with np.errstate(invalid="ignore"):
        dy = F.interpolate(dg.tensor(x), size=(7, 3), mode=mode, align_corners=align)
    ty = torch.nn.functional.interpolate(torch.tensor(x), size=(7, 3), mode=mode,
                                         align_corners=align)
    assert_close(dy, ty, rtol=2e-5, atol=2e-5)


def test_interpolate_double_backward():
    x = dg.tensor(RNG.standard_normal((1, 1, 3, 3)), requires_grad=True)
    assert gradgradcheck(lambda t: F.interpolate(t, size=(4, 5), mode="bilinear") ** 2, (x,))
    assert gradgradcheck(lambda t: F.interpolate(t, scale_factor=1.5) ** 2, (x,))


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------

def test_pool_errors():
    with pytest.raises(RuntimeError, match="max_pool2d: pad should be at most half of effective "
                                           "kernel size, but got pad=2, kernel_size=3"):
        F.max_pool2d(dg.randn(1, 1, 5, 5), 3, padding=2)
    with pytest.raises(RuntimeError, match=r"given input size: \(3x2x2\). Calculated output "
                                           r"size: \(3x0x0\). Output size is too small"):
        nn.MaxPool2d(3)(dg.randn(2, 3, 2, 2))
    with pytest.raises(RuntimeError, match="avg_pool2d: pad should be at most half of kernel"):
        F.avg_pool2d(dg.randn(1, 1, 5, 5), 2, padding=2)
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input "
                                           r"to max_pool2d"):
        F.max_pool2d(dg.randn(5, 5), 2)
    with pytest.raises(RuntimeError, match="divisor must be not zero"):
        F.avg_pool2d(dg.randn(1, 1, 4, 4), 2, divisor_override=0)
    with pytest.raises(RuntimeError, match="output_size must be 2"):
        F.adaptive_avg_pool2d(dg.randn(1, 1, 4, 4), (2,))


def test_pad_errors():
    with pytest.raises(RuntimeError, match="padding length must be divisible by 2"):
        F.pad(dg.randn(2, 3), (1, 1, 1))
    with pytest.raises(RuntimeError, match=r"padding \(5, 5\) at dimension 2 of input "
                                           r"\[2, 3, 5\]"):
        F.pad(dg.randn(2, 3, 5), (5, 5), mode="reflect")
    with pytest.raises(RuntimeError, match="wrapping around more than once"):
        F.pad(dg.randn(2, 3, 5), (6, 6), mode="circular")
    with pytest.raises(NotImplementedError, match="padding size 2 is not supported for 4D"):
        F.pad(dg.randn(1, 2, 3, 4), (1, 1), mode="replicate")
    with pytest.raises(NotImplementedError, match="mode 'mirror' is not supported"):
        F.pad(dg.randn(1, 2, 3), (1, 1), mode="mirror")


def test_interpolate_errors():
    x = dg.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="got 3D input, but bilinear mode needs 4D"):
        F.interpolate(dg.randn(1, 1, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match="mode 'mirror' is not supported"):
        F.interpolate(x, scale_factor=2, mode="mirror")


@requires_torch
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_pooling_half_precision_matches_torch(dtype):
    x, tdt = _x(2, 3, 7, 6), getattr(torch, dtype)
    for name, kw in (("max_pool2d", dict(kernel_size=3, stride=2, padding=1)),
                     ("avg_pool2d", dict(kernel_size=2, ceil_mode=True))):
        got = getattr(F, name)(dg.tensor(x, dtype=getattr(dg, dtype)), **kw)
        want = getattr(torch.nn.functional, name)(torch.tensor(x).to(tdt), **kw)
        assert got.dtype is getattr(dg, dtype)
        assert_close(got, want.float(), dtype)


@requires_torch
@pytest.mark.parametrize("name,fn", [
    ("max_pool2d", lambda F_, t: F_.max_pool2d(t, 2)),
    ("avg_pool2d", lambda F_, t: F_.avg_pool2d(t, 2)),
    ("adaptive_avg_pool2d", lambda F_, t: F_.adaptive_avg_pool2d(t, 3)),
    ("adaptive_max_pool2d", lambda F_, t: F_.adaptive_max_pool2d(t, 3)),
    ("interpolate", lambda F_, t: F_.interpolate(t, scale_factor=2, mode="bilinear")),
    ("pad", lambda F_, t: F_.pad(t, (1, 1, 1, 1), mode="reflect")),
    ("unfold", lambda F_, t: F_.unfold(t, 2)),
])
def test_empty_batch(name, fn):
    _parity(lambda t: fn(F, t), lambda t: fn(torch.nn.functional, t), _x(0, 3, 8, 8))


@requires_torch
@pytest.mark.parametrize("kw", [dict(mode="trilinear", size=(4, 5, 3)),
                                dict(mode="trilinear", align_corners=True, scale_factor=2),
                                dict(mode="nearest", scale_factor=1.5),
                                dict(mode="area", size=(2, 3, 4))], ids=_ids)
def test_interpolate_3d_matches_torch(kw):
    _parity(lambda t: F.interpolate(t, **kw), lambda t: torch.nn.functional.interpolate(t, **kw),
            _x(1, 2, 3, 4, 5))
