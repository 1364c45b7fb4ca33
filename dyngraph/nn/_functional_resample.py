"""Padding and resampling for `dyngraph.nn.functional`: pad, interpolate and the upsample aliases.

Both change the spatial extent of an input and are composed from primitives: non-constant
padding from slices, flips and cat (so its gradient is a sum of slices); interpolation is
separable, one dim at a time, as a matmul with a small sparse matrix or as a gather.
"""

from __future__ import annotations

import math

import numpy as np

from .. import ops as _ops
from ..ops import conv_ops as _C
from ..ops._api import Tensor
from ..ops.registry import composite
from ._functional_args import _shape_str, _tuple
from ._functional_pool import _adaptive_avg, adaptive_avg_pool1d

__all__ = ["pad", "interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]


# ----------------------------------------------------------------------------------------------
# padding
# ----------------------------------------------------------------------------------------------

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


def _cubic_weights(n_in, n_out, scale, align_corners, dtype):
    """Source indices (4 taps, clamped to the edges) and weights of PyTorch's bicubic
    interpolation (cubic convolution with A = -0.75)."""
    if align_corners:
        f = dtype((n_in - 1) / (n_out - 1)) if n_out > 1 else dtype(0)
        src = f * np.arange(n_out, dtype=dtype)
    else:  # unlike linear, the source position is not clamped at 0
        f = dtype(1.0 / scale) if scale is not None and scale > 0 else \
            dtype(n_in) / dtype(n_out)
        src = f * (np.arange(n_out, dtype=dtype) + dtype(0.5)) - dtype(0.5)
    i0 = np.floor(src).astype(np.int64)
    t = (src - i0).astype(dtype)
    a = dtype(-0.75)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    weights = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    index = [np.clip(i0 - 1 + k, 0, n_in - 1) for k in range(4)]
    return index, [w.astype(dtype) for w in weights]


def _cubic_along(x, dim, n_out, scale, align_corners):
    from ..ops.creation import tensor
    n_in = x.shape[dim]
    index, weights = _cubic_weights(n_in, n_out, scale, align_corners, x.dtype.np.type)
    if _by_matrix(x, dim):
        a = np.zeros((n_out, n_in))
        for i, w in zip(index, weights):
            np.add.at(a, (np.arange(n_out), i), w)
        return _apply_matrix(x, dim, a)
    shape = (n_out,) + (1,) * (x.ndim - dim - 1)
    out = None
    for i, w in zip(index, weights):
        term = _take(x, dim, i) * tensor(w.reshape(shape), dtype=x.dtype, device=x.device)
        out = term if out is None else out + term
    return out


@composite("interpolate", "matmul with a sparse matrix, or getitem, mul, add")
def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of an (N, C, *spatial) input, as torch.nn.functional.interpolate.

    Args:
        size: output spatial size (int or tuple); exclusive with scale_factor.
        scale_factor: multiplier per spatial dim; the output size is floor(in * scale).
        mode: 'nearest', 'nearest-exact', 'linear' (3-D input), 'bilinear' or 'bicubic' (4-D),
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
    elif mode in _LINEAR or mode == "bicubic":
        need = 2 if mode == "bicubic" else _LINEAR[mode]
        if need != spatial:
            raise NotImplementedError(f"{op}: got {input.ndim}D input, but {mode} mode needs "
                                      f"{need + 2}D input")
        align_corners = bool(align_corners)
    else:
        raise NotImplementedError(f"{op}: mode {mode!r} is not supported; use nearest, "
                                  "nearest-exact, linear, bilinear, bicubic, trilinear or area")
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
        if mode in _LINEAR or mode == "bicubic":
            if not x.dtype.is_floating_point:
                raise RuntimeError(f"{op}: {mode} mode needs a floating-point input, got "
                                   f"{x.dtype.name}")
            along = _cubic_along if mode == "bicubic" else _linear_along
            x = along(x, dim, o, sc, align_corners)
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
