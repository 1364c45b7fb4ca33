"""The tree of traced segments behind one cache entry of a compiled function.

An `Entry` holds a `GuardSet` and a tree of `Segment`s: a trace is split at every value the
function read into Python (a graph break); each segment runs compiled, the value at its break
picks the child to run next, and a leaf ends one path (its results and write-backs are the
executor's, runtime/executor.py). `Entry.merge` adds a newly traced path to the tree and
invalidates the compiled forms it changes; `Segment.compile` gets the optimised graph from
`graph_cache.optimize` (the pass pipeline, or its stored result on the LLVM CPU backends) and
`_make_program` picks a segment's backend.
"""

from __future__ import annotations

import os

import numpy as np

from compiler.guards import GuardSet
from compiler.interpreter import Interpreter
from compiler.ir import Graph, Value
from compiler.trace import TraceResult, outcome_key

from . import graph_cache, logs

__all__ = ["Segment", "Entry"]


class Segment:
    """Part of one traced path between two graph breaks."""

    def __init__(self, nodes, brk=None):
        self.nodes = nodes
        self.brk = brk                  # BreakPoint ending this segment, or None (a leaf)
        self.children: dict = {}
        self.leaf = None                # (out_spec, writebacks, out_values) for a leaf
        self.program = None             # (Interpreter, import ids, export ids)
        self.report = None
        self.graph = None
        self.donate: dict = {}          # {written-back value id: input value id} (a leaf)
        self.leaf_plan = None           # _LeafPlan of a leaf (built on its first run)

    def reads(self) -> set[int]:
        defined = {n.out.id for n in self.nodes}
        out = {x.id for n in self.nodes for x in n.value_inputs} - defined
        extra = []
        if self.brk is not None:
            extra.append(self.brk.value)
        if self.leaf is not None:
            extra.extend(self.leaf[2])
            for _, prog in self.leaf[4]:
                extra.extend(prog.saved)
                extra.extend(prog.extra)
        out |= {v.id for v in extra} - defined
        for c in self.children.values():
            out |= c.reads() - defined
        return out

    def compile(self, backend: str = "interpreter"):
        """Build this segment's graph (imports -> exports), run the passes, prepare it."""
        defined = {n.out.id: n.out for n in self.nodes}
        needed = set()
        if self.brk is not None:
            needed.add(self.brk.value.id)
        if self.leaf is not None:
            needed |= {v.id for v in self.leaf[2]}
        for c in self.children.values():
            needed |= c.reads()
        exports = [defined[i] for i in sorted(needed) if i in defined]
        imports, seen = [], set()
        for n in self.nodes:
            for x in n.value_inputs:
                if x.id not in defined and x.id not in seen:
                    seen.add(x.id)
                    imports.append(x)
        raw = Graph(imports, self.nodes, exports)
        # the pass pipeline, or its recorded result from the disk cache (CPU backends)
        g, self.report = graph_cache.optimize(raw, _cache_backend(raw, backend))
        self.graph = g
        logs.log("graphs", lambda: "segment graph:\n" + g.text())
        self.program = (_make_program(g, backend, self._donations(raw, g)),
                        [v.id for v in imports], [v.id for v in exports])

    def _donations(self, raw: Graph, g: Graph) -> dict:
        """{output id: input id} of `g` for in-place write-backs ("copy") of a leaf whose value
        nothing else reads from outside: the backend may write them into the input's array."""
        pairs = self.donate
        if not pairs or self.leaf is None:
            return {}
        visible = {v.id for v in self.leaf[2][:self.leaf[3]]}
        for _, prog in self.leaf[4]:
            visible |= {v.id for v in prog.saved} | {v.id for v in prog.extra}
        in_pos = {v.id: i for i, v in enumerate(raw.inputs)}
        out_pos = {v.id: i for i, v in enumerate(raw.outputs)}
        out = {}
        for val_id, in_id in pairs.items():
            if val_id in visible or in_id not in in_pos or val_id not in out_pos:
                continue
            out[g.outputs[out_pos[val_id]].id] = g.inputs[in_pos[in_id]].id
        return out

    def run(self, env: dict, backend: str = "interpreter", syms: dict | None = None) -> None:
        if self.program is None:
            self.compile(backend)
        interp, imports, exports = self.program
        if syms:
            outs = interp([env[i] for i in imports], syms=syms)
        else:
            outs = interp([env[i] for i in imports])
        for i, a in zip(exports, outs):
            env[i] = a

    def invalidate(self) -> None:
        self.program = None


def _wants_cuda(graph: Graph, backend: str) -> bool:
    """cuda_backend.wants_cuda without importing the CUDA backend (and its renderers) for a
    CPU backend: "cuda..." always, "auto" when an input lives on a CUDA device."""
    if backend.startswith("cuda"):
        return True
    if backend != "auto" or all(getattr(v.device, "type", "cpu") == "cpu" for v in graph.inputs):
        return False
    from .cuda_backend import wants_cuda
    return wants_cuda(graph, backend)


def _cache_backend(graph: Graph, backend: str) -> str:
    """The backend name the graph cache sees ("cuda" for a graph CUDA runs: not cached)."""
    return "cuda" if _wants_cuda(graph, backend) else backend


def _make_program(graph: Graph, backend: str, donate: dict | None = None):
    """The runner for a segment graph: "llvm" (and "auto" on the CPU) compile with LLVM,
    "cuda"/"cuda:reduce-overhead" (and "auto" with CUDA inputs) with CUDA kernels."""
    if _wants_cuda(graph, backend):
        # CUDAProgram takes sizes and size parameters as kernel arguments, but has not run a
        # symbolic graph on a device yet: opt in with DYNGRAPH_CUDA_SYMBOLIC=1 (a GPU session
        # checks it: tests/cuda/test_cuda_runtime.py) before it becomes the default
        if _symbolic(graph) and os.environ.get("DYNGRAPH_CUDA_SYMBOLIC") != "1":
            return Interpreter(graph)
        from .cuda_backend import program_for as cuda_program
        return cuda_program(graph, backend)
    if backend in ("llvm", "auto"):
        from .llvm_backend import program_for
        return program_for(graph, backend, donate)
    return Interpreter(graph)


def _symbolic(graph: Graph) -> bool:
    """Whether a graph has symbolic (dynamic) sizes."""
    return any(not isinstance(d, int) for v in graph.inputs for d in v.shape)


def _backward_program(graph: Graph, backend: str):
    """A compiled-autograd backward graph's runner on `backend` (after the pass pipeline), so
    `loss.backward()` runs LLVM or CUDA kernels too (attach_backward builds an Interpreter
    otherwise)."""
    g, _ = graph_cache.optimize(graph, _cache_backend(graph, backend))
    return _make_program(g, backend)


def _concrete(arr, kind):
    if kind == "shape":
        return tuple(arr.shape)
    a = arr if type(arr) is np.ndarray else arr.get()
    if kind in ("item", "bool"):
        v = a.reshape(()).item()
        return bool(v) if kind == "bool" else v
    return a


class Entry:
    """One cache entry: guards, the inputs they fetch, and the segment tree."""

    backend = "interpreter"     # set by the CompiledFunction before each run

    def __init__(self, tr: TraceResult, args, kwargs, grad_enabled: bool, sym_dims=None):
        self.bindings = dict(tr.scan.bindings)
        self.inputs = list(zip(tr.input_sources, tr.graph.inputs, tr.input_tensors))
        self.scan = tr.scan
        self.grad_enabled = grad_enabled
        self.eager_reason = tr.poisoned
        self.root = None
        self.traces = 1
        # dynamic shapes: {sym name: [(input index, dim), ...]}; the first trace is kept as the
        # reference a size-only recompile is unified with
        self.sym_dims = sym_dims
        self.sym_at = [(n, ds[0][0], ds[0][1]) for n, ds in (sym_dims or {}).items()]
        self.trace = tr if tr.poisoned is None and not sym_dims else None
        self.build_guards(args, kwargs)
        if tr.poisoned is None:
            self.root = _chain(tr, 0)

    def build_guards(self, args, kwargs):
        ins = [(s, t, v) for s, v, t in self.inputs]
        self.guards = GuardSet.build(self.scan, args, kwargs, ins, self.grad_enabled)
        self.input_ids = [v.id for _, v, _ in self.inputs]

    def run(self, arrays):
        """Run the tree; returns the leaf segment, env and symbolic sizes (env None on a miss)."""
        env = dict(zip(self.input_ids, arrays))
        syms = None
        backend = self.backend
        if self.sym_at:     # the sizes of this call (the programs take them as arguments)
            syms = {n: arrays[i].shape[d] for n, i, d in self.sym_at}
        seg = self.root
        while True:
            if seg.program is None and seg.leaf is not None and not syms:
                by_expr = {s.expr: v.id for s, v, _ in self.inputs}
                seg.donate = {w.value.id: by_expr[w.source.expr] for w in seg.leaf[1]
                              if w.kind == "copy" and w.value is not None
                              and w.source.expr in by_expr}
            seg.run(env, backend, syms)
            if seg.brk is None:
                return seg, env, syms
            key = outcome_key(_concrete(env[seg.brk.value.id], seg.brk.kind))
            child = seg.children.get(key)
            if child is None:
                return seg, None, syms
            seg = child

    def merge(self, tr: TraceResult) -> bool:
        """Add a new path to the tree; False when the trace does not fit (start a new entry)."""
        if tr.poisoned is not None or self.sym_dims:
            return False   # (a path traced at one size cannot join a symbolic tree)
        mapping: dict[int, Value] = {}
        by_expr = {s.expr: v for s, v, _ in self.inputs}
        added = False
        for s, v, t in zip(tr.input_sources, tr.graph.inputs, tr.input_tensors):
            if s.expr in by_expr:
                mapping[v.id] = by_expr[s.expr]
            else:
                self.inputs.append((s, v, t))
                added = True
        for k, obj in tr.scan.bindings.items():
            if k in self.bindings and self.bindings[k] is not obj:
                return False
        seg = self.root
        pos = 0
        bounds = [b.pos for b in tr.breaks] + [len(tr.graph.nodes)]
        for j, end in enumerate(bounds):
            nodes = tr.graph.nodes[pos:end]
            if len(nodes) != len(seg.nodes) or any(a.op != b.op for a, b in zip(nodes, seg.nodes)):
                return False
            for a, b in zip(nodes, seg.nodes):
                mapping[a.out.id] = b.out
            pos = end
            if j == len(tr.breaks):
                return False   # the same path again: nothing to add
            key = tr.breaks[j].key
            if key in seg.children:
                seg = seg.children[key]
                continue
            _remap(tr, mapping)
            seg.children[key] = _chain(tr, j + 1)
            seg.invalidate()
            self._invalidate_all()
            if added:
                self.bindings.update(tr.scan.bindings)
                self.scan.bindings.update(tr.scan.bindings)
            self.traces += 1
            return True
        return False

    def _invalidate_all(self):
        stack = [self.root]
        while stack:
            s = stack.pop()
            s.invalidate()
            stack.extend(s.children.values())

    def segments(self):
        stack = [self.root] if self.root is not None else []
        while stack:
            s = stack.pop()
            yield s
            stack.extend(s.children.values())


def _remap(tr: TraceResult, mapping: dict):
    for n in tr.graph.nodes:
        n.inputs = [mapping.get(x.id, x) if isinstance(x, Value) else x for x in n.inputs]
    tr.graph.outputs = [mapping.get(v.id, v) for v in tr.graph.outputs]
    for b in tr.breaks:
        b.value = mapping.get(b.value.id, b.value)
    for w in tr.writebacks:
        if w.value is not None:
            w.value = mapping.get(w.value.id, w.value)
    for _, prog in tr.backward:
        prog.saved = [mapping.get(v.id, v) for v in prog.saved]
        prog.extra = [mapping.get(v.id, v) for v in prog.extra]
        prog.fwd_leaves = [mapping.get(v.id, v) for v in prog.fwd_leaves]
        prog.fwd_out = mapping.get(prog.fwd_out.id, prog.fwd_out)
        # nodes of the shared prefix are the tree's own (their outputs are what later nodes,
        # remapped above, now read)
        prog.fwd_nodes = [mapping[n.out.id].node if n.out.id in mapping else n
                          for n in prog.fwd_nodes]


def _chain(tr: TraceResult, first: int) -> Segment:
    """Segments for breaks `first`.. of a trace, linked as a chain; returns the first."""
    bounds = [0] + [b.pos for b in tr.breaks] + [len(tr.graph.nodes)]
    segs = []
    for j in range(first, len(tr.breaks) + 1):
        brk = tr.breaks[j] if j < len(tr.breaks) else None
        segs.append(Segment(tr.graph.nodes[bounds[j]:bounds[j + 1]], brk))
    for a, b in zip(segs, segs[1:]):
        a.children[a.brk.key] = b
    diff_srcs = [s for s, t in zip(tr.input_sources, tr.input_tensors) if t._rg]
    segs[-1].leaf = (tr.out_spec, tr.writebacks, list(tr.graph.outputs), tr.n_outputs,
                     tr.backward, diff_srcs)
    return segs[0]
