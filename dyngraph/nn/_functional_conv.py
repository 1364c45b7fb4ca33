"""Convolution, pooling, padding, resampling and fold/unfold for `dyngraph.nn.functional`.

Everything here is composed from primitives, so autograd (double backward included) comes from
their rules:
- convolution = `im2col` windows + one GEMM (`matmul`) per group; its transpose is a GEMM +
  `col2im`. 1-D versions run the 2-D code on an (N, C, 1, L) view.
- max pooling gathers the input at the per-window argmax (`max_pool2d_indices`), so the gradient
  goes to that one position, as in PyTorch; average pooling sums `im2col` windows.
- adaptive average pooling and the resampling modes are separable, written as matmuls or gathers.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops as _ops
from ..ops import conv_ops as _C
from ..ops._api import Tensor, apply
from ..ops.registry import composite

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "unfold", "fold",
           "max_pool1d", "max_pool2d", "max_pool1d_with_indices", "max_pool2d_with_indices",
           "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool1d_with_indices",
           "adaptive_max_pool2d_with_indices", "pad", "interpolate", "upsample",
           "upsample_nearest", "upsample_bilinear"]


# ----------------------------------------------------------------------------------------------
# argument helpers
# ----------------------------------------------------------------------------------------------

def _tuple(v, n: int, name: str, op: str) -> tuple[int, ...]:
    """An int or a length-n sequence as an n-tuple of ints (PyTorch's _pair/_single)."""
    if isinstance(v, Tensor):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        if len(v) == 1:
            v = tuple(v) * n
        if len(v) != n:
            raise RuntimeError(f"{op}: expected {name} to be a single integer or a tuple of {n} "
                               f"integers, got {tuple(v)}")
        return tuple(int(a) for a in v)
    return (int(v),) * n


def _shape_str(t: Tensor) -> str:
    return str(list(t.shape))


def _check_dims(op: str, x: Tensor, spatial: int) -> bool:
    """Validate an (N, C, *spatial) or unbatched (C, *spatial) input; True when batched."""
    if x.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input "
                           f"to {op}, but got input of size: {_shape_str(x)}")
    return x.ndim == spatial + 2


def _check_positive(op: str, name: str, vals) -> None:
    if any(v <= 0 for v in vals):
        raise RuntimeError(f"{op}: non-positive {name} is not supported (got {tuple(vals)})")


def _same_dtype(op: str, x: Tensor, *others) -> None:
    for o in others:
        if o is not None and o.dtype is not x.dtype:
            raise RuntimeError(f"{op}: input dtype {x.dtype.name} and parameter dtype "
                               f"{o.dtype.name} should be the same; cast one with .to(dtype)")


# ----------------------------------------------------------------------------------------------
# convolution
# ----------------------------------------------------------------------------------------------

def _conv_padding(op, padding, kernel, dilation, stride, n):
    """((lo, hi), ...) per spatial dim from an int, a tuple, 'valid' or 'same'."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise ValueError(f"{op}: invalid padding string {padding!r}, should be one of "
                             "'valid' or 'same'")
        if any(s != 1 for s in stride):
            raise RuntimeError(f"{op}: padding='same' is not supported for strided convolutions")
        # PyTorch puts the odd extra element of 'same' padding on the right.
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in total)
    p = _tuple(padding, n, "padding", op)
    if any(v < 0 for v in p):
        raise RuntimeError(f"{op}: negative padding is not supported (got {p})")
    return tuple((v, v) for v in p)


def _conv_checks(op, x, weight, bias, groups, spatial, transposed=False):
    if weight.ndim != spatial + 2:
        raise RuntimeError(f"{op}: expected a {spatial + 2}-D weight, got weight of size "
                           f"{_shape_str(weight)}")
    if x.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(
            f"Expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input to {op}, but "
            f"got input of size: {_shape_str(x)}")
    if groups <= 0:
        raise RuntimeError(f"{op}: non-positive groups is not supported (got {groups})")
    c_in = x.shape[-spatial - 1]
    if transposed:
        expected = weight.shape[0]
    else:
        if weight.shape[0] % groups:
            raise RuntimeError(
                f"{op}: given groups={groups}, expected weight to be divisible by {groups} at "
                f"dimension 0, but got weight of size {_shape_str(weight)} instead")
        expected = weight.shape[1] * groups
    if c_in != expected:
        raise RuntimeError(
            f"{op}: given groups={groups}, weight of size {_shape_str(weight)}, expected "
            f"input{_shape_str(x)} to have {expected} channels, but got {c_in} channels instead")
    if transposed and c_in % groups:
        raise RuntimeError(f"{op}: input channels ({c_in}) must be divisible by groups "
                           f"({groups})")
    c_out = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and (bias.ndim != 1 or bias.shape[0] != c_out):
        raise RuntimeError(
            f"{op}: given weight of size {_shape_str(weight)}, expected bias to be 1-dimensional "
            f"with {c_out} elements, but got bias of size {_shape_str(bias)} instead")
    _same_dtype(op, x, weight, bias)


def _conv2d_core(op, x, weight, bias, stride, padding, dilation, groups):
    """Batched 4-D convolution: im2col, then one (O, K) x (K, N*oh*ow) GEMM per group."""
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    (pt, pb), (pl, pr) = padding
    hp, wp = h + pt + pb, w + pl + pr
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if hp < eh or wp < ew:
        raise RuntimeError(
            f"{op}: calculated padded input size per channel: ({hp} x {wp}). Kernel size: "
            f"({eh} x {ew}). Kernel size can't be greater than actual input size")
    cols = _C.im2col(x, (kh, kw), dilation, padding, stride)  # (N, C, kh, kw, oh, ow)
    oh, ow = cols.shape[4], cols.shape[5]
    k = cg * kh * kw
    # im2col's memory is (C, kh, kw, N, oh, ow): this permute + reshape is a free view.
    cols = cols.permute(1, 2, 3, 0, 4, 5)
    if groups == 1:
        y = weight.reshape(o, k) @ cols.reshape(k, n * oh * ow)
        if bias is not None:
            y = y + bias.reshape(o, 1)
    else:
        y = weight.reshape(groups, o // groups, k) @ cols.reshape(groups, k, n * oh * ow)
        if bias is not None:
            y = y + bias.reshape(groups, o // groups, 1)
    # A contiguous NCHW result, as PyTorch returns, so that .view() on it works.
    return y.reshape(o, n, oh, ow).permute(1, 0, 2, 3).contiguous()


def _conv(op, spatial, input, weight, bias, stride, padding, dilation, groups):
    _conv_checks(op, input, weight, bias, groups, spatial)
    stride = _tuple(stride, spatial, "stride", op)
    dilation = _tuple(dilation, spatial, "dilation", op)
    _check_positive(op, "stride", stride)
    _check_positive(op, "dilation", dilation)
    pads = _conv_padding(op, padding, weight.shape[2:], dilation, stride, spatial)
    x = input if input.ndim == spatial + 2 else input.unsqueeze(0)
    if spatial == 1:
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
        stride, dilation, pads = (1,) + stride, (1,) + dilation, ((0, 0),) + pads
    y = _conv2d_core(op, x, weight, bias, stride, pads, dilation, groups)
    if spatial == 1:
        y = y.squeeze(2)
    return y if input.ndim == spatial + 2 else y.squeeze(0)


@composite("conv1d", "im2col, matmul, add")
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) over an (N, C_in, L) or (C_in, L) input.

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_out, C_in / groups, kL).
        bias: optional (C_out,).
        stride, padding, dilation: ints or 1-tuples; padding may also be 'valid' or 'same'.
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, C_out, L_out) with L_out = (L + 2*padding - dilation*(kL-1) - 1) // stride + 1.

    Example:
        >>> F.conv1d(dyngraph.ones(1, 2, 5), dyngraph.ones(3, 2, 3)).shape
        dyngraph.Size([1, 3, 3])
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


@composite("conv2d", "im2col, matmul, add")
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) over an (N, C_in, H, W) or (C_in, H, W) input.

    Computed as im2col windows times the weight matrix (one GEMM per group).

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_out, C_in / groups, kH, kW).
        bias: optional (C_out,).
        stride, padding, dilation: ints or pairs; padding may also be 'valid' or 'same'.
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, C_out, H_out, W_out), H_out = (H + 2*padding - dilation*(kH-1) - 1) // stride + 1.

    Example:
        >>> F.conv2d(dyngraph.ones(1, 3, 5, 5), dyngraph.ones(4, 3, 3, 3), padding=1).shape
        dyngraph.Size([1, 4, 5, 5])
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op, spatial, input, weight, bias, stride, padding, output_padding, groups,
                    dilation):
    _conv_checks(op, input, weight, bias, groups, spatial, transposed=True)
    stride = _tuple(stride, spatial, "stride", op)
    dilation = _tuple(dilation, spatial, "dilation", op)
    pad = _tuple(padding, spatial, "padding", op)
    opad = _tuple(output_padding, spatial, "output_padding", op)
    _check_positive(op, "stride", stride)
    _check_positive(op, "dilation", dilation)
    if any(p < 0 for p in pad + opad):
        raise RuntimeError(f"{op}: negative padding is not supported (padding={pad}, "
                           f"output_padding={opad})")
    for op_, s, d in zip(opad, stride, dilation):
        if op_ >= s and op_ >= d:
            raise RuntimeError(
                f"{op}: output padding must be smaller than either stride or dilation, but got "
                f"output_padding={opad}, stride={stride}, dilation={dilation}")
    x = input if input.ndim == spatial + 2 else input.unsqueeze(0)
    if spatial == 1:
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
        stride, dilation, pad, opad = (1,) + stride, (1,) + dilation, (0,) + pad, (0,) + opad
    n, c_in, h, w = x.shape
    _, og, kh, kw = weight.shape
    out_hw = tuple((i - 1) * s - 2 * p + d * (k - 1) + q + 1 for i, s, p, d, k, q in
                   zip((h, w), stride, pad, dilation, (kh, kw), opad))
    if any(v <= 0 for v in out_hw):
        raise RuntimeError(f"{op}: given input size {_shape_str(input)} and these parameters, "
                           f"the output size {out_hw} is too small")
    k = og * kh * kw
    cg = c_in // groups
    xm = x.permute(1, 0, 2, 3)  # (C_in, N, H, W)
    if groups == 1:
        cols = weight.reshape(c_in, k).mT @ xm.reshape(c_in, n * h * w)
    else:
        cols = weight.reshape(groups, cg, k).mT @ xm.reshape(groups, cg, n * h * w)
    cols = cols.reshape(og * groups, kh, kw, n, h, w).permute(3, 0, 1, 2, 4, 5)
    y = _C.col2im(cols, out_hw, (kh, kw), dilation, tuple((p, p) for p in pad), stride)
    if bias is not None:
        y = y + bias.reshape(-1, 1, 1)
    if spatial == 1:
        y = y.squeeze(2)
    return y if input.ndim == spatial + 2 else y.squeeze(0)


@composite("conv_transpose1d", "matmul, col2im, add")
def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-D transposed convolution (the gradient of conv1d with respect to its input).

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_in, C_out / groups, kL).
        bias: optional (C_out,).

    Returns:
        (N, C_out, L_out), L_out = (L-1)*stride - 2*padding + dilation*(kL-1) + output_padding + 1.
    """
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


@composite("conv_transpose2d", "matmul, col2im, add")
def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-D transposed convolution ("deconvolution"): a GEMM followed by col2im.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW).
        bias: optional (C_out,).
        output_padding: extra size added to one side of the output (< stride or dilation).

    Returns:
        (N, C_out, H_out, W_out),
        H_out = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1.

    Example:
        >>> F.conv_transpose2d(dyngraph.ones(1, 2, 3, 3), dyngraph.ones(2, 4, 3, 3),
        ...                    stride=2).shape
        dyngraph.Size([1, 4, 7, 7])
    """
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


# ----------------------------------------------------------------------------------------------
# unfold / fold
# ----------------------------------------------------------------------------------------------

@composite("unfold", "im2col, reshape")
def unfold(input: Tensor, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Extract sliding local blocks (im2col): (N, C, H, W) -> (N, C*kH*kW, L).

    Example:
        >>> F.unfold(dyngraph.ones(1, 2, 4, 4), kernel_size=2).shape
        dyngraph.Size([1, 8, 9])
    """
    op = "unfold"
    if input.ndim not in (3, 4):
        raise RuntimeError(f"{op}: only 3D or 4D input tensors are supported (got "
                           f"{input.ndim}D input of size {_shape_str(input)})")
    k = _tuple(kernel_size, 2, "kernel_size", op)
    d = _tuple(dilation, 2, "dilation", op)
    p = _tuple(padding, 2, "padding", op)
    s = _tuple(stride, 2, "stride", op)
    for name, v in (("kernel_size", k), ("dilation", d), ("stride", s)):
        _check_positive(op, name, v)
    x = input if input.ndim == 4 else input.unsqueeze(0)
    n, c, h, w = x.shape
    oh, ow = (_C._window_count(i, kk, pp, pp, ss, dd) for i, kk, pp, ss, dd in
              zip((h, w), k, p, s, d))
    if oh <= 0 or ow <= 0:
        raise RuntimeError(
            f"{op}: given input with spatial size ({h}, {w}), kernel_size={k}, dilation={d}, "
            f"padding={p}, calculated shape of the array of sliding blocks as ({oh}, {ow}), "
            "but its components must be at least one")
    cols = _C.im2col(x, k, d, tuple((v, v) for v in p), s)
    out = cols.reshape(n, c * k[0] * k[1], oh * ow)
    return out if input.ndim == 4 else out.squeeze(0)


@composite("fold", "reshape, col2im")
def fold(input: Tensor, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Sum sliding local blocks back into an image (col2im): (N, C*kH*kW, L) -> (N, C, H, W).

    Example:
        >>> F.fold(dyngraph.ones(1, 8, 9), output_size=(4, 4), kernel_size=2).shape
        dyngraph.Size([1, 2, 4, 4])
    """
    op = "fold"
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected 2D or 3D (batch mode) input, but got input of size "
                           f"{_shape_str(input)}")
    size = _tuple(output_size, 2, "output_size", op)
    k = _tuple(kernel_size, 2, "kernel_size", op)
    d = _tuple(dilation, 2, "dilation", op)
    p = _tuple(padding, 2, "padding", op)
    s = _tuple(stride, 2, "stride", op)
    for name, v in (("kernel_size", k), ("dilation", d), ("stride", s)):
        _check_positive(op, name, v)
    x = input if input.ndim == 3 else input.unsqueeze(0)
    n, ck, length = x.shape
    if ck % (k[0] * k[1]):
        raise RuntimeError(
            f"{op}: expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={ck} and kernel_size={k}")
    oh, ow = (_C._window_count(i, kk, pp, pp, ss, dd) for i, kk, pp, ss, dd in
              zip(size, k, p, s, d))
    if oh * ow != length or oh <= 0 or ow <= 0:
        raise RuntimeError(
            f"{op}: given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, "
            f"stride={s}, expected size of input's dimension 2 to match the calculated number "
            f"of sliding blocks {oh} * {ow} = {oh * ow}, but got input.size(2)={length}.")
    c = ck // (k[0] * k[1])
    cols = x.reshape(n, c, k[0], k[1], oh, ow)
    out = _C.col2im(cols, size, k, d, tuple((v, v) for v in p), s)
    return out if input.ndim == 3 else out.squeeze(0)


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------

def _pool_out(size: int, k: int, pad: int, stride: int, dil: int, ceil_mode: bool) -> int:
    """PyTorch's pooling_output_shape: a last window must start inside the input or left pad."""
    out = (size + 2 * pad - dil * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_args(op, spatial, kernel_size, stride, padding, dilation):
    k = _tuple(kernel_size, spatial, "kernel_size", op)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) \
        else _tuple(stride, spatial, "stride", op)
    p = _tuple(padding, spatial, "padding", op)
    d = _tuple(dilation, spatial, "dilation", op)
    _check_positive(op, "kernel_size", k)
    _check_positive(op, "stride", s)
    _check_positive(op, "dilation", d)
    return k, s, p, d


def _pool_geometry(op, x, k, s, p, d, ceil_mode, spatial):
    """Output size and the ((lo, hi), ...) padding that makes every window fit."""
    for kk, pp, dd in zip(k, p, d):
        if pp < 0 or pp > (dd * (kk - 1) + 1) // 2:
            raise RuntimeError(
                f"{op}: pad should be at most half of effective kernel size, but got pad={pp}, "
                f"kernel_size={kk} and dilation={dd}")
    sizes = x.shape[-spatial:]
    outs = tuple(_pool_out(i, kk, pp, ss, dd, ceil_mode)
                 for i, kk, pp, ss, dd in zip(sizes, k, p, s, d))
    if any(o <= 0 for o in outs):
        chans = x.shape[-spatial - 1]
        raise RuntimeError(
            f"{op}: given input size: ({'x'.join(map(str, (chans,) + tuple(sizes)))}). "
            f"Calculated output size: ({'x'.join(map(str, (chans,) + outs))}). Output size is "
            "too small")
    pads = tuple((pp, max(pp, (o - 1) * ss + dd * (kk - 1) + 1 - i - pp))
                 for i, o, kk, pp, ss, dd in zip(sizes, outs, k, p, s, d))
    return outs, pads


def _to_4d(x: Tensor, spatial: int, batched: bool) -> Tensor:
    if not batched:
        x = x.unsqueeze(0)
    return x.unsqueeze(2) if spatial == 1 else x


def _from_4d(y: Tensor, spatial: int, batched: bool) -> Tensor:
    if spatial == 1:
        y = y.squeeze(2)
    return y if batched else y.squeeze(0)


def _gather_windows(x: Tensor, idx: Tensor) -> Tensor:
    """x (N, C, H, W) at per-plane flat indices idx (N, C, oh, ow); differentiable in x.

    Gathering from the flattened tensor with global indices keeps the backward scatter 1-D,
    which numpy runs far faster than a multi-dimensional scatter.
    """
    from ..ops.creation import arange
    n, c, h, w = x.shape
    plane = arange(n * c, device=x.device).reshape(n, c, 1, 1) * (h * w)
    return x.reshape(-1).gather(0, (idx + plane).reshape(-1)).reshape(idx.shape)


def _max_pool(op, spatial, input, kernel_size, stride, padding, dilation, ceil_mode):
    batched = _check_dims(op, input, spatial)
    k, s, p, d = _pool_args(op, spatial, kernel_size, stride, padding, dilation)
    outs, pads = _pool_geometry(op, input, k, s, p, d, ceil_mode, spatial)
    x = _to_4d(input, spatial, batched)
    if spatial == 1:
        k, s, d, pads, outs = (1,) + k, (1,) + s, (1,) + d, ((0, 0),) + pads, (1,) + outs
    n, c, h, w = x.shape
    idx = apply(_C.max_pool2d_indices_op, x, kernel_size=k, stride=s, padding=pads, dilation=d)
    y = _gather_windows(x, idx)
    return _from_4d(y, spatial, batched), _from_4d(idx, spatial, batched)


def max_pool1d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """1-D max pooling returning (values, indices into the input's last dim)."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = True):
    """2-D max pooling returning (values, flat H*W indices of each window's maximum)."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode)


@composite("max_pool1d", "max_pool2d_indices, gather")
def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """1-D max pooling over an (N, C, L) or (C, L) input (stride defaults to kernel_size).

    Args:
        kernel_size, stride, padding, dilation: ints or 1-tuples; padding is -inf and at most
            half the effective kernel size.
        ceil_mode: round the output length up (a last window may start in the right padding).
        return_indices: also return the argmax position of each window along L.

    Returns:
        (N, C, L_out) values, plus int64 indices when return_indices is True.
    """
    y, idx = _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation,
                       ceil_mode)
    return (y, idx) if return_indices else y


@composite("max_pool2d", "max_pool2d_indices, gather")
def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """2-D max pooling over an (N, C, H, W) or (C, H, W) input (stride defaults to kernel_size).

    The gradient flows to the first maximum of each window, as in PyTorch.

    Args:
        kernel_size, stride, padding, dilation: ints or pairs; padding is -inf and at most
            half the effective kernel size.
        ceil_mode: round the output size up.
        return_indices: also return the flat (H*W) index of each window's maximum.

    Returns:
        (N, C, H_out, W_out) values, plus int64 indices when return_indices is True.

    Example:
        >>> F.max_pool2d(dyngraph.arange(16.).reshape(1, 1, 4, 4), 2)
        tensor([[[[ 5.,  7.],
                  [13., 15.]]]])
    """
    y, idx = _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation,
                       ceil_mode)
    return (y, idx) if return_indices else y


def _avg_divisor(sizes, outs, k, s, p, count_include_pad):
    """Per-output-position divisor (oh, ow), following PyTorch's avg_pool2d kernel."""
    per_dim = []
    for size, o, kk, ss, pp in zip(sizes, outs, k, s, p):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, size + pp)
        full = end - start
        valid = np.minimum(end, size) - np.maximum(start, 0)
        per_dim.append(full if count_include_pad else valid)
    return np.multiply.outer(per_dim[0], per_dim[1]) if len(per_dim) == 2 else per_dim[0]


def _avg_pool(op, spatial, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override):
    batched = _check_dims(op, input, spatial)
    k, s, p, d = _pool_args(op, spatial, kernel_size, stride, padding, 1)
    for kk, pp in zip(k, p):
        if pp < 0 or pp > kk // 2:
            raise RuntimeError(f"{op}: pad should be at most half of kernel size, but got "
                               f"pad={pp} and kernel_size={kk}")
    outs, pads = _pool_geometry(op, input, k, s, p, d, ceil_mode, spatial)
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError(f"{op}: divisor must be not zero")
    sizes = tuple(input.shape[-spatial:])
    x = _to_4d(input, spatial, batched)
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected a floating-point input, got {x.dtype.name}")
    if spatial == 1:
        k, s, d, pads = (1,) + k, (1,) + s, (1,) + d, ((0, 0),) + pads
    total = _C.im2col(x, k, d, pads, s).sum(dim=(2, 3))
    if divisor_override is not None:
        y = total / divisor_override
    else:
        div = _avg_divisor(sizes, outs, k[-spatial:], s[-spatial:], p, count_include_pad)
        from ..ops.creation import tensor
        y = total / tensor(div.reshape((1,) * (4 - div.ndim) + div.shape), dtype=x.dtype,
                           device=x.device)
    return _from_4d(y, spatial, batched)


@composite("avg_pool1d", "im2col, sum, div")
def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling over an (N, C, L) or (C, L) input (stride defaults to kernel_size).

    Args:
        count_include_pad: count the zero padding in each window's divisor.
        ceil_mode: round the output length up.
    """
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


@composite("avg_pool2d", "im2col, sum, div")
def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling over an (N, C, H, W) or (C, H, W) input.

    Args:
        kernel_size, stride, padding: ints or pairs (stride defaults to kernel_size; padding is
            zeros, at most half the kernel).
        ceil_mode: round the output size up.
        count_include_pad: count the zero padding in each window's divisor.
        divisor_override: divide every window sum by this instead.

    Example:
        >>> F.avg_pool2d(dyngraph.ones(1, 1, 4, 4), 2).shape
        dyngraph.Size([1, 1, 2, 2])
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def _adaptive_size(op, output_size, sizes):
    n = len(sizes)
    if isinstance(output_size, (list, tuple)):
        if len(output_size) != n:
            raise RuntimeError(f"{op}: output_size must be {n} (got {tuple(output_size)})")
        out = tuple(sizes[i] if v is None else int(v) for i, v in enumerate(output_size))
    else:
        out = (sizes[0] if output_size is None else int(output_size),) * n
    if any(v < 0 for v in out):
        raise RuntimeError(f"{op}: output_size must be non-negative (got {out})")
    return out


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """(out, size) averaging weights of PyTorch's adaptive windows."""
    a = np.zeros((out, size))
    for i, (lo, hi) in enumerate(_C._adaptive_bounds(size, out)):
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def _adaptive_avg(op, spatial, input, output_size):
    _check_dims(op, input, spatial)
    if any(v == 0 for v in input.shape[-spatial:]):
        raise RuntimeError(f"{op}: expected input to have non-zero size for non-batch "
                           f"dimensions, but input has sizes {_shape_str(input)}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{op}: expected a floating-point input, got {input.dtype.name}")
    sizes = tuple(input.shape[-spatial:])
    outs = _adaptive_size(op, output_size, sizes)
    x = input
    for axis, (size, o) in enumerate(zip(sizes, outs)):
        dim = x.ndim - spatial + axis
        if size == o:
            continue
        if size % o == 0:  # equal windows: a reshape and a mean
            shp = tuple(x.shape)
            x = x.reshape(shp[:dim] + (o, size // o) + shp[dim + 1:]).mean(dim + 1)
            continue
        from ..ops.creation import tensor
        a = tensor(_adaptive_matrix(size, o), dtype=x.dtype, device=x.device)
        x = (x.movedim(dim, -1) @ a.mT).movedim(-1, dim)
    return x


@composite("adaptive_avg_pool1d", "mean or matmul")
def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """1-D adaptive average pooling to length `output_size` (PyTorch's window rule)."""
    return _adaptive_avg("adaptive_avg_pool1d", 1, input, output_size)


@composite("adaptive_avg_pool2d", "mean or matmul")
def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """2-D adaptive average pooling to `output_size` (int, pair; None keeps that input size).

    Window i along a dim of size n covers [floor(i*n/out), ceil((i+1)*n/out)).

    Example:
        >>> F.adaptive_avg_pool2d(dyngraph.ones(1, 3, 7, 5), (2, None)).shape
        dyngraph.Size([1, 3, 2, 5])
    """
    return _adaptive_avg("adaptive_avg_pool2d", 2, input, output_size)


def _adaptive_max(op, spatial, input, output_size):
    batched = _check_dims(op, input, spatial)
    if any(v == 0 for v in input.shape[-spatial:]):
        raise RuntimeError(f"{op}: expected input to have non-zero size for non-batch "
                           f"dimensions, but input has sizes {_shape_str(input)}")
    outs = _adaptive_size(op, output_size, tuple(input.shape[-spatial:]))
    x = _to_4d(input, spatial, batched)
    if spatial == 1:
        outs = (1,) + outs
    n, c, h, w = x.shape
    idx = apply(_C.adaptive_max_pool2d_indices_op, x, output_size=outs)
    y = _gather_windows(x, idx)
    return _from_4d(y, spatial, batched), _from_4d(idx, spatial, batched)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size, return_indices: bool = True):
    """1-D adaptive max pooling returning (values, indices)."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size, return_indices: bool = True):
    """2-D adaptive max pooling returning (values, flat H*W indices)."""
    return _adaptive_max("adaptive_max_pool2d", 2, input, output_size)


@composite("adaptive_max_pool1d", "adaptive_max_pool2d_indices, gather")
def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """1-D adaptive max pooling to length `output_size` (optionally with indices)."""
    y, idx = _adaptive_max("adaptive_max_pool1d", 1, input, output_size)
    return (y, idx) if return_indices else y


@composite("adaptive_max_pool2d", "adaptive_max_pool2d_indices, gather")
def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """2-D adaptive max pooling to `output_size` (int, pair, None entries keep the input size).

    Example:
        >>> F.adaptive_max_pool2d(dyngraph.ones(1, 3, 7, 5), 2).shape
        dyngraph.Size([1, 3, 2, 2])
    """
    y, idx = _adaptive_max("adaptive_max_pool2d", 2, input, output_size)
    return (y, idx) if return_indices else y


# ----------------------------------------------------------------------------------------------
# padding
# ----------------------------------------------------------------------------------------------

# Up to this input size along a dim, resampling runs as a matmul with a sparse (n_out, n_in)
# matrix: a few times faster than a gather whose backward scatters, and exact, since the extra
# terms are zeros times finite values. Larger dims (or non-finite inputs) take the gather path.
_MATMUL_MAX = 128


def _by_matrix(x: Tensor, dim: int) -> bool:
    from .._dispatch import state
    if state.tracer is not None:  # the finiteness test needs values: gather, exact for all
        return False
    return (x.dtype.is_floating_point and x.shape[dim] <= _MATMUL_MAX
            and bool(x.detach().isfinite().all()))


def _apply_matrix(x: Tensor, dim: int, a: np.ndarray) -> Tensor:
    """sum_i a[j, i] * x[..., i, ...] along `dim`, as a matmul (result contiguous)."""
    from ..ops.creation import tensor
    m = tensor(a, dtype=x.dtype, device=x.device)
    if dim == x.ndim - 1:
        return x @ m.mT
    if dim == x.ndim - 2:
        return m @ x
    return (x.movedim(dim, -1) @ m.mT).movedim(-1, dim).contiguous()


def _take(x: Tensor, dim: int, index: np.ndarray) -> Tensor:
    """x.index_select(dim, index), differentiable in x (duplicate indices accumulate)."""
    from ..ops.creation import tensor
    index = np.asarray(index, dtype=np.int64)
    if _by_matrix(x, dim):
        a = np.zeros((len(index), x.shape[dim]))
        a[np.arange(len(index)), index] = 1.0
        return _apply_matrix(x, dim, a)
    idx = tensor(index, device=x.device)
    return x[(slice(None),) * dim + (idx,)]


@composite("pad", "constant_pad, or getitem slices, flip, expand and cat")
def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad)//2 dims; `pad` lists (left, right) for the last dim first.

    Args:
        pad: (left, right[, top, bottom[, front, back]]); negative amounts crop.
        mode: 'constant' (any number of dims), or 'reflect', 'replicate', 'circular' (the last
            1-3 dims of a batched or unbatched input).
        value: the fill for 'constant' (default 0).

    Example:
        >>> F.pad(dyngraph.ones(1, 2, 3), (1, 2)).shape
        dyngraph.Size([1, 2, 6])
    """
    pad = tuple(int(v) for v in pad)
    if len(pad) % 2:
        raise RuntimeError("pad: padding length must be divisible by 2")
    npad = len(pad) // 2
    if npad > input.ndim:
        raise RuntimeError(f"pad: padding length too large: {len(pad)} values pad {npad} dims "
                           f"but the input has only {input.ndim} ({_shape_str(input)})")
    per_dim = [(0, 0)] * (input.ndim - npad) + [(pad[2 * i], pad[2 * i + 1])
                                                for i in reversed(range(npad))]
    if mode == "constant":
        return _C.constant_pad(input, per_dim, 0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; use 'constant', "
                                  "'reflect', 'replicate' or 'circular'")
    if value is not None and value != 0:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    if npad not in (1, 2, 3) or input.ndim not in (npad + 1, npad + 2):
        raise NotImplementedError(
            f"pad: padding size {len(pad)} is not supported for {input.ndim}D input tensor in "
            f"mode {mode!r}; supported: 2D or 3D input with 2 values, 3D or 4D input with 4, "
            "4D or 5D input with 6")
    x = input
    for dim, (lo, hi) in enumerate(per_dim):
        if not (lo or hi):
            continue
        n = x.shape[dim]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"pad: padding size should be less than the corresponding input dimension in "
                f"reflect mode, but got padding ({lo}, {hi}) at dimension {dim} of input "
                f"{_shape_str(input)}")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError(
                f"pad: padding ({lo}, {hi}) at dimension {dim} of input {_shape_str(input)} "
                "causes wrapping around more than once in circular mode")
        if n == 0:
            raise RuntimeError(f"pad: cannot pad an empty dimension {dim} of input "
                               f"{_shape_str(input)} in {mode} mode")
        x = _pad_dim(x, dim, lo, hi, mode)
    return x


def _pad_dim(x: Tensor, dim: int, lo: int, hi: int, mode: str) -> Tensor:
    """Non-constant padding of one dim from slices, flips and cat (negative amounts crop first,
    as PyTorch does), so the gradient is a sum of slices, not a scatter."""
    n = x.shape[dim]
    if lo < 0 or hi < 0:
        start, stop = max(-lo, 0), n - max(-hi, 0)
        if stop - start <= 0 or (mode == "reflect" and max(lo, hi) >= stop - start):
            raise RuntimeError(f"pad: cropping ({lo}, {hi}) leaves too little of dimension {dim} "
                               f"(size {n}) to pad in {mode} mode")
        x = x.narrow(dim, start, stop - start)
        lo, hi, n = max(lo, 0), max(hi, 0), stop - start
    parts = []
    if mode == "reflect":
        if lo:
            parts.append(x.narrow(dim, 1, lo).flip(dim))
        parts.append(x)
        if hi:
            parts.append(x.narrow(dim, n - 1 - hi, hi).flip(dim))
    elif mode == "replicate":
        shape = list(x.shape)
        if lo:
            parts.append(x.narrow(dim, 0, 1).expand(*shape[:dim], lo, *shape[dim + 1:]))
        parts.append(x)
        if hi:
            parts.append(x.narrow(dim, n - 1, 1).expand(*shape[:dim], hi, *shape[dim + 1:]))
    else:  # circular
        if lo:
            parts.append(x.narrow(dim, n - lo, lo))
        parts.append(x)
        if hi:
            parts.append(x.narrow(dim, 0, hi))
    return _ops.cat(parts, dim) if len(parts) > 1 else x


# ----------------------------------------------------------------------------------------------
# interpolation
# ----------------------------------------------------------------------------------------------

_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


def _nearest_index(mode, n_in, n_out, scale):
    """PyTorch's nearest source index, in float32 as its CPU kernel computes it."""
    if mode == "nearest" and n_out == n_in:
        return np.arange(n_out)
    if mode == "nearest" and n_out == 2 * n_in:
        return np.arange(n_out) >> 1
    f = np.float32(1.0 / scale) if scale is not None and scale > 0 else \
        np.float32(n_in) / np.float32(n_out)
    pos = np.arange(n_out, dtype=np.float32)
    if mode == "nearest-exact":
        pos = pos + np.float32(0.5)
    return np.minimum(np.floor(pos * f).astype(np.int64), n_in - 1)


def _linear_weights(n_in, n_out, scale, align_corners, dtype):
    """Source indices (i0, i1) and weights (w0, w1) of PyTorch's linear interpolation."""
    if align_corners:
        f = dtype((n_in - 1) / (n_out - 1)) if n_out > 1 else dtype(0)
        src = f * np.arange(n_out, dtype=dtype)
    else:
        f = dtype(1.0 / scale) if scale is not None and scale > 0 else \
            dtype(n_in) / dtype(n_out)
        src = np.maximum(f * (np.arange(n_out, dtype=dtype) + dtype(0.5)) - dtype(0.5), 0)
    i0 = src.astype(np.int64)
    i1 = i0 + (i0 < n_in - 1)
    w1 = np.clip(src - i0, 0, 1).astype(dtype)
    return i0, i1, (1 - w1).astype(dtype), w1


def _nearest_along(x, dim, mode, n_out, scale):
    n_in = x.shape[dim]
    idx = _nearest_index(mode, n_in, n_out, scale)
    return _take(x, dim, idx)


def _linear_along(x, dim, n_out, scale, align_corners):
    from ..ops.creation import tensor
    n_in = x.shape[dim]
    i0, i1, w0, w1 = _linear_weights(n_in, n_out, scale, align_corners, x.dtype.np.type)
    if _by_matrix(x, dim):
        a = np.zeros((n_out, n_in))
        np.add.at(a, (np.arange(n_out), i0), w0)
        np.add.at(a, (np.arange(n_out), i1), w1)
        return _apply_matrix(x, dim, a)
    shape = (n_out,) + (1,) * (x.ndim - dim - 1)
    w0 = tensor(w0.reshape(shape), dtype=x.dtype, device=x.device)
    w1 = tensor(w1.reshape(shape), dtype=x.dtype, device=x.device)
    return _take(x, dim, i0) * w0 + _take(x, dim, i1) * w1


@composite("interpolate", "matmul with a sparse matrix, or getitem, mul, add")
def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of an (N, C, *spatial) input, as torch.nn.functional.interpolate.

    Args:
        size: output spatial size (int or tuple); exclusive with scale_factor.
        scale_factor: multiplier per spatial dim; the output size is floor(in * scale).
        mode: 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear' (4-D),
            'trilinear' (5-D) or 'area' (adaptive average pooling).
        align_corners: for the linear modes, map corner pixels' centres onto each other.
        recompute_scale_factor: compute the source scale from the sizes instead of using
            scale_factor.

    Example:
        >>> F.interpolate(dyngraph.ones(1, 1, 2, 2), scale_factor=2, mode="bilinear").shape
        dyngraph.Size([1, 1, 4, 4])
    """
    op = "interpolate"
    spatial = input.ndim - 2
    if spatial < 1 or spatial > 3:
        raise NotImplementedError(f"{op}: expected a 3D, 4D or 5D (N, C, *spatial) input, got "
                                  f"input of size {_shape_str(input)}")
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating "
                             "modes: linear | bilinear | bicubic | trilinear")
    elif mode in _LINEAR:
        if _LINEAR[mode] != spatial:
            raise NotImplementedError(f"{op}: got {input.ndim}D input, but {mode} mode needs "
                                      f"{_LINEAR[mode] + 2}D input")
        align_corners = bool(align_corners)
    else:
        raise NotImplementedError(f"{op}: mode {mode!r} is not supported; use nearest, "
                                  "nearest-exact, linear, bilinear, trilinear or area")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not supported")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined" if size is not None
                         else "either size or scale_factor should be defined")
    sizes = tuple(input.shape[2:])
    if size is not None:
        outs = _tuple(size, spatial, "size", op)
        scales = (None,) * spatial
    else:
        sf = scale_factor if isinstance(scale_factor, (list, tuple)) else \
            (scale_factor,) * spatial
        if len(sf) != spatial:
            raise ValueError(f"{op}: scale_factor shape must match input shape. Input is "
                             f"{spatial}D, scale_factor size is {len(sf)}")
        outs = tuple(int(math.floor(float(n) * float(f))) for n, f in zip(sizes, sf))
        scales = (None,) * spatial if recompute_scale_factor else tuple(float(f) for f in sf)
    if any(o <= 0 for o in outs):
        raise RuntimeError(f"{op}: input and output sizes should be greater than 0, but got "
                           f"input {sizes} and output {outs}")
    if mode == "area":
        if spatial == 1:
            return adaptive_avg_pool1d(input, outs)
        return _adaptive_avg(op, spatial, input, outs)
    x = input
    for axis, (o, sc) in enumerate(zip(outs, scales)):
        dim = 2 + axis
        if mode in _LINEAR:
            if not x.dtype.is_floating_point:
                raise RuntimeError(f"{op}: {mode} mode needs a floating-point input, got "
                                   f"{x.dtype.name}")
            x = _linear_along(x, dim, o, sc, align_corners)
        elif o != x.shape[dim] or mode != "nearest":
            x = _nearest_along(x, dim, mode, o, sc)
    return x


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """Deprecated alias of `interpolate` (kept for PyTorch compatibility)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """`interpolate(..., mode='nearest')`."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:
    """`interpolate(..., mode='bilinear', align_corners=True)` (PyTorch's legacy default)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
