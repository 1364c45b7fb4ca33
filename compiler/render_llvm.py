"""Render a `Kernel` (compiler/kernel_ir.py) to LLVM IR text. Pure: no JIT, no target machine.

The kernel becomes one function

    void dg_<hash>(i64 begin, i64 end, i64* dims, T0* noalias b0, T1* noalias b1, ...)

looping over outer dim 0 from `begin` to `end` (so the runtime can split it over threads), then the
remaining outer dims, then, per `ReduceLoop`/`MapLoop`, over the inner dims. `dims` holds the
domain sizes followed by every buffer's stride (in elements) for every domain dim; strides the
kernel IR fixes to 0 or 1 are not read, which is what lets the vectoriser see unit-stride loops.

Scalar ops are methods `op_<name>(args, ty)` on `LLVMRenderer`; a renderer for another target
overrides what differs. Float32 transcendental functions come from `compiler/vecmath.py` (inline,
vectorisable); float64 ones and rare ops (sin, atan2, ...) are scalar libm calls: LLVM has no
vector form for them, and those ops are not on any hot path we know of.

Loop counters and accumulators live in `alloca`s: the O3 pipeline's SROA turns them into SSA phis
before the vectoriser runs, and the renderer stays a simple recursive walk.
"""

from __future__ import annotations

from . import vecmath
from .kernel_ir import InstrKind, Kernel, ReduceKind, ReduceLoop
from .vecmath import fconst

__all__ = ["LLVMRenderer", "render_llvm", "symbol_name", "LL_TYPES", "UnsupportedOp"]

LL_TYPES = {"float32": "float", "float64": "double", "int64": "i64", "int32": "i32",
            "bool": "i1"}
_MEM_TYPES = dict(LL_TYPES, bool="i8")
_SFX = {"float": "f32", "double": "f64", "i64": "i64", "i32": "i32"}
# libm functions used as scalar externs (float32 name gets an `f` suffix).
_LIBM_UNARY = {"tan": "tan", "sinh": "sinh", "cosh": "cosh", "asin": "asin", "acos": "acos",
               "atan": "atan", "asinh": "asinh", "acosh": "acosh", "atanh": "atanh",
               "expm1": "expm1", "log1p": "log1p", "erf": "erf", "tanh": "tanh"}
_LIBM_BINARY = {"atan2": "atan2", "hypot": "hypot", "pow": "pow"}
_INTRINSIC_UNARY = {"exp": "exp", "exp2": "exp2", "log": "log", "log2": "log2",
                    "log10": "log10", "sqrt": "sqrt", "sin": "sin", "cos": "cos",
                    "floor": "floor", "ceil": "ceil", "trunc": "trunc", "round": "rint",
                    "abs": "fabs"}
_FCMP = {"eq": "oeq", "ne": "une", "lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge"}
_ICMP = {"eq": "eq", "ne": "ne", "lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge"}
_UCMP = {"eq": "eq", "ne": "ne", "lt": "ult", "le": "ule", "gt": "ugt", "ge": "uge"}
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


class UnsupportedOp(NotImplementedError):
    """The renderer has no rule for an op/dtype pair (the lowering then runs the node elsewhere)."""


def symbol_name(kernel: Kernel) -> str:
    """The function's symbol: a content hash of the kernel's text."""
    return f"dg_{kernel.digest()}"


def _is_float(ty: str) -> bool:
    return ty in ("float", "double")


class LLVMRenderer:
    """Renders one kernel; instantiate per kernel (it holds the function's lines)."""

    def __init__(self, kernel: Kernel, metadata_base: int = 0):
        self.k = kernel
        # numbered metadata (loop hints) starts here: a module of several kernels gives each
        # its own range
        self.md_next = metadata_base
        self.f = vecmath.Fn("t")
        self.decls: set[str] = set()
        self.vecmath: set[str] = set()
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
        if _is_float(ty):
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

    def function(self, linkage: str = "") -> tuple[str, set, set]:
        """(the function's definition, declarations it needs, vecmath helpers it calls); a module
        holding several kernels (compiler/render_entry.py) merges the last two."""
        k = self.k
        nd = k.ndim
        params = ["i64 %begin", "i64 %end", "ptr noalias readonly %dims"]
        params += [f"ptr noalias {'' if b.is_output else 'readonly '}%b{i}"
                   for i, b in enumerate(k.buffers)]
        self.sizes = [self._dim_arg(d) for d in range(nd)]
        self.access = {}
        for ins in k.instrs:
            if ins.kind is InstrKind.LOAD:
                self.access[ins.attr.buffer] = ins.attr
        for loop in k.loops:
            for s in getattr(loop, "stores", ()):
                self.access[s.access.buffer] = s.access
        for s in k.outer_stores:
            self.access[s.access.buffer] = s.access
        self.strides = {}
        for b, acc in sorted(self.access.items()):
            for d, s in enumerate(acc.strides):
                if s is None:
                    self.strides[b, d] = self._dim_arg(nd + b * nd + d)
        self.outer: dict[int, str] = {}
        offsets = {b: "0" for b in self.access}
        self._outer_loops(0, offsets)
        self.line("ret void")
        body = "\n".join(self.allocas + self.f.lines)
        link = f"{linkage} " if linkage else ""
        fn = (f"define {link}void @{symbol_name(k)}({', '.join(params)}) nounwind {{\n"
              f"entry:\n{body}\n}}\n")
        return fn, self.decls | set(vecmath.INTRINSICS.splitlines()), set(self.vecmath)

    def _dim_arg(self, slot: int) -> str:
        p = self.f(f"getelementptr inbounds i64, ptr %dims, i64 {slot}")
        return self.f(f"load i64, ptr {p}, !invariant.load !{{}}")

    def _advance(self, offsets: dict, d: int, iv: str) -> dict:
        out = {}
        for b, acc in self.access.items():
            s = acc.strides[d]
            if s == 0:
                out[b] = offsets[b]
            elif s == 1:
                out[b] = iv if offsets[b] == "0" else self.f(f"add nsw i64 {offsets[b]}, {iv}")
            else:
                t = self.f(f"mul nsw i64 {iv}, {self.strides[b, d]}")
                out[b] = t if offsets[b] == "0" else self.f(f"add nsw i64 {offsets[b]}, {t}")
        return out

    def loop_hint(self, name: str, value: int) -> str:
        """A `!llvm.loop` attachment carrying one hint (its metadata goes with the decls)."""
        loop_id, hint = self.md_next, self.md_next + 1
        self.md_next += 2
        self.decls.add(f"!{loop_id} = distinct !{{!{loop_id}, !{hint}}}")
        self.decls.add(f'!{hint} = !{{!"{name}", i32 {value}}}')
        return f", !llvm.loop !{loop_id}"

    def _loop(self, d: int, lo: str, hi: str, offsets: dict, body, with_iv=False,
              hint: str = "") -> None:
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
        off = self._advance(offsets, d, iv)
        body(off, iv) if with_iv else body(off)
        nxt = self.f(f"add nuw nsw i64 {iv}, 1")
        self.line(f"store i64 {nxt}, ptr {ptr}")
        self.line(f"br label %{cond}{hint}")
        self.label(done)

    def _outer_loops(self, d: int, offsets: dict) -> None:
        k = self.k
        if k.column and d == k.n_outer - 1:
            self._column_strips(d, offsets)
            return
        if d == k.n_outer:
            self._outer_body(offsets)
            return
        lo, hi = ("%begin", "%end") if d == 0 else ("0", self.sizes[d])
        self._loop(d, lo, hi, offsets, lambda off: self._outer_loops(d + 1, off))

    def _inner_loops(self, d: int, offsets: dict, body, hint: str = "") -> None:
        """Loops over inner dims d..; `hint` goes on the innermost one."""
        if d == self.k.ndim:
            body(offsets)
            return
        self._loop(d, "0", self.sizes[d], offsets,
                   lambda off: self._inner_loops(d + 1, off, body, hint),
                   hint=hint if d == self.k.ndim - 1 else "")

    def _outer_body(self, offsets: dict) -> None:
        k = self.k
        self.outer = {}
        for loop in k.loops:
            roots = ([r.src for r in loop.reduces] if isinstance(loop, ReduceLoop)
                     else [s.value for s in loop.stores])
            for i in self._outer_deps(roots):
                self.value(i, self.outer, offsets)
            if isinstance(loop, ReduceLoop):
                self._reduce_loop(loop, offsets)
            else:
                def body(off, loop=loop):
                    scope = dict(self.outer)
                    for s in loop.stores:
                        self.store(s, self.value(s.value, scope, off), off)
                self._inner_loops(k.n_outer, offsets, body)
        for s in k.outer_stores:
            self.store(s, self.value(s.value, self.outer, offsets), offsets)

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
            self._loop(d, j0, j1, off, body, with_iv=True)

        for loop in k.loops:
            if isinstance(loop, ReduceLoop):
                accs = []
                for r in loop.reduces:
                    aty = LL_TYPES[r.acc_dtype]
                    accs.append((r, self.alloca(f"[{COLUMN_STRIP} x {aty}]"), aty))

                def init(off, j, accs=accs):
                    for r, arr, aty in accs:
                        self.line(f"store {aty} {self._identity(r.kind, aty)}, "
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
                self._inner_loops(k.n_outer, offsets, lambda off, step=step: strip(off, step))
                for r, arr, aty in accs:
                    arrays[r.out] = (arr, aty, r)
            else:
                def store(off, j, loop=loop):
                    scope = scope_at(j)
                    for s in loop.stores:
                        self.store(s, self.value(s.value, scope, off), off)
                self._inner_loops(k.n_outer, offsets, lambda off, store=store: strip(off, store))
        if k.outer_stores:
            def outer(off, j):
                scope = scope_at(j)
                for s in k.outer_stores:
                    self.store(s, self.value(s.value, scope, off), off)
            strip(offsets, outer)

    def _outer_deps(self, roots) -> list[int]:
        """Outer instrs that inner instrs reachable from `roots` read (emitted before the loop)."""
        instrs = self.k.instrs
        seen, out, stack = set(), set(), list(roots)
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            if not instrs[i].inner:
                out.add(i)
            else:
                stack.extend(instrs[i].args)
        return sorted(out)

    # ----- values --------------------------------------------------------------------------------
    def value(self, i: int, scope: dict, offsets: dict) -> str:
        if i in scope:
            return scope[i]
        ins = self.k.instrs[i]
        ty = LL_TYPES[ins.dtype]
        if ins.kind is InstrKind.CONST:
            v = self.const(ins.attr, ty)
        elif ins.kind is InstrKind.LOAD:
            v = self.load(ins.attr.buffer, ins.dtype, offsets)
        elif ins.kind is InstrKind.ACC:
            raise AssertionError(f"kernel: %{i} read before its reduction loop")
        else:
            args = [(self.value(a, scope, offsets), LL_TYPES[self.k.instrs[a].dtype])
                    for a in ins.args]
            name, extra = ins.attr
            v = self.op(name, args, ty, dict(extra), ins.args)
        scope[i] = v
        return v

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
    def _identity(self, kind: ReduceKind, ty: str) -> str:
        if kind in (ReduceKind.SUM, ReduceKind.MEAN):
            return self.const(0, ty)
        if kind is ReduceKind.PROD:
            return self.const(1, ty)
        if kind is ReduceKind.ANY:
            return "false"
        if kind is ReduceKind.ALL:
            return "true"
        big = kind in (ReduceKind.MIN, ReduceKind.ARGMIN)
        if _is_float(ty):
            return fconst(float("inf") if big else float("-inf"), ty)
        bits = 64 if ty == "i64" else 32
        return str(2 ** (bits - 1) - 1 if big else -2 ** (bits - 1))

    def _reduce_loop(self, loop: ReduceLoop, offsets: dict) -> None:
        k = self.k
        accs = []
        counter = self.alloca("i64")
        self.line(f"store i64 0, ptr {counter}")
        for r in loop.reduces:
            aty = LL_TYPES[r.acc_dtype]
            acc = self.alloca(aty)
            self.line(f"store {aty} {self._identity(r.kind, aty)}, ptr {acc}")
            idx = None
            if r.kind in (ReduceKind.ARGMAX, ReduceKind.ARGMIN):
                idx = self.alloca("i64")
                self.line(f"store i64 0, ptr {idx}")
            accs.append((r, acc, aty, idx))
        needs_count = any(r.kind in (ReduceKind.ARGMAX, ReduceKind.ARGMIN)
                          for r in loop.reduces)

        def body(off):
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
        self._inner_loops(k.n_outer, offsets, body, hint)
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
        flt = _is_float(ty)
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
            return f(f"fcmp une {src} {v}, {self.const(0, src)}") if _is_float(src) else \
                f(f"icmp ne {src} {v}, 0")
        if src == "i1":
            return f(f"uitofp i1 {v} to {dst}") if _is_float(dst) else f(f"zext i1 {v} to {dst}")
        if _is_float(src) and _is_float(dst):
            op = "fpext" if dst == "double" else "fptrunc"
            return f(f"{op} {src} {v} to {dst}")
        if _is_float(src):
            return f(f"fptosi {src} {v} to {dst}")
        if _is_float(dst):
            return f(f"sitofp {src} {v} to {dst}")
        return f(f"{'sext' if dst == 'i64' else 'trunc'} {src} {v} to {dst}")

    def op(self, name: str, args, ty: str, extra: dict, arg_ids) -> str:
        """One scalar op: `args` are (value, llvm type) pairs; `ty` is the result's type."""
        if name == "cast":
            return self.convert(args[0][0], args[0][1], ty)
        rule = getattr(self, f"op_{name}", None)
        aty = args[0][1] if args else ty
        if rule is None:
            if name in _FCMP:
                a, b = args[0][0], args[1][0]
                if _is_float(aty):
                    return self.f(f"fcmp {_FCMP[name]} {aty} {a}, {b}")
                table = _UCMP if aty == "i1" else _ICMP
                return self.f(f"icmp {table[name]} {aty} {a}, {b}")
            if name in _LIBM_UNARY and _is_float(aty):
                if aty == "float" and name in vecmath.FUNCTIONS:
                    return self.vec(name, args[0][0])
                return self.libm(_LIBM_UNARY[name], aty, args[0][0])
            if name in _INTRINSIC_UNARY and _is_float(aty):
                if aty == "float" and name in vecmath.FUNCTIONS:
                    return self.vec(name, args[0][0])
                return self.intrinsic(_INTRINSIC_UNARY[name], aty, args[0][0])
            if name in _LIBM_BINARY and _is_float(aty):
                return self.libm(_LIBM_BINARY[name], aty, args[0][0], args[1][0])
            raise UnsupportedOp(f"render_llvm: no rule for op {name!r} on {aty}")
        return rule([a for a, _ in args], aty, ty)

    def vec(self, name: str, x: str) -> str:
        self.vecmath.add(name)
        return self.f(f"call float @{vecmath.FUNCTIONS[name]}(float {x})")

    def _arith(self, fop, iop, bop, args, ty):
        a, b = args
        if _is_float(ty):
            return self.f(f"{fop} {ty} {a}, {b}")
        if ty == "i1":
            if bop is None:
                raise UnsupportedOp("render_llvm: arithmetic on bool")
            return self.f(f"{bop} i1 {a}, {b}")
        return self.f(f"{iop} {ty} {a}, {b}")

    def op_add(self, args, ty, out):
        return self._arith("fadd", "add", "or", args, ty)

    def op_sub(self, args, ty, out):
        return self._arith("fsub", "sub", None, args, ty)

    def op_mul(self, args, ty, out):
        return self._arith("fmul", "mul", "and", args, ty)

    def op_div(self, args, ty, out):
        if not _is_float(ty):
            raise UnsupportedOp("render_llvm: div computes in a float dtype")
        return self.f(f"fdiv {ty} {args[0]}, {args[1]}")

    def op_neg(self, args, ty, out):
        return self.f(f"fneg {ty} {args[0]}") if _is_float(ty) else \
            self.f(f"sub {ty} 0, {args[0]}")

    def op_abs(self, args, ty, out):
        if _is_float(ty):
            return self.intrinsic("fabs", ty, args[0])
        if ty == "i1":
            return args[0]
        return self.call(ty, f"llvm.abs.{_SFX[ty]}", [(ty, args[0]), ("i1", "false")],
                         f"declare {ty} @llvm.abs.{_SFX[ty]}({ty}, i1)")

    def op_sign(self, args, ty, out):
        x = args[0]
        if ty == "i1":
            return x
        f = self.f
        z = self.const(0, ty)
        if _is_float(ty):
            pos = f(f"uitofp i1 {f(f'fcmp ogt {ty} {x}, {z}')} to {ty}")
            neg = f(f"uitofp i1 {f(f'fcmp olt {ty} {x}, {z}')} to {ty}")
            return f(f"fsub {ty} {pos}, {neg}")     # sign(nan) = 0, as eager mode gives
        pos = f(f"zext i1 {f(f'icmp sgt {ty} {x}, 0')} to {ty}")
        neg = f(f"zext i1 {f(f'icmp slt {ty} {x}, 0')} to {ty}")
        return f(f"sub {ty} {pos}, {neg}")

    def op_relu(self, args, ty, out):
        x = args[0]
        if _is_float(ty):
            c = self.f(f"fcmp olt {ty} {x}, {self.const(0, ty)}")
        else:
            c = self.f(f"icmp slt {ty} {x}, 0")
        return self.f(f"select i1 {c}, {ty} {self.const(0, ty)}, {ty} {x}")

    def op_reciprocal(self, args, ty, out):
        return self.f(f"fdiv {ty} {self.const(1, ty)}, {args[0]}")

    def op_rsqrt(self, args, ty, out):
        s = self.intrinsic("sqrt", ty, args[0])
        return self.f(f"fdiv {ty} {self.const(1, ty)}, {s}")

    def op_sigmoid(self, args, ty, out):
        if ty == "float":
            return self.vec("sigmoid", args[0])
        x = args[0]
        ax = self.intrinsic("fabs", ty, x)
        e = self.intrinsic("exp", ty, self.f(f"fneg {ty} {ax}"))
        s = self.f(f"fdiv {ty} 1.0, {self.f(f'fadd {ty} {e}, 1.0')}")
        es = self.f(f"fmul {ty} {e}, {s}")
        pos = self.f(f"fcmp oge {ty} {x}, 0.0")
        return self.f(f"select i1 {pos}, {ty} {s}, {ty} {es}")

    def _int_identity(self, args, ty, out):
        if _is_float(ty):
            raise AssertionError
        return args[0]

    def op_floor(self, args, ty, out):
        return self.intrinsic("floor", ty, args[0]) if _is_float(ty) else args[0]

    def op_ceil(self, args, ty, out):
        return self.intrinsic("ceil", ty, args[0]) if _is_float(ty) else args[0]

    def op_trunc(self, args, ty, out):
        return self.intrinsic("trunc", ty, args[0]) if _is_float(ty) else args[0]

    def op_round(self, args, ty, out):
        return self.intrinsic("rint", ty, args[0]) if _is_float(ty) else args[0]

    def op_isnan(self, args, ty, out):
        return self.f(f"fcmp uno {ty} {args[0]}, {args[0]}") if _is_float(ty) else "false"

    def op_isinf(self, args, ty, out):
        if not _is_float(ty):
            return "false"
        a = self.intrinsic("fabs", ty, args[0])
        return self.f(f"fcmp oeq {ty} {a}, {fconst(float('inf'), ty)}")

    def op_isfinite(self, args, ty, out):
        if not _is_float(ty):
            return "true"
        a = self.intrinsic("fabs", ty, args[0])
        return self.f(f"fcmp olt {ty} {a}, {fconst(float('inf'), ty)}")

    def op_logical_not(self, args, ty, out):
        return self.f(f"xor i1 {self.convert(args[0], ty, 'i1')}, true")

    def op_bitwise_not(self, args, ty, out):
        return self.f(f"xor {ty} {args[0]}, {'true' if ty == 'i1' else -1}")

    def _logical(self, op, args, ty):
        a, b = (self.convert(x, ty, "i1") for x in args)
        return self.f(f"{op} i1 {a}, {b}")

    def op_logical_and(self, args, ty, out):
        return self._logical("and", args, ty)

    def op_logical_or(self, args, ty, out):
        return self._logical("or", args, ty)

    def op_logical_xor(self, args, ty, out):
        return self._logical("xor", args, ty)

    def _bitwise(self, op, args, ty):
        if _is_float(ty):
            raise UnsupportedOp("render_llvm: bitwise op on floats")
        return self.f(f"{op} {ty} {args[0]}, {args[1]}")

    def op_bitwise_and(self, args, ty, out):
        return self._bitwise("and", args, ty)

    def op_bitwise_or(self, args, ty, out):
        return self._bitwise("or", args, ty)

    def op_bitwise_xor(self, args, ty, out):
        return self._bitwise("xor", args, ty)

    def _extreme(self, big, a, b, ty):
        if _is_float(ty):
            return self.intrinsic("maximum" if big else "minimum", ty, a, b)
        if ty == "i1":
            return self.f(f"{'or' if big else 'and'} i1 {a}, {b}")
        return self.intrinsic("smax" if big else "smin", ty, a, b)

    def op_maximum(self, args, ty, out):
        return self._extreme(True, args[0], args[1], ty)

    def op_minimum(self, args, ty, out):
        return self._extreme(False, args[0], args[1], ty)

    def op_clamp(self, args, ty, out):
        x, lo, hi = args
        return self._extreme(False, self._extreme(True, x, lo, ty), hi, ty)

    def op_where(self, args, ty, out):
        c, a, b = args
        return self.f(f"select i1 {c}, {out} {a}, {out} {b}")

    def op_pow(self, args, ty, out):
        if not _is_float(ty):
            raise UnsupportedOp("render_llvm: integer pow")
        return self.libm("pow", ty, *args)

    def op_copysign(self, args, ty, out):
        return self.intrinsic("copysign", ty, *args)

    def op_fmod(self, args, ty, out):
        if not _is_float(ty):
            raise UnsupportedOp("render_llvm: integer fmod (division by zero is an error)")
        return self.f(f"frem {ty} {args[0]}, {args[1]}")

    def op_remainder(self, args, ty, out):
        # Python's modulo: the result takes the divisor's sign.
        if not _is_float(ty):
            raise UnsupportedOp("render_llvm: integer remainder (division by zero is an error)")
        a, b = args
        f = self.f
        r = f(f"frem {ty} {a}, {b}")
        nz = f(f"fcmp une {ty} {r}, 0.0")
        rneg = f(f"fcmp olt {ty} {r}, 0.0")
        bneg = f(f"fcmp olt {ty} {b}, 0.0")
        fix = f(f"and i1 {nz}, {f(f'xor i1 {rneg}, {bneg}')}")
        return f(f"select i1 {fix}, {ty} {f(f'fadd {ty} {r}, {b}')}, {ty} {r}")

    def op_logaddexp(self, args, ty, out):
        a, b = args
        f = self.f
        m = self.intrinsic("maximum", ty, a, b)
        d = self.intrinsic("fabs", ty, f(f"fsub {ty} {a}, {b}"))
        e = self.op("exp", [(f(f"fneg {ty} {d}"), ty)], ty, {}, ())
        lp = self.op("log1p", [(e, ty)], ty, {}, ())
        r = f(f"fadd {ty} {m}, {lp}")
        same = f(f"fcmp oeq {ty} {a}, {b}")   # equal infinities: a + log(2) keeps the inf
        return f(f"select i1 {same}, {ty} {f(f'fadd {ty} {a}, {fconst(0.6931471805599453, ty)}')}"
                 f", {ty} {r}")


def render_llvm(kernel: Kernel) -> str:
    """The LLVM IR module text for `kernel` (deterministic: it is hashed for the disk cache)."""
    return LLVMRenderer(kernel).render()
