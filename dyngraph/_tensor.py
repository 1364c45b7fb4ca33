"""`dyngraph.Tensor`: an array (numpy on the CPU, cupy on CUDA) plus autograd state.

Operators and methods are thin: they call the public functions in `dyngraph.ops`, which go through
`apply`. This file holds only what is about the tensor object itself: construction, properties,
autograd entry points, the Python protocol and printing.
"""

from __future__ import annotations

import numpy as np

from . import _dispatch
from . import _dtype as D
from . import _memory_format as _mf
from ._device import CPU, device, device_of, to_device_array
from ._dispatch import state

__all__ = ["Tensor", "Size"]

_new = object.__new__


class Size(tuple):
    """The shape of a tensor: a tuple (sliceable, comparable with tuples) with `numel()`."""

    def __getitem__(self, item):
        r = tuple.__getitem__(self, item)
        return Size(r) if isinstance(item, slice) else r

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))

    def __radd__(self, other):
        return Size(tuple(other) + tuple(self))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"dyngraph.Size({list(self)})"


class Tensor:
    """A multi-dimensional array with autograd, on the CPU (numpy) or a CUDA device (cupy).

    Prefer the factory functions (`dyngraph.tensor`, `zeros`, `randn`, ...). As in PyTorch,
    `Tensor(list)` makes a float32 tensor from data and `Tensor(2, 3)` an uninitialised one.
    """

    # Every tensor sets the slots; the rarely-set state below falls back to class defaults, which
    # keeps creating a tensor (once per op) cheap.
    __slots__ = ("_data", "_rg", "grad_fn", "_vc", "__weakref__", "__dict__")
    _base = None     # the tensor this one is a view of
    _hooks = None    # gradient hooks of a leaf
    _accum = None    # a leaf's AccumulateGrad node

    __array_priority__ = 1000  # numpy defers to our reflected operators (ndarray * Tensor)

    def __init__(self, *args, dtype=None, device=None):
        from .ops.creation import _array_from_data
        if len(args) == 1 and not isinstance(args[0], int):
            arr = _array_from_data(args[0], dtype or D.get_default_dtype(), device)
        else:
            shape = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
            arr = np.empty(tuple(shape), dtype=(dtype or D.get_default_dtype()).np)
            if device is not None:
                arr = to_device_array(arr, _as_device(device))
        _init(self, arr)

    # ----- the gradient ------------------------------------------------------------------------
    # `_grad` (what `.grad` reads and writes) is stored as `__dict__["_g"]` behind a property, so
    # that a trace sees the first access to each tensor's gradient (compiler/trace.py,
    # `Tracer.grad_access`): a function whose first touch of a parameter's .grad sets it
    # (zero_grad(set_to_none=True) at the top of a training step) does not depend on whether a
    # gradient existed before the call, and needs no guard on it (one trace instead of two).
    @property
    def _grad(self):
        tr = state.tracer
        if tr is not None and tr.watch_grads:
            tr.grad_access(self, "read")
        return self.__dict__.get("_g")

    @_grad.setter
    def _grad(self, value) -> None:
        tr = state.tracer
        if tr is not None and tr.watch_grads:
            tr.grad_access(self, "write")
        self.__dict__["_g"] = value

    # ----- basic properties -------------------------------------------------------------------
    @property
    def data(self) -> "Tensor":
        """A tensor sharing storage with this one, detached from autograd."""
        return self.detach()

    @data.setter
    def data(self, value: "Tensor") -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        """The shape as a `Size`, or the size of one dimension."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim, "size")]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        return self.dtype.itemsize

    @property
    def dtype(self) -> D.dtype:
        npd = self._data.dtype
        d = D._FROM_NP.get(npd)
        return d if d is not None else D.from_numpy_dtype(npd)

    @property
    def device(self) -> device:
        a = self._data
        return CPU if type(a) is np.ndarray else device_of(a)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set whether autograd records operations on this leaf tensor (in place)."""
        if self.grad_fn is not None:
            if not requires_grad:
                raise RuntimeError(
                    "you can only change requires_grad flags of leaf variables. If you want to use "
                    "a computed variable in a subgraph that doesn't require differentiation use "
                    "var_no_grad = var.detach().")
            return self
        if requires_grad and not _is_float(self._data.dtype):
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients (got {self.dtype})")
        self._rg = bool(requires_grad)
        return self

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got {value!r}")
            if value.shape != self.shape:
                raise RuntimeError(
                    f"assigned grad has data of a different size: {tuple(value.shape)} vs "
                    f"{tuple(self.shape)}")
        self._grad = value

    @property
    def _version(self) -> int:
        return self._vc[0]

    @property
    def retains_grad(self) -> bool:
        n = self.grad_fn
        return n is not None and n._retain is not None and n._retain() is self

    # ----- autograd -------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad."""
        from .autograd import backward
        backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph,
                 inputs=inputs)

    def detach(self) -> "Tensor":
        """A tensor sharing storage (and version counter) with this one, outside autograd."""
        t = _wrap(self._data)
        t._vc = self._vc  # in-place changes through it still invalidate saved tensors
        return t

    def detach_(self) -> "Tensor":
        self.grad_fn = None
        self._rg = False
        return self

    def register_hook(self, hook):
        """Call `hook(grad)` when this tensor's gradient is computed; it may return a new one."""
        if not self._rg:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            self._hooks.append(hook)
            hooks = self._hooks
        else:
            self.grad_fn.register_prehook(hook)
            hooks = self.grad_fn._pre_hooks
        return _RemovableHandle(hooks, hook)

    def retain_grad(self) -> None:
        """Keep `.grad` for this non-leaf tensor after backward."""
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            import weakref
            self.grad_fn._retain = weakref.ref(self)

    # ----- conversion -------------------------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The numpy array behind this CPU tensor (shared memory)."""
        if self._rg and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead.")
        if state.tracer is not None:
            state.tracer.concretize(self, "numpy")
        if type(self._data) is not np.ndarray:
            if not force:
                raise TypeError(
                    f"can't convert {self.device} device type tensor to numpy. Use Tensor.cpu() "
                    "to copy the tensor to host memory first.")
            return self._data.get()
        return self._data

    def __array__(self, dtype=None, copy=None):
        if self._rg:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead.")
        if state.tracer is not None:
            state.tracer.concretize(self, "numpy")
        a = self._data if type(self._data) is np.ndarray else self._data.get()
        return a if dtype is None else a.astype(dtype, copy=False)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        if state.tracer is not None:
            return state.tracer.concretize(self, "item")
        return self._data.reshape(()).item() if type(self._data) is np.ndarray else \
            self._data.get().reshape(()).item()

    def tolist(self):
        """Nested Python lists of the values."""
        if state.tracer is not None:
            state.tracer.concretize(self, "tolist")
        a = self._data if type(self._data) is np.ndarray else self._data.get()
        if a.dtype.name == "bfloat16":
            a = a.astype(np.float32)
        return a.tolist()

    def to(self, *args, **kwargs) -> "Tensor":
        """Move and/or cast: `to(device)`, `to(dtype)`, `to(device, dtype)`, `to(other)`; with
        `memory_format=` the result is also laid out in that format."""
        dev, dt, copy = None, None, kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        fmt = kwargs.pop("memory_format", None)
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, Tensor):
                dev, dt = a.device, a.dtype
            elif isinstance(a, D.dtype) or a in (float, int, bool):
                dt = D.to_dtype(a)
            elif isinstance(a, (str, device, int)):
                dev = device(a)
            elif a is None:
                continue
            else:
                raise TypeError(f"to(): unexpected argument {a!r}")
        out = self
        if dt is not None and dt is not self.dtype:
            from .ops import cast
            out = cast(out, dt)
        if dev is not None and dev != out.device:
            from .ops import to_device
            out = to_device(out, dev)
        if copy and out is self:
            out = self.clone()
        if fmt is not None and fmt is not _mf.preserve_format:
            _mf.check_format(fmt, out, "to")
            out = out.contiguous(memory_format=fmt)
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        return self.to(f"cuda:{device}" if isinstance(device, int) else (device or "cuda"))

    def type(self, dtype=None):
        """The type name (`'dyngraph.FloatTensor'`), or a cast when `dtype` is given."""
        if dtype is None:
            return _TYPE_NAMES.get(self.dtype.name, "dyngraph.Tensor")
        if isinstance(dtype, str):
            inv = {v: k for k, v in _TYPE_NAMES.items()}
            if dtype.replace("torch.", "dyngraph.") in inv:
                dtype = inv[dtype.replace("torch.", "dyngraph.")]
        return self.to(D.to_dtype(dtype))

    def float(self) -> "Tensor":
        return self.to(D.float32)

    def double(self) -> "Tensor":
        return self.to(D.float64)

    def half(self) -> "Tensor":
        return self.to(D.float16)

    def bfloat16(self) -> "Tensor":
        return self.to(D.bfloat16)

    def long(self) -> "Tensor":
        return self.to(D.int64)

    def int(self) -> "Tensor":
        return self.to(D.int32)

    def short(self) -> "Tensor":
        return self.to(D.int16)

    def char(self) -> "Tensor":
        return self.to(D.int8)

    def byte(self) -> "Tensor":
        return self.to(D.uint8)

    def bool(self) -> "Tensor":
        return self.to(D.bool_)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def is_contiguous(self, memory_format=None) -> bool:
        """Whether the memory is dense in `memory_format`'s order (row-major by default)."""
        if memory_format is None or memory_format is _mf.contiguous_format:
            return bool(self._data.flags.c_contiguous)
        return _mf.is_contiguous_in(self, memory_format)

    @property
    def layout(self):
        """The storage layout: always dyngraph.strided."""
        return _mf.strided

    def stride(self, dim: int | None = None):
        st = tuple(s // self._data.itemsize for s in self._data.strides)
        return st if dim is None else st[_wrap_dim(dim, self.ndim, "stride")]

    def data_ptr(self) -> int:
        a = self._data
        return a.ctypes.data if type(a) is np.ndarray else a.data.ptr

    def untyped_storage(self):
        return self._data.base if self._data.base is not None else self._data

    # ----- the Python protocol ----------------------------------------------------------------
    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        if state.tracer is not None:
            state.tracer.concretize(self, "iter")
        return iter(self.unbind(0))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with more than one value is ambiguous "
                f"(the tensor has {self._data.size} elements); use .any() or .all()")
        if state.tracer is not None:
            return bool(state.tracer.concretize(self, "bool"))
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __hash__(self) -> int:
        return id(self)

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec) if spec else repr(self)

    def __repr__(self) -> str:
        from ._printing import tensor_repr
        return tensor_repr(self)

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        raise TypeError(
            "dyngraph tensors are not pickled; use dyngraph.save (safetensors) for checkpoints")

    def __deepcopy__(self, memo):
        if not self.is_leaf:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol at the moment")
        t = _wrap(self._data.copy())
        t._rg = self._rg
        if type(self) is not Tensor:
            t = type(self)._from_tensor(t, self) if hasattr(type(self), "_from_tensor") else t
        memo[id(self)] = t
        return t

    # ----- DLPack -------------------------------------------------------------------------------
    def __dlpack__(self, *args, **kwargs):
        if self._rg:
            raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()


_TYPE_NAMES = {
    "float32": "dyngraph.FloatTensor", "float64": "dyngraph.DoubleTensor",
    "float16": "dyngraph.HalfTensor", "bfloat16": "dyngraph.BFloat16Tensor",
    "int64": "dyngraph.LongTensor", "int32": "dyngraph.IntTensor",
    "int16": "dyngraph.ShortTensor", "int8": "dyngraph.CharTensor",
    "uint8": "dyngraph.ByteTensor", "bool": "dyngraph.BoolTensor",
}


class _RemovableHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _is_float(npd) -> bool:
    return npd.kind == "f" or npd.name == "bfloat16"


def _init(t, arr) -> None:
    t._data = arr
    t._rg = False
    t.grad_fn = None
    t._vc = [0]


def _wrap(arr) -> Tensor:
    """Wrap an array in a new Tensor without copying or checks (the hot path)."""
    t = _new(Tensor)
    t._data = arr
    t._rg = False
    t.grad_fn = None
    t._vc = [0]
    return t


def _wrap_dim(dim: int, ndim: int, op: str = "") -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(
            f"{op + ': ' if op else ''}Dimension out of range (expected to be in range of "
            f"[{-n}, {n - 1}], but got {dim})")
    return dim % n if ndim else 0


def _as_device(d) -> device:
    return d if isinstance(d, device) else device(d)


_dispatch._Tensor = Tensor
_dispatch._wrap = _wrap


def raw_grad(t: Tensor):
    """`t._grad` without telling a running trace (its own bookkeeping reads it)."""
    return t.__dict__.get("_g")


def set_raw_grad(t: Tensor, g) -> None:
    """`t._grad = g` without telling a running trace."""
    t.__dict__["_g"] = g
