"""In-place samplers: `uniform_`, `normal_`, `exponential_`, `geometric_`, `cauchy_`,
`log_normal_`, `random_`, `bernoulli_` fill a tensor from dyngraph's generator (Tensor methods,
under the in-place rules of `_api.inplace`). `uniform_`/`normal_` draw exactly as
`nn.init.uniform_`/`normal_` do, so the two agree under one seed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import _dtype as D
from ._api import Tensor, inplace, state
from ._random import rand, randint, randn
from .creation import ones_like
from .elementwise import where
from .tensor_extras import _np_finfo, iinfo

__all__: list[str] = []      # Tensor methods only


# ----------------------------------------------------------------------------------------------
# In-place samplers
# ----------------------------------------------------------------------------------------------

def _fill_with(self: Tensor, opname: str, draw) -> Tensor:
    """Write `draw()` (a tensor of self's shape) into `self` under `inplace`'s rules.

    A non-leaf that requires grad keeps a history whose gradient is zero, as in PyTorch (its
    old value no longer matters); `where` gives that without reading the old values (inf * 0).
    """
    def fill(old):
        new = draw().to(self.dtype)
        if old.requires_grad:
            return where(ones_like(old, dtype=D.bool_), new, old)
        return new

    return inplace(fill, self, opname=opname)


def _check_floating(self: Tensor, opname: str, what: str) -> None:
    if not self.dtype.is_floating_point:
        raise NotImplementedError(
            f"{opname}: not implemented for dtype {self.dtype.name}: {what} fills floating-point "
            "tensors only; convert with .float() first (random_ draws integers)")


def _work_dtype(self: Tensor) -> D.dtype:
    """The dtype a sampler computes in: float32 for half precision, float64 for integers."""
    if self.dtype in (D.float32, D.float64):
        return self.dtype
    return D.float32 if self.dtype.is_floating_point else D.float64


def _uniform(self, dtype, generator) -> Tensor:
    return rand(tuple(self.shape), generator=generator, dtype=dtype, device=self.device)


def uniform_(self: Tensor, from_: float = 0, to: float = 1, *, generator=None) -> Tensor:
    """Fill with samples from the uniform distribution on [from_, to).

    Draws as `dyngraph.nn.init.uniform_` does (in the tensor's dtype), so under one seed the
    two give the same values.

    Example:
        >>> dyngraph.empty(3).uniform_(-1, 1).shape
        dyngraph.Size([3])
    """
    _check_floating(self, "uniform_", "the uniform distribution")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found "
                           f"from={from_} > to={to}")
    return _fill_with(self, "uniform_",
                      lambda: _uniform(self, self.dtype, generator) * (to - from_) + from_)


def normal_(self: Tensor, mean: float = 0, std: float = 1, *, generator=None) -> Tensor:
    """Fill with samples from the normal distribution N(mean, std**2).

    Draws as `dyngraph.nn.init.normal_` does, so under one seed the two give the same values.
    """
    _check_floating(self, "normal_", "the normal distribution")
    if std < 0:
        raise RuntimeError(f"normal_ expects std >= 0.0, but found std {std}")
    return _fill_with(self, "normal_", lambda: randn(
        tuple(self.shape), generator=generator, dtype=self.dtype, device=self.device) * std + mean)


def exponential_(self: Tensor, lambd: float = 1, *, generator=None) -> Tensor:
    """Fill with samples from the exponential distribution with rate `lambd` (mean 1/lambd)."""
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"exponential_: the exponential distribution is continuous; the "
                           f"tensor's dtype must be floating point but is {self.dtype.name}")
    if not lambd > 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    # -log(1 - u) with u in [0, 1) is finite and >= 0.
    return _fill_with(self, "exponential_",
                      lambda: -(-_uniform(self, _work_dtype(self), generator)).log1p() / lambd)


def geometric_(self: Tensor, p: float, *, generator=None) -> Tensor:
    """Fill with the number of Bernoulli(p) trials up to and including the first success.

    The values are 1, 2, 3, ... with P(k) = (1 - p)**(k - 1) * p (mean 1/p).
    """
    if self.dtype is D.bool_:
        raise NotImplementedError("geometric_: not implemented for dtype bool (the values are "
                                  "counts 1, 2, ...); use an integer or floating dtype")
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")

    def draw():
        u = _uniform(self, _work_dtype(self), generator)
        return ((-u).log1p() / math.log1p(-p)).floor() + 1

    return _fill_with(self, "geometric_", draw)


def cauchy_(self: Tensor, median: float = 0, sigma: float = 1, *, generator=None) -> Tensor:
    """Fill with samples from the Cauchy distribution with location `median`, scale `sigma`."""
    if not self.dtype.is_floating_point:
        raise RuntimeError(f"cauchy_: the Cauchy distribution is continuous; the tensor's dtype "
                           f"must be floating point but is {self.dtype.name}")
    if not sigma > 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    return _fill_with(self, "cauchy_", lambda: (
        (_uniform(self, _work_dtype(self), generator) - 0.5) * math.pi).tan() * sigma + median)


def log_normal_(self: Tensor, mean: float = 1, std: float = 2, *, generator=None) -> Tensor:
    """Fill with exp(N(mean, std**2)) samples: `mean`/`std` are those of the underlying normal."""
    _check_floating(self, "log_normal_", "the log-normal distribution")
    if not std > 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    return _fill_with(self, "log_normal_", lambda: (randn(
        tuple(self.shape), generator=generator, dtype=_work_dtype(self),
        device=self.device) * std + mean).exp())


class _Unset:
    def __repr__(self) -> str:
        return "<to: the dtype's range>"


_TO_UNSET = _Unset()


def _random_bounds(dtype: D.dtype) -> tuple[int, int]:
    """The default [low, high) of `random_` for a dtype (floats: integers that are exact)."""
    if dtype is D.bool_:
        return 0, 2
    if dtype.is_floating_point:
        digits = int(_np_finfo(dtype).nmant) + 1
        return 0, 2 ** digits + 1
    info = iinfo(dtype)
    # numpy draws int64 below 2**63 only: the top value 2**63 - 1 is left out (p = 2**-63).
    return 0, min(info.max + 1, 2 ** 63 - 1)


def random_(self: Tensor, from_: int = 0, to=_TO_UNSET, *, generator=None) -> Tensor:
    """Fill with integers drawn uniformly from [from_, to), as PyTorch's three forms:

    - `random_()`: [0, 2**mantissa] for floating dtypes (every integer there is exact),
      [0, max] for integer dtypes, {False, True} for bool;
    - `random_(to)`: [0, to);
    - `random_(from_, to)`: [from_, to), where `to=None` means up to the dtype's maximum.

    Example:
        >>> dyngraph.zeros(4, dtype=dyngraph.int64).random_(3, 7).min() >= 3
        tensor(True)
    """
    low, high = _random_bounds(self.dtype)
    if to is _TO_UNSET:
        if from_ != 0:
            low, high = 0, from_          # random_(to)
    else:
        low = from_
        if to is not None:
            high = to
    low, high = int(low), int(high)
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= "
                           f"to={high}")
    if self.dtype.is_floating_point:
        bound = _random_bounds(self.dtype)[1] - 1
        for name, v in (("from", low), ("to - 1", high - 1)):
            if not -bound <= v <= bound:
                warnings.warn(f"random_: {name}={v} is out of bounds [-{bound}, {bound}]: "
                              f"{self.dtype.name} holds every integer only within that range",
                              UserWarning, stacklevel=2)
    elif self.dtype is not D.bool_:
        info = iinfo(self.dtype)
        for name, v in (("from", low), ("to - 1", high - 1)):
            if not info.min <= v <= info.max:
                raise RuntimeError(f"random_: {name}={v} is out of bounds for {self.dtype.name} "
                                   f"([{info.min}, {info.max}])")
    dt = self.dtype if self.dtype is not D.bool_ else D.int64
    return _fill_with(self, "random_", lambda: randint(
        low, high, tuple(self.shape), generator=generator, dtype=dt, device=self.device))


def bernoulli_(self: Tensor, p=0.5, *, generator=None) -> Tensor:
    """Fill with 1 (True) with probability `p` and 0 otherwise; `p` is a number or a tensor
    that broadcasts to self's shape."""
    if isinstance(p, Tensor):
        try:
            fits = np.broadcast_shapes(tuple(p.shape), tuple(self.shape)) == tuple(self.shape)
        except ValueError:
            fits = False
        if not fits:
            raise RuntimeError(f"bernoulli_: p of shape {tuple(p.shape)} does not broadcast to "
                               f"the tensor's shape {tuple(self.shape)}")
        if state.tracer is None and p.numel() and not bool(((p >= 0) & (p <= 1)).all()):
            raise RuntimeError("bernoulli_ expects every p to be in [0, 1]")
        prob = p.detach()
    else:
        if not 0 <= p <= 1:
            raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
        prob = p
    return _fill_with(self, "bernoulli_",
                      lambda: _uniform(self, _work_dtype(self), generator) < prob)


for _fn in (uniform_, normal_, exponential_, geometric_, cauchy_, log_normal_, random_,
            bernoulli_):
    setattr(Tensor, _fn.__name__, _fn)
