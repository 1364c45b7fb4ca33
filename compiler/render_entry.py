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
linkage and `noinline` (one function holding every kernel compiled 1.3-1.7x slower); one O3
run and one cache entry per segment.

GEMMs call sgemm/dgemm of scipy's OpenBLAS through function pointers read from params[0..1]: an
address cannot be baked into cached object code. Before each GEMM the entry sets OpenBLAS's thread
count for the calling thread (params[2], `openblas_set_num_threads_local`) to what
runtime/blas.py chose for its size. Row-major C = A @ B is computed as column-major
C^T = B^T A^T, as runtime/blas.py does. A GEMM with few rows or few terms per dot product (a
batch-8 layer and its weight gradient; `render_gemm.skinny_form` has the rule) calls instead a
skinny kernel of compiler/render_gemm.py, compiled once in its own module, whose address is in
params[3..6] (the plan picks one or the other per call: the text holds the choice, not the
sizes).
"""

from __future__ import annotations

import dataclasses
import hashlib

from . import vecmath
from .kernel_ir import Kernel
from .render_conv import conv_function
from .render_gemm import FORMS
from .render_llvm import LLVMRenderer, symbol_name

__all__ = ["Ptr", "KernelCall", "GemmCall", "IndexCall", "ConvCall", "render_entry",
           "entry_symbol", "PROBE_IR", "LIST_ITEMS_OFFSET", "ARRAY_DATA_OFFSET", "PARAMS_SLOT",
           "INTS_SLOT", "FIRST_INPUT_SLOT", "SKINNY_PARAMS"]

LIST_ITEMS_OFFSET = 24      # PyListObject: refcnt, type, size, then ob_item (PyObject **)
ARRAY_DATA_OFFSET = 16      # PyArrayObject: refcnt, type, then data (char *)
PARAMS_SLOT = 1             # int64: [sgemm, dgemm, blas threads fn, 4 skinny GEMMs], tables
SKINNY_PARAMS = 3           # params[3:7]: the render_gemm.FORMS kernels' addresses (0: unused)
INTS_SLOT = 2               # BLAS ints: [status], GEMM sizes and leading dims (by address)
STATUS = 0                  # ints[STATUS] != 0: an index was out of bounds (the entry returned)
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
    the OpenBLAS thread count for this call. `skinny`: the compiler/render_gemm.py kernel form
    the plan chose for its sizes (None: OpenBLAS)."""

    dtype: str
    ta: bytes
    tb: bytes
    ints: int
    a: Ptr
    b: Ptr
    c: Ptr
    skinny: str | None = None


@dataclasses.dataclass
class ConvCall:
    """im2col (image -> columns) or col2im (columns -> image) of compiler/render_conv.py;
    params[`table`:] hold its `conv_table`; x is the input, o the output."""

    op: str             # "im2col" or "col2im"
    dtype: str          # "float32" or "float64"
    table: int
    x: Ptr
    o: Ptr


@dataclasses.dataclass
class IndexCall:
    """gather / scatter_add along `dim` (0 or 1) of 2-D arrays (1-D ones seen as one row), as
    torch defines them. params[`table`:] hold, as int64: the index shape n0, n1, the size of x
    along dim (the bound), then element strides (two per array) of x, index, out for gather,
    and of x, index, src, out plus x's shape m0, m1 for scatter_add. ptrs: x, index, out
    (gather) or x, index, src, out (scatter_add). An index out of bounds sets ints[STATUS] and
    the entry function returns at once (the runtime then runs the graph step by step, and
    the op's own check raises the error)."""

    op: str             # "gather" or "scatter_add"
    dtype: str          # of x, src and out: "float32" or "float64"
    dim: int
    table: int
    ptrs: tuple


def _loop_nest(prefix: str, n0: str, n1: str, body: list, after: str) -> list:
    """Lines of `for i < n0: for j < n1: body` (body sees %{prefix}i, %{prefix}j and ends by
    branching to label %{prefix}next); the nest falls through to label `after`."""
    p = prefix
    return [f"  br label %{p}h0", f"{p}h0:",
            f"  %{p}i = phi i64 [0, %{p}pre], [%{p}i1, %{p}l0]",
            f"  %{p}c0 = icmp slt i64 %{p}i, {n0}",
            f"  br i1 %{p}c0, label %{p}b0, label %{after}", f"{p}b0:", f"  br label %{p}h1",
            f"{p}h1:", f"  %{p}j = phi i64 [0, %{p}b0], [%{p}j1, %{p}next]",
            f"  %{p}c1 = icmp slt i64 %{p}j, {n1}",
            f"  br i1 %{p}c1, label %{p}b1, label %{p}l0", f"{p}b1:", *body,
            f"{p}next:", f"  %{p}j1 = add i64 %{p}j, 1", f"  br label %{p}h1",
            f"{p}l0:", f"  %{p}i1 = add i64 %{p}i, 1", f"  br label %{p}h0"]


def _offset(p: str, name: str, a: str, sa: str, b: str, sb: str) -> list:
    """%{p}{name} = a * sa + b * sb."""
    return [f"  %{p}{name}.a = mul i64 {a}, {sa}", f"  %{p}{name}.b = mul i64 {b}, {sb}",
            f"  %{p}{name} = add i64 %{p}{name}.a, %{p}{name}.b"]


def index_function(op: str, dtype: str, dim: int, int_bits: int = 32) -> tuple[str, str]:
    """(name, LLVM text) of the internal function running one IndexCall kind (the status word
    it sets on a bad index is an `int_bits` integer of the ints slot)."""
    ty = {"float32": "float", "float64": "double"}[dtype]
    name = f"dg_{op}_{ty}_d{dim}"
    fields = ["n0", "n1", "bound", "xs0", "xs1", "is0", "is1"]
    fields += ["os0", "os1"] if op == "gather" else ["ss0", "ss1", "os0", "os1", "m0", "m1"]
    lines = ["entry:"]
    for k, f in enumerate(fields):
        lines += [f"  %{f}.p = getelementptr inbounds i64, ptr %t, i64 {k}",
                  f"  %{f} = load i64, ptr %{f}.p"]

    def checked_index(p: str) -> list:
        return [*_offset(p, "io", f"%{p}i", "%is0", f"%{p}j", "%is1"),
                f"  %{p}ip = getelementptr inbounds i64, ptr %ix, i64 %{p}io",
                f"  %{p}k = load i64, ptr %{p}ip",
                f"  %{p}bad = icmp uge i64 %{p}k, %bound",     # negative too (unsigned)
                f"  br i1 %{p}bad, label %fail, label %{p}ok", f"{p}ok:"]

    def at_k(p: str, s0: str, s1: str) -> list:
        """offset of (k, j) for dim 0, (i, k) for dim 1 with strides s0, s1."""
        if dim == 0:
            return _offset(p, "at", f"%{p}k", s0, f"%{p}j", s1)
        return _offset(p, "at", f"%{p}i", s0, f"%{p}k", s1)

    if op == "gather":
        args = "ptr %t, ptr noalias %x, ptr noalias %ix, ptr noalias %o, ptr %st"
        body = [*checked_index("g"), *at_k("g", "%xs0", "%xs1"),
                "  %gxp = getelementptr inbounds " + ty + ", ptr %x, i64 %gat",
                f"  %gv = load {ty}, ptr %gxp",
                *_offset("g", "oo", "%gi", "%os0", "%gj", "%os1"),
                f"  %gop = getelementptr inbounds {ty}, ptr %o, i64 %goo",
                f"  store {ty} %gv, ptr %gop", "  br label %gnext"]
        lines += ["  br label %gpre", "gpre:", *_loop_nest("g", "%n0", "%n1", body, "done")]
    else:
        args = ("ptr %t, ptr noalias %x, ptr noalias %ix, ptr noalias %src, ptr noalias %o, "
                "ptr %st")
        copy = [*_offset("c", "xo", "%ci", "%xs0", "%cj", "%xs1"),
                f"  %cxp = getelementptr inbounds {ty}, ptr %x, i64 %cxo",
                f"  %cv = load {ty}, ptr %cxp",
                *_offset("c", "oo", "%ci", "%os0", "%cj", "%os1"),
                f"  %cop = getelementptr inbounds {ty}, ptr %o, i64 %coo",
                f"  store {ty} %cv, ptr %cop", "  br label %cnext"]
        # in order, one element at a time, as numpy's add.at (the same sums, bit for bit)
        add = [*checked_index("a"), *_offset("a", "so", "%ai", "%ss0", "%aj", "%ss1"),
               f"  %asp = getelementptr inbounds {ty}, ptr %src, i64 %aso",
               f"  %asv = load {ty}, ptr %asp", *at_k("a", "%os0", "%os1"),
               f"  %aop = getelementptr inbounds {ty}, ptr %o, i64 %aat",
               f"  %aov = load {ty}, ptr %aop", f"  %asum = fadd {ty} %aov, %asv",
               f"  store {ty} %asum, ptr %aop", "  br label %anext"]
        lines += ["  br label %cpre", "cpre:", *_loop_nest("c", "%m0", "%m1", copy, "apre"),
                  "apre:", *_loop_nest("a", "%n0", "%n1", add, "done")]
    lines += ["done:", "  ret void", "fail:", f"  store i{int_bits} 1, ptr %st", "  ret void"]
    body = "\n".join(lines)
    return name, f"define internal void @{name}({args}) nounwind {{\n{body}\n}}\n"


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

    def __init__(self, int_bits: int):
        self.ity = f"i{int_bits}"    # the ints slot's element type (what BLAS takes)
        self.lines: list[str] = []
        self.globals: dict[str, str] = {}
        self.n = 0
        self.data: dict[int, str] = {}
        self.gemm: dict[str, str] = {}
        self.failing = False        # an index check may return early (label %fail)

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
        return self.tmp(f"getelementptr inbounds {self.ity}, ptr {self.base(INTS_SLOT)}, "
                        f"i64 {i}")

    def ptr(self, p: Ptr) -> str:
        base = self.base(p.slot)
        if p.param is None:
            return base
        return self.tmp(f"getelementptr inbounds i8, ptr {base}, i64 {self.param(p.param)}")

    def set_blas_threads(self, i: int) -> None:
        """Call params[2] (OpenBLAS's per-thread thread count setter) with ints[i], if set."""
        fp = self.tmp(f"load ptr, ptr {self.param_ptr(2)}")
        nt = self.tmp(f"load {self.ity}, ptr {self.int_ptr(i)}")
        if self.ity != "i32":       # (the setter takes a C int)
            nt = self.tmp(f"trunc {self.ity} {nt} to i32")
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


def _skinny_gemm(e: _Entry, c: GemmCall) -> None:
    """Call the skinny kernel of compiler/render_gemm.py (its address is in params at
    SKINNY_PARAMS) with the sizes of ints[`c.ints`:]. The plan chose it for its sizes
    (render_gemm.skinny_form): the text names the choice, not the sizes, so the module serves
    every size that makes the same choice. (A run-time test with both calls in the text cost
    ~0.3 s more LLVM time for the batch-128 MLP step's module.)"""
    fp = e.tmp(f"load ptr, ptr {e.param_ptr(SKINNY_PARAMS + FORMS.index((c.skinny, c.dtype)))}")

    def size(j):
        v = e.tmp(f"load {e.ity}, ptr {e.int_ptr(c.ints + j)}")
        return v if e.ity == "i64" else e.tmp(f"sext {e.ity} {v} to i64")
    n, m, k, ldb, lda, ldc = (size(j) for j in range(6))
    sai, sap = (lda, "1") if c.ta == b"N" else ("1", lda)
    e.lines.append(f"  call void {fp}(i64 {m}, i64 {n}, i64 {k}, ptr {e.ptr(c.a)}, i64 {sai}, "
                   f"i64 {sap}, ptr {e.ptr(c.b)}, i64 {ldb}, ptr {e.ptr(c.c)}, i64 {ldc})")


def render_entry(calls: list, int_bits: int = 32) -> tuple[str, str]:
    """(module text, entry symbol) for `calls` (KernelCall / GemmCall / IndexCall / ConvCall),
    run in order. Sizes, strides and offsets are read from the params slot, so one module
    serves every size; the ints slot holds `int_bits` integers (what the BLAS library takes)."""
    e = _Entry(int_bits)
    fns: dict[str, str] = {}
    decls: set[str] = set()
    helpers: set[str] = set()
    for c in calls:
        if isinstance(c, KernelCall):
            sym = symbol_name(c.kernel)
            if sym not in fns:
                # each kernel numbers its loop metadata in its own range of 1000
                # not inlined into the entry: one function of all the kernels took LLVM
                # 1.3-1.7x longer (the batch-128 step's module: 0.62-0.83 -> 0.45-0.49 s)
                fn, d, h = LLVMRenderer(c.kernel, 1000 * len(fns)).function(
                    linkage="internal", attrs="noinline")
                fns[sym] = fn
                decls |= d
                helpers |= h
            table = e.param_ptr(c.dims)
            rows = e.param(c.dims)
            args = ", ".join(f"ptr {e.ptr(p)}" for p in c.ptrs)
            e.lines.append(f"  call void @{sym}(i64 0, i64 {rows}, ptr {table}, {args})")
        elif isinstance(c, ConvCall):
            name, d, text = conv_function(c.op, c.dtype)
            fns.setdefault(name, text)
            decls.update(d)
            e.lines.append(f"  call void @{name}(ptr {e.param_ptr(c.table)}, ptr {e.ptr(c.x)}, "
                           f"ptr {e.ptr(c.o)})")
        elif isinstance(c, IndexCall):
            name, text = index_function(c.op, c.dtype, c.dim, int_bits)
            fns.setdefault(name, text)
            args = ", ".join(f"ptr {e.ptr(p)}" for p in c.ptrs)
            st = e.int_ptr(STATUS)
            e.lines.append(f"  call void @{name}(ptr {e.param_ptr(c.table)}, {args}, ptr {st})")
            bad = e.tmp(f"load {e.ity}, ptr {st}")
            failed = e.tmp(f"icmp ne {e.ity} {bad}, 0")
            e.n += 1
            e.lines += [f"  br i1 {failed}, label %fail, label %ok{e.n}", f"ok{e.n}:"]
            e.failing = True
        else:
            if c.skinny is not None:
                _skinny_gemm(e, c)
                continue
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
    tail = "\n  ret void\nfail:\n  ret void" if e.failing else "\n  ret void"
    fn = f"define void @{sym}(ptr %slots) nounwind {{\nentry:\n{head}{body}{tail}\n}}\n"
    return module + "\n" + fn, sym
