"""Structured control flow inside one graph: `cond` and `while_loop` nodes with subgraphs.

Tracing a branch or loop body runs it under a nested `Tracer` whose inputs are the operands; a
tensor the body reads from outside (a closure, a weight) is lifted into an extra operand, so the
subgraph is closed. Both branches of `cond` are traced (on the real operands, so they must be free
of side effects, as in PyTorch). An IR node has one output, so `while_loop` with k carried tensors
records k nodes (`index` 0..k-1) that share one loop run per interpreter call (`loop_id`).
"""

from __future__ import annotations

import itertools

import numpy as np

from dyngraph._dispatch import state
from dyngraph._tensor import Tensor

__all__ = ["trace_cond", "trace_while", "run_cond", "run_while"]

_loop_ids = itertools.count()


def _subtrace(parent, fn, operands):
    """Trace `fn(*operands)` into a closed Graph; returns (graph, lifted outer values, result)."""
    return _subtrace_with(parent, fn, operands)


def _subtrace_with(parent, fn, operands, allow_none=False):
    """`_subtrace`; with `allow_none`, None results are left out of the graph's outputs."""
    from .sources import Scan
    from .trace import Tracer
    sub = Tracer(Scan())
    lifted = []
    for t in operands:
        v = sub.graph.add_input(t._data.shape, t.dtype, t.device)
        sub.bind(t._data, v)
    outer_value_of = sub.value_of

    def value_of(t):
        key = id(t._data)
        if key not in sub.env and key in parent.env:
            v = sub.graph.add_input(t._data.shape, t.dtype, t.device)
            sub.bind(t._data, v)
            lifted.append(parent.env[key][1])
            return v
        return outer_value_of(t)

    sub.value_of = value_of
    prev = state.tracer
    state.tracer = sub
    try:
        result = fn(*operands)
    finally:
        state.tracer = prev
    results = result if isinstance(result, (tuple, list)) else (result,)
    sub.graph.outputs = [sub.value_of(r) for r in results if not (allow_none and r is None)]
    if sub.breaks:
        from .trace import Unsupported
        raise Unsupported("a cond/while_loop body reads a tensor value into Python")
    return sub.graph, lifted, result


def trace_cond(parent, pred: Tensor, true_fn, false_fn, operands):
    """Record a `cond` node (both branches traced); returns the taken branch's eager result."""
    tg, tl, tres = _subtrace(parent, true_fn, operands)
    fg, fl, fres = _subtrace(parent, false_fn, operands)
    if not isinstance(tres, Tensor) or not isinstance(fres, Tensor):
        from .trace import Unsupported
        raise Unsupported("dyngraph.cond under compile supports branches returning one tensor")
    if tres.shape != fres.shape or tres.dtype is not fres.dtype:
        raise RuntimeError(
            f"cond: both branches must return the same shape and dtype, got "
            f"{tuple(tres.shape)} {tres.dtype.name} and {tuple(fres.shape)} {fres.dtype.name}")
    taken = tres if bool(pred._data.reshape(()).item()) else fres
    ins = [parent.value_of(pred)] + [parent.value_of(t) for t in operands] + tl + fl
    v = parent.graph.add_node("cond", ins, {"true_graph": tg, "false_graph": fg,
                                           "n_operands": len(operands), "n_true": len(tl)},
                              taken._data.shape, taken.dtype, taken.device)
    out = Tensor.__new__(Tensor)
    from dyngraph._tensor import _init
    _init(out, taken._data.copy())
    parent.bind(out._data, v)
    return out


def trace_while(parent, cond_fn, body_fn, carried):
    """Record `while_loop` nodes; returns the loop's eager result."""
    cg, cl, _ = _subtrace(parent, cond_fn, carried)
    bg, bl, _ = _subtrace(parent, body_fn, carried)
    state.tracer = None
    try:
        vals = tuple(carried)
        while bool(cond_fn(*vals)):
            vals = tuple(body_fn(*vals))
    finally:
        state.tracer = parent
    ins = [parent.value_of(t) for t in carried] + cl + bl
    loop_id = next(_loop_ids)
    outs = []
    from dyngraph._tensor import _init
    for i, r in enumerate(vals):
        v = parent.graph.add_node("while_loop", ins, {
            "cond_graph": cg, "body_graph": bg, "n_carried": len(carried), "n_cond": len(cl),
            "index": i, "loop_id": loop_id}, r._data.shape, r.dtype, r.device)
        t = Tensor.__new__(Tensor)
        _init(t, r._data.copy())
        parent.bind(t._data, v)
        outs.append(t)
    return tuple(outs)


def run_cond(node, args, xp=np):
    """Interpreter rule for `cond`."""
    from .interpreter import Interpreter
    a = node.attrs
    k, nt = a["n_operands"], a["n_true"]
    ops, lifted = args[1:1 + k], args[1 + k:]
    if bool(np.asarray(args[0]).reshape(()).item()):
        return Interpreter(a["true_graph"])(list(ops) + list(lifted[:nt]), xp)[0]
    return Interpreter(a["false_graph"])(list(ops) + list(lifted[nt:]), xp)[0]


_LOOP_MEMO: dict = {}


def run_while(node, args, xp=np):
    """Interpreter rule for `while_loop` (the loop runs once per call for all its outputs)."""
    from .interpreter import Interpreter
    a = node.attrs
    memo = _LOOP_MEMO.get(a["loop_id"])   # holds the args, so their identity is meaningful
    if memo is not None and len(memo[0]) == len(args) and all(
            x is y for x, y in zip(memo[0], args)):
        return memo[1][a["index"]]
    k, nc = a["n_carried"], a["n_cond"]
    vals, lifted = list(args[:k]), list(args[k:])
    cond, body = Interpreter(a["cond_graph"]), Interpreter(a["body_graph"])
    while bool(np.asarray(cond(vals + lifted[:nc], xp)[0]).reshape(()).item()):
        vals = body(vals + lifted[nc:], xp)
    _LOOP_MEMO[a["loop_id"]] = (tuple(args), vals)
    return vals[a["index"]]
