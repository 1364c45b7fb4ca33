"""Render one graph segment's entry function: every kernel and BLAS call in order, one module.

The runtime (runtime/native.py) plans a graph once per input layout: each value lives at a byte
offset from one of a few *slots* (the memory arena, an input, an output, the result of a step that
runs in Python), and kernels and GEMMs follow in plan order. This file turns that plan into LLVM
IR text (pure: no JIT). The entry function takes one argument, the CPython list that holds the
slots' numpy arrays:

    define void @dg_entry_<hash>(ptr %slots)      ; %slots: a PyListObject*

and reads each array's data pointer straight from the objects (the list's `ob_item` at byte 24,
an ndarray's `data` at byte 16; the runtime checks both offsets once with a probe before it
trusts them). So a call costs one ctypes call with one argument, not one per buffer.

Sizes, strides, arena offsets and GEMM sizes are not in the text: they are read from two small
arrays in slots 1 (int64) and 2 (int32), so the module, hence its cache entry, serves every size
of the graph, as each kernel does. The kernels are defined in the same module with internal
linkage (LLVM may inline the small ones); one O3 run and one cache entry per segment.

GEMMs call sgemm/dgemm of scipy's OpenBLAS through function pointers read from params[0..1]: an
address cannot be baked into cached object code. Before each GEMM the entry sets OpenBLAS's thread
count for the calling thread (params[2], `openblas_set_num_threads_local`) to what
runtime/blas.py chose for its size. Row-major C = A @ B is computed as column-major
C^T = B^T A^T, as runtime/blas.py does.
"""

from __future__ import annotations

import dataclasses
import hashlib

from . import vecmath
from .kernel_ir import Kernel
from .render_llvm import LLVMRenderer, symbol_name

__all__ = ["Ptr", "KernelCall", "GemmCall", "render_entry", "entry_symbol", "PROBE_IR",
           "LIST_ITEMS_OFFSET", "ARRAY_DATA_OFFSET", "PARAMS_SLOT",
           "INTS_SLOT", "FIRST_INPUT_SLOT"]

LIST_ITEMS_OFFSET = 24      # PyListObject: refcnt, type, size, then ob_item (PyObject **)
ARRAY_DATA_OFFSET = 16      # PyArrayObject: refcnt, type, then data (char *)
PARAMS_SLOT = 1             # int64: [sgemm, dgemm, blas threads fn], dims tables, offsets
INTS_SLOT = 2               # int32: GEMM sizes and leading dims (Fortran takes them by address)
FIRST_INPUT_SLOT = 3


@dataclasses.dataclass(frozen=True)
class Ptr:
    """An address: the data pointer of the array in `slot`, plus params[`param`] bytes (no
    offset when `param` is None)."""

    slot: int
    param: int | None = None


@dataclasses.dataclass
class KernelCall:
    """Call `kernel` over outer rows 0..params[dims] with the sizes + strides table that
    starts at params[dims]."""

    kernel: Kernel
    dims: int
    ptrs: tuple


@dataclasses.dataclass
class GemmCall:
    """Row-major c (m x n) = a (m x k) @ b (k x n). ta/tb are b"N" or b"T" as runtime/blas.py
    computes them; ints[`ints`:`ints` + 7] hold n, m, k, ldb, lda, ldc (int32, by reference) and
    the OpenBLAS thread count for this call."""

    dtype: str
    ta: bytes
    tb: bytes
    ints: int
    a: Ptr
    b: Ptr
    c: Ptr


PROBE_IR = f"""define i64 @dg_abi_probe(ptr %slots, i64 %i) {{
  %ip = getelementptr inbounds i8, ptr %slots, i64 {LIST_ITEMS_OFFSET}
  %items = load ptr, ptr %ip
  %op = getelementptr inbounds ptr, ptr %items, i64 %i
  %obj = load ptr, ptr %op
  %dp = getelementptr inbounds i8, ptr %obj, i64 {ARRAY_DATA_OFFSET}
  %data = load ptr, ptr %dp
  %r = ptrtoint ptr %data to i64
  ret i64 %r
}}
"""


def entry_symbol(text: str) -> str:
    """The entry function's name: a hash of the module's body."""
    return "dg_entry_" + hashlib.sha256(text.encode()).hexdigest()[:16]


class _Entry:
    """Builds the entry function's body line by line."""

    def __init__(self):
        self.lines: list[str] = []
        self.globals: dict[str, str] = {}
        self.n = 0
        self.data: dict[int, str] = {}
        self.gemm: dict[str, str] = {}

    def tmp(self, text: str) -> str:
        self.n += 1
        self.lines.append(f"  %t{self.n} = {text}")
        return f"%t{self.n}"

    def const(self, ty: str, value) -> str:
        """A private global holding `value` (Fortran BLAS takes every argument by reference)."""
        lit = vecmath.fconst(value, ty) if ty in ("float", "double") else str(value)
        name = f"@c_{ty}_{lit}"
        self.globals[name] = f"{name} = private unnamed_addr constant {ty} {lit}"
        return name

    def base(self, slot: int) -> str:
        """The data pointer of the array in `slot` (loaded once)."""
        d = self.data.get(slot)
        if d is None:
            o = self.tmp(f"getelementptr inbounds ptr, ptr %items, i64 {slot}")
            obj = self.tmp(f"load ptr, ptr {o}")
            dp = self.tmp(f"getelementptr inbounds i8, ptr {obj}, i64 {ARRAY_DATA_OFFSET}")
            d = self.data[slot] = self.tmp(f"load ptr, ptr {dp}")
        return d

    def param_ptr(self, i: int) -> str:
        return self.tmp(f"getelementptr inbounds i64, ptr {self.base(PARAMS_SLOT)}, i64 {i}")

    def param(self, i: int) -> str:
        return self.tmp(f"load i64, ptr {self.param_ptr(i)}, !invariant.load !{{}}")

    def int_ptr(self, i: int) -> str:
        return self.tmp(f"getelementptr inbounds i32, ptr {self.base(INTS_SLOT)}, i64 {i}")

    def ptr(self, p: Ptr) -> str:
        base = self.base(p.slot)
        if p.param is None:
            return base
        return self.tmp(f"getelementptr inbounds i8, ptr {base}, i64 {self.param(p.param)}")

    def set_blas_threads(self, i: int) -> None:
        """Call params[2] (OpenBLAS's per-thread thread count setter) with ints[i], if set."""
        fp = self.tmp(f"load ptr, ptr {self.param_ptr(2)}")
        nt = self.tmp(f"load i32, ptr {self.int_ptr(i)}")
        isnull = self.tmp(f"icmp eq ptr {fp}, null")
        self.n += 1
        yes, done = f"set{self.n}", f"setdone{self.n}"
        self.lines.append(f"  br i1 {isnull}, label %{done}, label %{yes}")
        self.lines.append(f"{yes}:")
        self.tmp(f"call i32 {fp}(i32 {nt})")
        self.lines.append(f"  br label %{done}")
        self.lines.append(f"{done}:")

    def gemm_fn(self, dtype: str) -> str:
        fp = self.gemm.get(dtype)
        if fp is None:
            fp = self.gemm[dtype] = self.tmp(
                f"load ptr, ptr {self.param_ptr(0 if dtype == 'float32' else 1)}")
        return fp


def render_entry(calls: list) -> tuple[str, str]:
    """(module text, entry symbol) for `calls` (KernelCall / GemmCall), run in order. Sizes,
    strides and offsets are read from the params slot, so one module serves every size."""
    e = _Entry()
    fns: dict[str, str] = {}
    decls: set[str] = set()
    helpers: set[str] = set()
    for c in calls:
        if isinstance(c, KernelCall):
            sym = symbol_name(c.kernel)
            if sym not in fns:
                # each kernel numbers its loop metadata in its own range of 1000
                fn, d, h = LLVMRenderer(c.kernel, 1000 * len(fns)).function(linkage="internal")
                fns[sym] = fn
                decls |= d
                helpers |= h
            table = e.param_ptr(c.dims)
            rows = e.param(c.dims)
            args = ", ".join(f"ptr {e.ptr(p)}" for p in c.ptrs)
            e.lines.append(f"  call void @{sym}(i64 0, i64 {rows}, ptr {table}, {args})")
        else:
            ty = {"float32": "float", "float64": "double"}[c.dtype]
            fp = e.gemm_fn(c.dtype)
            e.set_blas_threads(c.ints + 6)
            n, m, k, ldb, lda, ldc = (e.int_ptr(c.ints + j) for j in range(6))
            # column-major: c^T (n x m) = b^T (n x k) @ a^T (k x m)
            args = [e.const("i8", ord(c.tb)), e.const("i8", ord(c.ta)), n, m, k,
                    e.const(ty, 1.0), e.ptr(c.b), ldb, e.ptr(c.a), lda, e.const(ty, 0.0),
                    e.ptr(c.c), ldc]
            e.lines.append(f"  call void {fp}({', '.join(f'ptr {a}' for a in args)})")
    body = "\n".join(e.lines)
    head = (f"  %ip = getelementptr inbounds i8, ptr %slots, i64 {LIST_ITEMS_OFFSET}\n"
            f"  %items = load ptr, ptr %ip\n")
    parts = sorted(e.globals.values()) + sorted(decls)
    if helpers:
        parts.append(vecmath.definitions(helpers))
    parts += list(fns.values())
    module = "\n".join(parts)
    sym = entry_symbol(module + body)
    fn = f"define void @{sym}(ptr %slots) nounwind {{\nentry:\n{head}{body}\n  ret void\n}}\n"
    return module + "\n" + fn, sym
