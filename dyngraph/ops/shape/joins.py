"""Slicing views (narrow, select, split, chunk, unbind) and joins (cat, stack, hstack, vstack,
dstack)."""

from __future__ import annotations

import builtins

import numpy as np

from ..._dispatch import state
from .._api import Tensor, apply, register_method, wrap_dim, write_out
from ..index import getitem_op
from ..registry import OpKind, composite, defop
from .views import unsqueeze

MOVEMENT = OpKind.MOVEMENT


# ----------------------------------------------------------------------------------------------
# slicing views: narrow, select, split, chunk, unbind
# ----------------------------------------------------------------------------------------------

def _slice_at(input: Tensor, d: int, k) -> Tensor:
    return apply(getitem_op, input, key=(slice(None),) * d + (k,))


def _pieces(input: Tensor, d: int, keys, name: str, stacked: bool) -> tuple:
    """The slices `keys` of dim `d`. Recorded eagerly, they share one backward that stacks or
    concatenates their gradients (autograd/graph.py: join_backward), linear in the input's
    size; a trace records one getitem per piece."""
    if len(keys) > 1 and input._rg and state.grad_enabled and state.tracer is None:
        from ...autograd.graph import join_backward
        state.grad_enabled = False
        try:
            pieces = [_slice_at(input, d, k) for k in keys]
        finally:
            state.grad_enabled = True
        return tuple(join_backward(name, input, pieces, d, stacked))
    return tuple(_slice_at(input, d, k) for k in keys)


@composite("narrow", "getitem with a slice at dim")
def narrow(input: Tensor, dim: int, start, length: int) -> Tensor:
    """The slice `start:start+length` of dimension `dim` (a view).

    Example:
        >>> dyngraph.arange(6).narrow(0, 1, 3)
        tensor([1, 2, 3])
    """
    if input.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, input.ndim, "narrow")
    n = input.shape[d]
    start, length = int(start), int(length)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start out of range (expected to be in range of [{-n}, {n}], "
                         f"but got {start})")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise RuntimeError(f"narrow: start ({start}) + length ({length}) exceeds dimension size "
                           f"({n}) of dim {d} (tensor shape {list(input.shape)})")
    return _slice_at(input, d, slice(start, start + length))


Tensor.narrow = narrow


@composite("select", "getitem with an int at dim")
def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The slice at `index` of dimension `dim`, with that dimension removed (a view)."""
    if input.ndim == 0:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    d = wrap_dim(dim, input.ndim, "select")
    n = input.shape[d]
    index = int(index)
    if not -n <= index < n:
        raise IndexError(f"select(): index {index} out of range for tensor of size "
                         f"{list(input.shape)} at dimension {d}")
    return _slice_at(input, d, index)


Tensor.select = select


@composite("split", "getitem with slices at dim")
def split(tensor: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Split into pieces of `split_size_or_sections` (an int: the last may be smaller; a list:
    the sizes, which must add up to the dimension's size). The pieces are views.

    Example:
        >>> [p.tolist() for p in dyngraph.arange(5).split([2, 3])]
        [[0, 1], [2, 3, 4]]
    """
    if tensor.ndim == 0:
        raise RuntimeError("split: expected at least a 1-dimensional tensor")
    d = wrap_dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)) or (
            isinstance(split_size_or_sections, Tensor) and split_size_or_sections.ndim == 0):
        size = int(split_size_or_sections)
        if size < 0 or (size == 0 and n != 0):
            raise RuntimeError(f"split: split_size can only be 0 if dimension size is 0, but got "
                               f"split_size={size} for dimension size {n}")
        if n == 0:
            return (_slice_at(tensor, d, slice(0, 0)),)
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.min(sizes, default=0) < 0:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input "
                               f"tensor's size at dimension {d}), but got split_sizes={sizes}")
    keys, start = [], 0
    for s in sizes:
        keys.append(slice(start, start + s))
        start += s
    return _pieces(tensor, d, keys, "split", stacked=False)


@register_method("split")
def _split_method(self, split_size, dim: int = 0):
    """`split` as a method (`split_size` is an int or a list of sizes)."""
    return split(self, split_size, dim)


@composite("chunk", "split")
def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Split into `chunks` views of equal size (the last may be smaller; there may be fewer)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if input.ndim == 0:
        raise RuntimeError("chunk expects at least a 1-dimensional tensor")
    d = wrap_dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    if n == 0:
        return tuple(_slice_at(input, d, slice(0, 0)) for _ in range(chunks))
    return split(input, -(-n // chunks), d)


Tensor.chunk = chunk


@composite("unbind", "getitem with an int at dim, once per index")
def unbind(input: Tensor, dim: int = 0) -> tuple:
    """The slices along `dim`, each with that dimension removed (views)."""
    if input.ndim == 0:
        raise IndexError("unbind: dimension specified as 0 but tensor has no dimensions")
    d = wrap_dim(dim, input.ndim, "unbind")
    return _pieces(input, d, range(input.shape[d]), "unbind", stacked=True)


Tensor.unbind = unbind


# ----------------------------------------------------------------------------------------------
# cat / stack
# ----------------------------------------------------------------------------------------------

@defop("cat", MOVEMENT, doc="concatenate along an existing dimension")
def cat_op(xp, *xs, dim):
    return xp.concatenate(xs, axis=dim)


@cat_op.def_grad
def _(ctx, g):
    dim = ctx.attrs["dim"]
    out, start = [], 0
    for shape, _ in ctx.in_meta:
        n = shape[dim]
        out.append(_slice_at(g, dim, slice(start, start + n)))
        start += n
    return tuple(out)


def cat(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Concatenate tensors (dtypes promoted) along an existing dimension.

    Example:
        >>> dyngraph.cat([dyngraph.zeros(1, 2), dyngraph.ones(2, 2)]).shape
        dyngraph.Size([3, 2])
    """
    if isinstance(tensors, Tensor):
        raise TypeError("cat(): argument 'tensors' must be a sequence of Tensors, not Tensor")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    for i, x in enumerate(tensors):
        if not isinstance(x, Tensor):
            raise TypeError(f"cat(): expected a sequence of Tensors, but element {i} is "
                            f"{type(x).__name__}")
        if x.ndim == 0:
            raise RuntimeError(f"cat(): zero-dimensional tensor (at position {i}) cannot be "
                               "concatenated; use stack() or unsqueeze it first")
    # PyTorch skips 1-D empty tensors (legacy behaviour).
    kept = [x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)] or tensors[:1]
    ref = kept[0]
    d = wrap_dim(dim, ref.ndim, "cat")
    for i, x in enumerate(kept):
        if x.ndim != ref.ndim:
            raise RuntimeError(f"cat(): tensors must have same number of dimensions: got "
                               f"{ref.ndim} and {x.ndim} (shapes {list(ref.shape)} and "
                               f"{list(x.shape)})")
        for j in range(ref.ndim):
            if j != d and x.shape[j] != ref.shape[j]:
                raise RuntimeError(
                    f"cat(): sizes of tensors must match except in dimension {d}. Expected size "
                    f"{ref.shape[j]} but got size {x.shape[j]} for tensor number {i} in the list "
                    f"(shapes {list(ref.shape)} and {list(x.shape)}).")
    return write_out(apply(cat_op, *kept, dim=d), out, "cat")


concat = concatenate = cat


def stack(tensors, dim: int = 0, *, out=None) -> Tensor:
    """Join tensors of equal shape along a new dimension `dim`.

    Example:
        >>> dyngraph.stack([dyngraph.zeros(2), dyngraph.ones(2)], dim=1)
        tensor([[0., 1.],
                [0., 1.]])
    """
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    s0 = tensors[0].shape
    for i, x in enumerate(tensors):
        if x.shape != s0:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(s0)} at "
                               f"entry 0 and {list(x.shape)} at entry {i}")
    d = wrap_dim(dim, len(s0) + 1, "stack")
    return cat([unsqueeze(x, d) for x in tensors], d, out=out)


def hstack(tensors, *, out=None) -> Tensor:
    """Concatenate along dim 1 (dim 0 for 1-D tensors)."""
    tensors = [x.reshape(1) if x.ndim == 0 else x for x in tensors]
    return cat(tensors, 0 if tensors and tensors[0].ndim == 1 else 1, out=out)


def vstack(tensors, *, out=None) -> Tensor:
    """Concatenate along dim 0 after making every tensor at least 2-D."""
    return cat([x.reshape(1, -1) if x.ndim < 2 else x for x in tensors], 0, out=out)


row_stack = vstack


def dstack(tensors, *, out=None) -> Tensor:
    """Concatenate along dim 2 after making every tensor at least 3-D."""
    def at_least_3d(x):
        if x.ndim == 0:
            return x.reshape(1, 1, 1)
        if x.ndim == 1:
            return x.reshape(1, -1, 1)
        return x.unsqueeze(-1) if x.ndim == 2 else x
    return cat([at_least_3d(x) for x in tensors], 2, out=out)


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
