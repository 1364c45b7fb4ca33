"""Render a `Kernel` (compiler/kernel_ir.py) to LLVM IR text. Pure: no JIT, no target machine.

The kernel becomes one function

    void dg_<hash>(i64 begin, i64 end, i64* dims, T0* noalias b0, T1* noalias b1, ...)

looping over outer dim 0 from `begin` to `end` (so the runtime can split it over threads), then the
remaining outer dims, then, per `ReduceLoop`/`MapLoop`, over the inner dims. `dims` holds the
domain sizes followed by every buffer's stride (in elements) for every domain dim; strides the
kernel IR fixes to 0 or 1 are not read, which is what lets the vectoriser see unit-stride loops.

`LLVMRenderer` is a `KernelRenderer` (compiler/render_base.py): the loop nest, offsets, values,
reduction identities, op dispatch and the per-element rules they share with the C and CUDA
renderers are written there once; this file gives LLVM's primitives (loops as basic blocks,
loads and stores through `getelementptr`, conversions, comparisons, intrinsics), the reduction
loop, column kernels and the ops whose LLVM form differs.

Float32 transcendental functions come from `compiler/vecmath.py` (inline, vectorisable); float64
ones and rare ops (sin, atan2, ...) are scalar libm calls: LLVM has no vector form for them, and
those ops are not on any hot path we know of.

Loop counters and accumulators live in `alloca`s: the O3 pipeline's SROA turns them into SSA phis
before the vectoriser runs, and the renderer stays a simple recursive walk.
"""

from __future__ import annotations

from . import vecmath
from .kernel_ir import InstrKind, Kernel, ReduceKind, ReduceLoop
from .render_base import KernelRenderer, UnsupportedOp, is_float, symbol_name
from .vecmath import fconst

__all__ = ["LLVMRenderer", "render_llvm", "streamable", "symbol_name", "kernel_symbol",
           "LL_TYPES", "UnsupportedOp", "STREAM_ALIGN"]

LL_TYPES = {"float32": "float", "float64": "double", "int64": "i64", "int32": "i32",
            "bool": "i1"}
_MEM_TYPES = dict(LL_TYPES, bool="i8")
_SFX = {"float": "f32", "double": "f64", "i64": "i64", "i32": "i32"}
# libm functions used as scalar externs (float32 name gets an `f` suffix).
_LIBM_UNARY = {"tan": "tan", "sinh": "sinh", "cosh": "cosh", "asin": "asin", "acos": "acos",
               "atan": "atan", "asinh": "asinh", "acosh": "acosh", "atanh": "atanh",
               "expm1": "expm1", "log1p": "log1p", "erf": "erf", "erfc": "erfc",
               "tanh": "tanh"}
_LIBM_BINARY = {"atan2": "atan2", "hypot": "hypot", "pow": "pow"}
_INTRINSIC_UNARY = {"exp": "exp", "exp2": "exp2", "log": "log", "log2": "log2",
                    "log10": "log10", "sqrt": "sqrt", "sin": "sin", "cos": "cos",
                    "floor": "floor", "ceil": "ceil", "trunc": "trunc", "round": "rint",
                    "abs": "fabs"}
_FCMP = {"eq": "oeq", "ne": "une", "lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge"}
_ICMP = {"eq": "eq", "ne": "ne", "lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge"}
_UCMP = {"eq": "eq", "ne": "ne", "lt": "ult", "le": "ule", "gt": "ugt", "ge": "uge"}
# (float, integer, bool) instruction of each arithmetic op
_ARITH = {"add": ("fadd", "add", "or"), "sub": ("fsub", "sub", None),
          "mul": ("fmul", "mul", "and"), "div": ("fdiv", None, None)}
# fast-math flags on accumulations only: reassociation lets the vectoriser keep partial sums.
_ACC_FLAGS = "reassoc nsz contract"
# Points of the kept dim a column kernel handles per pass over the reduced dims: 256 float64
# accumulators are 2 KB (several fit in L1), and each row segment read is 1 KB of float32, long
# enough for the vector loop and the prefetcher.
COLUMN_STRIP = 256
# Vector width forced on a reduction loop that widens float32 values into float64 accumulators.
# Left alone, the cost model picks 4 lanes (one 256-bit register of doubles) and runs the float32
# arithmetic (softmax's exp) on 128-bit registers: (4096, 4096) softmax, one thread, 51 -> 36 ms.
WIDEN_VECTOR_WIDTH = 8
# The streaming form's peel aligns the output to this many bytes: every vector store of the main
# loop (256-bit or 512-bit) then starts on a boundary its non-temporal form requires.
STREAM_ALIGN = 64
# Interleave count forced on an innermost loop whose body calls a vecmath function. Left alone,
# the cost model sees the register pressure of the inlined polynomials and interleaves once, so
# each iteration is one long dependency chain: gelu_tanh(x*w+b)*sigmoid(x), one thread, cache-
# resident, 2.38 -> 2.12 ns per element (4 gave 2.05, within the noise, with twice the epilogue).
TRANSCENDENTAL_INTERLEAVE = 2


class LLVMRenderer(KernelRenderer):
    """Renders one kernel; instantiate per kernel (it holds the function's lines)."""

    types = LL_TYPES
    begin, end = "%begin", "%end"

    def __init__(self, kernel: Kernel, metadata_base: int = 0, streaming: bool = False):
        super().__init__(kernel)
        if streaming and not streamable(kernel):
            raise ValueError("render_llvm: streaming stores need a 1-D elementwise kernel with "
                             "one contiguous output")
        self.streaming = streaming
        # numbered metadata (loop hints) starts here: a module of several kernels gives each
        # its own range
        self.md_next = metadata_base
        self.f = vecmath.Fn("t")
        self.decls: set[str] = set()
        self.vecmath: set[str] = set()
        self.vec_calls = 0              # vecmath calls rendered so far
        self.loops_done = 0             # loops closed so far
        self.allocas: list[str] = []
        self.labels = 0

    # ----- small emitters ----------------------------------------------------------------------
    def line(self, text: str) -> None:
        self.f.lines.append(f"  {text}")

    def label(self, name: str) -> None:
        self.f.lines.append(f"{name}:")

    def new_label(self, stem: str) -> str:
        self.labels += 1
        return f"{stem}{self.labels}"

    def alloca(self, ty: str) -> str:
        name = f"%a{len(self.allocas)}"
        self.allocas.append(f"  {name} = alloca {ty}")
        return name

    def call(self, ret: str, fn: str, args, decl: str | None = None) -> str:
        if decl is not None:
            self.decls.add(decl)
        return self.f(f"call {ret} @{fn}({', '.join(f'{t} {v}' for t, v in args)})")

    def intrinsic(self, name: str, ty: str, *vals) -> str:
        fn = f"llvm.{name}.{_SFX[ty]}"
        return self.call(ty, fn, [(ty, v) for v in vals],
                         f"declare {ty} @{fn}({', '.join([ty] * len(vals))})")

    def libm(self, name: str, ty: str, *vals) -> str:
        fn = name + ("f" if ty == "float" else "")
        return self.call(ty, fn, [(ty, v) for v in vals],
                         f"declare {ty} @{fn}({', '.join([ty] * len(vals))})")

    def const(self, value, ty: str) -> str:
        if is_float(ty):
            return fconst(float(value), ty)
        if ty == "i1":
            return "true" if value else "false"
        return str(int(value))

    # ----- the kernel --------------------------------------------------------------------------
    def render(self) -> str:
        """The whole module: the kernel's text as a comment, declarations, helpers, function."""
        fn, decls, helpers = self.function()
        head = [f"; {ln}" for ln in self.k.text().splitlines()]
        defs = vecmath.definitions(helpers) if helpers else ""
        return "\n".join(head + sorted(decls) + [defs, fn])

    def function(self, linkage: str = "", attrs: str = "") -> tuple[str, set, set]:
        """(the function's definition, declarations it needs, vecmath helpers it calls); a module
        holding several kernels (compiler/render_entry.py) merges the last two. `attrs`: more
        function attributes ("noinline")."""
        k = self.k
        nd = k.ndim
        params = ["i64 %begin", "i64 %end", "ptr noalias readonly %dims"]
        params += [f"ptr noalias {'' if b.is_output else 'readonly '}%b{i}"
                   for i, b in enumerate(k.buffers)]
        self.sizes = [self._dim_arg(d) for d in range(nd)]
        self.strides = {}
        for b, acc in sorted(self.access.items()):
            for d, s in enumerate(acc.strides):
                if s is None:
                    self.strides[b, d] = self._dim_arg(nd + b * nd + d)
        self.outer: dict[int, str] = {}
        offsets = {b: "0" for b in self.access}
        self.outer_loops(0, offsets)
        self.line("ret void")
        body = "\n".join(self.allocas + self.f.lines)
        link = f"{linkage} " if linkage else ""
        fn = (f"define {link}void @{self.symbol()}({', '.join(params)}) nounwind"
              f"{' ' + attrs if attrs else ''} {{\n"
              f"entry:\n{body}\n}}\n")
        return fn, self.decls | set(vecmath.INTRINSICS.splitlines()), set(self.vecmath)

    def symbol(self) -> str:
        return kernel_symbol(self.k, self.streaming)

    def _dim_arg(self, slot: int) -> str:
        p = self.f(f"getelementptr inbounds i64, ptr %dims, i64 {slot}")
        return self.f(f"load i64, ptr {p}, !invariant.load !{{}}")

    def size(self, d: int) -> str:
        return self.sizes[d]

    def param(self, index: int, ty: str) -> str:
        k = self.k
        return self.convert(self._dim_arg(k.ndim * (1 + len(k.buffers)) + index), "i64", ty)

    def stride_step(self, iv: str, b: int, d: int) -> str:
        return self.f(f"mul nsw i64 {iv}, {self.strides[b, d]}")

    def offset_add(self, offset: str, step: str) -> str:
        return step if offset == "0" else self.f(f"add nsw i64 {offset}, {step}")

    def loop_hint(self, name: str, value: int) -> str:
        """A `!llvm.loop` attachment carrying one hint (its metadata goes with the decls)."""
        loop_id, hint = self.md_next, self.md_next + 1
        self.md_next += 2
        self.decls.add(f"!{loop_id} = distinct !{{!{loop_id}, !{hint}}}")
        self.decls.add(f'!{hint} = !{{!"{name}", i32 {value}}}')
        return f", !llvm.loop !{loop_id}"

    def loop(self, d: int, lo: str, hi: str, offsets: dict, body, hint: str = "",
             with_iv: bool = False) -> None:
        """for (i = lo; i < hi; i++) body(offsets advanced along domain dim d) (and i); `hint`
        is attached to the back edge."""
        ptr = self.alloca("i64")
        cond, loop, done = (self.new_label(s) for s in ("cond", "body", "done"))
        self.line(f"store i64 {lo}, ptr {ptr}")
        self.line(f"br label %{cond}")
        self.label(cond)
        iv = self.f(f"load i64, ptr {ptr}")
        c = self.f(f"icmp slt i64 {iv}, {hi}")
        self.line(f"br i1 {c}, label %{loop}, label %{done}")
        self.label(loop)
        off = self.advance(offsets, d, iv)
        calls, loops = self.vec_calls, self.loops_done
        body(off, iv) if with_iv else body(off)
        if not hint and loops == self.loops_done and calls < self.vec_calls:
            hint = self.loop_hint("llvm.loop.interleave.count", TRANSCENDENTAL_INTERLEAVE)
        self.loops_done += 1
        nxt = self.f(f"add nuw nsw i64 {iv}, 1")
        self.line(f"store i64 {nxt}, ptr {ptr}")
        self.line(f"br label %{cond}{hint}")
        self.label(done)

    def outer_loops(self, d: int, offsets: dict) -> None:
        if self.k.column and d == self.k.n_outer - 1:
            self._column_strips(d, offsets)
            return
        if self.streaming and d == 0:
            self._streaming_loops(offsets)
            return
        super().outer_loops(d, offsets)

    def _streaming_loops(self, offsets: dict) -> None:
        """begin..end as two loops: a scalar peel up to the output's first STREAM_ALIGN-byte
        boundary, then the main loop, whose vector stores all start on that boundary, so
        jit.compile_ir(streaming=True) may make them aligned non-temporal stores (no read of
        the output's cache lines before they are written: a quarter less memory traffic for
        three inputs and one output)."""
        out = next(i for i, b in enumerate(self.k.buffers) if b.is_output)
        size = {"float": 4, "double": 8}[self.types[self.k.buffers[out].dtype]]
        f = self.f
        start = f(f"add i64 {f(f'ptrtoint ptr %b{out} to i64')}, "
                  f"{f(f'mul i64 %begin, {size}')}")
        gap = f(f"and i64 {f(f'sub i64 0, {start}')}, {STREAM_ALIGN - 1}")
        peel_end = f(f"add i64 %begin, {f(f'lshr i64 {gap}, {size.bit_length() - 1}')}")
        mid = self.call("i64", "llvm.smin.i64", [("i64", "%end"), ("i64", peel_end)],
                        "declare i64 @llvm.smin.i64(i64, i64)")
        loop_id, no_vec, no_unroll = self.md_next, self.md_next + 1, self.md_next + 2
        self.md_next += 3
        self.decls.add(f"!{loop_id} = distinct !{{!{loop_id}, !{no_vec}, !{no_unroll}}}")
        self.decls.add(f'!{no_vec} = !{{!"llvm.loop.vectorize.enable", i1 false}}')
        self.decls.add(f'!{no_unroll} = !{{!"llvm.loop.unroll.disable"}}')
        self.loop(0, "%begin", mid, offsets, lambda off: self.outer_loops(1, off),
                  f", !llvm.loop !{loop_id}")
        self.loop(0, mid, "%end", offsets, lambda off: self.outer_loops(1, off))

    # ----- column kernels ----------------------------------------------------------------------
    def _column_strips(self, d: int, offsets: dict) -> None:
        """for (j0 = lo; j0 < hi; j0 += COLUMN_STRIP) the column body over [j0, min(hi, j0 +
        COLUMN_STRIP)) of the last outer dim d."""
        lo, hi = ("%begin", "%end") if d == 0 else ("0", self.sizes[d])
        ptr = self.alloca("i64")
        cond, loop, done = (self.new_label(s) for s in ("scond", "strip", "sdone"))
        self.line(f"store i64 {lo}, ptr {ptr}")
        self.line(f"br label %{cond}")
        self.label(cond)
        j0 = self.f(f"load i64, ptr {ptr}")
        self.line(f"br i1 {self.f(f'icmp slt i64 {j0}, {hi}')}, label %{loop}, label %{done}")
        self.label(loop)
        nxt = self.f(f"add nsw i64 {j0}, {COLUMN_STRIP}")
        j1 = self.call("i64", "llvm.smin.i64", [("i64", nxt), ("i64", hi)],
                       "declare i64 @llvm.smin.i64(i64, i64)")
        self._column_body(d, j0, j1, offsets)
        self.line(f"store i64 {nxt}, ptr {ptr}")
        self.line(f"br label %{cond}")
        self.label(done)

    def _column_body(self, d: int, j0: str, j1: str, offsets: dict) -> None:
        """One strip [j0, j1) of a column kernel. Every loop of the kernel runs its inner dims
        outside and the strip innermost (unit stride: it vectorises); a reduction keeps one
        accumulator per strip point in a stack array; values computed once per outer point
        elsewhere are recomputed per strip point (scalar arithmetic, no memory traffic)."""
        k = self.k
        arrays: dict[int, tuple] = {}          # ACC instr -> (array, accumulator type, Reduce)
        count = "1"
        for dd in range(k.n_outer, k.ndim):
            count = self.f(f"mul i64 {count}, {self.sizes[dd]}")

        def slot(arr, aty, j):
            idx = self.f(f"sub nsw i64 {j}, {j0}")
            return self.f(f"getelementptr inbounds [{COLUMN_STRIP} x {aty}], ptr {arr}, i64 0, "
                          f"i64 {idx}")

        def scope_at(j) -> dict:
            scope = {}
            for out, (arr, aty, r) in arrays.items():
                v = self.f(f"load {aty}, ptr {slot(arr, aty, j)}")
                if r.kind is ReduceKind.MEAN:
                    v = self.f(f"fdiv {aty} {v}, {self.f(f'sitofp i64 {count} to {aty}')}")
                scope[out] = self.convert(v, aty, LL_TYPES[k.instrs[out].dtype])
            return scope

        def strip(off, body):
            self.loop(d, j0, j1, off, body, with_iv=True)

        for loop in k.loops:
            if isinstance(loop, ReduceLoop):
                accs = []
                for r in loop.reduces:
                    aty = LL_TYPES[r.acc_dtype]
                    accs.append((r, self.alloca(f"[{COLUMN_STRIP} x {aty}]"), aty))

                def init(off, j, accs=accs):
                    for r, arr, aty in accs:
                        self.line(f"store {aty} {self.identity(r.kind, aty)}, "
                                  f"ptr {slot(arr, aty, j)}")

                def step(off, j, accs=accs):
                    scope = scope_at(j)
                    for r, arr, aty in accs:
                        x = self.value(r.src, scope, off)
                        x = self.convert(x, LL_TYPES[k.instrs[r.src].dtype], aty)
                        p = slot(arr, aty, j)
                        cur = self.f(f"load {aty}, ptr {p}")
                        self.line(f"store {aty} {self.accumulate(r.kind, cur, x, aty, None, None)}"
                                  f", ptr {p}")

                strip(offsets, init)
                self.inner_loops(offsets, lambda off, lin, step=step: strip(off, step))
                for r, arr, aty in accs:
                    arrays[r.out] = (arr, aty, r)
            else:
                def store(off, j, loop=loop):
                    scope = scope_at(j)
                    for s in loop.stores:
                        self.store(s, self.value(s.value, scope, off), off)
                self.inner_loops(offsets, lambda off, lin, store=store: strip(off, store))
        if k.outer_stores:
            def outer(off, j):
                scope = scope_at(j)
                for s in k.outer_stores:
                    self.store(s, self.value(s.value, scope, off), off)
            strip(offsets, outer)

    # ----- values --------------------------------------------------------------------------------
    def load(self, b: int, dtype: str, offsets: dict) -> str:
        mty = _MEM_TYPES[dtype]
        p = self.f(f"getelementptr inbounds {mty}, ptr %b{b}, i64 {offsets[b]}")
        v = self.f(f"load {mty}, ptr {p}")
        return self.f(f"icmp ne i8 {v}, 0") if dtype == "bool" else v

    def store(self, s, v: str, offsets: dict) -> None:
        b = s.access.buffer
        dtype = self.k.buffers[b].dtype
        mty = _MEM_TYPES[dtype]
        if dtype == "bool":
            v = self.f(f"zext i1 {v} to i8")
        p = self.f(f"getelementptr inbounds {mty}, ptr %b{b}, i64 {offsets[b]}")
        self.line(f"store {mty} {v}, ptr {p}")

    # ----- reductions ---------------------------------------------------------------------------
    def reduce_loop(self, loop: ReduceLoop, offsets: dict) -> None:
        k = self.k
        accs = []
        counter = self.alloca("i64")
        self.line(f"store i64 0, ptr {counter}")
        for r in loop.reduces:
            aty = LL_TYPES[r.acc_dtype]
            acc = self.alloca(aty)
            self.line(f"store {aty} {self.identity(r.kind, aty)}, ptr {acc}")
            idx = None
            if r.kind in (ReduceKind.ARGMAX, ReduceKind.ARGMIN):
                idx = self.alloca("i64")
                self.line(f"store i64 0, ptr {idx}")
            accs.append((r, acc, aty, idx))
        needs_count = any(r.kind in (ReduceKind.ARGMAX, ReduceKind.ARGMIN)
                          for r in loop.reduces)

        def body(off, lin):
            scope = dict(self.outer)
            n = self.f(f"load i64, ptr {counter}") if needs_count else None
            for r, acc, aty, idx in accs:
                x = self.value(r.src, scope, off)
                xty = LL_TYPES[k.instrs[r.src].dtype]
                x = self.convert(x, xty, aty)
                cur = self.f(f"load {aty}, ptr {acc}")
                new = self.accumulate(r.kind, cur, x, aty, idx, n)
                self.line(f"store {aty} {new}, ptr {acc}")
            if needs_count:
                self.line(f"store i64 {self.f(f'add i64 {n}, 1')}, ptr {counter}")

        widens = any(r.acc_dtype == "float64" and k.instrs[r.src].kind is InstrKind.OP and
                     k.instrs[r.src].attr[0] == "cast" and
                     k.instrs[k.instrs[r.src].args[0]].dtype == "float32" for r in loop.reduces)
        hint = self.loop_hint("llvm.loop.vectorize.width", WIDEN_VECTOR_WIDTH) if widens else ""
        self.inner_loops(offsets, body, hint=hint)
        for r, acc, aty, idx in accs:
            out_ty = LL_TYPES[k.instrs[r.out].dtype]
            if idx is not None:
                v = self.f(f"load i64, ptr {idx}")
            else:
                v = self.f(f"load {aty}, ptr {acc}")
                if r.kind is ReduceKind.MEAN:
                    cnt = "1"
                    for d in range(k.n_outer, k.ndim):
                        cnt = self.f(f"mul i64 {cnt}, {self.sizes[d]}")
                    v = self.f(f"fdiv {aty} {v}, {self.f(f'sitofp i64 {cnt} to {aty}')}")
                v = self.convert(v, aty, out_ty)
            self.outer[r.out] = v

    def accumulate(self, kind, cur, x, ty, idx, n) -> str:
        f = self.f
        flt = is_float(ty)
        if kind in (ReduceKind.SUM, ReduceKind.MEAN):
            return f(f"fadd {_ACC_FLAGS} {ty} {cur}, {x}") if flt else f(f"add {ty} {cur}, {x}")
        if kind is ReduceKind.PROD:
            return f(f"fmul {_ACC_FLAGS} {ty} {cur}, {x}") if flt else f(f"mul {ty} {cur}, {x}")
        if kind is ReduceKind.ANY:
            return f(f"or i1 {cur}, {x}")
        if kind is ReduceKind.ALL:
            return f(f"and i1 {cur}, {x}")
        if kind in (ReduceKind.MAX, ReduceKind.MIN):
            big = kind is ReduceKind.MAX
            if flt:
                return self.intrinsic("maximum" if big else "minimum", ty, cur, x)
            return self.intrinsic("smax" if big else "smin", ty, cur, x)
        # argmax/argmin: the first extreme; a NaN wins (and the first NaN stays), as in numpy.
        cmp = ("ogt" if kind is ReduceKind.ARGMAX else "olt") if flt else \
            ("sgt" if kind is ReduceKind.ARGMAX else "slt")
        better = f(f"{'fcmp' if flt else 'icmp'} {cmp} {ty} {x}, {cur}")
        if flt:
            xnan = f(f"fcmp uno {ty} {x}, {x}")
            cnan = f(f"fcmp ord {ty} {cur}, {cur}")
            better = f(f"or i1 {better}, {f(f'and i1 {xnan}, {cnan}')}")
        first = f(f"icmp eq i64 {n}, 0")
        take = f(f"or i1 {better}, {first}")
        old = f(f"load i64, ptr {idx}")
        self.line(f"store i64 {f(f'select i1 {take}, i64 {n}, i64 {old}')}, ptr {idx}")
        return f(f"select i1 {take}, {ty} {x}, {ty} {cur}")

    # ----- conversions and ops ---------------------------------------------------------------
    def convert(self, v: str, src: str, dst: str) -> str:
        f = self.f
        if src == dst:
            return v
        if dst == "i1":
            return f(f"fcmp une {src} {v}, {self.const(0, src)}") if is_float(src) else \
                f(f"icmp ne {src} {v}, 0")
        if src == "i1":
            return f(f"uitofp i1 {v} to {dst}") if is_float(dst) else f(f"zext i1 {v} to {dst}")
        if is_float(src) and is_float(dst):
            op = "fpext" if dst == "double" else "fptrunc"
            return f(f"{op} {src} {v} to {dst}")
        if is_float(src):
            return f(f"fptosi {src} {v} to {dst}")
        if is_float(dst):
            return f(f"sitofp {src} {v} to {dst}")
        return f(f"{'sext' if dst == 'i64' else 'trunc'} {src} {v} to {dst}")

    def table_op(self, name: str, vals, ty: str) -> str | None:
        if name in _FCMP:
            return self.compare(name, vals[0], vals[1], ty)
        if not is_float(ty):
            return None
        if name in _LIBM_UNARY or name in _INTRINSIC_UNARY:
            if ty == "float" and name in vecmath.FUNCTIONS:
                return self.vec(name, vals[0])
            if name in _LIBM_UNARY:
                return self.libm(_LIBM_UNARY[name], ty, vals[0])
            return self.intrinsic(_INTRINSIC_UNARY[name], ty, vals[0])
        if name in _LIBM_BINARY:
            return self.libm(_LIBM_BINARY[name], ty, *vals)
        return None

    def builtin(self, name: str, ty: str, *vals) -> str:
        return self.intrinsic(name, ty, *vals)

    def compare(self, kind: str, a: str, b: str, ty: str) -> str:
        if is_float(ty):
            return self.f(f"fcmp {_FCMP[kind]} {ty} {a}, {b}")
        table = _UCMP if ty == "i1" else _ICMP
        return self.f(f"icmp {table[kind]} {ty} {a}, {b}")

    def arith(self, kind: str, a: str, b: str, ty: str) -> str:
        fop, iop, bop = _ARITH[kind]
        return self.f(f"{fop if is_float(ty) else bop if ty == 'i1' else iop} {ty} {a}, {b}")

    def select(self, c: str, a: str, b: str, ty: str) -> str:
        return self.f(f"select i1 {c}, {ty} {a}, {ty} {b}")

    def logic(self, kind: str, a: str, b: str) -> str:
        return self.f(f"{kind} i1 {a}, {b}")

    def bitwise(self, kind: str, a: str, b: str, ty: str) -> str:
        return self.f(f"{kind} {ty} {a}, {b}")

    def vec(self, name: str, x: str) -> str:
        self.vecmath.add(name)
        self.vec_calls += 1
        return self.f(f"call float @{vecmath.FUNCTIONS[name]}(float {x})")

    def op_neg(self, vals, ty, out, ids):
        return self.f(f"fneg {ty} {vals[0]}") if is_float(ty) else \
            self.f(f"sub {ty} 0, {vals[0]}")

    def op_abs(self, vals, ty, out, ids):
        if is_float(ty):
            return self.intrinsic("fabs", ty, vals[0])
        if ty == "i1":
            return vals[0]
        return self.call(ty, f"llvm.abs.{_SFX[ty]}", [(ty, vals[0]), ("i1", "false")],
                         f"declare {ty} @llvm.abs.{_SFX[ty]}({ty}, i1)")

    def op_sign(self, vals, ty, out, ids):
        x = vals[0]
        if ty == "i1":
            return x
        f = self.f
        z = self.const(0, ty)
        if is_float(ty):
            pos = f(f"uitofp i1 {f(f'fcmp ogt {ty} {x}, {z}')} to {ty}")
            neg = f(f"uitofp i1 {f(f'fcmp olt {ty} {x}, {z}')} to {ty}")
            return f(f"fsub {ty} {pos}, {neg}")     # sign(nan) = 0, as eager mode gives
        pos = f(f"zext i1 {f(f'icmp sgt {ty} {x}, 0')} to {ty}")
        neg = f(f"zext i1 {f(f'icmp slt {ty} {x}, 0')} to {ty}")
        return f(f"sub {ty} {pos}, {neg}")

    def op_relu(self, vals, ty, out, ids):
        x = vals[0]
        if is_float(ty):
            c = self.f(f"fcmp olt {ty} {x}, {self.const(0, ty)}")
        else:
            c = self.f(f"icmp slt {ty} {x}, 0")
        return self.f(f"select i1 {c}, {ty} {self.const(0, ty)}, {ty} {x}")

    def op_sigmoid(self, vals, ty, out, ids):
        if ty == "float":
            return self.vec("sigmoid", vals[0])
        x = vals[0]
        ax = self.intrinsic("fabs", ty, x)
        e = self.intrinsic("exp", ty, self.f(f"fneg {ty} {ax}"))
        s = self.f(f"fdiv {ty} 1.0, {self.f(f'fadd {ty} {e}, 1.0')}")
        es = self.f(f"fmul {ty} {e}, {s}")
        pos = self.f(f"fcmp oge {ty} {x}, 0.0")
        return self.f(f"select i1 {pos}, {ty} {s}, {ty} {es}")

    def op_isnan(self, vals, ty, out, ids):
        return self.f(f"fcmp uno {ty} {vals[0]}, {vals[0]}") if is_float(ty) else "false"

    def op_logical_not(self, vals, ty, out, ids):
        return self.f(f"xor i1 {self.convert(vals[0], ty, 'i1')}, true")

    def op_bitwise_not(self, vals, ty, out, ids):
        return self.f(f"xor {ty} {vals[0]}, {'true' if ty == 'i1' else -1}")

    def extreme(self, big: bool, a: str, b: str, ty: str) -> str:
        """max (big) or min of a and b; a NaN operand wins."""
        if is_float(ty):
            return self.intrinsic("maximum" if big else "minimum", ty, a, b)
        if ty == "i1":
            return self.f(f"{'or' if big else 'and'} i1 {a}, {b}")
        return self.intrinsic("smax" if big else "smin", ty, a, b)

    def op_copysign(self, vals, ty, out, ids):
        return self.intrinsic("copysign", ty, *vals)

    def op_lgamma(self, vals, ty, out, ids):
        # lgamma_r, not lgamma: lgamma writes the sign of gamma(x) to the global `signgam`, a
        # data race when the runtime splits a kernel over threads.
        fn = "lgammaf_r" if ty == "float" else "lgamma_r"
        sign = self.alloca("i32")
        return self.call(ty, fn, [(ty, vals[0]), ("ptr", sign)],
                         f"declare {ty} @{fn}({ty}, ptr)")

    def op_xlogy(self, vals, ty, out, ids):
        # x * log(y), but 0 where x == 0 and y is not NaN
        x, y = vals
        f = self.f
        prod = f(f"fmul {ty} {x}, {self.table_op('log', [y], ty)}")
        zero = f(f"and i1 {f(f'fcmp oeq {ty} {x}, 0.0')}, {f(f'fcmp ord {ty} {y}, 0.0')}")
        return f(f"select i1 {zero}, {ty} 0.0, {ty} {prod}")

    def op_fmod(self, vals, ty, out, ids):
        if not is_float(ty):
            raise UnsupportedOp("render_llvm: integer fmod (division by zero is an error)")
        return self.f(f"frem {ty} {vals[0]}, {vals[1]}")

    def op_remainder(self, vals, ty, out, ids):
        # Python's modulo: the result takes the divisor's sign.
        if not is_float(ty):
            raise UnsupportedOp("render_llvm: integer remainder (division by zero is an error)")
        a, b = vals
        f = self.f
        r = f(f"frem {ty} {a}, {b}")
        nz = f(f"fcmp une {ty} {r}, 0.0")
        rneg = f(f"fcmp olt {ty} {r}, 0.0")
        bneg = f(f"fcmp olt {ty} {b}, 0.0")
        fix = f(f"and i1 {nz}, {f(f'xor i1 {rneg}, {bneg}')}")
        return f(f"select i1 {fix}, {ty} {f(f'fadd {ty} {r}, {b}')}, {ty} {r}")

    def op_logaddexp(self, vals, ty, out, ids):
        a, b = vals
        f = self.f
        m = self.intrinsic("maximum", ty, a, b)
        d = self.intrinsic("fabs", ty, f(f"fsub {ty} {a}, {b}"))
        e = self.op("exp", [(f(f"fneg {ty} {d}"), ty)], ty, {}, ())
        lp = self.op("log1p", [(e, ty)], ty, {}, ())
        r = f(f"fadd {ty} {m}, {lp}")
        same = f(f"fcmp oeq {ty} {a}, {b}")   # equal infinities: a + log(2) keeps the inf
        return f(f"select i1 {same}, {ty} {f(f'fadd {ty} {a}, {fconst(0.6931471805599453, ty)}')}"
                 f", {ty} {r}")


def kernel_symbol(kernel: Kernel, streaming: bool = False) -> str:
    """The rendered function's name: the streaming form is a different function of the same
    kernel (both may be loaded in one process)."""
    return symbol_name(kernel) + ("_nt" if streaming else "")


def streamable(kernel: Kernel) -> bool:
    """Whether `kernel` has a streaming-store form: 1-D elementwise, one float output written
    contiguously (the peel aligns that one pointer)."""
    outs = [i for i, b in enumerate(kernel.buffers) if b.is_output]
    if kernel.ndim != 1 or kernel.n_inner != 0 or kernel.column or len(outs) != 1 or \
            kernel.buffers[outs[0]].dtype not in ("float32", "float64"):
        return False
    stores = [s for lp in kernel.loops for s in getattr(lp, "stores", ())]
    stores += list(kernel.outer_stores)
    return all(s.access.strides == (1,) for s in stores)


def render_llvm(kernel: Kernel, streaming: bool = False) -> str:
    """The LLVM IR module text for `kernel` (deterministic: it is hashed for the disk cache);
    `streaming`: the form whose vector stores jit.compile_ir(streaming=True) makes
    non-temporal (see `streamable`)."""
    return LLVMRenderer(kernel, streaming=streaming).render()
