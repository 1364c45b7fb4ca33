"""Lower an optimised graph to steps: fused kernels, BLAS calls and interpreter nodes.

`lower(graph) -> Plan`. Every node ends up in exactly one step, and `node.meta["ran"]` says how
(`dyngraph.explain` prints it):
- `KernelStep`: a fusion group emitted as one kernel (compiler/kernel_ir.py). Groups are formed
  here, greedily in topological order: an elementwise node, a reduction or a softmax joins the
  group of one of its producers when the shapes fit the group's domain (the full shape, or the
  reduced shape for values computed once per row) and joining makes no cycle between steps (no
  input of the node may depend on the group through a node outside it). The fusion pass's groups
  are advisory: it does not know which ops the renderer handles.
- `ExternStep`: matmul through BLAS (runtime/blas.py).
- `NodeStep`: the op's eager rule, through the interpreter (views, indexing, sorting, ...); the
  reason is recorded. `LOWERING` (compiler/lower_ops.py, with each node's scalar code) lists,
  for every op in the table, how it lowers; a test fails when an op is missing from it.

Kernels are built lazily by the runtime (`KernelStep.kernel(inner_unit)`), once per pattern of
innermost strides (0, 1 or other) of the actual arrays: that is what makes a loop vectorisable,
and graph inputs can be non-contiguous. Sizes and the other strides are runtime arguments, so a
kernel serves every size. A group whose reductions keep the array's last dim (a bias gradient,
softmax over dim 0) may be built as a column kernel (`KernelStep.column`): the kept last dim runs
innermost and its stride is the specialised one; the LLVM runtime opts in, other backends get
the row form.
"""

from __future__ import annotations

import dataclasses
import heapq

from dyngraph.ops.registry import OPS

from .ir import Graph, Value, has_sym
from .kernel_ir import DTYPES, RUNTIME, Access, KernelBuilder
# The per-op table and scalar emission live in lower_ops.py; re-exported here (same objects).
from .lower_ops import (_BOOL_RESULT, _FLOAT_ONLY, _INT_ONLY, _INTERP,  # noqa: F401
                        _NOT_ON_BOOL, _REDUCE_KIND, LOWERING, _emit, lowering_of)

__all__ = ["lower", "transpose_gemm_outputs", "Plan", "KernelStep", "ExternStep", "NodeStep",
           "LOWERING", "lowering_of"]


# ----- steps --------------------------------------------------------------------------------------

@dataclasses.dataclass
class NodeStep:
    """Run one node through its eager rule."""

    node: object
    reason: str


@dataclasses.dataclass
class ExternStep:
    """Run one node through an external library (BLAS)."""

    node: object
    what: str


@dataclasses.dataclass
class BufferSpec:
    """A kernel buffer: the graph value it holds, its shape, and its axis for each domain dim."""

    value: Value
    shape: tuple
    axes: tuple          # per domain dim: the array axis that moves along it, or None


@dataclasses.dataclass
class KernelStep:
    """One fused group: buffers and a builder for the kernel, given the innermost strides."""

    nodes: list
    domain: tuple        # sizes per domain dim (ints or Syms), outer dims first
    n_outer: int
    inputs: list         # BufferSpec per input buffer
    outputs: list        # BufferSpec per output buffer
    build: object        # (inner_unit (tuple of bool per buffer), column) -> Kernel
    column: bool = False  # a column kernel is possible (the last array dim is kept)
    params: list = dataclasses.field(default_factory=list)  # size expressions passed per call

    def kernel(self, inner_unit: tuple, column: bool = False):
        """The kernel for arrays whose specialised strides are 1 where `inner_unit` says so:
        the innermost domain dim's, or with `column` the last outer dim's (a column kernel,
        compiler/kernel_ir.py)."""
        return self.build(inner_unit, column and self.column)

    def unit_dim(self, column: bool = False) -> int:
        """The domain dim whose stride `inner_unit` describes."""
        return self.n_outer - 1 if column and self.column else len(self.domain) - 1


@dataclasses.dataclass
class Plan:
    """The lowered graph: steps in execution order."""

    graph: Graph
    steps: list

    def text(self) -> str:
        """One line per node: how it ran."""
        num = self.graph.numbering()
        return "\n".join(f"  %{num[n.out.id]} {n.op}: {n.meta.get('ran', '?')}"
                         for n in self.graph.nodes)


# ----- which nodes can be fused --------------------------------------------------------------

def _dt(v) -> str | None:
    name = v.dtype.name if v is not None and hasattr(v, "dtype") else None
    return name if name in DTYPES else None


# Ops whose scalar operand may be an expression of symbolic sizes (the `1 / (2*s0)` of a mean's
# gradient, the `s0 - 1` of an unbiased variance): a kernel parameter, converted like a constant.
_SIZE_SCALAR_OPS = frozenset({"add", "sub", "mul", "div"})


def _fusible(node) -> str | None:
    """'elementwise', 'reduce', 'softmax', or None; sets node.meta['why'] when None."""
    op = OPS.get(node.op)
    if op is None:
        return None
    vals = node.value_inputs
    dts = [_dt(v) for v in vals] + [_dt(node.out)]
    if node.compute_dtype is not None and node.compute_dtype.name not in DTYPES:
        dts.append(None)
    if any(d is None for d in dts) or not vals:
        node.meta["why"] = "dtype not handled by kernels (float32/64, int32/64, bool)"
        return None
    if any(not isinstance(x, Value) and has_sym(x) for x in node.inputs) and (
            node.op not in _SIZE_SCALAR_OPS or node.attrs):
        # (the arithmetic ops take a size expression as a per-call kernel parameter)
        node.meta["why"] = "a scalar operand depends on a symbolic size"
        return None
    if node.op == "softmax" or node.op == "log_softmax":
        ok = node.out.dtype.name in ("float32", "float64") and node.out.ndim > 0
        return "softmax" if ok else None
    if node.op in _REDUCE_KIND:
        x = vals[0]
        dims = _reduce_dims(node)
        if not dims or x.ndim == 0:
            return None
        if node.op in ("sum", "prod", "mean") and node.attrs.get("dtype") is not None and \
                node.attrs["dtype"].name not in DTYPES:
            return None
        return "reduce"
    if node.op in ("expand", "copy"):
        return "elementwise"
    if node.op == "sum_to_size" and _sum_to_size_keep(node) is None:
        return None
    if not op.kind.is_elementwise or LOWERING.get(node.op) != "kernel":
        return None
    cdt = (node.compute_dtype or vals[0].dtype).name
    if node.op in _FLOAT_ONLY and cdt not in ("float32", "float64"):
        node.meta["why"] = f"{node.op} on {cdt}"
        return None
    if node.op in _NOT_ON_BOOL and cdt == "bool" or node.op in _INT_ONLY and cdt.startswith("f"):
        return None
    if node.op == "round" and node.attrs.get("decimals", 0):
        return None
    if node.op in ("floor_divide",):
        return None
    return "elementwise"


def _sum_to_size_keep(node) -> bool | None:
    """sum_to_size as a reduction: True (size-1 dims kept), False (leading dims dropped) or
    None (both at once: not one of the kernel's output layouts)."""
    x = node.value_inputs[0]
    shape = tuple(node.attrs["shape"])
    lead = x.ndim - len(shape)
    inner = any(s == 1 and x.shape[lead + i] != 1 for i, s in enumerate(shape))
    if lead and inner:
        return None
    return not lead


def _reduce_dims(node) -> tuple:
    x = node.value_inputs[0]
    if node.op == "sum_to_size":
        shape = tuple(node.attrs["shape"])
        lead = x.ndim - len(shape)
        return tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                          if s == 1 and x.shape[lead + i] != 1)
    dim = node.attrs.get("dim")
    if node.op == "softmax" or node.op == "log_softmax":
        return (dim % x.ndim,)
    if dim is None:
        return tuple(range(x.ndim))
    if isinstance(dim, int):
        return (dim % x.ndim,)
    return tuple(sorted(d % x.ndim for d in dim))


def _keep(shape, dims) -> tuple:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _squeeze(shape, dims) -> tuple:
    return tuple(s for i, s in enumerate(shape) if i not in dims)


class _Group:
    """A fusion group being formed: its domain shape, reduced dims and members."""

    def __init__(self, gid: int, full: tuple):
        self.id = gid
        self.full = full
        self.dims: tuple = ()
        self.members: list = []
        self.layout: dict[int, str] = {}   # value id -> "F" (full), "K" (keepdim), "Q" (squeezed)

    def layout_of(self, shape) -> str | None:
        if shape == self.full:
            return "F"
        if self.dims and shape == _keep(self.full, self.dims):
            return "K"
        if self.dims and shape == _squeeze(self.full, self.dims):
            return "Q"
        return None


def _try_join(g: _Group, node, kind: str) -> bool:
    """Add `node` to `g` when its shapes fit; records the output layout."""
    vals = node.value_inputs
    if kind in ("reduce", "softmax"):
        x = vals[0]
        dims = _reduce_dims(node)
        if x.id not in g.layout or g.layout[x.id] != "F" or x.shape != g.full:
            return False
        if g.dims and g.dims != dims:
            return False
        g.dims = dims
        if kind == "softmax":
            lay = "F"
        else:
            keep = node.attrs.get("keepdim", False) if node.op != "sum_to_size" else \
                _sum_to_size_keep(node)
            lay = "K" if keep or len(dims) == 0 else "Q"
            if not keep and len(dims) == len(g.full):
                lay = "Q"
    else:
        lay = g.layout_of(node.out.shape)
        if lay is None:
            return False
        for x in vals:
            xl = g.layout.get(x.id)
            if xl is None:
                continue
            if lay == "F" and xl not in ("F", "K") or lay != "F" and xl != lay:
                return False
            if lay == "F" and xl == "K" and x.ndim != len(g.full):
                return False
    g.layout[node.out.id] = lay
    g.members.append(node)
    return True


def _groups(graph: Graph) -> dict[int, _Group]:
    """Greedy fusion in topological order; returns node out id -> group."""
    group_of: dict[int, _Group] = {}
    deps: dict[int, frozenset] = {v.id: frozenset() for v in graph.inputs}
    # groups each group's members read from (through values outside it): a group grows after
    # the deps of values computed earlier were recorded, so a join checks reachability here
    gdeps: dict[int, set] = {}
    ngroups = 0

    def reaches(start, target: int) -> bool:
        stack, seen = list(start), set()
        while stack:
            h = stack.pop()
            if h == target:
                return True
            if h not in seen:
                seen.add(h)
                stack.extend(gdeps.get(h, ()))
        return False

    for node in graph.nodes:
        kind = _fusible(node)
        joined = None
        if kind is not None:
            for x in node.value_inputs:
                g = group_of.get(x.id)
                if g is None or g is joined:
                    continue
                others = [y for y in node.value_inputs if group_of.get(y.id) is not g]
                if any(reaches(deps.get(y.id, ()), g.id) for y in others):
                    continue
                if _try_join(g, node, kind):
                    joined = g
                    break
            if joined is None:
                full = node.value_inputs[0].shape if kind in ("reduce", "softmax") \
                    else node.out.shape
                g = _Group(ngroups, tuple(full))
                ngroups += 1
                # a new group: inputs are external; the node defines the first layout
                for x in node.value_inputs:
                    g.layout.pop(x.id, None)
                if kind in ("reduce", "softmax"):
                    g.layout[node.value_inputs[0].id] = "F"
                    ok = _try_join(g, node, kind)
                    del g.layout[node.value_inputs[0].id]
                else:
                    ok = _try_join(g, node, kind)
                if ok:
                    joined = g
        d = frozenset()
        for x in node.value_inputs:
            d |= deps.get(x.id, frozenset())
        if joined is not None:
            group_of[node.out.id] = joined
            reads = gdeps.setdefault(joined.id, set())
            for x in node.value_inputs:
                if group_of.get(x.id) is not joined:
                    reads.update(deps.get(x.id, ()))
            reads.discard(joined.id)
            d |= {joined.id}
        deps[node.out.id] = d
    _merge_producers(graph, group_of)
    return group_of


def _merge_producers(graph: Graph, group_of: dict) -> None:
    """Fold an elementwise group into its only consumer group (`sigmoid(x)` feeding a chain
    that started elsewhere): its values then never go to memory. Safe from cycles because
    nothing outside the consumer reads the producer."""
    users = graph.users()
    outputs = {v.id for v in graph.outputs}
    index = {n.out.id: i for i, n in enumerate(graph.nodes)}
    changed = True
    while changed:
        changed = False
        for p in {id(g): g for g in group_of.values()}.values():
            if p.dims:
                continue
            consumers = set()
            for m in p.members:
                if m.out.id in outputs:
                    consumers.add(None)
                for u in users.get(m.out.id, ()):
                    g = group_of.get(u.out.id)
                    if g is not p:
                        consumers.add(id(g) if g is not None else None)
            if len(consumers) != 1 or None in consumers:
                continue
            c = next(g for g in group_of.values() if id(g) == next(iter(consumers)))
            if c.full != p.full or any(p.layout[m.out.id] != "F" for m in p.members):
                continue
            members = sorted(c.members + p.members, key=lambda n: index[n.out.id])
            c.members = members
            for m in p.members:
                c.layout[m.out.id] = "F"
                group_of[m.out.id] = c
            changed = True
            break


# ----- building kernels ----------------------------------------------------------------------

def _domain(g: _Group):
    """Domain dim order (outer dims, then reduced dims) over the group's full shape."""
    outer = [d for d in range(len(g.full)) if d not in g.dims]
    order = outer + list(g.dims)
    n_outer = len(outer)
    sizes = tuple(g.full[d] for d in order)
    if n_outer == 0:       # a full reduction: one outer point
        return [None] + order, 1, (1,) + sizes
    return order, n_outer, sizes


def _axes_for(shape: tuple, layout: str, g: _Group, order) -> tuple:
    """For a value of `shape` broadcast onto `layout`, its array axis along each domain dim."""
    if layout == "Q":
        target = [d for d in range(len(g.full)) if d not in g.dims]
    else:
        target = list(range(len(g.full)))
    lead = len(target) - len(shape)
    axis_of_full = {}
    for i, s in enumerate(shape):
        if lead + i < 0:
            # A size-1 dim kept by a reduction (sum_to_size (1, 2) -> (1,) reduces both
            # domain dims): it maps to no domain dim.
            continue
        fd = target[lead + i]
        if not (s == 1 and g.full[fd] != 1):
            axis_of_full[fd] = i
    return tuple(axis_of_full.get(d) if d is not None else None for d in order)


def _build_step(g: _Group, graph: Graph, users: dict, outputs: set) -> KernelStep:
    order, n_outer, sizes = _domain(g)
    members = {n.out.id for n in g.members}
    inputs: list[BufferSpec] = []
    in_index: dict[tuple, int] = {}
    reads = []          # (node, input position, buffer index) for external values
    for n in g.members:
        lay = g.layout[n.out.id]
        if n.op in _REDUCE_KIND or n.op in ("softmax", "log_softmax"):
            lay = "F"
        for j, x in enumerate(n.inputs):
            if isinstance(x, Value) and x.id not in members:
                key = (x.id, lay)
                if key not in in_index:
                    in_index[key] = len(inputs)
                    inputs.append(BufferSpec(x, x.shape, _axes_for(x.shape, lay, g, order)))
                reads.append((n, j, in_index[key]))
    outs = [n for n in g.members
            if n.out.id in outputs or any(u.out.id not in members for u in users.get(n.out.id, ()))]
    out_specs = [BufferSpec(n.out, n.out.shape, _axes_for(n.out.shape, g.layout[n.out.id], g,
                                                          order)) for n in outs]
    read_buf = {(id(n), j): b for n, j, b in reads}
    nbuf = len(inputs) + len(out_specs)
    params = []         # size expressions passed per call (symbolic graphs)
    for n in g.members:
        for x in n.inputs:
            if not isinstance(x, Value) and has_sym(x) and x not in params:
                params.append(x)

    # Reducing dims that leave the array's last dim alone (a bias gradient's sum over the batch)
    # reads memory with a stride along the reduced dims: a column kernel runs the kept last dim
    # innermost instead (compiler/kernel_ir.py). Its last outer dim is the array's last dim.
    column = bool(g.dims) and len(g.full) - 1 not in g.dims and order[0] is not None and \
        g.full[-1] != 1 and not any(n.op in ("argmax", "argmin") for n in g.members)

    def build(inner_unit: tuple, column: bool = False):
        kb = KernelBuilder(n_outer, len(sizes) - n_outer, column=column)
        kb.params = params
        ndim = len(sizes)
        unit_dim = n_outer - 1 if column else ndim - 1

        def access(b, spec):
            strides = []
            for d, ax in enumerate(spec.axes):
                if ax is None:
                    strides.append(0)
                elif d == unit_dim and inner_unit[b]:
                    strides.append(1)
                else:
                    strides.append(RUNTIME)
            return Access(b, tuple(strides))

        for spec in inputs:
            kb.buffer(spec.value.dtype.name, False)
        for spec in out_specs:
            kb.buffer(spec.value.dtype.name, True)
        val: dict[int, int] = {}
        for n in g.members:
            val[n.out.id] = _emit(kb, n, lambda j, n=n: _arg(kb, n, j, val, read_buf, inputs,
                                                               access))
        for i, spec in enumerate(out_specs):
            b = len(inputs) + i
            kb.store(access(b, spec), val[spec.value.id])
        return kb.finish("k")

    return KernelStep(list(g.members), sizes, n_outer, inputs, out_specs, build, column,
                      params) if nbuf else None


def _arg(kb, n, j, val, read_buf, inputs, access):
    """Instr for input j of node n (a group value, a loaded buffer, or a constant)."""
    x = n.inputs[j]
    if isinstance(x, Value):
        if x.id in val:
            return val[x.id], x.dtype.name
        b = read_buf[id(n), j]
        return kb.load(access(b, inputs[b]), x.dtype.name), x.dtype.name
    return x, None


# ----- the plan --------------------------------------------------------------------------------

def _is_transpose(node) -> bool:
    return node is not None and node.op == "permute" and tuple(node.attrs["dims"]) == (1, 0)


def transpose_gemm_outputs(graph: Graph) -> bool:
    """Rewrite `permute(matmul(a, b), (1, 0))` as `matmul(b.T, a.T)` when the transpose is the
    product's only reader; returns whether anything changed.

    A Linear weight's gradient is `(x.T @ g).T`: computed as written, the GEMM fills a
    (in, out) array and the optimizer's update reads it transposed, a strided inner loop that
    does not vectorise (measured: 1.4 ms of a 4.5 ms batch-8 MLP step). `g.T @ x` lands in the
    weight's own layout; the operand transposes are BLAS flags, not copies.
    """
    users = graph.users()
    outputs = {v.id for v in graph.outputs}
    changed = False
    i = 0
    while i < len(graph.nodes):
        node = graph.nodes[i]
        mm = node.inputs[0].node if _is_transpose(node) else None
        if mm is None or mm.op != "matmul" or mm.out.id in outputs or \
                len(users.get(mm.out.id, ())) != 1 or \
                any(not isinstance(x, Value) or x.ndim != 2 for x in mm.inputs):
            i += 1
            continue
        operands = []
        for x in reversed(mm.inputs):       # (a @ b).T = b.T @ a.T
            if _is_transpose(x.node):
                operands.append(x.node.inputs[0])
            else:
                operands.append(graph.add_node("permute", [x], {"dims": (1, 0)},
                                               x.shape[::-1], x.dtype, x.device, index=i))
                i += 1
        node.op, node.inputs, node.attrs = "matmul", operands, {}
        node.compute_dtype = mm.compute_dtype
        graph.nodes.remove(mm)
        users = graph.users()
        changed = True
    return changed


def _first_ready_order(edges: dict, pos: dict) -> list:
    """Topological order of the DAG `edges` (vertex -> successors) that always takes the ready
    vertex with the smallest `pos` (networkx's lexicographical_topological_sort with that key;
    written out so that lowering a graph from the graph cache does not import networkx)."""
    indegree = dict.fromkeys(edges, 0)
    for succ in edges.values():
        for w in succ:
            indegree[w] += 1
    ready = [(pos[v], v) for v, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, v = heapq.heappop(ready)
        order.append(v)
        for w in edges[v]:
            indegree[w] -= 1
            if indegree[w] == 0:
                heapq.heappush(ready, (pos[w], w))
    if len(order) != len(edges):
        raise RuntimeError("lower: the steps' dependencies form a cycle (a fusion bug)")
    return order


def lower(graph: Graph) -> Plan:
    """Group, order and describe every node's step (see the module docstring)."""
    transpose_gemm_outputs(graph)
    group_of = _groups(graph)
    users = graph.users()
    outputs = {v.id for v in graph.outputs}
    groups: dict[int, _Group] = {}
    for n in graph.nodes:
        g = group_of.get(n.out.id)
        if g is not None:
            groups[g.id] = g
    # Condensed DAG: one vertex per group, one per other node; ordered by first appearance.
    pos = {}
    vertex_of = {}
    for i, n in enumerate(graph.nodes):
        g = group_of.get(n.out.id)
        v = ("g", g.id) if g is not None else ("n", i)
        vertex_of[n.out.id] = v
        pos.setdefault(v, i)
    edges = {v: set() for v in pos}
    for n in graph.nodes:
        for x in n.value_inputs:
            if x.id in vertex_of and vertex_of[x.id] != vertex_of[n.out.id]:
                edges[vertex_of[x.id]].add(vertex_of[n.out.id])
    steps = []
    for v in _first_ready_order(edges, pos):
        if v[0] == "g":
            g = groups[v[1]]
            step = _build_step(g, graph, users, outputs)
            desc = "+".join(m.op for m in g.members)
            for m in g.members:
                m.meta["ran"] = (f"llvm kernel {len(steps)}" +
                                 (f" (fused: {desc})" if len(g.members) > 1 else ""))
            steps.append(step)
        else:
            n = graph.nodes[v[1]]
            if n.op == "matmul" and all(_dt(x) in ("float32", "float64")
                                        for x in n.value_inputs):
                n.meta["ran"] = "extern: BLAS gemm"
                steps.append(ExternStep(n, "matmul"))
            else:
                reason = n.meta.pop("why", None) or LOWERING.get(n.op) or \
                    "interpreter: not an op of the table"
                if not reason.startswith("interpreter"):
                    reason = f"interpreter: {reason}"
                n.meta["ran"] = reason
                steps.append(NodeStep(n, reason))
    return Plan(graph, steps)
