"""Render a `Kernel` (compiler/kernel_ir.py) as C: `CRenderer`, a `KernelRenderer`
(compiler/render_base.py, the walk every target shares) that writes C's primitives.

`CUDARenderer` (compiler/render_cuda.py) is a `CRenderer` that overrides only what differs on a
GPU: the prelude, the signature, how outer points map to threads, how inner loops are shared by
the threads of a row and how partial reductions are combined.

The C form is a serial loop nest with the same calling convention as the LLVM renderer's
function, so a host C compiler can build it and the same runtime packing calls it:

    void dg_<hash>(long long begin, long long end, const long long* dims, T0* b0, T1* b1, ...)

`dims` holds the domain sizes followed by every buffer's stride (in elements) for every domain
dim. Everything a CUDA kernel computes per element (`op_<name>` methods, loads, stores, casts,
accumulation rules) is written once here, so it is checked on the CPU by compiling the C form with
the host compiler (tests/cuda/test_render_c.py) even where no GPU exists.

Values are C expressions; every instruction is bound to a `const` local (`t<N>`) so that shared
sub-expressions are computed once and the text stays readable.
"""

from __future__ import annotations

import contextlib
import struct

from .kernel_ir import RUNTIME, Kernel, ReduceKind, ReduceLoop
from .render_base import C_TYPES, KernelRenderer, UnsupportedOp, is_float, symbol_name

__all__ = ["KernelRenderer", "CRenderer", "render_c", "symbol_name", "UnsupportedOp",
           "C_TYPES", "is_float"]

_MEM_TYPES = dict(C_TYPES, bool="unsigned char")
# Math functions with a float32 form named <name>f, in C99's libm and in CUDA's math library.
_UNARY_MATH = {"exp": "exp", "exp2": "exp2", "expm1": "expm1", "log": "log", "log2": "log2",
               "log10": "log10", "log1p": "log1p", "sqrt": "sqrt", "sin": "sin", "cos": "cos",
               "tan": "tan", "sinh": "sinh", "cosh": "cosh", "asin": "asin", "acos": "acos",
               "atan": "atan", "asinh": "asinh", "acosh": "acosh", "atanh": "atanh",
               "tanh": "tanh", "erf": "erf", "erfc": "erfc", "lgamma": "lgamma",
               "floor": "floor", "ceil": "ceil", "trunc": "trunc",
               "round": "rint", "abs": "fabs"}
_BINARY_MATH = {"atan2": "atan2", "hypot": "hypot", "pow": "pow", "copysign": "copysign",
                "fmod": "fmod"}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_ARITH = {"add": ("+", "||"), "sub": ("-", None), "mul": ("*", "&&"), "div": ("/", None)}
_LOGIC = {"and": "&&", "or": "||", "xor": "!="}
_BITWISE = {"and": "&", "or": "|", "xor": "^"}
_INT_MIN = {"long long": "(-9223372036854775807LL - 1)", "int": "(-2147483647 - 1)"}
_INT_MAX = {"long long": "9223372036854775807LL", "int": "2147483647"}


# Helpers every kernel may call; `{q}` is the function qualifier of the target.
_HELPERS = {
    # NaN-propagating max/min (numpy's maximum, LLVM's llvm.maximum): a NaN operand wins.
    "dg_maxf": "{q} float dg_maxf(float a, float b) {{ return (a > b || a != a) ? a : b; }}",
    "dg_minf": "{q} float dg_minf(float a, float b) {{ return (a < b || a != a) ? a : b; }}",
    "dg_max": "{q} double dg_max(double a, double b) {{ return (a > b || a != a) ? a : b; }}",
    "dg_min": "{q} double dg_min(double a, double b) {{ return (a < b || a != a) ? a : b; }}",
}


class CRenderer(KernelRenderer):
    """Renders one kernel to C; instantiate per kernel (it holds the function's lines)."""

    index = "long long"          # the type of loop counters, sizes and strides
    qualifier = "static inline"  # how helper functions are declared

    def __init__(self, kernel: Kernel):
        super().__init__(kernel)
        self.lines: list[str] = []
        self.depth = 1
        self.ntmp = 0
        self.helpers: set[str] = set()

    # ----- small emitters ----------------------------------------------------------------------
    def emit(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    def let(self, ty: str, expr: str) -> str:
        """Bind `expr` to a fresh const local of type `ty`; returns its name."""
        name = f"t{self.ntmp}"
        self.ntmp += 1
        self.emit(f"const {ty} {name} = {expr};")
        return name

    def var(self, ty: str, init: str, stem: str = "a") -> str:
        """A fresh mutable local."""
        name = f"{stem}{self.ntmp}"
        self.ntmp += 1
        self.emit(f"{ty} {name} = {init};")
        return name

    @contextlib.contextmanager
    def block(self, head: str):
        self.emit(head + " {")
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            self.emit("}")

    def helper(self, name: str) -> str:
        self.helpers.add(name)
        return name

    def const(self, value, ty: str) -> str:
        """A C literal of type `ty` (float32 values are rounded to float32 first)."""
        if ty == "bool":
            return "true" if value else "false"
        if not is_float(ty):
            v = int(value)
            if ty == "long long":
                return _INT_MIN[ty] if v == -2 ** 63 else f"{v}LL"
            return _INT_MIN[ty] if v == -2 ** 31 else str(v)
        v = float(value)
        if ty == "float":
            v = struct.unpack("f", struct.pack("f", v))[0]
        if v != v:
            return f"(({ty})DG_NAN)"
        if v in (float("inf"), float("-inf")):
            return f"(({ty})DG_INF)" if v > 0 else f"(-({ty})DG_INF)"
        text = repr(v)
        return text + "f" if ty == "float" else text

    # ----- the kernel --------------------------------------------------------------------------
    def prelude(self) -> str:
        """Includes, constants and helper functions the body used."""
        head = ["#include <math.h>", "#include <stdbool.h>",
                "#define DG_INF INFINITY", "#define DG_NAN NAN"]
        return "\n".join(head + self.helper_defs())

    def helper_defs(self) -> list[str]:
        """The helpers used, each guarded so that several kernels can share one source file."""
        out = []
        for h in sorted(self.helpers):
            out += [f"#ifndef DG_HAVE_{h}", f"#define DG_HAVE_{h}",
                    _HELPERS[h].format(q=self.qualifier), "#endif"]
        return out

    def params(self) -> list[str]:
        k = self.k
        out = [f"{self.index} begin", f"{self.index} end", f"const {self.index}* dims"]
        for i, b in enumerate(k.buffers):
            const = "" if b.is_output else "const "
            out.append(f"{const}{_MEM_TYPES[b.dtype]}* restrict b{i}")
        return out

    def size_prologue(self) -> None:
        """Bind the sizes `n<d>` and runtime strides `s<b>_<d>` from the `dims` array."""
        nd = self.k.ndim
        for d in range(nd):
            self.emit(f"const {self.index} n{d} = dims[{d}];")
        for b, d in self.runtime_strides():
            self.emit(f"const {self.index} s{b}_{d} = dims[{nd + b * nd + d}];")

    def runtime_strides(self) -> list[tuple]:
        """(buffer, dim) pairs whose stride is a runtime argument."""
        return [(b, d) for b, acc in sorted(self.access.items())
                for d, s in enumerate(acc.strides) if s is RUNTIME]

    def render(self) -> str:
        """The whole translation unit (deterministic: it is hashed for the caches)."""
        self.size_prologue()
        self.outer_loops(0, {b: "0" for b in self.access})
        comment = "\n".join(f"// {ln}" for ln in self.k.text().splitlines())
        body = "\n".join(self.lines)
        fn = f"void {symbol_name(self.k)}({', '.join(self.params())}) {{\n{body}\n}}\n"
        return f"{comment}\n{self.prelude()}\n\n{fn}"

    # ----- loops -------------------------------------------------------------------------------
    def size(self, d: int) -> str:
        return f"n{d}"

    def loop(self, d: int, lo: str, hi: str, offsets: dict, body, hint: str = "") -> None:
        with self.block(f"for ({self.index} i{d} = {lo}; i{d} < {hi}; ++i{d})"):
            body(self.advance(offsets, d, f"i{d}"))

    def stride_step(self, iv: str, b: int, d: int) -> str:
        return f"{iv} * s{b}_{d}"

    def offset_add(self, offset: str, step: str) -> str:
        return self.let(self.index, step if offset == "0" else f"{offset} + {step}")

    def start_count(self) -> str:
        return self.var(self.index, "0", "j")

    def step_count(self, lin: str) -> None:
        self.emit(f"++{lin};")

    def inner_count(self) -> str:
        """The number of inner points (a C expression)."""
        dims = [f"n{d}" for d in range(self.k.n_outer, self.k.ndim)]
        return " * ".join(dims) if dims else "1"

    # ----- values --------------------------------------------------------------------------------
    def bind(self, ty: str, expr: str) -> str:
        return self.let(ty, expr)

    def load(self, b: int, dtype: str, offsets: dict) -> str:
        expr = f"b{b}[{offsets[b]}]"
        return self.let(C_TYPES[dtype], f"{expr} != 0" if dtype == "bool" else expr)

    def store(self, s, v: str, offsets: dict) -> None:
        b = s.access.buffer
        mty = _MEM_TYPES[self.k.buffers[b].dtype]
        self.emit(f"b{b}[{offsets[b]}] = ({mty}){v};")

    # ----- reductions ---------------------------------------------------------------------------
    def start_accumulators(self, loop: ReduceLoop) -> list:
        """Declare each reduction's accumulator (and index, for argmax/argmin)."""
        accs = []
        for r in loop.reduces:
            aty = C_TYPES[r.acc_dtype]
            acc = self.var(aty, self.identity(r.kind, aty))
            idx = None
            if r.kind in (ReduceKind.ARGMAX, ReduceKind.ARGMIN):
                idx = self.var("long long", _INT_MAX["long long"], "ai")
            accs.append((r, acc, aty, idx))
        return accs

    def accumulate_into(self, accs: list, off: dict, lin: str) -> None:
        """Fold the current inner point into every accumulator."""
        scope = dict(self.outer)
        for r, acc, aty, idx in accs:
            x = self.value(r.src, scope, off)
            x = self.convert(x, C_TYPES[self.k.instrs[r.src].dtype], aty)
            self.combine(r.kind, acc, idx, x, lin, aty)

    def combine(self, kind: ReduceKind, acc: str, idx, x: str, xi, ty: str) -> None:
        """acc (, idx) <- acc combined with x (, xi): associative, so partials combine too."""
        if kind in (ReduceKind.SUM, ReduceKind.MEAN):
            self.emit(f"{acc} = {acc} + {x};" if ty != "bool" else f"{acc} = {acc} || {x};")
        elif kind is ReduceKind.PROD:
            self.emit(f"{acc} = {acc} * {x};" if ty != "bool" else f"{acc} = {acc} && {x};")
        elif kind is ReduceKind.ANY:
            self.emit(f"{acc} = {acc} || {x};")
        elif kind is ReduceKind.ALL:
            self.emit(f"{acc} = {acc} && {x};")
        elif kind in (ReduceKind.MAX, ReduceKind.MIN):
            self.emit(f"{acc} = {self.extreme(kind is ReduceKind.MAX, acc, x, ty)};")
        else:
            # argmax/argmin: the first extreme wins; a NaN beats any number (numpy's rule)
            cmp = ">" if kind is ReduceKind.ARGMAX else "<"
            if is_float(ty):
                better = f"({x} {cmp} {acc} || ({x} != {x} && {acc} == {acc}))"
                same = f"({x} == {acc} || ({x} != {x} && {acc} != {acc}))"
            else:
                better, same = f"({x} {cmp} {acc})", f"({x} == {acc})"
            with self.block(f"if ({better} || ({same} && {xi} < {idx}))"):
                self.emit(f"{acc} = {x};")
                self.emit(f"{idx} = {xi};")

    def finish_accumulators(self, accs: list) -> None:
        """Bind each reduction's result (mean divided, cast to the output dtype)."""
        for r, acc, aty, idx in accs:
            out_ty = C_TYPES[self.k.instrs[r.out].dtype]
            if idx is not None:
                v = f"({idx} == {_INT_MAX['long long']} ? 0LL : {idx})"
                self.outer[r.out] = self.let(out_ty, self.convert(v, "long long", out_ty))
                continue
            v = acc
            if r.kind is ReduceKind.MEAN:
                v = self.let(aty, f"{acc} / ({aty})({self.inner_count()})")
            self.outer[r.out] = self.let(out_ty, self.convert(v, aty, out_ty))

    def reduce_loop(self, loop: ReduceLoop, offsets: dict) -> None:
        accs = self.start_accumulators(loop)
        counted = any(idx is not None for _, _, _, idx in accs)
        self.inner_loops(offsets, lambda off, lin: self.accumulate_into(accs, off, lin), counted)
        self.finish_accumulators(accs)

    # ----- conversions and ops ---------------------------------------------------------------
    def convert(self, v: str, src: str, dst: str) -> str:
        if src == dst:
            return v
        if dst == "bool":
            return f"({v} != 0)"
        return f"({dst})({v})"

    def math(self, name: str, ty: str, *vals) -> str:
        """A libm-style call: `name` for double, `namef` for float."""
        return f"{name}{'f' if ty == 'float' else ''}({', '.join(vals)})"

    def libm(self, name: str, ty: str, *vals) -> str:
        return self.math(name, ty, *vals)

    def builtin(self, name: str, ty: str, *vals) -> str:
        return self.math(name, ty, *vals)

    def table_op(self, name: str, vals, ty: str) -> str | None:
        if name in _COMPARE:
            return self.compare(name, vals[0], vals[1], ty)
        if name in _UNARY_MATH and is_float(ty):
            return self.math(_UNARY_MATH[name], ty, vals[0])
        if name in _BINARY_MATH and is_float(ty):
            return self.math(_BINARY_MATH[name], ty, *vals)
        return None

    def compare(self, kind: str, a: str, b: str, ty: str) -> str:
        return f"({a} {_COMPARE[kind]} {b})"

    def arith(self, kind: str, a: str, b: str, ty: str) -> str:
        sym, bool_sym = _ARITH[kind]
        return f"({a} {bool_sym if ty == 'bool' else sym} {b})"

    def select(self, c: str, a: str, b: str, ty: str) -> str:
        return f"({c} ? {a} : {b})"

    def logic(self, kind: str, a: str, b: str) -> str:
        return f"({a} {_LOGIC[kind]} {b})"

    def bitwise(self, kind: str, a: str, b: str, ty: str) -> str:
        if ty == "bool":
            return f"(bool)({a} {_BITWISE[kind]} {b})"
        return f"({a} {_BITWISE[kind]} {b})"

    def op_neg(self, vals, ty, out, ids):
        if ty == "bool":
            raise UnsupportedOp(f"{type(self).__name__}: neg on bool")
        return f"(-{vals[0]})"

    def op_abs(self, vals, ty, out, ids):
        x = vals[0]
        if is_float(ty):
            return self.math("fabs", ty, x)
        return x if ty == "bool" else f"({x} < 0 ? -{x} : {x})"

    def op_sign(self, vals, ty, out, ids):
        x = vals[0]
        if ty == "bool":
            return x
        # sign(nan) = 0, as eager mode gives
        return f"(({ty})({x} > 0) - ({ty})({x} < 0))"

    def op_relu(self, vals, ty, out, ids):
        x = vals[0]
        return f"({x} < 0 ? {self.const(0, ty)} : {x})"   # relu(nan) = nan, as in numpy

    def op_sigmoid(self, vals, ty, out, ids):
        # 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below: neither overflows
        x = vals[0]
        e = self.let(ty, self.exp_nonpositive(f"(-{self.math('fabs', ty, x)})", ty))
        s = self.let(ty, self.one_over_one_plus(e, ty))
        return f"({x} >= 0 ? {s} : {e} * {s})"

    def one_over_one_plus(self, e: str, ty: str) -> str:
        """1 / (1 + e) for 0 <= e <= 1 (sigmoid's denominator; a target may divide faster)."""
        return f"{self.const(1, ty)} / ({self.const(1, ty)} + {e})"

    def exp_nonpositive(self, x: str, ty: str) -> str:
        """exp of an argument known to be <= 0 (a target may use a faster form there)."""
        return self.math("exp", ty, x)

    def op_isnan(self, vals, ty, out, ids):
        return f"({vals[0]} != {vals[0]})" if is_float(ty) else "false"

    def op_logical_not(self, vals, ty, out, ids):
        return f"(!{self.convert(vals[0], ty, 'bool')})"

    def op_bitwise_not(self, vals, ty, out, ids):
        if is_float(ty):
            raise UnsupportedOp(f"{type(self).__name__}: bitwise op on floats")
        return f"(!{vals[0]})" if ty == "bool" else f"(~{vals[0]})"

    def extreme(self, big: bool, a: str, b: str, ty: str) -> str:
        """max (big) or min of a and b; a NaN operand wins."""
        if is_float(ty):
            name = ("dg_max" if big else "dg_min") + ("f" if ty == "float" else "")
            return f"{self.helper(name)}({a}, {b})"
        if ty == "bool":
            return f"({a} {'||' if big else '&&'} {b})"
        return f"({a} {'>' if big else '<'} {b} ? {a} : {b})"

    def op_fmod(self, vals, ty, out, ids):
        if not is_float(ty):
            raise UnsupportedOp(f"{type(self).__name__}: integer fmod (division by zero)")
        return self.math("fmod", ty, *vals)

    def op_remainder(self, vals, ty, out, ids):
        # Python's modulo: the result takes the divisor's sign
        if not is_float(ty):
            raise UnsupportedOp(f"{type(self).__name__}: integer remainder (division by zero)")
        a, b = vals
        r = self.let(ty, self.math("fmod", ty, a, b))
        z = self.const(0, ty)
        return f"(({r} != {z} && (({r} < {z}) != ({b} < {z}))) ? {r} + {b} : {r})"

    def op_xlogy(self, vals, ty, out, ids):
        # x * log(y), but 0 where x == 0 and y is not NaN
        x, y = vals
        z = self.const(0, ty)
        return f"(({x} == {z} && {y} == {y}) ? {z} : {x} * {self.math('log', ty, y)})"

    def op_logaddexp(self, vals, ty, out, ids):
        a, b = vals
        m = self.let(ty, self.extreme(True, a, b, ty))
        d = self.math("fabs", ty, f"{a} - {b}")
        lp = self.math("log1p", ty, self.exp_nonpositive(f"(-{d})", ty))
        ln2 = self.const(0.6931471805599453, ty)
        # equal infinities: a + log(2) keeps the inf (the general form gives inf - inf)
        return f"({a} == {b} ? {a} + {ln2} : {m} + {lp})"


def render_c(kernel: Kernel) -> str:
    """The C translation unit for `kernel` (serial loops; the LLVM renderer's calling convention).

    Example:
        >>> from compiler.kernel_ir import Access, KernelBuilder
        >>> kb = KernelBuilder(1, 0)
        >>> x = kb.load(Access(kb.buffer("float32", False), (1,)), "float32")
        >>> kb.store(Access(kb.buffer("float32", True), (1,)), kb.op("exp", [x], "float32"))
        >>> "expf(" in render_c(kb.finish("k"))
        True
    """
    return CRenderer(kernel).render()
