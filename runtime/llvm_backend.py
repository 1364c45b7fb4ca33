"""Run a graph with LLVM-compiled kernels: `LLVMProgram(graph)(arrays) -> list of arrays`.

The graph is lowered once (compiler/lower.py). Each call walks the plan's steps:
- a kernel step gathers its buffers, allocates its outputs, fills one int64 array with the domain
  sizes and every buffer's strides, picks (or compiles) the kernel variant for the arrays'
  innermost strides, and calls it through ctypes. Large kernels are split along the outermost dim
  over a thread pool (ctypes releases the GIL); small ones stay on the calling thread;
- an extern step calls BLAS (runtime/blas.py);
- a node step runs the op's eager rule, as the interpreter does.
A kernel the renderer cannot express (an op/dtype pair without a rule) falls back to running its
nodes one by one through the interpreter; `node.meta["ran"]` then says so.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from compiler.interpreter import _run_node, bind_syms, eager_args, free_lists
from compiler.ir import Graph, has_sym, subst_syms
from compiler.lower import ExternStep, KernelStep, lower
from compiler.render_llvm import (STREAM_ALIGN, UnsupportedOp, kernel_symbol, render_llvm,
                                  streamable)

from . import blas, jit

__all__ = ["LLVMProgram", "THREAD_THRESHOLD", "set_num_threads", "program_for", "compile_graph",
           "available"]

# Below this many domain points a kernel runs on the calling thread (and inside its graph's
# native entry function). Measured on the shared 2-vCPU box (load ~3.6), tanh(x*w+1) in float32:
# 2^18 points 0.48 ms on 1 thread vs 0.43 ms on 2, 2^20 5.8 vs 4.3 ms, 2^22 14.0 vs 13.0 ms,
# 2^24 33 vs 37 ms; a hand-off to a pool thread costs 20 us idle and milliseconds under load.
THREAD_THRESHOLD = 1 << 20
# A threaded kernel is cut into up to SPLIT_CHUNKS chunks per thread of at least CHUNK_POINTS
# points, claimed dynamically (run_split). With one half per thread, a thread slowed by the host
# held the call up: the gelu chain (16M float32, 2 threads) took 80 ms on one thread and 14 ms on
# the other in one run here. Without such stalls the two cost the same (4 A/B runs: medians
# 15.8-16.7 ms claimed, 16.2-16.4 ms halves).
SPLIT_CHUNKS = 8
CHUNK_POINTS = 1 << 17
# Outputs at least this large are recycled between calls when nothing references them.
RECYCLE_BYTES = 1 << 16
# Elementwise kernels writing one output of at least this many bytes (the 32 MB last-level cache
# here) store it with non-temporal stores (render_llvm's streaming form). Compiled x*w+b over
# 16M float32, one thread: 20.5 -> 17.7 ms.
STREAM_BYTES = 1 << 25
STREAMING = True
# backend="auto" on the CPU picks this backend (the interpreter otherwise).
AUTO_USES_LLVM = True
# Static-shape graphs run through one native entry function per segment (runtime/native.py).
NATIVE = True
MAX_NATIVE_PLANS = 8
# Reductions that keep the array's last dim run as column kernels (compiler/kernel_ir.py): the
# (128, 512) bias-gradient kernel of an MLP step went from 1.05 ms to 0.05 ms. False restores
# the strided inner loop (for measurements).
COLUMN_KERNELS = True
_threads = {"n": min(os.cpu_count() or 1, 8), "pool": None}


def _refs_of_unshared() -> int:
    """sys.getrefcount of an array held only by a list slot, read into a local first (the
    pattern `unshared` uses): 3 on CPython 3.11-3.13 (slot, local, argument), but interpreters
    that borrow local references count fewer, so it is measured, not assumed."""
    holder = [np.empty(0)]
    old = holder[0]
    return sys.getrefcount(old)


UNSHARED_REFS = _refs_of_unshared()


def unshared(holder: list, i: int) -> np.ndarray | None:
    """`holder[i]` when nothing but `holder` references it (no tensor, view or caller keeps
    it: safe to overwrite), else None."""
    old = holder[i]
    if old is not None and sys.getrefcount(old) == UNSHARED_REFS:
        return old
    return None


def set_num_threads(n: int) -> None:
    """Use up to `n` threads for large kernels (1 disables threading)."""
    _threads["n"] = max(1, int(n))
    _threads["pool"] = None


def _pool():
    if _threads["pool"] is None and _threads["n"] > 1:
        _threads["pool"] = ThreadPoolExecutor(_threads["n"] - 1, thread_name_prefix="dg-llvm")
    return _threads["pool"]


def _size(s, syms):
    return s if isinstance(s, int) else subst_syms(s, syms)


class _KernelRunner:
    """Calls one kernel step: variants by innermost-stride pattern, compiled on first use."""

    def __init__(self, step: KernelStep):
        self.step = step
        self.variants: dict = {}
        self.nbuf = len(step.inputs) + len(step.outputs)
        self.ndim = len(step.domain)
        self.specs = step.inputs + step.outputs
        self.recycle: list = [None] * len(step.outputs)
        self.static = not any(has_sym(s) for s in step.domain) and not any(
            has_sym(s) for spec in step.outputs for s in spec.shape)
        self.column = COLUMN_KERNELS and step.column
        self.unit_dim = step.unit_dim(self.column)
        self._streamable: dict = {}     # unit pattern -> whether its kernel has a streaming form

    def kernel(self, unit: tuple):
        """The kernel IR of this step for innermost-stride pattern `unit`."""
        return self.step.kernel(unit, self.column)

    def _output(self, i: int, shape: tuple, dtype) -> np.ndarray:
        """A buffer for output i: last call's array when nobody else holds it any more (a
        caching allocator: fresh pages cost a page fault each, ~10 ms per 64 MB), else new."""
        # a tensor, a view (its .base) or the caller's env holding it makes it shared
        old = unshared(self.recycle, i)
        if old is not None and old.shape == shape and old.nbytes >= RECYCLE_BYTES:
            return old
        a = np.empty(shape, dtype=dtype)
        self.recycle[i] = a
        return a

    def function(self, unit: tuple, streaming: bool = False):
        """The compiled kernel for innermost-stride pattern `unit` (its streaming-store form
        when `streaming`)."""
        fn = self.variants.get((unit, streaming))
        if fn is None:
            kernel = self.kernel(unit)
            ir = render_llvm(kernel, streaming=streaming)
            addr = jit.compile_ir(ir, kernel_symbol(kernel, streaming),
                                  STREAM_ALIGN if streaming else 0)
            proto = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                                     *([ctypes.c_void_p] * self.nbuf))
            fn = self.variants[unit, streaming] = proto(addr)
        return fn

    def streams(self, unit: tuple, outs: list) -> bool:
        """Whether this call writes its output with streaming stores: a 1-D elementwise kernel
        whose one output is at least STREAM_BYTES (bigger than the last-level cache: a
        consumer would read it from memory anyway) and element-aligned."""
        if not STREAMING or len(outs) != 1 or outs[0].nbytes < STREAM_BYTES:
            return False
        if unit not in self._streamable:
            self._streamable[unit] = streamable(self.kernel(unit))
        return self._streamable[unit] and outs[0].ctypes.data % outs[0].itemsize == 0

    def __call__(self, ins: list, syms) -> list:
        step = self.step
        sizes = [_size(s, syms) for s in step.domain] if syms else list(step.domain)
        outs = []
        for i, spec in enumerate(step.outputs):
            shape = tuple(_size(s, syms) for s in spec.shape) if syms else spec.shape
            outs.append(self._output(i, shape, spec.value.dtype.np))
        arrays = ins + outs
        unit, dims = self.layout(arrays, sizes, syms)
        total = 1
        for s in sizes:
            total *= s
        if total == 0:
            return outs
        unit = tuple(unit)
        fn = self.function(unit, self.streams(unit, outs))
        ptrs = [a.ctypes.data for a in arrays]
        run_split(fn, sizes[0], total, dims.ctypes.data, ptrs)
        return outs

    def layout(self, arrays: list, sizes: list, syms=None) -> tuple[list, np.ndarray]:
        """(innermost-unit-stride flag per buffer, the int64 sizes + strides table, then the
        step's per-call scalars: its size expressions at `syms`)."""
        nd = self.ndim
        params = self.step.params
        dims = np.zeros(nd + self.nbuf * nd + len(params), dtype=np.int64)
        dims[:nd] = sizes
        for k, p in enumerate(params):
            dims[nd + self.nbuf * nd + k] = subst_syms(p, syms)
        unit = []
        for b, (a, spec) in enumerate(zip(arrays, self.specs)):
            st = a.strides
            it = a.itemsize
            base = nd + b * nd
            for d, ax in enumerate(spec.axes):
                if ax is not None:
                    dims[base + d] = st[ax] // it
            ax = spec.axes[self.unit_dim]
            unit.append(ax is not None and (st[ax] == it or a.shape[ax] <= 1))
        return unit, dims


def threaded(n0: int, total: int) -> bool:
    """Whether a kernel of `total` points (`n0` outer rows) is split over threads."""
    return total >= THREAD_THRESHOLD and n0 >= 2 and _threads["n"] > 1


def split_bounds(n0: int, total: int, parts: int) -> list[int]:
    """Row bounds of the chunks a threaded kernel is cut into: SPLIT_CHUNKS per thread, each
    at least CHUNK_POINTS domain points (and at least a row), at least one per thread."""
    chunks = max(parts, min(n0, parts * SPLIT_CHUNKS, total // CHUNK_POINTS))
    return [n0 * i // chunks for i in range(chunks + 1)]


def run_split(fn, n0: int, total: int, dptr: int, ptrs: list) -> None:
    """Run kernel `fn` over rows 0..n0, split over the thread pool when it is large. The
    threads claim chunks from a shared counter (the GIL makes `next` atomic; the kernels run
    without it), so a thread that the OS or a shared machine's hypervisor slows down leaves
    its unclaimed chunks to the others instead of holding the whole call up."""
    if not threaded(n0, total):
        fn(0, n0, dptr, *ptrs)
        return
    parts = min(_threads["n"], n0)
    bounds = split_bounds(n0, total, parts)
    chunks = len(bounds) - 1
    claim = itertools.count().__next__

    def work():
        while (i := claim()) < chunks:
            fn(bounds[i], bounds[i + 1], dptr, *ptrs)
    pool = _pool()
    futs = [pool.submit(work) for _ in range(parts - 1)]
    work()
    for f in futs:
        f.result()


def _matmul(a: np.ndarray, b: np.ndarray, out_dtype) -> np.ndarray:
    if a.ndim == 2 and b.ndim == 2 and a.dtype == b.dtype and a.dtype.name in (
            "float32", "float64") and blas.available():
        return blas.matmul(a, b)
    return np.matmul(a, b)


class LLVMProgram:
    """A graph prepared for repeated runs on the CPU with LLVM kernels."""

    def __init__(self, graph: Graph, donate: dict | None = None):
        self.graph = graph
        # {output value id: input value id} an output may be written into (an optimizer
        # update written back in place into its parameter); the native plan decides if safe
        self.donate = dict(donate or {})
        self.plan = lower(graph)
        self.symbolic = any(has_sym(s) for v in graph.inputs for s in v.shape)
        frees = free_lists([step.nodes if isinstance(step, KernelStep) else [step.node]
                            for step in self.plan.steps], graph.outputs)
        self.steps = []
        for step, free in zip(self.plan.steps, frees):
            if isinstance(step, KernelStep):
                self.steps.append(("kernel", _KernelRunner(step), free))
            elif isinstance(step, ExternStep):
                self.steps.append(("extern", step.node, free))
            else:
                self.steps.append(("node", step.node, free))
        self.in_ids = [v.id for v in graph.inputs]
        self.out_ids = [v.id for v in graph.outputs]
        # native plans by input layout (None: this layout runs step by step); a symbolic
        # graph's plan serves the sizes of its layout (its Python steps read them)
        free_syms = not self.symbolic and any(has_sym(n.attrs) or has_sym(n.inputs)
                                              for n in graph.nodes)
        self.native = {} if NATIVE and not free_syms and _native_ok() else None

    def explain(self) -> str:
        """How each node ran (kernel number and fused group, BLAS, or the interpreter)."""
        return self.plan.text()

    def __call__(self, arrays, xp=np, syms: dict | None = None):
        """Run on input arrays: through the native plan for these input layouts when there is
        one (runtime/native.py), else step by step."""
        if xp is not np:
            raise RuntimeError("llvm backend: runs on the CPU only; use backend='cuda' or "
                               "'interpreter' for tensors on another device")
        if self.native is not None:
            for a in arrays:
                if type(a) is not np.ndarray:
                    break
            else:
                key = tuple([(a.shape, a.strides, a.dtype) for a in arrays])
                nat = self.native.get(key, False)
                if nat is False and len(self.native) < MAX_NATIVE_PLANS:
                    from .native import NativeProgram
                    nat, outs = NativeProgram.build(self, arrays)
                    self.native[key] = nat
                    return outs
                if nat:
                    outs = nat(arrays)
                    if outs is not None:
                        return outs
        return self.run_steps(arrays, syms)

    def run_steps(self, arrays, syms: dict | None = None) -> list:
        """Run the plan's steps one by one from Python."""
        env = dict(zip(self.in_ids, arrays))
        if syms is None and self.symbolic:
            syms = bind_syms(self.graph, arrays)
        for kind, obj, free in self.steps:
            if kind == "kernel":
                self._kernel(obj, env, syms)
            elif kind == "extern":
                env[obj.out.id] = self._extern(obj, env)
            else:
                env[obj.out.id] = self._node(obj, env, syms)
            for vid in free:
                env.pop(vid, None)
        return [env[i] for i in self.out_ids]

    @staticmethod
    def _extern(node, env):
        a, b = (env[x.id] for x in node.inputs)
        cdt = node.compute_dtype.np if node.compute_dtype is not None else None
        if cdt is not None:
            a, b = a.astype(cdt, copy=False), b.astype(cdt, copy=False)
        return _matmul(a, b, node.out.dtype)

    def _kernel(self, runner: _KernelRunner, env, syms):
        step = runner.step
        ins = [env[spec.value.id] for spec in step.inputs]
        if runner.variants is not None:
            try:
                outs = runner(ins, syms)
            except UnsupportedOp as e:
                runner.variants = None     # run these nodes through the interpreter from now on
                for n in step.nodes:
                    n.meta["ran"] = f"interpreter: the kernel could not be rendered ({e})"
            else:
                for spec, a in zip(step.outputs, outs):
                    env[spec.value.id] = a
                return
        for n in step.nodes:
            env[n.out.id] = self._node(n, env, syms)

    @staticmethod
    def _node(node, env, syms):
        args = eager_args(node, env)
        if syms is not None:    # scalar operands that are expressions of this call's sizes
            args = [subst_syms(a, syms) if not isinstance(a, np.ndarray) and has_sym(a) else a
                    for a in args]
        return _run_node(node, args, np, syms)


def _native_ok() -> bool:
    from .native import abi_ok
    return abi_ok()


def available() -> bool:
    """Whether llvmlite can be imported (the backend's only extra dependency)."""
    try:
        import llvmlite.binding  # noqa: F401
    except ImportError:
        return False
    return True


def program_for(graph: Graph, backend: str = "llvm", donate: dict | None = None):
    """The runner `dyngraph.compile` uses for a graph: `LLVMProgram` for backend "llvm", and for
    "auto" when every input lives on the CPU and llvmlite is installed; else the interpreter."""
    from compiler.interpreter import Interpreter
    if backend == "auto":
        if not AUTO_USES_LLVM:
            return Interpreter(graph)
        on_cpu = all(getattr(v.device, "type", "cpu") == "cpu" for v in graph.inputs)
        if not on_cpu or not available():
            return Interpreter(graph)
    return LLVMProgram(graph, donate)


def compile_graph(graph: Graph) -> LLVMProgram:
    """Prepare `graph` for repeated runs: `compile_graph(g)(arrays) -> list of arrays`."""
    return LLVMProgram(graph)
