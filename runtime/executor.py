"""Runs compiled functions: the guarded cache, the tree of traced segments, and write-backs.

A `CompiledFunction` keeps up to `cache_size_limit` entries. Each `Entry` has a `GuardSet` and a
tree of `Segment`s: a trace is split at every value the function read into Python (a graph
break); the segment before a break runs compiled, its value is computed and looked up among the
segment's children, and the child traced for that outcome runs next. An outcome seen for the first
time is traced then (the whole call re-runs eagerly under the tracer, which is safe because no
segment commits anything before the path completes: write-backs happen at the end) and merged
into the tree. Segments are compiled lazily: their exports (values later segments read) depend on
the children known so far, so a new child invalidates its ancestors' compiled forms.
"""

from __future__ import annotations

import warnings

import numpy as np

from compiler.guards import GuardSet
from compiler.dynamic import _quiet  # silences print() during hidden traces
from compiler.interpreter import Interpreter
from compiler.ir import Graph, Value
from compiler.passes.manager import run_pipeline
from compiler.sources import scan_roots
from compiler.trace import GraphBreakError, TraceResult, outcome_key, trace
from dyngraph._dispatch import state
from dyngraph._tensor import _wrap

from . import logs

__all__ = ["CompiledFunction", "Segment", "Entry", "CACHE_SIZE_LIMIT", "all_compiled"]

CACHE_SIZE_LIMIT = 8
_REGISTRY: list = []    # weak references to every CompiledFunction (dyngraph.reset clears them)


def all_compiled():
    """Every live CompiledFunction (for `dyngraph.reset`)."""
    import weakref  # noqa: F401
    return [r() for r in _REGISTRY if r() is not None]


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
        g = raw.copy()
        self.report = run_pipeline(g)
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


def _make_program(graph: Graph, backend: str, donate: dict | None = None):
    """The runner for a segment graph: "llvm" (and "auto" on the CPU) compile with LLVM,
    "cuda"/"cuda:reduce-overhead" (and "auto" with CUDA inputs) with CUDA kernels."""
    from .cuda_backend import wants_cuda
    if wants_cuda(graph, backend):
        from .cuda_backend import program_for as cuda_program
        return cuda_program(graph, backend)
    if backend in ("llvm", "auto"):
        from .llvm_backend import program_for
        return program_for(graph, backend, donate)
    return Interpreter(graph)


def _backward_program(graph: Graph, backend: str):
    """A compiled-autograd backward graph's runner on `backend` (after the pass pipeline), so
    `loss.backward()` runs LLVM or CUDA kernels too (attach_backward builds an Interpreter
    otherwise)."""
    g = graph.copy()
    run_pipeline(g)
    return _make_program(g, backend)


def _concrete(arr, kind):
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
        if self.sym_at:     # symbolic graphs run on the interpreter (it substitutes the sizes)
            syms = {n: arrays[i].shape[d] for n, i, d in self.sym_at}
            backend = "interpreter"
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


class _LeafPlan:
    """What a leaf segment's results need on every call, worked out once: output positions,
    one generated function fetching every tensor the call touches afterwards (gradient
    sources and write-back targets, each source expression evaluated once), and per
    compiled-autograd output the positions of its saved values and replay leaves."""

    def __init__(self, entry: Entry, leaf: Segment):
        out_spec, writebacks, out_values, n_out, backward, diff_srcs = leaf.leaf
        self.n_inputs = len(entry.inputs)
        self.out_spec = out_spec
        self.out_ids = [v.id for v in out_values]
        self.n_out = n_out
        self.writebacks = writebacks
        self.n_wb = sum(1 for w in writebacks if w.value is not None)
        self.backward = []
        exprs: dict[str, int] = {}

        def at(src) -> int:
            return exprs.setdefault(src.expr, len(exprs))

        self.diff_at = [at(s) for s in diff_srcs] if backward else []
        self.wb_at = [at(w.source) for w in writebacks]
        if backward:
            pos = {v.id: i for i, v in enumerate(out_values)}
            diff_of = {s.expr: k for k, s in enumerate(diff_srcs)}
            input_diff = {v.id: diff_of.get(s.expr) for s, v, _ in entry.inputs}
            for i, prog in backward:
                self.backward.append((i, prog, [pos[v.id] for v in prog.saved],
                                      [(v.id, input_diff.get(v.id)) for v in prog.fwd_leaves]))
        self.fetch = None
        if exprs:
            self.fetch = _source_fn("(" + "".join(f"{e}, " for e in exprs) + ")",
                                    entry.bindings)


def _attach_backward(*args):
    from compiler.autograd import attach_backward
    global _attach_backward
    _attach_backward = attach_backward      # imported on first use (an import cycle otherwise)
    return attach_backward(*args)


def _owner(a):
    """The ndarray owning `a`'s memory, None for memory numpy does not own (a foreign buffer:
    compare such arrays by address range)."""
    b = a.base
    while b is not None:
        if type(b) is not np.ndarray:
            return None
        a, b = b, b.base
    return a


def _copy_targets(writebacks, targets) -> dict:
    """{id(owner ndarray) or None (foreign memory): [(tensor, array)]} of the "copy" targets."""
    out: dict = {}
    for w, t in zip(writebacks, targets):
        if w.kind == "copy":
            d = t._data
            o = _owner(d) if type(d) is np.ndarray else None
            out.setdefault(None if o is None else id(o), []).append((t, d))
    return out


def _write_back(writebacks, targets: list, values: list) -> None:
    """Replay a path's effects on the tensors it changed: in-place copies, `.data` rebinding,
    `.grad` set or cleared. An array that aliases another copy target is copied first; only
    arrays in the same numpy allocation (or foreign memory) are compared."""
    copied = _copy_targets(writebacks, targets)
    it = iter(values)
    given = set()       # an array handed to one tensor is copied for the next
    for w, t in zip(writebacks, targets):
        arr = next(it) if w.value is not None else None
        if arr is not None:
            if not (w.kind == "copy" and arr is t._data):
                o = _owner(arr) if type(arr) is np.ndarray else None
                near = copied.get(None, []) + copied.get(id(o), []) if o is not None else \
                    [p for ps in copied.values() for p in ps]
                if (w.kind != "copy" and id(arr) in given) or any(
                        u is not t and np.may_share_memory(arr, d) for u, d in near):
                    arr = arr.copy()
            given.add(id(arr))
        if w.kind == "copy":
            if arr is not t._data:      # (else the backend wrote it in place)
                t._data[...] = arr
            t._vc[0] += 1
        elif w.kind == "set_data":
            t._data = arr
            copied = _copy_targets(writebacks, targets)     # a copy target may have moved
        elif w.kind == "set_grad":
            t._grad = _wrap(arr)
        elif w.kind == "grad_none":
            t._grad = None
        elif w.kind == "set_item":
            t[w.extra] = _wrap(arr)


def _has_marks(args, kwargs) -> bool:
    """Whether a tensor argument has dims marked with `dyngraph.mark_dynamic`."""
    return any("_dynamo_dynamic_indices" in getattr(x, "__dict__", ())
               for x in (*args, *kwargs.values()))


def _take_result(tr: TraceResult):
    """The trace's eager result, dropped from the kept trace (it may be large)."""
    result, tr.result = tr.result, None
    return result


def _source_fn(expr: str, bindings: dict):
    ns = dict(bindings)
    exec(f"def get(a, kw):\n    return {expr}\n", ns)
    return ns["get"]


class CompiledFunction:
    """What `dyngraph.compile(fn)` returns: a callable with a guarded cache of compiled paths."""

    def __init__(self, fn, *, fullgraph=False, dynamic=None, backend="interpreter",
                 options=None, self_obj=None):
        import weakref
        self.fn = fn
        self.self_obj = self_obj
        self.fullgraph = fullgraph
        self.dynamic = dynamic
        self.backend = backend
        self.options = dict(options or {})
        self.cache_size_limit = int(self.options.get("cache_size_limit", CACHE_SIZE_LIMIT))
        self.entries: list[Entry] = []
        self.events: list[str] = []       # recompiles, breaks, fallbacks (for explain)
        self._warned = False
        self._wb_cache: dict = {}
        _REGISTRY.append(weakref.ref(self))

    def reset(self) -> None:
        """Forget every cached entry."""
        self.entries.clear()
        self.events.clear()
        self._wb_cache.clear()
        self._warned = False

    # ----- calling -----------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if state.tracer is not None:      # called from inside another trace: just inline it
            return self.fn(*args, **kwargs)
        for entry in self.entries:
            arrays = entry.guards.check(args, kwargs)
            if arrays is None:
                continue
            if entry.root is None:
                return self.fn(*args, **kwargs)   # this signature runs eagerly
            return self._run(entry, arrays, args, kwargs)
        return self._miss(args, kwargs)

    def _miss(self, args, kwargs):
        if self.entries:
            reason = self.entries[-1].guards.first_failure(args, kwargs)
            self.events.append(f"recompile: guard failed: {reason}")
            logs.log("recompiles", lambda: f"recompiling {self._name()}: guard failed: {reason}")
        if len(self.entries) >= self.cache_size_limit:
            if not self._warned:
                warnings.warn(
                    f"dyngraph.compile: {self._name()} reached the cache size limit "
                    f"({self.cache_size_limit}); calls that match no cached entry run eagerly "
                    "(raise it with options={'cache_size_limit': n})", RuntimeWarning,
                    stacklevel=3)
                self._warned = True
            return self.fn(*args, **kwargs)
        grad = state.grad_enabled
        base, plan = self._dynamic_plan(args, kwargs)
        if plan is not None:
            return self._trace_dynamic(base, plan, args, kwargs)
        if self.dynamic is True or _has_marks(args, kwargs):
            done, result = self._trace_first_dynamic(args, kwargs)
            if done:
                return result
        tr = self._trace(args, kwargs)
        entry = Entry(tr, args, kwargs, grad)
        if tr.poisoned is not None:
            self.events.append(f"eager fallback: {tr.poisoned}")
            logs.log("graph_breaks", lambda: f"{self._name()} runs eagerly: {tr.poisoned}")
        self.entries.append(entry)
        return _take_result(tr)

    # ----- dynamic shapes ----------------------------------------------------------------------
    def _dynamic_plan(self, args, kwargs):
        """(entry, plan) when this miss only changed argument sizes (see compiler.dynamic)."""
        from compiler.dynamic import plan_dynamic
        for entry in reversed(self.entries):
            if entry.trace is None or entry.root is None:
                continue

            def fetch_shape(src, entry=entry):
                try:
                    return tuple(self._get(entry, src)(args, kwargs)._data.shape)
                except Exception:   # noqa: BLE001 - the argument is no longer a tensor
                    return None
            plan = plan_dynamic(entry, args, kwargs, fetch_shape)
            if plan is not None and (self.dynamic is not False or self._all_marked(
                    entry, plan, args, kwargs)):
                return entry, plan
        return None, None

    def _all_marked(self, entry, plan, args, kwargs) -> bool:
        """With dynamic=False, only dims asked for with `dyngraph.mark_dynamic` turn symbolic."""
        for i, d in plan["dims"]:
            t = self._get(entry, entry.inputs[i][0])(args, kwargs)
            if d not in t.__dict__.get("_dynamo_dynamic_indices", ()):
                return False
        return True

    def _trace_first_dynamic(self, args, kwargs):
        """dynamic=True / mark_dynamic on a miss: a shadow trace at other sizes (its effects on
        parameters, optimizer state and generators undone) is the reference the real trace is
        unified with, so the first graph is already symbolic. Returns (done, result)."""
        from compiler.dynamic import (first_call_attempts, preserved_state,
                                      shadow_arguments)
        why = "no dim to make symbolic"
        for attempt in first_call_attempts(args, kwargs, self.dynamic):
            sargs, skw, plan = shadow_arguments(args, kwargs, attempt)
            scan = scan_roots(self.fn, sargs, skw, self.self_obj)
            try:
                with preserved_state(scan), _quiet():
                    ref = trace(self.fn, sargs, skw, scan, fullgraph=self.fullgraph,
                                recompute=bool(self.options.get("recompute", True)))
            except GraphBreakError:
                raise
            except Exception as e:   # noqa: BLE001 - these sizes do not fit (a weight's dim)
                why = f"a shadow trace at other sizes failed: {type(e).__name__}: {e}"
                continue
            ref.result = None
            if ref.poisoned is not None:
                why = f"the function runs eagerly: {ref.poisoned}"
                break
            return True, self._trace_dynamic(None, plan, args, kwargs, reference=ref,
                                             attempt=attempt)
        self.events.append(f"dynamic: first graph static ({why})")
        return False, None

    def _trace_dynamic(self, base: Entry | None, plan: dict, args, kwargs, reference=None,
                       attempt=None):
        """Trace against `base`'s trace (or a shadow `reference` trace); one symbolic entry
        replaces it (or is added) when the two unify, else the new trace stays static."""
        from compiler.dynamic import SizeCheck, Specialize, plan_dims, unify_traces
        ref = reference if reference is not None else base.trace
        dims = ", ".join(f"{plan['labels'][n]} ({a} -> {b})"
                         for n, (a, b) in plan["syms"].items())
        check = SizeCheck(self.fn, args, kwargs, self_obj=self.self_obj, fullgraph=self.fullgraph,
                          recompute=bool(self.options.get("recompute", True)))
        tr = self._trace(args, kwargs, context=lambda tracer: check.tracking(tracer, ref, plan))
        try:
            if tr.poisoned is not None:
                raise Specialize(f"the new trace runs eagerly: {tr.poisoned}")
            if attempt is not None:
                plan_dims(plan, tr, attempt)
            sym_dims = unify_traces(ref, tr, plan, check=check)
        except Specialize as e:
            self.events.append(f"dynamic: {dims} stays static: {e}")
            logs.log("recompiles", lambda: f"{self._name()}: {dims} stays static: {e}")
            self.entries.append(Entry(tr, args, kwargs, state.grad_enabled))
            return _take_result(tr)
        for name, where in sym_dims.items():
            first = plan["exprs"][name]
            for i, d in where[1:]:
                e = f"{tr.input_sources[i].expr}._data.shape[{d}]"
                tr.scan.guards.append((f"{e} == {first}",
                                       f"{tr.input_sources[i].label}.shape[{d}] == "
                                       f"{plan['labels'][name]}"))
        seen = set()
        for g in tr.size_guards:
            if g not in seen:
                seen.add(g)
                tr.scan.guards.append(g)
        entry = Entry(tr, args, kwargs, state.grad_enabled, sym_dims=sym_dims)
        if base is None:
            self.entries.append(entry)
        else:
            self.entries[self.entries.index(base)] = entry
        names = ", ".join(f"{plan['labels'][n]} = {n}" for n in sym_dims)
        self.events.append(f"dynamic: {names} symbolic (sizes {dims}); one graph serves "
                           "every size >= 2")
        logs.log("recompiles", lambda: f"{self._name()}: {names} symbolic")
        return _take_result(tr)

    def _trace(self, args, kwargs, context=None) -> TraceResult:
        scan = scan_roots(self.fn, args, kwargs, self.self_obj)
        try:
            tr = trace(self.fn, args, kwargs, scan, fullgraph=self.fullgraph, context=context,
                       recompute=bool(self.options.get("recompute", True)))
        except GraphBreakError:
            raise
        self.events.extend(f"note: {n}" for n in tr.notes if f"note: {n}" not in self.events)
        for b in tr.breaks:
            self.events.append(f"graph break: .{b.kind}() at {b.line}")
            logs.log("graph_breaks", lambda b=b: f"graph break in {self._name()}: .{b.kind}() "
                     f"at {b.line}")
        if tr.poisoned is None:
            logs.log("graphs", lambda: f"traced {self._name()}:\n{tr.graph.text()}")
        return tr

    def _run(self, entry: Entry, arrays, args, kwargs):
        entry.backend = self.backend
        leaf, env, syms = entry.run(arrays)
        if env is None:
            # A new outcome at a graph break: nothing was committed, trace this path now.
            brk = leaf.brk
            if len(leaf.children) >= self.cache_size_limit:
                if not self._warned:
                    warnings.warn(
                        f"dyngraph.compile: the graph break at {brk.line} has seen more than "
                        f"{self.cache_size_limit} outcomes; new outcomes run eagerly",
                        RuntimeWarning, stacklevel=3)
                    self._warned = True
                return self.fn(*args, **kwargs)
            self.events.append(f"new outcome at graph break .{brk.kind}() at {brk.line}")
            tr = self._trace(args, kwargs)
            if entry.sym_dims:      # a static entry for this size, checked before the symbolic one
                self.entries.insert(self.entries.index(entry),
                                    Entry(tr, args, kwargs, state.grad_enabled))
            elif not entry.merge(tr):
                self.entries.append(Entry(tr, args, kwargs, state.grad_enabled))
            else:
                entry.build_guards(args, kwargs)
            return _take_result(tr)
        plan = leaf.leaf_plan
        if plan is None or plan.n_inputs != len(entry.inputs):
            plan = leaf.leaf_plan = _LeafPlan(entry, leaf)
        outs = [env[i] for i in plan.out_ids]
        n_out = plan.n_out
        tensors = [_wrap(a) for a in outs[:n_out]]
        fetched = plan.fetch(args, kwargs) if plan.fetch is not None else ()
        if plan.backward and state.grad_enabled:
            diff = [fetched[k] for k in plan.diff_at]
            for i, prog, saved_at, leaves_at in plan.backward:
                if prog.interpreter is None and not syms and (
                        self.backend in ("llvm", "auto") or self.backend.startswith("cuda")):
                    prog.interpreter = _backward_program(prog.graph, self.backend)
                saved = [outs[k] for k in saved_at]
                leaves = {vid: diff[k] if k is not None and diff[k] is not None else env[vid]
                          for vid, k in leaves_at}
                _attach_backward(tensors[i], prog, diff, saved, syms, leaves)
        if plan.writebacks:
            _write_back(plan.writebacks, [fetched[k] for k in plan.wb_at],
                        outs[n_out:n_out + plan.n_wb])
        return self._unflatten(entry, plan.out_spec, tensors, args, kwargs)

    def _get(self, entry, src):
        key = (id(entry), src.expr)
        f = self._wb_cache.get(key)
        if f is None:
            f = self._wb_cache[key] = _source_fn(src.expr, entry.bindings)
        return f

    def _unflatten(self, entry, spec, outs, args, kwargs):
        tag = spec[0]
        if tag == "v":
            return outs[spec[1]]
        if tag == "s":
            return self._get(entry, spec[1])(args, kwargs)
        if tag == "c":
            return spec[1]
        if tag == "nt":
            return spec[1](*(self._unflatten(entry, s, outs, args, kwargs) for s in spec[2]))
        if tag == "dict":
            return {k: self._unflatten(entry, s, outs, args, kwargs) for k, s in spec[1]}
        items = [self._unflatten(entry, s, outs, args, kwargs) for s in spec[1]]
        return tuple(items) if tag == "tuple" else items

    def _name(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))
