"""Helpers shared by the public op functions: tensor coercion, `out=`, in-place variants, methods.

Public functions (`dyngraph.add(input, other, *, alpha=1, out=None)`) live next to their primitives
in each ops module and call `apply`. `register_method` attaches a function as a `Tensor` method;
`inplace` is the one implementation of every `x.op_()` variant (version counter, leaf checks,
autograd history rewrite).
"""

from __future__ import annotations

import numpy as np

from .. import _dtype as D
from .._dispatch import apply, state
from .._tensor import Tensor, _wrap, _wrap_dim
from .._device import writeable as _writeable

__all__ = ["as_tensor_arg", "register_method", "register_method_pair", "inplace", "write_out",
           "wrap_dim", "apply", "Tensor", "state", "normalize_dims"]

wrap_dim = _wrap_dim


def as_tensor_arg(x, like: Tensor | None = None) -> Tensor:
    """Coerce an array-like argument (list, numpy array) to a tensor; tensors pass through."""
    if isinstance(x, Tensor):
        return x
    from .creation import tensor
    dev = like.device if like is not None else None
    return tensor(x, device=dev)


def normalize_dims(dim, ndim: int, op: str) -> tuple[int, ...]:
    """`dim` (None, int, or a sequence) as a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    dims = tuple(sorted({_wrap_dim(d, ndim, op) for d in dim}))
    if len(dims) != len(tuple(dim)):
        raise RuntimeError(f"{op}: dim {tuple(dim)} appears multiple times in the list of dims")
    return dims


def register_method(*names: str):
    """Decorator: also expose the function as `Tensor.<name>` for each name."""
    def attach(fn):
        for n in names or (fn.__name__,):
            setattr(Tensor, n, fn)
        return fn
    return attach


def register_method_pair(name: str, fn) -> None:
    """`Tensor.<name>(...)`, which calls `fn(self, ...)`, and its in-place `Tensor.<name>_(...)`
    (through `inplace`)."""
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)

    def method_(self, *args, **kwargs):
        return inplace(fn, self, *args, opname=name + "_", **kwargs)
    method.__name__, method_.__name__ = name, name + "_"
    method.__doc__, method_.__doc__ = fn.__doc__, f"In-place `{name}`."
    setattr(Tensor, name, method)
    setattr(Tensor, name + "_", method_)


def write_out(result: Tensor, out: Tensor | None, opname: str) -> Tensor:
    """Implement `out=`: copy `result` into `out` (resizing as PyTorch does) and return `out`."""
    if out is None:
        return result
    if not isinstance(out, Tensor):
        raise TypeError(f"{opname}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if state.grad_enabled and (result._rg or out._rg):
        raise RuntimeError(
            f"{opname}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad.")
    if D.promote_types(result.dtype, out.dtype) is not out.dtype and \
            result.dtype._category > out.dtype._category:
        raise RuntimeError(
            f"{opname}(): result type {result.dtype.name} can't be cast to the desired output "
            f"type {out.dtype.name}")
    if out._data.shape != result._data.shape:
        if out._data.size != 0:
            import warnings
            warnings.warn(
                f"{opname}(): an output with one or more elements was resized since it had shape "
                f"{tuple(out.shape)}, which does not match the required output shape "
                f"{tuple(result.shape)}.", UserWarning, stacklevel=3)
        out._data = np.empty_like(result._data, dtype=out._data.dtype) \
            if type(result._data) is np.ndarray else result._data.astype(out._data.dtype)
    out._data[...] = result._data
    out._vc[0] += 1
    if state.tracer is not None:
        state.tracer.write_out(out, result)
    return out


def _check_inplace_target(t: Tensor, opname: str) -> None:
    if not state.grad_enabled:
        return
    if t._rg and t.grad_fn is None:
        raise RuntimeError(
            f"{opname}: a leaf Variable that requires grad is being used in an in-place "
            "operation. Wrap it in `with dyngraph.no_grad():` (e.g. for weight updates) or use "
            "an out-of-place op.")
    base = t._base
    if base is not None and base._rg and base.grad_fn is None:
        raise RuntimeError(
            f"{opname}: a view of a leaf Variable that requires grad is being used in an "
            "in-place operation. Wrap it in `with dyngraph.no_grad():` or clone the leaf first.")


def inplace(fn, target: Tensor, *args, opname: str, **kwargs) -> Tensor:
    """Run the out-of-place `fn(target, *args)` and write the result into `target`'s memory.

    Under autograd the recorded node sees a snapshot of `target`'s old value (its old history
    included), and `target` takes the new node as its `grad_fn`. Writing through a view whose base
    is part of a graph is refused with a clear error instead of giving a wrong gradient.
    """
    if state.tracer is not None:
        return state.tracer.inplace(fn, target, args, kwargs, opname)
    _check_inplace_target(t=target, opname=opname)
    grad_mode = state.grad_enabled and (target._rg or any(
        isinstance(a, Tensor) and a._rg for a in args))
    if grad_mode:
        base = target._base
        if base is not None and base._rg:
            from .shape import write_through_view
            return write_through_view(fn, target, args, kwargs, opname)
        old = _wrap(target._data.copy())
        old.grad_fn, old._rg = target.grad_fn, target._rg
        result = fn(old, *args, **kwargs)
    else:
        result = fn(target, *args, **kwargs)
    rdt, tdt = result.dtype, target.dtype
    if rdt is not tdt and rdt._category > tdt._category:
        raise RuntimeError(
            f"{opname}: result type {rdt.name.capitalize()} can't be cast to the desired output "
            f"type {tdt.name.capitalize()}")
    if not _writeable(target._data):
        raise RuntimeError(
            f"{opname}: unsupported operation: the tensor is a broadcast (expanded) view whose "
            "elements share memory; call .clone() before writing to it")
    rd = result._data
    if rd.shape != target._data.shape:
        try:
            np.broadcast_shapes(rd.shape, target._data.shape)
            if np.broadcast_shapes(rd.shape, target._data.shape) != target._data.shape:
                raise ValueError
        except ValueError:
            raise RuntimeError(
                f"{opname}: output with shape {list(target.shape)} doesn't match the broadcast "
                f"shape {list(rd.shape)}") from None
    target._data[...] = rd
    target._vc[0] += 1
    if grad_mode:
        target.grad_fn = result.grad_fn
        target._rg = result._rg
    return target
