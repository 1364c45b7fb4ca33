"""Skinny GEMMs as LLVM IR: row-major C (m x n) = A (m x k) @ B (k x n) when m or k is small.

OpenBLAS packs its operands into blocks sized for big products; when the product has a handful
of rows (a batch-8 linear layer: 8 x 784 @ 784 x 512) or a handful of terms per dot product (its
weight gradient: 512 x 8 @ 8 x 784), the packing costs more than the arithmetic, and the GEMM
runs at a fraction of the speed of reading the weight once. These two register-blocked kernels
read the big operand once, from memory, with explicit 256-bit vectors:

- `dot` (A row-major, B given as B^T row-major: `x @ W.T`): C[i, j] = A[i, :] . B^T[j, :], a
  block of 4 rows x 2 columns keeps 8 vector accumulators along k, summed at the end;
- `axpy` (B row-major, A either way: `g @ W`, `g.T @ x`): C[i, j:j+16] accumulates
  A[i, p] * B[p, j:j+16] over p, a block of 4 rows x 2 vectors in 8 accumulators.

Sizes and leading dimensions are run-time arguments (the entry module serves every size, as its
kernels do); edges that do not fill a block run the same loops with 1-row / 1-column blocks
and a scalar tail. The native plan calls these where `skinny_form` names one, OpenBLAS
otherwise. Accumulation is float32 in 16 partial sums per dot product (BLAS also accumulates in
the operands' type).

Where they win, measured against numpy's OpenBLAS on one thread (benchmarks/matmul.py and the
session-3 notes): `dot` with m <= 16 and a B^T of up to 4M elements (8 x 784 x 512: 2.4x;
16 x 1024 x 1024: 1.26x; 16 x 4096 x 4096, 64 MB of weight: 0.74x, so not there; m > 16 with
a small k: 0.24-0.38x); `axpy` with k <= 16 (512 x 784 x 8: 1.3-1.5x; 128 x 512 x 10: 1.1-1.9x;
1024 x 1024 x 8: 1.7-3x) unless B's rows are a multiple of 4 KB apart with more than 8 of them
(the rows of a column block then fall in one L1 set: 1024 x 1024 x 16 ran at 0.6x; BLAS packs
B, these kernels read it in place), and with m <= 16 for a B of up to 512K elements (8 x 512 x
784: 1.25-1.3x; 16 x 1024 x 1024: 0.47x).
"""

from __future__ import annotations

__all__ = ["SKINNY_MAX", "skinny_form", "gemm_form", "gemm_function", "gemm_module", "FORMS",
           "LoopBuilder"]

# (form, dtype) of every kernel, in the order of their addresses in an entry's params
FORMS = (("dot", "float32"), ("axpy", "float32"), ("dot", "float64"), ("axpy", "float64"))

# A GEMM with at most this many rows (m) or terms per dot product (k) may run on these kernels
# (`skinny_form` has the whole rule).
SKINNY_MAX = 16

_TY = {"float32": ("float", 8, "f32"), "float64": ("double", 4, "f64")}


def skinny_form(ta: bytes, tb: bytes, m: int, n: int, k: int, ldb: int,
                itemsize: int) -> str | None:
    """The kernel ("dot" or "axpy") an m x k x n product with these operand layouts (see
    `gemm_form`) and B's leading dimension runs on, or None for OpenBLAS: the regimes where the
    kernels were measured faster (the module docstring)."""
    form = gemm_form(ta, tb)
    if form == "dot":
        return form if m <= SKINNY_MAX and n * k <= 1 << 22 else None
    if form == "axpy":
        aliased = (ldb * itemsize) % 4096 == 0 and k > 8
        if (k <= SKINNY_MAX or (m <= SKINNY_MAX and n * k <= 1 << 19)) and not aliased:
            return form
    return None


def gemm_form(ta: bytes, tb: bytes) -> str | None:
    """The kernel for operand layouts (runtime/blas.py's flags: b"N" row-major, b"T" the
    transpose of a row-major matrix): "dot", "axpy", or None (OpenBLAS only)."""
    if tb == b"N":
        return "axpy"
    if ta == b"N":
        return "dot"
    return None


# Loop metadata ids of these functions start here (a module's kernels number theirs from 0 in
# ranges of 1000, compiler/render_entry.py); each form and dtype takes its own range.
_MD_BASE = {("dot", "float32"): 1_000_000, ("axpy", "float32"): 1_010_000,
            ("dot", "float64"): 1_020_000, ("axpy", "float64"): 1_030_000}


class LoopBuilder:
    """Straight-line LLVM IR with counted loops (`loop`) as phi nodes, for the hand-written
    kernels here and in compiler/render_conv.py; `md_base` numbers the loop metadata."""

    def __init__(self, md_base: int = 0):
        self.lines: list[str] = []
        self.n = 0
        self.md_base = md_base
        self.md: list[str] = []

    def back_edge(self, head: str) -> None:
        """The branch back to a loop's header, marked: neither vectorise nor unroll it (the
        blocks are vector code already, the tails run a few iterations; left alone, LLVM
        unrolls and versions them into ~1,800 lines of assembly and 0.5 s of compile time)."""
        i = self.md_base + 2 * len(self.md) + 2
        self.md.append(f"!{i} = distinct !{{!{i}, !{self.md_base}, !{self.md_base + 1}}}")
        self.emit(f"br label %{head}, !llvm.loop !{i}")

    def metadata(self) -> str:
        b = self.md_base
        return "\n".join([f'!{b} = !{{!"llvm.loop.vectorize.enable", i1 false}}',
                          f'!{b + 1} = !{{!"llvm.loop.unroll.disable"}}'] + self.md)

    def __call__(self, text: str) -> str:
        self.n += 1
        name = f"%r{self.n}"
        self.lines.append(f"  {name} = {text}")
        return name

    def emit(self, text: str) -> None:
        self.lines.append(f"  {text}" if not text.endswith(":") else text)

    def label(self, stem: str) -> str:
        self.n += 1
        return f"{stem}{self.n}"

    def accumulate(self, vt: str, keys, step: int, body) -> tuple[str, dict]:
        """for (p = 0; p + step <= %k; p += step) with one `vt` accumulator per key, zero at
        first, carried in phis: `body(p, accs)` returns the new ones. Returns the first p not
        run and the accumulators after the loop."""
        head, blk, done, pre = (self.label(s) for s in ("ah", "ab", "ad", "ap"))
        self.emit(f"br label %{pre}")
        self.emit(f"{pre}:")
        self.emit(f"br label %{head}")
        self.emit(f"{head}:")
        p = self(f"phi i64 [ 0, %{pre} ], [ %PNEXT, %{blk} ]")
        at = {"p": len(self.lines) - 1}
        accs = {}
        for key in keys:
            accs[key] = self(f"phi {vt} [ zeroinitializer, %{pre} ], [ %ACC, %{blk} ]")
            at[key] = len(self.lines) - 1
        pn = self(f"add nsw i64 {p}, {step}")
        self.emit(f"br i1 {self(f'icmp sle i64 {pn}, %k')}, label %{blk}, label %{done}")
        self.emit(f"{blk}:")
        new = body(p, accs)
        for key in keys:
            self.lines[at[key]] = self.lines[at[key]].replace("%ACC", new[key])
        self.lines[at["p"]] = self.lines[at["p"]].replace("%PNEXT", pn)
        self.back_edge(head)
        self.emit(f"{done}:")
        return p, accs

    def loop(self, lo: str, hi: str, step: int, body, free: bool = False) -> str:
        """for (iv = lo; iv + step <= hi; iv += step) body(iv); returns the first iv not run.
        `free`: LLVM may vectorise and unroll it (else its back edge says not to)."""
        head, blk, done = self.label("h"), self.label("b"), self.label("d")
        pre = self.label("p")
        self.emit(f"br label %{pre}")
        self.emit(f"{pre}:")
        self.emit(f"br label %{head}")
        self.emit(f"{head}:")
        iv = self("phi i64 " + f"[ {lo}, %{pre} ], [ %NEXT, %LATCH ]")
        idx = len(self.lines) - 1
        nxt = self(f"add nsw i64 {iv}, {step}")
        self.emit(f"br i1 {self(f'icmp sle i64 {nxt}, {hi}')}, label %{blk}, label %{done}")
        self.emit(f"{blk}:")
        body(iv)
        latch = self.label("l")
        self.emit(f"br label %{latch}")
        self.emit(f"{latch}:")
        if free:
            self.emit(f"br label %{head}")
        else:
            self.back_edge(head)
        self.lines[idx] = self.lines[idx].replace("%NEXT", nxt).replace("%LATCH", "%" + latch)
        self.emit(f"{done}:")
        return iv


def _splat(f: LoopBuilder, ty: str, vw: int, x: str) -> str:
    v = f(f"insertelement <{vw} x {ty}> poison, {ty} {x}, i64 0")
    return f(f"shufflevector <{vw} x {ty}> {v}, <{vw} x {ty}> poison, <{vw} x i32> "
             f"zeroinitializer")


def _plus(f: LoopBuilder, x: str, c: int) -> str:
    return x if c == 0 else f(f"add nsw i64 {x}, {c}")


def _gep(f: LoopBuilder, ty: str, base: str, *terms) -> str:
    off = "0"
    for a, b in terms:
        t = a if b is None else f(f"mul nsw i64 {a}, {b}")
        off = t if off == "0" else f(f"add nsw i64 {off}, {t}")
    return f(f"getelementptr inbounds {ty}, ptr {base}, i64 {off}")


def _dot_block(f: LoopBuilder, ty: str, vw: int, sfx: str, ib: int, jb: int, i0: str,
               j0: str) -> None:
    """C[i0:i0+ib, j0:j0+jb] of the dot form."""
    vt = f"<{vw} x {ty}>"
    keys = [(ii, jj) for ii in range(ib) for jj in range(jb)]

    def body(p, accs):
        a = [f(f"load {vt}, ptr {_gep(f, ty, '%A', (_plus(f, i0, ii), '%lda'), (p, None))}, "
               f"align 4") for ii in range(ib)]
        b = [f(f"load {vt}, ptr {_gep(f, ty, '%B', (_plus(f, j0, jj), '%ldb'), (p, None))}, "
               f"align 4") for jj in range(jb)]
        return {(ii, jj): f(f"call {vt} @llvm.fma.v{vw}{sfx}({vt} {a[ii]}, {vt} {b[jj]}, "
                            f"{vt} {accs[ii, jj]})") for ii, jj in keys}
    p, accs = f.accumulate(vt, keys, vw, body)
    # horizontal sums, then the scalar tail over the remaining p
    sums = {key: f(f"call reassoc {ty} @llvm.vector.reduce.fadd.v{vw}{sfx}({ty} -0.0, {vt} {v})")
            for key, v in accs.items()}
    for ii in range(ib):
        for jj in range(jb):
            ri, cj = _plus(f, i0, ii), _plus(f, j0, jj)
            slot = f(f"alloca {ty}")
            f.emit(f"store {ty} {sums[ii, jj]}, ptr {slot}")

            def tail(q, ri=ri, cj=cj, slot=slot):
                x = f(f"load {ty}, ptr {_gep(f, ty, '%A', (ri, '%lda'), (q, None))}")
                y = f(f"load {ty}, ptr {_gep(f, ty, '%B', (cj, '%ldb'), (q, None))}")
                s = f(f"load {ty}, ptr {slot}")
                f.emit(f"store {ty} {f(f'call {ty} @llvm.fma.{sfx}({ty} {x}, {ty} {y}, {ty} {s})')}"
                       f", ptr {slot}")
            _scalar_loop(f, p, "%k", tail)
            f.emit(f"store {ty} {f(f'load {ty}, ptr {slot}')}, ptr "
                   f"{_gep(f, ty, '%C', (ri, '%ldc'), (cj, None))}")


def _scalar_loop(f: LoopBuilder, lo: str, hi: str, body) -> None:
    """for (q = lo; q < hi; q++) body(q) (the tails)."""
    f.loop(lo, hi, 1, body)


def _axpy_block(f: LoopBuilder, ty: str, vw: int, sfx: str, ib: int, i0: str) -> None:
    """Rows i0:i0+ib of the axpy form over the columns that fill 2-vector blocks."""
    vt = f"<{vw} x {ty}>"
    jv = 2
    rows = [_plus(f, i0, ii) for ii in range(ib)]

    def column_block(j0):
        cols = [_plus(f, j0, v * vw) for v in range(jv)]
        keys = [(ii, v) for ii in range(ib) for v in range(jv)]

        def body(p, accs):
            bv = [f(f"load {vt}, ptr {_gep(f, ty, '%B', (p, '%ldb'), (c, None))}, align 4")
                  for c in cols]
            new = {}
            for ii in range(ib):
                x = f(f"load {ty}, ptr {_gep(f, ty, '%A', (rows[ii], '%sai'), (p, '%sap'))}")
                xs = _splat(f, ty, vw, x)
                for v in range(jv):
                    new[ii, v] = f(f"call {vt} @llvm.fma.v{vw}{sfx}({vt} {xs}, {vt} {bv[v]}, "
                                   f"{vt} {accs[ii, v]})")
            return new
        _, accs = f.accumulate(vt, keys, 1, body)
        for (ii, v), acc in accs.items():
            f.emit(f"store {vt} {acc}, ptr "
                   f"{_gep(f, ty, '%C', (rows[ii], '%ldc'), (cols[v], None))}, align 4")

    f.loop("0", "%n", jv * vw, column_block)


def _axpy_tail(f: LoopBuilder, ty: str, sfx: str, jend: str) -> None:
    """Columns jend:n of every row, one dot product at a time."""
    def column(j):
        def row(i):
            slot = f(f"alloca {ty}")
            f.emit(f"store {ty} 0.0, ptr {slot}")

            def term(p):
                x = f(f"load {ty}, ptr {_gep(f, ty, '%A', (i, '%sai'), (p, '%sap'))}")
                y = f(f"load {ty}, ptr {_gep(f, ty, '%B', (p, '%ldb'), (j, None))}")
                s = f(f"load {ty}, ptr {slot}")
                f.emit(f"store {ty} {f(f'call {ty} @llvm.fma.{sfx}({ty} {x}, {ty} {y}, {ty} {s})')}"
                       f", ptr {slot}")
            _scalar_loop(f, "0", "%k", term)
            f.emit(f"store {ty} {f(f'load {ty}, ptr {slot}')}, ptr "
                   f"{_gep(f, ty, '%C', (i, '%ldc'), (j, None))}")
        _scalar_loop(f, "0", "%m", row)
    _scalar_loop(f, jend, "%n", column)


def gemm_function(form: str, dtype: str) -> tuple[str, list[str], str]:
    """(symbol, intrinsic declarations, LLVM IR definition) of the `form` kernel for `dtype`:

        void @sym(i64 m, i64 n, i64 k, ptr A, i64 sai, i64 sap, ptr B, i64 ldb, ptr C, i64 ldc)

    with A[i, p] at A + i*sai + p*sap (dot: sap must be 1, sai = lda), B[p, j] at B + p*ldb + j
    (axpy) or B + j*ldb + p (dot), C row-major with leading dim ldc; C is overwritten."""
    ty, vw, sfx = _TY[dtype]
    sym = f"dg_gemm_{form}_{sfx}"
    f = LoopBuilder(_MD_BASE[form, dtype])
    # allocas must be in the entry block to be promoted: they are hoisted below
    if form == "dot":
        # 4 x 2 blocks, then one 1 x 1 nest over the L-shaped rest: rows iend:m of the
        # columns 0:jend, and every row of the columns jend:n (two block shapes of code)
        jend = f("and i64 %n, -2")
        iend = f("and i64 %m, -4")
        f.loop("0", jend, 2, lambda j0: f.loop(
            "0", iend, 4, lambda i0: _dot_block(f, ty, vw, sfx, 4, 2, i0, j0)))

        def rest(j):
            lo = f(f"select i1 {f(f'icmp slt i64 {j}, {jend}')}, i64 {iend}, i64 0")
            _scalar_loop(f, lo, "%m", lambda i: _dot_block(f, ty, vw, sfx, 1, 1, i, j))
        _scalar_loop(f, "0", "%n", rest)
        lda_alias = "  %lda = add i64 %sai, 0\n"
    elif form == "axpy":
        iend = f.loop("0", "%m", 4, lambda i0: _axpy_block(f, ty, vw, sfx, 4, i0))
        _scalar_loop(f, iend, "%m", lambda i0: _axpy_block(f, ty, vw, sfx, 1, i0))
        _axpy_tail(f, ty, sfx, f(f"and i64 %n, {-2 * vw}"))
        lda_alias = ""
    else:
        raise ValueError(f"render_gemm: unknown form {form!r}")
    allocas = [ln for ln in f.lines if "= alloca" in ln]
    body = [ln for ln in f.lines if "= alloca" not in ln]
    text = (f"define internal void @{sym}(i64 %m, i64 %n, i64 %k, ptr noalias readonly %A, "
            f"i64 %sai, i64 %sap, ptr noalias readonly %B, i64 %ldb, ptr noalias %C, "
            f"i64 %ldc) nounwind {{\nentry:\n" + lda_alias + "\n".join(allocas)
            + ("\n" if allocas else "") + "\n".join(body) + "\n  ret void\n}\n"
            + f.metadata() + "\n")
    decls = [f"declare <{vw} x {ty}> @llvm.fma.v{vw}{sfx}(<{vw} x {ty}>, <{vw} x {ty}>, "
             f"<{vw} x {ty}>)",
             f"declare {ty} @llvm.fma.{sfx}({ty}, {ty}, {ty})",
             f"declare {ty} @llvm.vector.reduce.fadd.v{vw}{sfx}({ty}, <{vw} x {ty}>)"]
    return sym, decls, text


def gemm_module(form: str, dtype: str) -> tuple[str, str]:
    """(module text, symbol) of the `form` kernel with external linkage: the runtime compiles
    it once (and caches it on disk like any module) and hands its address to every entry
    function, so the kernels are not compiled again into each graph's module (0.15-0.3 s of
    LLVM time per module)."""
    sym, decls, text = gemm_function(form, dtype)
    return "\n".join(decls) + "\n" + text.replace("define internal void", "define void", 1), sym
