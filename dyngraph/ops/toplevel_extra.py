"""The rest of PyTorch's top-level namespace: in-place functions (`torch.abs_(t)`), the view-copy
functions (`torch.permute_copy`), and `detach`, `fill`, `unravel_index`, `frombuffer`,
`empty_strided`, `empty_permuted`, `typename`, `is_storage`, `binomial`, `nuclear_norm` and
`frobenius_norm`.

The nn aliases (`torch.dropout(input, p, train)`, ...) are in toplevel_nn.py; window functions,
`gradient` and `histogramdd` in toplevel_numeric.py. Both are re-exported from here.
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._device import device as _device_cls
from ._api import Tensor, apply, write_out
from .registry import OpKind, nondiff
from .shape.copies import copy_op
from .toplevel_nn import __all__ as _nn_all
from .toplevel_nn import *  # noqa: F401,F403
from .toplevel_numeric import __all__ as _numeric_all
from .toplevel_numeric import *  # noqa: F401,F403

# PyTorch's top-level in-place functions that are `torch.X_(t, *args)` == `t.X_(*args)`
_INPLACE = (
    "abs_", "acos_", "acosh_", "addmv_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_",
    "arctanh_", "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_",
    "clamp_min_", "clip_", "cos_", "cosh_", "deg2rad_", "detach_", "erf_", "erfc_", "exp2_",
    "exp_", "expm1_", "fix_", "floor_", "frac_", "gcd_", "i0_", "lcm_", "ldexp_", "log10_",
    "log1p_", "log2_", "log_", "logit_", "nan_to_num_", "neg_", "negative_", "rad2deg_",
    "reciprocal_", "relu_", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_", "sinh_", "sqrt_",
    "square_", "tan_", "tanh_", "trunc_", "xlogy_",
)

# torch.<view>_copy: the view op, then a contiguous copy of its own
_VIEW_COPIES = {
    "alias_copy": lambda x: x,
    "detach_copy": lambda x: x.detach(),
    "t_copy": lambda x: x.t(),
    "permute_copy": lambda x, dims: x.permute(*dims),
    "transpose_copy": lambda x, dim0, dim1: x.transpose(dim0, dim1),
    "expand_copy": lambda x, size, *, implicit=False: x.expand(*size),
    "view_copy": lambda x, size: x.view(*size) if not isinstance(size, int) else x.view(size),
    "squeeze_copy": lambda x, dim=None: x.squeeze() if dim is None else x.squeeze(dim),
    "unsqueeze_copy": lambda x, dim: x.unsqueeze(dim),
    "select_copy": lambda x, dim, index: x.select(dim, index),
    "slice_copy": lambda x, dim=0, start=None, end=None, step=1: _slice(x, dim, start, end, step),
    "diagonal_copy": lambda x, offset=0, dim1=0, dim2=1: x.diagonal(offset, dim1, dim2),
    "unfold_copy": lambda x, dimension, size, step: x.unfold(dimension, size, step),
    "as_strided_copy": lambda x, size, stride, storage_offset=None:
        x.as_strided(size, stride, storage_offset),
}
# ... and those that give several views (returned as a tuple, as in PyTorch)
_VIEW_COPIES_MANY = {
    "split_copy": lambda x, split_size, dim=0: x.split(split_size, dim),
    "split_with_sizes_copy": lambda x, split_sizes, dim=0: x.split_with_sizes(split_sizes, dim),
    "unbind_copy": lambda x, dim=0: x.unbind(dim),
}

__all__ = (list(_INPLACE) + list(_VIEW_COPIES) + list(_VIEW_COPIES_MANY) +
           ["detach", "fill", "unravel_index", "frombuffer", "empty_strided", "empty_permuted",
            "typename", "is_storage", "binomial", "nuclear_norm", "frobenius_norm"] +
           list(_nn_all) + list(_numeric_all))


def _need_tensor(name: str, x, arg: str = "input", pos: int = 1) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}(): argument '{arg}' (position {pos}) must be Tensor, not "
                        f"{type(x).__name__}")


def _slice(x: Tensor, dim: int, start, end, step: int) -> Tensor:
    if step <= 0:
        raise RuntimeError(f"slice_copy: slice step must be positive (got {step}); flip the "
                           "tensor first for a reversed slice")
    dim = dim + x.ndim if dim < 0 else dim
    return x[(slice(None),) * dim + (slice(start, end, step),)]


# ----------------------------------------------------------------------------------------------
# torch.X_(t, ...) and torch.<view>_copy(...), generated from the tables above
# ----------------------------------------------------------------------------------------------

def _make_inplace(name: str):
    def fn(input: Tensor, *args, **kwargs) -> Tensor:
        _need_tensor(name, input)
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"In-place `{name[:-1]}` of `input` (the same as `input.{name}(...)`)."
    return fn


def _make_view_copy(name: str, view, many: bool):
    def fn(input: Tensor, *args, out=None, **kwargs):
        _need_tensor(name, input)
        result = view(input, *args, **kwargs)
        if many:
            result = tuple(apply(copy_op, r) for r in result)
            if out is not None:
                return tuple(write_out(r, o, name) for r, o in zip(result, out))
            return result
        return write_out(apply(copy_op, result), out, name)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"`{name[:-5]}` as a copy: the same values, in new contiguous memory "
                  "(differentiable; `out=` accepted).")
    return fn


for _name in _INPLACE:
    globals()[_name] = _make_inplace(_name)
for _name, _view in _VIEW_COPIES.items():
    globals()[_name] = _make_view_copy(_name, _view, False)
for _name, _view in _VIEW_COPIES_MANY.items():
    globals()[_name] = _make_view_copy(_name, _view, True)


# ----------------------------------------------------------------------------------------------
# Small top-level functions
# ----------------------------------------------------------------------------------------------

def detach(input: Tensor) -> Tensor:
    """A tensor sharing `input`'s memory, cut from the autograd graph (`input.detach()`)."""
    _need_tensor("detach", input)
    return input.detach()


def fill(input: Tensor, value) -> Tensor:
    """A new tensor shaped and typed like `input`, with every element `value`.

    Args:
        input: the tensor giving shape, dtype and device.
        value: a number or a 0-D tensor (the gradient flows to a tensor value).

    Example:
        >>> dyngraph.fill(dyngraph.zeros(2), 3.0)
        tensor([3., 3.])
    """
    from .creation import full_like
    _need_tensor("fill", input)
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions.")
        return apply(copy_op, value.to(input.dtype).expand(*input.shape))
    return full_like(input, value)


def unravel_index(indices, shape) -> tuple:
    """Flat indices into an array of `shape` as a tuple of coordinate tensors (int64).

    Negative indices count from the end; as in PyTorch, indices are not range-checked.

    Args:
        indices: an integer tensor (or a Python int) of flat indices.
        shape: the array shape (an int or a sequence of ints).

    Example:
        >>> dyngraph.unravel_index(dyngraph.tensor([4, 5]), (2, 3))
        (tensor([1, 1]), tensor([1, 2]))
    """
    from .creation import tensor
    if not isinstance(indices, Tensor):
        indices = tensor(indices)
    if indices.dtype.is_floating_point or indices.dtype is D.bool_:
        raise TypeError(f"expected 'indices' to be integer dtype, but got "
                        f"dyngraph.{indices.dtype.name}")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"'shape' cannot have negative values, but got {shape}")
    # as in PyTorch, out-of-range indices wrap (each coordinate is taken modulo its size)
    idx = indices.to(D.int64)
    coords = []
    for s in reversed(shape):
        coords.append(idx % s if s else idx * 0)
        idx = idx // s if s else idx
    return tuple(reversed(coords))


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0,
               requires_grad: bool = False) -> Tensor:
    """A 1-D CPU tensor viewing an object that exposes the buffer protocol (no copy).

    Args:
        buffer: bytes, bytearray, memoryview, array.array, ...
        dtype: the element type.
        count: how many elements to read (-1: all from `offset` on).
        offset: bytes to skip at the start of the buffer.
        requires_grad: make the result a leaf that requires grad.

    Example:
        >>> dyngraph.frombuffer(bytearray(8), dtype=dyngraph.int32)
        tensor([0, 0], dtype=dyngraph.int32)
    """
    from .._tensor import _wrap
    dt = D.to_dtype(dtype)
    n = memoryview(buffer).nbytes
    if n - offset <= 0 or offset < 0:
        raise ValueError(f"both buffer length ({n}) and offset ({offset}) must be positive, "
                         f"and the offset must be smaller than the buffer length")
    arr = np.frombuffer(buffer, dtype=dt.np, count=count, offset=offset)
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def empty_strided(size, stride, *, dtype=None, layout=None, device=None,
                  requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """An uninitialised tensor of `size` whose elements lie `stride` elements apart.

    Args:
        size: the shape.
        stride: the stride of each dim, in elements (non-negative).

    Example:
        >>> dyngraph.empty_strided((2, 3), (1, 2)).stride()
        (1, 2)
    """
    size, stride = tuple(size), tuple(stride)
    if len(size) != len(stride):
        raise RuntimeError(f"empty_strided: mismatch in length of strides and shape (size "
                           f"{list(size)} has {len(size)} dims, stride {list(stride)} has "
                           f"{len(stride)})")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"empty_strided: negative strides are not supported (got "
                           f"{list(stride)})")
    extent = 0 if 0 in size else 1 + sum((n - 1) * s for n, s in zip(size, stride))
    from .creation import empty
    base = empty(extent, dtype=dtype, device=device)
    t = base.as_strided(size, stride, 0).detach() if extent else base.reshape(size)
    if requires_grad:
        t.requires_grad_(True)
    return t


def empty_permuted(size, physical_layout, *, dtype=None, layout=None, device=None,
                   requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """An uninitialised tensor of `size` whose dims lie in memory in `physical_layout` order
    (outermost first): `(0, 2, 3, 1)` gives a channels-last 4-D tensor.

    Example:
        >>> dyngraph.empty_permuted((2, 3, 5, 7), (0, 2, 3, 1)).stride()
        (105, 1, 21, 3)
    """
    from .creation import empty
    size, perm = tuple(size), tuple(physical_layout)
    if sorted(perm) != list(range(len(size))):
        raise RuntimeError(f"empty_permuted: physical_layout {list(perm)} must be a permutation "
                           f"of 0..{len(size) - 1} (one entry per dim of size {list(size)})")
    phys = empty(tuple(size[p] for p in perm), dtype=dtype, device=device)
    t = phys.permute(*np.argsort(perm).tolist()).detach()
    if requires_grad:
        t.requires_grad_(True)
    return t


def typename(obj) -> str:
    """The type name of `obj`: `'dyngraph.FloatTensor'` for a tensor, else module.qualname."""
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


def is_storage(obj) -> bool:
    """Whether `obj` is a tensor's storage (what `Tensor.untyped_storage()` returns)."""
    import sys
    cp = sys.modules.get("cupy")   # a CUDA tensor's storage is a cupy array
    xp_types = (np.ndarray,) if cp is None else (np.ndarray, cp.ndarray)
    return isinstance(obj, xp_types)


# ----------------------------------------------------------------------------------------------
# binomial: a random draw from dyngraph's generator
# ----------------------------------------------------------------------------------------------

@nondiff("binomial", OpKind.CREATION, "a random draw has no gradient", dtype_rule="none")
def binomial_op(xp, count, prob, *, generator):
    from ._random import _gen
    dev = _device_cls("cpu") if xp is np else _device_cls(f"cuda:{count.device.id}")
    g = _gen(generator, dev)
    n = xp.broadcast_arrays(count, prob)
    draw = g._stream().binomial(n[0].astype(np.int64), n[1].astype(np.float64))
    return xp.asarray(draw).astype(count.dtype)


def binomial(count: Tensor, prob: Tensor, generator=None) -> Tensor:
    """Draws from Binomial(count, prob) elementwise (count's dtype), from dyngraph's generator.

    Args:
        count: the numbers of trials (a floating-point tensor of non-negative whole numbers).
        prob: the success probabilities in [0, 1] (same shape and dtype as count).
        generator: the `dyngraph.Generator` to draw from (the default one if None).

    Example:
        >>> dyngraph.binomial(dyngraph.tensor([5.0, 0.0]), dyngraph.tensor([1.0, 0.5]))
        tensor([5., 0.])
    """
    _need_tensor("binomial", count, "count")
    _need_tensor("binomial", prob, "prob", 2)
    for t in (count, prob):
        if not t.dtype.is_floating_point:
            raise RuntimeError(f'"binomial_cpu" not implemented for \'{t.dtype.name}\'; pass '
                               "floating-point count and prob (call .float())")
    if count.device != prob.device:
        raise RuntimeError(f"binomial: count is on {count.device} but prob is on {prob.device}")
    if prob.numel() and not bool(((prob.detach() >= 0) & (prob.detach() <= 1)).all()):
        raise RuntimeError("binomial: prob must be in [0, 1]")
    if count.numel() and not bool((count.detach() >= 0).all()):
        raise RuntimeError("binomial: count must be non-negative")
    return apply(binomial_op, count.detach(), prob.detach().to(count.dtype),
                 generator=generator)


# ----------------------------------------------------------------------------------------------
# Deprecated norms PyTorch keeps at top level
# ----------------------------------------------------------------------------------------------

def nuclear_norm(input: Tensor, dim=None, keepdim: bool = False, *, out=None) -> Tensor:
    """The nuclear norm (sum of singular values) of a matrix, or over the two dims `dim`.

    Also callable as `nuclear_norm(input, keepdim)`. Prefer
    `dyngraph.linalg.matrix_norm(A, 'nuc', dim, keepdim)`.
    """
    from ..linalg import matrix_norm
    _need_tensor("nuclear_norm", input)
    if isinstance(dim, bool):
        dim, keepdim = None, dim
    if dim is None:
        if input.ndim != 2:
            raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                               f"dimensions. (nuclear_norm without dim needs a 2-D input, got "
                               f"{input.ndim}-D; pass dim=(d0, d1))")
        dim = (0, 1)
    dim = tuple(dim)
    if len(dim) != 2:
        raise RuntimeError(f"nuclear_norm: dim must be a 2-tuple. Got {list(dim)}")
    return write_out(matrix_norm(input, "nuc", dim, keepdim), out, "nuclear_norm")


def frobenius_norm(input: Tensor, dim, keepdim: bool = False, *, out=None) -> Tensor:
    """sqrt(sum of squares) over at most two dims `dim`.

    Prefer `dyngraph.linalg.vector_norm(A, 2, dim, keepdim)`.
    """
    from ..linalg import vector_norm
    _need_tensor("frobenius_norm", input)
    dim = (dim,) if isinstance(dim, int) else tuple(dim)
    if len(dim) > 2:
        raise RuntimeError(f"Expected at most 2 dimensions, but got {len(dim)} dimensions "
                           "instead.")
    return write_out(vector_norm(input, 2, dim, keepdim), out, "frobenius_norm")
