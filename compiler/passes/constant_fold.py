"""Constant folding: a node whose inputs are all constants is evaluated once at compile time
(through the same eager rule the interpreter uses) and becomes a constant."""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Value, has_sym

__all__ = ["fold_constants", "MAX_FOLD_ELEMENTS"]

MAX_FOLD_ELEMENTS = 1 << 20   # bigger results stay computed at run time (graph size, cache keys)
_NEVER = frozenset({"random", "constant", "cond", "while_loop", "to_device"})


def _on_host(value):
    """A constant's values as numpy: folding runs the numpy rules, and a constant traced from a
    CUDA tensor holds a cupy array (which np.asarray refuses); the runtimes move the folded
    result to the device once."""
    return value if type(value) is np.ndarray or not hasattr(value, "get") else value.get()


def fold_constants(graph: Graph) -> bool:
    """Evaluate all-constant nodes; returns whether anything changed."""
    from ..interpreter import _run_node
    consts: dict[int, np.ndarray] = {}
    changed = False
    for node in graph.nodes:
        if node.op == "constant":
            if "value" in node.attrs:          # (a dynamic-shape fill/arange is not folded)
                consts[node.out.id] = _on_host(node.attrs["value"])
            continue
        vals = node.value_inputs
        if node.op in _NEVER or not vals or any(v.id not in consts for v in vals):
            continue
        if has_sym(node.inputs) or has_sym(node.attrs):
            continue
        if any(not isinstance(s, int) for s in node.out.shape) or \
                int(np.prod(node.out.shape)) > MAX_FOLD_ELEMENTS:
            continue
        args = []
        for i, x in enumerate(node.inputs):
            if isinstance(x, Value):
                a = consts[x.id]
                cdt = node.compute_dtype
                if cdt is not None and a.dtype != cdt.np and not (
                        i == 0 and _rule(node.op) == "promote_tail"):
                    a = a.astype(cdt.np)
                args.append(a)
            else:
                args.append(x)
        value = np.array(_run_node(node, args, np, None), copy=True)
        node.op, node.inputs, node.attrs = "constant", [], {"value": value}
        node.compute_dtype = None
        consts[node.out.id] = value
        changed = True
    return changed


def _rule(opname: str) -> str:
    from dyngraph.ops.registry import OPS
    return OPS[opname].dtype_rule
