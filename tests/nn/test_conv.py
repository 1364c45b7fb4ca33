"""Convolution layers and functionals against PyTorch with identical weights: outputs, input,
weight and bias gradients over option combinations; double backward; init; clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn as nn
import dyngraph.nn.functional as F
from dyngraph.autograd import gradcheck, gradgradcheck
from tests.conftest import assert_close, requires_torch, torch

RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _copy_weights(d, t):
    d.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in t.state_dict().items()})


def _parity(d, t, x, *args, rtol=2e-5, atol=2e-5, **kwargs):
    """Same output and the same input/weight/bias gradients, in train and eval mode."""
    _copy_weights(d, t)
    for mode in ("train", "eval"):
        getattr(d, mode)()
        getattr(t, mode)()
        d.zero_grad()
        t.zero_grad()
        dx, tx = dg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        dy, ty = d(dx, *args, **kwargs), t(tx, *args, **kwargs)
        assert tuple(dy.shape) == tuple(ty.shape)
        assert_close(dy, ty, rtol=rtol, atol=atol)
        seed = RNG.standard_normal(tuple(ty.shape)).astype(np.float32)
        ty.backward(torch.tensor(seed))
        dy.backward(dg.tensor(seed))
        assert_close(dx.grad, tx.grad, rtol=rtol, atol=atol)
        tparams = dict(t.named_parameters())
        for name, p in d.named_parameters():
            assert_close(p.grad, tparams[name].grad, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------------
# Conv2d / Conv1d
# ----------------------------------------------------------------------------------------------

CONV2D = [
    dict(kernel_size=3),
    dict(kernel_size=3, padding=1),
    dict(kernel_size=(2, 3), stride=(2, 1), padding=(1, 0)),
    dict(kernel_size=3, stride=2, padding=2, dilation=2),
    dict(kernel_size=(3, 1), dilation=(1, 3), padding=(0, 2)),
    dict(kernel_size=3, padding="same"),
    dict(kernel_size=(2, 4), padding="same", dilation=(1, 2)),
    dict(kernel_size=3, padding="valid", stride=3),
    dict(kernel_size=3, groups=2, padding=1),
    dict(kernel_size=1, groups=4, bias=False),
    dict(kernel_size=3, padding=1, bias=False, stride=2),
    dict(kernel_size=3, padding=1, padding_mode="reflect"),
    dict(kernel_size=3, padding=(2, 1), padding_mode="replicate", groups=2),
    dict(kernel_size=(3, 2), padding=2, padding_mode="circular", stride=2),
    dict(kernel_size=3, padding="same", padding_mode="reflect"),
]


@requires_torch
@pytest.mark.parametrize("kw", CONV2D, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv2d_matches_torch(kw):
    d, t = nn.Conv2d(4, 8, **kw), torch.nn.Conv2d(4, 8, **kw)
    _parity(d, t, _x(3, 4, 9, 8))


@requires_torch
def test_conv2d_unbatched_input():
    d, t = nn.Conv2d(2, 3, 3, padding=1), torch.nn.Conv2d(2, 3, 3, padding=1)
    _parity(d, t, _x(2, 5, 6))


CONV1D = [
    dict(kernel_size=3),
    dict(kernel_size=4, stride=2, padding=1),
    dict(kernel_size=3, dilation=2, padding="same"),
    dict(kernel_size=2, padding="same"),
    dict(kernel_size=3, groups=2, bias=False),
    dict(kernel_size=3, padding=2, padding_mode="circular"),
    dict(kernel_size=3, padding=1, padding_mode="reflect", stride=2),
]


@requires_torch
@pytest.mark.parametrize("kw", CONV1D, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv1d_matches_torch(kw):
    d, t = nn.Conv1d(4, 6, **kw), torch.nn.Conv1d(4, 6, **kw)
    _parity(d, t, _x(2, 4, 11))


@requires_torch
def test_conv1d_unbatched_input():
    d, t = nn.Conv1d(3, 2, 3), torch.nn.Conv1d(3, 2, 3)
    _parity(d, t, _x(3, 7))


# ----------------------------------------------------------------------------------------------
# ConvTranspose2d / ConvTranspose1d
# ----------------------------------------------------------------------------------------------

CONVT2D = [
    dict(kernel_size=3),
    dict(kernel_size=3, stride=2, padding=1, output_padding=1),
    dict(kernel_size=(2, 3), stride=(2, 3), padding=(0, 1)),
    dict(kernel_size=3, stride=2, dilation=2, output_padding=1),
    dict(kernel_size=3, groups=2, stride=2, bias=False),
    dict(kernel_size=4, stride=3, padding=2, output_padding=(2, 0)),
]


@requires_torch
@pytest.mark.parametrize("kw", CONVT2D, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv_transpose2d_matches_torch(kw):
    d, t = nn.ConvTranspose2d(4, 6, **kw), torch.nn.ConvTranspose2d(4, 6, **kw)
    _parity(d, t, _x(2, 4, 5, 6))


@requires_torch
@pytest.mark.parametrize("size", [[11, 11], [11, 12], [2, 3, 12, 11]])
def test_conv_transpose2d_output_size(size):
    d = nn.ConvTranspose2d(6, 3, 3, stride=2, padding=1)
    t = torch.nn.ConvTranspose2d(6, 3, 3, stride=2, padding=1)
    _parity(d, t, _x(2, 6, 6, 6), output_size=size)


@requires_torch
@pytest.mark.parametrize("kw", [dict(kernel_size=3), dict(kernel_size=3, stride=2, padding=1,
                                                          output_padding=1, dilation=2),
                                dict(kernel_size=2, groups=2, stride=3)])
def test_conv_transpose1d_matches_torch(kw):
    d, t = nn.ConvTranspose1d(4, 6, **kw), torch.nn.ConvTranspose1d(4, 6, **kw)
    _parity(d, t, _x(2, 4, 7))


# ----------------------------------------------------------------------------------------------
# functional forms, double backward, float64 gradients
# ----------------------------------------------------------------------------------------------

def _f64(*shape):
    return dg.tensor(RNG.standard_normal(shape), dtype=dg.float64, requires_grad=True)


def test_conv2d_gradcheck_and_double_backward():
    x, w, b = _f64(1, 2, 4, 4), _f64(2, 1, 2, 2), _f64(2)

    def fn(x, w, b):
        return F.conv2d(x, w, b, stride=(1, 2), padding=1, dilation=(2, 1), groups=2)
    assert gradcheck(fn, (x, w, b))
    assert gradgradcheck(fn, (x, w, b))


def test_conv_transpose2d_double_backward():
    x, w = _f64(1, 2, 3, 2), _f64(2, 2, 2, 2)
    fn = lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)  # noqa
    assert gradgradcheck(fn, (x, w))


def test_conv1d_double_backward():
    x, w = _f64(1, 2, 5), _f64(3, 2, 2)
    assert gradgradcheck(lambda x, w: F.conv1d(x, w, padding="same", dilation=2), (x, w))


@requires_torch
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(dilation=2, padding=(1, 2)),
                                dict(groups=3, padding="same")])
def test_functional_conv2d_float64_matches_torch(kw):
    x, w, b = RNG.standard_normal((2, 6, 7, 8)), RNG.standard_normal((9, 2 if kw.get("groups")
                                                                      else 6, 3, 3)), \
        RNG.standard_normal(9)
    d = [dg.tensor(a, requires_grad=True) for a in (x, w, b)]
    t = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    dy, ty = F.conv2d(*d, **kw), torch.nn.functional.conv2d(*t, **kw)
    assert_close(dy, ty)
    dy.sum().backward()
    ty.sum().backward()
    for a, b_ in zip(d, t):
        assert_close(a.grad, b_.grad)


def test_conv_grad_flows_through_a_deeper_net():
    x = _f64(1, 1, 6, 6)
    w1, w2 = _f64(2, 1, 3, 3), _f64(1, 2, 3, 3)
    assert gradcheck(lambda x, w1, w2: F.conv2d(F.conv2d(x, w1, padding=1).tanh(), w2),
                     (x, w1, w2))


# ----------------------------------------------------------------------------------------------
# unfold / fold
# ----------------------------------------------------------------------------------------------

UNFOLD = [dict(kernel_size=2), dict(kernel_size=(2, 3), stride=(1, 2), padding=1, dilation=2),
          dict(kernel_size=3, padding=(0, 1), stride=2)]


@requires_torch
@pytest.mark.parametrize("kw", UNFOLD, ids=str)
def test_unfold_fold_match_torch(kw):
    x = _x(2, 3, 7, 8)
    d, t = nn.Unfold(**kw), torch.nn.Unfold(**kw)
    _parity(d, t, x, rtol=0, atol=0)
    cols = t(torch.tensor(x)).detach().numpy()
    d, t = nn.Fold((7, 8), **kw), torch.nn.Fold((7, 8), **kw)
    _parity(d, t, cols, rtol=1e-6, atol=1e-6)


@requires_torch
def test_unfold_unbatched():
    x = _x(3, 5, 5)
    assert_close(F.unfold(dg.tensor(x), 2), torch.nn.functional.unfold(torch.tensor(x), 2),
                 rtol=0, atol=0)


def test_fold_is_adjoint_of_unfold():
    x = RNG.standard_normal((1, 2, 5, 6))
    c = RNG.standard_normal((1, 2 * 2 * 3, 4 * 3))
    kw = dict(kernel_size=(2, 3), stride=(1, 2), padding=(0, 1))
    lhs = (F.unfold(dg.tensor(x), **kw) * dg.tensor(c)).sum().item()
    rhs = (dg.tensor(x) * F.fold(dg.tensor(c), (5, 6), **kw)).sum().item()
    assert math.isclose(lhs, rhs, rel_tol=1e-12)


# ----------------------------------------------------------------------------------------------
# initialisation, repr, state dict
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("cls,args", [("Conv2d", (6, 32, 3)), ("Conv1d", (4, 16, 5)),
                                      ("ConvTranspose2d", (8, 12, 3)),
                                      ("Conv2d", (8, 16, (3, 2), 1, 0, 1, 4))])
def test_default_init_matches_torch(cls, args):
    d, t = getattr(nn, cls)(*args), getattr(torch.nn, cls)(*args)
    assert repr(d) == repr(t)
    assert list(d.state_dict()) == list(t.state_dict())
    # PyTorch's bound for both: kaiming_uniform_(a=sqrt(5)) gives 1/sqrt(fan_in) for the weight,
    # and the bias is drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    fan_in = t.weight.shape[1] * int(np.prod(t.weight.shape[2:]))
    bound = 1 / math.sqrt(fan_in)
    for name, tp in t.named_parameters():
        dp = getattr(d, name)
        assert tuple(dp.shape) == tuple(tp.shape)
        for w in (dp.detach().numpy(), tp.detach().numpy()):
            assert np.all(np.abs(w) <= bound + 1e-7)
            assert np.abs(w).max() > 0.5 * bound
    w = d.weight.detach().numpy()
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound
    assert abs(w.mean()) < 0.1 * bound


@requires_torch
@pytest.mark.parametrize("kw", [dict(padding="same", bias=False), dict(stride=2, dilation=2),
                                dict(padding=1, padding_mode="circular", groups=2)])
def test_repr_matches_torch(kw):
    assert repr(nn.Conv2d(4, 6, 3, **kw)) == repr(torch.nn.Conv2d(4, 6, 3, **kw))


def test_conv_dtype_and_device_arguments():
    c = nn.Conv2d(2, 3, 3, dtype=dg.float64)
    assert c.weight.dtype is dg.float64 and c.bias.dtype is dg.float64
    assert c(dg.randn(1, 2, 4, 4, dtype=dg.float64)).dtype is dg.float64


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------

def test_wrong_input_channels_names_expected_and_got():
    conv = nn.Conv2d(3, 8, 3)
    with pytest.raises(RuntimeError, match=r"conv2d.*expected input\[2, 5, 9, 9\] to have 3 "
                                           r"channels, but got 5 channels"):
        conv(dg.randn(2, 5, 9, 9))
    with pytest.raises(RuntimeError, match=r"conv_transpose2d.*to have 4 channels, but got 5"):
        nn.ConvTranspose2d(4, 2, 3)(dg.randn(1, 5, 4, 4))
    with pytest.raises(RuntimeError, match=r"conv1d.*to have 4 channels, but got 2"):
        nn.Conv1d(4, 2, 3, groups=2)(dg.randn(1, 2, 9))


def test_kernel_larger_than_input():
    with pytest.raises(RuntimeError, match=r"padded input size per channel: \(2 x 2\). Kernel "
                                           r"size: \(3 x 3\)"):
        F.conv2d(dg.randn(1, 1, 2, 2), dg.randn(1, 1, 3, 3))
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        nn.Conv1d(1, 1, 5, dilation=2)(dg.randn(1, 1, 8))


def test_wrong_input_rank():
    with pytest.raises(RuntimeError, match=r"Expected 3D \(unbatched\) or 4D \(batched\) input "
                                           r"to conv2d, but got input of size: \[5, 5\]"):
        nn.Conv2d(1, 1, 3)(dg.randn(5, 5))
    with pytest.raises(RuntimeError, match="conv1d"):
        F.conv1d(dg.randn(1, 2, 5), dg.randn(3, 2, 3, 3))


def test_bad_arguments():
    with pytest.raises(ValueError, match="in_channels .* divisible by groups"):
        nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels .* divisible by groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided"):
        F.conv2d(dg.randn(1, 1, 5, 5), dg.randn(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(2, 2, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match='only "zeros" padding mode'):
        nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(RuntimeError, match="expected bias to be 1-dimensional with 4 elements"):
        F.conv2d(dg.randn(1, 2, 5, 5), dg.randn(4, 2, 3, 3), dg.randn(3))
    with pytest.raises(RuntimeError, match="non-positive stride"):
        F.conv2d(dg.randn(1, 2, 5, 5), dg.randn(4, 2, 3, 3), stride=0)
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride"):
        F.conv_transpose2d(dg.randn(1, 2, 5, 5), dg.randn(2, 4, 3, 3), output_padding=1)
    with pytest.raises(ValueError, match="valid sizes range from 11 to 12"):
        nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1)(dg.randn(1, 2, 6, 6), output_size=[13, 13])


def test_dtype_mismatch_is_an_error():
    with pytest.raises(RuntimeError, match="input dtype float64 and parameter dtype float32"):
        nn.Conv2d(1, 1, 3)(dg.randn(1, 1, 4, 4, dtype=dg.float64))


def test_fold_unfold_errors():
    with pytest.raises(RuntimeError, match="only 3D or 4D input"):
        F.unfold(dg.randn(3, 5), 2)
    with pytest.raises(RuntimeError, match=r"sliding blocks 3 \* 4 = 12, but got input.size\(2\)"
                                           r"=10"):
        F.fold(dg.randn(1, 12, 10), (4, 5), 2)


@requires_torch
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_conv2d_half_precision_matches_torch(dtype):
    x, w, b = _x(2, 3, 6, 6), _x(4, 3, 3, 3), _x(4)
    tdt = getattr(torch, dtype)
    got = F.conv2d(*(dg.tensor(a, dtype=getattr(dg, dtype)) for a in (x, w, b)), padding=1)
    want = torch.nn.functional.conv2d(*(torch.tensor(a).to(tdt) for a in (x, w, b)), padding=1)
    assert got.dtype is getattr(dg, dtype)
    assert_close(got, want.float(), dtype)


@requires_torch
def test_empty_batch():
    _parity(nn.Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(3, 4, 3, padding=1), _x(0, 3, 6, 6))
    _parity(nn.ConvTranspose2d(3, 4, 3, stride=2), torch.nn.ConvTranspose2d(3, 4, 3, stride=2),
            _x(0, 3, 6, 6))


def test_im2col_columns_reshape_without_copy():
    """conv2d relies on im2col's (C, kh, kw, N, oh, ow) memory order: its GEMM operand is a view."""
    from dyngraph.ops.conv_ops import im2col
    cols = im2col(dg.randn(2, 3, 6, 5), (3, 2), (1, 1), ((1, 1), (0, 1)), (1, 2))
    n, c, kh, kw, oh, ow = cols.shape
    mat = cols.permute(1, 2, 3, 0, 4, 5).reshape(c * kh * kw, n * oh * ow)
    assert np.shares_memory(mat.numpy(), cols.numpy())
