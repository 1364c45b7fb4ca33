"""Compiled autograd: backward graphs built from the op table's gradient rules.

After the forward trace, for each output that requires grad, `trace_backward` runs
`dyngraph.autograd.grad(output, inputs, grad_output)` under a nested tracer. The engine calls each
op's gradient rule, which is written in dyngraph ops, so the rules record the backward graph; the
forward values they read (the saved activations) are lifted into inputs of the backward graph.
That is the joint graph, partitioned at the forward/backward boundary: the forward graph exports
the saved values, the backward graph takes (grad_output, *saved) and returns one gradient per
differentiable input (None where unused). At run time `attach_backward` gives each output a
`grad_fn` whose rule runs the backward graph, so `loss.backward()` on a compiled result runs
compiled.
"""

from __future__ import annotations

import dataclasses

from dyngraph._dispatch import state
from dyngraph._tensor import Tensor, _wrap

from .ir import Graph, Node, Value, subst_syms

__all__ = ["BackwardProgram", "trace_backward", "attach_backward", "recompute_cheap",
           "joint_peak", "replay_forward"]


@dataclasses.dataclass
class BackwardProgram:
    """The backward graph of one output: inputs (grad_output, *saved), one output per grad."""

    graph: Graph
    saved: list           # forward Values the backward graph reads (after grad_output)
    has_grad: list        # per differentiable input: whether a gradient comes back
    interpreter: object = None
    # double backward replays the forward with dyngraph ops (see `replay_forward`):
    fwd_out: Value | None = None                                # the output, in the forward
    fwd_nodes: list = dataclasses.field(default_factory=list)   # its producers, in order
    fwd_leaves: list = dataclasses.field(default_factory=list)  # forward values they read
    extra: list = dataclasses.field(default_factory=list)       # leaves to export (draws)
    report: dict = dataclasses.field(default_factory=dict)      # recomputation figures


def trace_backward(parent, out: Tensor, diff_inputs: list) -> BackwardProgram | None:
    """Record the backward graph of `out` w.r.t. `diff_inputs` (None if it cannot be built)."""
    from dyngraph import autograd
    from .control_flow import _subtrace_with
    g0 = _wrap(out._data.copy())

    def bwd(g):
        grads = autograd.grad([out], diff_inputs, [g], retain_graph=True, allow_unused=True)
        return tuple(grads)

    try:
        graph, lifted, result = _subtrace_with(parent, bwd, (g0,), allow_none=True)
    except RuntimeError:
        return None
    has = [r is not None for r in result]
    prog = BackwardProgram(graph, lifted, has)   # passes run when it is first used
    _record_replay(parent, out, prog)
    return prog


def _record_replay(parent, out: Tensor, prog: BackwardProgram) -> None:
    """The forward nodes that compute `out`, cut at graph inputs and random draws (a replay
    must reuse the numbers drawn, so their values are exported like saved values)."""
    v = parent.env[id(out._data)][1]
    nodes, leaves, seen, stack = [], {}, set(), [v]
    while stack:
        u = stack.pop()
        if u.id in seen:
            continue
        seen.add(u.id)
        if u.node is None or u.node.op == "random":
            leaves[u.id] = u
            continue
        nodes.append(u.node)
        stack.extend(u.node.value_inputs)
    prog.fwd_out = v
    prog.fwd_nodes = sorted(nodes, key=lambda n: n.out.id)   # ids grow in trace order
    prog.fwd_leaves = list(leaves.values())
    prog.extra = [x for x in prog.fwd_leaves if x.node is not None]


def replay_forward(prog: BackwardProgram, leaves: dict, syms: dict | None = None) -> Tensor:
    """Run the forward nodes of `prog`'s output with dyngraph ops (so autograd records them).

    `leaves` maps forward value ids to tensors (the differentiable inputs themselves) or arrays.
    `cond`/`while_loop` nodes replay their subgraphs through `dyngraph.cond`/`while_loop`.
    """
    env = {k: (x if isinstance(x, Tensor) else _wrap(x)) for k, x in leaves.items()}
    for n in prog.fwd_nodes:
        env[n.out.id] = _replay_node(n, [env[x.id] if isinstance(x, Value) else x
                                         for x in n.inputs], syms)
    return env[prog.fwd_out.id]


def _replay_node(n: Node, args: list, syms):
    from dyngraph import _dispatch
    from dyngraph.ops.registry import OPS
    attrs = subst_syms(n.attrs, syms) if syms else n.attrs
    if syms:
        args = [subst_syms(a, syms) for a in args]
    if n.op == "constant":
        from .interpreter import _make_constant
        import numpy as np
        return _wrap(attrs["value"] if "value" in attrs else _make_constant(np, attrs))
    if n.op == "cond":
        return _replay_cond(n, args, syms)
    if n.op == "while_loop":
        return _replay_while(n, args, syms)
    return _dispatch.apply(OPS[n.op], *args, **attrs)


def replay_graph(graph: Graph, args, syms=None) -> list:
    """A closed subgraph run with dyngraph ops on tensors (for cond/while_loop replays)."""
    env = dict(zip((v.id for v in graph.inputs), args))
    for n in graph.nodes:
        env[n.out.id] = _replay_node(n, [env[x.id] if isinstance(x, Value) else x
                                         for x in n.inputs], syms)
    return [env[v.id] for v in graph.outputs]


def _replay_cond(n: Node, args, syms):
    import dyngraph
    a = n.attrs
    k, nt = a["n_operands"], a["n_true"]
    ops, lifted = list(args[1:1 + k]), list(args[1 + k:])

    def branch(graph, extra):
        return lambda *xs: tuple(replay_graph(graph, list(xs) + extra, syms))

    outs = dyngraph.cond(args[0], branch(a["true_graph"], lifted[:nt]),
                         branch(a["false_graph"], lifted[nt:]), ops)
    return outs[a.get("index", 0)] if isinstance(outs, tuple) else outs


def _replay_while(n: Node, args, syms):
    import dyngraph
    a = n.attrs
    k, nc = a["n_carried"], a["n_cond"]
    vals, lifted = list(args[:k]), list(args[k:])
    outs = dyngraph.while_loop(
        lambda *xs: replay_graph(a["cond_graph"], list(xs) + lifted[:nc], syms)[0],
        lambda *xs: tuple(replay_graph(a["body_graph"], list(xs) + lifted[nc:], syms)), vals)
    return outs[a["index"]]


class _CompiledBackwardOp:
    """Stands in for an op-table entry in the autograd `Node` of a compiled output."""

    kind = None
    differentiable = True
    save_inputs = None
    save_output = False
    is_view = False

    def __init__(self, name, rule):
        self.name = name
        self.grad = rule


def _check_versions(watched):
    for t, v in watched:
        if t._vc[0] != v:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{t.dtype.name}{list(t.shape)}] is at version {t._vc[0]}; "
                f"expected version {v} instead (saved by a dyngraph.compile'd function). Hint: "
                "run backward before changing it in place, or .clone() it first.")


def attach_backward(result: Tensor, prog: BackwardProgram, inputs: list, saved_arrays: list,
                    syms: dict | None = None, leaves: dict | None = None):
    """Make `result` require grad with a node that runs `prog` (inputs: the runtime tensors;
    `syms`: the sizes of the symbolic dims in this call; `leaves`: forward value id -> tensor
    or array for a double-backward replay, see `replay_forward`)."""
    from dyngraph.autograd.graph import Node
    from .interpreter import Interpreter
    if prog.interpreter is None:
        from .passes.manager import run_pipeline
        graph = prog.graph.copy()
        run_pipeline(graph)
        prog.interpreter = Interpreter(graph)
    interp = prog.interpreter

    # inputs the rule reads through saved arrays or a replay: written in place before the
    # backward, they would give a silently wrong gradient (eager autograd raises too)
    read = {v.id for v in prog.saved} | {v.id for v in prog.fwd_leaves}
    watched = [(t, t._vc[0]) for k, t in (leaves or {}).items()
               if isinstance(t, Tensor) and k in read]

    def rule(ctx, g):
        _check_versions(watched)
        if state.grad_enabled:      # create_graph=True: differentiable gradients
            return _double_backward(prog, leaves, inputs, g, syms)
        outs = iter(interp([g._data] + saved_arrays, syms=syms))
        return tuple(_wrap(next(outs)) if h else None for h in prog.has_grad)

    Node(_CompiledBackwardOp("compiled", rule), inputs, {}, result)
    return result


def _double_backward(prog: BackwardProgram, leaves, inputs, g, syms):
    """Gradients that autograd can differentiate again: replay the forward with dyngraph ops
    on the input tensors, then run eager autograd with create_graph=True on the replay."""
    from dyngraph import autograd
    if leaves is None:
        raise NotImplementedError("double backward: this compiled output kept no replay")
    out = replay_forward(prog, leaves, syms)
    wanted = [t for t, h in zip(inputs, prog.has_grad) if h]
    if not out._rg:
        return tuple(None for _ in prog.has_grad)
    grads = iter(autograd.grad([out], wanted, [g], create_graph=True, allow_unused=True))
    return tuple(next(grads) if h else None for h in prog.has_grad)


# ----- recomputation in the forward/backward partition ------------------------------------------

# Ops cheap enough to run again in the backward graph rather than keep their result alive from
# the forward pass: elementwise arithmetic and the view-like reshapes/broadcasts around it.
# (Random draws are never recomputed: a second draw would differ.)
_RECOMPUTE_MOVEMENT = frozenset({"expand", "reshape", "permute", "cast"})
MAX_RECOMPUTE_CHAIN = 8     # nodes recomputed for one saved value (bounds the extra work)


def _cheap(node) -> bool:
    from dyngraph.ops.registry import OPS
    if node.op == "constant":
        return True
    op = OPS.get(node.op)
    return op is not None and (op.kind.is_elementwise or node.op in _RECOMPUTE_MOVEMENT)


def _nbytes(v: Value) -> int:
    n = v.dtype.itemsize
    for s in v.shape:
        n *= s if isinstance(s, int) else 1
    return n


def joint_peak(fwd: Graph, keep: list, prog: BackwardProgram) -> int:
    """Peak live bytes of forward + backward run back to back, by the memory planner.

    The joint graph is the forward graph (outputs `keep`) followed by the backward graph reading
    the forward values it saves, so a saved value is live from its definition in the forward to
    its last use in the backward: what the partition keeps alive between the two passes counts.
    """
    from .passes.dce import eliminate_dead_code
    from .passes.memory import plan_memory
    joint = Graph(list(fwd.inputs), list(fwd.nodes))
    g_in = prog.graph.inputs[0]
    mapping = {g_in.id: Value(g_in.shape, g_in.dtype, g_in.device)}
    joint.inputs.append(mapping[g_in.id])
    for b, f in zip(prog.graph.inputs[1:], prog.saved):
        mapping[b.id] = f
    for n in prog.graph.nodes:
        out = Value(n.out.shape, n.out.dtype, n.out.device)
        ins = [mapping.get(x.id, x) if isinstance(x, Value) else x for x in n.inputs]
        joint.nodes.append(Node(n.op, ins, n.attrs, out, n.compute_dtype))
        mapping[n.out.id] = out
    joint.outputs = list(keep) + [mapping[v.id] for v in prog.graph.outputs]
    eliminate_dead_code(joint)
    info: dict = {}
    plan_memory(joint, info)
    for n in fwd.nodes:         # plan_memory annotated the shared forward nodes: undo
        n.meta.pop("buffer", None)
        n.meta.pop("inplace_of", None)
    return info["memory"]["peak_bytes"]


def _plan_recompute(prog: BackwardProgram, replay=None):
    """Greedy choice of saved values to recompute: (nodes to recompute, new saved list,
    the ids of the saved values chosen). `replay`: the ids to choose (a plan made at other
    sizes), instead of comparing byte counts."""
    saved = list(prog.saved)
    recomputed: dict[int, Node] = {}
    chosen: list[int] = []
    for v in prog.saved:
        if v.node is None or not _cheap(v.node):
            continue
        if replay is not None and v.id not in replay:
            continue
        chain: dict[int, Node] = {}
        leaves: dict[int, Value] = {}
        stack = [v]
        ok = True
        while stack and ok:
            u = stack.pop()
            if u.id in chain:
                continue
            chain[u.id] = u.node
            for x in u.node.value_inputs:
                if x.id in chain or x.id in recomputed or any(x is y for y in saved):
                    continue
                if x.node is None:
                    leaves[x.id] = x            # a forward input: kept by the caller anyway
                elif _cheap(x.node):
                    stack.append(x)
                else:
                    leaves[x.id] = x
            ok = len(chain) <= MAX_RECOMPUTE_CHAIN
        if not ok or replay is None and sum(
                _nbytes(x) for x in leaves.values() if x.node is not None) >= _nbytes(v):
            continue
        recomputed.update(chain)
        chosen.append(v.id)
        saved = [x for x in saved if x.id not in chain] + [
            x for x in leaves.values() if all(x is not y for y in saved)]
    return recomputed, saved, chosen


def _rewrite_with_recompute(prog: BackwardProgram, recomputed: dict, saved: list):
    """A new backward graph reading `saved` that recomputes the `recomputed` forward nodes,
    each just before its first use (recomputing everything up front would hold it all at
    once, the very peak this avoids)."""
    old = prog.graph.copy()     # (the original stays intact if the plan is rejected)
    old_in = {f.id: b for b, f in zip(old.inputs[1:], prog.saved)}
    g = Graph([old.inputs[0]])
    fmap: dict[int, Value] = {}       # forward value id -> backward value
    for f in saved:
        b = old_in.get(f.id)
        if b is None:
            b = Value(f.shape, f.dtype, f.device)
        g.inputs.append(b)
        fmap[f.id] = b
    # backward value -> forward node to recompute on first use
    pending = {old_in[f_id].id: n for f_id, n in recomputed.items() if f_id in old_in}

    def emit(fnode):
        if fnode.out.id in fmap:
            return fmap[fnode.out.id]
        ins = []
        for x in fnode.inputs:
            if isinstance(x, Value):
                x = fmap[x.id] if x.id in fmap else emit(recomputed[x.id])
            ins.append(x)
        fmap[fnode.out.id] = g.add_node(fnode.op, ins, fnode.attrs, fnode.out.shape,
                                        fnode.out.dtype, fnode.out.device,
                                        compute_dtype=fnode.compute_dtype)
        return fmap[fnode.out.id]

    for n in old.nodes:
        n.inputs = [emit(pending[x.id]) if isinstance(x, Value) and x.id in pending else x
                    for x in n.inputs]
        g.nodes.append(n)
    g.outputs = [emit(pending[v.id]) if v.id in pending else v for v in old.outputs]
    return dataclasses.replace(prog, graph=g, saved=list(saved), interpreter=None)


def recompute_cheap(fwd: Graph, keep: list, prog: BackwardProgram, replay=None) -> tuple:
    """Recompute cheap elementwise saved values in the backward graph where that lowers memory.

    A saved value whose producer chain (up to `MAX_RECOMPUTE_CHAIN` elementwise/reshape nodes)
    reads only values the backward has anyway (forward inputs, other saved values) or fewer
    bytes of new ones is recomputed instead of kept. The result is kept only when the memory
    planner's peak of the joint forward+backward graph does not grow and fewer bytes are kept
    alive between the passes. Returns (program, report dict); the report's "plan" (positions
    in `fwd` of the saved values recomputed) given back as `replay` makes the same choice on a
    trace of the same ops at other sizes, where the byte counts could choose otherwise: the
    traces a dynamic-shape graph is unified and checked with must partition alike.
    """
    pos = {n.out.id: i for i, n in enumerate(fwd.nodes)}
    ids = None if replay is None else {fwd.nodes[i].out.id for i in replay
                                       if i < len(fwd.nodes)}
    recomputed, saved, chosen = _plan_recompute(prog, ids)
    bytes0 = sum(_nbytes(v) for v in prog.saved if v.node is not None)
    report = {"recomputed": 0, "saved_bytes": (bytes0, bytes0), "plan": ()}
    if not recomputed:
        return prog, report
    new = _rewrite_with_recompute(prog, recomputed, saved)
    bytes1 = sum(_nbytes(v) for v in new.saved if v.node is not None)
    p0, p1 = joint_peak(fwd, keep, prog), joint_peak(fwd, keep, new)
    report.update(peak_bytes=(p0, p1), saved_bytes=(bytes0, bytes1))
    if replay is None and (p1 > p0 or bytes1 >= bytes0):
        return prog, report
    report["recomputed"] = len(recomputed)
    report["plan"] = tuple(sorted(pos[i] for i in chosen))
    return new, report

