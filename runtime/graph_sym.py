"""Symbolic sizes of an exported graph: `SymExpr`, size-dependent constants, `specialize`.

The graph file (runtime/graph_file.py) stores sizes that are integer polynomials of named dims;
these are the IR-side objects for them and the pass that makes a graph concrete for given sizes.
"""

from __future__ import annotations

import math

import numpy as np

from compiler.ir import Graph, Node, Sym, Value

__all__ = ["SymExpr", "FullConstant", "RangeConstant", "sym_eval", "ranged", "specialize"]


class SymExpr(Sym):
    """A size that is an integer polynomial of named dims: `2*batch + 1`, `batch*seq`.

    `terms` is a tuple of (coefficient, dim names) in canonical order; a plain dim `batch` is
    `((1, ("batch",)),)`. Subclassing `Sym` keeps the IR's printing and checks working.
    """

    __slots__ = ("terms",)

    def __init__(self, terms):
        acc: dict[tuple, int] = {}
        for c, names in terms:
            key = tuple(sorted(names))
            acc[key] = acc.get(key, 0) + int(c)
        self.terms = tuple(sorted(((c, k) for k, c in acc.items() if c),
                                  key=lambda t: (-len(t[1]), t[1])))
        super().__init__(_expr_text(self.terms))

    @classmethod
    def dim(cls, name: str) -> "SymExpr":
        """The plain dim `name`."""
        return cls([(1, (name,))])

    @property
    def dims(self) -> set[str]:
        return {n for _, names in self.terms for n in names}

    def is_const(self) -> bool:
        return all(not names for _, names in self.terms)


def _expr_text(terms) -> str:
    if not terms:
        return "0"
    parts = []
    for c, names in terms:
        body = "*".join(names)
        if not body:
            parts.append(str(c))
        elif c == 1:
            parts.append(body)
        elif c == -1:
            parts.append("-" + body)
        else:
            parts.append(f"{c}*{body}")
    return " + ".join(parts).replace("+ -", "- ")


def sym_eval(s, sizes: dict[str, int]) -> int:
    """The value of a size (int, `Sym` or `SymExpr`) for concrete dim sizes."""
    if isinstance(s, SymExpr):
        return sum(c * math.prod(sizes[n] for n in names) for c, names in s.terms)
    if isinstance(s, Sym):
        return sizes[s.name]
    return s


class FullConstant:
    """A constant whose shape depends on dims, filled with one value (`zeros(batch, hidden)`)."""

    __slots__ = ("value", "dtype", "shape")

    def __init__(self, value, dtype, shape):
        self.value = value
        self.dtype = dtype
        self.shape = tuple(shape)

    def materialize(self, sizes: dict[str, int]) -> np.ndarray:
        shape = tuple(sym_eval(s, sizes) for s in self.shape)
        return np.full(shape, self.value, dtype=self.dtype.np)

    def __repr__(self) -> str:
        return f"full({self.value!r}, [{','.join(str(s) for s in self.shape)}])"


class RangeConstant:
    """A 1-d constant `start + step * arange(length)` whose length depends on dims."""

    __slots__ = ("start", "step", "dtype", "shape")

    def __init__(self, start, step, dtype, length):
        self.start, self.step, self.dtype, self.shape = start, step, dtype, (length,)

    def materialize(self, sizes: dict[str, int]) -> np.ndarray:
        n = sym_eval(self.shape[0], sizes)
        return ranged(self.start, self.step, n, self.dtype.np)

    def __repr__(self) -> str:
        return f"range({self.start!r}, step={self.step!r}, length={self.shape[0]})"


def ranged(start, step, n: int, npdt) -> np.ndarray:
    """`start + step * arange(n)` in dtype `npdt` (how a RangeConstant is rebuilt)."""
    return (start + step * np.arange(n, dtype=np.float64 if isinstance(step, float) or
                                     isinstance(start, float) else np.int64)).astype(npdt)


# ----------------------------------------------------------------------------------------------
# Specialising a symbolic graph to concrete sizes
# ----------------------------------------------------------------------------------------------

def _subst(a, sizes):
    if isinstance(a, Sym):
        return sym_eval(a, sizes)
    if isinstance(a, tuple):
        return tuple(_subst(x, sizes) for x in a)
    if isinstance(a, list):
        return [_subst(x, sizes) for x in a]
    if isinstance(a, dict):
        return {k: _subst(x, sizes) for k, x in a.items()}
    if isinstance(a, slice):
        return slice(_subst(a.start, sizes), _subst(a.stop, sizes), _subst(a.step, sizes))
    if isinstance(a, (FullConstant, RangeConstant)):
        return a.materialize(sizes)
    if isinstance(a, Graph):
        return specialize(a, sizes)
    return a


def specialize(g: Graph, sizes: dict[str, int]) -> Graph:
    """A copy of `g` with every symbolic size, attribute and constant made concrete."""
    mapping: dict[int, Value] = {}
    out = Graph()

    def fresh(v: Value) -> Value:
        nv = Value(tuple(sym_eval(s, sizes) for s in v.shape), v.dtype, v.device,
                   requires_grad=False, name=v.name)
        mapping[v.id] = nv
        return nv

    for v in g.inputs:
        out.inputs.append(fresh(v))
    for n in g.nodes:
        ins = [mapping[x.id] if isinstance(x, Value) else _subst(x, sizes) for x in n.inputs]
        attrs = {k: _subst(a, sizes) for k, a in n.attrs.items()}
        out.nodes.append(Node(n.op, ins, attrs, fresh(n.out), n.compute_dtype, dict(n.meta)))
    out.outputs = [mapping[v.id] for v in g.outputs]
    return out
