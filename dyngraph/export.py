"""`dyngraph.export`: trace a model once into a whole graph with symbolic dims, save it to a file.

How dynamic dims are found (the compiler's IR has named `Sym` dims but no size arithmetic): the
function is traced at several sizes of the declared dims (the example, one other size per dim on
a grid, and one check point), each trace is encoded to the file's JSON form, and the encodings
are unified leaf by leaf. Integers that differ between traces (a reshape target, an expand size, a
value's shape) are fitted as integer polynomials of the dims (`batch`, `2*batch`, `batch*seq`)
and checked on the extra point; constants that differ only in shape and hold one value
(`zeros(batch, hidden)`) become size-dependent fills. Anything else that changes with the size
(the number of ops, a Python float computed from a size) is an export error naming the node.

Example:
    >>> batch = dyngraph.Dim("batch", min=1, max=4096)
    >>> ep = dyngraph.export(model, (x,), dynamic_shapes=({0: batch},))
    >>> ep.save("model.dgraph")
    >>> run = dyngraph.load_graph("model.dgraph")
    >>> y = run(x)
"""

from __future__ import annotations

import inspect
import itertools
import math
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["Dim", "ExportedGraph", "ExportError", "export", "load_graph"]

_MAX_DIMS = 4          # the grid of traces has 2**k points


class ExportError(RuntimeError):
    """The function cannot be exported as one graph; the message says where and what to do."""


class Dim:
    """A named dynamic dimension with an inclusive range, as in `torch.export.Dim`.

    Args:
        name: the dim's name (an identifier); inputs that share a Dim must have equal sizes.
        min: the smallest size accepted (default 1).
        max: the largest size accepted (default: unbounded).

    Example:
        >>> batch = dyngraph.Dim("batch", min=1, max=4096)
    """

    def __init__(self, name: str, *, min: int | None = None, max: int | None = None):  # noqa: A002
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Dim: the name must be a Python identifier, got {name!r}")
        lo = 1 if min is None else int(min)
        hi = None if max is None else int(max)
        if lo < 0 or (hi is not None and hi < lo):
            raise ValueError(f"Dim {name!r}: invalid range min={min}, max={max} (need "
                             "0 <= min <= max)")
        self.__name__ = name
        self.min = lo
        self.max = hi

    @property
    def name(self) -> str:
        return self.__name__

    def contains(self, n: int) -> bool:
        """Whether size `n` is in the range."""
        return n >= self.min and (self.max is None or n <= self.max)

    def __repr__(self) -> str:
        hi = "inf" if self.max is None else self.max
        return f"Dim({self.__name__!r}, min={self.min}, max={hi})"


# ----------------------------------------------------------------------------------------------
# Inputs: flatten the example args, name the tensors, read dynamic_shapes
# ----------------------------------------------------------------------------------------------

class _Leaf:
    __slots__ = ("name", "expr", "tensor", "dims")

    def __init__(self, name, expr, tensor):
        self.name, self.expr, self.tensor, self.dims = name, expr, tensor, {}


def _param_names(fn, n_args: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = []
    for i in range(n_args):
        if i < len(params) and params[i].kind in (params[i].POSITIONAL_ONLY,
                                                  params[i].POSITIONAL_OR_KEYWORD):
            names.append(params[i].name)
        else:
            names.append(f"args_{i}")
    return names


def _flatten(obj, name: str, expr: str, leaves: list):
    """The input tree as JSON (tensor leaves become {"$input": i}); fills `leaves`."""
    from runtime.graph_file import encode_attr

    from ._tensor import Tensor
    if isinstance(obj, Tensor):
        leaves.append(_Leaf(name, expr, obj))
        return {"$input": len(leaves) - 1}
    if isinstance(obj, (tuple, list)) and (type(obj) in (tuple, list)):
        items = [_flatten(x, f"{name}.{i}", f"{expr}[{i}]", leaves) for i, x in enumerate(obj)]
        return {"$tuple": items} if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {"$dict": [[k, _flatten(x, f"{name}.{k}", f"{expr}[{k!r}]", leaves)]
                          for k, x in obj.items()]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return encode_attr(obj, _no_tensor, name)
    raise ExportError(f"export: input {name!r} is a {type(obj).__name__}; inputs must be "
                      "tensors, Python scalars, or tuples/lists/dicts of them")


def _no_tensor(a):
    raise ExportError("export: arrays are not allowed in the input tree")


def _read_dynamic_shapes(dynamic_shapes, args, kwargs, names, leaves_by_top) -> None:
    if dynamic_shapes is None:
        return
    if isinstance(dynamic_shapes, dict):
        known = set(names) | set(kwargs)
        for k in dynamic_shapes:
            if k not in known:
                raise ExportError(f"export: dynamic_shapes names {k!r}, which is not an "
                                  f"argument (arguments: {sorted(known)})")
        specs = {k: dynamic_shapes[k] for k in dynamic_shapes}
    elif isinstance(dynamic_shapes, (tuple, list)):
        if len(dynamic_shapes) != len(args) + len(kwargs):
            raise ExportError(f"export: dynamic_shapes has {len(dynamic_shapes)} entries but "
                              f"there are {len(args) + len(kwargs)} arguments; give one per "
                              "argument (None for a static one)")
        specs = dict(zip(names + list(kwargs), dynamic_shapes))
    else:
        raise ExportError("export: dynamic_shapes must be a tuple (by position) or a dict (by "
                          f"argument name), got {type(dynamic_shapes).__name__}")
    for top, spec in specs.items():
        _apply_spec(spec, leaves_by_top.get(top, []), top)


def _apply_spec(spec, leaves, where):
    if spec is None:
        return
    if isinstance(spec, dict) and all(isinstance(k, int) for k in spec):
        if len(leaves) != 1 or leaves[0][0] != ():
            raise ExportError(f"export: dynamic_shapes[{where!r}] is a {{dim: Dim}} map but "
                              "that argument is not a tensor")
        leaf = leaves[0][1]
        nd = leaf.tensor.ndim
        for d, dim in spec.items():
            if dim is None:
                continue
            if not isinstance(dim, Dim):
                raise ExportError(f"export: dynamic_shapes[{where!r}][{d}] must be a "
                                  f"dyngraph.Dim, got {type(dim).__name__}")
            if not -nd <= d < nd:
                raise ExportError(f"export: dynamic_shapes[{where!r}] marks dim {d}, but input "
                                  f"{leaf.name!r} has {nd} dims")
            leaf.dims[d % nd] = dim
        return
    if isinstance(spec, (tuple, list)):
        for i, s in enumerate(spec):
            sub = [(p[1:], lf) for p, lf in leaves if p and p[0] == i]
            _apply_spec(s, sub, f"{where}.{i}")
        return
    if isinstance(spec, dict):
        for k, s in spec.items():
            sub = [(p[1:], lf) for p, lf in leaves if p and p[0] == k]
            _apply_spec(s, sub, f"{where}.{k}")
        return
    raise ExportError(f"export: dynamic_shapes[{where!r}] must be None, {{dim: Dim}}, or a "
                      f"tuple/list/dict matching the argument, got {type(spec).__name__}")


def _leaf_paths(obj, path=()):
    """(path, position) for the tensors in one argument, in flattening order."""
    from ._tensor import Tensor
    if isinstance(obj, Tensor):
        return [path]
    if isinstance(obj, (tuple, list)):
        return [p for i, x in enumerate(obj) for p in _leaf_paths(x, path + (i,))]
    if isinstance(obj, dict):
        return [p for k, x in obj.items() for p in _leaf_paths(x, path + (k,))]
    return []


# ----------------------------------------------------------------------------------------------
# Tracing at several sizes
# ----------------------------------------------------------------------------------------------

def _choose_points(dims: dict[str, Dim], example: dict[str, int]) -> list[dict[str, int]]:
    """The example, the 2**k grid with one other size per dim, and one check point."""
    varying, alt, check = [], {}, {}
    for name, dim in dims.items():
        e = example[name]
        others = [n for n in (e + 1, e + 2, e - 1, e + 3, e - 2, e + 5) if n >= 2 and
                  dim.contains(n)]
        if not others:
            continue
        varying.append(name)
        alt[name] = others[0]
        third = [n for n in others[1:] if n != alt[name]]
        check[name] = third[0] if third else e
    points = []
    for bits in itertools.product((0, 1), repeat=len(varying)):
        p = dict(example)
        for name, b in zip(varying, bits):
            if b:
                p[name] = alt[name]
        points.append(p)
    cp = dict(example)
    cp.update(check)
    if cp not in points:
        points.append(cp)
    return points, varying


def _resample(t, shape, rng):
    """A tensor of `shape` whose values are drawn from the example's (keeps ids in range)."""
    from ._tensor import _wrap
    arr = t._data if type(t._data) is np.ndarray else t._data.get()
    flat = arr.reshape(-1)
    new = rng.choice(flat, size=shape) if flat.size else np.zeros(shape, arr.dtype)
    out = _wrap(np.ascontiguousarray(new.astype(arr.dtype, copy=False)))
    if t.device.type != "cpu":
        out = out.to(t.device)
    return out


def _rebuild(obj, new_of: dict):
    from ._tensor import Tensor
    if isinstance(obj, Tensor):
        return new_of.get(id(obj), obj)
    if isinstance(obj, (tuple, list)) and type(obj) in (tuple, list):
        return type(obj)(_rebuild(x, new_of) for x in obj)
    if isinstance(obj, dict):
        return {k: _rebuild(x, new_of) for k, x in obj.items()}
    return obj


class _Trace:
    """One trace at one point, as the file's JSON plus its arrays."""

    def __init__(self, doc, arrays, weights):
        self.doc, self.arrays, self.weights = doc, arrays, weights


def _trace_at(fn, args, kwargs, leaves, point, rng, weight_names) -> _Trace:
    from compiler.ir import Graph, Value
    from compiler.passes.dce import eliminate_dead_code
    from compiler.sources import scan_roots
    from compiler.trace import GraphBreakError, trace
    from runtime.graph_file import encode_attr, encode_graph

    from .autograd import no_grad
    new_of = {}
    tensors = []
    for lf in leaves:
        shape = tuple(point[lf.dims[i].name] if i in lf.dims else n
                      for i, n in enumerate(lf.tensor.shape))
        if shape == tuple(lf.tensor.shape):
            t = lf.tensor
        else:
            t = _resample(lf.tensor, shape, rng)
            new_of[id(lf.tensor)] = t
        tensors.append(t)
    a2, k2 = _rebuild(args, new_of), _rebuild(kwargs, new_of)
    scan = scan_roots(fn, a2, k2)
    try:
        with no_grad():
            tr = trace(fn, a2, k2, scan, fullgraph=True)
    except GraphBreakError as e:
        import re
        kind = re.search(r"with \.(\w+)\(\)", str(e))
        kind = f".{kind.group(1)}()" if kind else "a tensor's value"
        raise ExportError(
            f"export: {_break_line(e)}: reads a tensor's value into Python ({kind}), which "
            "needs a graph break, but an exported graph must be whole: use dyngraph.cond / "
            "dyngraph.while_loop for data-dependent control flow, or keep the computation in "
            "tensor ops") from None
    if tr.poisoned is not None:
        hint = ""
        if "modified outside the op table" in tr.poisoned:
            hint = ("; an exported graph is a pure function of its inputs: call model.eval() "
                    "(BatchNorm updates running statistics in training mode)")
        raise ExportError(f"export: the function cannot be captured as one graph: "
                          f"{tr.poisoned}{hint}")
    if tr.writebacks:
        what = ", ".join(sorted({f"{w.source.label} ({w.kind})" for w in tr.writebacks}))
        raise ExportError(
            f"export: the function changes state that outlives the call: {what}. An exported "
            "graph is a pure function of its inputs; call model.eval() (BatchNorm running "
            "statistics) or remove the in-place update of inputs/buffers")
    g = tr.graph
    by_expr = {lf.expr: i for i, lf in enumerate(leaves)}
    user_vals: list = [None] * len(leaves)
    weights: list[tuple[str, Any, Value]] = []
    for src, v, t in zip(tr.input_sources, g.inputs, tr.input_tensors):
        i = by_expr.get(src.expr)
        if i is not None:
            user_vals[i] = v
            continue
        name = weight_names.get(src.expr)
        if name is None:
            name = _weight_name(src.label, set(weight_names.values()))
            weight_names[src.expr] = name
        arr = t._data if type(t._data) is np.ndarray else t._data.get()
        weights.append((name, arr, v))
    for i, (lf, t) in enumerate(zip(leaves, tensors)):
        if user_vals[i] is None:
            user_vals[i] = Value(t._data.shape, t.dtype, t.device, name=lf.name)
    outs: list = []
    src_val = {src.expr: v for src, v in zip(tr.input_sources, g.inputs)}
    for i, lf in enumerate(leaves):
        src_val[lf.expr] = user_vals[i]

    def out_tree(spec):
        kind = spec[0]
        if kind == "v":
            outs.append(g.outputs[spec[1]])
            return {"$output": len(outs) - 1}
        if kind == "s":
            v = src_val.get(spec[1].expr)
            if v is None:
                raise ExportError(f"export: the function returns {spec[1].label}, a tensor "
                                  "that is neither an input nor used by the graph")
            outs.append(v)
            return {"$output": len(outs) - 1}
        if kind == "c":
            try:
                return encode_attr(spec[1], _no_tensor, "output")
            except TypeError:
                raise ExportError(f"export: the function returns a "
                                  f"{type(spec[1]).__name__}, which a graph file cannot hold; "
                                  "return tensors and Python scalars") from None
        if kind in ("tuple", "nt"):
            return {"$tuple": [out_tree(x) for x in spec[-1]]}
        if kind == "list":
            return [out_tree(x) for x in spec[1]]
        if kind == "dict":
            return {"$dict": [[k, out_tree(x)] for k, x in spec[1]]}
        raise ExportError(f"export: unsupported output structure {kind!r}")

    tree = out_tree(tr.out_spec)
    graph = Graph(user_vals + [v for _, _, v in weights], g.nodes, outs)
    eliminate_dead_code(graph)
    arrays: list[np.ndarray] = []

    def add_tensor(a):
        arrays.append(a if type(a) is np.ndarray else a.get())
        return f"#{len(arrays) - 1}"

    from runtime.graph_file import EncodeError
    try:
        gj = encode_graph(graph, add_tensor)
    except EncodeError as e:
        raise ExportError(str(e)) from None
    doc = {"graph": gj, "out_tree": tree,
           "weights": [{"name": n, "tensor": n, **gj["inputs"][len(leaves) + i]}
                       for i, (n, _, _) in enumerate(weights)]}
    return _Trace(doc, arrays, [(n, a) for n, a, _ in weights])


def _break_line(exc) -> str:
    """`file:line: code` of the innermost frame of the model's code (nn included)."""
    import os
    import traceback
    root = os.path.dirname(os.path.abspath(__file__))
    internal = [os.path.join(root, d) + os.sep for d in ("ops", "autograd")]
    pkg = os.path.dirname(root)
    internal += [os.path.join(pkg, d) + os.sep for d in ("compiler", "runtime")]
    best = None
    for fr in traceback.extract_tb(exc.__traceback__):
        f = os.path.abspath(fr.filename)
        if any(f.startswith(d) for d in internal) or f == os.path.abspath(__file__) or (
                os.path.dirname(f) == root and os.path.basename(f).startswith("_")):
            continue
        best = fr
    if best is None:
        return "<unknown>"
    return f"{best.filename}:{best.lineno}: {(best.line or '').strip()}"


def _weight_name(label: str, taken: set[str]) -> str:
    name = label[5:] if label.startswith("self.") else label
    if not name or name.startswith("<") or name.startswith("__"):
        name = "captured"
    base, k = name, 1
    while name in taken:
        name = f"{base}_{k}"
        k += 1
    return name


# ----------------------------------------------------------------------------------------------
# Unifying traces: fit differing ints as polynomials of the dims
# ----------------------------------------------------------------------------------------------

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


# ----------------------------------------------------------------------------------------------
# The public API
# ----------------------------------------------------------------------------------------------

def export(fn_or_module, args: tuple, kwargs: dict | None = None, *,
           dynamic_shapes=None) -> "ExportedGraph":
    """Trace a function or module into one graph with its weights, ready to save and reload.

    Args:
        fn_or_module: an `nn.Module` or a function of tensors.
        args: the example positional arguments (a tuple).
        kwargs: example keyword arguments.
        dynamic_shapes: which dims may change size, as in `torch.export`: a tuple with one
            entry per argument (`({0: batch},)`) or a dict by argument name
            (`{"x": {0: batch}}`); each entry is None, `{dim index: Dim}`, or a tuple/list/dict
            matching a nested argument.

    Returns:
        An `ExportedGraph`: `.graph`, `.inputs`, `.outputs`, `.state_dict()`, `.save(path)`.

    Raises:
        ExportError: a graph break (reading a tensor value into Python: use dyngraph.cond /
            dyngraph.while_loop), state changed in place, or a size dependence that cannot be
            expressed; the message names the source line or the node.

    Example:
        >>> ep = dyngraph.export(model, (x,), dynamic_shapes=({0: dyngraph.Dim("batch")},))
        >>> ep.save("model.dgraph")
    """
    from compiler.sources import is_module
    if not isinstance(args, tuple):
        raise TypeError(f"export: args must be a tuple of example inputs, got "
                        f"{type(args).__name__} (write (x,) for one input)")
    kwargs = dict(kwargs or {})
    if is_module(fn_or_module):
        fn, sig_fn = fn_or_module.__call__, fn_or_module.forward
    elif callable(fn_or_module):
        fn = sig_fn = fn_or_module
    else:
        raise TypeError(f"export: expected a function or a Module, got "
                        f"{type(fn_or_module).__name__}")
    names = _param_names(sig_fn, len(args))
    leaves: list[_Leaf] = []
    tree = {"args": [_flatten(a, n, f"a[{i}]", leaves) for i, (a, n) in
                     enumerate(zip(args, names))],
            "kwargs": {"$dict": [[k, _flatten(v, k, f"kw[{k!r}]", leaves)]
                                 for k, v in kwargs.items()]},
            "names": names}
    by_top: dict[str, list] = {}
    pos = 0
    for top, obj in list(zip(names, args)) + list(kwargs.items()):
        for p in _leaf_paths(obj):
            by_top.setdefault(top, []).append((p, leaves[pos]))
            pos += 1
    _read_dynamic_shapes(dynamic_shapes, args, kwargs, names, by_top)
    dims, example = _collect_dims(leaves)
    points, varying = _choose_points(dims, example)
    if len(varying) > _MAX_DIMS:
        raise ExportError(f"export: at most {_MAX_DIMS} distinct dynamic dims are supported, "
                          f"got {len(varying)} ({', '.join(varying)})")
    rng = np.random.default_rng(0)
    weight_names: dict[str, str] = {}
    traces = [_trace_at(fn, args, kwargs, leaves, p, rng, weight_names) for p in points]
    u = _Unifier(traces, points, varying)
    body = u.unify([t.doc for t in traces], "export")
    tensors = {n: a for n, a in traces[0].weights}
    tensors.update(u.tensors)
    from runtime.graph_file import encode_attr
    inputs = []
    for i, lf in enumerate(leaves):
        vj = dict(body["graph"]["inputs"][i])
        vj["shape"] = [encode_attr(_sym(dims[lf.dims[d].name]), _no_tensor) if d in lf.dims
                       and lf.dims[d].name in varying else s for d, s in enumerate(vj["shape"])]
        body["graph"]["inputs"][i] = vj
        inputs.append({"name": lf.name, **vj})
    for i, w in enumerate(body["weights"]):
        w.update(body["graph"]["inputs"][len(leaves) + i])
    doc = {"dims": {n: {"min": d.min, "max": d.max} for n, d in dims.items() if n in varying},
           "inputs": inputs, "weights": body["weights"], "graph": body["graph"],
           "in_tree": tree, "out_tree": body["out_tree"],
           "metadata": {"producer": _producer(),
                        "example_sizes": {n: example[n] for n in varying}}}
    return ExportedGraph(doc, tensors)


def _sym(d: Dim):
    from runtime.graph_file import SymExpr
    return SymExpr.dim(d.name)


def _producer() -> str:
    from . import __version__
    return f"dyngraph {__version__}"


def _collect_dims(leaves) -> tuple[dict[str, Dim], dict[str, int]]:
    dims: dict[str, Dim] = {}
    example: dict[str, int] = {}
    for lf in leaves:
        for d, dim in lf.dims.items():
            n = int(lf.tensor.shape[d])
            old = dims.get(dim.name)
            if old is not None and (old.min, old.max) != (dim.min, dim.max):
                raise ExportError(f"export: two different Dims are named {dim.name!r}")
            if old is not None and example[dim.name] != n:
                raise ExportError(
                    f"export: dim {dim.name!r} has size {example[dim.name]} in one input but "
                    f"{n} in {lf.name!r} (dim {d}); inputs sharing a Dim must agree")
            if not dim.contains(n):
                raise ExportError(f"export: input {lf.name!r} dim {d} has size {n}, outside "
                                  f"the range of {dim!r}")
            if n < 2:
                raise ExportError(
                    f"export: input {lf.name!r} dim {d} ({dim.name!r}) has size {n} in the "
                    "example; use an example of size >= 2 for a dynamic dim (sizes 0 and 1 "
                    "specialise the trace, as in torch.export)")
            dims[dim.name] = dim
            example[dim.name] = n
    return dims, example


class ExportedGraph:
    """An exported program: graph, input/output specs, weights and metadata.

    `save(path)` writes the graph file; `module()` (or calling it) runs it like a loaded file.
    """

    def __init__(self, doc: dict, tensors: dict[str, np.ndarray]):
        from runtime.loaded import Program
        self.doc = doc
        self.tensors = tensors
        self._program = Program(doc, tensors)
        self.metadata: dict[str, str] = {}
        self._module = None

    @property
    def graph(self):
        """The IR graph (`compiler.ir.Graph`), with symbolic dims."""
        return self._program.graph

    @property
    def inputs(self):
        """Specs of the inputs: name, dtype, shape (ints and dim names), device."""
        return self._program.inputs

    @property
    def outputs(self):
        """Specs of the outputs."""
        return self._program.outputs

    @property
    def range_constraints(self) -> dict:
        """{dim name: (min, max)} of the dynamic dims."""
        return {k: (v["min"], v["max"]) for k, v in self.doc["dims"].items()}

    def state_dict(self) -> dict:
        """The weights by name, as tensors."""
        return self._program.state_dict()

    def save(self, path) -> int:
        """Write the graph file to `path` (see docs/graph-format.md); returns its size in bytes."""
        from runtime.graph_file import write_graph_file
        doc = dict(self.doc)
        meta = dict(doc["metadata"])
        for k, v in self.metadata.items():
            if not isinstance(k, str) or not isinstance(v, (str, int, float, bool)):
                raise TypeError("ExportedGraph.metadata must map strings to strings/numbers")
            meta[k] = v
        doc["metadata"] = meta
        return write_graph_file(path, doc, self.tensors)

    def module(self, device=None):
        """A callable that runs the exported graph compiled (as `load_graph` returns)."""
        from runtime.loaded import LoadedGraph
        if device is not None:
            return LoadedGraph(self._program.with_device(device))
        if self._module is None:
            self._module = LoadedGraph(self._program)
        return self._module

    def __call__(self, *args, **kwargs):
        return self.module()(*args, **kwargs)

    def __repr__(self) -> str:
        ins = ", ".join(str(s) for s in self.inputs)
        return f"ExportedGraph(inputs=[{ins}], {len(self.graph.nodes)} nodes)"


def load_graph(path, device=None, *, backend: str = "auto"):
    """Load a graph file saved by `ExportedGraph.save`; returns a callable module.

    Nothing from the file is executed (no pickle, no eval); weights are memory-mapped.

    Args:
        path: the file.
        device: where to run (None: the device it was exported on; "cpu"; "cuda").
        backend: "auto" (the best available: LLVM on the CPU once that backend is enabled for
            auto, else the interpreter), "llvm" or "interpreter".

    Returns:
        A `runtime.loaded.LoadedGraph`: call it like the original function; it exposes
        `.graph`, `.inputs`, `.outputs`, `.state_dict()`.

    Raises:
        GraphFormatError: the file is truncated, corrupt, of an unsupported version, or
            inconsistent; the message names what is wrong.

    Example:
        >>> run = dyngraph.load_graph("model.dgraph")
        >>> y = run(dyngraph.randn(8, 784))
    """
    from runtime.loaded import load
    return load(path, device=device, backend=backend)
