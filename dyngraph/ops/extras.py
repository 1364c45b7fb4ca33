"""PyTorch's utility functions, built from the primitives: grids and splits (meshgrid, atleast_nd,
tensor_split, hsplit/vsplit/dsplit, column_stack) and array helpers (diff, rot90, cross, kron,
diagflat, block_diag, tril/triu_indices, cartesian_prod, combinations). Scans are in scans.py,
distances, integration and renorm in distances.py.
"""

from __future__ import annotations

import builtins
import itertools
import warnings
from collections import namedtuple

import numpy as np

from .. import _dtype as D
from ._api import Tensor, wrap_dim, write_out
from .creation import tensor, zeros
from .registry import OpKind, composite
from .shape import cat, diag_embed, hstack, stack

SCAN = OpKind.SCAN

CummaxResult = namedtuple("cummax", ["values", "indices"])
CumminResult = namedtuple("cummin", ["values", "indices"])


def _check_tensor(name: str, x, what: str = "input") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument '{what}' must be a Tensor, not {type(x).__name__}")


def _slice(x: Tensor, d: int, start, stop) -> Tensor:
    """`x[..., start:stop, ...]` at dim `d` (a view; out-of-range bounds clamp as in Python)."""
    return x[(slice(None),) * d + (slice(start, stop),)]


def _broadcast(name: str, *shapes) -> tuple:
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError:
        raise RuntimeError(f"{name}: shapes {', '.join(str(tuple(s)) for s in shapes)} cannot be "
                           "broadcast together") from None


# ----------------------------------------------------------------------------------------------
# Grids, dimension padding and splits
# ----------------------------------------------------------------------------------------------

@composite("meshgrid", "reshape, expand")
def meshgrid(*tensors, indexing: str | None = None) -> tuple:
    """Coordinate grids from 0-D/1-D tensors (broadcast views, one per input).

    Args:
        tensors: the coordinate vectors (or one list of them), all of one dtype.
        indexing: 'ij' (matrix indexing, the default) or 'xy' (Cartesian: the first two output
            dims swapped, as numpy's default).

    Example:
        >>> xs, ys = dyngraph.meshgrid(dyngraph.arange(2), dyngraph.arange(3), indexing="ij")
        >>> xs.shape
        dyngraph.Size([2, 3])
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if not tensors:
        raise RuntimeError("meshgrid expects a non-empty TensorList")
    if indexing is None:
        warnings.warn("meshgrid: in an upcoming release, it will be required to pass the indexing "
                      "argument; pass indexing='ij' (the current default) or 'xy'", UserWarning,
                      stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'meshgrid: indexing must be one of "xy" or "ij", but received: '
                           f"{indexing}")
    first = tensors[0]
    for i, t in enumerate(tensors):
        _check_tensor("meshgrid", t, f"tensors[{i}]")
        if t.ndim > 1:
            raise RuntimeError(f"meshgrid: expected 0-D or 1-D tensors, but tensor {i} has shape "
                               f"{list(t.shape)}; flatten it first")
        if t.dtype is not first.dtype or t.device != first.device:
            raise RuntimeError(
                f"meshgrid expects all tensors to have the same dtype and device, but tensor 0 is "
                f"{first.dtype.name} on {first.device} and tensor {i} is {t.dtype.name} on "
                f"{t.device}; convert them with .to(...)")
    n = len(tensors)
    axis = list(range(n))
    if indexing == "xy" and n >= 2:
        axis[0], axis[1] = 1, 0
    sizes = [t.numel() for t in tensors]
    shape = [0] * n
    for i, a in enumerate(axis):
        shape[a] = sizes[i]
    return tuple(t.reshape(tuple(sizes[i] if k == axis[i] else 1 for k in range(n))).expand(*shape)
                 for i, t in enumerate(tensors))


def _atleast(name: str, pad, tensors):
    if len(tensors) == 1:
        tensors = tensors[0]
    if isinstance(tensors, Tensor):
        return pad(tensors)
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{name}(): expected a Tensor or a sequence of Tensors, got "
                        f"{type(tensors).__name__}")
    for i, t in enumerate(tensors):
        _check_tensor(name, t, f"tensors[{i}]")
    return tuple(pad(t) for t in tensors)


def atleast_1d(*tensors):
    """The tensor (or each of several) viewed with at least one dimension (0-D becomes (1,))."""
    return _atleast("atleast_1d", lambda t: t.reshape(1) if t.ndim == 0 else t, tensors)


def atleast_2d(*tensors):
    """The tensor (or each of several) viewed with at least 2 dims: (n,) becomes (1, n)."""
    def pad(t):
        return t.reshape(1, 1) if t.ndim == 0 else t.unsqueeze(0) if t.ndim == 1 else t
    return _atleast("atleast_2d", pad, tensors)


def atleast_3d(*tensors):
    """The tensor (or each of several) viewed with at least 3 dims: (n,) becomes (1, n, 1) and
    (m, n) becomes (m, n, 1), as in numpy."""
    def pad(t):
        if t.ndim == 0:
            return t.reshape(1, 1, 1)
        if t.ndim == 1:
            return t.reshape(1, t.shape[0], 1)
        return t.unsqueeze(-1) if t.ndim == 2 else t
    return _atleast("atleast_3d", pad, tensors)


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


@composite("tensor_split", "split, or getitem with slices at dim")
def tensor_split(input: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """Split into views, numpy's `array_split` way.

    Args:
        input: a tensor with at least one dimension.
        indices_or_sections: an int n: n pieces, the first `size % n` of them one longer; or a
            sequence (or 1-D int64 tensor) of indices where pieces start, clamped as slices are.
        dim: the dimension to split.

    Example:
        >>> [p.tolist() for p in dyngraph.arange(5).tensor_split(2)]
        [[0, 1, 2], [3, 4]]
    """
    _check_tensor("tensor_split", input)
    if input.ndim == 0:
        raise RuntimeError("tensor_split expected at least a 1-dimensional tensor, but got a "
                           "tensor with 0 dims")
    d = wrap_dim(dim, input.ndim, "tensor_split")
    n = input.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor):
        if ios.dtype is not D.int64 or ios.ndim > 1:
            raise RuntimeError(
                "tensor_split expected tensor_indices_or_sections to be a 0-D or 1-D int64 tensor, "
                f"but got a {ios.ndim}-D {ios.dtype.name} tensor")
        ios = int(ios.item()) if ios.ndim == 0 else [int(v) for v in ios.tolist()]
    if _is_int(ios):
        sections = int(ios)
        if sections <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got "
                               f"{sections}")
        q, r = divmod(n, sections)
        return tuple(input.split([q + 1] * r + [q] * (sections - r), d))
    if not all(_is_int(i) for i in ios):
        raise TypeError(f"tensor_split(): indices_or_sections must be an int or a sequence of "
                        f"ints, got {ios!r}")
    bounds = [0] + [int(i) for i in ios] + [n]
    pieces = [slice(a, b).indices(n)[:2] for a, b in zip(bounds, bounds[1:])]
    pieces = [(a, builtins.max(a, b)) for a, b in pieces]
    if all(p[1] == q[0] for p, q in zip(pieces, pieces[1:])) and pieces[-1][1] == n:
        # consecutive pieces: one split, which shares one backward between the pieces
        return tuple(input.split([b - a for a, b in pieces], d))
    return tuple(_slice(input, d, a, b) for a, b in pieces)


def _split_along(name: str, min_dims: int, input: Tensor, ios, dim: int) -> tuple:
    _check_tensor(name, input)
    if input.ndim < min_dims:
        raise RuntimeError(f"{name} requires a tensor with at least {min_dims} dimension, but got "
                           f"a tensor with {input.ndim} dimensions!")
    if _is_int(ios) and (ios == 0 or input.shape[dim] % ios):
        raise RuntimeError(
            f"{name} attempted to split along dimension {dim}, but the size of the dimension "
            f"{input.shape[dim]} is not divisible by the split_size {ios}! (pass a list of split "
            "indices, or use tensor_split, for unequal pieces)")
    return tensor_split(input, ios, dim)


def hsplit(input: Tensor, indices_or_sections) -> tuple:
    """`tensor_split` along dim 1 (dim 0 for 1-D tensors); an int must divide the size evenly."""
    dim = 0 if isinstance(input, Tensor) and input.ndim == 1 else 1
    return _split_along("hsplit", 1, input, indices_or_sections, dim)


def vsplit(input: Tensor, indices_or_sections) -> tuple:
    """`tensor_split` along dim 0 of a tensor with at least 2 dims (an int must divide evenly)."""
    return _split_along("vsplit", 2, input, indices_or_sections, 0)


def dsplit(input: Tensor, indices_or_sections) -> tuple:
    """`tensor_split` along dim 2 of a tensor with at least 3 dims (an int must divide evenly)."""
    return _split_along("dsplit", 3, input, indices_or_sections, 2)


@composite("column_stack", "reshape, cat")
def column_stack(tensors, *, out=None) -> Tensor:
    """Stack as columns: 0-D and 1-D tensors become (n, 1) columns, then all join along dim 1.

    Example:
        >>> dyngraph.column_stack([dyngraph.tensor([1, 2]), dyngraph.tensor([3, 4])])
        tensor([[1, 3],
                [2, 4]])
    """
    if isinstance(tensors, Tensor):
        raise TypeError("column_stack(): argument 'tensors' must be a sequence of Tensors, not "
                        "Tensor")
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("column_stack expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        _check_tensor("column_stack", t, f"tensors[{i}]")
    return hstack([t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors], out=out)


# ----------------------------------------------------------------------------------------------
# Differences, rotations and products
# ----------------------------------------------------------------------------------------------

@composite("diff", "cat, getitem slices, sub (ne for bool)")
def diff(input: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The n-th forward difference `x[i+1] - x[i]` along `dim` (for bool: `x[i+1] != x[i]`).

    Args:
        input: a tensor with at least one dimension.
        n: how many times to difference (n >= the size gives an empty result).
        dim: the dimension to difference.
        prepend, append: tensors joined before/after `input` along `dim` first; they must match
            `input`'s shape except along `dim`.

    Example:
        >>> dyngraph.diff(dyngraph.tensor([1, 4, 9, 16]))
        tensor([3, 5, 7])
    """
    _check_tensor("diff", input)
    if input.ndim == 0:
        raise RuntimeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise RuntimeError(f"diff: order must be non-negative but got {n}")
    d = wrap_dim(dim, input.ndim, "diff")
    parts = []
    for name, t in (("prepend", prepend), ("input", input), ("append", append)):
        if t is None:
            continue
        _check_tensor("diff", t, name)
        if t.ndim != input.ndim or any(t.shape[i] != input.shape[i]
                                       for i in range(input.ndim) if i != d):
            raise RuntimeError(
                f"diff expects the shape of tensor to {name} to match that of input except "
                f"along the differencing dimension {d}; input has shape {list(input.shape)}, but "
                f"{name} has shape {list(t.shape)}")
        parts.append(t)
    x = cat(parts, d) if len(parts) > 1 else input
    for _ in range(n):
        m = x.shape[d]
        if m == 0:
            break
        later, earlier = _slice(x, d, 1, m), _slice(x, d, 0, m - 1)
        x = later != earlier if x.dtype is D.bool_ else later - earlier
    return x


@composite("rot90", "flip, permute")
def rot90(input: Tensor, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees `k` times in the plane of `dims`, from the first dim towards the
    second (a copy).

    Example:
        >>> dyngraph.tensor([[1, 2], [3, 4]]).rot90()
        tensor([[2, 4],
                [1, 3]])
    """
    _check_tensor("rot90", input)
    dims = tuple(dims)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"rot90: expected total dims >= 2, but got total dims = {input.ndim} "
                           f"(shape {list(input.shape)})")
    d0, d1 = (wrap_dim(d, input.ndim, "rot90") for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: expected rotation dims to be different, but got dim0 = {d0} "
                           f"and dim1 = {d1}")
    k = int(k) % 4
    if k == 1:
        return input.flip(d1).transpose(d0, d1)
    if k == 2:
        return input.flip((d0, d1))
    if k == 3:
        return input.flip(d0).transpose(d0, d1)
    return input.clone()


@composite("cross", "roll, mul, sub")
def cross(input: Tensor, other: Tensor, dim: int | None = None, *, out=None) -> Tensor:
    """The 3-D cross product of vectors along `dim` (other dims broadcast).

    Args:
        input, other: tensors of one dtype and the same number of dims, of size 3 along `dim`.
        dim: the vector dimension; None (deprecated, as in PyTorch) takes the first dimension
            of `input` of size 3.

    Example:
        >>> dyngraph.cross(dyngraph.tensor([1., 0., 0.]), dyngraph.tensor([0., 1., 0.]), dim=0)
        tensor([0., 0., 1.])
    """
    _check_tensor("cross", input)
    _check_tensor("cross", other, "other")
    if input.ndim != other.ndim:
        raise RuntimeError(f"linalg.cross: inputs must have the same number of dimensions (got "
                           f"shapes {list(input.shape)} and {list(other.shape)}); unsqueeze one")
    if input.dtype is not other.dtype:
        raise RuntimeError(f"cross: expected both inputs to have the same dtype, but got "
                           f"{input.dtype.name} and {other.dtype.name}; cast one with .to(...)")
    shape = _broadcast("cross", input.shape, other.shape)
    if dim is None:
        warnings.warn("cross: using cross without specifying the dim arg is deprecated; pass dim "
                      "explicitly", UserWarning, stacklevel=2)
        d = next((i for i, s in enumerate(input.shape) if s == 3), None)
        if d is None:
            raise RuntimeError(f"cross: no dimension of size 3 in input (shape "
                               f"{list(input.shape)}); pass dim=")
    else:
        d = wrap_dim(dim, len(shape), "cross")
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise RuntimeError(f"linalg.cross: inputs dimension {d} must have length 3. Got "
                           f"{input.shape[d]} and {other.shape[d]} (shapes {list(input.shape)} "
                           f"and {list(other.shape)})")
    # component i is a[i+1] b[i+2] - a[i+2] b[i+1]; roll by -1 brings a[i+1] to position i
    r = input.roll(-1, d) * other.roll(-2, d) - input.roll(-2, d) * other.roll(-1, d)
    return write_out(r, out, "cross")


@composite("kron", "reshape, mul (a broadcast outer product), reshape")
def kron(input: Tensor, other: Tensor, *, out=None) -> Tensor:
    """The Kronecker product: blocks `input[i] * other`, dims aligned from the right.

    Example:
        >>> dyngraph.kron(dyngraph.tensor([1, 10]), dyngraph.tensor([1, 2]))
        tensor([ 1,  2, 10, 20])
    """
    _check_tensor("kron", input)
    _check_tensor("kron", other, "other")
    nd = builtins.max(input.ndim, other.ndim)
    a_shape = (1,) * (nd - input.ndim) + tuple(input.shape)
    b_shape = (1,) * (nd - other.ndim) + tuple(other.shape)
    a = input.reshape(tuple(v for s in a_shape for v in (s, 1)))
    b = other.reshape(tuple(v for s in b_shape for v in (1, s)))
    r = (a * b).reshape(tuple(p * q for p, q in zip(a_shape, b_shape)))
    return write_out(r, out, "kron")


@composite("diagflat", "reshape, diag_embed")
def diagflat(input: Tensor, offset: int = 0) -> Tensor:
    """A square matrix with the flattened input on its `offset`-th diagonal.

    Example:
        >>> dyngraph.diagflat(dyngraph.tensor([[1, 2]]))
        tensor([[1, 0],
                [0, 2]])
    """
    _check_tensor("diagflat", input)
    return diag_embed(input.reshape(-1), int(offset), 0, 1)


@composite("block_diag", "zeros, cat")
def block_diag(*tensors) -> Tensor:
    """A block-diagonal matrix of the inputs (0-D: 1x1 blocks, 1-D: one-row blocks); dtypes are
    promoted.

    Example:
        >>> dyngraph.block_diag(dyngraph.tensor([[1, 2]]), dyngraph.tensor(3))
        tensor([[1, 2, 0],
                [0, 0, 3]])
    """
    blocks = []
    for i, t in enumerate(tensors):
        _check_tensor("block_diag", t, f"tensors[{i}]")
        if t.ndim > 2:
            raise RuntimeError(f"block_diag: Input tensors must have 2 or fewer dimensions. Input "
                               f"{i} has {t.ndim} dimensions (shape {list(t.shape)})")
        blocks.append(t.reshape(1, 1) if t.ndim == 0 else
                      t.reshape(1, t.shape[0]) if t.ndim == 1 else t)
    if not blocks:
        return zeros(1, 0)
    dtype = blocks[0].dtype
    for b in blocks[1:]:
        dtype = D.promote_types(dtype, b.dtype)
    width = builtins.sum(b.shape[1] for b in blocks)
    rows, col = [], 0
    for b in blocks:
        r, c = b.shape
        left = zeros(r, col, dtype=dtype, device=b.device)
        right = zeros(r, width - col - c, dtype=dtype, device=b.device)
        rows.append(cat([left, b.to(dtype), right], 1))
        col += c
    return cat(rows, 0)


def _tri_indices(name: str, lower: bool, row, col, offset, dtype, device) -> Tensor:
    for what, v in (("row", row), ("col", col)):
        if not _is_int(v) or v < 0:
            raise RuntimeError(f"{name}: {what} must be a non-negative int, got {v!r}")
    dtype = D.int64 if dtype is None else dtype
    if dtype.is_floating_point or dtype is D.bool_:
        raise RuntimeError(f"{name}: not implemented for {dtype.name}; use an integer dtype "
                           "such as dyngraph.long")
    keep = np.tri(row, col, offset, dtype=bool) if lower else \
        ~np.tri(row, col, offset - 1, dtype=bool)
    return tensor(np.stack(np.nonzero(keep)), dtype=dtype, device=device)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype=D.int64, device=None,
                 layout=None) -> Tensor:
    """The (2, N) coordinates of the lower triangle (on and below the `offset`-th diagonal) of a
    row x col matrix, row by row.

    Example:
        >>> dyngraph.tril_indices(2, 2)
        tensor([[0, 1, 1],
                [0, 0, 1]])
    """
    return _tri_indices("tril_indices", True, row, col, offset, dtype, device)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype=D.int64, device=None,
                 layout=None) -> Tensor:
    """The (2, N) coordinates of the upper triangle (on and above the `offset`-th diagonal) of a
    row x col matrix, row by row."""
    return _tri_indices("triu_indices", False, row, col, offset, dtype, device)


@composite("cartesian_prod", "meshgrid, reshape, stack")
def cartesian_prod(*tensors) -> Tensor:
    """All tuples of one element from each 1-D input, as the rows of an (N, k) tensor (a single
    input is returned as it is).

    Example:
        >>> dyngraph.cartesian_prod(dyngraph.tensor([1, 2]), dyngraph.tensor([3, 4]))
        tensor([[1, 3],
                [1, 4],
                [2, 3],
                [2, 4]])
    """
    for i, t in enumerate(tensors):
        _check_tensor("cartesian_prod", t, f"tensors[{i}]")
        if t.ndim != 1:
            raise RuntimeError(f"cartesian_prod: expected 1-D tensors, but tensor {i} has shape "
                               f"{list(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], dim=1)


@composite("combinations", "getitem with an index tensor")
def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-r combinations of the elements of a 1-D tensor, as the rows of a (N, r)
    tensor, in itertools' order.

    Example:
        >>> dyngraph.combinations(dyngraph.tensor([1, 2, 3]))
        tensor([[1, 2],
                [1, 3],
                [2, 3]])
    """
    _check_tensor("combinations", input)
    if input.ndim != 1:
        raise RuntimeError(f"combinations: expected a 1-D vector, but got shape "
                           f"{list(input.shape)}")
    if not _is_int(r) or r < 0:
        raise RuntimeError(f"combinations: expected a non-negative int r, but got {r!r}")
    if r == 0:
        return input[:0]
    n = input.shape[0]
    if r == 2:  # the common case, without a Python loop
        idx = np.stack(np.triu_indices(n, 0 if with_replacement else 1), axis=1)
    else:
        gen = itertools.combinations_with_replacement if with_replacement else \
            itertools.combinations
        idx = np.array(list(gen(range(n), r)), dtype=np.int64).reshape(-1, r)
    return input[tensor(idx.astype(np.int64), device=input.device)]


# ----------------------------------------------------------------------------------------------
# Tensor methods
# ----------------------------------------------------------------------------------------------

for _name, _fn in [("diff", diff), ("rot90", rot90), ("cross", cross), ("kron", kron),
                   ("diagflat", diagflat), ("tensor_split", tensor_split)]:
    setattr(Tensor, _name, _fn)


def _split_method(fn):
    def method(self, *indices_or_sections):
        """Split with `fn`'s rules: `x.hsplit(2)`, `x.hsplit([1, 3])` or `x.hsplit(1, 3)`."""
        ios = indices_or_sections
        return fn(self, ios[0] if len(ios) == 1 else list(ios))
    method.__name__ = method.__qualname__ = fn.__name__
    return method


Tensor.hsplit, Tensor.vsplit, Tensor.dsplit = (_split_method(f) for f in (hsplit, vsplit, dsplit))



__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__
           and not isinstance(_v, type)]
