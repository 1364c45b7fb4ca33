"""The kernel IR: one fused loop nest between the graph and a code generator.

A `Kernel` iterates over a *domain*: outer dims (kept) followed by inner dims (reduced). Its sizes
and its buffers' strides are runtime arguments (symbolic dims need nothing special: one compiled
kernel serves every size); only the innermost stride of each access is specialised to 0
(broadcast), 1 (contiguous) or "runtime", because that is what lets LLVM vectorise the loop.

The body, per outer point, is a list of loops over the inner dims:
- `ReduceLoop`: accumulates reductions (sum, prod, max, min, argmax, argmin, any, all);
- `MapLoop`: computes elementwise values and stores them.
Values are SSA `Instr`s over scalars: loads, constants, accumulator results and the op table's
elementwise ops (by name). An instruction that reads no inner-level load is *outer*: it is computed
once per outer point (a row's mean, `rsqrt(var + eps)`) and may feed later loops and outer stores.
Inner instructions are recomputed in each loop that needs them (cheaper than a pass over memory).

A kernel with no inner dims is a plain elementwise kernel: its single `MapLoop` is the body of the
innermost outer loop.

A *column* kernel (`column=True`) reduces dims that do not include the array's last one (a bias
gradient: the sum over the batch of a (batch, features) array). Looping the reduced dim innermost
would read memory with a stride; instead the renderer runs the last outer dim innermost, in strips,
with one accumulator per point of the strip, and its unit stride (the specialised one) is that of
the last *outer* dim. The text form is deterministic and is the compile cache's key:

    kernel k(b0: f32 in, b1: f32 out) domain(outer=1, inner=0) {
      %0: f32 = load b0 [1]
      %1: f32 = exp %0
      map { store b1 [1] %1 }
    }
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
import struct

__all__ = ["InstrKind", "ReduceKind", "Buffer", "Access", "Instr", "Reduce", "ReduceLoop",
           "MapLoop", "Store", "Kernel", "RUNTIME", "DTYPES", "KernelBuilder"]

# Scalar dtypes the kernels handle (numpy names -> short names); other dtypes run elsewhere.
DTYPES = {"float32": "f32", "float64": "f64", "int64": "i64", "int32": "i32", "bool": "b8"}

RUNTIME = None   # an access stride that is a runtime argument


class InstrKind(enum.Enum):
    """What an `Instr` does."""

    LOAD = "load"        # read a buffer at the current point
    CONST = "const"      # a literal
    OP = "op"            # an elementwise op of the op table (attr: name), or "cast"
    ACC = "acc"          # the result of a reduction (attr: the Reduce)
    PARAM = "param"      # a scalar passed per call (attr: (index, the size expression it is))


class ReduceKind(enum.Enum):
    """How a reduction accumulates."""

    SUM = "sum"
    MEAN = "mean"
    PROD = "prod"
    MAX = "max"
    MIN = "min"
    ARGMAX = "argmax"
    ARGMIN = "argmin"
    ANY = "any"
    ALL = "all"


@dataclasses.dataclass(frozen=True)
class Buffer:
    """A kernel argument: a pointer to elements of `dtype` (numpy name)."""

    dtype: str
    is_output: bool


@dataclasses.dataclass(frozen=True)
class Access:
    """How a buffer is addressed: one stride per domain dim (0, 1 or RUNTIME).

    Static strides are used only where they matter for code quality (0 anywhere, 1 on the
    innermost dim); everything else is passed at run time.
    """

    buffer: int
    strides: tuple

    def text(self) -> str:
        strides = ", ".join("s" if s is RUNTIME else str(s) for s in self.strides)
        return f"b{self.buffer} [{strides}]"


class Instr:
    """One SSA scalar value of a kernel."""

    __slots__ = ("id", "kind", "dtype", "args", "attr", "inner")

    def __init__(self, id: int, kind: InstrKind, dtype: str, args=(), attr=None,
                 inner: bool = False):
        self.id = id
        self.kind = kind
        self.dtype = dtype
        self.args = tuple(args)
        self.attr = attr
        self.inner = inner

    def text(self) -> str:
        dt = DTYPES[self.dtype]
        if self.kind is InstrKind.LOAD:
            rhs = f"load {self.attr.text()}"
        elif self.kind is InstrKind.CONST:
            rhs = f"const {self.attr!r}"
        elif self.kind is InstrKind.ACC:
            rhs = f"acc {self.attr.kind.value} %{self.attr.src}"
        elif self.kind is InstrKind.PARAM:
            rhs = f"param #{self.attr[0]} ({self.attr[1]!r})"
        else:
            name, extra = self.attr
            rhs = f"{name} {', '.join(f'%{a}' for a in self.args)}"
            if extra:
                rhs += " {" + ", ".join(f"{k}={v!r}" for k, v in extra) + "}"
        return f"%{self.id}: {dt}{' inner' if self.inner else ''} = {rhs}"


@dataclasses.dataclass
class Reduce:
    """Accumulate instr `src` over the inner dims; `acc_dtype` is the accumulator's dtype."""

    kind: ReduceKind
    src: int
    acc_dtype: str
    out: int = -1         # the ACC instr holding the result


@dataclasses.dataclass
class Store:
    """Write instr `value` through `access` (outer stores index outer dims only)."""

    access: Access
    value: int


@dataclasses.dataclass
class ReduceLoop:
    """One pass over the inner dims computing `reduces` together."""

    reduces: list


@dataclasses.dataclass
class MapLoop:
    """One pass over the inner dims storing inner values (or the body, with no inner dims)."""

    stores: list


@dataclasses.dataclass
class Kernel:
    """A fused loop nest: buffers, domain rank, instructions, loops and outer stores."""

    name: str
    buffers: list
    n_outer: int
    n_inner: int
    instrs: list
    loops: list
    outer_stores: list
    column: bool = False

    @property
    def ndim(self) -> int:
        return self.n_outer + self.n_inner

    def text(self) -> str:
        """The deterministic text form (also the cache key's input)."""
        bufs = ", ".join(f"b{i}: {DTYPES[b.dtype]} {'out' if b.is_output else 'in'}"
                         for i, b in enumerate(self.buffers))
        col = ", column" if self.column else ""
        lines = [f"kernel {self.name}({bufs}) domain(outer={self.n_outer}, "
                 f"inner={self.n_inner}{col}) {{"]
        lines += [f"  {ins.text()}" for ins in self.instrs]
        for loop in self.loops:
            if isinstance(loop, ReduceLoop):
                body = "; ".join(f"%{r.out} = {r.kind.value} %{r.src} : {DTYPES[r.acc_dtype]}"
                                 for r in loop.reduces)
                lines.append(f"  reduce {{ {body} }}")
            else:
                body = "; ".join(f"store {s.access.text()} %{s.value}" for s in loop.stores)
                lines.append(f"  map {{ {body} }}")
        for s in self.outer_stores:
            lines.append(f"  store {s.access.text()} %{s.value}")
        lines.append("}")
        return "\n".join(lines)

    def digest(self) -> str:
        """A short content hash of the text form (module and symbol names)."""
        return hashlib.sha256(self.text().encode()).hexdigest()[:16]


class KernelBuilder:
    """Builds a `Kernel` instruction by instruction, sharing identical loads and constants."""

    def __init__(self, n_outer: int, n_inner: int, column: bool = False):
        if column and (n_outer < 1 or n_inner < 1):
            raise ValueError("KernelBuilder: a column kernel needs an outer and an inner dim")
        self.n_outer = n_outer
        self.n_inner = n_inner
        self.column = column
        self.buffers: list[Buffer] = []
        self.instrs: list[Instr] = []
        self.loops: list = []
        self.outer_stores: list[Store] = []
        self.params: list = []          # size expressions the PARAM instrs index (lowering)
        self._memo: dict = {}

    def buffer(self, dtype: str, is_output: bool) -> int:
        self.buffers.append(Buffer(dtype, is_output))
        return len(self.buffers) - 1

    def _add(self, kind, dtype, args=(), attr=None, inner=False, key=None) -> int:
        if key is not None and key in self._memo:
            return self._memo[key]
        ins = Instr(len(self.instrs), kind, dtype, args, attr, inner)
        self.instrs.append(ins)
        if key is not None:
            self._memo[key] = ins.id
        return ins.id

    def load(self, access: Access, dtype: str) -> int:
        inner = any(s != 0 for s in access.strides[self.n_outer:])
        return self._add(InstrKind.LOAD, dtype, (), access, inner, ("load", access))

    def const(self, value, dtype: str) -> int:
        return self._add(InstrKind.CONST, dtype, (), value, False, ("const", repr(value), dtype))

    def param(self, index: int, expr, dtype: str) -> int:
        """Scalar `index` of the call's parameters (an integer, converted to `dtype`): a size
        expression of a symbolic graph (`expr`, for the text), the same kernel for every size."""
        return self._add(InstrKind.PARAM, dtype, (), (index, expr), False,
                         ("param", index, dtype))

    def op(self, name: str, args, dtype: str, **extra) -> int:
        if name == "add" and not extra and dtype in ("float32", "float64"):
            r = self._one_plus_tanh(args, dtype)
            if r is not None:
                return r
        if name == "mul" and not extra and dtype in ("float32", "float64"):
            r = self._fold_scales(args, dtype)
            if r is not None:
                return r
        inner = any(self.instrs[a].inner for a in args)
        attr = (name, tuple(sorted(extra.items())))
        return self._add(InstrKind.OP, dtype, args, attr, inner, ("op", attr, tuple(args), dtype))

    def _one_plus_tanh(self, args, dtype: str):
        """`tanh(z) + 1` as `2 * sigmoid(2z)` (equal in exact arithmetic): one exp and one
        division instead of tanh's exp, division and small-argument polynomial, and no
        cancellation as tanh(z) -> -1. gelu's tanh form is x/2 (1 + tanh(.)): the fused
        gelu_tanh(x*w+b)*sigmoid(x) kernel, one thread, 2.2 -> 1.76 ns per element."""
        for t, c in (args, args[::-1]):
            ti, ci = self.instrs[t], self.instrs[c]
            if (ti.kind is InstrKind.OP and ti.attr == ("tanh", ()) and ti.dtype == dtype
                    and ci.kind is InstrKind.CONST and not isinstance(ci.attr, bool)
                    and ci.attr == 1):
                two = self.const(2.0, dtype)
                s = self.op("sigmoid", [self.op("mul", [ti.args[0], two], dtype)], dtype)
                return self.op("mul", [s, two], dtype)
        return None

    def _scaled(self, i: int, dtype: str):
        """(x, c) when instr i is `x * c` with c a float constant of `dtype`, else None."""
        ins = self.instrs[i]
        if ins.kind is not InstrKind.OP or ins.attr != ("mul", ()) or ins.dtype != dtype:
            return None
        for x, c in (ins.args, ins.args[::-1]):
            ci = self.instrs[c]
            if ci.kind is InstrKind.CONST and isinstance(ci.attr, float):
                return x, ci.attr
        return None

    def _fold_scales(self, args, dtype: str):
        """Exact refolds of products with power-of-two constants, which scale without rounding:
        `(x * c) * p` as `x * (c p)`, and `(x * p) * (y * q)` as `(x y) * (p q)` (just `x y`
        when p q = 1). gelu's tanh form is `(u / 2) * (2 sigmoid(2z))` after `_one_plus_tanh`:
        `u sigmoid(2z)`, and `2z` is one product of the polynomial. The result is the same
        except where the unfolded form overflows or rounds in the subnormals in between; there
        the folded one is the closer to the exact value."""
        single = dtype == "float32"
        tiny, big = (2.0 ** -126, 2.0 ** 126) if single else (2.0 ** -1022, 2.0 ** 1022)

        def pow2(v) -> bool:
            return math.isfinite(v) and v != 0 and abs(math.frexp(v)[0]) == 0.5

        def rounded(v) -> float:    # a constant as the kernel holds it
            return struct.unpack("f", struct.pack("f", v))[0] if single else v

        def exact(v) -> bool:       # normal and far from overflow in `dtype`
            return math.isfinite(v) and (v == 0 or tiny <= abs(v) <= big)
        a, b = args
        for x, c in ((a, b), (b, a)):       # (x * c) * p
            ci = self.instrs[c]
            sx = self._scaled(x, dtype)
            if sx is not None and ci.kind is InstrKind.CONST and isinstance(ci.attr, float) \
                    and pow2(ci.attr) and exact(rounded(sx[1]) * ci.attr):
                folded = rounded(sx[1]) * ci.attr
                return self.op("mul", [sx[0], self.const(folded, dtype)], dtype)
        sa, sb = self._scaled(a, dtype), self._scaled(b, dtype)
        if sa is not None and sb is not None and pow2(sa[1]) and pow2(sb[1]) and \
                exact(sa[1] * sb[1]) and 2.0 ** -8 <= abs(sa[1] * sb[1]) <= 2.0 ** 8:
            xy = self.op("mul", [sa[0], sb[0]], dtype)
            p = sa[1] * sb[1]
            return xy if p == 1.0 else self.op("mul", [xy, self.const(p, dtype)], dtype)
        return None

    def reduce(self, kind: ReduceKind, src: int, out_dtype: str, acc_dtype: str) -> int:
        """A reduction of `src`; returns the ACC instr. Loops are formed by `finish`."""
        r = Reduce(kind, src, acc_dtype)
        r.out = self._add(InstrKind.ACC, out_dtype, (), r, False)
        return r.out

    def store(self, access: Access, value: int) -> None:
        """Store `value`: in the map loop when the access moves along an inner dim."""
        if any(s != 0 for s in access.strides[self.n_outer:]):
            if not self.loops or not isinstance(self.loops[-1], MapLoop):
                self.loops.append(MapLoop([]))
            self.loops[-1].stores.append(Store(access, value))
        else:
            self.outer_stores.append(Store(access, value))

    def finish(self, name: str) -> Kernel:
        """Group reductions into loops by dependency depth, then build the kernel."""
        depth: dict[int, int] = {}
        for ins in self.instrs:
            d = max((depth[a] for a in ins.args), default=0)
            if ins.kind is InstrKind.ACC:
                d = depth[ins.attr.src] + 1
            depth[ins.id] = d
        by_depth: dict[int, list] = {}
        for ins in self.instrs:
            if ins.kind is InstrKind.ACC:
                by_depth.setdefault(depth[ins.id], []).append(ins.attr)
        loops = [ReduceLoop(by_depth[d]) for d in sorted(by_depth)]
        stores = [s for loop in self.loops for s in loop.stores]
        if stores:
            loops.append(MapLoop(stores))
        if self.column and any(r.kind in (ReduceKind.ARGMAX, ReduceKind.ARGMIN)
                               for loop in loops[:-1 if stores else None] for r in loop.reduces):
            raise ValueError("KernelBuilder: argmax/argmin cannot run in a column kernel")
        return Kernel(name, self.buffers, self.n_outer, self.n_inner, self.instrs, loops,
                      self.outer_stores, self.column)
