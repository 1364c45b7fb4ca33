"""Render a `Kernel` (compiler/kernel_ir.py) to C: the generic C-style renderer.

The C form is a serial loop nest with the same calling convention as the LLVM renderer's
function, so a host C compiler can build it and the same runtime packing calls it:

    void dg_<hash>(long long begin, long long end, const long long* dims, T0* b0, T1* b1, ...)

`dims` holds the domain sizes followed by every buffer's stride (in elements) for every domain
dim. The class is the base of the CUDA renderer (compiler/render_cuda.py), which overrides only
what differs on a GPU: the prelude, the signature, how outer points map to threads, how inner
loops are shared by the threads of a row and how partial reductions are combined. Everything a
kernel computes per element (`op_<name>` methods, loads, stores, casts, accumulation rules) is
written once here, so it is checked on the CPU by compiling the C form with the host compiler
(tests/cuda/test_render_c.py) even where no GPU exists.

Values are C expressions; every instruction is bound to a `const` local (`t<N>`) so that shared
sub-expressions are computed once and the text stays readable.
"""

from __future__ import annotations

import contextlib
import struct

from .kernel_ir import RUNTIME, InstrKind, Kernel, ReduceKind, ReduceLoop

__all__ = ["CRenderer", "render_c", "symbol_name", "UnsupportedOp", "C_TYPES"]

C_TYPES = {"float32": "float", "float64": "double", "int64": "long long", "int32": "int",
           "bool": "bool"}
_MEM_TYPES = dict(C_TYPES, bool="unsigned char")
_FLOATS = ("float", "double")
# Math functions with a float32 form named <name>f, in C99's libm and in CUDA's math library.
_UNARY_MATH = {"exp": "exp", "exp2": "exp2", "expm1": "expm1", "log": "log", "log2": "log2",
               "log10": "log10", "log1p": "log1p", "sqrt": "sqrt", "sin": "sin", "cos": "cos",
               "tan": "tan", "sinh": "sinh", "cosh": "cosh", "asin": "asin", "acos": "acos",
               "atan": "atan", "asinh": "asinh", "acosh": "acosh", "atanh": "atanh",
               "tanh": "tanh", "erf": "erf", "floor": "floor", "ceil": "ceil", "trunc": "trunc",
               "round": "rint", "abs": "fabs"}
_BINARY_MATH = {"atan2": "atan2", "hypot": "hypot", "pow": "pow", "copysign": "copysign",
                "fmod": "fmod"}
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_INT_MIN = {"long long": "(-9223372036854775807LL - 1)", "int": "(-2147483647 - 1)"}
_INT_MAX = {"long long": "9223372036854775807LL", "int": "2147483647"}


class UnsupportedOp(NotImplementedError):
    """The renderer has no rule for an op/dtype pair (the runtime then runs the nodes elsewhere)."""


def symbol_name(kernel: Kernel) -> str:
    """The function's symbol: a content hash of the kernel's text."""
    return f"dg_{kernel.digest()}"


def is_float(ty: str) -> bool:
    """Whether a C type name is a floating-point type."""
    return ty in _FLOATS


# Helpers every kernel may call; `{q}` is the function qualifier of the target.
_HELPERS = {
    # NaN-propagating max/min (numpy's maximum, LLVM's llvm.maximum): a NaN operand wins.
    "dg_maxf": "{q} float dg_maxf(float a, float b) {{ return (a > b || a != a) ? a : b; }}",
    "dg_minf": "{q} float dg_minf(float a, float b) {{ return (a < b || a != a) ? a : b; }}",
    "dg_max": "{q} double dg_max(double a, double b) {{ return (a > b || a != a) ? a : b; }}",
    "dg_min": "{q} double dg_min(double a, double b) {{ return (a < b || a != a) ? a : b; }}",
}


class CRenderer:
    """Renders one kernel to C; instantiate per kernel (it holds the function's lines)."""

    index = "long long"          # the type of loop counters, sizes and strides
    qualifier = "static inline"  # how helper functions are declared

    def __init__(self, kernel: Kernel):
        self.k = kernel
        self.lines: list[str] = []
        self.depth = 1
        self.ntmp = 0
        self.helpers: set[str] = set()
        self.access = _accesses(kernel)
        self.outer: dict[int, str] = {}

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
    def advance(self, offsets: dict, d: int, iv: str) -> dict:
        """Buffer offsets after moving `iv` steps along domain dim `d`."""
        out = {}
        for b, acc in self.access.items():
            s = acc.strides[d]
            if s == 0:
                out[b] = offsets[b]
                continue
            step = iv if s == 1 else f"{iv} * s{b}_{d}"
            out[b] = self.let(self.index, step if offsets[b] == "0" else f"{offsets[b]} + {step}")
        return out

    def outer_loops(self, d: int, offsets: dict) -> None:
        if d == self.k.n_outer:
            self.outer_body(offsets)
            return
        lo, hi = ("begin", "end") if d == 0 else ("0", f"n{d}")
        with self.block(f"for ({self.index} i{d} = {lo}; i{d} < {hi}; ++i{d})"):
            self.outer_loops(d + 1, self.advance(offsets, d, f"i{d}"))

    def inner_loops(self, offsets: dict, body, counted: bool = False) -> None:
        """Run `body(offsets, linear inner index)` over every inner point, in order (the index
        is kept only when `counted`: argmax/argmin need it)."""
        k = self.k
        if k.n_inner == 0:
            body(offsets, "0")
            return
        lin = self.var(self.index, "0", "j") if counted else None

        def nest(d, off):
            if d == k.ndim:
                body(off, lin)
                if counted:
                    self.emit(f"++{lin};")
                return
            with self.block(f"for ({self.index} i{d} = 0; i{d} < n{d}; ++i{d})"):
                nest(d + 1, self.advance(off, d, f"i{d}"))
        nest(k.n_outer, offsets)

    def inner_count(self) -> str:
        """The number of inner points (a C expression)."""
        dims = [f"n{d}" for d in range(self.k.n_outer, self.k.ndim)]
        return " * ".join(dims) if dims else "1"

    def outer_body(self, offsets: dict) -> None:
        """Every loop of the kernel for one outer point, then the outer stores."""
        k = self.k
        self.outer = {}
        for loop in k.loops:
            roots = ([r.src for r in loop.reduces] if isinstance(loop, ReduceLoop)
                     else [s.value for s in loop.stores])
            for i in self.outer_deps(roots):
                self.value(i, self.outer, offsets)
            if isinstance(loop, ReduceLoop):
                self.reduce_loop(loop, offsets)
            else:
                self.map_loop(loop, offsets)
        self.outer_stores(offsets)

    def outer_stores(self, offsets: dict) -> None:
        for s in self.k.outer_stores:
            self.store(s, self.value(s.value, self.outer, offsets), offsets)

    def map_loop(self, loop, offsets: dict) -> None:
        def body(off, lin):
            scope = dict(self.outer)
            for s in loop.stores:
                self.store(s, self.value(s.value, scope, off), off)
        self.inner_loops(offsets, body)

    def outer_deps(self, roots) -> list[int]:
        """Outer instrs that inner instrs reachable from `roots` read (bound before the loop)."""
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
        return sorted(i for i in out if instrs[i].kind is not InstrKind.ACC)

    # ----- values --------------------------------------------------------------------------------
    def value(self, i: int, scope: dict, offsets: dict) -> str:
        if i in scope:
            return scope[i]
        ins = self.k.instrs[i]
        ty = C_TYPES[ins.dtype]
        if ins.kind is InstrKind.CONST:
            v = self.const(ins.attr, ty)
        elif ins.kind is InstrKind.LOAD:
            v = self.load(ins.attr.buffer, ins.dtype, offsets)
        elif ins.kind is InstrKind.ACC:
            raise AssertionError(f"kernel: %{i} read before its reduction loop")
        else:
            args = [(self.value(a, scope, offsets), C_TYPES[self.k.instrs[a].dtype])
                    for a in ins.args]
            name, extra = ins.attr
            v = self.let(ty, self.op(name, args, ty, dict(extra), ins.args))
        scope[i] = v
        return v

    def load(self, b: int, dtype: str, offsets: dict) -> str:
        expr = f"b{b}[{offsets[b]}]"
        return self.let(C_TYPES[dtype], f"{expr} != 0" if dtype == "bool" else expr)

    def store(self, s, v: str, offsets: dict) -> None:
        b = s.access.buffer
        mty = _MEM_TYPES[self.k.buffers[b].dtype]
        self.emit(f"b{b}[{offsets[b]}] = ({mty}){v};")

    # ----- reductions ---------------------------------------------------------------------------
    def identity(self, kind: ReduceKind, ty: str) -> str:
        if kind in (ReduceKind.SUM, ReduceKind.MEAN):
            return self.const(0, ty)
        if kind is ReduceKind.PROD:
            return self.const(1, ty)
        if kind is ReduceKind.ANY:
            return "false"
        if kind is ReduceKind.ALL:
            return "true"
        big = kind in (ReduceKind.MIN, ReduceKind.ARGMIN)
        if is_float(ty):
            return self.const(float("inf") if big else float("-inf"), ty)
        if ty == "bool":
            return "true" if big else "false"
        return _INT_MAX[ty] if big else _INT_MIN[ty]

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

    def op(self, name: str, args, ty: str, extra: dict, arg_ids) -> str:
        """One scalar op as a C expression: `args` are (value, C type) pairs; `ty` the result's."""
        if name == "cast":
            return self.convert(args[0][0], args[0][1], ty)
        aty = args[0][1] if args else ty
        vals = [a for a, _ in args]
        rule = getattr(self, f"op_{name}", None)
        if rule is not None:
            return rule(vals, aty, ty, arg_ids)
        if name in _COMPARE:
            return f"({vals[0]} {_COMPARE[name]} {vals[1]})"
        if name in _UNARY_MATH and is_float(aty):
            return self.math(_UNARY_MATH[name], aty, vals[0])
        if name in _BINARY_MATH and is_float(aty):
            return self.math(_BINARY_MATH[name], aty, *vals)
        raise UnsupportedOp(f"{type(self).__name__}: no rule for op {name!r} on {aty}")

    def _arith(self, sym: str, bool_sym, vals, ty) -> str:
        if ty == "bool":
            if bool_sym is None:
                raise UnsupportedOp(f"{type(self).__name__}: arithmetic {sym!r} on bool")
            return f"({vals[0]} {bool_sym} {vals[1]})"
        return f"({vals[0]} {sym} {vals[1]})"

    def op_add(self, vals, ty, out, ids):
        return self._arith("+", "||", vals, ty)

    def op_sub(self, vals, ty, out, ids):
        return self._arith("-", None, vals, ty)

    def op_mul(self, vals, ty, out, ids):
        return self._arith("*", "&&", vals, ty)

    def op_div(self, vals, ty, out, ids):
        if not is_float(ty):
            raise UnsupportedOp(f"{type(self).__name__}: div computes in a float dtype")
        return f"({vals[0]} / {vals[1]})"

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

    def op_reciprocal(self, vals, ty, out, ids):
        return f"({self.const(1, ty)} / {vals[0]})"

    def op_rsqrt(self, vals, ty, out, ids):
        return f"({self.const(1, ty)} / {self.math('sqrt', ty, vals[0])})"

    def op_sigmoid(self, vals, ty, out, ids):
        # 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below: neither overflows
        x = vals[0]
        e = self.let(ty, self.exp_nonpositive(f"(-{self.math('fabs', ty, x)})", ty))
        s = self.let(ty, f"{self.const(1, ty)} / ({self.const(1, ty)} + {e})")
        return f"({x} >= 0 ? {s} : {e} * {s})"

    def exp_nonpositive(self, x: str, ty: str) -> str:
        """exp of an argument known to be <= 0 (a target may use a faster form there)."""
        return self.math("exp", ty, x)

    def _int_passthrough(self, fn, vals, ty):
        return self.math(fn, ty, vals[0]) if is_float(ty) else vals[0]

    def op_floor(self, vals, ty, out, ids):
        return self._int_passthrough("floor", vals, ty)

    def op_ceil(self, vals, ty, out, ids):
        return self._int_passthrough("ceil", vals, ty)

    def op_trunc(self, vals, ty, out, ids):
        return self._int_passthrough("trunc", vals, ty)

    def op_round(self, vals, ty, out, ids):
        return self._int_passthrough("rint", vals, ty)   # half to even, as numpy

    def op_isnan(self, vals, ty, out, ids):
        return f"({vals[0]} != {vals[0]})" if is_float(ty) else "false"

    def op_isinf(self, vals, ty, out, ids):
        if not is_float(ty):
            return "false"
        return f"({self.math('fabs', ty, vals[0])} == {self.const(float('inf'), ty)})"

    def op_isfinite(self, vals, ty, out, ids):
        if not is_float(ty):
            return "true"
        return f"({self.math('fabs', ty, vals[0])} < {self.const(float('inf'), ty)})"

    def op_logical_not(self, vals, ty, out, ids):
        return f"(!{self.convert(vals[0], ty, 'bool')})"

    def _logical(self, sym, vals, ty):
        a, b = (self.convert(v, ty, "bool") for v in vals)
        return f"({a} {sym} {b})"

    def op_logical_and(self, vals, ty, out, ids):
        return self._logical("&&", vals, ty)

    def op_logical_or(self, vals, ty, out, ids):
        return self._logical("||", vals, ty)

    def op_logical_xor(self, vals, ty, out, ids):
        return self._logical("!=", vals, ty)

    def _bitwise(self, sym, vals, ty):
        if is_float(ty):
            raise UnsupportedOp(f"{type(self).__name__}: bitwise op on floats")
        if ty == "bool":
            return f"(bool)({vals[0]} {sym} {vals[1]})"
        return f"({vals[0]} {sym} {vals[1]})"

    def op_bitwise_and(self, vals, ty, out, ids):
        return self._bitwise("&", vals, ty)

    def op_bitwise_or(self, vals, ty, out, ids):
        return self._bitwise("|", vals, ty)

    def op_bitwise_xor(self, vals, ty, out, ids):
        return self._bitwise("^", vals, ty)

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

    def op_maximum(self, vals, ty, out, ids):
        return self.extreme(True, vals[0], vals[1], ty)

    def op_minimum(self, vals, ty, out, ids):
        return self.extreme(False, vals[0], vals[1], ty)

    def op_clamp(self, vals, ty, out, ids):
        x, lo, hi = vals
        return self.extreme(False, self.extreme(True, x, lo, ty), hi, ty)

    def op_where(self, vals, ty, out, ids):
        c, a, b = vals
        return f"({c} ? {a} : {b})"

    def op_pow(self, vals, ty, out, ids):
        if not is_float(ty):
            raise UnsupportedOp(f"{type(self).__name__}: integer pow")
        return self.math("pow", ty, *vals)

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

    def op_logaddexp(self, vals, ty, out, ids):
        a, b = vals
        m = self.let(ty, self.extreme(True, a, b, ty))
        d = self.math("fabs", ty, f"{a} - {b}")
        lp = self.math("log1p", ty, self.exp_nonpositive(f"(-{d})", ty))
        ln2 = self.const(0.6931471805599453, ty)
        # equal infinities: a + log(2) keeps the inf (the general form gives inf - inf)
        return f"({a} == {b} ? {a} + {ln2} : {m} + {lp})"


def _accesses(kernel: Kernel) -> dict:
    """buffer -> Access (each buffer is read or written through one access pattern)."""
    access = {}
    for ins in kernel.instrs:
        if ins.kind is InstrKind.LOAD:
            access[ins.attr.buffer] = ins.attr
    for loop in kernel.loops:
        for s in getattr(loop, "stores", ()):
            access[s.access.buffer] = s.access
    for s in kernel.outer_stores:
        access[s.access.buffer] = s.access
    return access


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
