"""PyTorch functions and Tensor methods that fit no other ops module.

- Memory placement: `Tensor.pin_memory`/`is_pinned`, `share_memory_`/`is_shared`.
- Python callbacks: `Tensor.apply_` and `Tensor.map_` (CPU only, in place, no autograd).
- Statistics: `cov` and `corrcoef` (differentiable composites), `histogram` (counts, not
  differentiable), `isin`.
- Matrices: `vander`, `pdist` (composites) and the deprecated `chain_matmul`.
- Integer and float helpers: `gcd`, `lcm`, `ldexp`, `poisson`, `is_complex`.

The primitives added to the op table are `gcd` (kind INDEX: Euclid's loop runs a data-dependent
number of steps, so it has no elementwise lowering; compiled code runs it on the interpreter) and
`poisson` (kind CREATION, a random draw that advances a generator, as `random` does). Everything
else is built from existing ops.
"""

from __future__ import annotations

import math
import mmap
import warnings
from collections import namedtuple

import numpy as np

from .. import _dtype as D
from ._api import (Tensor, apply, register_method, register_method_pair, state,
                   write_out)
from .extras import _broadcast, _check_tensor
from .registry import OpKind, composite, nondiff

__all__ = ["cov", "corrcoef", "vander", "histogram", "isin", "pdist", "chain_matmul", "gcd",
           "lcm", "ldexp", "poisson", "is_complex"]

HistogramResult = namedtuple("histogram", ["hist", "bin_edges"])


# ----------------------------------------------------------------------------------------------
# Memory placement: pinned and shared memory
# ----------------------------------------------------------------------------------------------

def _on_cuda(t: Tensor) -> bool:
    return t.device.type != "cpu"


@register_method("pin_memory")
def _pin_memory(self: Tensor, device=None) -> Tensor:
    """A copy of this CPU tensor, standing in for a page-locked one.

    dyngraph allocates no pinned host memory (cupy copies from ordinary memory), so the copy is
    ordinary memory and `is_pinned()` stays False on it. It is a copy, as PyTorch's pinned tensor
    is, so writing to it never changes `self`; autograd flows through it as through `clone()`.
    PyTorch without an accelerator raises instead; dyngraph lets such scripts (and
    `DataLoader(pin_memory=True)`) run unchanged.

    Example:
        >>> x = dyngraph.ones(2)
        >>> y = x.pin_memory(); y.is_pinned(), y is x
        (False, False)
    """
    if _on_cuda(self):
        raise RuntimeError(f"pin_memory: cannot pin a tensor on {self.device}: only dense CPU "
                           "tensors can be pinned (it is already in device memory)")
    return self.clone()


@register_method("is_pinned")
def _is_pinned(self: Tensor, device=None) -> bool:
    """False: dyngraph never allocates pinned (page-locked) host memory."""
    return False


def _owner(a):
    """The array that owns `a`'s memory (numpy and cupy collapse view chains to one link)."""
    while isinstance(a.base, type(a)):
        a = a.base
    return a


def _in_shared_memory(a) -> bool:
    buf = _owner(a).base
    return isinstance(buf, memoryview) and isinstance(buf.obj, mmap.mmap)


@register_method("is_shared")
def _is_shared(self: Tensor) -> bool:
    """Whether this tensor's memory is shared between processes: True for a CPU tensor after
    `share_memory_()` (or a view of one) and, as in PyTorch, for every CUDA tensor."""
    return _on_cuda(self) or _in_shared_memory(self._data)


@register_method("share_memory_")
def _share_memory_(self: Tensor) -> Tensor:
    """Move this CPU tensor's memory into an anonymous shared mapping (in place; returns self).

    A numpy-backed tensor normally lives in private memory, which forked child processes
    (multiprocessing's "fork" start method) get copy-on-write. After `share_memory_()` the
    elements live in a `mmap` mapping with MAP_SHARED, so writes in a forked child are seen by
    the parent and the other way round. Processes started with "spawn" receive a pickled copy
    either way. A no-op for tensors already shared and for CUDA tensors, as in PyTorch.

    The memory is moved by replacing the tensor's array, so no other tensor may view it (or be
    viewed by it) yet: call it right after creating the tensor, or on a `.clone()`.

    Example:
        >>> x = dyngraph.zeros(3).share_memory_()
        >>> x.is_shared()
        True
    """
    if _on_cuda(self) or _in_shared_memory(self._data):
        return self
    if state.tracer is not None:
        raise RuntimeError("share_memory_: cannot move memory inside dyngraph.compile; call it "
                           "before the compiled function runs")
    import sys
    # Two references are the holder's slot and getrefcount's argument; more means a view (or
    # another tensor) holds the array, or the tensor this one views, and would silently stop
    # sharing memory with it. A view of a temporary (`arange(6).reshape(2, 3)`) is fine.
    if sys.getrefcount(self._data) > 2 or (self._base is not None
                                           and sys.getrefcount(self._base) > 2):
        raise RuntimeError(
            f"share_memory_: this tensor (shape {list(self.shape)}) shares its memory with a "
            "view or another tensor, and moving it would break that link; call share_memory_() "
            "on the tensor right after creating it, or on a .clone()")
    a = self._data
    buf = mmap.mmap(-1, max(a.nbytes, 1))
    shared = np.frombuffer(buf, dtype=a.dtype, count=a.size).reshape(a.shape)
    shared[...] = a
    self._data = shared
    self._base = None   # it no longer views the temporary's memory
    return self


# ----------------------------------------------------------------------------------------------
# Python callbacks: apply_ and map_
# ----------------------------------------------------------------------------------------------

def _check_callback_target(self: Tensor, op: str, fn) -> None:
    if _on_cuda(self):
        raise RuntimeError(f"{op} is only implemented on CPU tensors (got a tensor on "
                           f"{self.device}); move it with .cpu() first")
    if self.requires_grad:
        raise RuntimeError(f"Can't call {op}() on Variable that requires grad. Use "
                           f"var.detach().{op}() instead.")
    if state.tracer is not None:
        raise RuntimeError(f"{op}: a Python callback cannot run inside dyngraph.compile; call "
                           "it outside the compiled function")
    if not callable(fn):
        raise TypeError(f"{op}(): argument 'callable' must be callable, not "
                        f"{type(fn).__name__}")


def _store(self: Tensor, values: list, op: str) -> Tensor:
    try:
        arr = np.array(values, dtype=object).astype(self._data.dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{op}: the callable must return a number for every element "
                        f"({err})") from None
    self._data[...] = arr.reshape(self._data.shape)
    self._vc[0] += 1
    return self


@register_method("apply_")
def _apply_(self: Tensor, callable) -> Tensor:  # noqa: A002 - PyTorch's name
    """Replace every element x with `callable(x)`, in place (CPU tensors without grad only).

    The callable gets and returns Python numbers; results are cast to the tensor's dtype (1.5
    becomes 1 in an integer tensor). It runs once per element, in Python: slow, as in PyTorch.

    Example:
        >>> dyngraph.tensor([1.0, 2.0]).apply_(lambda v: v * 10)
        tensor([10., 20.])
    """
    _check_callback_target(self, "apply_", callable)
    return _store(self, [callable(v) for v in self._data.ravel().tolist()], "apply_")


@register_method("map_")
def _map_(self: Tensor, tensor: Tensor, callable) -> Tensor:  # noqa: A002
    """Replace every element x with `callable(x, y)`, y the matching element of `tensor`
    (broadcast to this tensor's shape), in place. CPU tensors without grad only; `tensor` must
    have this tensor's dtype.

    Example:
        >>> dyngraph.tensor([1.0, 2.0]).map_(dyngraph.tensor([3.0, 4.0]), lambda a, b: a * b)
        tensor([3., 8.])
    """
    _check_callback_target(self, "map_", callable)
    if not isinstance(tensor, Tensor):
        raise TypeError(f"map_(): argument 'other' (position 1) must be Tensor, not "
                        f"{type(tensor).__name__}")
    if tensor.dtype is not self.dtype:
        raise TypeError(f"map_: expected {self.dtype.name} for 'other' (got "
                        f"{tensor.dtype.name}); convert it with .to({self.dtype})")
    if _on_cuda(tensor):
        raise RuntimeError("map_ is only implemented on CPU tensors (got 'other' on "
                           f"{tensor.device}); move it with .cpu() first")
    try:
        other = np.broadcast_to(tensor._data, self._data.shape)
    except ValueError:
        raise RuntimeError(f"map_: the shape of 'other' {list(tensor.shape)} cannot be "
                           f"broadcast to this tensor's shape {list(self.shape)}") from None
    pairs = zip(self._data.ravel().tolist(), other.ravel().tolist())
    return _store(self, [callable(a, b) for a, b in pairs], "map_")


# ----------------------------------------------------------------------------------------------
# cov and corrcoef
# ----------------------------------------------------------------------------------------------

def _check_weights(w, what: str, n_obs: int, integral: bool) -> None:
    _check_tensor("cov", w, what)
    if w.ndim > 1:
        raise RuntimeError(f"cov(): expected {what} to have one or fewer dimensions but got "
                           f"{what} with {w.ndim} dimensions")
    if w.numel() != n_obs:
        raise RuntimeError(f"cov(): expected {what} to have the same numel as there are "
                           f"observations in the input but got {w.numel()} != {n_obs}")
    if integral and (w.dtype.is_floating_point or w.dtype is D.bool_):
        raise RuntimeError(f"cov(): expected {what} to have integral dtype but got {what} with "
                           f"{w.dtype.name} dtype; convert it with .long()")
    if not integral and not w.dtype.is_floating_point:
        raise RuntimeError(f"cov(): expected {what} to have floating point dtype but got {what} "
                           f"with {w.dtype.name} dtype; convert it with .float()")
    if w.numel() and bool((w.detach() < 0).any()):
        raise RuntimeError(f"cov(): {what} cannot be negative")


@composite("cov", "mean or weighted sum, sub, matmul, div")
def cov(input: Tensor, *, correction: int = 1, fweights: Tensor | None = None,
        aweights: Tensor | None = None) -> Tensor:
    """The covariance matrix of the variables in the rows of `input` (observations in columns).

    Args:
        input: a 1-D tensor (one variable) or a 2-D (variables, observations) tensor; integers
            are converted to the default float dtype.
        correction: subtracted from the number of observations (1: the unbiased estimate,
            0: the maximum-likelihood one). With weights it is scaled as in numpy.
        fweights: integer frequency weights, one per observation (>= 0).
        aweights: float observation weights, one per observation (>= 0).

    Returns:
        (variables, variables), or 0-D for a single variable. Where the degrees of freedom are
        <= 0 a warning is given and the result is inf or NaN, as in PyTorch.

    Example:
        >>> dyngraph.cov(dyngraph.tensor([[0., 1., 2.], [2., 1., 0.]]))
        tensor([[ 1., -1.],
                [-1.,  1.]])
    """
    _check_tensor("cov", input)
    if input.ndim > 2:
        raise RuntimeError(f"cov(): expected input to have two or fewer dimensions but got an "
                           f"input with {input.ndim} dimensions (shape {list(input.shape)})")
    if input.dtype is D.bool_:
        raise RuntimeError("cov(): bool dtype is not supported for input; convert it with "
                           ".float()")
    if isinstance(correction, bool) or not isinstance(correction, int):
        raise TypeError(f"cov(): argument 'correction' must be int, not "
                        f"{type(correction).__name__}")
    x = input if input.ndim == 2 else input.reshape(1, -1)
    if not x.dtype.is_floating_point:
        x = x.to(D.get_default_dtype())
    n_obs = x.shape[1]
    w = None
    if fweights is not None:
        _check_weights(fweights, "fweights", n_obs, integral=True)
        w = fweights.reshape(-1)
    if aweights is not None:
        _check_weights(aweights, "aweights", n_obs, integral=False)
        aw = aweights.reshape(-1)
        w = aw if w is None else w * aw
    if w is None:
        avg = x.mean(1, keepdim=True)
        norm_factor = n_obs - correction
        if norm_factor <= 0:
            _warn_dof()
            norm_factor = 0
    else:
        w_sum = w.sum()
        avg = (x * w).sum(1, keepdim=True) / w_sum
        if correction == 0:
            norm_factor = w_sum
        elif aweights is None:
            norm_factor = w_sum - correction
        else:
            norm_factor = w_sum - correction * (w * aweights.reshape(-1)).sum() / w_sum
        if bool(norm_factor.detach() <= 0):
            _warn_dof()
            norm_factor = norm_factor.clamp_min(0)
    xm = x - avg
    c = xm @ (xm if w is None else xm * w).mT
    return (c / norm_factor).squeeze()


def _warn_dof() -> None:
    warnings.warn("cov(): degrees of freedom is <= 0. Correction should be strictly less than the "
                  "number of observations.", UserWarning, stacklevel=3)


@composite("corrcoef", "cov, diagonal, sqrt, div, clamp")
def corrcoef(input: Tensor) -> Tensor:
    """Pearson correlation coefficients of the variables in the rows of `input`.

    The covariance matrix normalised by the standard deviations, clipped to [-1, 1]. A constant
    variable gives NaN (0 / 0), as in PyTorch and numpy.

    Args:
        input: a 1-D tensor (one variable) or a 2-D (variables, observations) tensor.

    Example:
        >>> dyngraph.corrcoef(dyngraph.tensor([[0., 1., 2.], [2., 1., 0.]]))
        tensor([[ 1., -1.],
                [-1.,  1.]])
    """
    _check_tensor("corrcoef", input)
    if input.ndim > 2:
        raise RuntimeError(f"corrcoef(): expected input to have two or fewer dimensions but got "
                           f"an input with {input.ndim} dimensions (shape {list(input.shape)})")
    c = cov(input)
    if c.ndim == 0:
        return c / c
    std = c.diagonal().sqrt()
    return (c / std.unsqueeze(1) / std.unsqueeze(0)).clamp(-1, 1)


register_method("cov")(lambda self, *, correction=1, fweights=None, aweights=None: cov(
    self, correction=correction, fweights=fweights, aweights=aweights))
register_method("corrcoef")(lambda self: corrcoef(self))


# ----------------------------------------------------------------------------------------------
# vander, pdist, chain_matmul
# ----------------------------------------------------------------------------------------------

@composite("vander", "expand, cumprod, cat, flip")
def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix of `x`: column j holds x ** (N - 1 - j) (x ** j if `increasing`).

    Args:
        x: a 1-D tensor; bool and integer inputs give int64, as in PyTorch.
        N: the number of columns (len(x) by default), >= 0.
        increasing: put the powers in increasing order.

    Example:
        >>> dyngraph.vander(dyngraph.tensor([1, 2, 3]))
        tensor([[1, 1, 1],
                [4, 2, 1],
                [9, 3, 1]])
    """
    _check_tensor("vander", x, "x")
    if x.ndim != 1:
        raise RuntimeError(f"vander: x must be a one-dimensional tensor (got shape "
                           f"{list(x.shape)})")
    n = x.shape[0]
    N = n if N is None else N
    if N < 0:
        raise RuntimeError(f"vander: N must be non-negative (got N={N}).")
    if not x.dtype.is_floating_point:
        x = x.to(D.int64)
    from .creation import ones
    from .shape import cat
    cols = ones((n, min(N, 1)), dtype=x.dtype, device=x.device)
    if N > 1:
        cols = cat([cols, x.unsqueeze(1).expand(n, N - 1).cumprod(1)], 1)
    return cols if increasing else cols.flip(1)


@composite("pdist", "triu_indices, index, cdist")
def pdist(input: Tensor, p: float = 2) -> Tensor:
    """The p-norm distance between every pair of rows i < j of `input`, in row-major order.

    Args:
        input: an (N, M) floating-point tensor.
        p: the norm, >= 0.

    Returns:
        N * (N - 1) / 2 distances: the upper triangle of `cdist(input, input, p)`.

    Example:
        >>> dyngraph.pdist(dyngraph.tensor([[0., 0.], [3., 4.], [0., 1.]]))
        tensor([5.0000, 1.0000, 4.2426])
    """
    _check_tensor("pdist", input)
    if input.ndim != 2:
        raise RuntimeError(f"pdist only supports 2D tensors, got: {input.ndim}D (shape "
                           f"{list(input.shape)})")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"pdist only supports floating-point dtypes, got {input.dtype.name}; "
                           "convert with .float()")
    if not p >= 0:
        raise RuntimeError(f"pdist only supports non-negative p values, got {p}")
    from .extras import triu_indices
    from .distances import cdist
    n = input.shape[0]
    i, j = triu_indices(n, n, 1, device=input.device)
    # one pair per batch entry: cdist's exact (no matmul) path and its p and gradient handling
    d = cdist(input[i].unsqueeze(1), input[j].unsqueeze(1), p,
              compute_mode="donot_use_mm_for_euclid_dist")
    return d.reshape(-1)


def chain_matmul(*matrices: Tensor, out: Tensor | None = None) -> Tensor:
    """Deprecated: the product of the 2-D `matrices`; use `dyngraph.linalg.multi_dot`.

    Example:
        >>> dyngraph.chain_matmul(dyngraph.ones(2, 3), dyngraph.ones(3, 2)).shape
        dyngraph.Size([2, 2])
    """
    warnings.warn("dyngraph.chain_matmul is deprecated and will be removed in a future release. "
                  "Use dyngraph.linalg.multi_dot instead, which accepts a list of two or more "
                  "tensors rather than multiple parameters.", UserWarning, stacklevel=2)
    if not matrices:
        raise RuntimeError("chain_matmul(): Expected one or more matrices")
    for k, m in enumerate(matrices):
        _check_tensor("chain_matmul", m, f"matrices[{k}]")
        if m.ndim != 2:
            raise RuntimeError(f"chain_matmul(): matrix {k} has {m.ndim} dimensions (shape "
                               f"{list(m.shape)}), expected 2")
    if len(matrices) == 1:
        return write_out(matrices[0].clone(), out, "chain_matmul")
    from .. import linalg
    return write_out(linalg.multi_dot(list(matrices)), out, "chain_matmul")


# ----------------------------------------------------------------------------------------------
# histogram and isin
# ----------------------------------------------------------------------------------------------

def _histogram_edges(x: Tensor, bins, rng, dtype: D.dtype) -> Tensor:
    from .creation import linspace
    if isinstance(bins, bool) or not isinstance(bins, int):
        raise TypeError(f"histogram(): argument 'bins' must be int or Tensor, not "
                        f"{type(bins).__name__}")
    if bins <= 0:
        raise RuntimeError(f"histogram(): bins must be > 0, but got {bins}")
    if rng is not None:
        lo, hi = (float(v) for v in rng)
    elif x.numel() == 0:
        lo, hi = 0.0, 1.0
    else:
        lo, hi = float(x.min()), float(x.max())
    if lo > hi:
        raise RuntimeError(f"histogram(): min should not exceed max, but got min {lo:g} max "
                           f"{hi:g}")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"histogram(): range of [{lo:g}, {hi:g}] is not finite; pass a "
                           "finite range=(min, max) or remove inf/NaN values")
    if lo == hi:  # numpy's and PyTorch's widening of an empty range
        lo, hi = lo - 0.5, hi + 0.5
    # PyTorch's edges can differ from these by an ulp (its vectorised linspace rounds
    # differently); only values within an ulp of an edge can land in another bin
    return linspace(lo, hi, bins + 1, dtype=dtype, device=x.device)


def histogram(input: Tensor, bins, *, range=None, weight: Tensor | None = None,  # noqa: A002
              density: bool = False, out=None) -> HistogramResult:
    """A histogram of the values of `input` (all elements, flattened).

    Args:
        input: a floating-point tensor.
        bins: the number of equal-width bins, or a 1-D tensor of increasing bin edges (of
            input's dtype).
        range: (min, max) of the bins when `bins` is a number; the data's min and max by
            default. Elements outside it are not counted.
        weight: optional weights, one per element of `input` (same shape and dtype).
        density: normalise so that the histogram integrates to 1 over the range.
        out: optional (hist, bin_edges) tensors to write into.

    Returns:
        (hist, bin_edges): the counts (sums of weights) in each bin [e_i, e_i+1), the last bin
        closed; and the edges. Not differentiable (the counts are piecewise constant).

    Example:
        >>> dyngraph.histogram(dyngraph.tensor([1., 2., 1.]), bins=4, range=(0., 3.)).hist
        tensor([0., 2., 1., 0.])
    """
    from .tensor_extras import bincount, searchsorted
    _check_tensor("histogram", input)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"histogram(): not implemented for {input.dtype.name} input; "
                           "convert it with .float()")
    x = input.detach().reshape(-1)
    if isinstance(bins, Tensor):
        if bins.ndim != 1:
            raise RuntimeError(f"histogram(): bins tensor should have one dimension, but got "
                               f"{bins.ndim} dimensions")
        if bins.dtype is not input.dtype:
            raise RuntimeError(f"histogram(): input tensor and bins tensor should have the same "
                               f"dtype, but got input with dtype {input.dtype.name} and bins "
                               f"with dtype {bins.dtype.name}")
        if bins.numel() < 2:
            raise RuntimeError(f"histogram(): bins tensor needs at least 2 edges, got "
                               f"{bins.numel()}")
        edges = bins.detach()
    else:
        edges = _histogram_edges(x, bins, range, input.dtype)
    w = None
    if weight is not None:
        _check_tensor("histogram", weight, "weight")
        if tuple(weight.shape) != tuple(input.shape):
            raise RuntimeError(f"histogram(): weight should have the same shape as the input, "
                               f"but got input with shape {list(input.shape)} and weight with "
                               f"shape {list(weight.shape)}")
        if weight.dtype is not input.dtype:
            raise RuntimeError(f"histogram(): input tensor and weight tensor should have the "
                               f"same dtype, but got input({input.dtype.name}) and "
                               f"weight({weight.dtype.name})")
        w = weight.detach().reshape(-1)
    nbins = edges.shape[0] - 1
    lo, hi = edges[0], edges[-1]
    idx = searchsorted(edges, x, right=True) - 1     # edges[i] <= x < edges[i + 1]
    idx = idx.masked_fill(x == hi, nbins - 1)        # the last bin is closed
    inside = (x >= lo) & (x <= hi)                   # False for NaN
    idx = idx.masked_fill(~inside, nbins)            # counted in an extra bin, dropped below
    hist = bincount(idx, weights=w, minlength=nbins + 1)[:nbins].to(input.dtype)
    if density:
        hist = hist / (hist.sum() * (edges[1:] - edges[:-1]))
    if out is not None:
        hist = write_out(hist, out[0], "histogram")
        edges = write_out(edges, out[1], "histogram")
    return HistogramResult(hist, edges)


register_method("histogram")(
    lambda self, bins, *, range=None, weight=None, density=False: histogram(  # noqa: A002
        self, bins, range=range, weight=weight, density=density))


def isin(elements, test_elements, *, assume_unique: bool = False,
         invert: bool = False) -> Tensor:
    """True where an element of `elements` occurs in `test_elements` (a bool tensor).

    Args:
        elements: a tensor or a number.
        test_elements: a tensor or a number (any shape; only its values matter).
        assume_unique: accepted for PyTorch compatibility (the result is the same either way).
        invert: give True where the element does not occur.

    Values are compared after type promotion (int 2 is in [2.0]); NaN is in nothing. It sorts
    `test_elements` and binary-searches it: O((n + m) log m).

    Example:
        >>> dyngraph.isin(dyngraph.tensor([1, 2, 3]), dyngraph.tensor([2, 5]))
        tensor([False,  True, False])
    """
    from .creation import full, tensor
    from .tensor_extras import searchsorted
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError(f"isin(): expected elements or test_elements to be a Tensor, got "
                        f"{type(elements).__name__} and {type(test_elements).__name__}")
    if not isinstance(elements, Tensor):
        elements = tensor(elements, device=test_elements.device)
    if not isinstance(test_elements, Tensor):
        test_elements = tensor(test_elements, device=elements.device)
    for t in (elements, test_elements):
        if t.dtype is D.bool_:
            raise RuntimeError("Unsupported input type encountered for isin(): Bool; convert "
                               "the tensors with .int()")
    dt = D.result_type(elements, test_elements)
    e = elements.detach().to(dt)
    s = test_elements.detach().to(dt).reshape(-1)
    if s.numel() == 0:
        return full(tuple(e.shape), bool(invert), dtype=D.bool_, device=e.device)
    s = s.sort().values
    # NaN sorts last; searching among NaNs would misplace values, so search +inf in their place
    # (the comparison below is against the true values, and NaN equals nothing)
    key = s.masked_fill(s.isnan(), math.inf) if s.dtype.is_floating_point else s
    pos = searchsorted(key, e).clamp_max(s.numel() - 1)
    found = s[pos] == e
    return ~found if invert else found


composite("isin", "sort, searchsorted, index, eq")(isin)
composite("histogram", "linspace, searchsorted, masked_fill, bincount")(histogram)


# ----------------------------------------------------------------------------------------------
# gcd, lcm, ldexp, poisson, is_complex
# ----------------------------------------------------------------------------------------------

@nondiff("gcd", OpKind.INDEX, "integer-only output; Euclid's loop runs a data-dependent number "
         "of steps, so there is no elementwise lowering (compiled code runs it on the "
         "interpreter)")
def gcd_op(xp, a, b):
    return xp.gcd(a, b)


def _check_integral(op: str, a, b) -> None:
    for t in (a, b):
        if isinstance(t, Tensor) and (t.dtype.is_floating_point or t.dtype is D.bool_):
            raise RuntimeError(f"{op}: not implemented for {t.dtype.name} tensors; it needs "
                               "integer tensors (convert with .long())")


def gcd(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The greatest common divisor of each pair of elements (>= 0; gcd(0, 0) = 0), for integer
    tensors (broadcast).

    Example:
        >>> dyngraph.gcd(dyngraph.tensor([5, 10, 15]), dyngraph.tensor([3, 4, 5]))
        tensor([1, 2, 5])
    """
    _check_tensor("gcd", input)
    _check_tensor("gcd", other, "other")
    _check_integral("gcd", input, other)
    _broadcast("gcd", input.shape, other.shape)
    return write_out(apply(gcd_op, input, other), out, "gcd")


@composite("lcm", "gcd, eq, where, div, mul, abs")
def lcm(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The least common multiple of each pair of elements (>= 0; 0 where either is 0), for
    integer tensors (broadcast). Like PyTorch, results beyond the dtype's range wrap around.

    Example:
        >>> dyngraph.lcm(dyngraph.tensor([5, 10, 15]), dyngraph.tensor([3, 4, 5]))
        tensor([15, 20, 15])
    """
    from .elementwise import where
    _check_tensor("lcm", input)
    _check_tensor("lcm", other, "other")
    _check_integral("lcm", input, other)
    g = gcd(input, other)
    zero = g == 0
    q = input.div(where(zero, 1, g), rounding_mode="trunc")
    # the product in int64, wrapped to the dtype after abs: PyTorch's C++ promotes small ints
    dt = q.dtype
    prod = (q.to(D.int64) * other.to(D.int64)).abs().to(dt)
    return write_out(where(zero, 0, prod), out, "lcm")


@composite("ldexp", "exp2, mul")
def ldexp(input: Tensor, other: Tensor, *, out: Tensor | None = None) -> Tensor:
    """input * 2 ** other, elementwise (integer inputs give the default float dtype).

    Example:
        >>> dyngraph.ldexp(dyngraph.tensor([1.0, 3.0]), dyngraph.tensor([2, -1]))
        tensor([4.0000, 1.5000])
    """
    _check_tensor("ldexp", input)
    _check_tensor("ldexp", other, "other")
    dt = D.result_type(input, other)
    if not dt.is_floating_point:
        dt = D.get_default_dtype()
    return write_out(input.to(dt) * other.to(dt).exp2(), out, "ldexp")


@nondiff("poisson", OpKind.CREATION, "a random draw has no gradient (PyTorch's is zero)",
         dtype_rule="none")
def poisson_op(xp, rates, *, generator):
    from ._random import _gen
    from .._device import device
    dev = device("cpu") if xp is np else device(f"cuda:{rates.device.id}")
    g = _gen(generator, dev)
    # numpy returns a Python int for 0-d rates: asarray keeps it an array
    return xp.asarray(g._stream().poisson(rates.astype(np.float64))).astype(rates.dtype)


def poisson(input: Tensor, generator=None) -> Tensor:
    """A draw from the Poisson distribution with rate `input`, elementwise (same dtype).

    Args:
        input: the rates, a floating-point tensor of values >= 0.
        generator: the `dyngraph.Generator` to draw from (the default one if None).

    Example:
        >>> g = dyngraph.Generator().manual_seed(0)
        >>> dyngraph.poisson(dyngraph.tensor([0.0, 0.0]), generator=g)
        tensor([0., 0.])
    """
    _check_tensor("poisson", input)
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"poisson: not implemented for {input.dtype.name} input; the rates "
                           "must be floating point (convert with .float())")
    if input.numel() and not bool((input.detach() >= 0).all()):
        raise RuntimeError("poisson: invalid rate: the rates must be non-negative (and not NaN)")
    return apply(poisson_op, input.detach(), generator=generator)


def is_complex(input: Tensor) -> bool:
    """False: dyngraph has no complex dtypes."""
    _check_tensor("is_complex", input)
    return False


register_method_pair("gcd", gcd)


register_method_pair("lcm", lcm)


register_method_pair("ldexp", ldexp)


register_method("is_complex")(is_complex)
