"""Structured control flow inside one graph: `cond` and `while_loop` nodes with subgraphs.

Tracing a branch or loop body runs it under a nested `Tracer` whose inputs are the operands; a
tensor the body reads from outside (a closure, a weight) is lifted into an extra operand, so the
subgraph is closed. Both branches of `cond` are traced (on the real operands, so they must be free
of side effects, as in PyTorch). An IR node has one output, so a `cond` returning k tensors and a
`while_loop` with k carried tensors record k nodes (`index` 0..k-1) that share one run per
interpreter call (`cond_id`, `loop_id`).

Gradients: a traced `cond` result gets an autograd node whose rule is itself a `dyngraph.cond` of
the two branches' vector-Jacobian products (`cond_vjp`), so the compiled backward graph holds a
`cond` node and serves both outcomes. `while_loop` has no gradient under compile (see
`trace_while`).
"""

from __future__ import annotations

import itertools

import numpy as np

from dyngraph._dispatch import state
from dyngraph._tensor import Tensor

__all__ = ["trace_cond", "trace_while", "run_cond", "run_while"]

_loop_ids = itertools.count()


def _subtrace(parent, fn, operands, lifted_tensors=None):
    """Trace `fn(*operands)` into a closed Graph; returns (graph, lifted outer values, result).

    `lifted_tensors`, if a list, receives the outer tensors the lifted values came from.
    """
    return _subtrace_with(parent, fn, operands, lifted_tensors=lifted_tensors)


def _subtrace_with(parent, fn, operands, allow_none=False, lifted_tensors=None):
    """`_subtrace`; with `allow_none`, None results are left out of the graph's outputs."""
    from .sources import Scan
    from .trace import Tracer
    sub = Tracer(Scan())
    lifted = []
    # Each operand gets its own array object (a view), so a closure that reads the same tensor
    # as an operand (`while_loop(..., lambda y: y * x, (x,))`) still reads the outer value.
    operands = tuple(_fresh(t) for t in operands)
    for t in operands:
        v = sub.graph.add_input(t._data.shape, t.dtype, t.device)
        sub.bind(t._data, v)
    outer_value_of = sub.value_of

    sub.outer = parent

    def value_of(t):
        key = id(t._data)
        if key not in sub.env and (key in parent.env or _outer_tensor(parent, t)):
            pv = parent.value_of(t)   # (a source tensor first read here: the parent's input)
            v = sub.graph.add_input(t._data.shape, t.dtype, t.device)
            sub.bind(t._data, v)
            lifted.append(pv)
            if lifted_tensors is not None:
                lifted_tensors.append(t)
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
    if sub.poisoned:
        from .trace import Unsupported
        raise Unsupported(f"a cond/while_loop body cannot be captured: {sub.poisoned}")
    return sub.graph, lifted, result


class _branch_effects:
    """Python side effects of functions traced as subgraphs (both `cond` branches, a loop's
    condition and body, traced once each besides the real run): each subtrace's effects are
    undone, and any effect poisons the trace (the compiled node could not replay it), with
    the function named in explain()."""

    def __init__(self, parent, what: str):
        self.parent, self.what, self.changed = parent, what, []

    def __enter__(self):
        from .hidden import snapshot_python
        self.saved = snapshot_python(self.parent.scan)
        return self

    def done(self, name: str) -> None:
        from .hidden import python_changed, restore_python
        if python_changed(self.saved):
            self.changed.append(name)
            restore_python(self.saved)

    def __exit__(self, *exc):
        if self.changed:
            from .trace import user_frame
            self.parent.poison(f"dyngraph.{self.what} at {user_frame()}: "
                               f"{' and '.join(self.changed)} changes Python state (a list, dict, "
                               "object attribute or random generator), which the compiled graph "
                               "cannot replay (the function runs eagerly)")


def _fresh(t: Tensor) -> Tensor:
    from dyngraph._tensor import _wrap
    out = _wrap(t._data.view())
    if t._rg:
        out.requires_grad_()
    return out


def _outer_tensor(tracer, t) -> bool:
    """Whether `t` belongs outside a subtrace: it requires grad or some enclosing trace's scan
    found it (a weight, a closure or global tensor), so it is lifted, never baked in."""
    if t._rg:
        return True
    while tracer is not None:
        if id(t._data) in tracer.scan.tensors:
            return True
        tracer = getattr(tracer, "outer", None)
    return False


def _as_tuple(res, what: str) -> tuple:
    if isinstance(res, Tensor):
        return (res,)
    if isinstance(res, (tuple, list)) and res and all(isinstance(r, Tensor) for r in res):
        return tuple(res)
    raise TypeError(f"cond: {what} must return a tensor or a non-empty tuple of tensors, got "
                    f"{type(res).__name__}")


def trace_cond(parent, pred: Tensor, true_fn, false_fn, operands):
    """Record a `cond` (both branches traced; one node per result, `index` 0..k-1); returns
    the taken branch's result, differentiable through `cond_vjp` (a cond of the branches'
    gradients, so the backward graph keeps both outcomes too)."""
    t_lift: list = []
    f_lift: list = []
    with _branch_effects(parent, "cond") as effects:
        tg, tl, tres = _subtrace(parent, true_fn, operands, t_lift)
        effects.done("true_fn")
        fg, fl, fres = _subtrace(parent, false_fn, operands, f_lift)
        effects.done("false_fn")
    if effects.changed:         # (poisoned: the call goes on eagerly, the taken branch once)
        return (true_fn if bool(pred._data.reshape(()).item()) else false_fn)(*operands)
    single = isinstance(tres, Tensor)
    tres, fres = _as_tuple(tres, "true_fn"), _as_tuple(fres, "false_fn")
    if len(tres) != len(fres) or any(a.shape != b.shape or a.dtype is not b.dtype
                                     for a, b in zip(tres, fres)):
        raise RuntimeError(
            "cond: both branches must return the same number of tensors with the same shapes "
            f"and dtypes, got {[(tuple(a.shape), a.dtype.name) for a in tres]} and "
            f"{[(tuple(b.shape), b.dtype.name) for b in fres]}")
    taken = tres if bool(pred._data.reshape(()).item()) else fres
    ins = [parent.value_of(pred)] + [parent.value_of(t) for t in operands] + tl + fl
    cond_id = next(_loop_ids)
    outer = list(operands) + _unique(t_lift + f_lift)
    grad = state.grad_enabled and any(t._rg for t in outer)
    from dyngraph._tensor import _init
    outs = []
    for i, r in enumerate(taken):
        v = parent.graph.add_node("cond", ins, {"true_graph": tg, "false_graph": fg,
                                               "n_operands": len(operands), "n_true": len(tl),
                                               "index": i, "cond_id": cond_id},
                                  r._data.shape, r.dtype, r.device, requires_grad=grad)
        out = Tensor.__new__(Tensor)
        _init(out, r._data.copy())
        parent.bind(out._data, v)
        if grad and r.dtype.is_floating_point:
            attach_cond_grad(out, i, pred, true_fn, false_fn, tuple(operands), outer)
        outs.append(out)
    return outs[0] if single else tuple(outs)


def _unique(ts: list) -> list:
    seen, out = set(), []
    for t in ts:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


class _CondBackwardOp:
    """The op-table stand-in of a traced `cond` result's autograd node."""

    kind = None
    differentiable = True
    save_inputs = None
    save_output = False
    is_view = False
    name = "cond"

    def __init__(self, rule):
        self.grad = rule


def cond_vjp(pred, true_fn, false_fn, operands: tuple, outer: list, index: int, g):
    """Gradients of result `index` of `cond(pred, true_fn, false_fn, operands)` w.r.t. the
    tensors in `outer` that require grad (operands first, then tensors the branches read from
    outside), as one `dyngraph.cond` of the two branches' vector-Jacobian products."""
    import dyngraph
    from dyngraph import autograd
    need = [i for i, t in enumerate(outer) if t._rg]
    k = len(operands)
    lifted = list(outer[k:])      # read by the branches through their closures

    def vjp(fn):
        def branch(*args):
            xs, gi = list(args[:-1]), args[-1]
            with autograd.enable_grad():
                ops = [x.detach().requires_grad_(x._rg) if x.dtype.is_floating_point else x
                       for x in xs]
                res = _as_tuple(fn(*ops), "a branch")[index]
                wrt = [(ops + lifted)[i] for i in need]
                grads = autograd.grad([res], wrt, [gi], retain_graph=True, allow_unused=True,
                                      create_graph=state.grad_enabled) if res._rg else \
                    [None] * len(wrt)
            return tuple(dyngraph.zeros_like(w) if gr is None else gr
                         for w, gr in zip(wrt, grads))
        return branch

    out = dyngraph.cond(pred, vjp(true_fn), vjp(false_fn), tuple(operands) + (g,))
    out = out if isinstance(out, tuple) else (out,)
    grads = [None] * len(outer)
    for i, gr in zip(need, out):
        grads[i] = gr
    return tuple(grads)


def attach_cond_grad(out: Tensor, index: int, pred, true_fn, false_fn, operands, outer):
    """Give a traced cond result an autograd node whose rule is `cond_vjp`."""
    from dyngraph.autograd.graph import Node

    def rule(ctx, g):
        return cond_vjp(pred, true_fn, false_fn, operands, outer, index, g)

    Node(_CondBackwardOp(rule), outer, {}, out)


def trace_while(parent, cond_fn, body_fn, carried):
    """Record `while_loop` nodes; returns the loop's eager result.

    A while_loop node has no gradient rule: when a carried value or a tensor the body reads
    requires grad (in grad mode), `fullgraph=True` raises, and otherwise the loop is unrolled
    into the trace (each test of the condition a graph break, so the iteration count is
    guarded at run time), noted in explain().
    """
    c_lift: list = []
    b_lift: list = []
    with _branch_effects(parent, "while_loop") as effects:
        cg, cl, _ = _subtrace(parent, cond_fn, carried, c_lift)
        effects.done("cond_fn")
        bg, bl, _ = _subtrace(parent, body_fn, carried, b_lift)
        effects.done("body_fn")
    if effects.changed:         # (poisoned: the call goes on eagerly, as a Python loop)
        vals = tuple(carried)
        while bool(cond_fn(*vals)):
            vals = tuple(body_fn(*vals))
        return vals
    needs_grad = state.grad_enabled and any(t._rg for t in list(carried) + c_lift + b_lift)
    if needs_grad:
        from .trace import user_frame
        line = user_frame()
        if parent.fullgraph:
            raise NotImplementedError(
                f"dyngraph.while_loop at {line}: gradients through a compiled while_loop are not "
                "supported yet (a carried value or a tensor the body reads requires grad); run "
                "it under dyngraph.no_grad(), use fullgraph=False (the function then runs "
                "eagerly), or unroll the loop in Python")
        # Unrolled into the graph: each test of the condition is a graph break (its outcome is
        # guarded at run time, another iteration count retraces), the body's ops are ordinary
        # nodes, so compiled autograd differentiates through them.
        parent.notes.append(f"while_loop at {line} needs gradients: unrolled, one graph break "
                            "per test of its condition")
        vals = tuple(carried)
        while bool(cond_fn(*vals)):
            vals = tuple(body_fn(*vals))
        return vals
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


_COND_MEMO: dict = {}


def run_cond(node, args, xp=np):
    """Interpreter rule for `cond` (the branch runs once per call for all its results)."""
    from .interpreter import Interpreter
    a = node.attrs
    key = a.get("cond_id")
    memo = _COND_MEMO.get(key)
    if memo is not None and len(memo[0]) == len(args) and all(
            x is y for x, y in zip(memo[0], args)):
        return memo[1][a.get("index", 0)]
    k, nt = a["n_operands"], a["n_true"]
    ops, lifted = args[1:1 + k], args[1 + k:]
    if bool(np.asarray(args[0]).reshape(()).item()):
        outs = Interpreter(a["true_graph"])(list(ops) + list(lifted[:nt]), xp)
    else:
        outs = Interpreter(a["false_graph"])(list(ops) + list(lifted[nt:]), xp)
    _COND_MEMO[key] = (tuple(args), outs)
    return outs[a.get("index", 0)]


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
