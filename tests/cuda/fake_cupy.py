"""A stand-in for cupy on machines without a GPU: numpy's arrays under another type and module.

`FakeArray` is an ndarray subclass (so numpy's functions accept it and ufuncs keep the type) that
says it lives on `cuda:0` and has cupy's `get()`; `module` is an array module whose functions
return `FakeArray`s and which counts host-to-device copies (`asarray` of a numpy array).
`installed(monkeypatch)` registers it where dyngraph looks for cupy (`dyngraph._device._cupy`, and
`sys.modules["cupy"]` for code that imports it), so `get_array_module`, `device_of` and
`to_device_array` treat its arrays as CUDA arrays.
It checks dispatch decisions (which array module, which program, how many copies), not kernels.
"""

from __future__ import annotations

import contextlib
import sys
import types

import numpy as np


class _Device:
    def __init__(self, id: int = 0):  # noqa: A002 - cupy's name
        self.id = id
        self.attributes = {"MultiProcessorCount": 4}
        self.compute_capability = "90"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class FakeArray(np.ndarray):
    """A numpy array standing for a cupy array on cuda:0."""

    @property
    def device(self):
        return _Device(0)

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # reductions to one value stay arrays on the device, as cupy's do
        return np.asarray(arr).view(FakeArray)

    @property
    def flags(self):
        """cupy's flags: the layout ones, no `writeable` (cupy has no read-only arrays)."""
        f = np.ndarray.flags.__get__(self)
        return types.SimpleNamespace(c_contiguous=f.c_contiguous, f_contiguous=f.f_contiguous,
                                     owndata=f.owndata)

    def get(self):
        """The host copy (cupy's `ndarray.get`)."""
        return np.array(self).view(np.ndarray)


def _fake(x):
    if type(x) is np.ndarray:
        return x.view(FakeArray)
    if isinstance(x, np.generic):
        return np.asarray(x).view(FakeArray)
    if isinstance(x, tuple):
        return tuple(_fake(a) for a in x)
    if isinstance(x, list):
        return [_fake(a) for a in x]
    return x


def _wrapped(fn):
    def call(*args, **kwargs):
        return _fake(fn(*args, **kwargs))
    call.__name__ = getattr(fn, "__name__", "fn")
    return call


class _RandomState:
    """cupy.random.RandomState's surface that dyngraph's CUDA generator uses (cupy takes 64-bit
    seeds; numpy's RandomState only 32-bit ones, so the seed is folded)."""

    def __init__(self, seed: int = 0):
        self._rs = np.random.RandomState(int(seed) % (2**32))

    def __getattr__(self, name):
        return _wrapped(getattr(self._rs, name))


class _Module(types.ModuleType):
    """numpy with every function's arrays turned into `FakeArray` (types and ufuncs pass
    through: ufuncs keep the subclass of their inputs)."""

    def __init__(self):
        super().__init__("fake_cupy")
        self.ndarray = FakeArray
        self.copies = 0         # host -> "device" copies made by asarray
        self.calls = 0          # module functions called (the interpreter used this module)
        self.cuda = types.SimpleNamespace(Device=_Device, is_available=lambda: True)
        self.random = types.SimpleNamespace(RandomState=_RandomState)

    def is_available(self) -> bool:
        return True

    def asarray(self, a, dtype=None):
        self.calls += 1
        if not isinstance(a, FakeArray):
            self.copies += 1
        return np.asarray(a, dtype=dtype).view(FakeArray)

    def __getattr__(self, name):
        obj = getattr(np, name)
        if callable(obj) and not isinstance(obj, (type, np.ufunc)):
            def counted(*args, **kwargs):
                self.calls += 1
                return _wrapped(obj)(*args, **kwargs)
            return counted
        return obj


@contextlib.contextmanager
def installed(monkeypatch):
    """Register a fresh fake module as dyngraph's cupy for the duration; yields it."""
    import dyngraph._device as device_mod
    fake = _Module()
    monkeypatch.setattr(device_mod, "_cupy", fake)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    yield fake


def on_device(a) -> FakeArray:
    """A numpy array as a fake device array (no copy counted)."""
    return np.ascontiguousarray(a).view(FakeArray)


def forbid_host_transfers_in_capture(monkeypatch, fake) -> None:
    """Make the stand-in behave like cupy during a CUDA graph capture (while
    `dyngraph._device.deferred_checks()` is open): reading a device value on the host (`int`,
    `bool`, `float`, `.item()`, `.get()`, ...) or copying host data in (`asarray` of a list or
    numpy array) raises, as cupy's refusal would break the capture."""
    import dyngraph._device as device_mod

    def guarded(name, base):
        def f(self, *args, **kwargs):
            if device_mod._deferred is not None:
                raise RuntimeError(f"host read ({name}) of a device value during a capture")
            return base(self, *args, **kwargs)
        return f
    for name in ("__int__", "__bool__", "__float__", "__index__", "item", "tolist"):
        monkeypatch.setattr(FakeArray, name, guarded(name, getattr(np.ndarray, name)))
    monkeypatch.setattr(FakeArray, "get", guarded("get", FakeArray.get))
    real = fake.asarray

    def asarray(a, dtype=None):
        if device_mod._deferred is not None and not isinstance(a, FakeArray) and \
                isinstance(a, (np.ndarray, list, tuple)):
            raise RuntimeError(f"host-to-device copy of a {type(a).__name__} during a capture")
        return real(a, dtype)
    monkeypatch.setattr(fake, "asarray", asarray)
