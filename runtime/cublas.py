"""cuBLAS GEMMs that a CUDA graph can capture: `gemm(a, b) -> a @ b` for 2-D cupy arrays.

cupy refuses every cuBLAS call while a stream is being captured (its `setStream` raises
NotImplementedError), although cuBLAS itself supports capture. So the CUDA backend calls the
same library directly through ctypes, on a handle of its own with a workspace of its own
(`cublasSetWorkspace`: nothing is allocated during a capture) and the caller's stream. The
library is the one cupy already loaded (found in /proc/self/maps), so there is one cuBLAS in
the process. Row-major operands map to cuBLAS's column-major GEMM as C^T = B^T A^T; a
transposed (Fortran-ordered) operand is a transpose flag, any other layout is copied first.
Float32 and float64 compute in their own precision (no TF32, as cupy's default); float16
accumulates in float32 (cupy's default for half). `available()` says whether this route works
here; the backend falls back to `cupy.matmul` (which a capture cannot hold) where it does not.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np

__all__ = ["available", "accepts", "gemm", "GEMM_DTYPES", "WORKSPACE_BYTES"]

WORKSPACE_BYTES = 32 << 20          # NVIDIA's recommendation for Hopper
_OP_N, _OP_T = 0, 1
_GEMM_DEFAULT = -1
# dtype -> (cudaDataType of the operands, cublasComputeType, ctype of alpha/beta)
GEMM_DTYPES = {"float32": (0, 68, ctypes.c_float), "float64": (1, 70, ctypes.c_double),
               "float16": (2, 68, ctypes.c_float)}

_state: dict = {}                   # "lib", "why", device id -> (handle, workspace)


def _library():
    if "lib" in _state or "why" in _state:
        return _state.get("lib")
    import sys
    cupy = sys.modules.get("cupy")
    if cupy is not None and getattr(cupy, "__file__", None) is None:
        return None         # a stand-in module (the tests' fake cupy): decide on the real one
    try:
        import cupy
        cupy.cuda.device.get_cublas_handle()        # cupy loads its cuBLAS now
        path = None
        with open("/proc/self/maps") as f:
            for line in f:
                name = line.rsplit(None, 1)[-1]
                if "/libcublas.so" in name:
                    path = name
                    break
        path = path or ctypes.util.find_library("cublas")
        if path is None:
            raise OSError("libcublas is not loaded and not on the library path")
        lib = ctypes.CDLL(path)
        vp, i = ctypes.c_void_p, ctypes.c_int
        lib.cublasCreate_v2.argtypes = [ctypes.POINTER(vp)]
        lib.cublasSetStream_v2.argtypes = [vp, vp]
        lib.cublasSetWorkspace_v2.argtypes = [vp, vp, ctypes.c_size_t]
        lib.cublasGemmEx.argtypes = [vp, i, i, i, i, i, vp, vp, i, i, vp, i, i, vp, vp, i, i,
                                     i, i]
        for fn in (lib.cublasCreate_v2, lib.cublasSetStream_v2, lib.cublasSetWorkspace_v2,
                   lib.cublasGemmEx):
            fn.restype = ctypes.c_int
        _state["lib"], _state["cupy"] = lib, cupy
    except Exception as e:  # noqa: BLE001 - no cupy, no GPU, no library: not this route
        _state["why"] = f"{type(e).__name__}: {e}"
        return None
    return lib


def available() -> bool:
    """Whether GEMMs go through this module (else `why()` says what is missing)."""
    return _library() is not None


def accepts(*arrays) -> bool:
    """Whether `gemm` takes these: cupy arrays of one dtype of GEMM_DTYPES, 2-D, on a machine
    where this route works."""
    if not available():
        return False
    cupy = _state["cupy"]
    dt = arrays[0].dtype
    return dt.name in GEMM_DTYPES and all(
        isinstance(x, cupy.ndarray) and x.ndim == 2 and x.dtype == dt for x in arrays)


def why() -> str:
    _library()
    return _state.get("why", "")


def _check(status: int, what: str) -> None:
    if status != 0:
        raise RuntimeError(f"cuBLAS {what} failed with status {status}")


def _handle(lib, cp):
    dev = cp.cuda.Device().id
    got = _state.get(dev)
    if got is None:
        handle = ctypes.c_void_p()
        _check(lib.cublasCreate_v2(ctypes.byref(handle)), "cublasCreate")
        ws = cp.empty(WORKSPACE_BYTES, dtype=np.uint8)
        _check(lib.cublasSetWorkspace_v2(handle, ws.data.ptr, WORKSPACE_BYTES),
               "cublasSetWorkspace")
        got = _state[dev] = (handle, ws)
    return got[0]


def _operand(x, cp):
    """(array, transposed?, leading dimension) of a 2-D operand as cuBLAS reads it."""
    rows, cols = x.shape
    if x.flags.c_contiguous:
        return x, False, max(1, cols)
    if x.flags.f_contiguous:
        return x, True, max(1, rows)
    return cp.ascontiguousarray(x), False, max(1, cols)


def gemm(a, b, out=None):
    """`a @ b` for 2-D cupy arrays of one dtype of GEMM_DTYPES, on the current stream (a
    capture records it). `out`: a C-contiguous (M, N) array to write, else a new one."""
    import cupy as cp
    lib = _library()
    if lib is None:
        raise RuntimeError(f"cuBLAS through ctypes is not available: {why()}")
    dt, compute, ctype_ = GEMM_DTYPES[a.dtype.name]
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = cp.empty((m, n), dtype=a.dtype)
    if m == 0 or n == 0:
        return out
    if k == 0:
        out.fill(0)
        return out
    a, ta, lda = _operand(a, cp)
    b, tb, ldb = _operand(b, cp)
    handle = _handle(lib, cp)
    _check(lib.cublasSetStream_v2(handle, cp.cuda.get_current_stream().ptr), "cublasSetStream")
    one, zero = ctype_(1.0), ctype_(0.0)
    # column-major: C^T (n x m) = op(B^T) (n x k) @ op(A^T) (k x m)
    _check(lib.cublasGemmEx(handle, _OP_T if tb else _OP_N, _OP_T if ta else _OP_N, n, m, k,
                            ctypes.byref(one), b.data.ptr, dt, ldb, a.data.ptr, dt, lda,
                            ctypes.byref(zero), out.data.ptr, dt, n, compute, _GEMM_DEFAULT),
           "cublasGemmEx")
    return out
