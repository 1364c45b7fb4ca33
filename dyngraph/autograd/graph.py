"""The dynamic autograd tape: a `Node` per recorded op, `backward` as a reverse topological walk.

Each op call that needs a gradient creates a `Node` holding the op, its attributes, the tensors its
gradient rule reads (checked against in-place changes through version counters) and edges
(`next_functions`) to the nodes that produced its inputs. Leaves get an `AccumulateGrad` node.
`run_backward` counts dependencies, then walks nodes in reverse topological order with an explicit
stack (no recursion, so 100,000-node graphs are fine), calling each op's gradient rule.
"""

from __future__ import annotations

import weakref

import numpy as np

from .. import _dispatch
from .._dispatch import state
from .._device import writeable as _writeable
from .anomaly import ANOMALY, check_anomaly

__all__ = ["Node", "AccumulateGrad", "run_backward", "join_backward"]


_NO_EDGE = (None, 0)


def _edge(t):
    """The (node, output_nr) edge that gradients for tensor `t` flow into."""
    if not t._rg:
        return (None, 0)
    if t.grad_fn is not None:
        return (t.grad_fn, 0)
    acc = t._accum
    if acc is None:
        acc = t._accum = AccumulateGrad(t)
    return (acc, 0)


class Node:
    """A recorded op: what its gradient rule needs, and where the gradients go."""

    # Only what every node sets lives in slots; rarely-set state falls back to the class
    # defaults below (cheaper to create: this runs once per recorded op).
    __slots__ = ("op", "attrs", "next_functions", "_meta", "__dict__", "__weakref__")
    _saved = None        # the inputs the gradient rule reads (None where not saved)
    _versions = ()
    _out = None          # the output array, when the rule reads the output
    _out_version = None
    _out_v0 = 0
    _freed = False
    _pre_hooks = None
    _retain = None
    _n_slots = 0         # > 0: gradients arrive per edge slot, not summed (see _JoinNode)
    ctx = None

    def __init__(self, op, inputs, attrs, result):
        self.op = op
        self.attrs = attrs
        Tensor = _dispatch._Tensor
        edges = []
        meta = []
        start = op.save_inputs
        versions = [] if start is not None else None
        for x in inputs:
            if isinstance(x, Tensor):
                if x._rg:
                    fn = x.grad_fn
                    if fn is None:
                        fn = x._accum
                        if fn is None:
                            fn = x._accum = AccumulateGrad(x)
                    edges.append((fn, 0))
                else:
                    edges.append(_NO_EDGE)
                a = x._data
                meta.append((a.shape, a.dtype))
                if versions is not None:
                    versions.append(x._vc[0])
            else:
                edges.append(_NO_EDGE)
                meta.append(None)
                if versions is not None:
                    versions.append(0)
        self.next_functions = tuple(edges)
        self._meta = meta
        if start is not None:
            if start:  # only inputs[start:] are read: do not keep the others alive
                inputs = (None,) * start + tuple(inputs[start:])
            self._saved = inputs
            self._versions = versions
        if op.save_output:
            self._out = result._data
            self._out_version = result._vc
            self._out_v0 = result._vc[0]
        result.grad_fn = self
        result._rg = True

    @property
    def in_meta(self):
        """(shape, dtype) of each input (None for Python scalars)."""
        from .._dtype import from_numpy_dtype
        return [None if m is None else (m[0], from_numpy_dtype(m[1])) for m in self._meta]

    # ----- what gradient rules read ---------------------------------------------------------
    def _check_freed(self):
        if self._freed:
            raise RuntimeError(
                "Trying to backward through the graph a second time (or directly access saved "
                "tensors after they have already been freed). Saved intermediate values of the "
                "graph are freed when you call .backward() or autograd.grad(). Specify "
                "retain_graph=True if you need to backward through the graph a second time.")

    @property
    def inputs(self):
        """The saved inputs, checked against in-place modification."""
        self._check_freed()
        saved = self._saved
        if saved is None:
            raise RuntimeError(f"{self.name()}: the op saves no inputs (save=() in its definition)")
        Tensor = _dispatch._Tensor
        for x, v in zip(saved, self._versions):
            if isinstance(x, Tensor) and x._vc[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{x.dtype.name}{list(x.shape)}] is at version "
                    f"{x._vc[0]}; expected version {v} instead (saved by {self.name()}). Hint: "
                    "use an out-of-place op (x = x.add(1) instead of x.add_(1)) or .clone() first.")
        return saved

    @property
    def out(self):
        """The saved output, re-wrapped with this node as grad_fn (as PyTorch unpacks it)."""
        self._check_freed()
        data = self._out
        if data is None:
            raise RuntimeError(f"{self.name()}: the op does not save its output")
        vc = self._out_version
        t = _dispatch._wrap(data)
        t._vc = vc
        if vc[0] != self._out_v0:
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: the output of {self.name()} is at version {vc[0]}; expected "
                f"version {self._out_v0}. Hint: clone it before changing it in place.")
        if state.grad_enabled:
            t.grad_fn = self
            t._rg = True
        return t

    def input_shape(self, i: int):
        return self._meta[i][0]

    def input_dtype(self, i: int):
        from .._dtype import from_numpy_dtype
        return from_numpy_dtype(self._meta[i][1])

    def name(self) -> str:
        return _node_name(self.op.name)

    def register_prehook(self, fn):
        if self._pre_hooks is None:
            self._pre_hooks = []
        self._pre_hooks.append(fn)

    def __repr__(self) -> str:
        return f"<{self.name()} object at {id(self):#x}>"

    def apply(self, grad):
        rule = self.op.grad
        if rule is None:
            raise RuntimeError(f"{self.op.name}: no gradient rule is defined for this op")
        grads = rule(self, grad)
        if not isinstance(grads, tuple):
            grads = (grads,)
        return grads

    def release(self):
        self._saved = None
        self._out = None
        self._freed = True


def _node_name(opname: str) -> str:
    return "".join(p.capitalize() for p in opname.split("_")) + "Backward0"


class AccumulateGrad:
    """The node of a leaf tensor: gradients that reach it accumulate into `.grad`."""

    __slots__ = ("_var", "next_functions", "__weakref__")
    _n_slots = 0

    def __init__(self, t):
        self._var = weakref.ref(t)
        self.next_functions = ()

    @property
    def variable(self):
        return self._var()

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {id(self):#x}>"


# --------------------------------------------------------------------------------------------
# Pieces with one shared backward (unbind, split, chunk)
# --------------------------------------------------------------------------------------------

class _JoinNode(Node):
    """The backward of splitting a tensor into pieces: it receives each piece's gradient in its
    own slot (edge i of piece i) and joins them with one stack or cat, so the backward of k
    pieces is linear in the tensor's size instead of k scatters into full-size zeros."""

    def __init__(self, name, input, piece_meta, dim, stacked):
        self.op = None
        self.attrs = {"dim": dim}
        self._name = name
        self._piece_meta = piece_meta
        self._stacked = stacked
        self._n_slots = len(piece_meta)
        self.next_functions = (_edge(input),)
        self._meta = [(input._data.shape, input._data.dtype)]

    def name(self) -> str:
        return _node_name(self._name)

    def apply(self, grads):
        from .. import ops
        from .._dtype import from_numpy_dtype
        dev = next(g.device for g in grads if g is not None)
        parts = [g if g is not None else
                 ops.zeros(shape, dtype=from_numpy_dtype(npdt), device=dev)
                 for g, (shape, npdt) in zip(grads, self._piece_meta)]
        dim = self.attrs["dim"]
        return (ops.stack(parts, dim) if self._stacked else ops.cat(parts, dim),)


class _PieceNode(Node):
    """The grad_fn of one piece: hands its gradient to its slot of the shared `_JoinNode`."""

    def __init__(self, join, slot, piece):
        self.op = None
        self.attrs = {}
        self._join = join
        self.next_functions = ((join, slot),)
        self._meta = [(piece._data.shape, piece._data.dtype)]

    def name(self) -> str:
        return self._join.name()

    def apply(self, grad):
        return (grad,)


def join_backward(name: str, input, pieces, dim: int, stacked: bool):
    """Give `pieces` (views of `input` made without recording, along `dim`) one shared backward
    that stacks (`stacked`, for unbind) or concatenates their gradients; returns the pieces."""
    join = _JoinNode(name, input, [(p._data.shape, p._data.dtype) for p in pieces], dim, stacked)
    for i, p in enumerate(pieces):
        p.grad_fn = _PieceNode(join, i, p)
        p._rg = True
    return pieces


# --------------------------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------------------------

def _sum_to(g, shape):
    """Sum gradient `g` down to a broadcast input's `shape`."""
    from .. import ops
    from ..ops.shape import sum_to_size_op
    if len(shape) <= g._data.ndim:
        try:
            # The shapes broadcast by construction: the op itself, without the public
            # function's checks (a gradient rule that returned a wrong shape still gets them).
            return _dispatch.apply(sum_to_size_op, g, shape=tuple(shape))
        except (ValueError, IndexError):
            pass
    return ops.sum_to_size(g, shape)


def _collect(roots):
    """Dependency counts of every node reachable from `roots` (iterative DFS)."""
    deps: dict = {}
    stack = [n for n in roots if n is not None]
    seen = set(stack)
    while stack:
        n = stack.pop()
        for nxt, _ in n.next_functions:
            if nxt is None:
                continue
            deps[nxt] = deps.get(nxt, 0) + 1
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return deps, seen


def _needed(seen, targets):
    """Nodes from which some target is reachable (only those need to run for autograd.grad)."""
    if targets is None:
        return None
    parents: dict = {}
    for n in seen:
        for nxt, _ in n.next_functions:
            if nxt is not None:
                parents.setdefault(nxt, []).append(n)
    need = set()
    stack = [t for t in targets if t in seen]
    need.update(stack)
    while stack:
        n = stack.pop()
        for p in parents.get(n, ()):
            if p not in need:
                need.add(p)
                stack.append(p)
    return need


def run_backward(roots, grads, *, retain_graph: bool, create_graph: bool, capture=None):
    """Propagate `grads` from the `roots` tensors back through the graph.

    With `capture` (a dict from node to None), the gradients arriving at those nodes are stored
    there instead of being accumulated into leaves (this is `autograd.grad`).
    """
    root_nodes = []
    pending: dict = {}
    for t, g in zip(roots, grads):
        node, _ = _edge(t)
        if node is None:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn")
        root_nodes.append(node)
        pending[node] = g if node not in pending else pending[node] + g
    deps, seen = _collect(root_nodes)
    need = _needed(seen, capture.keys() if capture is not None else None)
    ready = [n for n in dict.fromkeys(root_nodes) if deps.get(n, 0) == 0]
    stored: set = set()  # ids of arrays already handed to a leaf's .grad in this run
    prev_mode = state.grad_enabled
    state.grad_enabled = create_graph
    Tensor = _dispatch._Tensor
    capturing = capture is not None
    try:
        while ready:
            node = ready.pop()
            g = pending.pop(node, None)
            if capturing and node in capture:
                if type(node) is AccumulateGrad:
                    var = node.variable
                    if var is not None and var._hooks:
                        g = _run_hooks(var._hooks, g)
                elif node._pre_hooks:
                    g = _run_hooks(node._pre_hooks, g)
                capture[node] = g
            if type(node) is AccumulateGrad:
                if not capturing and g is not None:
                    _accumulate(node, g, create_graph, stored)
                continue
            if need is not None and node not in need:
                _release_edges(node, deps, ready, retain_graph)
                continue
            if node._pre_hooks and not (capturing and node in capture):
                g = _run_hooks(node._pre_hooks, g)
            if node._retain is not None:
                owner = node._retain()
                if owner is not None and g is not None:
                    owner._grad = g if create_graph else g.detach()
            edges = node.next_functions
            if g is None:
                grads_in = (None,) * len(edges)
            else:
                grads_in = node.apply(g)
                if ANOMALY["enabled"]:
                    check_anomaly(node, grads_in)
            if not retain_graph:
                node.release()
            for (nxt, nr), gi, meta in zip(edges, grads_in, node._meta):
                if nxt is None:
                    continue
                if gi is not None:
                    if not isinstance(gi, Tensor):
                        gi = _dispatch._wrap(np.asarray(gi))
                    shape, npdt = meta
                    a = gi._data
                    if a.shape != shape:
                        gi = _sum_to(gi, shape)
                        a = gi._data
                    if a.dtype != npdt:
                        from .._dtype import from_numpy_dtype
                        gi = gi.to(from_numpy_dtype(npdt))
                    if nxt._n_slots:
                        slots = pending.get(nxt)
                        if slots is None:
                            slots = pending[nxt] = [None] * nxt._n_slots
                        slots[nr] = gi if slots[nr] is None else slots[nr] + gi
                    else:
                        prev = pending.get(nxt)
                        pending[nxt] = gi if prev is None else prev + gi
                left = deps[nxt] - 1
                deps[nxt] = left
                if not left:
                    ready.append(nxt)
    finally:
        state.grad_enabled = prev_mode


def _release_edges(node, deps, ready, retain_graph):
    for nxt, _ in node.next_functions:
        if nxt is None:
            continue
        deps[nxt] -= 1
        if deps[nxt] == 0:
            ready.append(nxt)


def _run_hooks(hooks, g):
    for h in hooks:
        r = h(g)
        if r is not None:
            g = r
    return g


def _root_id(arr) -> int:
    """Identity of the buffer an array views (gradients returned as views share it)."""
    while arr.base is not None and hasattr(arr.base, "base"):
        arr = arr.base
    return id(arr)


def _accumulate(node, g, create_graph, stored):
    var = node.variable
    if var is None:
        return
    if var._hooks:
        g = _run_hooks(var._hooks, g)
    if var._grad is None:
        # Stored as it is unless it aliases the leaf, is a read-only broadcast view, or was
        # already given to another leaf (add's rule hands the same tensor to both inputs).
        if create_graph:
            var._grad = g
        elif g._vc is var._vc or not _writeable(g._data) or _root_id(g._data) in stored:
            var._grad = g.detach().clone()
        elif not g._data.flags.c_contiguous and var._data.flags.c_contiguous:
            # Like PyTorch's AccumulateGrad, give .grad the parameter's layout: gradients that
            # arrive as transposed views would make every optimizer step strided.
            # (through the copy op, not a raw array copy, so a compile trace records it)
            var._grad = g.detach().contiguous()
        else:
            var._grad = g.detach()
        stored.add(_root_id(var._grad._data))
    elif create_graph:
        var._grad = var._grad + g
    else:
        # Out of place: the same gradient tensor may have been handed to several leaves.
        var._grad = (var._grad + g).detach()


_dispatch._Node = Node
