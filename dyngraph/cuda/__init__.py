"""`dyngraph.cuda`: CUDA availability and device queries (cupy is imported only when needed)."""

from __future__ import annotations

from .._device import cuda_available, cuda_device_count, cupy_module

__all__ = ["is_available", "device_count", "current_device", "synchronize", "manual_seed",
           "manual_seed_all", "get_device_name"]


def is_available() -> bool:
    """True when cupy is installed and a CUDA device with a driver is present."""
    return cuda_available()


def device_count() -> int:
    return cuda_device_count()


def current_device() -> int:
    if not is_available():
        raise RuntimeError("CUDA is not available (no GPU or driver found)")
    return int(cupy_module().cuda.runtime.getDevice())


def set_device(index: int) -> None:
    cupy_module().cuda.runtime.setDevice(int(index))


def synchronize(device=None) -> None:
    if is_available():
        cupy_module().cuda.Stream.null.synchronize()


def get_device_name(device=None) -> str:
    idx = 0 if device is None else int(str(device).split(":")[-1]) if ":" in str(device) else 0
    props = cupy_module().cuda.runtime.getDeviceProperties(idx)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else name


def manual_seed(seed: int) -> None:
    from ..ops.creation import _gen
    from .._device import device
    if is_available():
        _gen(None, device("cuda:0")).manual_seed(seed)


manual_seed_all = manual_seed
