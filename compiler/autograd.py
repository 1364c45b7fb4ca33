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

from .ir import Graph

__all__ = ["BackwardProgram", "trace_backward", "attach_backward"]


@dataclasses.dataclass
class BackwardProgram:
    """The backward graph of one output: inputs (grad_output, *saved), one output per grad."""

    graph: Graph
    saved: list           # forward Values the backward graph reads (after grad_output)
    has_grad: list        # per differentiable input: whether a gradient comes back
    interpreter: object = None


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
    return BackwardProgram(graph, lifted, has)   # passes run when it is first used


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


def attach_backward(result: Tensor, prog: BackwardProgram, inputs: list, saved_arrays: list,
                    syms: dict | None = None):
    """Make `result` require grad with a node that runs `prog` (inputs: the runtime tensors;
    `syms`: the sizes of the symbolic dims in this call)."""
    from dyngraph.autograd.graph import Node
    from .interpreter import Interpreter
    if prog.interpreter is None:
        from .passes.manager import run_pipeline
        graph = prog.graph.copy()
        run_pipeline(graph)
        prog.interpreter = Interpreter(graph)
    interp = prog.interpreter

    def rule(ctx, g):
        if state.grad_enabled:
            raise NotImplementedError(
                "double backward (create_graph=True) through a dyngraph.compile'd function is "
                "not supported yet; call the function eagerly when you need it")
        outs = iter(interp([g._data] + saved_arrays, syms=syms))
        return tuple(_wrap(next(outs)) if h else None for h in prog.has_grad)

    Node(_CompiledBackwardOp("compiled", rule), inputs, {}, result)
    return result
