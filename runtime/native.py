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

Modules: this one holds `NativeProgram` (building, the slot layout, the arena, rendering and
compiling the segments); runtime/native_plan.py the planning run, donation and arena offsets;
runtime/native_runner.py the generated runner.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from compiler.render_entry import (FIRST_INPUT_SLOT, INTS_SLOT, PARAMS_SLOT, PROBE_IR,
                                   SKINNY_PARAMS, ConvCall, GemmCall, IndexCall, KernelCall, Ptr,
                                   render_entry)
from compiler.render_gemm import FORMS, gemm_module

from . import blas, jit
# the planning run and the runner live in their own modules; their names stay importable here
from .native_plan import (_VIEW_KINDS, ALIGN, STATS, _allocate, _in_place_safe,  # noqa: F401
                          _ptr, _Root, _StepPlanner, _Unsupported)
from .native_runner import _GeneratedRunner

__all__ = ["NativeProgram", "abi_ok", "skinny_address", "STATS"]

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


def skinny_address(form: str, dtype: str) -> int:
    """The address of compiler/render_gemm.py's `form` kernel for `dtype` (compiled once per
    process, from the disk cache after the first)."""
    key = ("skinny", form, dtype)
    if key not in _abi:
        text, sym = gemm_module(form, dtype)
        _abi[key] = jit.compile_ir(text, sym)
    return _abi[key]


class NativeProgram(_StepPlanner, _GeneratedRunner):
    """A planned graph: call with input arrays (of the planned layouts) for the outputs."""

    def __init__(self):
        self.items: list = []
        self.lock = threading.Lock()
        self.syms = None        # a symbolic graph's sizes for this plan's layout (_plan)

    # ----- building (the planning run itself: _StepPlanner, runtime/native_plan.py) ---------
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
        self.params += [0] * len(FORMS)     # skinny GEMM kernels, compiled when a GEMM needs one
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
                form = c.skinny             # (native_plan: skinny_form, None: OpenBLAS)
                if form is not None:
                    self.params[SKINNY_PARAMS + FORMS.index((form, c.dtype))] = \
                        skinny_address(form, c.dtype)
                at = len(self.ints)
                self.ints.extend([c.n, c.m, c.k, c.ldb, c.lda, c.n,
                                  blas.threads_for(c.m, c.n, c.k)])
                run.append(GemmCall(c.dtype, c.ta, c.tb, at, self._ptr_of(c.a),
                                    self._ptr_of(c.b), self._ptr_of(c.c), form))
            elif kind == "conv":
                op, dtype, table, (px, po) = payload
                at = len(self.params)
                self.params.extend(int(d) for d in table)
                run.append(ConvCall(op, dtype, at, self._ptr_of(px), self._ptr_of(po)))
            elif kind == "index":
                op, dtype, dim, table, ptrs = payload
                at = len(self.params)
                self.params.extend(int(d) for d in table)
                run.append(IndexCall(op, dtype, dim, at, tuple(self._ptr_of(p) for p in ptrs)))
                self.checks = True
            elif kind == "threaded":
                flush()
                runner, unit, dims, ptrs, n0, total, stream = payload
                sched.append(("threaded", (runner.function(unit, stream), dims, n0, total,
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
