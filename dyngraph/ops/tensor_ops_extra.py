"""PyTorch's remaining indexing, scattering and shape functions, and the real-dtype forms of its
complex-number API.

- `trace`, `Tensor.unfold`, `as_strided`: a sum of a diagonal and two strided views.
- `addbmm`, `addr`: beta * input + alpha * (a batch of matrix products summed / an outer
  product).
- `Tensor.fill_diagonal_`, `unique_consecutive`, `split_with_sizes`, `narrow_copy`,
  `unsafe_chunk`, `unsafe_split`.
- scatter_reduce, index_reduce, masked_scatter, put, select_scatter, slice_scatter (in
  _scatter_extra.py, re-exported here).
- Tensor metadata: `is_nonzero`, `is_same_size`, `is_signed`, `get_device`, `is_cpu`,
  `is_inference`, and the complex API on real tensors (dyngraph has no complex dtypes):
  `conj`, `conj_physical`, `resolve_conj`, `resolve_neg` return the input, `is_conj`/`is_neg`
  are False, `adjoint` is a transpose, `real` is the tensor itself; `imag` and `cfloat()`
  raise, as PyTorch does for real tensors (or would, lacking complex support).

The primitives added to the op table are `unfold` and `as_strided` (kind MOVEMENT, views made
with numpy/cupy stride tricks) and `scatter_reduce` (kind INDEX); compiled code runs them on
the interpreter. unique_consecutive is built on `nonzero`, so under `dyngraph.compile` it
splits the graph where its output size is decided, as `unique` does.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _dtype as D
from ._api import (Tensor, apply, inplace, register_method, register_method_pair, wrap_dim,
                   write_out)
from ._scatter_extra import (index_reduce, masked_scatter, put, scatter_reduce,  # noqa: F401
                             select_scatter, slice_scatter)
from .index import TensorSlot, index_add, index_put_op, index_select, nonzero
from .registry import OpKind, composite, defop
from .shape import chunk, diagonal, movedim, narrow, split
from .shape.reorder import _as_strided

MOVEMENT = OpKind.MOVEMENT

__all__ = [
    "trace", "as_strided", "addbmm", "addr", "unique_consecutive", "split_with_sizes",
    "narrow_copy", "unsafe_chunk", "unsafe_split", "scatter_reduce", "index_reduce",
    "masked_scatter", "put", "select_scatter", "slice_scatter", "is_nonzero", "is_same_size",
    "is_signed", "get_device", "is_inference", "is_neg", "is_conj", "resolve_conj",
    "resolve_neg", "conj", "conj_physical", "conj_physical_", "adjoint", "real", "imag",
]


def _index_tensor(values: np.ndarray, like: Tensor) -> Tensor:
    """Positions computed in numpy from shapes alone, as an int64 tensor on like's device."""
    from .creation import tensor
    return tensor(values.astype(np.int64, copy=False), device=like.device)


# ----------------------------------------------------------------------------------------------
# trace, unfold, as_strided
# ----------------------------------------------------------------------------------------------

@composite("trace", "diagonal + sum")
def trace(input: Tensor) -> Tensor:
    """The sum of the main diagonal of a 2-D tensor (int64 for integer inputs).

    Example:
        >>> dyngraph.trace(dyngraph.arange(9.).reshape(3, 3))
        tensor(12.)
    """
    if input.ndim != 2:
        raise RuntimeError(f"trace: expected a matrix, but got tensor with dim {input.ndim}")
    if input.dtype is D.bool_:
        raise NotImplementedError('"trace" not implemented for \'Bool\'')
    return diagonal(input).sum()


Tensor.trace = trace


@defop("unfold", MOVEMENT, dtype_rule="none", is_view=True,
       doc="windows of `size` every `step` along dim, as a new last dim (a view)")
def unfold_op(xp, x, dim, size, step):
    if x.ndim == 0:
        return x.reshape(1)[:size]
    count = (x.shape[dim] - size) // step + 1
    shape = x.shape[:dim] + (count,) + x.shape[dim + 1:] + (size,)
    st = x.strides
    strides = st[:dim] + (st[dim] * step,) + st[dim + 1:] + (st[dim],)
    return _as_strided(xp, x, shape, strides)


@unfold_op.def_grad
def _(ctx, g):
    from .creation import zeros
    shape, dt = ctx.in_meta[0]
    dim, size, step = ctx.attrs["dim"], ctx.attrs["size"], ctx.attrs["step"]
    if not shape:
        return (g.sum().to(dt),)
    count = g.shape[dim]
    # window c, element s came from position c * step + s along dim
    pos = (np.arange(count)[:, None] * step + np.arange(size)).reshape(-1)
    gw = movedim(g, -1, dim + 1)
    gw = gw.reshape(tuple(shape[:dim]) + (count * size,) + tuple(shape[dim + 1:]))
    return (index_add(zeros(shape, dtype=dt, device=g.device), dim, _index_tensor(pos, g), gw),)


@register_method("unfold")
def unfold(self, dimension: int, size: int, step: int) -> Tensor:
    """All windows of `size` elements, `step` apart, along `dimension` (a view).

    The windows become dimension `dimension` (there are (n - size) // step + 1 of them) and
    their elements a new last dimension. A 0-d tensor acts as one element.

    Args:
        dimension: the dimension to slide along.
        size: the window length (at most the dimension's size).
        step: the distance between window starts (> 0).

    Example:
        >>> dyngraph.arange(5.).unfold(0, 2, 2)
        tensor([[0., 1.],
                [2., 3.]])
    """
    d = wrap_dim(dimension, max(self.ndim, 1), "unfold")   # a 0-d tensor has one dim here
    n = self.shape[d] if self.ndim else 1
    size, step = int(size), int(step)
    if size < 0:
        raise RuntimeError(f"unfold: size is {size} but must be >= 0")
    if size > n:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {d} is {n} but size "
                           f"is {size}")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    return apply(unfold_op, self, dim=d, size=size, step=step)


@defop("as_strided", MOVEMENT, dtype_rule="none", is_view=True,
       doc="a view of the (C-contiguous) elements with the given sizes, strides and offset")
def as_strided_op(xp, x, size, stride, offset):
    if math.prod(size) == 0:
        return xp.zeros(size, dtype=x.dtype)
    flat = x.reshape(-1)[offset:]
    return _as_strided(xp, flat, size, tuple(s * x.itemsize for s in stride))


@as_strided_op.def_grad
def _(ctx, g):
    from .creation import zeros
    shape, dt = ctx.in_meta[0]
    size, stride, offset = ctx.attrs["size"], ctx.attrs["stride"], ctx.attrs["offset"]
    pos = np.full(size, offset, dtype=np.int64)
    for d, (n, s) in enumerate(zip(size, stride)):
        pos = pos + (np.arange(n) * s).reshape((n,) + (1,) * (len(size) - d - 1))
    flat = zeros((math.prod(shape),), dtype=dt, device=g.device)
    gx = apply(index_put_op, flat, g.reshape(-1), _index_tensor(pos.reshape(-1), g),
               key=(TensorSlot(0),), accumulate=True)   # overlapping elements add up
    return (gx.reshape(shape),)


def as_strided(input: Tensor, size, stride, storage_offset: int | None = None) -> Tensor:
    """A view of `input`'s elements with the given `size`, `stride` and `storage_offset`.

    Strides and the offset count elements of the storage. dyngraph sees only the input's own
    elements, so the input must be contiguous and the view must stay inside it: the offset is
    at least `input.storage_offset()` (its default) and the last element addressed is one of
    the input's. Within those limits the result is PyTorch's. Elements the view repeats
    (overlapping windows, zero strides) add up their gradients.

    Args:
        input: a contiguous tensor.
        size: the view's shape.
        stride: one non-negative stride (in elements) per dimension of `size`.
        storage_offset: where the view starts in the storage (default: where input starts).

    Example:
        >>> dyngraph.arange(6.).as_strided((2, 2), (1, 2))
        tensor([[0., 2.],
                [1., 3.]])
    """
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise RuntimeError(f"as_strided: mismatch in length of strides and shape (size "
                           f"{list(size)}, stride {list(stride)})")
    if any(s < 0 for s in size):
        raise RuntimeError(f"as_strided: Storage size calculation overflowed with sizes="
                           f"{list(size)} and strides={list(stride)}")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"as_strided: Negative strides are not supported at the moment, got "
                           f"strides: {list(stride)}")
    if not input.is_contiguous():
        raise RuntimeError(f"as_strided: dyngraph needs a contiguous input (got shape "
                           f"{list(input.shape)}, stride {list(input.stride())}); call "
                           ".contiguous() first")
    base = input.storage_offset()
    offset = base if storage_offset is None else int(storage_offset)
    if offset < 0:
        raise RuntimeError(f"as_strided: Tensor: invalid storage offset {offset}")
    if offset < base:
        raise RuntimeError(f"as_strided: storage offset {offset} is before the input's first "
                           f"element (its storage_offset() is {base}); dyngraph can address "
                           "only the input's own elements")
    n = input.numel()
    if math.prod(size):
        need = offset - base + sum((k - 1) * s for k, s in zip(size, stride)) + 1
        if need > n:
            item = input.dtype.itemsize
            raise RuntimeError(
                f"as_strided: sizes {list(size)}, strides {list(stride)}, storage offset "
                f"{offset}, and itemsize {item} requiring a storage size of "
                f"{(need + base) * item} are out of bounds for storage of size "
                f"{(n + base) * item} (dyngraph addresses only the input's own elements)")
    return apply(as_strided_op, input, size=size, stride=stride, offset=offset - base)


Tensor.as_strided = as_strided


# ----------------------------------------------------------------------------------------------
# addbmm, addr
# ----------------------------------------------------------------------------------------------

def _check_result_shape(op: str, input: Tensor, shape: tuple) -> None:
    """input must broadcast to the product's shape (it cannot enlarge the result)."""
    ishape = tuple(input.shape)
    ok = len(ishape) <= len(shape) and all(
        i in (1, s) for i, s in zip(ishape[::-1], shape[::-1]))
    if not ok:
        raise RuntimeError(f"{op}: The expanded size of the tensor must match the existing size: "
                           f"input of shape {list(ishape)} cannot be broadcast to the product's "
                           f"shape {list(shape)}")


def _scaled_sum(op: str, input: Tensor, prod: Tensor, beta, alpha) -> Tensor:
    """beta * input + alpha * prod, with PyTorch's rules for integer scalars and beta=0."""
    _check_result_shape(op, input, tuple(prod.shape))
    dt = D.promote_types(input.dtype, prod.dtype)
    if not dt.is_floating_point and dt is not D.bool_:
        for name, v in (("beta", beta), ("alpha", alpha)):
            if isinstance(v, float):
                raise RuntimeError(f"{op}: For integral input tensors, argument {name} must not "
                                   "be a floating point number.")
    if dt is D.bool_:   # logical and/or, as in PyTorch
        from .creation import zeros_like
        r = prod if alpha else zeros_like(prod)
        return r | input if beta else r
    r = prod if alpha == 1 else prod * alpha
    if beta == 0:       # input is ignored (its NaNs too), as in PyTorch
        return r.to(dt) if r.dtype is not dt else r
    return r + (input if beta == 1 else input * beta)


@composite("addbmm", "reshape + matmul + mul + add")
def addbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *, beta=1, alpha=1,
           out=None) -> Tensor:
    """beta * input + alpha * (batch1[0] @ batch2[0] + ... + batch1[b-1] @ batch2[b-1]).

    Args:
        input: broadcastable to the (n, p) result.
        batch1: (b, n, m) matrices.
        batch2: (b, m, p) matrices.
        beta: the input's factor (0: the input is ignored, NaNs included).
        alpha: the products' factor.
        out: optional output tensor.

    Example:
        >>> dyngraph.addbmm(dyngraph.zeros(2, 2), dyngraph.ones(3, 2, 4), dyngraph.ones(3, 4, 2))
        tensor([[12., 12.],
                [12., 12.]])
    """
    from .linalg import matmul
    for name, t in (("batch1", batch1), ("batch2", batch2)):
        if t.ndim != 3:
            raise RuntimeError(f"addbmm: {name} must be a 3D tensor (got shape "
                               f"{list(t.shape)})")
    b, n, m = batch1.shape
    b2, m2, p = batch2.shape
    if b != b2:
        raise RuntimeError(f"addbmm: batch1 and batch2 must have same number of batches, got "
                           f"{b} and {b2}")
    if m != m2:
        raise RuntimeError(f"addbmm: Incompatible matrix sizes for bmm ({n}x{m} and {m2}x{p})")
    for t in (batch1, batch2):
        if t.dtype is not input.dtype:
            raise RuntimeError(f"addbmm: self and mat2 must have the same dtype, but got "
                               f"{input.dtype.name} and {t.dtype.name}")
    # one (n, b*m) @ (b*m, p) product sums over the batch and the inner dim together
    prod = matmul(batch1.permute(1, 0, 2).reshape(n, b * m), batch2.reshape(b * m, p))
    return write_out(_scaled_sum("addbmm", input, prod, beta, alpha), out, "addbmm")


register_method_pair("addbmm", addbmm)


@composite("addr", "outer + mul + add")
def addr(input: Tensor, vec1: Tensor, vec2: Tensor, *, beta=1, alpha=1, out=None) -> Tensor:
    """beta * input + alpha * outer(vec1, vec2) (logical and/or for bool tensors).

    Args:
        input: broadcastable to the (len(vec1), len(vec2)) result.
        vec1, vec2: 1-D tensors; dtypes promote as in PyTorch.
        beta: the input's factor (0: the input is ignored, NaNs included).
        alpha: the outer product's factor.
        out: optional output tensor.

    Example:
        >>> v = dyngraph.tensor([1., 2.])
        >>> dyngraph.addr(dyngraph.zeros(2, 2), v, v + 2)
        tensor([[3., 4.],
                [6., 8.]])
    """
    for name, v in (("vec1", vec1), ("vec2", vec2)):
        if v.ndim != 1:
            raise RuntimeError(f"addr: Expected 1-D argument {name}, but got {v.ndim}-D")
    if vec1.dtype is D.bool_ and vec2.dtype is D.bool_:
        prod = vec1.reshape(-1, 1) & vec2.reshape(1, -1)
    else:
        prod = vec1.reshape(-1, 1) * vec2.reshape(1, -1)
    return write_out(_scaled_sum("addr", input, prod, beta, alpha), out, "addr")


register_method_pair("addr", addr)


# ----------------------------------------------------------------------------------------------
# fill_diagonal_, unique_consecutive, splits
# ----------------------------------------------------------------------------------------------

def _diagonal_positions(shape: tuple, wrap: bool) -> np.ndarray:
    """Row-major positions of the main diagonal (PyTorch's fill_diagonal_, wrap included)."""
    nd = len(shape)
    height, width = shape[0], shape[1]
    size = min(height, width)
    step = sum(math.prod(shape[i + 1:]) for i in range(nd))
    pos = np.arange(size) * step
    if wrap and nd == 2 and height > width + 1:
        # the diagonal restarts every width + 1 rows
        wrap_size = -(-math.prod(shape) // (width + 1)) - size
        pos = np.concatenate([pos, width * (width + 1) + np.arange(wrap_size) * (width + 1)])
    return pos


def _fill_diagonal(input: Tensor, fill_value, wrap: bool) -> Tensor:
    from .creation import full
    pos = _diagonal_positions(tuple(input.shape), wrap)
    value = full((), fill_value, dtype=input.dtype, device=input.device)
    r = apply(index_put_op, input.reshape(-1), value, _index_tensor(pos, input),
              key=(TensorSlot(0),), accumulate=False)
    return r.reshape(input.shape)


@register_method("fill_diagonal_")
def fill_diagonal_(self, fill_value, wrap: bool = False) -> Tensor:
    """Fill the main diagonal (elements with all indices equal) with `fill_value`, in place.

    Args:
        fill_value: a number.
        wrap: for a 2-D tensor with more rows than columns + 1, start the diagonal again after
            every `columns + 1` rows (numpy's fill_diagonal).

    Example:
        >>> dyngraph.zeros(2, 3).fill_diagonal_(5.)
        tensor([[5., 0., 0.],
                [0., 5., 0.]])
    """
    if self.ndim < 2:
        raise RuntimeError(f"fill_diagonal_: dimensions must larger than 1 (got a "
                           f"{self.ndim}-D tensor)")
    if self.ndim > 2 and len(set(self.shape)) != 1:
        raise RuntimeError(f"fill_diagonal_: all dimensions of input must be of equal length "
                           f"(got shape {list(self.shape)})")
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    if self.numel() == 0:
        return self
    return inplace(lambda t: _fill_diagonal(t, fill_value, bool(wrap)), self,
                   opname="fill_diagonal_")


def unique_consecutive(input: Tensor, return_inverse: bool = False,
                       return_counts: bool = False, dim: int | None = None):
    """Remove all but the first of each run of equal consecutive elements (or slices).

    Args:
        input: the tensor (flattened when `dim` is None).
        return_inverse: also return, for each input element (slice), the index of its run.
        return_counts: also return the length of each run.
        dim: compare whole slices along this dimension instead of elements.

    Returns:
        The values, or a tuple (values, [inverse], [counts]). Not differentiable. NaNs never
        equal each other, so each NaN is a run of its own.

    The number of runs depends on the values, so under `dyngraph.compile` the graph splits
    after it (and a later call with another number traces a new path), as with `unique`.

    Example:
        >>> dyngraph.unique_consecutive(dyngraph.tensor([1, 1, 2, 1]), return_counts=True)
        (tensor([1, 2, 1]), tensor([2, 1, 1]))
    """
    from .creation import ones, tensor, zeros
    from .reduction import cumsum
    from .shape import cat
    x = input.detach()
    if dim is None:
        flat, d = x.reshape(-1), 0
    else:
        if x.ndim == 0:
            raise IndexError("unique_consecutive: Dimension specified as 0 but tensor has no "
                             "dimensions")
        d = wrap_dim(dim, x.ndim, "unique_consecutive")
        flat = movedim(x, d, 0)
    n = flat.shape[0]
    if n and flat.numel() == 0:
        raise RuntimeError("unique_consecutive: There are 0 sized dimensions, and they aren't "
                           "selected, so unique cannot be applied")
    dev = x.device
    if n == 0:
        values = x.clone() if dim is not None else flat.clone()
        inverse = zeros(tuple(x.shape) if dim is None else (0,), dtype=D.int64, device=dev)
        counts = zeros((0,), dtype=D.int64, device=dev)
    else:
        change = flat[1:] != flat[:-1]
        if flat.ndim > 1:
            change = change.flatten(1).any(1)
        first = cat([ones((1,), dtype=D.bool_, device=dev), change])
        starts = nonzero(first).reshape(-1)   # the graph break: the number of runs
        values = index_select(flat, 0, starts) if dim is None else index_select(x, d, starts)
        inverse = cumsum(first, 0) - 1
        if dim is None:
            inverse = inverse.reshape(x.shape)
        counts = cat([starts[1:], tensor([n], device=dev)]) - starts
    if not (return_inverse or return_counts):
        return values
    return (values,) + ((inverse,) if return_inverse else ()) + \
        ((counts,) if return_counts else ())


Tensor.unique_consecutive = unique_consecutive


@composite("split_with_sizes", "split")
def split_with_sizes(input: Tensor, split_sizes, dim: int = 0) -> tuple:
    """Split into views of the given sizes along `dim` (they must add up to its size).

    Example:
        >>> [p.tolist() for p in dyngraph.arange(5).split_with_sizes([2, 3])]
        [[0, 1], [2, 3, 4]]
    """
    if isinstance(split_sizes, (int, np.integer)):
        raise TypeError(f"split_with_sizes(): argument 'split_sizes' must be a sequence of ints, "
                        f"not {type(split_sizes).__name__}")
    return split(input, [int(s) for s in split_sizes], dim)


Tensor.split_with_sizes = split_with_sizes


@composite("narrow_copy", "narrow + copy")
def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """`narrow` as a new tensor (a copy, not a view)."""
    return narrow(input, dim, start, length).clone()


Tensor.narrow_copy = narrow_copy


def unsafe_chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """`chunk` (PyTorch's form skips view checks; dyngraph's views need none)."""
    return chunk(input, chunks, dim)


def unsafe_split(tensor: Tensor, split_size, dim: int = 0) -> tuple:
    """`split` (PyTorch's form skips view checks; dyngraph's views need none)."""
    return split(tensor, split_size, dim)


Tensor.unsafe_chunk = unsafe_chunk
Tensor.unsafe_split = unsafe_split


# ----------------------------------------------------------------------------------------------
# Metadata, and the complex-number API on real tensors
# ----------------------------------------------------------------------------------------------

def is_nonzero(input: Tensor) -> bool:
    """Whether a one-element tensor is not zero (False, 0 and 0.0 are zero; NaN is not)."""
    n = input.numel()
    if n == 0:
        raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(input.item() != 0)


def is_same_size(input: Tensor, other: Tensor) -> bool:
    """Whether the two tensors have the same shape."""
    return tuple(input.shape) == tuple(other.shape)


def is_signed(input: Tensor) -> bool:
    """Whether the dtype holds negative numbers (False for bool and uint8)."""
    return input.dtype.is_signed


def get_device(input: Tensor) -> int:
    """The CUDA device index of the tensor, or -1 for a CPU tensor."""
    dev = input.device
    return -1 if dev.type == "cpu" else (dev.index or 0)


def is_inference(input: Tensor) -> bool:
    """Always False: dyngraph's `inference_mode` does not mark the tensors it creates."""
    return False


def is_neg(input: Tensor) -> bool:
    """Always False: dyngraph has no lazy negation bit."""
    return False


def is_conj(input: Tensor) -> bool:
    """Always False: dyngraph has no complex dtypes, so no lazy conjugation bit."""
    return False


def resolve_conj(input: Tensor) -> Tensor:
    """The input itself (there is never a conjugation bit to apply)."""
    return input


def resolve_neg(input: Tensor) -> Tensor:
    """The input itself (there is never a negation bit to apply)."""
    return input


def conj(input: Tensor) -> Tensor:
    """The complex conjugate: for dyngraph's real dtypes, the input itself (as in PyTorch)."""
    return input


def conj_physical(input: Tensor, *, out=None) -> Tensor:
    """The complex conjugate: for dyngraph's real dtypes, the input itself (as in PyTorch)."""
    return write_out(input, out, "conj_physical")


def conj_physical_(input: Tensor) -> Tensor:
    """In-place `conj_physical`: nothing to change for a real tensor."""
    return input


def adjoint(input: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims: for real tensors a transpose (a view)."""
    if input.ndim < 2:
        raise RuntimeError(f"tensor.adjoint() is only supported on matrices or batches of "
                           f"matrices. Got {input.ndim}-D tensor.")
    return input.transpose(-2, -1)


def real(input: Tensor) -> Tensor:
    """The real part: for dyngraph's real dtypes, the input itself (as in PyTorch)."""
    return input


def imag(input: Tensor) -> Tensor:
    """The imaginary part: an error for real dtypes, as in PyTorch."""
    raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")


for _name in ("is_nonzero", "is_same_size", "is_signed", "get_device", "is_inference", "is_neg",
              "is_conj", "resolve_conj", "resolve_neg", "conj", "conj_physical",
              "conj_physical_", "adjoint"):
    setattr(Tensor, _name, globals()[_name])


def _set_real(self, value) -> None:
    self.copy_(value)


Tensor.real = property(real, _set_real, doc="The real part: the tensor itself (real dtypes).")
Tensor.imag = property(imag, doc="The imaginary part: an error for real dtypes.")
Tensor.is_cpu = property(lambda self: self.device.type == "cpu",
                         doc="Whether the tensor is on the CPU.")


def _no_complex(name: str, np_name: str):
    def method(self, memory_format=None):
        raise RuntimeError(f"{name}(): dyngraph has no complex dtypes ({np_name}); keep the "
                           "real and imaginary parts as two real tensors")
    method.__name__ = name
    method.__doc__ = f"Not available: dyngraph has no complex dtypes ({np_name})."
    return method


Tensor.cfloat = _no_complex("cfloat", "complex64")
Tensor.cdouble = _no_complex("cdouble", "complex128")
Tensor.chalf = _no_complex("chalf", "complex32")
