"""BLAS: the Fortran `sgemm`/`dgemm` of the OpenBLAS that numpy (or scipy) ships, by address.

numpy's wheel bundles OpenBLAS in `numpy.libs/` with 64-bit integers (`scipy_sgemm_64_`); it is
opened with ctypes (numpy has loaded it already). That build measured 10-15% faster than scipy's
bundled one on the MLP's GEMMs (128x784x512: 1.53 vs 1.75 ms, 1 thread; OpenBLAS 0.3.31 vs
0.3.30), and it is the one numpy's own matmul uses. Without it, scipy's `scipy.libs/` OpenBLAS
(32-bit integers) is opened the same way, without importing scipy (`import scipy.linalg` alone
took 0.5-0.7 s of a first compile); last, the PyCapsules of
`scipy.linalg.cython_blas.__pyx_capi__` (the route numba takes). `int_bits()` says which integer
width the chosen library takes (sizes and leading dimensions are passed by address). We call
them through ctypes (which releases the GIL) and hand the same addresses to
generated code. Row-major products are computed as
column-major ones of the transposes (C^T = B^T A^T), so no operand is copied: a C-contiguous
matrix is passed as "N", an F-contiguous one (a transposed weight, say) as "T".
"""

from __future__ import annotations

import ctypes

import numpy as np

__all__ = ["int_bits", "gemm_address", "gemm_layout", "matmul", "available", "threads_address",
           "set_threads", "threads_for", "THREAD_MIN_MACS"]

_c = ctypes
_PTR = _c.c_void_p
_fns: dict = {}


def _openblas():
    """(ctypes library, symbol suffix, integer bits) of a bundled OpenBLAS, or (None, "", 32):
    numpy's ILP64 build first, then scipy's. Found through the packages' locations only."""
    if "lib" not in _fns:
        found = (None, "", 32)
        try:
            import glob
            import importlib.util
            import os
            for pkg, pattern, suffix, bits in (
                    ("numpy", "libscipy_openblas64_*.so", "64_", 64),
                    ("scipy", "libscipy_openblas*.so", "", 32)):
                spec = importlib.util.find_spec(pkg)
                if spec is None or not spec.origin:
                    continue
                root = os.path.dirname(os.path.dirname(spec.origin))
                paths = [p for p in sorted(glob.glob(os.path.join(root, f"{pkg}.libs", pattern)))
                         if bits == 64 or "openblas64" not in p]
                for path in paths:
                    lib = _c.CDLL(path)
                    if hasattr(lib, f"scipy_sgemm_{suffix}") and \
                            hasattr(lib, f"scipy_dgemm_{suffix}"):
                        found = (lib, suffix, bits)
                        break
                if found[0] is not None:
                    break
        except (OSError, ImportError, ValueError):
            found = (None, "", 32)
        _fns["lib"] = found
    return _fns["lib"]


def int_bits() -> int:
    """Bits of the integers (sizes, leading dims) the chosen sgemm/dgemm take: 64 or 32."""
    lib, _, bits = _openblas()
    return bits if lib is not None else 32


def _symbol(name: str) -> int:
    lib = _openblas()[0]
    try:
        return _c.cast(getattr(lib, name), _c.c_void_p).value or 0 if lib is not None else 0
    except AttributeError:
        return 0


def gemm_address(dtype) -> int:
    """The address of sgemm (float32) or dgemm (float64)."""
    name = {"float32": "sgemm", "float64": "dgemm"}[np.dtype(dtype).name]
    addr = _symbol(f"scipy_{name}_{_openblas()[1]}")
    if addr:
        return addr
    from scipy.linalg import cython_blas
    cap = cython_blas.__pyx_capi__[name]
    get_name = _c.pythonapi.PyCapsule_GetName
    get_name.restype = _c.c_char_p
    get_name.argtypes = [_c.py_object]
    get_ptr = _c.pythonapi.PyCapsule_GetPointer
    get_ptr.restype = _c.c_void_p
    get_ptr.argtypes = [_c.py_object, _c.c_char_p]
    return get_ptr(cap, get_name(cap))


# GEMMs below this many multiply-adds run on one OpenBLAS thread. OpenBLAS's threads spin
# while they wait; on a machine whose cores are busy (or where our own kernels run in parallel)
# a mid-sized GEMM (128x784x512) measured 2.3 ms on one thread and 10-29 ms on two. Large ones
# (1024^3) still gain from every core.
THREAD_MIN_MACS = 1 << 28


def threads_address() -> int:
    """The address of scipy's OpenBLAS `openblas_set_num_threads_local` (0 if not found): it
    sets the thread count for the calling thread only and returns the previous one."""
    if "threads" not in _fns:
        _fns["threads"] = _symbol("openblas_set_num_threads_local")
    return _fns["threads"]


def set_threads(n: int) -> int:
    """Use `n` OpenBLAS threads on this thread; returns the previous count (0: unknown)."""
    fn = _fns.get("set_threads")
    if fn is None:
        addr = threads_address()
        if not addr:
            return 0
        fn = _fns["set_threads"] = _c.CFUNCTYPE(_c.c_int, _c.c_int)(addr)
    return fn(int(n))


_LIMIT = {"threads": None}    # dyngraph.set_num_threads's cap (None: every core)


def set_max_threads(n: int | None) -> None:
    """Cap the threads `threads_for` gives a GEMM (dyngraph.set_num_threads); programs planned
    before keep the counts they were planned with."""
    _LIMIT["threads"] = n


def threads_for(m: int, n: int, k: int) -> int:
    """OpenBLAS threads for an m x k x n GEMM: 1 below THREAD_MIN_MACS, else every core (or
    dyngraph.set_num_threads's count)."""
    import os
    if m * n * k < THREAD_MIN_MACS:
        return 1
    return _LIMIT["threads"] or os.cpu_count() or 1


def _int():
    return _c.c_int64 if int_bits() == 64 else _c.c_int


def _gemm(dtype):
    fn = _fns.get(dtype)
    if fn is None:
        ip = _c.POINTER(_int())
        args = [_c.c_char_p, _c.c_char_p, ip, ip, ip, _PTR, _PTR, ip, _PTR, ip, _PTR, _PTR, ip]
        fn = _c.CFUNCTYPE(None, *args)(gemm_address(dtype))
        _fns[dtype] = fn
    return fn


def available() -> bool:
    """Whether scipy's BLAS can be reached."""
    try:
        _gemm("float32")
        return True
    except Exception:   # noqa: BLE001 - any failure means "use numpy's matmul instead"
        return False


def layout(a: np.ndarray):
    """(transpose flag, leading dim) of a 2-D operand seen column-major, or None (copy it)."""
    return _layout(a)


def _layout(a: np.ndarray):
    """(transpose flag, leading dim) of a 2-D operand seen column-major, or None to copy."""
    it = a.itemsize
    r, c = a.shape
    if a.strides[1] == it and (a.strides[0] == c * it or r <= 1) and c > 0:
        return b"N", max(c, 1)
    if a.strides[0] == it and (a.strides[1] == r * it or c <= 1) and r > 0:
        return b"T", max(r, 1)
    return None


def gemm_layout(a: np.ndarray, b: np.ndarray):
    """(ta, lda, tb, ldb, m, n, k) for a @ b as one GEMM call without copies, or None (not
    2-D float32/float64 of one dtype, an empty dim, or an operand BLAS cannot address)."""
    if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype.name not in (
            "float32", "float64"):
        return None
    m, k = a.shape
    n = b.shape[1]
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None or 0 in (m, n, k) or max(m, n, k) >= 2 ** 31:
        return None
    return la[0], la[1], lb[0], lb[1], m, n, k


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """a @ b for 2-D float32/float64 arrays of one dtype via sgemm/dgemm (out: C-contiguous)."""
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), dtype=a.dtype)
    if m == 0 or n == 0:
        return out
    if k == 0:
        out[...] = 0
        return out
    la, lb = _layout(a), _layout(b)
    if la is None:
        a = np.ascontiguousarray(a)
        la = (b"N", k)
    if lb is None:
        b = np.ascontiguousarray(b)
        lb = (b"N", n)
    set_threads(threads_for(m, n, k))
    scal = _c.c_float if a.dtype == np.float32 else _c.c_double
    one, zero = scal(1.0), scal(0.0)
    ci = _int()
    # column-major: out^T (n x m) = b^T (n x k) @ a^T (k x m)
    _gemm(a.dtype.name)(lb[0], la[0], _c.byref(ci(n)), _c.byref(ci(m)), _c.byref(ci(k)),
                        _c.addressof(one), b.ctypes.data, _c.byref(ci(lb[1])), a.ctypes.data,
                        _c.byref(ci(la[1])), _c.addressof(zero), out.ctypes.data,
                        _c.byref(ci(n)))
    return out
