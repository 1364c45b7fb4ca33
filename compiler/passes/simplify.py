"""Algebraic simplification: x*1, x+0, x-0, x/1, neg(neg x), double permutes, reshape chains,
reshapes and casts that change nothing, and expand to the same shape.

A rewrite only replaces a value by another with the same shape and dtype. A graph output is never
replaced by a graph input, so a compiled function does not return its argument where eager mode
returns a new tensor.
"""

from __future__ import annotations

from ..ir import Graph, Value

__all__ = ["simplify_algebra"]


def _is(x, c) -> bool:
    return not isinstance(x, (Value, bool)) and isinstance(x, (int, float)) and x == c


def _same(a: Value, b: Value) -> bool:
    return a.shape == b.shape and a.dtype is b.dtype


def _rewrite(node):
    """A replacement for `node.out` (a Value), a new (op, inputs, attrs), or None."""
    op, ins, a = node.op, node.inputs, node.attrs
    x = ins[0] if ins else None
    if op in ("mul", "div") and isinstance(x, Value) and _is(ins[1], 1):
        return x
    if op == "mul" and isinstance(ins[1], Value) and _is(x, 1):
        return ins[1]
    if op in ("add", "sub") and isinstance(x, Value) and _is(ins[1], 0):
        return x
    if op == "add" and isinstance(ins[1], Value) and _is(x, 0):
        return ins[1]
    if not isinstance(x, Value):
        return None
    src = x.node
    if op == "neg" and src is not None and src.op == "neg":
        return src.inputs[0]
    if op in ("reshape", "expand") and tuple(a["shape"]) == tuple(x.shape):
        return x
    if op == "cast" and a["dtype"] is x.dtype:
        return x
    if op == "permute":
        dims = tuple(a["dims"])
        if dims == tuple(range(len(dims))):
            return x
        if src is not None and src.op == "permute":
            inner = tuple(src.attrs["dims"])
            return ("permute", [src.inputs[0]], {"dims": tuple(inner[d] for d in dims)})
    if op == "reshape" and src is not None and src.op == "reshape":
        return ("reshape", [src.inputs[0]], {"shape": a["shape"]})
    return None


def simplify_algebra(graph: Graph) -> bool:
    """Apply the rewrites until none applies; returns whether anything changed."""
    inputs = {v.id for v in graph.inputs}
    outputs = {v.id for v in graph.outputs}
    changed = False
    repl: dict[int, Value] = {}
    for node in graph.nodes:
        if repl:
            node.inputs = [repl.get(x.id, x) if isinstance(x, Value) else x for x in node.inputs]
        r = _rewrite(node)
        if r is None:
            continue
        if isinstance(r, Value):
            if not _same(r, node.out) or (node.out.id in outputs and r.id in inputs):
                continue
            repl[node.out.id] = r
        else:
            node.op, node.inputs, node.attrs = r[0], list(r[1]), dict(r[2])
            r2 = _rewrite(node)   # a composed permute/reshape may now be the identity
            if isinstance(r2, Value) and _same(r2, node.out) and not (
                    node.out.id in outputs and r2.id in inputs):
                repl[node.out.id] = r2
        changed = True
    graph.outputs = [repl.get(v.id, v) for v in graph.outputs]
    return changed
