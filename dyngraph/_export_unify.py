"""Export unification: merge the traces taken at several sizes into one symbolic graph.

Integers that differ between traces are fitted as integer polynomials of the dims; constants
that differ only in size become fills or ranges; anything else is an `ExportError`.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np

from ._export_spec import ExportError, _no_tensor
from ._export_trace import _Trace


_IDENTITY_ATTRS = ("cond_id", "loop_id")


class _Unifier:
    def __init__(self, traces: list[_Trace], points, varying):
        self.traces = traces
        self.points = points
        self.varying = varying
        self.grid = 2 ** len(varying)
        self.tensors: dict[str, np.ndarray] = {}
        self.offsets: list[int] = []
        monos = [m for r in range(len(varying) + 1)
                 for m in itertools.combinations(varying, r)]
        self.monos = monos
        self.rows = [[math.prod(p[d] for d in m) for m in monos] for p in points]

    def fit(self, values, where):
        from runtime.graph_file import SymExpr
        coefs = _solve([r for r in self.rows[:self.grid]], values[:self.grid])
        if coefs is None or any(c.denominator != 1 for c in coefs):
            raise self.size_error(values, where)
        for row, v in zip(self.rows, values):
            if sum(c * x for c, x in zip(coefs, row)) != v:
                raise self.size_error(values, where)
        terms = [(int(c), m) for c, m in zip(coefs, self.monos) if c]
        if not terms:
            return 0
        e = SymExpr(terms)
        if e.is_const():
            return e.terms[0][0] if e.terms else 0
        from runtime.graph_file import encode_attr
        return encode_attr(e, _no_tensor)

    def size_error(self, values, where):
        at = "; ".join(f"{_fmt_point(p)}: {v}" for p, v in zip(self.points, values))
        return ExportError(
            f"{where} depends on the dynamic dims in a way a graph file cannot express "
            f"(values {at}); only integer polynomials of the dims are supported: keep that "
            "computation in tensor ops or make the dim static")

    def unify(self, items, where):
        first = items[0]
        if isinstance(first, dict) and set(first) == {"$tensor"}:
            return self.tensor(items, where)
        if isinstance(first, bool) or first is None or isinstance(first, (str, float)):
            if any(type(x) is not type(first) or not _same_scalar(x, first) for x in items):
                raise self.structure_error(items, where)
            return first
        if isinstance(first, int):
            if any(not isinstance(x, int) or isinstance(x, bool) for x in items):
                raise self.structure_error(items, where)
            if all(x == first for x in items):
                return first
            return self.fit(items, where)
        if isinstance(first, list):
            if any(not isinstance(x, list) or len(x) != len(first) for x in items):
                raise self.structure_error(items, where)
            return [self.unify([x[i] for x in items], _child(where, i, first, self.offsets))
                    for i in range(len(first))]
        if isinstance(first, dict):
            if any(not isinstance(x, dict) or x.keys() != first.keys() for x in items):
                raise self.structure_error(items, where)
            if "nodes" in first and "inputs" in first:     # a graph: name nodes as %k
                self.offsets.append(len(first["inputs"]))
                try:
                    return {k: self.unify([x[k] for x in items], f"{where}#nodes" if k == "nodes"
                                          else f"{where} {k}") for k in first}
                finally:
                    self.offsets.pop()
            # cond_id / loop_id name one control-flow call (a fresh counter per trace), not a
            # size: keep the first trace's value (graph_file renumbers them on load anyway).
            return {k: first[k] if k in _IDENTITY_ATTRS else
                    self.unify([x[k] for x in items], _child(where, k, first, self.offsets))
                    for k in first}
        raise self.structure_error(items, where)

    def structure_error(self, items, where):
        if where.endswith("#nodes"):
            counts = ", ".join(f"{len(x)} at {_fmt_point(p)}" for x, p in zip(items, self.points))
            return ExportError(
                f"export: the number of ops depends on the dynamic dims ({counts}): a Python "
                "loop over a tensor or over range(x.shape[i])? Export needs one graph for all "
                "sizes: express the loop with dyngraph.while_loop or make that dim static")
        vals = "; ".join(f"{_fmt_point(p)}: {_short(x)}" for x, p in zip(items, self.points))
        return ExportError(f"{where} changes with the dynamic dims ({vals}); only integer "
                           "sizes may depend on them: compute it with tensor ops or make the dim "
                           "static")

    def tensor(self, items, where):
        arrs = [tr.arrays[int(x["$tensor"][1:])] if isinstance(x, dict) and "$tensor" in x
                else None for tr, x in zip(self.traces, items)]
        if any(a is None for a in arrs):
            raise self.structure_error(items, where)
        a0 = arrs[0]
        if all(a.shape == a0.shape and a.dtype == a0.dtype and np.array_equal(
                a, a0, equal_nan=a.dtype.kind == "f") for a in arrs):
            name = f"constant.{len(self.tensors)}"
            self.tensors[name] = a0
            return {"$tensor": name}
        uniform = all(a.size and a.dtype == a0.dtype and a.ndim == a0.ndim and
                      np.all(a == a.reshape(-1)[0]) for a in arrs)
        vals = {a.reshape(-1)[0].item() for a in arrs} if uniform else set()
        if uniform and len(vals) == 1:
            from dyngraph import _dtype as D
            shape = self.unify([list(a.shape) for a in arrs], where + " shape")
            return {"$full": {"value": vals.pop(), "dtype": D.from_numpy_dtype(a0.dtype).name,
                              "shape": shape}}
        ramp = self.ramp(arrs, where)
        if ramp is not None:
            return ramp
        raise ExportError(
            f"{where}: a constant tensor (made outside the op table, e.g. by "
            "dyngraph.tensor(...) or a numpy conversion) changes with the dynamic dims "
            f"(shapes {[a.shape for a in arrs]}); create it with ops from the inputs instead")


    def ramp(self, arrs, where):
        """`{"$range": ...}` when every trace's constant is the same arange of another length."""
        from runtime.graph_file import ranged
        if not all(a.ndim == 1 and a.size >= 2 and a.dtype == arrs[0].dtype and
                   a.dtype.kind in "iuf" for a in arrs):
            return None
        start, step = arrs[0][0].item(), (arrs[0][1] - arrs[0][0]).item()
        if any(not np.array_equal(ranged(start, step, a.size, a.dtype), a) for a in arrs):
            return None
        from dyngraph import _dtype as D
        length = self.unify([a.size for a in arrs], where + " length")
        return {"$range": {"start": start, "step": step,
                           "dtype": D.from_numpy_dtype(arrs[0].dtype).name, "length": length}}


def _child(where, k, parent, offsets):
    if where.endswith("#nodes") and isinstance(k, int):
        return f"{where[:-6]}: node %{offsets[-1] + k} ({parent[k].get('op')})"
    if k in ("$tuple", "$graph", "$dict"):
        return where
    if k == "graph" and where == "export":
        return "export: the graph"
    if k == "attrs":
        return f"{where} attribute"
    if where.endswith("attribute"):
        return f"{where} {k!r}"
    if isinstance(parent, dict) and "op" in parent:
        return f"{where} {k}"
    return f"{where}[{k!r}]"


def _same_scalar(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _short(x) -> str:
    s = repr(x)
    return s if len(s) < 60 else s[:60] + "..."


def _fmt_point(p) -> str:
    return ",".join(f"{k}={v}" for k, v in p.items())


def _solve(rows, values):
    """Exact solution of the square system rows @ x = values (Fractions), or None."""
    n = len(rows)
    m = [[Fraction(x) for x in r] + [Fraction(v)] for r, v in zip(rows, values)]
    for c in range(n):
        piv = next((r for r in range(c, n) if m[r][c] != 0), None)
        if piv is None:
            return None
        m[c], m[piv] = m[piv], m[c]
        for r in range(n):
            if r != c and m[r][c] != 0:
                f = m[r][c] / m[c][c]
                m[r] = [a - f * b for a, b in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] for i in range(n)]
