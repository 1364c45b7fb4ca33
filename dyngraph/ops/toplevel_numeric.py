"""Window functions (hann, hamming, blackman, bartlett, kaiser), `gradient` (numpy's
second-order finite differences) and `histogramdd`, as in PyTorch's top level; all composites.
"""

from __future__ import annotations

import math
import numbers
from collections import namedtuple

from .. import _dtype as D
from ._api import Tensor

__all__ = ["hann_window", "hamming_window", "blackman_window", "bartlett_window",
           "kaiser_window", "gradient", "histogramdd"]

_range = range  # histogramdd's `range` keyword shadows the builtin
HistogramddResult = namedtuple("histogramdd", ["hist", "bin_edges"])


# ----------------------------------------------------------------------------------------------
# Windows
# ----------------------------------------------------------------------------------------------

def _window(name: str, window_length: int, periodic: bool, dtype, device, requires_grad,
            formula) -> Tensor:
    """`formula(n, N)` on n = 0..N-1 in float64, N = window_length (+1 when periodic, dropping
    the last point), cast to `dtype`."""
    from .creation import arange, ones, zeros
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    if not dt.is_floating_point:
        raise RuntimeError(f"{name} expects floating point dtypes, got: dyngraph.{dt.name}")
    if isinstance(window_length, bool) or not isinstance(window_length, numbers.Integral):
        raise TypeError(f"{name}(): argument 'window_length' must be int, not "
                        f"{type(window_length).__name__}")
    if window_length < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got "
                           f"window_length={window_length}")
    if window_length <= 1:
        w = (zeros if window_length == 0 else ones)(window_length, dtype=dt, device=device)
    else:
        n_pts = window_length + 1 if periodic else window_length
        n = arange(n_pts, dtype=D.float64, device=device)
        w = formula(n, n_pts)[:window_length].to(dt)
    if requires_grad:
        w.requires_grad_(True)
    return w


def _cosine_sum(coeffs):
    """sum_k (-1)^k a_k cos(2 pi k n / (N - 1)): the hann/hamming/blackman family."""
    def formula(n, N):
        w = n * 0 + coeffs[0]
        for k, a in enumerate(coeffs[1:], 1):
            w = w + (-1) ** k * a * (n * (2 * math.pi * k / (N - 1))).cos()
        return w
    return formula


def hann_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None,
                device=None, pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The Hann window 0.5 - 0.5 cos(2 pi n / (N - 1)).

    Args:
        window_length: the number of points (0 gives an empty window, 1 gives [1.]).
        periodic: drop the last point of an N + 1 window (for spectral analysis); False gives
            the symmetric window (for filter design).
        dtype, device, requires_grad: of the result (a floating-point dtype).

    Example:
        >>> dyngraph.hann_window(4)
        tensor([0.0000, 0.5000, 1.0000, 0.5000])
    """
    return _window("hann_window", window_length, periodic, dtype, device, requires_grad,
                   _cosine_sum((0.5, 0.5)))


def hamming_window(window_length: int, periodic: bool = True, alpha: float = 0.54,
                   beta: float = 0.46, *, dtype=None, layout=None, device=None,
                   pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The Hamming window alpha - beta cos(2 pi n / (N - 1)) (arguments as in `hann_window`).

    Example:
        >>> dyngraph.hamming_window(3, periodic=False)
        tensor([0.0800, 1.0000, 0.0800])
    """
    return _window("hamming_window", window_length, periodic, dtype, device, requires_grad,
                   _cosine_sum((alpha, beta)))


def blackman_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None,
                    device=None, pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The Blackman window 0.42 - 0.5 cos(2 pi n / (N - 1)) + 0.08 cos(4 pi n / (N - 1))
    (arguments as in `hann_window`)."""
    return _window("blackman_window", window_length, periodic, dtype, device, requires_grad,
                   _cosine_sum((0.42, 0.5, 0.08)))


def bartlett_window(window_length: int, periodic: bool = True, *, dtype=None, layout=None,
                    device=None, pin_memory: bool = False, requires_grad: bool = False) -> Tensor:
    """The triangular Bartlett window 1 - |2n / (N - 1) - 1| (arguments as in `hann_window`)."""
    return _window("bartlett_window", window_length, periodic, dtype, device, requires_grad,
                   lambda n, N: 1 - (n * (2.0 / (N - 1)) - 1).abs())


def kaiser_window(window_length: int, periodic: bool = True, beta: float = 12.0, *,
                  dtype=None, layout=None, device=None, pin_memory: bool = False,
                  requires_grad: bool = False) -> Tensor:
    """The Kaiser window I0(beta sqrt(1 - (2n / (N - 1) - 1)^2)) / I0(beta).

    Args:
        beta: the shape parameter (larger: a narrower main lobe's sidelobes fall faster).
        others: as in `hann_window`.

    Example:
        >>> dyngraph.kaiser_window(3, periodic=False, beta=0.0)
        tensor([1., 1., 1.])
    """
    from .numeric_extra import i0

    def formula(n, N):
        r = n * (2.0 / (N - 1)) - 1
        return i0((1 - r * r).clamp(min=0).sqrt() * beta) / float(i0(n[:1] * 0 + beta))

    return _window("kaiser_window", window_length, periodic, dtype, device, requires_grad,
                   formula)


# ----------------------------------------------------------------------------------------------
# gradient
# ----------------------------------------------------------------------------------------------

def _spacings(spacing, dims, input: Tensor) -> list:
    """One spacing per dim in `dims`: a Python number or a 1-D coordinate tensor."""
    if isinstance(spacing, (numbers.Number, Tensor)) and not (
            isinstance(spacing, Tensor) and spacing.ndim == 1 and len(dims) == 1):
        if isinstance(spacing, Tensor):
            if spacing.ndim != 0:
                raise RuntimeError("torch.gradient expected spacing to be unspecified, a scalar "
                                   "or a list of length equal to 'self.dim() = "
                                   f"{input.ndim}', since dim argument was not given, but got "
                                   f"a list of length 1")
            spacing = spacing.item()
        return [spacing] * len(dims)
    spacing = list(spacing) if not isinstance(spacing, Tensor) else [spacing]
    if len(spacing) != len(dims):
        raise RuntimeError(f"torch.gradient expected spacing to be unspecified, a scalar or it's "
                           f"spacing and dim arguments to have the same length, but got a "
                           f"spacing argument of length {len(spacing)} and a dim argument of "
                           f"length {len(dims)}.")
    out = []
    for s, d in zip(spacing, dims):
        if isinstance(s, Tensor) and s.ndim == 0:
            s = s.item()
        if isinstance(s, Tensor) and s.shape[0] != input.shape[d]:
            raise RuntimeError(f"torch.gradient expected each tensor to be on the same device "
                               f"and to have as many coordinates as the size of its dim: dim "
                               f"{d} has size {input.shape[d]}, coordinates have "
                               f"{s.shape[0]}")
        out.append(s)
    return out


def _gradient_along(f: Tensor, d: int, h, edge_order: int) -> Tensor:
    from .shape import cat
    n = f.shape[d]

    def part(a, b):
        return f.narrow(d, a, b - a)

    def col(t):  # a 1-D tensor along dim d, broadcastable against f
        return t.to(f.dtype).reshape([-1 if i == d else 1 for i in range(f.ndim)])

    if isinstance(h, Tensor):
        dx = col(h[1:] - h[:-1])
        dx1, dx2 = dx.narrow(d, 0, n - 2), dx.narrow(d, 1, n - 2)
        a = -dx2 / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        first_h, last_h = dx.narrow(d, 0, 1), dx.narrow(d, n - 2, 1)
    else:
        a, b, c = -0.5 / h, 0.0, 0.5 / h
        first_h = last_h = h
    interior = a * part(0, n - 2) + c * part(2, n)
    if not isinstance(b, float):
        interior = interior + b * part(1, n - 1)
    if edge_order == 1:
        first = (part(1, 2) - part(0, 1)) / first_h
        last = (part(n - 1, n) - part(n - 2, n - 1)) / last_h
    elif isinstance(h, Tensor):
        dx = col(h[1:] - h[:-1])
        h1, h2 = dx.narrow(d, 0, 1), dx.narrow(d, 1, 1)
        first = (-(2 * h1 + h2) / (h1 * (h1 + h2)) * part(0, 1) + (h1 + h2) / (h1 * h2) *
                 part(1, 2) - h1 / (h2 * (h1 + h2)) * part(2, 3))
        h1, h2 = dx.narrow(d, n - 3, 1), dx.narrow(d, n - 2, 1)
        last = (h2 / (h1 * (h1 + h2)) * part(n - 3, n - 2) - (h2 + h1) / (h1 * h2) *
                part(n - 2, n - 1) + (2 * h2 + h1) / (h2 * (h1 + h2)) * part(n - 1, n))
    else:
        first = (-1.5 * part(0, 1) + 2 * part(1, 2) - 0.5 * part(2, 3)) / h
        last = (0.5 * part(n - 3, n - 2) - 2 * part(n - 2, n - 1) + 1.5 * part(n - 1, n)) / h
    return cat([first, interior, last], d)


def gradient(input: Tensor, *, spacing=1, dim=None, edge_order: int = 1) -> tuple:
    """Estimate the derivative of the samples `input` along each dim (numpy.gradient's second
    order central differences in the interior, one-sided first or second order at the edges).

    Args:
        input: the sampled values (integer input gives the default float dtype).
        spacing: the distance between samples: one number for every dim, a list of numbers
            (one per dim), or a list of 1-D coordinate tensors (one per dim).
        dim: a dim or list of dims to differentiate along (all by default).
        edge_order: 1 or 2, the accuracy of the one-sided differences at the two ends.

    Returns:
        A tuple with one tensor per dim, shaped like `input` (differentiable).

    Example:
        >>> dyngraph.gradient(dyngraph.tensor([1., 4., 9., 16.]))
        (tensor([3., 4., 6., 7.]),)
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"gradient(): argument 'input' (position 1) must be Tensor, not "
                        f"{type(input).__name__}")
    if edge_order not in (1, 2):
        raise RuntimeError(f"torch.gradient only supports edge_order=1 and edge_order=2 (got "
                           f"{edge_order}).")
    if dim is None:
        dims = list(range(input.ndim))
    else:
        dims = [dim] if isinstance(dim, int) else list(dim)
        dims = [d + input.ndim if d < 0 else d for d in dims]
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"torch.gradient: dim {dims} appears multiple times in the list "
                               "of dims")
    for d in dims:
        if input.shape[d] < edge_order + 1:
            raise RuntimeError("torch.gradient expected each dimension size to be at least "
                               "edge_order+1")
    if not input.dtype.is_floating_point:
        input = input.to(D.get_default_dtype())
    return tuple(_gradient_along(input, d, h, edge_order)
                 for d, h in zip(dims, _spacings(spacing, dims, input)))


# ----------------------------------------------------------------------------------------------
# histogramdd
# ----------------------------------------------------------------------------------------------

def histogramdd(input: Tensor, bins=10, *, range=None, weight: Tensor | None = None,  # noqa: A002
                density: bool = False) -> HistogramddResult:
    """A D-dimensional histogram of the points in the rows of `input` (shape (..., D)).

    Args:
        input: a floating-point tensor whose last dim holds the D coordinates of each point.
        bins: an int (bins per dim), a list of D ints, or a list of D 1-D tensors of
            increasing edges.
        range: a flat sequence (min_0, max_0, ..., min_D-1, max_D-1) for integer bins; the
            data's min and max per dim by default. Points outside it are not counted.
        weight: optional weights, one per point (input.shape[:-1]).
        density: normalise so that the histogram integrates to 1.

    Returns:
        (hist, bin_edges): the counts, of shape (bins_0, ..., bins_D-1), and a tuple of D
        edge tensors. Each bin is [e_i, e_i+1), the last one closed. Not differentiable.

    Example:
        >>> x = dyngraph.tensor([[0., 1.], [1., 3.], [2., 2.]])
        >>> dyngraph.histogramdd(x, bins=[2, 3], range=[0., 2., 1., 3.]).hist
        tensor([[1., 0., 0.],
                [0., 1., 1.]])
    """
    from .misc_fns import _histogram_edges
    from .tensor_extras import bincount, searchsorted
    if not isinstance(input, Tensor):
        raise TypeError(f"histogramdd(): argument 'input' must be Tensor, not "
                        f"{type(input).__name__}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"histogramdd(): not implemented for {input.dtype.name} input; "
                           "convert it with .float()")
    if input.ndim < 1:
        raise RuntimeError("histogramdd: input tensor should have at least 1 dimension, but "
                           "got 0")
    n_dims = input.shape[-1]
    x = input.detach().reshape(-1, n_dims)
    if isinstance(bins, numbers.Integral):
        bins = [int(bins)] * n_dims
    bins = list(bins)
    if len(bins) != n_dims:
        raise RuntimeError(f"histogramdd: expected {n_dims} sequences of bin edges (or bin "
                           f"counts) for the {n_dims} dimensions of the input's points, but "
                           f"got {len(bins)}")
    if range is not None and len(range) != 2 * n_dims:
        raise RuntimeError(f"histogramdd: for a {n_dims}-dimensional histogram range should "
                           f"have {2 * n_dims} elements, but got {len(range)}")
    edges = []
    for d, b in enumerate(bins):
        if isinstance(b, Tensor):
            if b.dtype is not input.dtype:
                raise RuntimeError(f"torch.histogramdd: input tensor and bins tensors should "
                                   f"have the same dtype, but got input with dtype "
                                   f"{input.dtype.name} and bins for dimension {d} with dtype "
                                   f"{b.dtype.name}")
            edges.append(b.detach())
        else:
            rng = None if range is None else (range[2 * d], range[2 * d + 1])
            edges.append(_histogram_edges(x[:, d], b, rng, input.dtype))
    counts = [e.shape[0] - 1 for e in edges]
    flat = None
    inside = None
    for d, e in enumerate(edges):
        col = x[:, d].contiguous()
        idx = searchsorted(e, col, right=True) - 1
        idx = idx.masked_fill(col == e[-1], counts[d] - 1)
        ok = (col >= e[0]) & (col <= e[-1])
        flat = idx if flat is None else flat * counts[d] + idx
        inside = ok if inside is None else inside & ok
    total = math.prod(counts)
    flat = flat.masked_fill(~inside, total)                   # an extra bin, dropped below
    w = None if weight is None else weight.detach().reshape(-1).to(input.dtype)
    hist = bincount(flat, weights=w, minlength=total + 1)[:total].to(input.dtype)
    hist = hist.reshape(counts)
    if density:
        vol = None
        for d, e in enumerate(edges):
            width = (e[1:] - e[:-1]).reshape([-1 if i == d else 1 for i in _range(n_dims)])
            vol = width if vol is None else vol * width
        hist = hist / (hist.sum() * vol)
    return HistogramddResult(hist, tuple(edges))

