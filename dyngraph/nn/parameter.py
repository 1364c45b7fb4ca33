"""`Parameter` and `Buffer`, the tensors a `Module` registers, and their uninitialized (lazy)
forms `UninitializedParameter` and `UninitializedBuffer`."""

from __future__ import annotations

import os
import sys

from .. import _dtype as D
from .._device import CPU
from .._device import device as _device_cls
from .._tensor import Tensor, _init

__all__ = ["Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"]


class Parameter(Tensor):
    """A Tensor that modules register as a parameter when assigned as an attribute.

    It shares memory with `data` and requires grad by default.

    Args:
        data: the initial value (a tensor; default: an empty float tensor).
        requires_grad: whether autograd tracks it (default True).

    Example:
        >>> w = Parameter(dyngraph.zeros(2, 3))
        >>> w.requires_grad
        True
    """

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            from ..ops.creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Parameter(): data must be a Tensor, not {type(data).__name__}; wrap it with "
                "dyngraph.tensor(...) first")
        _init(self, data._data)
        self._vc = data._vc  # shares memory with `data`, so in-place changes are seen by both
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_tensor(cls, t: Tensor, original: "Parameter") -> "Parameter":
        """Rebuild a Parameter around `t` (used by deepcopy)."""
        return cls(t, requires_grad=original.requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute.

    Args:
        data: the tensor.
        persistent: whether the buffer is part of the module's `state_dict`.
    """

    def __init__(self, data: Tensor, *, persistent: bool = True):
        _init(self, data._data)
        self._vc = data._vc
        self.persistent = persistent


# ----- uninitialized (lazy) parameters and buffers ---------------------------------------------
_DG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_USE_HINT = (
    "This error happens when you are using a `LazyModule` or explicitly manipulating "
    "`dyngraph.nn.parameter.{cls}` objects. When using LazyModules Call `forward` with a dummy "
    "batch to initialize the parameters before calling dyngraph functions")


def _use_error(what: str, cls: str) -> ValueError:
    return ValueError(f"Attempted to use an uninitialized parameter in {what}. "
                      + _USE_HINT.format(cls=cls))


def _what_used_it() -> str:
    """The dyngraph function the user called (and the op inside it) that touched the data of an
    uninitialized tensor, for the error message."""
    frame, outer, op = sys._getframe(2), None, None
    while frame is not None and frame.f_code.co_filename.startswith(_DG_ROOT):
        found = frame.f_locals.get("op")    # dispatch.apply holds the op in a local `op`
        if op is None and type(found).__name__ == "Op" and hasattr(found, "name"):
            op = found.name
        outer, frame = frame, frame.f_back
    if outer is None:
        return "an op"
    name = outer.f_code.co_qualname
    if op is not None and (op == name or "<" in name):   # (operators: lambdas, factory-made)
        return f"op '{op}'"
    return name if op is None else f"{name} (op '{op}')"


class _NoData:
    """What an uninitialized tensor holds instead of an array: the dtype and device it will be
    materialized with. Reading anything else (shape, values) raises, so every op that is handed
    such a tensor fails with the error PyTorch gives, naming the op."""

    __slots__ = ("dtype", "device", "owner")

    def __init__(self, dtype, device, owner: str):
        self.dtype = dtype      # a numpy dtype, as an array's
        self.device = device
        self.owner = owner

    def __getattr__(self, name: str):
        raise _use_error(_what_used_it(), self.owner)


class UninitializedTensorMixin:
    """What `UninitializedParameter` and `UninitializedBuffer` share: no data until
    `materialize(shape)`; only dtype/device changes (`to`, `double`, `cuda`, ...) and
    `materialize` are allowed, any other use raises a ValueError."""

    cls_to_become: type = Tensor

    def _init_uninitialized(self, requires_grad: bool, device, dtype) -> None:
        dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
        dev = CPU if device is None else (device if isinstance(device, _device_cls)
                                          else _device_cls(device))
        _init(self, _NoData(dt.np, dev, type(self).__name__))
        if requires_grad:
            self.requires_grad_(True)

    def materialize(self, shape, device=None, dtype=None) -> None:
        """Give the tensor data of `shape` (uninitialized values) and turn it into a
        `cls_to_become` (a `Parameter`, or a plain `Tensor` for a buffer), in place.

        Args:
            shape: the shape of the data (a tuple or `Size`).
            device: where to put it (default: the device given at construction or by `to`).
            dtype: its dtype (default: the dtype given at construction or by `to`).
        """
        from ..ops.creation import empty
        data = empty(tuple(shape) if not isinstance(shape, int) else (shape,),
                     dtype=dtype if dtype is not None else self.dtype,
                     device=device if device is not None else self.device)
        self._data = data._data
        self.__class__ = self.cls_to_become

    @property
    def device(self):
        return self._data.device

    @property
    def shape(self):
        raise RuntimeError(
            "Can't access the shape of an uninitialized parameter or buffer. This error usually "
            "happens in `load_state_dict` when trying to load an uninitialized parameter into an "
            "initialized one. Call `forward` to initialize the parameters before accessing their "
            "attributes.")

    def size(self, dim: int | None = None):
        """`Size([0])`, as PyTorch reports for an uninitialized tensor (use `shape` to fail)."""
        from .._tensor import Size
        return Size((0,)) if dim is None else (0,)[dim]

    def to(self, *args, **kwargs) -> "UninitializedTensorMixin":
        """A new uninitialized tensor of the same kind with the requested dtype and device."""
        from ..ops.creation import empty
        # A 0-size probe parses the arguments exactly as Tensor.to does (and raises the same).
        kwargs.pop("copy", None)
        probe = empty(0, dtype=self.dtype, device=self.device).to(*args, **kwargs)
        if probe.dtype == self.dtype and probe.device == self.device:
            return self
        return self._remake(probe.device, probe.dtype)

    def _remake(self, device, dtype):
        raise NotImplementedError

    def detach(self):
        raise _use_error("Tensor.detach", type(self).__name__)

    def share_memory_(self):
        raise RuntimeError(
            "Can't share memory on an uninitialized parameter or buffer. Call `forward` to "
            "initialize the parameters before calling `module.share_memory()`.")

    def __deepcopy__(self, memo):
        if id(self) not in memo:
            memo[id(self)] = self._remake(self.device, self.dtype)
        return memo[id(self)]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    __str__ = __repr__


def is_lazy(param) -> bool:
    """Whether `param` is an `UninitializedParameter` or `UninitializedBuffer`."""
    return isinstance(param, UninitializedTensorMixin)


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A `Parameter` whose shape is not known yet (what lazy modules hold before their first call).

    It holds no data: reading its shape or using it in an op raises. It can change dtype or
    device (`to`, `double`, `cuda`, ...) and becomes a regular `Parameter`, in place, with
    `materialize(shape)`.

    Args:
        requires_grad: whether the materialized parameter requires grad (default True).
        device, dtype: the defaults `materialize` uses.

    Example:
        >>> p = UninitializedParameter()
        >>> p.materialize((2, 3))
        >>> type(p).__name__, p.shape
        ('Parameter', dyngraph.Size([2, 3]))
    """

    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device=None, dtype=None):
        self._init_uninitialized(requires_grad, device, dtype)

    def _remake(self, device, dtype):
        return type(self)(self._rg, device, dtype)


class UninitializedBuffer(UninitializedTensorMixin, Buffer):
    """A buffer whose shape is not known yet (e.g. a lazy BatchNorm's running mean).

    It holds no data: reading its shape or using it in an op raises. It can change dtype or
    device and becomes a plain `Tensor`, in place, with `materialize(shape)`.

    Args:
        requires_grad: whether the materialized tensor requires grad (default False).
        device, dtype: the defaults `materialize` uses.
        persistent: whether the buffer is part of its module's `state_dict`.
    """

    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device=None, dtype=None,
                 persistent: bool = True):
        self._init_uninitialized(requires_grad, device, dtype)
        self.persistent = persistent

    def _remake(self, device, dtype):
        return type(self)(self._rg, device, dtype, self.persistent)
