"""Tensor creation: from data, constant fills, ranges, and `Tensor.new_*`.

Random draws and `Generator`s live in `_random.py` and are re-exported here (the same objects).
"""

from __future__ import annotations

import builtins
import math
import sys

import numpy as np

from .. import _dtype as D
from .._device import CPU, cupy_module, device, to_device_array
from .._fpstate import quiet_enter, quiet_exit
from .._tensor import Tensor, _wrap
from ._api import state

__all__ = ["set_default_device", "get_default_device",
    "tensor", "as_tensor", "from_numpy", "asarray", "zeros", "ones", "full", "empty", "zeros_like",
    "ones_like", "full_like", "empty_like", "arange", "linspace", "logspace", "eye", "rand",
    "randn", "randint", "randperm", "normal", "rand_like", "randn_like", "randint_like",
    "manual_seed", "seed", "initial_seed", "Generator", "default_generator", "get_rng_state",
    "set_rng_state", "bernoulli", "multinomial", "from_dlpack", "scalar_tensor", "LongTensor",
    "FloatTensor", "DoubleTensor", "IntTensor", "BoolTensor", "ByteTensor",
]


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------

def _dev(d) -> device:
    if d is None:
        return _default_device
    return d if isinstance(d, device) else device(d)


_default_device = CPU


def set_default_device(device) -> None:
    """Device used by factory functions when `device=` is not given (None means the CPU)."""
    global _default_device
    _default_device = CPU if device is None else _dev(device)


def get_default_device() -> device:
    return _default_device


def _sizes(sizes: tuple, size, op: str) -> tuple:
    """Sizes given as varargs (`zeros(2, 3)`, `zeros((2, 3))`) or as PyTorch's `size=` keyword."""
    if size is None:
        return sizes
    if sizes:
        raise TypeError(f"{op}(): pass the sizes either positionally or as size=, not both")
    return (size,)


def _shape(size) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = size[0]
    if len(size) == 1 and hasattr(size[0], "__iter__") and not isinstance(size[0], Tensor):
        size = tuple(size[0])
    out = []
    for s in size:
        if isinstance(s, Tensor):
            s = int(s)
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(f"size must be a sequence of ints, got {size!r}")
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
        out.append(int(s))
    return tuple(out)


def _place(arr, dev: device, requires_grad: bool) -> Tensor:
    if dev.type != "cpu":
        arr = to_device_array(arr, dev)
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer_dtype(data) -> D.dtype:
    """PyTorch's rule for Python data: bool, int -> int64, float -> default float."""
    if isinstance(data, Tensor):
        return data.dtype
    if isinstance(data, np.ndarray):
        return D.from_numpy_dtype(data.dtype)
    if isinstance(data, np.generic):
        return D.from_numpy_dtype(data.dtype)
    cat = -1
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        elif isinstance(x, Tensor):
            c = x.dtype._category
            cat = builtins.max(cat, c)
        elif isinstance(x, (bool, np.bool_)):
            cat = builtins.max(cat, D._BOOL)
        elif isinstance(x, (int, np.integer)):
            cat = builtins.max(cat, D._INT)
        elif isinstance(x, (float, np.floating)):
            cat = builtins.max(cat, D._FLOAT)
        else:
            raise TypeError(f"tensor(): could not infer dtype of {type(x).__name__}")
    return {D._BOOL: D.bool_, D._INT: D.int64}.get(cat, D.get_default_dtype())


def _array_from_data(data, dtype, dev) -> np.ndarray:
    dt = D.to_dtype(dtype) if dtype is not None else _infer_dtype(data)
    if isinstance(data, Tensor):
        arr = data._data
        if type(arr) is not np.ndarray:
            arr = arr.get()
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        arr = np.array(_to_nested(data))
    else:
        arr = data
    token = quiet_enter()   # values beyond the dtype's range become inf, as in PyTorch
    try:
        arr = np.array(arr, dtype=dt.np)
    except (ValueError, TypeError) as e:
        raise ValueError(f"tensor(): could not build a tensor from the data: {e}") from None
    finally:
        quiet_exit(token)
    if dev is not None and _dev(dev).type != "cpu":
        arr = to_device_array(arr, _dev(dev))
    return arr


def _flat(data):
    for x in data:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def _to_nested(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_to_nested(x) for x in data]
    return data


# ----------------------------------------------------------------------------------------------
# from data
# ----------------------------------------------------------------------------------------------

def tensor(data, *, dtype=None, device=None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new tensor holding a copy of `data` (nested lists, numbers, numpy arrays, tensors).

    Example:
        >>> dyngraph.tensor([[1., 2.], [3., 4.]], requires_grad=True)
        tensor([[1., 2.],
                [3., 4.]], requires_grad=True)
    """
    if state.tracer is not None and isinstance(data, Tensor):
        return data.detach().clone()
    dt = D.to_dtype(dtype) if dtype is not None else _infer_dtype(data)
    dev = _dev(device) if device is not None else (
        data.device if isinstance(data, Tensor) else _default_device)
    if isinstance(data, Tensor) and data.device.type != "cpu":
        arr = data._data.astype(dt.np, copy=True)
        t = _wrap(to_device_array(arr, dev) if dev != data.device else arr)
    else:
        t = _place(_array_from_data(data, dt, None), dev, False)
    if requires_grad:
        t.requires_grad_(True)
    return t


def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    return tensor(s, dtype=dtype or D.get_default_dtype(), device=device,
                  requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like `tensor`, but shares memory with a numpy array or tensor when dtype and device match."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (dtype or device) else data
    if isinstance(data, np.ndarray) and (device is None or _dev(device).type == "cpu"):
        if dtype is None or D.to_dtype(dtype).np == data.dtype:
            D.from_numpy_dtype(data.dtype)
            return _wrap(data)
    if type(data).__module__.startswith("cupy"):
        return from_dlpack(data)
    return tensor(data, dtype=dtype, device=device)


asarray = as_tensor


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with `ndarray` (writes show through both ways)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    D.from_numpy_dtype(ndarray.dtype)
    return _wrap(ndarray)


def _numpy_from_dlpack(ext_tensor) -> np.ndarray:
    """`np.from_dlpack`, plus bfloat16 (numpy has no DLPack code for it): the producer's int16
    view is imported and reinterpreted as ml_dtypes' bfloat16, still sharing memory."""
    try:
        return np.from_dlpack(ext_tensor)
    except (BufferError, RuntimeError, TypeError):
        if not str(getattr(ext_tensor, "dtype", "")).endswith("bfloat16"):
            raise
        # The producer's own int16 dtype (torch.int16 for a PyTorch tensor).
        library = sys.modules.get(type(ext_tensor).__module__.split(".")[0])
        bits = ext_tensor.view(getattr(library, "int16", np.int16))
        return np.from_dlpack(bits).view(D.bfloat16.np)


def from_dlpack(ext_tensor, *, device=None, copy=None) -> Tensor:
    """A tensor sharing memory with any object that implements the DLPack protocol.

    Args:
        ext_tensor: a numpy/cupy array, a PyTorch tensor, or anything with `__dlpack__`.
        device: move the result there (a copy when it differs from the source's device).
        copy: True always copies; None or False shares memory where possible.

    Example:
        >>> a = numpy.zeros(3); dyngraph.from_dlpack(a)[0] = 1; a[0]
        1.0
    """
    if isinstance(ext_tensor, Tensor):
        ext_tensor = ext_tensor.detach()
        t = ext_tensor if device is None else ext_tensor.to(_dev(device))
        return t.clone() if copy and t is ext_tensor else t
    dev_type, _ = (ext_tensor.__dlpack_device__() if hasattr(ext_tensor, "__dlpack_device__")
                   else (1, 0))
    if int(dev_type) == 1:  # kDLCPU
        arr = _numpy_from_dlpack(ext_tensor)
    else:
        arr = cupy_module().from_dlpack(ext_tensor)
    D.from_numpy_dtype(arr.dtype)
    t = _wrap(arr)
    if device is not None:
        t = t.to(_dev(device))
    return t.clone() if copy and t._data is arr else t


def _legacy(dt):
    def ctor(*args, device=None):
        if len(args) == 1 and not isinstance(args[0], int):
            return tensor(args[0], dtype=dt, device=device)
        return empty(*args, dtype=dt, device=device)
    return ctor


LongTensor = _legacy(D.int64)
FloatTensor = _legacy(D.float32)
DoubleTensor = _legacy(D.float64)
IntTensor = _legacy(D.int32)
BoolTensor = _legacy(D.bool_)
ByteTensor = _legacy(D.uint8)


# ----------------------------------------------------------------------------------------------
# fills and ranges
# ----------------------------------------------------------------------------------------------

def _xp(dev: device):
    return np if dev.type == "cpu" else cupy_module()


def _filled(fill, size, dtype, device, requires_grad, default=None):
    shape = _shape(size)
    dt = D.to_dtype(dtype) if dtype is not None else (default or D.get_default_dtype())
    dev = _dev(device)
    xp = _xp(dev)
    if dev.type != "cpu":
        with cupy_module().cuda.Device(dev.index or 0):
            arr = fill(xp, shape, dt.np)
    else:
        arr = fill(xp, shape, dt.np)
    return _place(arr, CPU, requires_grad) if dev.type == "cpu" else _finish(arr, requires_grad)


def _finish(arr, requires_grad):
    t = _wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    """A tensor of zeros. Sizes as varargs (`zeros(2, 3)`), a tuple, or `size=(2, 3)`."""
    size = _sizes(sizes, size, "zeros")
    return _out(_filled(lambda xp, s, d: xp.zeros(s, d), size, dtype, device, requires_grad), out)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    """A tensor of ones (sizes as in `zeros`)."""
    size = _sizes(sizes, size, "ones")
    return _out(_filled(lambda xp, s, d: xp.ones(s, d), size, dtype, device, requires_grad), out)


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False, memory_format=None,
          out=None) -> Tensor:
    """An uninitialised tensor (sizes as in `zeros`)."""
    size = _sizes(sizes, size, "empty")
    return _out(_filled(lambda xp, s, d: xp.empty(s, d), size, dtype, device, requires_grad), out)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False, out=None) -> Tensor:
    """A tensor filled with `fill_value` (dtype inferred from the value as in PyTorch)."""
    if isinstance(fill_value, Tensor):
        fill_value = fill_value.item()
    dt = D.to_dtype(dtype) if dtype is not None else D.result_type(fill_value)
    size = (size,) if isinstance(size, int) else tuple(size)
    return _out(_filled(lambda xp, s, d: xp.full(s, fill_value, d), (size,), dt, device,
                        requires_grad), out)


def _out(t: Tensor, out) -> Tensor:
    if out is None:
        return t
    from ._api import write_out
    return write_out(t, out, "factory")


def zeros_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    """Zeros with the shape (and by default dtype and device) of `input`."""
    return zeros(tuple(input.shape), dtype=dtype or input.dtype, device=device or input.device,
                 requires_grad=requires_grad)


def ones_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    """Ones with the shape (and by default dtype and device) of `input`."""
    return ones(tuple(input.shape), dtype=dtype or input.dtype, device=device or input.device,
                requires_grad=requires_grad)


def empty_like(input, *, dtype=None, device=None, requires_grad=False, memory_format=None):
    """An uninitialised tensor shaped like `input`."""
    return empty(tuple(input.shape), dtype=dtype or input.dtype, device=device or input.device,
                 requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, device=None, requires_grad=False,
              memory_format=None):
    """`fill_value` everywhere, shaped like `input` (dtype of `input` unless given)."""
    return full(tuple(input.shape), fill_value, dtype=dtype or input.dtype,
                device=device or input.device, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False,
           out=None) -> Tensor:
    """Values from `start` (default 0) to `end` (exclusive) by `step`.

    Integer arguments give int64; any float argument gives the default float dtype.
    """
    if end is None:
        start, end = 0, start
    vals = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    start, end, step = vals
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(
            f"arange: upper bound and larger bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})")
    dt = D.to_dtype(dtype) if dtype is not None else D.result_type(*vals)
    n = builtins.max(0, math.ceil((end - start) / step))
    dev = _dev(device)
    xp = _xp(dev)
    if dt.is_floating_point:
        arr = (xp.arange(n, dtype=np.float64) * step + start).astype(dt.np)
    else:
        arr = xp.arange(start, start + n * step, step, dtype=np.int64)[:n].astype(dt.np)
    return _out(_finish(arr, requires_grad), out)


def linspace(start, end, steps: int, *, dtype=None, device=None, requires_grad=False,
             out=None) -> Tensor:
    """`steps` evenly spaced values from `start` to `end` inclusive."""
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    if steps < 0:
        raise RuntimeError("linspace: number of steps must be non-negative")
    xp = _xp(_dev(device))
    arr = xp.linspace(float(start), float(end), steps).astype(dt.np)
    return _out(_finish(arr, requires_grad), out)


def logspace(start, end, steps: int, base: float = 10.0, *, dtype=None, device=None,
             requires_grad=False) -> Tensor:
    """`base ** linspace(start, end, steps)`."""
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    xp = _xp(_dev(device))
    arr = (base ** xp.linspace(float(start), float(end), steps)).astype(dt.np)
    return _finish(arr, requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None, requires_grad=False,
        out=None) -> Tensor:
    """The identity matrix (n x m)."""
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    xp = _xp(_dev(device))
    return _out(_finish(xp.eye(n, m if m is not None else n, dtype=dt.np), requires_grad), out)


# ----------------------------------------------------------------------------------------------
# Tensor.new_* : factories that default to the dtype and device of an existing tensor
# ----------------------------------------------------------------------------------------------

def _new_factory(name: str, make):
    def method(self, *sizes, size=None, dtype=None, device=None, requires_grad=False):
        shape = sizes if size is None else (size,)
        return make(shape, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"`dyngraph.{name[4:]}(size)` with this tensor's dtype and device by "
                      "default (sizes as varargs or a tuple).")
    setattr(Tensor, name, method)


_new_factory("new_zeros", lambda s, **k: zeros(*s, **k))
_new_factory("new_ones", lambda s, **k: ones(*s, **k))
_new_factory("new_empty", lambda s, **k: empty(*s, **k))


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """`dyngraph.full(size, fill_value)` with this tensor's dtype and device by default."""
    return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    """`dyngraph.tensor(data)` with this tensor's dtype and device by default."""
    return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                  requires_grad=requires_grad)


Tensor.new_full = _new_full
Tensor.new_tensor = _new_tensor


# The random-number half lives in _random.py; it imports the helpers above, so it is loaded last.
# Re-exported here so every name (the module-level generators included) stays importable from
# this module as the same object.
from ._random import (  # noqa: E402,F401
    Generator, _check_multinomial_weights, _cuda_generators, _draw, _gen, _GENERATORS, _random,
    bernoulli, default_generator, get_rng_state, initial_seed, manual_seed, multinomial, normal,
    rand, rand_like, randint, randint_like, randn, randn_like, random_op, randperm, seed,
    set_rng_state,
)
