"""Convolution and fold/unfold for `dyngraph.nn.functional`.

Everything here is composed from primitives, so autograd (double backward included) comes from
their rules: convolution = `im2col` windows + one GEMM (`matmul`) per group; its transpose is a
GEMM + `col2im`. 1-D versions run the 2-D code on an (N, C, 1, L) view; 3-D versions run the
same code on (N, C, D, H, W) windows.

Pooling lives in `_functional_pool`, padding and interpolation in `_functional_resample`; their
names are re-exported at the end, so that everything this module held still imports from here.
"""

from __future__ import annotations

import math

from ..ops import conv_ops as _C
from ..ops._api import Tensor
from ..ops.registry import composite
from ._functional_args import (_check_dims, _check_positive, _from_4d, _same_dtype, _shape_str,
                               _to_4d, _tuple)

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "unfold", "fold"]


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
    _check_dims(op, x, spatial)
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


def _conv_core(op, x, weight, bias, stride, padding, dilation, groups):
    """Batched 2-D or 3-D convolution: im2col, then one (O, K) x (K, N*windows) GEMM per group."""
    n, c, *sizes = x.shape
    o, cg, *ks = weight.shape
    sp = len(ks)
    padded = [size + lo + hi for size, (lo, hi) in zip(sizes, padding)]
    extent = [d * (k - 1) + 1 for d, k in zip(dilation, ks)]
    if any(p < e for p, e in zip(padded, extent)):
        raise RuntimeError(
            f"{op}: calculated padded input size per channel: ({' x '.join(map(str, padded))}). "
            f"Kernel size: ({' x '.join(map(str, extent))}). Kernel size can't be greater than "
            "actual input size")
    cols = _C.im2col(x, ks, dilation, padding, stride)  # (N, C, *kernel, *windows)
    outs = tuple(cols.shape[2 + sp:])
    k = cg * math.prod(ks)
    m = n * math.prod(outs)
    # im2col's memory is (C, *kernel, N, *windows): this permute + reshape is a free view.
    cols = cols.permute(1, *range(2, 2 + sp), 0, *range(2 + sp, 2 + 2 * sp))
    if groups == 1:
        y = weight.reshape(o, k) @ cols.reshape(k, m)
    else:
        y = weight.reshape(groups, o // groups, k) @ cols.reshape(groups, k, m)
    # The (N, O, *windows) result is a view of the GEMM's (O, N*windows) product, and the bias
    # is added through that view: compiled, the bias add, the copy to a contiguous NCHW result
    # (as PyTorch returns, so that .view() on it works) and a following activation are one
    # kernel.
    y = y.reshape(o, n, *outs).permute(1, 0, *range(2, 2 + sp))
    if bias is not None:
        y = y + bias.reshape(1, o, *(1,) * sp)
    return y.contiguous()


def _conv(op, spatial, input, weight, bias, stride, padding, dilation, groups):
    _conv_checks(op, input, weight, bias, groups, spatial)
    stride = _tuple(stride, spatial, "stride", op)
    dilation = _tuple(dilation, spatial, "dilation", op)
    _check_positive(op, "stride", stride)
    _check_positive(op, "dilation", dilation)
    pads = _conv_padding(op, padding, weight.shape[2:], dilation, stride, spatial)
    batched = input.ndim == spatial + 2
    x = _to_4d(input, spatial, batched)
    if spatial == 1:
        weight = weight.unsqueeze(2)
        stride, dilation, pads = (1,) + stride, (1,) + dilation, ((0, 0),) + pads
    y = _conv_core(op, x, weight, bias, stride, pads, dilation, groups)
    return _from_4d(y, spatial, batched)


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


@composite("conv3d", "im2col, matmul, add")
def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """3-D convolution (cross-correlation) over an (N, C_in, D, H, W) or (C_in, D, H, W) input.

    Computed as 3-D im2col windows times the weight matrix (one GEMM per group).

    Args:
        input: (N, C_in, D, H, W) or unbatched (C_in, D, H, W).
        weight: (C_out, C_in / groups, kD, kH, kW).
        bias: optional (C_out,).
        stride, padding, dilation: ints or triples; padding may also be 'valid' or 'same'.
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, C_out, D_out, H_out, W_out),
        D_out = (D + 2*padding - dilation*(kD-1) - 1) // stride + 1 (likewise H_out, W_out).

    Example:
        >>> F.conv3d(dyngraph.ones(1, 2, 4, 5, 5), dyngraph.ones(3, 2, 3, 3, 3), padding=1).shape
        dyngraph.Size([1, 3, 4, 5, 5])
    """
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


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
    batched = input.ndim == spatial + 2
    x = _to_4d(input, spatial, batched)
    if spatial == 1:
        weight = weight.unsqueeze(2)
        stride, dilation, pad, opad = (1,) + stride, (1,) + dilation, (0,) + pad, (0,) + opad
    n, c_in, *sizes = x.shape
    _, og, *ks = weight.shape
    sp = len(ks)
    outs = tuple((i - 1) * s - 2 * p + d * (k - 1) + q + 1 for i, s, p, d, k, q in
                 zip(sizes, stride, pad, dilation, ks, opad))
    if any(v <= 0 for v in outs):
        raise RuntimeError(f"{op}: given input size {_shape_str(input)} and these parameters, "
                           f"the output size {outs[-spatial:]} is too small")
    k = og * math.prod(ks)
    m = n * math.prod(sizes)
    cg = c_in // groups
    xm = x.permute(1, 0, *range(2, 2 + sp))  # (C_in, N, *spatial)
    if groups == 1:
        cols = weight.reshape(c_in, k).mT @ xm.reshape(c_in, m)
    else:
        cols = weight.reshape(groups, cg, k).mT @ xm.reshape(groups, cg, m)
    cols = cols.reshape(og * groups, *ks, n, *sizes).permute(
        sp + 1, 0, *range(1, sp + 1), *range(sp + 2, 2 * sp + 2))
    y = _C.col2im(cols, outs, ks, dilation, tuple((p, p) for p in pad), stride)
    if bias is not None:
        y = y + bias.reshape(-1, *(1,) * sp)
    return _from_4d(y, spatial, batched)


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


@composite("conv_transpose3d", "matmul, col2im, add")
def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """3-D transposed convolution ("deconvolution"): a GEMM followed by 3-D col2im.

    Args:
        input: (N, C_in, D, H, W) or unbatched (C_in, D, H, W).
        weight: (C_in, C_out / groups, kD, kH, kW).
        bias: optional (C_out,).
        stride, padding, dilation: ints or triples.
        output_padding: extra size added to one side of the output (< stride or dilation).
        groups: split the channels into this many independent convolutions.

    Returns:
        (N, C_out, D_out, H_out, W_out),
        D_out = (D-1)*stride - 2*padding + dilation*(kD-1) + output_padding + 1 (likewise H, W).

    Example:
        >>> F.conv_transpose3d(dyngraph.ones(1, 2, 3, 3, 3), dyngraph.ones(2, 4, 3, 3, 3),
        ...                    stride=2).shape
        dyngraph.Size([1, 4, 7, 7, 7])
    """
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding,
                           output_padding, groups, dilation)


# ----------------------------------------------------------------------------------------------
# unfold / fold
# ----------------------------------------------------------------------------------------------

def _block_args(op, kernel_size, dilation, padding, stride):
    """unfold/fold's (kernel_size, dilation, padding, stride) as checked pairs."""
    k = _tuple(kernel_size, 2, "kernel_size", op)
    d = _tuple(dilation, 2, "dilation", op)
    p = _tuple(padding, 2, "padding", op)
    s = _tuple(stride, 2, "stride", op)
    for name, v in (("kernel_size", k), ("dilation", d), ("stride", s)):
        _check_positive(op, name, v)
    return k, d, p, s


def _block_grid(sizes, k, d, p, s) -> tuple[int, int]:
    """How many sliding blocks fit along H and W of a (symmetrically padded) image."""
    oh, ow = (_C._window_count(i, kk, pp, pp, ss, dd) for i, kk, pp, ss, dd in
              zip(sizes, k, p, s, d))
    return oh, ow


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
    k, d, p, s = _block_args(op, kernel_size, dilation, padding, stride)
    x = input if input.ndim == 4 else input.unsqueeze(0)
    n, c, h, w = x.shape
    oh, ow = _block_grid((h, w), k, d, p, s)
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
    k, d, p, s = _block_args(op, kernel_size, dilation, padding, stride)
    x = input if input.ndim == 3 else input.unsqueeze(0)
    n, ck, length = x.shape
    if ck % (k[0] * k[1]):
        raise RuntimeError(
            f"{op}: expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={ck} and kernel_size={k}")
    oh, ow = _block_grid(size, k, d, p, s)
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
# re-exports: pooling, padding and interpolation were split out of this module; functional.py
# star-imports this one and extends its __all__ with ours, so they stay in both.
# ----------------------------------------------------------------------------------------------
from ._functional_pool import *  # noqa: E402,F401,F403
from ._functional_resample import *  # noqa: E402,F401,F403
# Read by tests/nn/test_pooling.py; a copy of the int, so patch it in _functional_resample.
from ._functional_resample import _MATMUL_MAX  # noqa: E402,F401
from . import _functional_pool as _fp, _functional_resample as _fr  # noqa: E402

__all__ += _fp.__all__ + _fr.__all__
