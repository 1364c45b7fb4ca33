"""Export tracing: pick the sizes to trace at, and trace the function once per size.

Each trace is encoded to the graph file's JSON form (`_Trace`); dyngraph/_export_unify.py merges
the traces into one graph with symbolic sizes.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ._export_spec import Dim, ExportError, _no_tensor


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
        if "depends on the input's values" in str(e):
            op = re.search(r"\): (\w+) at ", str(e))
            raise ExportError(
                f"export: {_break_line(e)}: {op.group(1) if op else 'an op'} returns a tensor "
                "whose size depends on the input's values, but an exported graph has fixed "
                "sizes: use a form with a fixed size (dyngraph.where instead of boolean-mask "
                "selection)") from None
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
        if any(f.startswith(d) for d in internal) or f == os.path.join(root, "export.py") or (
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
