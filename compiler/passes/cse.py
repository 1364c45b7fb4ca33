"""Common-subexpression elimination: two nodes with the same op, inputs and attributes compute the
same value, so the later one is replaced by the earlier (random draws and constants excepted)."""

from __future__ import annotations

import hashlib

import numpy as np

from ..ir import Graph, Value, format_attr

__all__ = ["eliminate_common_subexpressions"]

_NEVER = frozenset({"random", "constant", "cond", "while_loop"})


def _arrays(a, out: list) -> list:
    """The numpy arrays inside an attribute value, in order."""
    if isinstance(a, np.ndarray):
        out.append(a)
    elif isinstance(a, (tuple, list)):
        for x in a:
            _arrays(x, out)
    elif isinstance(a, dict):
        for k in sorted(a):
            _arrays(a[k], out)
    return out


def _key(node):
    ins = tuple(("v", x.id) if isinstance(x, Value) else ("c", type(x).__name__, repr(x))
                for x in node.inputs)
    cdt = node.compute_dtype.name if node.compute_dtype is not None else None
    # the text shortens an array of more than 4 elements to its size and dtype: its bytes too
    data = tuple((a.dtype.str, a.shape, hashlib.sha256(np.ascontiguousarray(a).tobytes())
                  .hexdigest()) for a in _arrays(node.attrs, []))
    return (node.op, ins, format_attr(node.attrs), cdt, data)


def eliminate_common_subexpressions(graph: Graph) -> bool:
    """Replace repeated computations by their first occurrence; returns whether anything changed."""
    seen: dict = {}
    repl: dict[int, Value] = {}
    kept = []
    for node in graph.nodes:
        if repl:
            node.inputs = [repl.get(x.id, x) if isinstance(x, Value) else x for x in node.inputs]
        if node.op in _NEVER:
            kept.append(node)
            continue
        k = _key(node)
        first = seen.get(k)
        if first is None:
            seen[k] = node.out
            kept.append(node)
        else:
            repl[node.out.id] = first
    graph.outputs = [repl.get(v.id, v) for v in graph.outputs]
    graph.nodes = kept
    return bool(repl)
