"""The rarer pooling functions of `dyngraph.nn.functional`: power-average (LP) pooling, max
unpooling and fractional max pooling.

LP pooling is PyTorch's formula over `avg_pool*d`; max unpooling scatters each value into a
zero plane at its index, so its gradient gathers at those indices; fractional max pooling picks
PyTorch's pseudo-random windows (`fractional_max_pool_indices`) and gathers at their argmax, so
the gradient goes to that one position.
"""

from __future__ import annotations

import math

from ..ops import conv_ops as _C
from ..ops._api import Tensor, apply
from ..ops.registry import composite
from ._functional_args import _check_dims, _check_positive, _shape_str, _tuple
from ._functional_pool import (_gather_windows, avg_pool1d, avg_pool2d, avg_pool3d, max_pool1d,
                               max_pool2d, max_pool3d)

__all__ = ["lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d",
           "fractional_max_pool2d", "fractional_max_pool3d", "fractional_max_pool2d_with_indices",
           "fractional_max_pool3d_with_indices"]


# ----------------------------------------------------------------------------------------------
# power-average pooling
# ----------------------------------------------------------------------------------------------

def _lp_pool(spatial, input, norm_type, kernel_size, stride, ceil_mode):
    max_pool = (max_pool1d, max_pool2d, max_pool3d)[spatial - 1]
    if norm_type == math.inf:
        return max_pool(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -max_pool(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    avg_pool = (avg_pool1d, avg_pool2d, avg_pool3d)[spatial - 1]
    out = avg_pool(input.pow(norm_type), kernel_size, stride, 0, ceil_mode)
    # PyTorch's formula: sign * relu(abs) zeroes the gradient where a window's power sum is 0.
    size = math.prod(_tuple(kernel_size, spatial, "kernel_size", f"lp_pool{spatial}d"))
    return (out.sign() * out.abs().relu()).mul(size).pow(1.0 / norm_type)


@composite("lp_pool1d", "pow, avg_pool1d, sign, relu, pow")
def lp_pool1d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """1-D power-average pooling: (sum over each window of x**p) ** (1/p).

    Args:
        norm_type: p; inf gives max pooling of |x|, -inf minus the max of -|x|.
        kernel_size: window length; stride: step (default kernel_size); no padding.
        ceil_mode: round the output length up.

    Example:
        >>> F.lp_pool1d(dyngraph.ones(1, 2, 6), 2, 3)
        tensor([[[1.7321, 1.7321],
                 [1.7321, 1.7321]]])
    """
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


@composite("lp_pool2d", "pow, avg_pool2d, sign, relu, pow")
def lp_pool2d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """2-D power-average pooling over each kH x kW window: (sum x**p) ** (1/p).

    Args:
        norm_type: p; inf gives max pooling of |x|.
        kernel_size, stride: ints or pairs (stride defaults to kernel_size); no padding.
        ceil_mode: round the output size up.
    """
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


@composite("lp_pool3d", "pow, avg_pool3d, sign, relu, pow")
def lp_pool3d(input: Tensor, norm_type: float, kernel_size, stride=None,
              ceil_mode: bool = False) -> Tensor:
    """3-D power-average pooling over each kD x kH x kW window: (sum x**p) ** (1/p).

    Args:
        norm_type: p; inf gives max pooling of |x|.
        kernel_size, stride: ints or triples (stride defaults to kernel_size); no padding.
        ceil_mode: round the output size up.
    """
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# ----------------------------------------------------------------------------------------------
# max unpooling
# ----------------------------------------------------------------------------------------------

def _unpool_output_size(op, input, k, s, p, output_size):
    """PyTorch's default (in-1)*stride + kernel - 2*padding, or a checked `output_size`."""
    n = len(k)
    default = [(input.shape[-n + d] - 1) * s[d] + k[d] - 2 * p[d] for d in range(n)]
    if output_size is None:
        size = default
    else:
        size = [int(v) for v in output_size]
        if len(size) == n + 2:
            size = size[2:]
        if len(size) != n:
            raise ValueError(f"{op}: output_size should be a sequence containing {n} or {n + 2} "
                             f"elements, but it has a length of '{len(size)}'")
        for d in range(n):
            lo, hi = default[d] - s[d], default[d] + s[d]
            if not lo < size[d] < hi:
                raise ValueError(f'{op}: invalid output_size "{size}" (dim {d} must be between '
                                 f"{lo} and {hi})")
    if any(v < 0 for v in size):
        raise ValueError(f"{op}: output_size must contain non-negative spatial dimensions, "
                         f"but got {size}")
    return tuple(size)


def _max_unpool(op, spatial, input, indices, kernel_size, stride, padding, output_size):
    from ..ops.creation import zeros
    k = _tuple(kernel_size, spatial, "kernel_size", op)
    s = k if stride is None else _tuple(stride, spatial, "stride", op)
    p = _tuple(padding, spatial, "padding", op)
    size = _unpool_output_size(op, input, k, s, p, output_size)
    if input.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"{op}: expected {spatial + 1}D (unbatched) or {spatial + 2}D "
                           f"(batched) input, but got input of size {_shape_str(input)}")
    if indices.dtype.name != "int64":
        raise RuntimeError(f"{op}: elements in indices should be type int64 but got: "
                           f"{indices.dtype.name}; cast them with .long()")
    if tuple(indices.shape) != tuple(input.shape):
        raise RuntimeError(f"{op}: expected shape of indices to be same as that of the input "
                           f"tensor ({_shape_str(input)}) but got indices tensor with shape: "
                           f"{_shape_str(indices)}")
    lead = tuple(input.shape[:input.ndim - spatial])
    planes, length = math.prod(lead), math.prod(size)
    out = zeros(planes, length, dtype=input.dtype, device=input.device)
    try:
        out = out.scatter(1, indices.reshape(planes, -1), input.reshape(planes, -1))
    except RuntimeError as e:  # scatter's bounds check, in the words of this op
        raise RuntimeError(f"{op}: found an invalid max index ({e}); output volumes are of size "
                           f"{'x'.join(map(str, size))}") from e
    return out.reshape(*lead, *size)


@composite("max_unpool1d", "scatter")
def max_unpool1d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """Partial inverse of max_pool1d: each value goes to its index, everything else is 0.

    Args:
        input, indices: max_pool1d's values and (return_indices=True) indices, (N, C, L).
        kernel_size, stride, padding: as given to max_pool1d (stride defaults to kernel_size).
        output_size: the length to restore (default (L-1)*stride + kernel_size - 2*padding).

    Example:
        >>> y, i = F.max_pool1d(dyngraph.arange(6.).reshape(1, 1, 6), 2, return_indices=True)
        >>> F.max_unpool1d(y, i, 2)
        tensor([[[0., 1., 0., 3., 0., 5.]]])
    """
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding,
                       output_size)


@composite("max_unpool2d", "scatter")
def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """Partial inverse of max_pool2d: each value goes to its flat H*W index, the rest is 0.

    Args:
        input, indices: max_pool2d's values and indices, (N, C, H, W) or (C, H, W).
        kernel_size, stride, padding: as given to max_pool2d (stride defaults to kernel_size).
        output_size: the (H, W) to restore (default (in-1)*stride + kernel_size - 2*padding);
            sizes within one stride of the default are allowed.
    """
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding,
                       output_size)


@composite("max_unpool3d", "scatter")
def max_unpool3d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """Partial inverse of max_pool3d: each value goes to its flat D*H*W index, the rest is 0.

    Args:
        input, indices: max_pool3d's values and indices, (N, C, D, H, W) or (C, D, H, W).
        kernel_size, stride, padding: as given to max_pool3d (stride defaults to kernel_size).
        output_size: the (D, H, W) to restore (default (in-1)*stride + kernel_size - 2*padding).
    """
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding,
                       output_size)


# ----------------------------------------------------------------------------------------------
# fractional max pooling
# ----------------------------------------------------------------------------------------------

def _fractional_max_pool(op, spatial, input, kernel_size, output_size, output_ratio,
                         _random_samples):
    batched = _check_dims(op, input, spatial)
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    k = _tuple(kernel_size, spatial, "kernel_size", op)
    _check_positive(op, "kernel_size", k)
    sizes = tuple(input.shape[-spatial:])
    if output_size is None:
        ratio = output_ratio if isinstance(output_ratio, (list, tuple)) else \
            (output_ratio,) * spatial
        if len(ratio) != spatial:
            raise ValueError(f"{op}: output_ratio must be a number or a tuple of {spatial} "
                             f"numbers, got {output_ratio!r}")
        outs = tuple(int(size * r) for size, r in zip(sizes, ratio))
    else:
        outs = _tuple(output_size, spatial, "output_size", op)
    names = ("time", "height", "width")[3 - spatial:]
    # PyTorch's bound: o + k - 1 <= size in 2-D, but strictly less in 3-D.
    for size, o, kk, name in zip(sizes, outs, k, names):
        if o + kk - 1 > size or (spatial == 3 and o + kk - 1 == size):
            raise RuntimeError(f"{op}(): pool {name} {kk} too large relative to input {name} "
                               f"{size} (with output {name} {o}); use a smaller kernel_size or "
                               "output_size")
    x = input if batched else input.unsqueeze(0)
    n, c = x.shape[:2]
    if _random_samples is None:
        from ..ops._random import rand
        samples = rand(n, c, spatial, dtype=x.dtype, device=x.device)
    else:
        samples = _random_samples
        if samples.ndim != 3 or samples.shape[2] != spatial or samples.shape[0] < n or \
                samples.shape[1] < c:
            raise RuntimeError(f"{op}: expected _random_samples of shape ({n}, {c}, {spatial}) "
                               f"(batch, channels, spatial dims), got {_shape_str(samples)}")
        if samples.dtype is not x.dtype:
            raise RuntimeError(f"{op}: expect _random_samples to have the same dtype as input "
                               f"({x.dtype.name}), got {samples.dtype.name}")
        samples = samples[:n, :c].detach()
    if spatial == 2:  # PyTorch's sample 0 steers W and sample 1 H; the primitive takes (H, W)
        samples = samples.flip(2)
    idx = apply(_C.fractional_max_pool_indices_op, x, samples, kernel_size=k, output_size=outs)
    y = _gather_windows(x, idx)
    return (y, idx) if batched else (y.squeeze(0), idx.squeeze(0))


def fractional_max_pool2d_with_indices(input: Tensor, kernel_size, output_size=None,
                                       output_ratio=None, return_indices: bool = False,
                                       _random_samples: Tensor | None = None):
    """2-D fractional max pooling returning (values, flat H*W indices)."""
    return _fractional_max_pool("fractional_max_pool2d", 2, input, kernel_size, output_size,
                                output_ratio, _random_samples)


def fractional_max_pool3d_with_indices(input: Tensor, kernel_size, output_size=None,
                                       output_ratio=None, return_indices: bool = False,
                                       _random_samples: Tensor | None = None):
    """3-D fractional max pooling returning (values, flat D*H*W indices)."""
    return _fractional_max_pool("fractional_max_pool3d", 3, input, kernel_size, output_size,
                                output_ratio, _random_samples)


@composite("fractional_max_pool2d", "fractional_max_pool_indices, gather")
def fractional_max_pool2d(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                          return_indices: bool = False, _random_samples: Tensor | None = None):
    """2-D fractional max pooling (Graham, 2014): kH x kW windows at pseudo-random steps.

    Window starts along a dim of size n with output size o are
    int((i + u) * alpha) - int(u * alpha), alpha = (n - k) / (o - 1), the last at n - k, where
    u is one uniform sample per (batch, channel, dim), PyTorch's rule.

    Args:
        kernel_size: window size (int or pair).
        output_size: (oH, oW) or an int; or give output_ratio (fractions of H and W) instead.
        return_indices: also return the flat H*W index of each window's maximum.
        _random_samples: (N, C, 2) samples in [0, 1) of the input's dtype (default: drawn with
            dyngraph.rand); index 0 steers W and index 1 steers H, as in PyTorch.

    Example:
        >>> F.fractional_max_pool2d(dyngraph.randn(1, 2, 9, 8), 2, output_size=(4, 5)).shape
        dyngraph.Size([1, 2, 4, 5])
    """
    y, idx = _fractional_max_pool("fractional_max_pool2d", 2, input, kernel_size, output_size,
                                  output_ratio, _random_samples)
    return (y, idx) if return_indices else y


@composite("fractional_max_pool3d", "fractional_max_pool_indices, gather")
def fractional_max_pool3d(input: Tensor, kernel_size, output_size=None, output_ratio=None,
                          return_indices: bool = False, _random_samples: Tensor | None = None):
    """3-D fractional max pooling: kT x kH x kW windows at pseudo-random steps.

    Args:
        kernel_size: window size (int or triple).
        output_size: (oT, oH, oW) or an int; or give output_ratio instead.
        return_indices: also return the flat T*H*W index of each window's maximum.
        _random_samples: (N, C, 3) samples in [0, 1) of the input's dtype (default: drawn with
            dyngraph.rand).

    Example:
        >>> F.fractional_max_pool3d(dyngraph.randn(1, 2, 9, 8, 7), 2, output_ratio=0.5).shape
        dyngraph.Size([1, 2, 4, 4, 3])
    """
    y, idx = _fractional_max_pool("fractional_max_pool3d", 3, input, kernel_size, output_size,
                                  output_ratio, _random_samples)
    return (y, idx) if return_indices else y
