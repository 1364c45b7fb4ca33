"""Pooling for `dyngraph.nn.functional`: max, average, adaptive average and adaptive max, in
1-D, 2-D and 3-D.

All composed from primitives, so autograd (double backward included) comes from their rules:
max pooling gathers the input at the per-window argmax (`max_pool2d_indices`, which serves 3-D
too), so the gradient goes to that one position, as in PyTorch; average pooling sums `im2col`
windows; adaptive average pooling is separable, a reshape + mean or a matmul per dim. 1-D
pooling runs the 2-D code on an (N, C, 1, L) view.

LP pooling, fractional max pooling and max unpooling live in `_functional_pool_extra`; their
names are re-exported at the end.
"""

from __future__ import annotations

import math

import numpy as np

from ..ops import conv_ops as _C
from ..ops._api import Tensor, apply
from ..ops.registry import composite
from ._functional_args import _check_dims, _check_positive, _from_4d, _shape_str, _to_4d, _tuple

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
           "max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d",
           "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
           "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "adaptive_max_pool3d_with_indices"]


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


def _gather_windows(x: Tensor, idx: Tensor) -> Tensor:
    """x (N, C, *spatial) at per-plane flat indices idx (N, C, *out); differentiable in x.

    Gathering from the flattened tensor with global indices keeps the backward scatter 1-D,
    which numpy runs far faster than a multi-dimensional scatter.
    """
    from ..ops.creation import arange
    n, c = x.shape[:2]
    plane = arange(n * c, device=x.device).reshape(n, c, *(1,) * (idx.ndim - 2)) * \
        math.prod(x.shape[2:])
    return x.reshape(-1).gather(0, (idx + plane).reshape(-1)).reshape(idx.shape)


def _max_pool(op, spatial, input, kernel_size, stride, padding, dilation, ceil_mode):
    batched = _check_dims(op, input, spatial)
    k, s, p, d = _pool_args(op, spatial, kernel_size, stride, padding, dilation)
    outs, pads = _pool_geometry(op, input, k, s, p, d, ceil_mode, spatial)
    x = _to_4d(input, spatial, batched)
    if spatial == 1:
        k, s, d, pads, outs = (1,) + k, (1,) + s, (1,) + d, ((0, 0),) + pads, (1,) + outs
    idx = apply(_C.max_pool2d_indices_op, x, kernel_size=k, stride=s, padding=pads, dilation=d)
    y = _gather_windows(x, idx)
    return _from_4d(y, spatial, batched), _from_4d(idx, spatial, batched)


def max_pool1d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False):
    """1-D max pooling returning (values, indices into the input's last dim), whatever
    `return_indices` says (PyTorch's signature, whose default is False)."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False):
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


def max_pool3d_with_indices(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
                            ceil_mode: bool = False, return_indices: bool = False):
    """3-D max pooling returning (values, flat D*H*W indices of each window's maximum)."""
    return _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode)


@composite("max_pool3d", "max_pool2d_indices, gather")
def max_pool3d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """3-D max pooling over an (N, C, D, H, W) or (C, D, H, W) input.

    The gradient flows to the first maximum of each window, as in PyTorch.

    Args:
        kernel_size, stride, padding, dilation: ints or triples (stride defaults to
            kernel_size); padding is -inf and at most half the effective kernel size.
        ceil_mode: round the output size up.
        return_indices: also return the flat (D*H*W) index of each window's maximum.

    Returns:
        (N, C, D_out, H_out, W_out) values, plus int64 indices when return_indices is True.

    Example:
        >>> F.max_pool3d(dyngraph.ones(1, 2, 4, 4, 4), 2).shape
        dyngraph.Size([1, 2, 2, 2, 2])
    """
    y, idx = _max_pool("max_pool3d", 3, input, kernel_size, stride, padding, dilation,
                       ceil_mode)
    return (y, idx) if return_indices else y


def _avg_divisor(sizes, outs, k, s, p, count_include_pad):
    """Per-output-position divisor (*out), following PyTorch's avg_pool2d/3d kernels."""
    per_dim = []
    for size, o, kk, ss, pp in zip(sizes, outs, k, s, p):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, size + pp)
        full = end - start
        valid = np.minimum(end, size) - np.maximum(start, 0)
        per_dim.append(full if count_include_pad else valid)
    div = per_dim[0]
    for v in per_dim[1:]:
        div = np.multiply.outer(div, v)
    return div


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
    total = _C.im2col(x, k, d, pads, s).sum(dim=tuple(range(2, 2 + len(k))))
    if divisor_override is not None:
        y = total / divisor_override
    else:
        div = _avg_divisor(sizes, outs, k[-spatial:], s[-spatial:], p, count_include_pad)
        from ..ops.creation import tensor
        y = total / tensor(div.reshape((1,) * (x.ndim - div.ndim) + div.shape), dtype=x.dtype,
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


@composite("avg_pool3d", "im2col, sum, div")
def avg_pool3d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """3-D average pooling over an (N, C, D, H, W) or (C, D, H, W) input.

    Args:
        kernel_size, stride, padding: ints or triples (stride defaults to kernel_size; padding
            is zeros, at most half the kernel).
        ceil_mode: round the output size up.
        count_include_pad: count the zero padding in each window's divisor.
        divisor_override: divide every window sum by this instead.

    Example:
        >>> F.avg_pool3d(dyngraph.ones(1, 1, 4, 4, 4), 2).shape
        dyngraph.Size([1, 1, 2, 2, 2])
    """
    return _avg_pool("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode,
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


def _check_nonempty(op: str, x: Tensor, spatial: int) -> None:
    if any(v == 0 for v in x.shape[-spatial:]):
        raise RuntimeError(f"{op}: expected input to have non-zero size for non-batch "
                           f"dimensions, but input has sizes {_shape_str(x)}")


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """(out, size) averaging weights of PyTorch's adaptive windows."""
    a = np.zeros((out, size))
    for i, (lo, hi) in enumerate(_C._adaptive_bounds(size, out)):
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def _adaptive_avg(op, spatial, input, output_size):
    _check_dims(op, input, spatial)
    _check_nonempty(op, input, spatial)
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


@composite("adaptive_avg_pool3d", "mean or matmul")
def adaptive_avg_pool3d(input: Tensor, output_size) -> Tensor:
    """3-D adaptive average pooling to `output_size` (int, triple; None keeps that input size).

    Example:
        >>> F.adaptive_avg_pool3d(dyngraph.ones(1, 3, 7, 5, 4), (2, None, 1)).shape
        dyngraph.Size([1, 3, 2, 5, 1])
    """
    return _adaptive_avg("adaptive_avg_pool3d", 3, input, output_size)


def _adaptive_max(op, spatial, input, output_size):
    batched = _check_dims(op, input, spatial)
    _check_nonempty(op, input, spatial)
    outs = _adaptive_size(op, output_size, tuple(input.shape[-spatial:]))
    x = _to_4d(input, spatial, batched)
    if spatial == 1:
        outs = (1,) + outs
    idx = apply(_C.adaptive_max_pool2d_indices_op, x, output_size=outs)
    y = _gather_windows(x, idx)
    return _from_4d(y, spatial, batched), _from_4d(idx, spatial, batched)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """1-D adaptive max pooling returning (values, indices)."""
    return _adaptive_max("adaptive_max_pool1d", 1, input, output_size)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size, return_indices: bool = False):
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


def adaptive_max_pool3d_with_indices(input: Tensor, output_size, return_indices: bool = False):
    """3-D adaptive max pooling returning (values, flat D*H*W indices)."""
    return _adaptive_max("adaptive_max_pool3d", 3, input, output_size)


@composite("adaptive_max_pool3d", "adaptive_max_pool2d_indices, gather")
def adaptive_max_pool3d(input: Tensor, output_size, return_indices: bool = False):
    """3-D adaptive max pooling to `output_size` (int, triple, None entries keep the size).

    Example:
        >>> F.adaptive_max_pool3d(dyngraph.ones(1, 3, 7, 5, 4), 2).shape
        dyngraph.Size([1, 3, 2, 2, 2])
    """
    y, idx = _adaptive_max("adaptive_max_pool3d", 3, input, output_size)
    return (y, idx) if return_indices else y


# ----------------------------------------------------------------------------------------------
# re-exports: the rarer pooling functions live in _functional_pool_extra (built on the above)
# ----------------------------------------------------------------------------------------------
from ._functional_pool_extra import *  # noqa: E402,F401,F403
from . import _functional_pool_extra as _fpx  # noqa: E402

__all__ += _fpx.__all__
