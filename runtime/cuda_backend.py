"""Run a graph on a CUDA GPU: `CUDAProgram(graph)(arrays) -> list of cupy arrays`.

The graph is lowered once (compiler/lower.py), as for the LLVM backend. Each call walks the steps:
- a kernel step picks its layout from the sizes and the arrays (compiler/render_cuda.py:
  `choose_variant`), renders CUDA C, compiles it with NVRTC into a cubin (cached in memory and on
  disk by source hash and device architecture) and launches it through `cupy.RawModule`. Sizes
  and strides are kernel arguments, so one module serves every size of a symbolic graph;
- an extern step is a cuBLAS GEMM, called directly (runtime/cublas.py) so that a CUDA graph can
  capture it (cupy refuses cuBLAS calls during a capture); `cupy.matmul` for batched products;
- a node step runs the op's eager rule with cupy (views, indexing, sorting, conv's im2col).
Arrays come from cupy's memory pool; each value is dropped after its last reader (the liveness
the memory plan computes), which returns its block to the pool for the next step.

`mode="reduce-overhead"` (backend "cuda:reduce-overhead") captures the whole program as a CUDA
graph on the third call and replays it: one launch per call instead of one per kernel. Inputs whose
device pointer changes between calls (a new batch) are copied into static buffers first; inputs
that stay put (parameters, updated in place) are read where they are, and a moved one triggers a
recapture. The capture allocates from a private memory pool kept with the graph, so nothing
outside can be handed memory the replays write. Programs that synchronise (a `.item()`, data-
dependent shapes) cannot be captured; they keep running step by step (`explain` says why).

Nothing here imports cupy at module import time: CPU-only machines import this file freely.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np

from compiler.interpreter import _run_node, bind_syms, eager_args, free_lists
from compiler.ir import Graph, has_sym, subst_syms
from compiler.lower import ExternStep, KernelStep, lower
from compiler.render_base import symbol_name
from compiler.render_c import CRenderer, UnsupportedOp
from compiler.render_cuda import (
    Variant,
    choose_variant,
    kernel_names,
    launch_config,
    max_vec,
    render_cuda,
    split_count,
    vec_candidates,
)
from dyngraph._device import capturing, deferred_checks

from . import cublas, nvrtc

__all__ = ["CUDAProgram", "program_for", "available", "wants_cuda", "STATS", "module_for",
           "cache_dir"]

STATS = {"compiled": 0, "memory_hits": 0, "disk_hits": 0, "corrupt": 0, "graph_captures": 0,
         "graph_replays": 0, "autotuned": 0}
# Row kernels over at least this many points time their register-cached form against the one
# that re-reads the row on their first launch at a size, and keep the faster (`_autotune`).
AUTOTUNE_ELEMS = 1 << 22
_MODULES: dict = {}           # (source hash, arch) -> cupy.RawModule
_BIG = (1 << 31) - (1 << 24)  # past this, offsets and grid-stride counters use 64 bits


def _cp():
    import cupy
    return cupy


def available() -> bool:
    """Whether cupy imports and sees a CUDA device."""
    try:
        return bool(_cp().cuda.is_available())
    except Exception:  # noqa: BLE001 - no cupy, no driver, no device
        return False


def wants_cuda(graph: Graph, backend: str) -> bool:
    """Does `backend` mean this backend for `graph` ("cuda...", or "auto" with CUDA inputs)?"""
    if backend.startswith("cuda"):
        return True
    return backend == "auto" and any(getattr(v.device, "type", "cpu") == "cuda"
                                     for v in graph.inputs)


def cache_dir() -> str:
    """Where compiled cubins are kept: $DYNGRAPH_CACHE_DIR/cuda (default ~/.cache/dyngraph)."""
    root = os.environ.get("DYNGRAPH_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "dyngraph")
    return os.path.join(root, "cuda")


def _arch() -> str:
    return str(_cp().cuda.Device().compute_capability)       # "90" on H100/H200


def module_for(src: str):
    """A loaded `cupy.RawModule` for CUDA C `src` on the current device: from memory, from the
    disk cache (`<key>.cubin` beside `<key>.sha256`, key = hash of arch, NVRTC version and
    source), or compiled by NVRTC and written there (temp file, then rename)."""
    cp = _cp()
    arch = _arch()
    comp = nvrtc.compiler()
    if comp is None:
        raise RuntimeError(f"cuda backend: no CUDA C compiler: {nvrtc.reason()}")
    key = hashlib.sha256(f"{arch}\0{comp.version()}\0{src}".encode()).hexdigest()
    mod = _MODULES.get(key)
    if mod is not None:
        STATS["memory_hits"] += 1
        return mod
    path = os.path.join(cache_dir(), key + ".cubin")
    if _entry_ok(path):
        STATS["disk_hits"] += 1
    else:
        cubin = comp.cubin(src, arch, ["--std=c++17"])
        STATS["compiled"] += 1
        if not _write_entry(path, cubin):
            path = _scratch_file(cubin)
    mod = _MODULES[key] = cp.RawModule(path=path)
    return mod


def _entry_ok(path: str) -> bool:
    """Is the cached cubin there and intact (its SHA-256 beside it)?"""
    try:
        with open(path, "rb") as f:
            payload = f.read()
        with open(path[:-len(".cubin")] + ".sha256") as f:
            digest = f.read().strip()
    except OSError:
        return False
    if hashlib.sha256(payload).hexdigest() != digest:
        STATS["corrupt"] += 1
        return False
    return True


def _write_entry(path: str, cubin: bytes) -> bool:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        for target, data in ((path, cubin),
                             (path[:-len(".cubin")] + ".sha256",
                              hashlib.sha256(cubin).hexdigest().encode())):
            tmp = f"{target}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        return True
    except OSError:
        return False        # a read-only cache only costs a recompile


def _scratch_file(cubin: bytes) -> str:
    import tempfile
    fd, name = tempfile.mkstemp(suffix=".cubin")
    with os.fdopen(fd, "wb") as f:
        f.write(cubin)
    return name


def _nodes(step) -> list:
    """The graph nodes a plan step runs."""
    return step.nodes if isinstance(step, KernelStep) else [step.node]


def _size(s, syms):
    return s if isinstance(s, int) else subst_syms(s, syms)


class _KernelRunner:
    """Launches one kernel step: kernels by innermost-stride pattern, layouts by size."""

    def __init__(self, step: KernelStep, sm_count: int):
        self.step = step
        self.sm_count = sm_count
        self.specs = step.inputs + step.outputs
        self.kernels: dict = {}         # unit pattern -> (kernel, stride slots, vec buffers)
        self.functions: dict = {}       # (unit, variant) -> [cupy.RawKernel]
        self.plans: dict = {}           # (sizes, inputs' layouts) -> launch plan (`_plan`)
        self.tuned: list = []           # what `_autotune` measured and chose
        self.failed = None
        self.keep = None                # a list collecting scratch arrays during a capture

    def _kernel(self, unit: tuple):
        got = self.kernels.get(unit)
        if got is None:
            k = self.step.kernel(unit)
            got = self.kernels[unit] = (k, CRenderer(k).runtime_strides(), vec_candidates(k),
                                        max_vec(k))
        return got

    def __call__(self, ins: list, syms) -> list:
        cp = _cp()
        # the layout decisions depend on the sizes, the inputs' strides and their pointers'
        # alignment (outputs are fresh pool blocks, aligned): planned once per such key
        key = (tuple(syms.values()) if syms else None,
               tuple((a.shape, a.strides, a.data.ptr & 15) for a in ins))
        plan = self.plans.get(key)
        if plan is None:
            if len(self.plans) >= 256:
                self.plans.clear()
            outs = self._outputs(cp, syms)
            plan = self.plans[key] = self._plan(cp, ins, outs, syms)
        else:
            outs = [cp.empty(shape, dtype=dt) for shape, dt in plan[0]]
        _, launches, scalars, work = plan
        if launches is None:
            return outs
        args = scalars + ins + outs
        if work:
            ws = [cp.empty(n, dtype=dt) if n else chunk for n, dt, chunk in work]
            args += ws
            if self.keep is not None:
                self.keep.extend(a for a in ws if isinstance(a, cp.ndarray))
        args = tuple(args)
        for fn, grid, block in launches:
            fn(grid, block, args)
        return outs

    def _outputs(self, cp, syms) -> list:
        return [cp.empty(tuple(_size(s, syms) for s in spec.shape) if syms else spec.shape,
                         dtype=spec.value.dtype.np) for spec in self.step.outputs]

    def _plan(self, cp, ins: list, outs: list, syms) -> tuple:
        """(output shapes and dtypes, [(function, grid, block)] or None when there is nothing
        to compute, the size and stride arguments, the split form's workspaces (count, dtype,
        or the chunk argument))."""
        step = self.step
        sizes = [_size(s, syms) for s in step.domain] if syms else list(step.domain)
        out_specs = [(o.shape, o.dtype) for o in outs]
        arrays = ins + outs
        total = int(np.prod(sizes))
        if total == 0:
            return out_specs, None, [], []
        nd = len(sizes)
        strides = {}
        unit = []
        extent = total
        for b, (a, spec) in enumerate(zip(arrays, self.specs)):
            span = 0
            for d, ax in enumerate(spec.axes):
                if ax is not None:
                    st = a.strides[ax] // a.itemsize
                    strides[b, d] = st
                    span += abs(st) * (sizes[d] - 1)
            extent = max(extent, span + 1)
            ax = spec.axes[-1]
            unit.append(ax is not None and (a.strides[ax] == a.itemsize or a.shape[ax] <= 1))
        kernel, slots, vec_bufs, widest = self._kernel(tuple(unit))
        vec = self._vec_width(widest, vec_bufs, arrays, strides, sizes, nd)
        strided_inner = kernel.n_inner > 0 and any(
            not unit[b] and self.specs[b].axes[-1] is not None for b in range(len(ins)))
        variant = choose_variant(kernel, sizes, vec_ok=vec, big_index=extent >= _BIG,
                                 strided_inner=strided_inner, sm_count=self.sm_count)
        ity = np.int64 if variant.index_bits == 64 else np.int32
        scalars = [ity(s) for s in sizes] + [ity(strides.get(slot, 0)) for slot in slots] + [
            np.int64(subst_syms(p, syms)) for p in step.params]     # (render_cuda.n_params)
        configs = launch_config(variant, sizes, kernel.n_outer, self.sm_count)
        if variant.mode == "row" and variant.cache and total >= AUTOTUNE_ELEMS and \
                hasattr(cp.cuda, "Event") and not capturing(cp):
            variant = self._autotune(cp, kernel, tuple(unit), variant, configs,
                                     tuple(scalars + arrays))
        fns = self._functions(kernel, tuple(unit), variant)
        work = []
        if variant.mode == "split":
            outer = int(np.prod(sizes[:kernel.n_outer]))
            inner = int(np.prod(sizes[kernel.n_outer:]))
            nsplit, chunk = split_count(inner, outer, self.sm_count)
            work.append((0, None, ity(chunk)))
            for r in kernel.loops[0].reduces:
                work.append((outer * nsplit, np.dtype(r.acc_dtype), None))
                if r.kind.value in ("argmax", "argmin"):
                    work.append((outer * nsplit, np.dtype(np.int64), None))
        launches = [(fn, grid, block) for fn, (grid, block) in zip(fns, configs)]
        return out_specs, launches, scalars, work

    def _autotune(self, cp, kernel, unit, variant, configs, args):
        """Time the register-cached row form against the one that re-reads the row (same
        threads, same order: the results are identical) on these arrays, and keep the faster.
        Which wins depends on the kernel (measured on an H200 at (8192, 8192): layer norm 0.147
        vs 0.162 ms with the cache, softmax 0.215 vs 0.165 ms without it)."""
        times = {}
        candidates = (variant, dataclasses.replace(variant, cache=0))
        fns = {v: self._functions(kernel, unit, v) for v in candidates}
        for v in candidates:                        # warm-up (module load, caches)
            for fn, (grid, block) in zip(fns[v], configs):
                fn(grid, block, args)
        for _ in range(3):
            for v in candidates:
                start, end = cp.cuda.Event(), cp.cuda.Event()
                start.record()
                for fn, (grid, block) in zip(fns[v], configs):
                    fn(grid, block, args)
                end.record()
                end.synchronize()
                times.setdefault(v, []).append(cp.cuda.get_elapsed_time(start, end))
        best = min(candidates, key=lambda v: sorted(times[v])[1])
        STATS["autotuned"] += 1
        self.tuned.append(f"{symbol_name(kernel)}: timed on its first launch, kept "
                          f"{best.text()} ({sorted(times[best])[1]:.3f} ms; other "
                          + ", ".join(f"{v.text()} {sorted(times[v])[1]:.3f} ms"
                                      for v in candidates if v != best) + ")")
        return best

    @staticmethod
    def _vec_width(widest, vec_bufs, arrays, strides, sizes, nd) -> int:
        """The widest vector every contiguous buffer is aligned for (pointer, strides, size)."""
        vec = widest
        while vec > 1:
            ok = sizes[-1] % vec == 0
            for b in vec_bufs:
                a = arrays[b]
                ok = ok and a.data.ptr % (vec * a.itemsize) == 0 and all(
                    strides.get((b, d), 0) % vec == 0 for d in range(nd - 1))
            if ok:
                return vec
            vec //= 2
        return 1

    def _functions(self, kernel, unit, variant: Variant):
        fns = self.functions.get((unit, variant))
        if fns is None:
            mod = module_for(render_cuda(kernel, variant))
            fns = self.functions[unit, variant] = [mod.get_function(n)
                                                   for n in kernel_names(kernel, variant)]
        return fns


class CUDAProgram:
    """A graph prepared for repeated runs on a CUDA device."""

    def __init__(self, graph: Graph, graphs: bool = False):
        cp = _cp()
        self.graph = graph
        self.plan = lower(graph)
        for step in self.plan.steps:
            for n in _nodes(step):
                ran = n.meta.get("ran", "")
                n.meta["ran"] = ran.replace("llvm kernel", "cuda kernel").replace(
                    "extern: BLAS gemm", "extern: cuBLAS gemm")
        self.symbolic = any(has_sym(s) for v in graph.inputs for s in v.shape)
        sm = cp.cuda.Device().attributes.get("MultiProcessorCount", 132)
        frees = free_lists([_nodes(step) for step in self.plan.steps], graph.outputs)
        self.steps = []
        for step, free in zip(self.plan.steps, frees):
            if isinstance(step, KernelStep):
                self.steps.append(("kernel", _KernelRunner(step, sm), free))
            elif isinstance(step, ExternStep):
                self.steps.append(("extern", step.node, free))
            else:
                self.steps.append(("node", step.node, free))
        self.in_ids = [v.id for v in graph.inputs]
        self.out_ids = [v.id for v in graph.outputs]
        self.consts: dict = {}      # (value id, device id) -> a graph constant on that device
        self.cuda_graph = _GraphRunner(self) if graphs and not self.symbolic else None
        self.graph_note = "" if graphs and not self.symbolic else \
            ("CUDA graphs: off (symbolic sizes)" if graphs else "")

    def explain(self) -> str:
        """How each node ran (cuda kernel N, cuBLAS, or the eager rule) and the CUDA graph."""
        text = self.plan.text()
        for kind, obj, _ in self.steps:
            for t in obj.tuned if kind == "kernel" else ():
                text += f"\n  {t}"
        note = self.cuda_graph.note if self.cuda_graph is not None else self.graph_note
        return text + (f"\n  {note}" if note else "")

    def __call__(self, arrays, xp=None, syms=None):
        if self.cuda_graph is not None:
            return self.cuda_graph(arrays)
        return self.run(arrays, syms)

    def run(self, arrays, syms=None, keep: list | None = None):
        """One step-by-step run (`keep` collects every array made, for a capture)."""
        cp = _cp()
        arrays = [a if isinstance(a, cp.ndarray) else cp.asarray(a) for a in arrays]
        env = dict(zip(self.in_ids, arrays))
        if self.symbolic and syms is None:
            syms = bind_syms(self.graph, arrays)
        for kind, obj, free in self.steps:
            if kind == "kernel":
                obj.keep = keep
                self._kernel(obj, env, syms)
            elif kind == "extern":
                node = obj
                a, b = (env[x.id] for x in node.inputs)
                cdt = node.compute_dtype.np if node.compute_dtype is not None else None
                if cdt is not None:
                    a, b = a.astype(cdt, copy=False), b.astype(cdt, copy=False)
                env[node.out.id] = _matmul(a, b)
            else:
                env[obj.out.id] = self._node(obj, env, syms)
            if keep is None:
                for vid in free:
                    env.pop(vid, None)
        if keep is not None:
            keep.extend(env.values())
        return [env[i] for i in self.out_ids]

    def _kernel(self, runner: _KernelRunner, env, syms):
        step = runner.step
        if runner.failed is None:
            ins = [env[spec.value.id] for spec in step.inputs]
            try:
                outs = runner(ins, syms)
            except UnsupportedOp as e:
                runner.failed = str(e)
                for n in step.nodes:
                    n.meta["ran"] = f"eager (cupy): the kernel could not be rendered ({e})"
            else:
                for spec, a in zip(step.outputs, outs):
                    env[spec.value.id] = a
                return
        for n in step.nodes:
            env[n.out.id] = self._node(n, env, syms)

    def _node(self, node, env, syms):
        cp = _cp()
        if node.op == "constant" and "value" in node.attrs:
            # copied to the device once (not per call: a host copy would also stop a capture)
            key = (node.out.id, cp.cuda.Device().id)
            got = self.consts.get(key)
            if got is None:
                got = self.consts[key] = cp.asarray(node.attrs["value"])
            return got
        args = eager_args(node, env)
        if node.op == "matmul" and len(args) == 2:
            return _matmul(*args)
        if syms is not None:    # scalar operands that are expressions of this call's sizes
            args = [subst_syms(a, syms) if not isinstance(a, cp.ndarray) and has_sym(a) else a
                    for a in args]
        out = _run_node(node, args, cp, syms)
        if isinstance(out, np.ndarray) or np.isscalar(out):   # a constant made on the host
            out = cp.asarray(out)
        return out


class _GraphRunner:
    """Captures a `CUDAProgram` as a CUDA graph and replays it (mode="reduce-overhead")."""

    WARMUP = 2        # step-by-step calls first: kernels compile, moving inputs show themselves

    def __init__(self, program: CUDAProgram):
        self.p = program
        self.calls = 0
        self.ptrs = None
        self.moving = None
        self.graph = None
        self.flags = None           # the device-side input checks of the captured program
        self.messages: list = []
        self.note = "CUDA graph: not captured yet"

    @staticmethod
    def _key(a):
        return (a.data.ptr, a.shape, a.strides, a.dtype.str)

    def __call__(self, arrays):
        cp = _cp()
        arrays = [a if isinstance(a, cp.ndarray) else cp.asarray(a) for a in arrays]
        self.calls += 1
        keys = [self._key(a) for a in arrays]
        if self.graph is None:
            if self.calls <= self.WARMUP or self.note.startswith("CUDA graph: off"):
                if self.ptrs is not None:
                    self.moving = [k != p for k, p in zip(keys, self.ptrs)]
                self.ptrs = keys
                return self.p.run(arrays)
            self._capture(arrays, keys, self.moving or [True] * len(arrays))
            if self.graph is None:
                return self.p.run(arrays)
        elif any(not m and k != p for m, k, p in zip(self.moving, keys, self.ptrs)):
            # a parameter moved: treat it as a moving input from now on and capture again
            self._capture(arrays, keys,
                          [m or k != p for m, k, p in zip(self.moving, keys, self.ptrs)])
            if self.graph is None:
                return self.p.run(arrays)
        # order the replay after the caller's stream and the caller's next work after it,
        # without waiting on the host
        caller = cp.cuda.get_current_stream()
        self.stream.wait_event(caller.record())
        with self.stream:
            for m, a, s in zip(self.moving, arrays, self.static):
                if m:
                    s[...] = a
            self.graph.launch(self.stream)
            outs = [o.copy() for o in self.outs]  # the next replay overwrites static outputs
            if self.flags is not None:
                # input checks that ran on the device (bounds of index tensors, integer
                # division by zero): read before the results are handed out
                for bad, message in zip(self.flags.get(stream=self.stream), self.messages):
                    if bad:
                        raise RuntimeError(f"{message} (found in a CUDA graph replay)")
        caller.wait_event(self.stream.record())
        STATS["graph_replays"] += 1
        return outs

    def _capture(self, arrays, keys, moving):
        """Capture the program on static copies of the moving inputs. Nothing of `self` changes
        unless the capture succeeds (a recapture that fails leaves the graph in hand as it
        was). An input the program rejects in its uncaptured run raises as in eager mode and
        leaves CUDA graphs on; a failure inside the capture turns them off, with the reason."""
        cp = _cp()
        pool = cp.cuda.MemoryPool()
        stream = cp.cuda.Stream(non_blocking=True)
        keep: list = []
        with cp.cuda.using_allocator(pool.malloc), stream:
            static = [cp.empty_like(a) if m else a for m, a in zip(moving, arrays)]
            for m, a, s in zip(moving, arrays, static):
                if m:
                    s[...] = a
            # one uncaptured run on the static buffers: a kernel variant they need (their
            # alignment may differ from the callers' arrays) is compiled and loaded now, and
            # the inputs are checked on the host
            self.p.run(static)
            stream.synchronize()
            try:
                stream.begin_capture()
                try:
                    with deferred_checks() as checks:
                        outs = self.p.run(static, keep=keep)
                    flags = cp.stack([f.reshape(()) for f, _ in checks]) if checks else None
                    keep.extend(f for f, _ in checks)   # the replays write them
                finally:
                    graph = stream.end_capture()
            except Exception as e:  # noqa: BLE001 - a sync or host copy inside the program
                self.graph = None
                self.note = (f"CUDA graph: off ({type(e).__name__}: {e}, at {_where(e)}); "
                             "runs step by step")
                return
        self.pool, self.stream, self.static = pool, stream, static
        self.graph, self.outs, self.keep = graph, outs, keep
        self.flags, self.messages = flags, [m for _, m in checks]
        self.moving, self.ptrs = moving, keys
        STATS["graph_captures"] += 1
        self.note = (f"CUDA graph: captured ({len(self.p.steps)} steps, "
                     f"{sum(moving)} of {len(arrays)} inputs copied in per call)")


def _matmul(a, b):
    """a @ b: 2-D products of one float dtype through cuBLAS called directly (runtime/cublas.py:
    a CUDA graph can capture it), others through cupy.matmul."""
    if cublas.accepts(a, b):
        return cublas.gemm(a, b)
    return _cp().matmul(a, b)


def _where(e: BaseException) -> str:
    """The innermost frame of dyngraph's own code an exception passed (for explain notes)."""
    import traceback
    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if "cupy" not in f.filename] or frames
    return " <- ".join(f"{os.path.basename(f.filename)}:{f.lineno} ({f.name})"
                       for f in reversed(ours[-2:]))


def program_for(graph: Graph, backend: str = "cuda"):
    """The runner for a segment graph on CUDA ("cuda", "cuda:reduce-overhead", or "auto")."""
    if not available():
        raise RuntimeError(
            f"compile(backend={backend.split(':')[0]!r}): no usable CUDA device (cupy and a GPU "
            "with a driver are needed); use backend='auto' or 'llvm' on the CPU")
    return CUDAProgram(graph, graphs=backend.endswith("reduce-overhead"))
