"""Distances (cdist, dist, top-level cosine_similarity and pairwise_distance), integration
(trapezoid, trapz, cumulative_trapezoid) and renorm: composites of the primitives."""

from __future__ import annotations

import math

from .. import _dtype as D
from ._api import Tensor, inplace, register_method, wrap_dim, write_out
from .creation import zeros
from .elementwise import where
from .extras import _broadcast, _check_tensor, _slice
from .reduction import amax, norm
from .registry import composite

# ----------------------------------------------------------------------------------------------
# Distances
# ----------------------------------------------------------------------------------------------

_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                "donot_use_mm_for_euclid_dist")


def _safe_pow(x: Tensor, p: float) -> Tensor:
    """x ** p with 0 where x == 0, and a zero gradient there (no inf * 0)."""
    nz = x != 0
    return where(nz, where(nz, x, 1.0) ** p, 0.0)


@composite("cdist", "sub, norm over the last dim (p=2 with mm: matmul, sum, sqrt)")
def cdist(x1: Tensor, x2: Tensor, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """p-norm distances between each row of `x1` and each row of `x2` (batch dims broadcast).

    Args:
        x1: (..., P, M) floating-point tensor.
        x2: (..., R, M) tensor of the same dtype.
        p: the norm, >= 0 (0, 1, 2 and inf included).
        compute_mode: for p = 2, 'use_mm_for_euclid_dist' computes |x|^2 + |y|^2 - 2 x.y with a
            matrix product (faster, less exact); '..._if_necessary' does so when P or R > 25.

    Returns:
        (..., P, R) distances. The gradient at zero distance is 0, as in PyTorch.

    Example:
        >>> dyngraph.cdist(dyngraph.tensor([[0., 0.]]), dyngraph.tensor([[3., 4.], [0., 1.]]))
        tensor([[5., 1.]])
    """
    _check_tensor("cdist", x1, "x1")
    _check_tensor("cdist", x2, "x2")
    if x1.ndim < 2 or x2.ndim < 2:
        raise RuntimeError(f"cdist only supports at least 2D tensors (..., points, features), got "
                           f"x1 of shape {list(x1.shape)} and x2 of shape {list(x2.shape)}")
    if not (x1.dtype.is_floating_point and x2.dtype.is_floating_point):
        raise RuntimeError(f"cdist only supports floating-point dtypes, got {x1.dtype.name} and "
                           f"{x2.dtype.name}; convert with .float()")
    if x1.dtype is not x2.dtype:
        raise RuntimeError(f"cdist: expected x1 and x2 to have the same dtype, got "
                           f"{x1.dtype.name} and {x2.dtype.name}; cast one with .to(...)")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: X1 and X2 must have the same number of columns. X1: "
                           f"{x1.shape[-1]} X2: {x2.shape[-1]} (shapes {list(x1.shape)} and "
                           f"{list(x2.shape)})")
    p = float(p)
    if not p >= 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"{compute_mode} is not a valid value for compute_mode; use one of "
                         f"{', '.join(_CDIST_MODES)}")
    _broadcast("cdist (batch dims)", x1.shape[:-2], x2.shape[:-2])
    use_mm = p == 2 and (compute_mode == _CDIST_MODES[1] or (
        compute_mode == _CDIST_MODES[0] and (x1.shape[-2] > 25 or x2.shape[-2] > 25)))
    if use_mm and x1.shape[-1]:
        sq = ((x1 * x1).sum(-1, keepdim=True) + (x2 * x2).sum(-1, keepdim=True).mT
              - 2 * (x1 @ x2.mT)).clamp_min(0)
        return _safe_pow(sq, 0.5)
    diffs = x1.unsqueeze(-2) - x2.unsqueeze(-3)  # (..., P, R, M)
    if x1.shape[-1] == 0:
        return diffs.sum(-1)
    if p in (0.0, 1.0, 2.0):
        return norm(diffs, p, dim=-1)
    a = diffs.abs()
    if math.isinf(p):
        # PyTorch's gradient gives every element equal to the maximum the full gradient (norm's
        # shares it between ties): the value is the detached max, a - a.detach() carries it.
        top = amax(a.detach(), -1, keepdim=True)
        return top.squeeze(-1) + ((a - a.detach()) * (a.detach() == top)).sum(-1)
    return _safe_pow(_safe_pow(a, p).sum(-1), 1.0 / p)


def dist(input: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The p-norm of `input - other` (broadcast) over all elements, as a 0-D tensor.

    Example:
        >>> dyngraph.dist(dyngraph.tensor([0., 0.]), dyngraph.tensor([3., 4.]))
        tensor(5.)
    """
    _check_tensor("dist", input)
    _check_tensor("dist", other, "other")
    if not (input.dtype.is_floating_point or other.dtype.is_floating_point):
        raise RuntimeError(f"dist: expected floating-point inputs, got {input.dtype.name} and "
                           f"{other.dtype.name}; convert with .float()")
    _broadcast("dist", input.shape, other.shape)
    return norm(input - other, p)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """`nn.functional.cosine_similarity`: the cosine of the angle between x1 and x2 along dim."""
    from ..nn import functional as F  # nn is built on ops: import it on use
    return F.cosine_similarity(x1, x2, dim, eps)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """`nn.functional.pairwise_distance`: ||x1 - x2 + eps||_p along the last dimension."""
    from ..nn import functional as F
    return F.pairwise_distance(x1, x2, p, eps, keepdim)


# ----------------------------------------------------------------------------------------------
# Integration and renorm
# ----------------------------------------------------------------------------------------------

def _integration_args(name: str, y, x, dx, dim) -> tuple:
    """(dim, spacing): spacing is a number, or the differences of `x` aligned with `y`."""
    _check_tensor(name, y, "y")
    if y.ndim == 0:
        raise IndexError(f"{name}: Dimension specified as {dim} but tensor has no dimensions "
                         "(y must be at least 1-D)")
    d = wrap_dim(dim, y.ndim, name)
    if y.dtype is D.bool_:
        raise RuntimeError(f"{name}: received a bool input for `y`, but bool is not supported; "
                           "convert it with .float()")
    if x is None:
        return d, 1 if dx is None else dx
    if dx is not None:
        raise TypeError(f"{name}(): pass either x (the sample points) or dx (the spacing), not "
                        "both")
    _check_tensor(name, x, "x")
    if x.dtype is D.bool_:
        raise RuntimeError(f"{name}: received a bool input for `x`, but bool is not supported")
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise RuntimeError(f"{name}: There must be one `x` value for each sample point (x has "
                               f"{x.shape[0]}, y has {y.shape[d]} along dim {d})")
        x = x.reshape(tuple(x.shape[0] if i == d else 1 for i in range(y.ndim)))
    elif x.ndim < y.ndim:
        x = x.reshape((1,) * (y.ndim - x.ndim) + tuple(x.shape))
    return d, _slice(x, d, 1, None) - _slice(x, d, 0, -1)


def trapezoid(y: Tensor, x: Tensor | None = None, *, dx=None, dim: int = -1) -> Tensor:
    """Integrate `y` along `dim` with the trapezoidal rule.

    Args:
        y: the values (at least 1-D).
        x: the sample points: 1-D (one per value along `dim`) or broadcastable with `y`.
        dx: the constant spacing when `x` is not given (1 by default).
        dim: the dimension to integrate along.

    Example:
        >>> dyngraph.trapezoid(dyngraph.tensor([1., 2., 3.]))
        tensor(4.)
    """
    d, spacing = _integration_args("trapezoid", y, x, dx, dim)
    n = y.shape[d]
    if n == 0:  # numpy's answer for no samples
        return zeros(tuple(s for i, s in enumerate(y.shape) if i != d), dtype=y.dtype,
                     device=y.device)
    if not isinstance(spacing, Tensor):
        # sum minus half the end points: one pass, PyTorch's formula for a constant spacing
        return (y.sum(d) - (y.select(d, 0) + y.select(d, -1)) * 0.5) * spacing
    return (spacing * (_slice(y, d, 1, None) + _slice(y, d, 0, -1))).sum(d) / 2.0


def trapz(y: Tensor, x: Tensor | None = None, *, dx=None, dim: int = -1) -> Tensor:
    """Alias of `trapezoid`."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y: Tensor, x: Tensor | None = None, *, dx=None,
                         dim: int = -1) -> Tensor:
    """The running trapezoidal integral of `y` along `dim` (one element shorter there); the
    arguments are `trapezoid`'s.

    Example:
        >>> dyngraph.cumulative_trapezoid(dyngraph.tensor([1., 2., 3.]))
        tensor([1.5000, 4.0000])
    """
    d, spacing = _integration_args("cumulative_trapezoid", y, x, dx, dim)
    pairs = _slice(y, d, 1, None) + _slice(y, d, 0, -1)
    steps = pairs * (spacing / 2.0) if not isinstance(spacing, Tensor) else spacing * pairs / 2.0
    return steps.cumsum(d)


@composite("renorm", "norm over the other dims, where, div, mul")
def renorm(input: Tensor, p: float, dim: int, maxnorm: float, *, out=None) -> Tensor:
    """Rescale each slice `input.select(dim, i)` whose p-norm exceeds `maxnorm` to norm `maxnorm`
    (exactly: the factor is maxnorm / (norm + 1e-7), as in PyTorch).

    Example:
        >>> dyngraph.tensor([[3., 4.], [0.3, 0.4]]).renorm(2, 0, 1)
        tensor([[0.6000, 0.8000],
                [0.3000, 0.4000]])
    """
    _check_tensor("renorm", input)
    if input.ndim < 2:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} "
                           f"dimensions (shape {list(input.shape)})")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"renorm: expected a floating-point input, got {input.dtype.name}; "
                           "convert it with .float()")
    if not p > 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported (got p={p})")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    d = wrap_dim(dim, input.ndim, "renorm")
    nrm = norm(input, p, tuple(i for i in range(input.ndim) if i != d), keepdim=True)
    factor = where(nrm > maxnorm, maxnorm / (nrm + 1e-7), 1.0)
    return write_out(input * factor, out, "renorm")


Tensor.dist = dist
Tensor.renorm = renorm


@register_method("renorm_")
def _renorm_(self, p, dim, maxnorm):
    """In-place `renorm`."""
    return inplace(lambda t: renorm(t, p, dim, maxnorm), self, opname="renorm_")


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__
           and not isinstance(_v, type)]
