"""Global settings PyTorch scripts call: threads, matmul precision, determinism, warnings,
denormals; it also exports anomaly mode's flags (dyngraph/autograd/anomaly.py) and the
memory-format and layout objects (dyngraph/_memory_format.py) at the top level.

Threads are real: `set_num_threads` sets the thread pool of the LLVM backend's kernels
(runtime/llvm_backend.py) and OpenBLAS's thread count on the calling thread (runtime/blas.py),
which numpy's own matmul uses too. The other settings are stored and validated as PyTorch does;
dyngraph's CPU kernels are deterministic and compute float32 matmuls in float32 whatever the
precision setting says.
"""

from __future__ import annotations

import builtins
import os
import warnings

from ._memory_format import (channels_last, channels_last_3d, contiguous_format,  # noqa: F401
                             layout, memory_format, preserve_format, strided)
from .autograd.anomaly import (is_anomaly_check_nan_enabled, is_anomaly_enabled,  # noqa: F401
                               set_anomaly_enabled)

__all__ = ["set_num_threads", "get_num_threads", "set_num_interop_threads",
           "get_num_interop_threads", "set_float32_matmul_precision",
           "get_float32_matmul_precision", "use_deterministic_algorithms",
           "are_deterministic_algorithms_enabled", "is_deterministic_algorithms_warn_only_enabled",
           "set_deterministic_debug_mode", "get_deterministic_debug_mode", "set_warn_always",
           "is_warn_always_enabled", "set_flush_denormal", "is_anomaly_enabled",
           "set_anomaly_enabled", "is_anomaly_check_nan_enabled", "memory_format",
           "contiguous_format", "channels_last", "channels_last_3d", "preserve_format", "layout",
           "strided"]

_state = {"interop_threads": os.cpu_count() or 1, "matmul_precision": "highest",
          "deterministic": False, "deterministic_warn_only": False, "warn_always": False}


# ----------------------------------------------------------------------------------------------
# Threads
# ----------------------------------------------------------------------------------------------

def _positive_int(name: str, n) -> int:
    if isinstance(n, builtins.bool) or not isinstance(n, builtins.int):
        raise RuntimeError(f"{name} expects an int, but got {type(n).__name__}")
    if n <= 0:
        raise RuntimeError(f"{name} expects a positive integer")
    return n


def set_num_threads(n: int) -> None:
    """Use `n` threads for intra-op work: the compiled LLVM kernels' thread pool and OpenBLAS
    (eager matmuls on this thread, and the GEMMs of compiled programs planned afterwards).

    Example:
        >>> dyngraph.set_num_threads(1); dyngraph.get_num_threads()
        1
    """
    from runtime import blas, llvm_backend
    n = _positive_int("set_num_threads", n)
    llvm_backend.set_num_threads(n)
    blas.set_threads(n)
    blas.set_max_threads(n)       # the GEMMs of compiled programs planned from now on


def get_num_threads() -> int:
    """The number of threads compiled kernels use (see `set_num_threads`)."""
    from runtime import llvm_backend
    return llvm_backend._threads["n"]


def set_num_interop_threads(n: int) -> None:
    """Store the inter-op thread count (dyngraph runs ops one after another; kept for scripts
    that read it back)."""
    _state["interop_threads"] = _positive_int("set_num_interop_threads", n)


def get_num_interop_threads() -> int:
    """The stored inter-op thread count (the number of CPUs unless set)."""
    return _state["interop_threads"]


# ----------------------------------------------------------------------------------------------
# Matmul precision, determinism, warnings, denormals
# ----------------------------------------------------------------------------------------------

def set_float32_matmul_precision(precision: str) -> None:
    """Store the float32 matmul precision: "highest", "high" or "medium" (anything else warns
    and changes nothing, as in PyTorch). dyngraph always multiplies float32 in float32."""
    if precision not in ("highest", "high", "medium"):
        warnings.warn(f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
                      "setFloat32MatmulPrecision call has no effect.", UserWarning, stacklevel=2)
        return
    _state["matmul_precision"] = precision


def get_float32_matmul_precision() -> str:
    """The stored float32 matmul precision ("highest" unless set)."""
    return _state["matmul_precision"]


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Record whether scripts ask for deterministic algorithms (dyngraph's are: its kernels
    reduce in a fixed order), and whether that request only warns."""
    if not isinstance(mode, builtins.bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'mode' (position 1) must be "
                        f"bool, not {type(mode).__name__}")
    if not isinstance(warn_only, builtins.bool):
        raise TypeError(f"_set_deterministic_algorithms(): argument 'warn_only' must be bool, "
                        f"not {type(warn_only).__name__}")
    _state["deterministic"], _state["deterministic_warn_only"] = mode, mode and warn_only


def are_deterministic_algorithms_enabled() -> bool:
    """Whether `use_deterministic_algorithms(True)` is in effect."""
    return _state["deterministic"]


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    """Whether deterministic mode was turned on with warn_only=True."""
    return _state["deterministic_warn_only"]


_DEBUG_MODES = {"default": 0, "warn": 1, "error": 2}


def set_deterministic_debug_mode(debug_mode) -> None:
    """The deterministic mode as one setting: "default"/0 (off), "warn"/1 (warn only),
    "error"/2 (on)."""
    if isinstance(debug_mode, str):
        if debug_mode not in _DEBUG_MODES:
            raise RuntimeError(f"invalid value of debug_mode, expected one of `default`, `warn`, "
                               f"`error`, but got {debug_mode}")
        debug_mode = _DEBUG_MODES[debug_mode]
    elif not isinstance(debug_mode, builtins.int) or isinstance(debug_mode, builtins.bool):
        raise TypeError(f"debug_mode must be str or int, but got {type(debug_mode)}")
    if debug_mode not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected 0, 1, or 2, but got "
                           f"{debug_mode}")
    use_deterministic_algorithms(debug_mode > 0, warn_only=debug_mode == 1)


def get_deterministic_debug_mode() -> int:
    """0 (off), 1 (warn only) or 2 (on): see `set_deterministic_debug_mode`."""
    if not _state["deterministic"]:
        return 0
    return 1 if _state["deterministic_warn_only"] else 2


def set_warn_always(b: bool) -> None:
    """Record whether once-only warnings should be repeated every time."""
    if not isinstance(b, builtins.bool):
        raise RuntimeError(f"setWarnOnlyOnce expects a bool, but got {type(b).__name__}")
    _state["warn_always"] = b


def is_warn_always_enabled() -> bool:
    """Whether `set_warn_always(True)` is in effect."""
    return _state["warn_always"]


def set_flush_denormal(mode: bool) -> bool:
    """Flushing denormals to zero is not supported (numpy cannot set the FPU's flags): returns
    False, as PyTorch does on CPUs without the feature."""
    return False
