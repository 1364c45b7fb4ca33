"""The walk every kernel renderer shares: `KernelRenderer` (compiler/kernel_ir.py's `Kernel` in,
target text out).

`KernelRenderer` is the target-independent part: the loop nest (outer dims, then per loop the
inner dims), offsets along each dim, the values of a kernel's instructions bound in scope, the
identities of reductions, the op dispatch and the per-element rules that are the same on every
target once a few primitives exist (arithmetic, comparison, select, min/max, logic, bitwise,
the rounding functions). A target fills in the primitives: how a loop, a load, a store, a
constant, a conversion and a math call are written. `CRenderer` (compiler/render_c.py),
`LLVMRenderer` (compiler/render_llvm.py) and `CUDARenderer` (compiler/render_cuda.py, a
`CRenderer` that overrides only what differs on a GPU) are the three targets.
"""

from __future__ import annotations

from .kernel_ir import InstrKind, Kernel, ReduceKind, ReduceLoop

__all__ = ["KernelRenderer", "UnsupportedOp", "symbol_name", "is_float", "C_TYPES"]

C_TYPES = {"float32": "float", "float64": "double", "int64": "long long", "int32": "int",
           "bool": "bool"}
_FLOATS = ("float", "double")


class UnsupportedOp(NotImplementedError):
    """The renderer has no rule for an op/dtype pair (the runtime then runs the nodes elsewhere)."""


def symbol_name(kernel: Kernel) -> str:
    """The function's symbol: a content hash of the kernel's text."""
    return f"dg_{kernel.digest()}"


def is_float(ty: str) -> bool:
    """Whether a C type name is a floating-point type."""
    return ty in _FLOATS


class KernelRenderer:
    """The target-independent walk over one kernel; instantiate per kernel (it holds the function).

    A target defines the primitives: `size`, `loop`, `stride_step`, `offset_add` (and
    `start_count`/`step_count` for counted inner loops), `const`, `load`, `store`, `convert`,
    `reduce_loop`, and for the shared op rules `arith`, `compare`, `select`, `logic`, `bitwise`,
    `extreme`, `builtin` (a math function the target has built in), `libm` and `table_op`.
    """

    types: dict = C_TYPES       # kernel dtype -> the target's type name
    begin, end = "begin", "end"  # the bounds of outer dim 0 (the runtime splits it over threads)

    def __init__(self, kernel: Kernel):
        self.k = kernel
        self.access = _accesses(kernel)
        self.outer: dict[int, str] = {}

    # ----- primitives a target defines -----------------------------------------------------------
    def size(self, d: int) -> str:
        """The size of domain dim `d`."""
        raise NotImplementedError

    def loop(self, d: int, lo: str, hi: str, offsets: dict, body, hint: str = "") -> None:
        """for (i<d> = lo; i<d> < hi; ++i<d>) body(offsets advanced along dim d)."""
        raise NotImplementedError

    def stride_step(self, iv: str, b: int, d: int) -> str:
        """`iv` times buffer b's runtime stride along dim d."""
        raise NotImplementedError

    def offset_add(self, offset: str, step: str) -> str:
        """The offset `offset + step` (`offset` may be "0")."""
        raise NotImplementedError

    def bind(self, ty: str, expr: str) -> str:
        """An op's result as a value (a target of expressions binds it to a local)."""
        return expr

    # ----- loops ---------------------------------------------------------------------------------
    def advance(self, offsets: dict, d: int, iv: str) -> dict:
        """Buffer offsets after moving `iv` steps along domain dim `d`."""
        out = {}
        for b, acc in self.access.items():
            s = acc.strides[d]
            if s == 0:
                out[b] = offsets[b]
            else:
                out[b] = self.offset_add(offsets[b], iv if s == 1 else self.stride_step(iv, b, d))
        return out

    def outer_loops(self, d: int, offsets: dict) -> None:
        if d == self.k.n_outer:
            self.outer_body(offsets)
            return
        lo, hi = (self.begin, self.end) if d == 0 else ("0", self.size(d))
        self.loop(d, lo, hi, offsets, lambda off: self.outer_loops(d + 1, off))

    def inner_loops(self, offsets: dict, body, counted: bool = False, hint: str = "") -> None:
        """Run `body(offsets, linear inner index)` over every inner point, in order (the index
        is kept only when `counted`: argmax/argmin need it); `hint` goes on the innermost loop."""
        k = self.k
        if k.n_inner == 0:
            body(offsets, "0")
            return
        lin = self.start_count() if counted else None

        def nest(d, off):
            if d == k.ndim:
                body(off, lin)
                if counted:
                    self.step_count(lin)
                return
            self.loop(d, "0", self.size(d), off, lambda o: nest(d + 1, o),
                      hint if d == k.ndim - 1 else "")
        nest(k.n_outer, offsets)

    def start_count(self) -> str:
        """A counter of inner points, from 0 (for `inner_loops(counted=True)`)."""
        raise NotImplementedError

    def step_count(self, lin: str) -> None:
        raise NotImplementedError

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

    def reduce_loop(self, loop: ReduceLoop, offsets: dict) -> None:
        raise NotImplementedError

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
        ty = self.types[ins.dtype]
        if ins.kind is InstrKind.CONST:
            v = self.const(ins.attr, ty)
        elif ins.kind is InstrKind.PARAM:
            v = self.param(ins.attr[0], ty)
        elif ins.kind is InstrKind.LOAD:
            v = self.load(ins.attr.buffer, ins.dtype, offsets)
        elif ins.kind is InstrKind.ACC:
            raise AssertionError(f"kernel: %{i} read before its reduction loop")
        else:
            args = [(self.value(a, scope, offsets), self.types[self.k.instrs[a].dtype])
                    for a in ins.args]
            name, extra = ins.attr
            v = self.bind(ty, self.op(name, args, ty, dict(extra), ins.args))
        scope[i] = v
        return v

    def param(self, index: int, ty: str) -> str:
        """Per-call scalar `index` (an int64 after the strides in the sizes table) as `ty`."""
        raise UnsupportedOp(f"{type(self).__name__}: per-call scalar parameters (a symbolic "
                            "graph's size expressions)")

    def identity(self, kind: ReduceKind, ty: str) -> str:
        """The value a reduction of `kind` starts from, in the accumulator type `ty`."""
        if kind in (ReduceKind.SUM, ReduceKind.MEAN):
            return self.const(0, ty)
        if kind is ReduceKind.PROD:
            return self.const(1, ty)
        if kind in (ReduceKind.ANY, ReduceKind.ALL):
            return self.const(kind is ReduceKind.ALL, self.types["bool"])
        big = kind in (ReduceKind.MIN, ReduceKind.ARGMIN)
        if is_float(ty):
            return self.const(float("inf") if big else float("-inf"), ty)
        if ty == self.types["bool"]:
            return self.const(big, ty)
        bits = 64 if ty == self.types["int64"] else 32
        return self.const(2 ** (bits - 1) - 1 if big else -2 ** (bits - 1), ty)

    # ----- ops -----------------------------------------------------------------------------------
    def op(self, name: str, args, ty: str, extra: dict, arg_ids) -> str:
        """One scalar op: `args` are (value, target type) pairs; `ty` is the result's type. An
        `op_<name>` method wins, then the target's tables (`table_op`)."""
        if name == "cast":
            return self.convert(args[0][0], args[0][1], ty)
        aty = args[0][1] if args else ty
        vals = [a for a, _ in args]
        rule = getattr(self, f"op_{name}", None)
        if rule is not None:
            return rule(vals, aty, ty, arg_ids)
        got = self.table_op(name, vals, aty)
        if got is None:
            raise UnsupportedOp(f"{type(self).__name__}: no rule for op {name!r} on {aty}")
        return got

    def table_op(self, name: str, vals, ty: str) -> str | None:
        """Comparisons and math functions found by name (None: the target has no rule)."""
        return None

    def _arith(self, kind: str, vals, ty: str) -> str:
        if ty == self.types["bool"] and kind not in ("add", "mul"):
            raise UnsupportedOp(f"{type(self).__name__}: {kind} on bool")
        return self.arith(kind, vals[0], vals[1], ty)

    def op_add(self, vals, ty, out, ids):
        return self._arith("add", vals, ty)

    def op_sub(self, vals, ty, out, ids):
        return self._arith("sub", vals, ty)

    def op_mul(self, vals, ty, out, ids):
        return self._arith("mul", vals, ty)

    def op_div(self, vals, ty, out, ids):
        if not is_float(ty):
            raise UnsupportedOp(f"{type(self).__name__}: div computes in a float dtype")
        return self.arith("div", vals[0], vals[1], ty)

    def op_reciprocal(self, vals, ty, out, ids):
        return self.arith("div", self.const(1, ty), vals[0], ty)

    def op_rsqrt(self, vals, ty, out, ids):
        return self.arith("div", self.const(1, ty), self.builtin("sqrt", ty, vals[0]), ty)

    def _int_passthrough(self, fn, vals, ty):
        return self.builtin(fn, ty, vals[0]) if is_float(ty) else vals[0]

    def op_floor(self, vals, ty, out, ids):
        return self._int_passthrough("floor", vals, ty)

    def op_ceil(self, vals, ty, out, ids):
        return self._int_passthrough("ceil", vals, ty)

    def op_trunc(self, vals, ty, out, ids):
        return self._int_passthrough("trunc", vals, ty)

    def op_round(self, vals, ty, out, ids):
        return self._int_passthrough("rint", vals, ty)   # half to even, as numpy

    def _fabs_compare(self, cmp: str, vals, ty, otherwise: bool) -> str:
        if not is_float(ty):
            return self.const(otherwise, self.types["bool"])
        a = self.builtin("fabs", ty, vals[0])
        return self.compare(cmp, a, self.const(float("inf"), ty), ty)

    def op_isinf(self, vals, ty, out, ids):
        return self._fabs_compare("eq", vals, ty, False)

    def op_isfinite(self, vals, ty, out, ids):
        return self._fabs_compare("lt", vals, ty, True)

    def _logical(self, kind: str, vals, ty: str) -> str:
        a, b = (self.convert(v, ty, self.types["bool"]) for v in vals)
        return self.logic(kind, a, b)

    def op_logical_and(self, vals, ty, out, ids):
        return self._logical("and", vals, ty)

    def op_logical_or(self, vals, ty, out, ids):
        return self._logical("or", vals, ty)

    def op_logical_xor(self, vals, ty, out, ids):
        return self._logical("xor", vals, ty)

    def _bitwise(self, kind: str, vals, ty: str) -> str:
        if is_float(ty):
            raise UnsupportedOp(f"{type(self).__name__}: bitwise op on floats")
        return self.bitwise(kind, vals[0], vals[1], ty)

    def op_bitwise_and(self, vals, ty, out, ids):
        return self._bitwise("and", vals, ty)

    def op_bitwise_or(self, vals, ty, out, ids):
        return self._bitwise("or", vals, ty)

    def op_bitwise_xor(self, vals, ty, out, ids):
        return self._bitwise("xor", vals, ty)

    def op_maximum(self, vals, ty, out, ids):
        return self.extreme(True, vals[0], vals[1], ty)

    def op_minimum(self, vals, ty, out, ids):
        return self.extreme(False, vals[0], vals[1], ty)

    def op_clamp(self, vals, ty, out, ids):
        x, lo, hi = vals
        return self.extreme(False, self.extreme(True, x, lo, ty), hi, ty)

    def op_where(self, vals, ty, out, ids):
        return self.select(vals[0], vals[1], vals[2], out)

    def op_pow(self, vals, ty, out, ids):
        if not is_float(ty):
            raise UnsupportedOp(f"{type(self).__name__}: integer pow")
        return self.libm("pow", ty, *vals)


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
