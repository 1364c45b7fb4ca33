"""Dynamic shapes ("dynamic-to-static"): one graph for every size of a dim that changes.

Shapes in a trace come from the op table's eager rules on real arrays, so a single trace cannot
tell a size-derived number (the batch size in `x.view(B, -1)`, the `n` of a mean's gradient) from
a constant. Two traces can: when a call misses the cache only because some argument sizes changed
(`plan_dynamic`), the call is traced again with the old trace as a reference, and `unify_traces`
walks both node by node. Sizes that differ become symbolic dims (`s0`, shared by dims that had
equal sizes in both traces, with an equality guard); every attribute, scalar input and value shape
that differs must be `c * s_i [* s_j]` with the same integer `c` in both (`SymExpr`, found
uniquely), size-dependent constants must be fills or aranges. Anything else (a float computed from
a size, a reshape to `B // 2`, a different op sequence, a Python value depending on the size)
raises `Specialize`, and the new trace stays a separate, static entry: `explain()` says why.
Two traces can agree by coincidence, so every unified graph is verified against a third trace at
independent sizes (`SizeCheck`) before it is used; a disagreement keeps the graph static too.

Python code that reads sizes while tracing is accounted for too (`compiler/symsize.py`): during
the reference trace, `Tensor.shape`, `size()`, `len()` and `numel()` return `SymSize` ints for
dims that differ from the reference; comparisons with them (`if x.shape[0] > 32`) become guards,
and numbers derived by non-polynomial operations (`n // 64`, `int(n / 8)`, ...) are pinned by a
guard, so a symbolic graph never runs for a size that would have taken another branch or given
another derived number. Sizes 0 and 1 always specialise (they change broadcasting), as in PyTorch.
"""

from __future__ import annotations

import contextlib
import itertools

import numpy as np

from .ir import Graph, Sym, SymExpr, Value, subst_syms
from .hidden import _quiet, preserved_state, restore_state, snapshot_state
from .symsize import SymSize, size_namespace, track_sizes

__all__ = ["Specialize", "SymSize", "SizeCheck", "fit_size", "plan_dynamic", "unify_traces",
           "track_sizes", "agree_traces"]


class Specialize(Exception):
    """The traces cannot share one symbolic graph; the message says what depends on the size."""


def fit_size(a, b, syms: dict):
    """The symbolic form of a number that was `a` in one trace and `b` in the other.

    `syms` maps a sym name to its (first, second) sizes. Returns `a` when equal, else the unique
    `Sym`/`SymExpr` `c * prod(S)` (|S| <= 2, integer c >= 1) matching both, or failing any, the
    unique `c * s + d` (one sym, integers c >= 1 and d != 0: `n - 1`, `2*n + 1`); raises
    `Specialize`. (Two traces fit many things by coincidence: the third trace checks the fit.)
    """
    if type(a) is bool or type(b) is bool or not isinstance(a, int) or not isinstance(b, int):
        if type(a) is type(b) and a == b:
            return b
        raise Specialize(f"the value {a!r} -> {b!r} depends on a size in a way the compiler "
                         "cannot express")
    a, b = int(a), int(b)     # (a SymSize compares as the plain int it is)
    if a == b:
        return b
    found = []
    for k in (1, 2):
        for names in itertools.combinations(sorted(syms), k):
            pa = int(np.prod([syms[n][0] for n in names]))
            pb = int(np.prod([syms[n][1] for n in names]))
            if a > 0 and b > 0 and a % pa == 0 and b % pb == 0 and a // pa == b // pb:
                found.append(SymExpr(a // pa, names))
    if not found:
        for name in sorted(syms):
            sa, sb = syms[name]
            if sa != sb and (a - b) % (sa - sb) == 0 and (a - b) // (sa - sb) >= 1:
                c = (a - b) // (sa - sb)
                found.append(SymExpr(c, (name,), a - c * sa))
    if len(found) != 1:
        what = "is ambiguous" if found else "is not c * a symbolic size (+ d)"
        raise Specialize(f"the size {int(a)} -> {int(b)} {what}")
    e = found[0]
    return Sym(e.syms[0]) if e.coeff == 1 and len(e.syms) == 1 and not e.offset else e


# ----- planning: is this miss a size-only change? ----------------------------------------------

def plan_dynamic(entry, args, kwargs, fetch_shape) -> dict | None:
    """Symbolic dims for a call that failed `entry`'s guards only on argument sizes (else None).

    Returns {"syms": {name: (old, new)}, "dims": {(input index, dim): name}, "exprs": {name:
    guard expression of its first occurrence}, "labels": {name: readable}}.
    """
    failing = entry.guards.failures(args, kwargs)
    if not failing or any(g.kind != "shape" for g in failing):
        return None
    syms: dict = {}
    by_pair: dict = {}
    dims: dict = {}
    exprs: dict = {}
    labels: dict = {}
    for i, (src, v, _) in enumerate(entry.inputs):
        if not any(g.src == src.expr for g in failing):
            continue
        if not (src.expr.startswith("a[") or src.expr.startswith("kw[")):
            return None        # only argument sizes become symbolic (parameters stay static)
        new = fetch_shape(src)
        if new is None or len(new) != len(v.shape):
            return None
        for d, (a, b) in enumerate(zip(v.shape, new)):
            if a == b:
                continue
            if a < 2 or b < 2:
                return None    # 0 and 1 specialise
            name = by_pair.get((a, b))
            if name is None:
                name = by_pair[(a, b)] = f"s{len(syms)}"
                syms[name] = (a, b)
                exprs[name] = f"{src.expr}._data.shape[{d}]"
                labels[name] = f"{src.label}.shape[{d}]"
            dims[(i, d)] = name
    return {"syms": syms, "dims": dims, "exprs": exprs, "labels": labels} if syms else None


# ----- unifying two traces --------------------------------------------------------------------

def _unify(a, b, syms, mapping, where: str):
    """The symbolic form of an input or attribute that was `a` in one trace and `b` in the other."""
    if isinstance(a, Value) or isinstance(b, Value):
        if not (isinstance(a, Value) and isinstance(b, Value)) or mapping.get(a.id) is not b:
            raise Specialize(f"{where}: the dataflow differs between the traces")
        return b
    if isinstance(a, (tuple, list)) and type(a) is type(b):
        if len(a) != len(b):
            raise Specialize(f"{where}: {a!r} -> {b!r} has a size-dependent length")
        return type(b)(_unify(x, y, syms, mapping, where) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            raise Specialize(f"{where}: different attributes")
        return {k: _unify(a[k], b[k], syms, mapping, f"{where} {k}=") for k in b}
    if isinstance(a, slice) and isinstance(b, slice):
        parts = _unify((a.start, a.stop, a.step), (b.start, b.stop, b.step), syms, mapping, where)
        return slice(*parts)
    if isinstance(a, Graph) and isinstance(b, Graph):
        if a.text() != b.text():
            raise Specialize(f"{where}: a subgraph depends on the size")
        return b
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if type(a) is type(b) and a.shape == b.shape and a.dtype == b.dtype and \
                np.array_equal(a, b, equal_nan=True):
            return b
        raise Specialize(f"{where}: an array attribute depends on the size")
    if isinstance(a, int) and isinstance(b, int):
        try:
            return fit_size(a, b, syms)
        except Specialize as e:
            raise Specialize(f"{where}: {e}") from None
    if type(a) is not type(b) or a != b:
        raise Specialize(f"{where}: {a!r} -> {b!r} depends on the size")
    return b


def _unify_constant(na, nb, syms, where):
    va, vb = na.attrs.get("value"), nb.attrs.get("value")
    if va is None or vb is None:
        raise Specialize(f"{where}: unknown constant")
    if va.shape == vb.shape and va.dtype == vb.dtype and np.array_equal(va, vb, equal_nan=True):
        return
    shape = tuple(fit_size(x, y, syms) for x, y in zip(va.shape, vb.shape)) \
        if va.ndim == vb.ndim else None
    if shape is None or va.dtype != vb.dtype:
        raise Specialize(f"{where}: a constant's shape or dtype depends on the size")
    if va.size and vb.size and np.all(va == va.flat[0]) and np.all(vb == vb.flat[0]) and \
            va.flat[0] == vb.flat[0]:
        nb.attrs = {"fill": vb.flat[0].item(), "shape": shape, "dtype": vb.dtype}
    elif va.ndim == 1 and np.array_equal(va, np.arange(va.size)) and \
            np.array_equal(vb, np.arange(vb.size)):
        nb.attrs = {"arange": shape[0], "dtype": vb.dtype}
    else:
        raise Specialize(f"{where}: a constant of shape {va.shape} -> {vb.shape} depends on "
                         "the size and is not a fill or an arange")


def unify_graph(ga: Graph, gb: Graph, syms: dict, mapping: dict) -> None:
    """Make `gb` (traced second) symbolic where it differs from `ga`; raise `Specialize`."""
    if len(ga.nodes) != len(gb.nodes):
        raise Specialize(f"the traces record {len(ga.nodes)} and {len(gb.nodes)} ops (Python "
                         "control flow depends on the size)")
    for i, (na, nb) in enumerate(zip(ga.nodes, gb.nodes)):
        where = f"op {i} ({nb.op})"
        if na.op != nb.op or na.compute_dtype is not nb.compute_dtype or \
                len(na.inputs) != len(nb.inputs):
            raise Specialize(f"{where}: the traces differ ({na.op} vs {nb.op})")
        if nb.op == "constant":
            _unify_constant(na, nb, syms, where)
        else:
            nb.inputs = [_unify(x, y, syms, mapping, where) for x, y in zip(na.inputs, nb.inputs)]
            nb.attrs = _unify(na.attrs, nb.attrs, syms, mapping, where)
        if len(na.out.shape) != len(nb.out.shape):
            raise Specialize(f"{where}: the result's rank depends on the size")
        try:
            nb.out.shape = tuple(fit_size(x, y, syms) for x, y in zip(na.out.shape,
                                                                       nb.out.shape))
        except Specialize as e:
            raise Specialize(f"{where} result shape: {e}") from None
        mapping[na.out.id] = nb.out
    if len(ga.outputs) != len(gb.outputs) or any(
            mapping.get(x.id) is not y for x, y in zip(ga.outputs, gb.outputs)):
        raise Specialize("the graph outputs differ between the traces")


def _same_results(a, b) -> None:
    """What two traces return and write must match apart from sizes (their graphs are checked
    by the caller): the returned structure, the write-backs and which outputs need a backward."""
    try:
        same_spec = a.out_spec == b.out_spec
    except Exception:   # noqa: BLE001 - arrays and odd objects in the returned structure
        same_spec = False
    if not same_spec or a.n_outputs != b.n_outputs:
        raise Specialize("the function returns a Python value that depends on the size")
    if [(w.kind, w.source.expr, w.extra) for w in a.writebacks] != \
            [(w.kind, w.source.expr, w.extra) for w in b.writebacks]:
        raise Specialize("the state the function writes differs between the traces")
    if [i for i, _ in a.backward] != [i for i, _ in b.backward]:
        raise Specialize("the outputs that need a backward graph differ")


def unify_traces(ta, tb, plan: dict, check=None) -> dict:
    """Turn trace `tb` into one symbolic trace covering `ta` too; returns the symbolic dims.

    `check(tb, plan, sym_dims)` (a `SizeCheck`) then verifies the symbolic trace against a
    third trace at other sizes. Raises `Specialize` (with the reason) when the traces cannot
    share a graph or the check disagrees; `tb` is then left as it was (a static trace).
    """
    graphs = [tb.graph] + [p.graph for _, p in tb.backward]
    saved = [(v, v.shape) for g in graphs for v in g.inputs] + [
        (n, (list(n.inputs), n.attrs, n.out.shape)) for g in graphs for n in g.nodes]
    try:
        sym_dims = _unify_traces(ta, tb, plan)
        if check is not None:
            check(tb, plan, sym_dims)
        return sym_dims
    except Specialize:
        for obj, old in saved:
            if isinstance(obj, Value):
                obj.shape = old
            else:
                obj.inputs, obj.attrs, obj.out.shape = old
        raise


def _unify_traces(ta, tb, plan: dict) -> dict:
    syms = plan["syms"]
    if [s.expr for s in ta.input_sources] != [s.expr for s in tb.input_sources]:
        raise Specialize("the traces read different inputs")
    mapping: dict = {}
    sym_dims: dict = {}
    for i, (va, vb) in enumerate(zip(ta.graph.inputs, tb.graph.inputs)):
        shape = list(vb.shape)
        for d in range(len(shape)):
            name = plan["dims"].get((i, d))
            if name is not None:
                shape[d] = Sym(name)
                sym_dims.setdefault(name, []).append((i, d))
            elif va.shape[d] != vb.shape[d]:
                raise Specialize(f"input {tb.input_sources[i].label} changed size")
        vb.shape = tuple(shape)
        mapping[va.id] = vb
    if len(ta.breaks) != len(tb.breaks) or any(
            (x.pos, x.kind, x.key) != (y.pos, y.kind, y.key) for x, y in zip(ta.breaks, tb.breaks)):
        raise Specialize("a value read into Python (a graph break) depends on the size")
    unify_graph(ta.graph, tb.graph, syms, mapping)
    _same_results(ta, tb)
    for (_, pa), (_, pb) in zip(ta.backward, tb.backward):
        local: dict = {}
        if len(pa.graph.inputs) != len(pb.graph.inputs) or pa.has_grad != pb.has_grad:
            raise Specialize("the backward graphs differ")
        for va, vb in zip(pa.graph.inputs, pb.graph.inputs):
            vb.shape = tuple(fit_size(x, y, syms) for x, y in zip(va.shape, vb.shape))
            local[va.id] = vb
        unify_graph(pa.graph, pb.graph, syms, local)
        if any(mapping.get(x.id) is not y for x, y in zip(pa.saved, pb.saved)):
            raise Specialize("the saved values of the backward graphs differ")
    return sym_dims


# ----- a symbolic first graph (dynamic=True, mark_dynamic) -------------------------------------

def first_call_attempts(args, kwargs, dynamic) -> list[dict]:
    """Which argument dims to make symbolic on a first call, most general first.

    Each attempt maps an argument's source expression (`a[0]`, `kw['x']`) to (tensor, dims).
    Dims marked with `dyngraph.mark_dynamic` are always used; with `dynamic=True` every dim of
    size >= 2 of every tensor argument is tried first, then the leading dims only (feature
    sizes usually must match a weight's). Sizes 0 and 1 stay static.
    """
    from dyngraph._tensor import Tensor
    items = [(f"a[{i}]", x) for i, x in enumerate(args)] + \
        [(f"kw[{k!r}]", x) for k, x in kwargs.items()]
    marked, every, leading = {}, {}, {}
    for expr, t in items:
        if not isinstance(t, Tensor):
            continue
        shape = t._data.shape
        m = [d for d in sorted(t.__dict__.get("_dynamo_dynamic_indices", ()))
             if d < len(shape) and shape[d] >= 2]
        if m:
            marked[expr] = (t, m)
        if dynamic is True:
            every[expr] = (t, sorted(set(m) | {d for d, n in enumerate(shape) if n >= 2}))
            lead = sorted(set(m) | ({0} if shape and shape[0] >= 2 else set()))
            if lead:
                leading[expr] = (t, lead)
    out = [a for a in (every, leading, marked) if a]
    unique = []
    for a in out:
        if all({k: v[1] for k, v in a.items()} != {k: v[1] for k, v in b.items()}
               for b in unique):
            unique.append(a)
    return unique


def shadow_arguments(args, kwargs, attempt: dict):
    """Arguments for a shadow trace: each chosen dim of size n grows to n + 1 + 2*i for the
    i-th distinct size (equal sizes stay equal, different sizes grow differently, so a number
    that tracks one size is not mistaken for another), filled by repeating the tensor's own
    values (indices stay valid). Returns (args, kwargs, plan) with the plan's syms, exprs and
    labels (dims are filled after the trace)."""
    syms, by_size, exprs, labels = {}, {}, {}, {}
    for expr, (t, dims) in attempt.items():
        for d in dims:
            n = t._data.shape[d]
            if n not in by_size:
                by_size[n] = f"s{len(by_size)}"
                exprs[by_size[n]] = f"{expr}._data.shape[{d}]"
                labels[by_size[n]] = f"{_label(expr)}.shape[{d}]"
    taken = set(by_size)
    for i, (n, name) in enumerate(by_size.items()):
        m = n + 1 + 2 * i
        while m in taken:       # a shadow size never equals another real or shadow size
            m += 1
        taken.add(m)
        syms[name] = (m, n)     # (shadow, real)
    resize = {expr: (t, {d: syms[by_size[t._data.shape[d]]][0] for d in dims})
              for expr, (t, dims) in attempt.items()}
    sargs, skw = resized_arguments(args, kwargs, resize)
    return sargs, skw, {"syms": syms, "exprs": exprs, "labels": labels, "by_size": by_size}


def resized_arguments(args, kwargs, resize: dict):
    """Copies of `args`/`kwargs` where each `resize` entry {expr: (tensor, {dim: size})} is
    replaced by a tensor with those sizes, filled by repeating its own values along each dim
    (the same tensor object passed twice stays one object)."""
    from dyngraph._tensor import _wrap
    args, kwargs = list(args), dict(kwargs)
    made: dict = {}
    for expr, (t, sizes) in resize.items():
        new = made.get(id(t))
        if new is None:
            arr = t._data
            xp = np if type(arr) is np.ndarray else __import__("cupy")
            for d, m in sizes.items():
                arr = xp.take(arr, xp.arange(m) % arr.shape[d], axis=d)
            new = made[id(t)] = _wrap(xp.ascontiguousarray(arr) if sizes else arr.copy())
            if t._rg:
                new.requires_grad_()
        if expr.startswith("a["):
            args[int(expr[2:-1])] = new
        else:
            kwargs[eval(expr[3:-1])] = new
    return tuple(args), kwargs


def _label(expr: str) -> str:
    return f"args[{expr[2:-1]}]" if expr.startswith("a[") else expr[3:-1].strip("'\"")


def plan_dims(plan: dict, trace_result, attempt: dict) -> dict:
    """Fill the plan's {(input index, dim): sym} from the real trace's input sources."""
    dims = {}
    for i, src in enumerate(trace_result.input_sources):
        if src.expr in attempt:
            t, ds = attempt[src.expr]
            for d in ds:
                dims[(i, d)] = plan["by_size"][t._data.shape[d]]
    plan["dims"] = dims
    return plan


# ----- verifying a unified graph with a third trace --------------------------------------------
#
# Two traces can agree on `c * s` by coincidence: `var` divides by n - 1, which at (5, 4) and
# (6, 5) looks exactly like the other dim `s1`; `n // 2 * 2` is `n` at every even n. So every
# unified graph is checked against a third trace at independent sizes (primes above both traced
# sizes + 64 where the Python size checks allow): every shape, attribute, scalar and constant of
# the symbolic graph, evaluated at those sizes, must equal what the third trace recorded, or the
# graph stays static. Python's own `n // 64` is pinned by a guard (compiler/symsize.py); one
# computed out of sight (through numpy) is caught here only when the third size changes it.

class SizeCheck:
    """The third trace that verifies a unified graph (`unify_traces(..., check=)`).

    Use `tracking(tracer, reference, plan)` as the real trace's context (it records the state
    the call started from, so the third trace runs from the same state: a first optimizer step
    stays a first step), then pass the object to `unify_traces`.
    """

    def __init__(self, fn, args, kwargs, *, self_obj=None, fullgraph=False, recompute=True):
        self.fn, self.args, self.kwargs, self.self_obj = fn, args, kwargs, self_obj
        self.fullgraph, self.recompute = fullgraph, recompute
        self.before = None

    @contextlib.contextmanager
    def tracking(self, tracer, reference, plan):
        """`track_sizes`, plus a snapshot of the state the real call starts from; the trace
        replays the reference's recomputation choices (sizes must not change the partition
        of forward and backward, or the traces would not unify)."""
        from .trace import recompute_plans
        self.before = snapshot_state(tracer.scan)
        if tracer.recompute:
            tracer.recompute = recompute_plans(reference)
        with track_sizes(tracer, reference, plan):
            yield

    def __call__(self, tb, plan: dict, sym_dims: dict) -> None:
        """Trace at third sizes and compare with the symbolic trace `tb`; raise `Specialize`."""
        from .sources import scan_roots
        from .trace import recompute_plans, trace
        resize = {}
        for name, where in sym_dims.items():
            for i, d in where:
                expr = tb.input_sources[i].expr
                if not _is_argument(expr):
                    raise Specialize(f"{plan['labels'][name]}: {tb.input_sources[i].label} is "
                                     "not an argument, so no third trace at other sizes can "
                                     "verify the symbolic graph")
                t = eval(expr, {"a": self.args, "kw": self.kwargs})   # the argument itself
                resize.setdefault(expr, (t, {}))[1][d] = name
        before, self.before = self.before, None     # (copies of reachable state: drop them)
        sizes = _third_sizes(plan, tb, resize, self.args, self.kwargs)
        what = ", ".join(f"{plan['labels'][n]} = {m}" for n, m in sizes.items())
        # (scanned now: state the real call created, e.g. a first optimizer step's, is covered)
        with preserved_state(scan_roots(self.fn, self.args, self.kwargs, self.self_obj)), _quiet():
            if before is not None:
                restore_state(before)            # the state the real call started from
            cargs, ckw = resized_arguments(self.args, self.kwargs, {
                e: (t, {d: sizes[n] for d, n in ds.items()}) for e, (t, ds) in resize.items()})
            try:
                scan = scan_roots(self.fn, cargs, ckw, self.self_obj)
                tc = trace(self.fn, cargs, ckw, scan, fullgraph=self.fullgraph,
                           recompute=recompute_plans(tb) if self.recompute else False)
            except Exception as e:   # noqa: BLE001 - incl. GraphBreakError: the graph is unverified
                raise Specialize(f"a third trace at other sizes ({what}) failed: "
                                 f"{type(e).__name__}: {e}") from None
        if tc.poisoned is not None:
            raise Specialize(f"a third trace at other sizes ({what}) runs eagerly: {tc.poisoned}")
        try:
            agree_traces(tb, tc, sizes)
        except Specialize as e:
            raise Specialize(f"a third trace at other sizes ({what}) disagrees with the symbolic "
                             f"graph: {e}") from None


def _is_argument(expr: str) -> bool:
    return (expr.startswith("a[") or expr.startswith("kw[")) and expr.endswith("]") and \
        expr.count("[") == 1


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % k for k in range(2, int(n ** 0.5) + 1))


def _third_sizes(plan, tb, resize, args, kwargs) -> dict:
    """Sizes for the third trace: different from every traced size and from each other, primes
    above the traced sizes first (no divisor coincides), satisfying the trace's size checks."""
    taken = {n for pair in plan["syms"].values() for n in pair}
    cands = {}
    for name, (a, b) in plan["syms"].items():
        hi = max(a, b)
        # above hi + 64: a number derived out of sight (through numpy) such as n // 64 or n % 2
        # that was the same at both traced sizes changes here, and the check sees it
        above = list(itertools.islice(
            (m for m in itertools.count(hi + 65) if _is_prime(m) and m not in taken), 3))
        # else (the size checks rule those out): untraced sizes near the traced ones or small
        near = set(range(max(2, min(a, b) - 64), hi + 65)) | set(range(2, 66))
        cands[name] = above + sorted(near - taken - set(above),
                                     key=lambda m, hi=hi: (not _is_prime(m), abs(m - hi)))
    guards = [g for g, _ in tb.size_guards]
    for r in range(max(len(c) for c in cands.values())):
        sizes, used = {}, set()
        for name, c in cands.items():
            m = next((m for m in c[min(r, len(c) - 1):] if m not in used), None)
            if m is None:
                break
            sizes[name] = m
            used.add(m)
        if len(sizes) == len(cands) and _guards_hold(guards, sizes, resize, args, kwargs, tb):
            return sizes
    raise Specialize("no third set of sizes satisfies the size checks "
                     f"({'; '.join(t for _, t in tb.size_guards)}), so the symbolic graph "
                     "cannot be verified")


def _guards_hold(guards, sizes, resize, args, kwargs, tb) -> bool:
    """Whether the size checks hold at `sizes` (evaluated on shape-only stand-ins)."""
    import types
    if not guards:
        return True
    stand_in = {}
    for expr, (t, ds) in resize.items():
        shape = list(t._data.shape)
        for d, name in ds.items():
            shape[d] = sizes[name]
        stand_in[expr] = types.SimpleNamespace(_data=types.SimpleNamespace(shape=tuple(shape)))
    a, kw = list(args), dict(kwargs)
    for expr, obj in stand_in.items():
        if expr.startswith("a["):
            a[int(expr[2:-1])] = obj
        else:
            kw[eval(expr[3:-1])] = obj
    ns = dict(tb.scan.bindings, a=tuple(a), kw=kw, **size_namespace())
    try:
        return all(eval(g, ns) for g in guards)
    except Exception:   # noqa: BLE001 - a check that cannot be evaluated does not hold
        return False


def _agree(x, y, sizes: dict, mapping: dict, where: str) -> None:
    """Raise `Specialize` unless symbolic `x` evaluated at `sizes` is what a trace recorded, `y`."""
    if isinstance(x, Value) or isinstance(y, Value):
        if not (isinstance(x, Value) and isinstance(y, Value)) or mapping.get(x.id) is not y:
            raise Specialize(f"{where}: the dataflow differs")
    elif isinstance(x, (Sym, SymExpr)):
        want = subst_syms(x, sizes)
        if isinstance(y, bool) or not isinstance(y, int) or int(y) != want:
            raise Specialize(f"{where}: {x} gives {want}, the trace has {y!r}")
    elif isinstance(x, (tuple, list)) and type(x) is type(y):
        if len(x) != len(y):
            raise Specialize(f"{where}: {len(x)} items vs {len(y)}")
        for p, q in zip(x, y):
            _agree(p, q, sizes, mapping, where)
    elif isinstance(x, dict) and isinstance(y, dict):
        if x.keys() != y.keys():
            raise Specialize(f"{where}: different attributes")
        for k in x:
            _agree(x[k], y[k], sizes, mapping, f"{where} {k}=")
    elif isinstance(x, slice) and isinstance(y, slice):
        _agree((x.start, x.stop, x.step), (y.start, y.stop, y.step), sizes, mapping, where)
    elif isinstance(x, Graph) and isinstance(y, Graph):
        if x.text() != y.text():
            raise Specialize(f"{where}: a subgraph depends on the size")
    elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        if not (type(x) is type(y) and x.shape == y.shape and x.dtype == y.dtype and
                np.array_equal(x, y, equal_nan=True)):
            raise Specialize(f"{where}: an array attribute depends on the size")
    elif isinstance(x, int) and not isinstance(x, bool):
        if isinstance(y, bool) or not isinstance(y, int) or int(x) != int(y):
            raise Specialize(f"{where}: {int(x)} (a constant in the graph) -> {y!r}")
    elif type(x) is not type(y) or x != y:
        raise Specialize(f"{where}: {x!r} -> {y!r}")


def _host(arr):
    """A numpy view of a constant's array (cupy arrays are copied to the host)."""
    return arr if arr is None or type(arr) is np.ndarray else arr.get()


def _agree_constant(nb, nc, sizes: dict, where: str) -> None:
    want, got = nb.attrs, _host(nc.attrs.get("value"))
    if got is None:
        raise Specialize(f"{where}: unknown constant")
    if "value" in want:
        v = _host(want["value"])
        ok = v.shape == got.shape and v.dtype == got.dtype and \
            np.array_equal(v, got, equal_nan=True)
    elif "arange" in want:
        n = subst_syms(want["arange"], sizes)
        ok = got.dtype == want["dtype"] and np.array_equal(got, np.arange(n))
    else:
        shape = subst_syms(want["shape"], sizes)
        ok = got.dtype == want["dtype"] and tuple(got.shape) == tuple(shape) and \
            bool(np.all(got == want["fill"]))
    if not ok:
        raise Specialize(f"{where}: the constant differs")


def agree_graph(gb: Graph, gc: Graph, sizes: dict, mapping: dict) -> None:
    """Check symbolic graph `gb` against `gc`, traced at `sizes`; raise `Specialize`."""
    if len(gb.nodes) != len(gc.nodes):
        raise Specialize(f"{len(gb.nodes)} ops vs {len(gc.nodes)} (Python control flow "
                         "depends on the size)")
    for i, (nb, nc) in enumerate(zip(gb.nodes, gc.nodes)):
        where = f"op {i} ({nb.op})"
        if nb.op != nc.op or nb.compute_dtype is not nc.compute_dtype or \
                nb.out.dtype is not nc.out.dtype or len(nb.inputs) != len(nc.inputs):
            raise Specialize(f"{where}: the traces differ ({nb.op} vs {nc.op})")
        if nb.op == "constant":
            _agree_constant(nb, nc, sizes, where)
        else:
            _agree(list(nb.inputs), list(nc.inputs), sizes, mapping, where)
            _agree(nb.attrs, nc.attrs, sizes, mapping, where)
        _agree(tuple(nb.out.shape), tuple(nc.out.shape), sizes, mapping, f"{where} result shape")
        mapping[nb.out.id] = nc.out
    if len(gb.outputs) != len(gc.outputs) or any(
            mapping.get(x.id) is not y for x, y in zip(gb.outputs, gc.outputs)):
        raise Specialize("the graph outputs differ")


def agree_traces(tb, tc, sizes: dict) -> None:
    """Check the unified trace `tb` against trace `tc` made at `sizes`; raise `Specialize`."""
    if [s.expr for s in tb.input_sources] != [s.expr for s in tc.input_sources]:
        raise Specialize("the traces read different inputs")
    mapping: dict = {}
    for s, vb, vc in zip(tb.input_sources, tb.graph.inputs, tc.graph.inputs):
        _agree(tuple(vb.shape), tuple(vc.shape), sizes, mapping, f"input {s.label} shape")
        mapping[vb.id] = vc
    if [(x.pos, x.kind, x.key) for x in tb.breaks] != [(y.pos, y.kind, y.key) for y in tc.breaks]:
        raise Specialize("a value read into Python (a graph break) depends on the size")
    agree_graph(tb.graph, tc.graph, sizes, mapping)
    _same_results(tb, tc)
    for (_, pb), (_, pc) in zip(tb.backward, tc.backward):
        if len(pb.graph.inputs) != len(pc.graph.inputs) or pb.has_grad != pc.has_grad:
            raise Specialize("the backward graphs differ")
        local: dict = {}
        for vb, vc in zip(pb.graph.inputs, pc.graph.inputs):
            _agree(tuple(vb.shape), tuple(vc.shape), sizes, local, "backward input shape")
            local[vb.id] = vc
        agree_graph(pb.graph, pc.graph, sizes, local)
        if any(mapping.get(x.id) is not y for x, y in zip(pb.saved, pc.saved)):
            raise Specialize("the saved values of the backward graphs differ")
