"""Capture: run the user's Python once, eagerly, recording every op into an IR graph.

Choice of shape inference (documented, as the issue asks): the trace runs each op's real eager rule
on the real input arrays, so shapes, dtypes and devices come from the op table itself and need no
separate shape rules; the first call's result is that eager run, so tracing costs one eager call
and never runs anything twice. `dyngraph._dispatch.apply` hands each op call to `Tracer.__call__`,
which runs the op with the tracer switched off and records a node. Tensors are matched to IR values
by the identity of their array (`id(t._data)`), so `detach()`, `.data` and aliases that share the
array map to the same value.

What the trace cannot see it refuses rather than guesses:
- Reading a value into Python (`item`, `bool`, `tolist`, `numpy`) is a graph break: the value is
  recorded with the position in the graph, and the executor guards on it at run time.
- A tensor written outside the op table (a raw `t._data[...] = ...`, an optimizer that updates
  arrays directly) bumps its version counter without a traced in-place op; the trace raises
  `Unsupported` and the function runs eagerly instead of silently dropping the write.
- Using a view after its base was written in place (or a base after a write through its view)
  raises `Unsupported` too: the IR is functional and does not model aliasing yet.
"""

from __future__ import annotations

import dataclasses
import math
import os
import traceback
from typing import Any

import numpy as np

from dyngraph import _dispatch
from dyngraph._dispatch import _compute_dtype, state
from dyngraph._device import writeable as _writeable
from dyngraph._tensor import Tensor, _wrap, raw_grad

from .ir import Graph, Value
from .effects import watch_print, watch_side_effects
from .sources import Scan, Source

__all__ = ["Tracer", "Unsupported", "GraphBreakError", "BreakPoint", "Writeback", "TraceResult",
           "trace", "outcome_key", "user_frame"]

_DG_DIR = os.path.dirname(os.path.abspath(_dispatch.__file__)) + os.sep
_COMPILER_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_RUNTIME_DIR = os.path.join(os.path.dirname(_COMPILER_DIR.rstrip(os.sep)), "runtime") + os.sep


class Unsupported(Exception):
    """The trace met something it cannot capture correctly; the function runs eagerly instead."""


class GraphBreakError(RuntimeError):
    """Raised under `fullgraph=True` when the function reads a tensor's value into Python."""


def user_frame() -> str:
    """`file:line: code` of the innermost stack frame outside dyngraph, compiler and runtime."""
    for fr in reversed(traceback.extract_stack()):
        f = os.path.abspath(fr.filename)
        if not (f.startswith(_DG_DIR) or f.startswith(_COMPILER_DIR) or f.startswith(_RUNTIME_DIR)):
            return f"{fr.filename}:{fr.lineno}: {(fr.line or '').strip()}"
    return "<unknown>"


def _shape_from_data(opname: str, inputs, attrs) -> bool:
    """Whether this op's output size depends on its inputs' values, not only their shapes."""
    if opname == "nonzero":
        return True
    if opname == "unique":
        return attrs.get("output") != "inverse"
    if opname == "getitem":     # a boolean mask among the indices
        return any(isinstance(x, Tensor) and x.dtype.name == "bool" for x in inputs[1:])
    return False


def outcome_key(value) -> Any:
    """A hashable, exact key for a value read into Python (NaN equals NaN here)."""
    if isinstance(value, float):
        return ("f", "nan" if math.isnan(value) else value.hex())
    if isinstance(value, np.ndarray):
        return ("a", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, list):
        return ("l", tuple(outcome_key(x) for x in value))
    return (type(value).__name__, value)


@dataclasses.dataclass
class BreakPoint:
    """A value read into Python: the graph splits at `pos` and run time guards on `key`."""

    pos: int            # number of nodes recorded before the read
    value: Value
    kind: str           # item, bool, tolist, numpy; shape (an output size set by the data)
    key: Any            # outcome_key of the value read
    line: str           # the user's source line


@dataclasses.dataclass
class Writeback:
    """A change the function made to state that outlives the call, replayed after each run.

    kind: "copy" (write the value into the tensor's array in place, bump its version),
    "set_data" (rebind `tensor._data`), "set_grad" (`tensor.grad = value`), "grad_none",
    "set_item" (`dict[extra] = Tensor(value)`, the dict fetched by `source`: optimizer state a
    traced step creates).
    """

    kind: str
    source: Source
    value: Value | None = None
    extra: Any = None


@dataclasses.dataclass
class TraceResult:
    """One traced path through the function."""

    graph: Graph                      # inputs: the function inputs; outputs: see out_spec/writes
    input_sources: list               # Source per graph input (fetch `<expr>._data`)
    breaks: list                      # BreakPoint per value read into Python, in order
    out_spec: Any                     # pytree of ("v", i) | ("c", obj) | ("s", Source)
    writebacks: list                  # Writeback per state change
    scan: Scan
    result: Any                       # what the eager run returned (the first call's result)
    notes: list                       # specialisations and remarks for explain()
    poisoned: str | None = None       # set when the trace gave up (use eager for this signature)
    input_tensors: list = dataclasses.field(default_factory=list)
    n_outputs: int = 0                # graph.outputs: outputs, write-back values, saved values
    backward: list = dataclasses.field(default_factory=list)   # (output index, BackwardProgram)
    saved: list = dataclasses.field(default_factory=list)
    size_guards: list = dataclasses.field(default_factory=list)   # see compiler/dynamic.py


class Tracer:
    """Records op calls into a `Graph` while running them eagerly (see the module docstring)."""

    def __init__(self, scan: Scan, *, fullgraph: bool = False):
        self.scan = scan
        self.fullgraph = fullgraph
        self.graph = Graph()
        self.env: dict[int, tuple] = {}        # id(array) -> (array, Value)
        self.input_sources: list[Source] = []
        self.input_tensors: list[Tensor] = []
        self.breaks: list[BreakPoint] = []
        self.mutated: dict[int, Tensor] = {}   # id(array) -> tensor written in place
        self.inplace_counts: dict[int, int] = {}
        self.stale: set[int] = set()
        self.notes: list[str] = []
        self.keep: list = []                   # keeps traced arrays alive (ids stay unique)
        self.poisoned: str | None = None       # why the trace gave up (the call ran eagerly)
        self.optim_scalars: dict = {}          # (optimizer, group, key, index) -> scalar input
        self.created_state: list = []          # (Source of a dict, key, tensor) made by the trace
        self.size_guards: list = []            # (expr, text): Python comparisons of symbolic sizes
        # recompute cheap saved values (compiler/autograd): True, False, or the plans of a
        # reference trace to replay ({output index: plan}, `recompute_plans`)
        self.recompute = True
        self.watch_grads = False               # while the function runs: note .grad accesses
        self.grad_first: dict[int, str] = {}   # id(tensor) -> its first .grad access ("read" or
                                               # "write"), seen through Tensor._grad

    def grad_access(self, t: Tensor, kind: str) -> None:
        """Called by Tensor._grad while the function runs; the first access decides whether the
        trace depends on the gradient the call started with (see `_state_changes`)."""
        self.grad_first.setdefault(id(t), kind)

    # ----- values ----------------------------------------------------------------------------
    def value_of(self, t: Tensor) -> Value:
        """The IR value a tensor holds; tensors from outside become graph inputs or constants."""
        arr = t._data
        key = id(arr)
        e = self.env.get(key)
        if e is not None:
            if key in self.stale:
                raise Unsupported(
                    f"a tensor of shape {tuple(arr.shape)} is used after memory it shares was "
                    f"written in place (at {user_frame()}); the compiler does not model aliasing "
                    "yet: clone() the view, or write to the base tensor")
            return e[1]
        found = self.scan.tensors.get(key)
        if found is None and not t._rg:
            # Created by code the trace does not see (zeros, tensor(list), ...): same every call.
            v = self.graph.add_node("constant", (), {"value": arr.copy()}, arr.shape, t.dtype,
                                    t.device)
            self.bind(arr, v)
            return v
        src = found[0] if found is not None else self.scan.const_source(t)
        v = self.graph.add_input(arr.shape, t.dtype, t.device, requires_grad=t._rg,
                                 name=src.label)
        self.input_sources.append(src)
        self.input_tensors.append(t)
        self.bind(arr, v)
        return v

    def scalar_input(self, src, value) -> Tensor:
        """A 0-d float64 tensor holding `value`, bound to a new graph input read from `src`."""
        from dyngraph._device import to_device_array
        data = getattr(value, "_data", None)
        num = float(value) if data is None else float(data.reshape(()).item() if type(
            data) is np.ndarray else data.get())
        arr = np.array(num, np.float64)
        if src.device is not None:
            arr = to_device_array(arr, src.device)
        t = _wrap(arr)
        v = self.graph.add_input((), t.dtype, t.device, name=src.label)
        self.input_sources.append(src)
        self.input_tensors.append(t)
        self.bind(arr, v)
        return t

    def bind(self, arr, v: Value) -> None:
        self.env[id(arr)] = (arr, v)
        self.stale.discard(id(arr))
        self.keep.append(arr)

    # ----- the hooks apply() and Tensor call -------------------------------------------------
    def poison(self, reason: str) -> None:
        """Stop recording: the rest of the call runs eagerly and its result is still right."""
        if self.poisoned is None:
            self.poisoned = reason
        state.tracer = None

    def __call__(self, op, inputs, attrs):
        try:
            ins = [self.value_of(x) if isinstance(x, Tensor) else x for x in inputs]
        except Unsupported as e:
            self.poison(str(e))
            return _dispatch.apply(op, *inputs, **attrs)
        state.tracer = None
        try:
            result = _dispatch.apply(op, *inputs, **attrs)
        finally:
            state.tracer = self
        cdt = compute_dtype(op, inputs)
        v = self.graph.add_node(op.name, ins, attrs, result._data.shape, result.dtype,
                                result.device, compute_dtype=cdt, requires_grad=result._rg)
        self.bind(result._data, v)
        if _shape_from_data(op.name, inputs, attrs):
            self.shape_break(op.name, v, tuple(result._data.shape))
        return result

    def shape_break(self, opname: str, v: Value, shape: tuple) -> None:
        """An op whose output size depends on its input's values (nonzero, unique, boolean-mask
        indexing): the graph splits after it and run time guards on the size it produced, so
        a later call with another size traces a new path instead of running kernels sized for
        this one (PyTorch's torch.compile breaks its graph there too)."""
        line = user_frame()
        if self.fullgraph:
            raise GraphBreakError(
                f"dyngraph.compile(fullgraph=True): {opname} at {line} returns a tensor whose "
                f"size depends on the input's values (here {list(shape)}); one static graph "
                "cannot hold it. Use fullgraph=False (the graph splits there), or a form with a "
                "fixed size (dyngraph.where instead of boolean-mask selection).")
        self.breaks.append(BreakPoint(len(self.graph.nodes), v, "shape", outcome_key(shape),
                                      line))

    def concretize(self, t: Tensor, kind: str):
        """A tensor's value is read into Python: record a graph break (see BreakPoint)."""
        if kind == "iter":
            return None  # iterating depends only on the (guarded) size of dim 0
        line = user_frame()
        if self.fullgraph:
            raise GraphBreakError(
                f"dyngraph.compile(fullgraph=True): the function reads a tensor's value into "
                f"Python with .{kind}() at {line}; this needs a graph break. Use dyngraph.cond / "
                "dyngraph.while_loop for data-dependent control flow, or fullgraph=False.")
        v = self.value_of(t)
        arr = t._data if type(t._data) is np.ndarray else t._data.get()
        if kind in ("item", "bool"):
            value = arr.reshape(()).item()
            if kind == "bool":
                value = bool(value)
        else:
            value = arr.copy()
        self.breaks.append(BreakPoint(len(self.graph.nodes), v, kind, outcome_key(value), line))
        return value

    def inplace(self, fn, target: Tensor, args, kwargs, opname: str):
        """An in-place op: traced as its out-of-place form, then bound to the target's array."""
        from dyngraph.ops import _api
        try:
            self.value_of(target)
        except Unsupported as e:
            self.poison(str(e))
            return _api.inplace(fn, target, *args, opname=opname, **kwargs)
        state.tracer = None
        try:
            _api._check_inplace_target(target, opname)
        finally:
            state.tracer = self
        tv = self.value_of(target)
        grad_mode = state.grad_enabled and (target._rg or any(
            isinstance(a, Tensor) and a._rg for a in args))
        if grad_mode:
            base = target._base
            if base is not None and base._rg:
                raise RuntimeError(
                    f"{opname}: in-place change of a view of a tensor that is part of an "
                    "autograd graph is not supported; compute the new value out of place")
            old = _wrap(target._data.copy())
            old.grad_fn, old._rg = target.grad_fn, target._rg
            self.bind(old._data, tv)
            result = fn(old, *args, **kwargs)
        else:
            result = fn(target, *args, **kwargs)
        rv = self.value_of(result)
        tdt = target.dtype
        if result.dtype is not tdt:
            if result.dtype._category > tdt._category:
                raise RuntimeError(
                    f"{opname}: result type {result.dtype.name.capitalize()} can't be cast to "
                    f"the desired output type {tdt.name.capitalize()}")
            rv = self.graph.add_node("cast", [rv], {"dtype": tdt}, rv.shape, tdt, rv.device)
        if tuple(result._data.shape) != tuple(target._data.shape):
            shape = tuple(target._data.shape)
            if np.broadcast_shapes(result._data.shape, shape) != shape:
                raise RuntimeError(
                    f"{opname}: output with shape {list(target.shape)} doesn't match the "
                    f"broadcast shape {list(result._data.shape)}")
            rv = self.graph.add_node("expand", [rv], {"shape": shape}, shape, tdt, rv.device)
            rv = self.graph.add_node("copy", [rv], {}, shape, tdt, rv.device)
        if not _writeable(target._data):
            raise RuntimeError(
                f"{opname}: unsupported operation: the tensor is a broadcast (expanded) view "
                "whose elements share memory; call .clone() before writing to it")
        target._data[...] = result._data
        target._vc[0] += 1
        if grad_mode:
            target.grad_fn = result.grad_fn
            target._rg = result._rg
        self.write(target, rv)
        return target

    def write(self, target: Tensor, v: Value) -> None:
        """Record that `target`'s array now holds `v` (mark arrays sharing its memory stale)."""
        arr = target._data
        key = id(arr)
        self.mutated[key] = target
        self.inplace_counts[key] = self.inplace_counts.get(key, 0) + 1
        for k, (other, _) in list(self.env.items()):
            if k != key and other.size and np.may_share_memory(other, arr):
                self.stale.add(k)
        self.bind(arr, v)

    def write_out(self, out: Tensor, result: Tensor) -> None:
        """`out=`: `out` now holds `result`'s value (called after the copy)."""
        try:
            self.write(out, self.value_of(result))
        except Unsupported as e:
            self.poison(str(e))

    # ----- finishing -------------------------------------------------------------------------
    def finish(self, result) -> TraceResult:
        """Collect outputs and state changes once the function returned."""
        g = self.graph
        outs: list[Value] = []
        out_tensors: list[Tensor] = []
        src_of_obj = {id(t): s for s, t in self.scan.tensor_objs}

        def flatten(obj):
            if isinstance(obj, Tensor):
                if id(obj) in src_of_obj:  # the caller's own tensor object comes back
                    return ("s", src_of_obj[id(obj)])
                outs.append(self.value_of(obj))
                out_tensors.append(obj)
                return ("v", len(outs) - 1)
            if isinstance(obj, tuple) and type(obj) is not tuple and hasattr(obj, "_fields"):
                return ("nt", type(obj), tuple(flatten(x) for x in obj))
            if isinstance(obj, (tuple, list)):
                return (type(obj).__name__, tuple(flatten(x) for x in obj))
            if isinstance(obj, dict):
                return ("dict", tuple((k, flatten(x)) for k, x in obj.items()))
            return ("c", obj)

        spec = flatten(result)
        try:
            writebacks = self._state_changes()
            for src, key, t in self.created_state:
                writebacks.append(Writeback("set_item", src, self.value_of(t), key))
        except Unsupported as e:
            self.poisoned = self.poisoned or str(e)
            writebacks = []
        keep = outs + [w.value for w in writebacks if w.value is not None]
        backward = self._backward(out_tensors, keep)
        saved: list[Value] = []
        for _, prog in backward:
            for v in prog.saved + prog.extra:
                if v not in saved:
                    saved.append(v)
        g.outputs = outs + [w.value for w in writebacks if w.value is not None] + saved
        tr = TraceResult(g, self.input_sources, self.breaks, spec, writebacks, self.scan,
                         result, self.notes, self.poisoned, self.input_tensors)
        tr.n_outputs = len(outs)
        tr.backward = backward
        tr.saved = saved
        tr.size_guards = self.size_guards
        return tr

    def _backward(self, out_tensors, keep) -> list:
        """Backward programs for outputs that require grad (compiled autograd), with cheap
        saved values recomputed where that lowers memory (`recompute_cheap`)."""
        if not state.grad_enabled or self.poisoned is not None:
            return []
        needs = [i for i, t in enumerate(out_tensors) if t._rg and t.grad_fn is not None]
        if not needs:
            return []
        from .autograd import recompute_cheap, trace_backward
        diff = [t for t in self.input_tensors if t._rg]
        out = []
        for i in needs:
            prog = trace_backward(self, out_tensors[i], diff)
            if prog is None:
                self.notes.append(f"output {i}: no compiled backward (its graph was freed)")
                continue
            if self.recompute:
                replay = self.recompute.get(i) if isinstance(self.recompute, dict) else None
                prog, rep = recompute_cheap(self.graph, keep, prog, replay)
                prog.report = rep
                if rep["recomputed"]:
                    self.notes.append(
                        f"output {i}: {rep['recomputed']} cheap values recomputed in backward "
                        f"(saved {rep['saved_bytes'][0]} -> {rep['saved_bytes'][1]} bytes, joint "
                        f"peak {rep['peak_bytes'][0]} -> {rep['peak_bytes'][1]} bytes)")
            out.append((i, prog))
        return out

    def _state_changes(self) -> list[Writeback]:
        out = []
        for src, t in self.scan.tensor_objs:
            arr0 = t._data
            key = id(arr0)
            # Raw writes: the version moved more than the in-place ops the trace saw.
            expected = self.inplace_counts.get(key, 0)
            v0 = self._versions.get(id(t))
            if v0 is not None and t._vc[0] - v0 != expected and id(t._data) == self._arrays[id(t)]:
                raise Unsupported(
                    f"{src.label} was modified outside the op table (its version counter moved "
                    f"by {t._vc[0] - v0}, traced in-place ops: {expected}); raw array writes "
                    "cannot be captured")
            if id(t._data) != self._arrays.get(id(t)):
                e = self.env.get(id(t._data))
                if e is None:
                    raise Unsupported(f"{src.label}.data was replaced by an untraced array")
                out.append(Writeback("set_data", src, e[1]))
            elif key in self.mutated:
                out.append(Writeback("copy", src, self.env[key][1]))
            if t._rg and t.grad_fn is None:
                g0 = self._grads.get(id(t))
                g1 = raw_grad(t)
                first = self.grad_first.get(id(t))
                if first != "read":
                    # the function never read the gradient it was called with (it set .grad
                    # first, or left it alone): no guard on whether one existed, and a reset
                    # is written back even when the traced call started without one
                    self.scan.grad_set.pop(id(t), None)
                if g1 is not g0 or (g1 is not None and id(g1._data) in self.mutated) or (
                        first == "write" and g1 is None):
                    if g1 is None:
                        out.append(Writeback("grad_none", src))
                    else:
                        out.append(Writeback("set_grad", src, self.value_of(g1)))
        return out

    def snapshot(self) -> None:
        """Remember versions, arrays and grads of reachable tensors (compared in `finish`)."""
        self._versions = {id(t): t._vc[0] for _, t in self.scan.tensor_objs}
        self._arrays = {id(t): id(t._data) for _, t in self.scan.tensor_objs}
        self._grads = {id(t): raw_grad(t) for _, t in self.scan.tensor_objs}


def compute_dtype(op, inputs):
    """The dtype `apply` casts array inputs to for this op (None: no cast), as it computes it."""
    rule = op.dtype_rule
    if rule == "none" or rule == "same":
        return None
    sig = tuple((x._data.dtype if x._data.ndim else (x._data.dtype,)) if isinstance(x, Tensor)
                else type(x) for x in inputs)
    return _compute_dtype(rule, inputs, sig)


def recompute_plans(tr: TraceResult) -> dict:
    """{output index: plan} of the recomputation `tr`'s backward programs chose, for a trace
    of the same ops at other sizes to replay (`trace(..., recompute=plans)`)."""
    return {i: prog.report["plan"] for i, prog in tr.backward
            if getattr(prog, "report", None) and "plan" in prog.report}


def trace(fn, args, kwargs, scan: Scan, *, fullgraph: bool = False,
          context=None, recompute: bool = True) -> TraceResult:
    """Run `fn(*args, **kwargs)` once under a `Tracer` and return the recorded path.

    `context(tracer)`, if given, is a context manager active while the function runs;
    `recompute=False` saves every value the gradient rules read (no recomputation), a dict
    {output index: plan} replays another trace's recomputation choices (`recompute_plans`).
    """
    if state.tracer is not None:
        raise Unsupported("nested compiled call inside a trace")
    tracer = Tracer(scan, fullgraph=fullgraph)
    tracer.recompute = recompute
    tracer.snapshot()
    state.tracer = tracer
    try:
        import contextlib
        from .optim_rules import traced_optimizers
        extra = context(tracer) if context is not None else contextlib.nullcontext()
        with traced_optimizers(scan, tracer), extra, watch_print(tracer), \
                watch_side_effects(tracer):
            tracer.watch_grads = True
            try:
                result = fn(*args, **kwargs)
            finally:
                tracer.watch_grads = False
        return tracer.finish(result)
    finally:
        state.tracer = None
