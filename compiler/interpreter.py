"""The reference backend: run a graph node by node through each op's eager rule.

Every other backend is checked against this one. Dtype promotion was resolved at trace time
(`Node.compute_dtype`), so each step is: fetch input arrays, cast where the node says, call the
op's `eager(xp, ...)`, store the result. `prepare` turns a graph into a flat list of steps once;
running it is then a tight loop. Values are dropped after their last use (the memory plan's
liveness, computed here when the memory-planning pass has not already annotated the graph).

The array module follows the inputs: cupy arrays in, cupy rules and cupy arrays out (an explicit
`xp` wins). Graph constants are numpy arrays; on another device they are copied there once per
device and kept with the prepared graph, not copied per call.
"""

from __future__ import annotations

import numpy as np

from dyngraph._device import device_of, get_array_module, to_device_array
from dyngraph._fpstate import quiet_enter, quiet_exit
from dyngraph.ops.registry import OPS

from .ir import Graph, Sym, Value, has_sym, subst_syms

__all__ = ["Interpreter", "run_graph", "bind_syms", "array_module", "free_lists", "eager_args"]


def array_module(arrays):
    """The array module of the first non-numpy array in `arrays` (cupy), else numpy."""
    for a in arrays:
        if type(a) is not np.ndarray:
            xp = get_array_module(a)
            if xp is not np:
                return xp
    return np


def free_lists(steps, outputs) -> list[list[int]]:
    """For each step (a list of nodes run together), the value ids whose last reader it is:
    they can be dropped after it (the memory plan's liveness; `outputs` are never dropped)."""
    keep = {v.id for v in outputs}
    last: dict[int, int] = {}
    for i, nodes in enumerate(steps):
        for n in nodes:
            for x in n.value_inputs:
                last[x.id] = i
    frees: list[list[int]] = [[] for _ in steps]
    for vid, i in last.items():
        if vid not in keep:
            frees[i].append(vid)
    return frees


def eager_args(node, env: dict) -> list:
    """A node's arguments for its eager rule: arrays from `env` (value id -> array) cast to the
    node's compute dtype (not the first of a "promote_tail" op), other inputs as they are."""
    rule = OPS.get(node.op)
    tail = rule is not None and rule.dtype_rule == "promote_tail"
    cdt = node.compute_dtype.np if node.compute_dtype is not None else None
    args = []
    for i, x in enumerate(node.inputs):
        if isinstance(x, Value):
            a = env[x.id]
            if cdt is not None and not (tail and i == 0) and a.dtype != cdt:
                a = a.astype(cdt)
            args.append(a)
        else:
            args.append(x)
    return args


def bind_syms(graph: Graph, arrays) -> dict[str, int]:
    """Sizes of the symbolic dims, read from the input arrays."""
    out: dict[str, int] = {}
    for v, a in zip(graph.inputs, arrays):
        for s, n in zip(v.shape, a.shape):
            if isinstance(s, Sym):
                out[s.name] = n
    return out


class Interpreter:
    """A graph prepared for repeated runs: `Interpreter(graph)(arrays) -> list of arrays`."""

    def __init__(self, graph: Graph):
        self.graph = graph
        frees = free_lists([[n] for n in graph.nodes], graph.outputs)
        self.symbolic = any(isinstance(s, Sym) for v in graph.inputs for s in v.shape)
        steps = []
        for node, free in zip(graph.nodes, frees):
            sym = has_sym(node.attrs) or has_sym(node.inputs)
            self.symbolic = self.symbolic or sym
            ins = []
            rule = OPS.get(node.op)
            tail = rule is not None and rule.dtype_rule == "promote_tail"
            for i, x in enumerate(node.inputs):
                if isinstance(x, Value):
                    cdt = node.compute_dtype
                    cast = cdt.np if cdt is not None and not (tail and i == 0) else None
                    ins.append((True, x.id, cast))
                else:
                    ins.append((False, x, None))
            steps.append((node, ins, free, sym))
        self.steps = steps
        # graph constants holding an array: on a device they are copied once (see `_on_device`)
        self.held = [(n.out.id, n.attrs["value"]) for n, *_ in steps
                     if n.op == "constant" and "value" in n.attrs]
        held = {vid for vid, _ in self.held}
        self.device_steps = [s for s in steps if s[0].out.id not in held]
        self.on_device: dict = {}       # device -> {value id: the constant's device array}
        self.in_ids = [v.id for v in graph.inputs]
        self.out_ids = [v.id for v in graph.outputs]

    def __call__(self, arrays, xp=None, syms: dict | None = None):
        """Run on input arrays; `xp` defaults to the inputs' array module (numpy or cupy) and
        `syms` gives the symbolic sizes (else read from the inputs)."""
        if xp is None:
            xp = np
            for a in arrays:
                if type(a) is not np.ndarray:   # (numpy inputs: no call, this is per run)
                    xp = array_module(arrays)
                    break
        env = dict(zip(self.in_ids, arrays))
        steps = self.steps
        if xp is not np:
            steps = self.device_steps
            if self.held:
                env.update(self._on_device(arrays, xp))
        if self.symbolic and syms is None:
            syms = bind_syms(self.graph, arrays)
        for node, ins, free, sym in steps:
            args = []
            for is_val, x, cast in ins:
                if is_val:
                    a = env[x]
                    if cast is not None and a.dtype != cast:
                        a = a.astype(cast)
                    args.append(a)
                else:
                    args.append(subst_syms(x, syms) if sym else x)
            env[node.out.id] = _run_node(node, args, xp, syms if sym else None)
            for vid in free:
                del env[vid]
        return [env[i] for i in self.out_ids]

    def _on_device(self, arrays, xp) -> dict:
        """The graph's array constants on the inputs' device, copied there on first use."""
        dev = next(device_of(a) for a in arrays if get_array_module(a) is xp)
        got = self.on_device.get(dev)
        if got is None:
            got = self.on_device[dev] = {vid: to_device_array(v, dev)
                                         for vid, v in self.held}
        return got


def _run_node(node, args, xp, syms):
    op = node.op
    attrs = node.attrs
    if syms is not None:
        attrs = subst_syms(attrs, syms)
    if op == "constant":
        if "value" in attrs:
            return attrs["value"]
        return _make_constant(xp, attrs)
    if op == "cond":
        from .control_flow import run_cond
        return run_cond(node, args, xp)
    if op == "while_loop":
        from .control_flow import run_while
        return run_while(node, args, xp)
    rule = OPS[op]
    token = quiet_enter()       # inf/nan results without numpy warnings, as in eager mode
    try:
        out = rule.eager(xp, *args, **attrs)
    except OverflowError:
        dt = node.compute_dtype
        args = [xp.asarray(np.int64(a) if isinstance(a, int) else a).astype(dt.np)
                if isinstance(a, (int, float)) else a for a in args]
        out = rule.eager(xp, *args, **attrs)
    finally:
        quiet_exit(token)
    if xp is np:
        if type(out) is not np.ndarray:
            out = np.asarray(out)
    elif type(out) is np.ndarray or np.isscalar(out):    # a rule that built a host array
        out = xp.asarray(out)
    return out


def _make_constant(xp, attrs):
    """A size-dependent constant of a dynamic-shape graph: a fill or an arange."""
    if "arange" in attrs:
        return xp.arange(attrs["arange"], dtype=attrs["dtype"])
    return xp.full(attrs["shape"], attrs["fill"], dtype=attrs["dtype"])


def run_graph(graph: Graph, arrays, xp=None) -> list:
    """Run `graph` once on input arrays (see `Interpreter` for repeated runs)."""
    return Interpreter(graph)(arrays, xp)
