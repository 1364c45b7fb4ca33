"""Runs compiled functions: the guarded cache, the tree of traced segments, and write-backs.

A `CompiledFunction` keeps up to `cache_size_limit` entries. Each `Entry` has a `GuardSet` and a
tree of `Segment`s: a trace is split at every value the function read into Python (a graph
break); the segment before a break runs compiled, its value is computed and looked up among the
segment's children, and the child traced for that outcome runs next. An outcome seen for the first
time is traced then (the whole call re-runs eagerly under the tracer, which is safe because no
segment commits anything before the path completes: write-backs happen at the end) and merged
into the tree. Segments are compiled lazily: their exports (values later segments read) depend on
the children known so far, so a new child invalidates its ancestors' compiled forms.

Modules: this one holds `CompiledFunction` (cache, misses, tracing, dynamic shapes, the call
path and a leaf's per-call plan); runtime/segments.py the tree (`Entry`, `Segment`, the backend
choice); runtime/writeback.py the write-backs.
"""

from __future__ import annotations

import warnings

from compiler.dynamic import _quiet  # silences print() during hidden traces
from compiler.sources import scan_roots
from compiler.trace import GraphBreakError, TraceResult, trace
from dyngraph._dispatch import state
from dyngraph._tensor import _wrap

from . import logs
# the tree and the write-backs live in their own modules; their names stay importable from here
from .segments import (Entry, Segment, _backward_program, _chain, _concrete,  # noqa: F401
                       _make_program, _remap)
from .writeback import _copy_targets, _owner, _write_back  # noqa: F401

__all__ = ["CompiledFunction", "Segment", "Entry", "CACHE_SIZE_LIMIT", "all_compiled"]

CACHE_SIZE_LIMIT = 8
_REGISTRY: list = []    # weak references to every CompiledFunction (dyngraph.reset clears them)


def all_compiled():
    """Every live CompiledFunction (for `dyngraph.reset`)."""
    import weakref  # noqa: F401
    return [r() for r in _REGISTRY if r() is not None]


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
                if prog.interpreter is None and (
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
