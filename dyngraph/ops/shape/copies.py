"""Copies and devices (clone, contiguous, to_device, copy_), and `write_through_view`: in-place
writes through a view of a tensor that is part of an autograd graph."""

from __future__ import annotations


import numpy as np

from ... import _memory_format as _mf
from ..._device import device as _device_cls
from ..._device import to_device_array
from ..._tensor import _wrap
from .._api import Tensor, apply, as_tensor_arg, inplace, register_method, state
from ..index import TensorSlot, getitem_op, index_put_op
from ..registry import OpKind, defop
from .views import _data_ptr, expand, reshape
from ..._device import writeable as _writeable

MOVEMENT = OpKind.MOVEMENT


# ----------------------------------------------------------------------------------------------
# copies and devices
# ----------------------------------------------------------------------------------------------

@defop("copy", MOVEMENT, dtype_rule="none", doc="a C-contiguous copy")
def copy_op(xp, x):
    return xp.array(x, copy=True, order="C")


@copy_op.def_grad
def _(ctx, g):
    return (g,)


def clone(input: Tensor, *, memory_format=None) -> Tensor:
    """A copy with its own memory (differentiable). The default, preserve_format, keeps a
    channels-last layout; another `memory_format` lays the copy out as it says."""
    if memory_format is not None or (input.ndim in (4, 5) and
                                     not input._data.flags.c_contiguous):
        out = _mf.clone_in(input, memory_format)
        if out is not None:
            return out
    return apply(copy_op, input)


Tensor.clone = clone


def contiguous(self, memory_format=None) -> Tensor:
    """self if its memory is dense in `memory_format`'s order (row-major by default), else a
    copy that is."""
    if memory_format is not None and memory_format is not _mf.contiguous_format:
        return _mf.contiguous_in(self, memory_format)
    if self._data.flags.c_contiguous:
        return self
    return apply(copy_op, self)


Tensor.contiguous = contiguous


@defop("to_device", MOVEMENT, dtype_rule="none", doc="copy to another device")
def to_device_op(xp, x, device, src=None):
    return to_device_array(x, device)


@to_device_op.def_grad
def _(ctx, g):
    return (to_device(g, ctx.attrs["src"]),)


def to_device(input: Tensor, device) -> Tensor:
    """Copy to another device (differentiable)."""
    dev = device if isinstance(device, _device_cls) else _device_cls(device)
    if dev.type == "cuda" and dev.index is None:
        dev = _device_cls("cuda", 0)
    if dev == input.device:
        return input
    return apply(to_device_op, input, device=dev, src=input.device)


@register_method("copy_")
def copy_(self, src=None, non_blocking: bool = False, *, other=None) -> Tensor:
    """Copy the values of `src` (broadcast, cast and moved as needed) into self.

    PyTorch documents the argument as `src` but its binding takes `other=`; both work here.
    """
    if (src is None) == (other is None):
        raise TypeError("copy_() takes the source tensor once, as `src` (or `other=`)")
    src = as_tensor_arg(other if src is None else src, self)
    if not (self._rg or src._rg) and state.tracer is None:
        # (a plain array write; under a trace it goes through `inplace`, so the compiler records
        # it as an in-place op: a buffer update such as BatchNorm's running stats compiles)
        if src.device != self.device:
            src = src.to(self.device)
        if not _writeable(self._data):
            raise RuntimeError("copy_: unsupported operation: self is a broadcast (expanded) view "
                               "whose elements share memory; call .clone() first")
        try:
            self._data[...] = src._data.astype(self._data.dtype, copy=False)
        except ValueError:
            raise RuntimeError(f"copy_: the source of shape {list(src.shape)} cannot be broadcast "
                               f"to self's shape {list(self.shape)}") from None
        self._vc[0] += 1
        return self
    return inplace(_copy_node, self, src, opname="copy_")


def _copy_node(t, s):
    s = s.to(device=t.device) if s.device != t.device else s
    s = s.to(t.dtype) if s.dtype is not t.dtype else s
    if tuple(s.shape) != tuple(t.shape):
        s = expand(s, *t.shape)
    return apply(copy_op, s)


# ----------------------------------------------------------------------------------------------
# writing through a view of a tensor that autograd records
# ----------------------------------------------------------------------------------------------

def _view_positions(view, base):
    """For each element of array `view` (a view into array `base`), its flat C-order index in
    base, found from the two arrays' addresses and strides."""
    xp = np if type(base) is np.ndarray else __import__("cupy")
    item = base.itemsize
    off = _data_ptr(view) - _data_ptr(base)
    voff = xp.full(view.shape, off, dtype=np.int64)
    for d, (n, s) in enumerate(zip(view.shape, view.strides)):
        shape = [1] * view.ndim
        shape[d] = n
        voff = voff + (xp.arange(n, dtype=np.int64) * s).reshape(shape)
    if base.flags.c_contiguous:
        return voff // item
    boff = xp.zeros(base.shape, dtype=np.int64)
    for d, (n, s) in enumerate(zip(base.shape, base.strides)):
        shape = [1] * base.ndim
        shape[d] = n
        boff = boff + (xp.arange(n, dtype=np.int64) * s).reshape(shape)
    boff = boff.reshape(-1)
    order = xp.argsort(boff)
    return order[xp.searchsorted(boff[order], voff)]


def write_through_view(fn, view: Tensor, args, kwargs, opname: str) -> Tensor:
    """Run an in-place op on `view`, a view of a tensor recorded by autograd (PyTorch's
    CopySlices): the base's history becomes "old base with the view's region replaced by
    fn(old view)", and the view's history "that region of the new base"."""
    base = view._base
    idx = _wrap(_view_positions(view._data, base._data))
    key = (TensorSlot(0),)
    old = _wrap(base._data.copy())
    old.grad_fn, old._rg = base.grad_fn, base._rg
    flat = reshape(old, (-1,))
    result = fn(apply(getitem_op, flat, idx, key=key), *args, **kwargs)
    rdt, vdt = result.dtype, view.dtype
    if rdt is not vdt and rdt._category > vdt._category:
        raise RuntimeError(f"{opname}: result type {rdt.name.capitalize()} can't be cast to the "
                           f"desired output type {vdt.name.capitalize()}")
    if not _writeable(view._data):
        raise RuntimeError(f"{opname}: unsupported operation: the tensor is a broadcast "
                           "(expanded) view whose elements share memory; call .clone() first")
    if tuple(result.shape) != tuple(view.shape):
        result = expand(result, *view.shape)
    new_base = apply(index_put_op, flat, result, idx, key=key, accumulate=False)
    view._data[...] = result._data
    view._vc[0] += 1
    if new_base._rg:
        base.grad_fn = reshape(new_base, tuple(base.shape)).grad_fn
        base._rg = True
        view.grad_fn = apply(getitem_op, reshape(base, (-1,)), idx, key=key).grad_fn
        view._rg = True
    return view


__all__ = [_n for _n, _v in list(globals().items())
           if not _n.startswith("_") and callable(_v) and getattr(_v, "__module__", "") == __name__]
