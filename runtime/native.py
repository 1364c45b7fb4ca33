"""One native call per graph: a static-shape plan with a memory arena and an entry function.

`NativeProgram.build(program, arrays)` runs the lowered graph once the ordinary way (kernel by
kernel from Python) and watches where every value lands. From that run it plans:
- *slots*: 0 the arena, 1-2 the parameter tables (sizes, strides, offsets, BLAS pointers), then
  the inputs, the outputs that escape
  (fresh arrays every call), the results of steps that still run in Python, pinned constants;
- every value as (slot, byte offset) with constant strides: kernel and GEMM results get a place
  in the arena, views (reshape, permute, expand, slicing) are resolved once and cost nothing;
- the arena: one buffer, offsets by first fit over the steps' live ranges (a value dies after the
  last step that reads it or a view of it), so temporaries share memory;
- *segments*: runs of kernel and GEMM calls between steps that need Python (interpreter ops such
  as gather, kernels large enough to split over threads). Each segment is one LLVM function
  (compiler/render_entry.py) taking the Python list of slot arrays: one ctypes call.
A later call with the same input layouts fills the slot list and calls the segments. The plan
is specific to the input shapes, strides and dtypes (the key it is stored under), but the code is
not: sizes are parameters, so a new size reuses the compiled segments. Symbolic graphs and
graphs with empty arrays keep the step-by-step path.
"""

from __future__ import annotations

import ctypes
import functools
import threading
import types

import numpy as np

from compiler.kernel_ir import RUNTIME, Access, InstrKind, KernelBuilder
from compiler.render_entry import (FIRST_INPUT_SLOT, INTS_SLOT, PARAMS_SLOT, PROBE_IR, STATUS,
                                   GemmCall, IndexCall, KernelCall, Ptr, render_entry)
from compiler.render_llvm import UnsupportedOp, render_llvm
from dyngraph.ops.registry import OPS, OpKind

from . import blas, jit
from .llvm_backend import RECYCLE_BYTES, run_split, threaded, unshared

__all__ = ["NativeProgram", "abi_ok", "STATS"]

ALIGN = 64
STATS = {"plans": 0, "segments": 0, "calls": 0}
_VIEW_KINDS = (OpKind.MOVEMENT, OpKind.INDEX)
_abi: dict = {}


def abi_ok() -> bool:
    """Whether generated code reads list items and ndarray data pointers at the offsets
    compiler/render_entry.py assumes (checked once against ctypes)."""
    if "ok" not in _abi:
        try:
            fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.py_object, ctypes.c_int64)(
                jit.compile_ir(PROBE_IR, "dg_abi_probe"))
            arrays = [np.zeros(3), np.zeros((2, 5), np.float32)[:, 1:]]
            _abi["ok"] = all(fn(arrays, i) == a.ctypes.data for i, a in enumerate(arrays))
        except Exception:   # noqa: BLE001 - any failure means "use the step-by-step path"
            _abi["ok"] = False
    return _abi["ok"]


class _Unsupported(Exception):
    """The graph cannot be planned natively (the caller keeps the step-by-step path)."""


class _Root:
    """A memory block: where it lives (kind, slot) and its live range in plan items."""

    def __init__(self, kind: str, array: np.ndarray, birth: int):
        self.kind = kind          # "in", "out", "arena", "py", "const"
        self.array = array        # the array of the planning run
        self.birth = birth
        self.death = birth
        self.slot = -1
        self.offset = 0           # arena byte offset
        self.aliases: list = []   # roots whose memory this one may share


def _ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


class NativeProgram:
    """A planned graph: call with input arrays (of the planned layouts) for the outputs."""

    def __init__(self):
        self.items: list = []
        self.lock = threading.Lock()

    # ----- planning ---------------------------------------------------------------------------
    @classmethod
    def build(cls, prog, arrays) -> tuple[NativeProgram | None, list]:
        """(the native program or None, the outputs of this call)."""
        self = cls()
        try:
            outs = self._plan(prog, arrays)
        except _Unsupported:
            return None, self._results
        STATS["plans"] += 1
        return self, outs

    def _plan(self, prog, arrays) -> list:
        self._prog = prog
        env = dict(zip(prog.in_ids, arrays))
        self._results = None
        loc: dict[int, tuple] = {}           # value id -> (root, byte offset)
        roots: list[_Root] = []
        self.view_of: dict[int, object] = {}  # value id -> the view node producing it
        out_ids = self._out_ids = set(prog.out_ids)
        items: list = []                      # (kind, payload, roots read)

        def new_root(kind, vid, a):
            r = _Root(kind, a, len(items))
            roots.append(r)
            loc[vid] = (r, 0)
            return r

        for i, (vid, a) in enumerate(zip(prog.in_ids, arrays)):
            if vid not in loc:
                new_root("in", vid, a).slot = FIRST_INPUT_SLOT + i
        for kind, obj, _ in prog.steps:
            if kind == "kernel":
                self._plan_kernel(obj, env, loc, items, new_root, out_ids)
            elif kind == "extern":
                self._plan_gemm(obj, env, loc, items, new_root, out_ids)
            else:
                self._plan_node(obj, env, loc, items, new_root)
        self._results = [env[i] for i in prog.out_ids]
        for a in env.values():
            if getattr(a, "size", 1) == 0:
                raise _Unsupported("empty arrays")
        self._roots = roots
        self._finish(prog, env, loc, roots, items, out_ids)
        return self._results

    def _reads(self, vids, loc) -> set:
        return {id(loc[v][0]) for v in vids}

    def _plan_kernel(self, runner, env, loc, items, new_root, out_ids):
        """Plan one kernel step. The planning run computes its values with the nodes' eager
        rules into arrays of the kernel's output layout instead of compiling the kernel on
        its own (it is compiled once, inside its segment's module); only the rendering is
        checked here, so an op the renderer lacks still runs in Python."""
        step = runner.step
        ins = [env[spec.value.id] for spec in step.inputs]
        sizes = list(step.domain)
        outs = [np.empty(spec.shape, spec.value.dtype.np) for spec in step.outputs]
        unit, dims = runner.layout(ins + outs, sizes)
        unit = tuple(unit)
        total = int(np.prod(sizes))
        big = threaded(sizes[0], total)
        if runner.variants is not None:
            try:
                render_llvm(runner.kernel(unit))
            except UnsupportedOp as e:
                runner.variants = None
                for n in step.nodes:
                    n.meta["ran"] = f"interpreter: the kernel could not be rendered ({e})"
        if runner.variants is None:
            for n in step.nodes:
                self._plan_python(n, env, loc, items, new_root, kind="node")
            return
        scratch = dict(env)
        for n in step.nodes:
            scratch[n.out.id] = self._prog._node(n, scratch, None)
        for spec, a in zip(step.outputs, outs):
            a[...] = scratch[spec.value.id]
        in_vids = [spec.value.id for spec in step.inputs]
        for spec, a in zip(step.outputs, outs):
            env[spec.value.id] = a
            new_root("out" if spec.value.id in out_ids else "arena", spec.value.id, a)
        vids = in_vids + [spec.value.id for spec in step.outputs]
        ptrs = [self._where(v, env, loc) for v in vids]
        if big:
            items.append(("threaded", (runner, unit, dims, ptrs, sizes[0], total),
                          self._reads(vids, loc)))
        else:
            items.append(("kernel", (lambda: runner.kernel(unit), dims, ptrs, sizes[0], total),
                          self._reads(vids, loc)))

    def _plan_gemm(self, node, env, loc, items, new_root, out_ids):
        vids = [x.id for x in node.inputs]
        a, b = (env[v] for v in vids)
        cdt = node.compute_dtype
        ok = blas.available() and a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and \
            a.dtype.name in ("float32", "float64") and (cdt is None or cdt.np == a.dtype)
        if ok:      # an operand BLAS cannot address (a broadcast gradient, a strided slice)
            vids = [self._contiguous(v, env, loc, items, new_root) if blas.layout(env[v]) is None
                    else v for v in vids]
            a, b = (env[v] for v in vids)
        lay = blas.gemm_layout(a, b) if ok else None
        if lay is None:
            self._plan_python(node, env, loc, items, new_root, kind="extern")
            return
        out = blas.matmul(a, b)
        env[node.out.id] = out
        new_root("out" if node.out.id in out_ids else "arena", node.out.id, out)
        vids = vids + [node.out.id]
        pa, pb, pc = (self._where(v, env, loc) for v in vids)
        ta, lda, tb, ldb, m, n, k = lay
        call = types.SimpleNamespace(dtype=a.dtype.name, ta=ta, tb=tb, m=m, n=n, k=k, lda=lda,
                                     ldb=ldb, a=pa, b=pb, c=pc)
        items.append(("gemm", call, self._reads(vids, loc)))

    def _contiguous(self, vid, env, loc, items, new_root):
        """A C-contiguous copy of 2-D value `vid` in the arena, made by a copy kernel; returns
        the copy's (new) value id."""
        x = env[vid]
        copy = np.ascontiguousarray(x)
        cid = ("copy", vid)
        env[cid] = copy
        new_root("arena", cid, copy)
        inner = x.strides[1] // x.itemsize if x.shape[1] > 1 else 1
        kb = KernelBuilder(2, 0)
        src, dst = kb.buffer(x.dtype.name, False), kb.buffer(x.dtype.name, True)
        s = inner if inner in (0, 1) else RUNTIME
        kb.store(Access(dst, (RUNTIME, 1)), kb.load(Access(src, (RUNTIME, s)), x.dtype.name))
        kernel = kb.finish("k")
        m, n = x.shape
        dims = [m, n, x.strides[0] // x.itemsize, x.strides[1] // x.itemsize, n, 1]
        ptrs = [loc[vid], loc[cid]]
        items.append(("kernel", (lambda: kernel, dims, ptrs, m, m * n),
                      self._reads([vid, cid], loc)))
        return cid

    def _plan_node(self, node, env, loc, items, new_root):
        if node.op in ("gather", "scatter_add") and self._plan_index(node, env, loc, items,
                                                                   new_root):
            return
        op = OPS.get(node.op)
        vals = node.value_inputs
        if op is not None and op.kind in _VIEW_KINDS and vals:
            x = env[vals[0].id]
            out = self._prog._node(node, env, None)
            if type(out) is np.ndarray and out.size and np.may_share_memory(out, x):
                root, off = loc[vals[0].id]
                loc[node.out.id] = (root, off + _ptr(out) - _ptr(x))
                env[node.out.id] = out
                self.view_of[node.out.id] = node
                return
            self._add_python(node, out, env, loc, items, new_root, "node")
            return
        if node.op == "constant" and type(node.attrs.get("value")) is np.ndarray:
            out = self._prog._node(node, env, None)
            env[node.out.id] = out
            new_root("const", node.out.id, out)
            return
        self._plan_python(node, env, loc, items, new_root, kind="node")

    def _plan_index(self, node, env, loc, items, new_root) -> bool:
        """gather / scatter_add of 1-D or 2-D float arrays with an int64 index as an IndexCall
        inside the segment (compiler/render_entry.py), so cross-entropy's forward and backward
        do not split a training step; False: this node stays a Python step."""
        vals = node.value_inputs
        if len(vals) != len(node.inputs) or len(vals) != (2 if node.op == "gather" else 3):
            return False        # (a number as scatter_add's src)
        arrs = [env[v.id] for v in vals]
        x, index = arrs[0], arrs[1]
        cdt = node.compute_dtype
        if x.dtype.name not in ("float32", "float64") or index.dtype != np.int64 or \
                x.ndim not in (1, 2) or index.ndim != x.ndim or \
                any(a.dtype != x.dtype or a.ndim != x.ndim for a in arrs[2:]) or \
                (cdt is not None and cdt.np != x.dtype) or not all(
                    type(a) is np.ndarray and a.size for a in arrs):
            return False
        dim = node.attrs["dim"] % x.ndim
        out = self._prog._node(node, env, None)
        if type(out) is not np.ndarray or out.dtype != x.dtype or out.shape != (
                index.shape if node.op == "gather" else x.shape):
            return False
        res = np.empty(out.shape, out.dtype)
        res[...] = out
        env[node.out.id] = res
        new_root("out" if node.out.id in self._out_ids else "arena", node.out.id, res)
        if x.ndim == 1:         # one row: dim 1 of a (1, n) view
            dim = 1

        def shape2(a):
            return (1,) + a.shape if a.ndim == 1 else a.shape

        def strides2(a):
            st = tuple(s // a.itemsize for s in a.strides)
            return (0,) + st if a.ndim == 1 else st

        table = [*shape2(index), shape2(x)[dim]]
        for a in arrs + [res]:
            table += strides2(a)
        if node.op == "scatter_add":
            table += shape2(x)
        vids = [v.id for v in vals] + [node.out.id]
        call = (node.op, x.dtype.name, dim, table, [self._where(v, env, loc) for v in vids])
        items.append(("index", call, self._reads(vids, loc)))
        return True

    def _plan_python(self, node, env, loc, items, new_root, kind):
        out = (self._prog._extern(node, env) if kind == "extern"
               else self._prog._node(node, env, None))
        self._add_python(node, out, env, loc, items, new_root, kind)

    def _add_python(self, node, out, env, loc, items, new_root, kind):
        if type(out) is not np.ndarray:
            raise _Unsupported(f"{node.op} returned {type(out).__name__}")
        vids = [x.id for x in node.value_inputs]
        reads = self._reads(vids, loc)
        env[node.out.id] = out
        r = new_root("py", node.out.id, out)
        # a result that shares memory with an input (an op returning its argument) keeps that
        # input's block alive as long as it is read
        r.aliases = [loc[x.id][0] for x in node.value_inputs
                     if np.may_share_memory(out, env[x.id])]
        items.append(("python", (kind, node, r, (out.shape, out.strides, out.dtype)), reads))

    @staticmethod
    def _where(vid, env, loc):
        """(root, byte offset) of a value a kernel or GEMM addresses."""
        root, off = loc[vid]
        return root, off

    # ----- arena, slots, segments ----------------------------------------------------------
    def _finish(self, prog, env, loc, roots, items, out_ids):
        end = len(items)
        by_id = {id(r): r for r in roots}
        for i, (_, _, reads) in enumerate(items):
            for rid in reads:
                r = by_id[rid]
                r.death = max(r.death, i)
        for vid in prog.out_ids:
            loc[vid][0].death = end
        for r in sorted(roots, key=lambda r: -r.birth):
            for a in r.aliases:
                a.death = max(a.death, r.death)
        # python steps read values (and views) whose roots must outlive them: counted above
        self._donate(prog, env, loc, items)
        self.arena_bytes = _allocate([r for r in roots if r.kind == "arena"])
        nin = len(prog.in_ids)
        slot = FIRST_INPUT_SLOT + nin
        template: list = [None] * slot
        self.fresh = []       # [slot, shape, dtype, last array] of outputs allocated per call
        for r in roots:
            if r.kind in ("out", "py", "const"):
                r.slot = slot
                slot += 1
                template.append(r.array if r.kind == "const" else None)
                if r.kind == "out":
                    self.fresh.append([r.slot, r.array.shape, r.array.dtype, None])
        raw = np.empty(self.arena_bytes + ALIGN, np.uint8)
        start = (-_ptr(raw)) % ALIGN
        self.arena = raw[start:start + self.arena_bytes]
        self.arena_base = _ptr(self.arena)
        template[0] = self.arena
        self.params = [blas.gemm_address("float32"), blas.gemm_address("float64"),
                       blas.threads_address()] if blas.available() else [0, 0, 0]
        self.ints: list[int] = [0]     # [STATUS], GEMM sizes
        self.int_bits = blas.int_bits() if blas.available() else 32
        self.checks = False             # the segments hold index checks (read STATUS)
        for r in roots:
            if r.kind == "arena":
                r.slot = 0
        self.template = template
        self.nin = nin
        self.loc = loc
        self._env_plan = env
        self._schedule(items)
        template[PARAMS_SLOT] = np.array(self.params, dtype=np.int64)
        template[INTS_SLOT] = np.array(self.ints, dtype=np.int64 if self.int_bits == 64
                                       else np.int32)
        self._outputs(prog, env, loc)
        del self._env_plan
        self.runner = self._make_runner()

    def _donate(self, prog, env, loc, items) -> None:
        """Let a kernel write an output into an input's array (`prog.donate`: an optimizer
        update written back in place into its parameter) where that is safe: the kernel is the
        input's last reader and no Python step follows it (a fallback would see the write),
        the two have one layout, and every element stored depends on the load of the same
        element of the input (so the load comes first even with noalias pointers)."""
        donate = getattr(prog, "donate", None)
        if not donate:
            return
        # a Python step, or an index check that can fail (the call then runs again step by
        # step), must not follow a write into an input
        last_py = max((i for i, it in enumerate(items) if it[0] in ("python", "index")),
                      default=-1)
        outs = list(prog.out_ids)
        for out_vid, in_vid in donate.items():
            if outs.count(out_vid) != 1 or in_vid in outs or out_vid not in loc or \
                    in_vid not in loc:
                continue
            (ro, oo), (ri, oi) = loc[out_vid], loc[in_vid]
            a, b = env[out_vid], env[in_vid]
            if ro.kind != "out" or ri.kind != "in" or oo or oi or ro.birth <= last_py or \
                    ri.death != ro.birth or ri.aliases or ro.array is not a or \
                    (a.shape, a.strides, a.dtype) != (b.shape, b.strides, b.dtype) or \
                    any(r.kind == "donated" and r.slot == ri.slot for r in self._roots):
                continue
            kind, payload, _ = items[ro.birth]
            if kind == "kernel":
                kernel, ptrs = payload[0](), payload[2]
            elif kind == "threaded":
                kernel, ptrs = payload[0].kernel(payload[1]), payload[3]
            else:
                continue
            if _in_place_safe(kernel, [p[0] for p in ptrs], ri, ro):
                ro.kind, ro.slot = "donated", ri.slot
                ro.array = b

    def _param(self, value: int) -> int:
        self.params.append(int(value))
        return len(self.params) - 1

    def _ptr_of(self, where) -> Ptr:
        root, off = where
        if root.kind == "arena":
            off += root.offset
        elif off == 0:
            return Ptr(root.slot)
        return Ptr(root.slot, self._param(off))

    def _byte_offset(self, where) -> tuple:
        root, off = where
        return root.slot, off + (root.offset if root.kind == "arena" else 0)

    def _schedule(self, items):
        run: list = []
        sched: list = []

        def flush():
            if run:
                ir, sym = render_entry(list(run), self.int_bits)
                addr = jit.compile_ir(ir, sym)
                sched.append(("native", ctypes.CFUNCTYPE(None, ctypes.py_object)(addr)))
                STATS["segments"] += 1
                run.clear()

        for kind, payload, _ in items:
            if kind == "kernel":
                make, dims, ptrs, n0, total = payload
                at = len(self.params)
                self.params.extend(int(d) for d in dims)
                run.append(KernelCall(make(), at,
                                      tuple(self._ptr_of(p) for p in ptrs)))
            elif kind == "gemm":
                c = payload
                at = len(self.ints)
                self.ints.extend([c.n, c.m, c.k, c.ldb, c.lda, c.n,
                                  blas.threads_for(c.m, c.n, c.k)])
                run.append(GemmCall(c.dtype, c.ta, c.tb, at, self._ptr_of(c.a),
                                    self._ptr_of(c.b), self._ptr_of(c.c)))
            elif kind == "index":
                op, dtype, dim, table, ptrs = payload
                at = len(self.params)
                self.params.extend(int(d) for d in table)
                run.append(IndexCall(op, dtype, dim, at, tuple(self._ptr_of(p) for p in ptrs)))
                self.checks = True
            elif kind == "threaded":
                flush()
                runner, unit, dims, ptrs, n0, total = payload
                sched.append(("threaded", (runner.function(unit), dims, n0, total,
                                           [self._byte_offset(p) for p in ptrs])))
            else:
                flush()
                how, node, root, layout = payload
                sched.append(("python", (how, node, root.slot, layout,
                                         self._prepare_args(node.value_inputs))))
        flush()
        self.schedule = sched

    def _prepare_args(self, values) -> list:
        """Per input value of a Python step: how to get its array at run time."""
        return [self._getter(v.id) for v in values]

    def _getter(self, vid):
        """A value's array at run time: ("slot", slot) for a slot's own array, ("static", arr)
        for a fixed view (arena, constant), ("replay", [view nodes]) for a view of a per-call
        array."""
        root, off = self.loc[vid]
        if vid not in self.view_of:
            if root.kind == "arena":
                return ("static", self._arena_view(vid, root, off))
            if root.kind == "const":
                return ("static", root.array)
            return ("slot", root.slot)
        if root.kind == "arena":
            return ("static", self._arena_view(vid, root, off))
        if root.kind == "const":
            return ("static", self._plan_array(vid))
        chain = []
        v = vid
        while v in self.view_of:
            node = self.view_of[v]
            chain.append(node)
            v = node.value_inputs[0].id
        return ("replay", (self.loc[v][0].slot, v, chain[::-1]))

    def _plan_array(self, vid):
        return self._env_plan[vid]

    def _arena_view(self, vid, root, off):
        a = self._env_plan[vid]
        return np.ndarray(a.shape, a.dtype, buffer=self.arena, offset=root.offset + off,
                          strides=a.strides)

    def _outputs(self, prog, env, loc):
        self.outs = []
        for vid in prog.out_ids:
            g = self._getter(vid)
            root = loc[vid][0]
            copy = root.kind == "arena"
            self.outs.append((g, copy))

    # ----- running ------------------------------------------------------------------------------
    def __call__(self, arrays) -> list | None:
        """The outputs, or None when this call does not fit the plan (the caller runs it
        step by step)."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            return self._run(arrays)
        finally:
            self.lock.release()

    def _run(self, arrays):
        return self.runner(arrays)

    def _make_runner(self):
        """A Python function specialised to this plan (generated once): it fills the slot list
        and runs the schedule with no loops, dict lookups or per-call branching on item kinds,
        so a small graph's call costs little more than its ctypes calls."""
        ns: dict = {"_empty": np.empty, "_unshared": unshared, "STATS": STATS}
        lines = ["def run(arrays):"]
        first = FIRST_INPUT_SLOT
        slots = [f"T{i}" for i in range(len(self.template))]
        for i, v in enumerate(self.template):
            ns[f"T{i}"] = v
        slots[first:first + self.nin] = [f"arrays[{i}]" for i in range(self.nin)]
        big = []
        for k, (slot, shape, dtype, _) in enumerate(self.fresh):
            ns[f"S{k}"], ns[f"D{k}"] = shape, dtype
            if int(np.prod(shape)) * dtype.itemsize >= RECYCLE_BYTES:
                big.append((k, slot))
            else:
                slots[slot] = f"_empty(S{k}, D{k})"
        lines.append(f"    lst = [{', '.join(slots)}]")
        for k, slot in big:     # last call's output again when nobody holds it any more
            ns[f"F{k}"] = self.fresh[k]
            lines += [f"    o = _unshared(F{k}, 3)",
                      "    if o is None:",
                      f"        o = F{k}[3] = _empty(S{k}, D{k})",
                      f"    lst[{slot}] = o"]
        for j, (kind, obj) in enumerate(self.schedule):
            if kind == "native":
                ns[f"N{j}"] = obj
                lines.append(f"    N{j}(lst)")
                if self.checks:     # an index out of bounds: run step by step (it raises)
                    lines += [f"    if T{INTS_SLOT}[{STATUS}]:",
                              f"        T{INTS_SLOT}[{STATUS}] = 0", "        return None"]
            elif kind == "python":
                ns[f"P{j}"] = functools.partial(self._python_step, obj)
                lines += [f"    if not P{j}(lst):", "        return None"]
            else:
                ns[f"P{j}"] = functools.partial(self._threaded_step, obj)
                lines.append(f"    P{j}(lst)")
        lines.append('    STATS["calls"] += 1')
        res = []
        for k, (g, copy) in enumerate(self.outs):
            kind, v = g
            if kind == "slot":
                res.append(f"lst[{v}]")
            elif kind == "static":
                ns[f"V{k}"] = v
                res.append(f"V{k}.copy()" if copy else f"V{k}")
            else:
                ns[f"G{k}"] = functools.partial(self._fetch, g)
                res.append(f"G{k}(lst).copy()" if copy else f"G{k}(lst)")
        lines.append(f"    return [{', '.join(res)}]")
        exec("\n".join(lines), ns)   # noqa: S102 - text built above from slot numbers only
        return ns["run"]

    def _python_step(self, obj, lst) -> bool:
        """Run one step that stays in Python; False when its result does not fit the plan."""
        how, node, slot, layout, getters = obj
        args = [self._fetch(g, lst) for g in getters]
        env = {x.id: a for x, a in zip(node.value_inputs, args)}
        out = self._prog._extern(node, env) if how == "extern" else \
            self._prog._node(node, env, None)
        if type(out) is not np.ndarray or (out.shape, out.strides, out.dtype) != layout:
            return False
        lst[slot] = out
        return True

    def _threaded_step(self, obj, lst) -> None:
        """Run one kernel split over the thread pool."""
        fn, dims, n0, total, ptrs = obj
        addrs = [(self.arena_base if slot == 0 else _ptr(lst[slot])) + off
                 for slot, off in ptrs]
        run_split(fn, n0, total, dims.ctypes.data, addrs)

    def _fetch(self, g, lst):
        """The array of getter `g` (see `_getter`) for slot list `lst`."""
        kind, v = g
        if kind == "slot":
            return lst[v]
        if kind == "static":
            return v
        slot, vid, chain = v
        env = {vid: lst[slot]}
        for node in chain:
            env[node.out.id] = self._prog._node(node, env, None)
        return env[chain[-1].out.id]


def _in_place_safe(kernel, buf_roots, src, dst) -> bool:
    """Whether `kernel` may store buffer root `dst` over `src`: one store to dst, src read only
    through that store's access, and the stored value computed from that load."""
    ins = [i for i, r in enumerate(buf_roots) if r is src]
    outs = [i for i, r in enumerate(buf_roots) if r is dst]
    stores = [s for loop in kernel.loops for s in getattr(loop, "stores", ())]
    stores += kernel.outer_stores
    mine = [s for s in stores if s.access.buffer in outs]
    if len(ins) != 1 or len(outs) != 1 or len(mine) != 1:
        return False
    access = Access(ins[0], mine[0].access.strides)
    loads = [i for i in kernel.instrs if i.kind is InstrKind.LOAD and i.attr.buffer == ins[0]]
    if len(loads) != 1 or loads[0].attr != access:
        return False
    seen, stack = set(), [mine[0].value]
    while stack:
        i = stack.pop()
        if i == loads[0].id:
            return True
        if i not in seen:
            seen.add(i)
            ins = kernel.instrs[i]
            stack.extend(a for a in ins.args if a is not None)
            if ins.kind is InstrKind.ACC:
                stack.append(ins.attr.src)
    return False


def _allocate(roots: list) -> int:
    """First-fit arena offsets for `roots` (by birth); a block is reused once its last reader
    ran. Returns the arena size in bytes."""
    live: list[_Root] = []
    top = 0
    for r in sorted(roots, key=lambda r: r.birth):
        live = [x for x in live if x.death >= r.birth]
        size = (r.array.nbytes + ALIGN - 1) // ALIGN * ALIGN
        pos = 0
        for x in sorted(live, key=lambda x: x.offset):
            if x.offset - pos >= size:
                break
            pos = max(pos, x.offset + (x.array.nbytes + ALIGN - 1) // ALIGN * ALIGN)
        r.offset = pos
        live.append(r)
        top = max(top, pos + size)
    return top
