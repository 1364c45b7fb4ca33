"""Render a `Kernel` (compiler/kernel_ir.py) to CUDA C. Pure: no GPU, no compiler, no cupy.

`CUDARenderer` subclasses the generic C renderer (compiler/render_c.py) and overrides only what a
GPU changes; every per-element rule (ops, casts, loads, stores, accumulation) is the C one. What
differs is how the loop nest maps to threads, chosen per launch from the sizes (`Variant`):

- "map" (no inner dims): a grid-stride loop over the domain; each thread handles `vec`
  consecutive elements of the innermost dim with one 16- or 8-byte load per contiguous buffer
  (the runtime picks `vec` > 1 only when pointers, the innermost size and the outer strides are
  aligned for it);
- "row" (reductions, softmax, layer norm, cross-entropy): `tpr` threads share one outer point.
  Each thread accumulates a strided slice of the row, partial results are combined with warp
  shuffles (`__shfl_xor_sync`) and, above 32 threads, through shared memory, so every thread ends
  with the row's result and the next loop of the same kernel (softmax's exp-sum after its max,
  layer norm's normalisation) runs without another launch: each of those ops is one kernel.
  With `cache=K` the loops are unrolled over K points per thread and the first loop keeps each
  loaded value in a register array that the later loops read (one read of the row);
- "serial": one thread per outer point running the C loop nest (reductions whose inner dims are
  strided, e.g. a column sum: neighbouring threads then read neighbouring addresses);
- "split": the two-pass form for huge reductions over few outer points (a full sum of 256M
  values): `<name>_part` reduces chunks of each row into a workspace, `<name>_final` combines the
  chunks and stores. Only kernels with one reduction loop and no map loop take this form.

Sizes and strides are kernel arguments (so symbolic dims need nothing special); the index type is
32-bit unless some offset may pass 2^31. Float32 `exp` uses the `__expf` intrinsic where its
argument is known to be <= 0 (softmax's `exp(x - max)`, sigmoid's `exp(-|x|)`): there its error,
2 + 1.17 * |x| ulp, only grows where the result is too small to matter to a sum; float32
sigmoid divides with `__fdividef` (its divisor lies in [1, 2]); other math uses the CUDA
library's correctly-rounded-or-close functions (`tanhf`, `erff`, `expf`: <= 2 ulp).
"""

from __future__ import annotations

import dataclasses

from .kernel_ir import RUNTIME, InstrKind, Kernel, ReduceKind, ReduceLoop
from .render_base import C_TYPES, UnsupportedOp, _accesses, is_float, symbol_name
from .render_c import CRenderer

__all__ = ["Variant", "CUDARenderer", "render_cuda", "choose_variant", "launch_config",
           "kernel_names", "UnsupportedOp", "splittable", "split_count", "max_vec",
           "vec_candidates", "MAX_TPR"]

MAP_BLOCK = 256        # threads per block for grid-stride loops (map, serial)
SPLIT_BLOCK = 512      # threads per block of the two-pass reduction
ROW_BLOCK = 256        # a row-parallel block holds max(1, ROW_BLOCK // tpr) rows
MAX_TPR = 1024
ROW_ELEMS = 16         # a row-parallel kernel gives each thread about this many elements a loop
ROW_CACHE = 32         # a row kernel keeps up to this many inner elements per thread in registers
FAST_RCP = True        # sigmoid's 1 / (1 + e) as __fdividef (its divisor lies in [1, 2])
_VEC_TYPES = {("float", 4): "float4", ("float", 2): "float2", ("double", 2): "double2",
              ("int", 4): "int4", ("int", 2): "int2", ("long long", 2): "longlong2"}
_LANES = "xyzw"
_LL_MAX = "9223372036854775807LL"


@dataclasses.dataclass(frozen=True)
class Variant:
    """How one kernel is laid out on the GPU (part of the source, hence of the cache key)."""

    mode: str              # "map" | "row" | "serial" | "split"
    tpr: int = 1           # threads per row ("row"), threads per block ("split")
    vec: int = 1           # elements per thread along the innermost dim ("map")
    cache: int = 0         # "row": inner elements per thread kept in registers (0: loops re-read)
    index_bits: int = 32   # dg_idx is int or long long
    fast_math: bool = True

    def text(self) -> str:
        return (f"{self.mode} tpr={self.tpr} vec={self.vec} cache={self.cache} "
                f"idx={self.index_bits}{' fast' if self.fast_math else ''}")

    def tag(self) -> str:
        """A short suffix for the kernel's symbol (`r256`, `m4l`, ...): one module may hold
        several variants of one kernel."""
        size = {"row": self.tpr, "map": self.vec}.get(self.mode, "")
        return (f"{self.mode[0]}{size}{f'c{self.cache}' if self.cache else ''}"
                f"{'l' if self.index_bits == 64 else ''}{'' if self.fast_math else 'p'}")


def kernel_names(kernel: Kernel, variant: Variant) -> list[str]:
    """The `extern "C"` symbols of the rendered module, in launch order."""
    sym = f"{symbol_name(kernel)}_{variant.tag()}"
    return [f"{sym}_part", f"{sym}_final"] if variant.mode == "split" else [sym]


def splittable(kernel: Kernel) -> bool:
    """Whether the two-pass form applies: one reduction loop, nothing stored per inner point."""
    return (kernel.n_inner > 0 and len(kernel.loops) == 1
            and isinstance(kernel.loops[0], ReduceLoop))


def _pow2_at_least(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def choose_variant(kernel: Kernel, sizes, *, vec_ok: int = 1, big_index: bool = False,
                   strided_inner: bool = False, sm_count: int = 132,
                   fast_math: bool = True) -> Variant:
    """Pick the layout from the sizes (and what the runtime found out about the arrays).

    Args:
        kernel: the kernel.
        sizes: the domain sizes (outer dims first).
        vec_ok: the widest vector (1, 2 or 4 elements) every contiguous buffer is aligned for.
        big_index: some offset or size may reach 2^31 (64-bit indexing).
        strided_inner: the rows are read with a non-unit innermost stride.
        sm_count: the device's multiprocessor count.
        fast_math: allow `__expf` where its argument is <= 0.
    Returns:
        A `Variant`.
    """
    bits = 64 if big_index else 32
    n_outer = kernel.n_outer
    outer = 1
    for s in sizes[:n_outer]:
        outer *= s
    inner = 1
    for s in sizes[n_outer:]:
        inner *= s
    if kernel.n_inner == 0:
        return Variant("map", vec=vec_ok, index_bits=bits, fast_math=fast_math)
    if splittable(kernel) and outer <= sm_count and inner >= 1 << 16:
        return Variant("split", tpr=SPLIT_BLOCK, index_bits=bits, fast_math=fast_math)
    if strided_inner and outer >= sm_count * 128:
        return Variant("serial", index_bits=bits, fast_math=fast_math)
    tpr = min(MAX_TPR, max(4, _pow2_at_least(-(-inner // ROW_ELEMS))))
    per = -(-inner // tpr)
    cache = _pow2_at_least(per) if per <= ROW_CACHE else 0
    return Variant("row", tpr=tpr, cache=cache, index_bits=bits, fast_math=fast_math)


def split_count(inner: int, outer: int, sm_count: int) -> tuple[int, int]:
    """(chunks per row, chunk size) for the two-pass form: enough blocks to fill the device,
    each reducing >= 4096 values; the count is recomputed from the size, as the kernel does."""
    want = max(2, (sm_count * 4) // max(outer, 1))
    n = max(1, min(want, -(-inner // 4096)))
    chunk = -(-inner // n)
    return -(-inner // chunk), chunk


def launch_config(variant: Variant, sizes, n_outer: int, sm_count: int = 132) -> list[tuple]:
    """(grid, block) per kernel of the module, for these sizes."""
    outer = 1
    for s in sizes[:n_outer]:
        outer *= s
    inner = 1
    for s in sizes[n_outer:]:
        inner *= s
    cap = max(1, sm_count * 16)
    if variant.mode == "map":
        groups = max(1, outer * inner // variant.vec)
        return [((min(-(-groups // MAP_BLOCK), cap), 1, 1), (MAP_BLOCK, 1, 1))]
    if variant.mode == "serial":
        return [((min(-(-outer // MAP_BLOCK), cap), 1, 1), (MAP_BLOCK, 1, 1))]
    if variant.mode == "row":
        rows = max(1, ROW_BLOCK // variant.tpr)
        return [((-(-outer // rows), 1, 1), (rows * variant.tpr, 1, 1))]
    nsplit, _ = split_count(inner, outer, sm_count)
    return [((nsplit, outer, 1), (variant.tpr, 1, 1)), ((outer, 1, 1), (variant.tpr, 1, 1))]


def n_params(kernel) -> int:
    """How many per-call scalars (size expressions, `InstrKind.PARAM`) a kernel takes: they
    follow the sizes and strides among its arguments."""
    return 1 + max((ins.attr[0] for ins in kernel.instrs if ins.kind is InstrKind.PARAM),
                   default=-1)


class CUDARenderer(CRenderer):
    """Renders one kernel (one `Variant`) to a CUDA C module."""

    index = "dg_idx"
    qualifier = "static __device__ __forceinline__"

    def __init__(self, kernel: Kernel, variant: Variant, part: str = ""):
        super().__init__(kernel)
        self.v = variant
        self.part = part              # "", "part" or "final" (the split form's two kernels)
        self.nshared = 0
        self.cache = variant.cache if variant.mode == "row" else 0
        self.cached: dict[int, str] = {}      # load instr -> its register array ("row" cache)
        self.cache_decls: list[str] = []
        if variant.mode == "row":
            self.tpr = variant.tpr
        elif variant.mode == "split":
            self.tpr = variant.tpr
        else:
            self.tpr = 1

    # ----- text --------------------------------------------------------------------------------
    def prelude(self) -> str:
        idx = "long long" if self.v.index_bits == 64 else "int"
        # guarded, so that several modules of one index width can share a translation unit
        head = ["#ifndef DG_INF", "#define DG_INF __int_as_float(0x7f800000)",
                "#define DG_NAN __int_as_float(0x7fffffff)", "#endif",
                f"typedef {idx} dg_idx;"]
        return "\n".join(head + self.helper_defs())

    def param(self, index: int, ty: str) -> str:
        return f"(({ty})p{index})"

    def params(self) -> list[str]:
        k = self.k
        out = [f"const dg_idx n{d}" for d in range(k.ndim)]
        out += [f"const dg_idx s{b}_{d}" for b, d in self.runtime_strides()]
        out += [f"const long long p{i}" for i in range(n_params(k))]
        for i, b in enumerate(k.buffers):
            const = "" if b.is_output else "const "
            out.append(f"{const}{_mem(b.dtype)}* __restrict__ b{i}")
        if self.v.mode == "split":
            out.append("const dg_idx chunk")
            for r in self.reduces():
                ws = "" if self.part == "part" else "const "
                out.append(f"{ws}{C_TYPES[r.acc_dtype]}* __restrict__ w{r.out}")
                if _is_arg(r):
                    out.append(f"{ws}long long* __restrict__ wi{r.out}")
        return out

    def reduces(self) -> list:
        return [r for loop in self.k.loops if isinstance(loop, ReduceLoop) for r in loop.reduces]

    def render_function(self) -> str:
        name = f"{symbol_name(self.k)}_{self.v.tag()}" + (f"_{self.part}" if self.part else "")
        mode = self.v.mode
        if mode == "map":
            self.map_kernel()
        elif mode == "serial":
            self.serial_kernel()
        elif mode == "row":
            self.row_kernel()
        elif self.part == "part":
            self.split_part_kernel()
        else:
            self.split_final_kernel()
        bounds = f"__launch_bounds__({self.block_threads()}) "
        body = "\n".join(self.lines)
        return (f'extern "C" __global__ void {bounds}{name}(\n        '
                f"{', '.join(self.params())}) {{\n{body}\n}}\n")

    def block_threads(self) -> int:
        if self.v.mode == "row":
            return max(1, ROW_BLOCK // self.tpr) * self.tpr
        if self.v.mode == "split":
            return self.tpr
        return MAP_BLOCK

    def render(self) -> str:
        """The module text: one kernel, or the split form's two (deterministic)."""
        if self.v.mode == "split" and not splittable(self.k):
            raise ValueError("render_cuda: the split form needs one reduction loop and no map loop")
        comment = "\n".join(f"// {ln}" for ln in self.k.text().splitlines())
        if self.v.mode == "split":
            fns, helpers = [], set()
            for part in ("part", "final"):
                r = CUDARenderer(self.k, self.v, part)
                fns.append(r.render_function())
                helpers |= r.helpers
            self.helpers = helpers
        else:
            fns = [self.render_function()]
        return f"{comment}\n// variant: {self.v.text()}\n{self.prelude()}\n\n" + "\n".join(fns)

    # ----- thread mapping ----------------------------------------------------------------------
    def product(self, dims) -> str:
        return " * ".join(f"n{d}" for d in dims) or "1"

    def decompose(self, lin: str, dims) -> None:
        """Bind i<d> for `dims` (row-major) from the linear index `lin`."""
        dims = list(dims)
        if not dims:
            return
        if len(dims) == 1:
            self.emit(f"const dg_idx i{dims[0]} = {lin};")
            return
        r = self.var("dg_idx", lin, "r")
        for d in reversed(dims[1:]):
            self.emit(f"const dg_idx i{d} = {r} % n{d};")
            self.emit(f"{r} /= n{d};")
        self.emit(f"const dg_idx i{dims[0]} = {r};")

    def offsets_for(self, dims, offsets: dict) -> dict:
        for d in dims:
            offsets = self.advance(offsets, d, f"i{d}")
        return offsets

    def grid_stride(self, count: str):
        tid = "(dg_idx)blockIdx.x * blockDim.x + threadIdx.x"
        return self.block(f"for (dg_idx g = {tid}; g < {count}; g += (dg_idx)gridDim.x * "
                          "blockDim.x)")

    def map_kernel(self) -> None:
        k = self.k
        vec = self.v.vec
        total = self.product(range(k.ndim))
        with self.grid_stride(f"({total}) / {vec}" if vec > 1 else total):
            self.decompose(f"g * {vec}" if vec > 1 else "g", range(k.ndim))
            off = self.offsets_for(range(k.ndim), {b: "0" for b in self.access})
            if vec > 1:
                self.vector_body(off)
            else:
                self.outer_body(off)

    def serial_kernel(self) -> None:
        k = self.k
        with self.grid_stride(self.product(range(k.n_outer))):
            self.decompose("g", range(k.n_outer))
            self.outer_body(self.offsets_for(range(k.n_outer), {b: "0" for b in self.access}))

    def row_kernel(self) -> None:
        k = self.k
        rows = max(1, ROW_BLOCK // self.tpr)
        self.emit(f"const dg_idx outer_total = {self.product(range(k.n_outer))};")
        self.emit(f"const int lane = threadIdx.x % {self.tpr};")
        self.emit(f"const dg_idx row = (dg_idx)blockIdx.x * {rows} + threadIdx.x / {self.tpr};")
        self.emit("const bool active = row < outer_total;")
        # inactive threads still take part in __syncthreads(); they read row 0, which exists
        self.decompose("active ? row : 0", range(k.n_outer))
        self.inner = ("lane", f"{self.product(range(k.n_outer, k.ndim))}", str(self.tpr),
                      "active && ")
        at = len(self.lines)
        self.outer_body(self.offsets_for(range(k.n_outer), {b: "0" for b in self.access}))
        self.lines[at:at] = ["    " * self.depth + d for d in self.cache_decls]

    def split_part_kernel(self) -> None:
        k = self.k
        self.emit("const dg_idx row = blockIdx.y;")
        self.decompose("row", range(k.n_outer))
        self.emit(f"const dg_idx inner_total = {self.product(range(k.n_outer, k.ndim))};")
        self.emit("const dg_idx lo = (dg_idx)blockIdx.x * chunk;")
        self.emit("const dg_idx hi = lo + chunk < inner_total ? lo + chunk : inner_total;")
        self.inner = ("lo + threadIdx.x", "hi", str(self.tpr), "")
        off = self.offsets_for(range(k.n_outer), {b: "0" for b in self.access})
        self.outer = {}
        loop = k.loops[0]
        for i in self.outer_deps([r.src for r in loop.reduces]):
            self.value(i, self.outer, off)
        accs = self.start_accumulators(loop)
        self.inner_loops(off, lambda o, lin: self.accumulate_into(accs, o, lin), True)
        self.cross_thread(accs)
        with self.block("if (threadIdx.x == 0)"):
            for r, acc, _, idx in accs:
                self.emit(f"w{r.out}[row * gridDim.x + blockIdx.x] = {acc};")
                if idx is not None:
                    self.emit(f"wi{r.out}[row * gridDim.x + blockIdx.x] = {idx};")

    def split_final_kernel(self) -> None:
        k = self.k
        self.emit("const dg_idx row = blockIdx.x;")
        self.emit(f"const dg_idx nsplit = ({self.product(range(k.n_outer, k.ndim))} + chunk - 1)"
                  " / chunk;")
        self.emit("const bool active = true;")
        self.emit("const int lane = threadIdx.x;")
        self.decompose("row", range(k.n_outer))
        off = self.offsets_for(range(k.n_outer), {b: "0" for b in self.access})
        self.outer = {}
        accs = self.start_accumulators(self.k.loops[0])
        with self.block("for (dg_idx p = threadIdx.x; p < nsplit; p += blockDim.x)"):
            for r, acc, aty, idx in accs:
                wi = f"wi{r.out}[row * nsplit + p]" if idx is not None else None
                self.combine(r.kind, acc, idx, f"w{r.out}[row * nsplit + p]", wi, aty)
        self.cross_thread(accs)
        self.finish_accumulators(accs)
        self.outer_stores(off)

    # ----- inner loops shared by the threads of a row ------------------------------------------
    def inner_loops(self, offsets: dict, body, counted: bool = False) -> None:
        if self.v.mode in ("map", "serial"):
            return super().inner_loops(offsets, body, counted)
        k = self.k
        start, end, step, guard = self.inner
        if self.cache:
            # `cache` points per thread, unrolled: u is a constant in each copy, so the loads'
            # register arrays stay registers and every load of the first loop is independent
            self.emit("#pragma unroll")
            with self.block(f"for (int u = 0; u < {self.cache}; ++u)"):
                self.emit(f"const dg_idx j = {start} + (dg_idx)u * {step};")
                with self.block(f"if ({guard}j < {end})"):
                    self.decompose("j", range(k.n_outer, k.ndim))
                    body(self.offsets_for(range(k.n_outer, k.ndim), offsets), "j")
            return
        with self.block(f"for (dg_idx j = {start}; {guard}j < {end}; j += {step})"):
            self.decompose("j", range(k.n_outer, k.ndim))
            body(self.offsets_for(range(k.n_outer, k.ndim), offsets), "j")

    def value(self, i: int, scope: dict, offsets: dict) -> str:
        """With a row cache, an inner load reads memory in the first loop that needs it (and
        keeps the value in `c<i>[u]`); later loops read the register array."""
        ins = self.k.instrs[i]
        if not self.cache or i in scope or ins.kind is not InstrKind.LOAD or not ins.inner:
            return super().value(i, scope, offsets)
        arr = self.cached.get(i)
        if arr is not None:
            v = scope[i] = self.let(self.types[ins.dtype], f"{arr}[u]")
            return v
        v = super().value(i, scope, offsets)
        arr = self.cached[i] = f"c{i}"
        self.cache_decls.append(f"{self.types[ins.dtype]} {arr}[{self.cache}];")
        self.emit(f"{arr}[u] = {v};")
        return v

    def reduce_loop(self, loop: ReduceLoop, offsets: dict) -> None:
        if self.v.mode in ("map", "serial"):
            return super().reduce_loop(loop, offsets)
        accs = self.start_accumulators(loop)
        self.inner_loops(offsets, lambda off, lin: self.accumulate_into(accs, off, lin), True)
        self.cross_thread(accs)
        self.finish_accumulators(accs)

    def outer_stores(self, offsets: dict) -> None:
        if self.v.mode in ("map", "serial") or not self.k.outer_stores:
            return super().outer_stores(offsets)
        with self.block("if (active && lane == 0)"):
            super().outer_stores(offsets)

    def cross_thread(self, accs: list) -> None:
        """Combine the partial accumulators of the `tpr` threads of each row (all get the result):
        a butterfly of warp shuffles, then, past one warp, one slot per warp in shared memory."""
        tpr = self.tpr
        width = min(tpr, 32)
        if width > 1:
            with self.block(f"for (int o = {width // 2}; o > 0; o >>= 1)"):
                for r, acc, aty, idx in accs:
                    if aty == "bool":
                        other = self.let("bool", f"__shfl_xor_sync(0xffffffffu, (int){acc}, o)"
                                         " != 0")
                    else:
                        other = self.let(aty, f"__shfl_xor_sync(0xffffffffu, {acc}, o)")
                    oi = None
                    if idx is not None:
                        oi = self.let("long long", f"__shfl_xor_sync(0xffffffffu, {idx}, o)")
                    self.combine(r.kind, acc, idx, other, oi, aty)
        if tpr <= 32:
            return
        warps = tpr // 32
        slots = self.block_threads() // 32
        names = []
        for _, _, aty, idx in accs:
            sh = f"sh{self.nshared}"
            self.nshared += 1
            self.emit(f"__shared__ {aty} {sh}[{slots}];")
            shi = None
            if idx is not None:
                shi = sh + "i"
                self.emit(f"__shared__ long long {shi}[{slots}];")
            names.append((sh, shi))
        with self.block("if ((threadIdx.x & 31) == 0)"):
            for (_, acc, _, idx), (sh, shi) in zip(accs, names):
                self.emit(f"{sh}[threadIdx.x >> 5] = {acc};")
                if shi:
                    self.emit(f"{shi}[threadIdx.x >> 5] = {idx};")
        self.emit("__syncthreads();")
        base = self.let("int", f"(threadIdx.x / {tpr}) * {warps}")
        for r, acc, aty, idx in accs:
            self.emit(f"{acc} = {self.identity(r.kind, aty)};")
            if idx is not None:
                self.emit(f"{idx} = {_LL_MAX};")
        with self.block(f"for (int w = 0; w < {warps}; ++w)"):
            for (r, acc, aty, idx), (sh, shi) in zip(accs, names):
                self.combine(r.kind, acc, idx, f"{sh}[{base} + w]",
                             f"{shi}[{base} + w]" if shi else None, aty)

    # ----- vectorised elementwise body ----------------------------------------------------------
    def vector_body(self, offsets: dict) -> None:
        """`vec` lanes along the innermost dim: one wide load/store per contiguous buffer."""
        k = self.k
        last = k.ndim - 1
        vec = self.v.vec
        moving = {b for b, acc in self.access.items() if acc.strides[last] != 0}
        lane_dep: dict[int, bool] = {}
        for ins in k.instrs:
            if ins.kind is InstrKind.LOAD:
                lane_dep[ins.id] = ins.attr.buffer in moving
            else:
                lane_dep[ins.id] = any(lane_dep[a] for a in ins.args)
        shared: dict[int, str] = {}
        lanes = [dict() for _ in range(vec)]
        wide: dict[int, str] = {}

        def val(i, lane):
            scope = lanes[lane] if lane_dep[i] else shared
            if i in scope:
                return scope[i]
            ins = k.instrs[i]
            if ins.kind is InstrKind.LOAD and lane_dep[i]:
                b = ins.attr.buffer
                if b not in wide:
                    vt = _vec_type(ins.dtype, vec)
                    wide[b] = self.let(vt, f"*reinterpret_cast<const {vt}*>(b{b} + {offsets[b]})")
                v = f"{wide[b]}.{_LANES[lane]}"
            elif ins.kind is InstrKind.OP:
                args = [(val(a, lane), C_TYPES[k.instrs[a].dtype]) for a in ins.args]
                name, extra = ins.attr
                v = self.let(C_TYPES[ins.dtype], self.op(name, args, C_TYPES[ins.dtype],
                                                         dict(extra), ins.args))
            else:
                v = self.value(i, shared, offsets)
            scope[i] = v
            return v

        stores = [s for loop in k.loops for s in loop.stores] + list(k.outer_stores)
        for s in stores:
            b = s.access.buffer
            dt = k.buffers[b].dtype
            vt = _vec_type(dt, vec)
            vals = ", ".join(f"({C_TYPES[dt]}){val(s.value, lane)}" for lane in range(vec))
            self.emit(f"*reinterpret_cast<{vt}*>(b{b} + {offsets[b]}) = make_{vt}({vals});")

    # ----- math ----------------------------------------------------------------------------------
    def exp_nonpositive(self, x: str, ty: str) -> str:
        if ty == "float" and self.v.fast_math:
            return f"__expf({x})"
        return super().exp_nonpositive(x, ty)

    def one_over_one_plus(self, e: str, ty: str) -> str:
        if ty == "float" and self.v.fast_math and FAST_RCP:
            return f"__fdividef(1.0f, 1.0f + {e})"
        return super().one_over_one_plus(e, ty)

    def op_exp(self, vals, ty, out, ids):
        if not is_float(ty):
            raise UnsupportedOp("render_cuda: exp computes in a float dtype")
        if self._minus_row_max(ids[0]):
            return self.exp_nonpositive(vals[0], ty)
        return self.math("exp", ty, vals[0])

    def _minus_row_max(self, i: int) -> bool:
        """Is instr i `x - max(x)` (softmax's shifted logits, <= 0 or NaN)?"""
        ins = self.k.instrs[i]
        if ins.kind is not InstrKind.OP or ins.attr[0] != "sub":
            return False
        x, m = ins.args
        acc = self.k.instrs[m]
        return (acc.kind is InstrKind.ACC and acc.attr.kind is ReduceKind.MAX
                and acc.attr.src == x)

    def op_rsqrt(self, vals, ty, out, ids):
        return self.math("rsqrt", ty, vals[0])


def _mem(dtype: str) -> str:
    return "unsigned char" if dtype == "bool" else C_TYPES[dtype]


def _vec_type(dtype: str, vec: int) -> str:
    vt = _VEC_TYPES.get((C_TYPES[dtype], vec))
    if vt is None:
        raise UnsupportedOp(f"render_cuda: no {vec}-wide vector type for {dtype}")
    return vt


def _is_arg(r) -> bool:
    return r.kind in (ReduceKind.ARGMAX, ReduceKind.ARGMIN)


def vec_candidates(kernel: Kernel) -> dict[int, str]:
    """Buffers that a "map" variant with vec > 1 reads or writes with wide accesses
    (buffer -> dtype); empty when some access along the innermost dim is strided."""
    out = {}
    last = kernel.ndim - 1
    for b, acc in _accesses(kernel).items():
        s = acc.strides[last]
        if s is RUNTIME:
            return {}
        if s == 1:
            out[b] = kernel.buffers[b].dtype
    return out


def max_vec(kernel: Kernel) -> int:
    """The widest `vec` the kernel's dtypes allow (4 for 4-byte data, 2 with 8-byte data)."""
    cands = vec_candidates(kernel)
    if kernel.n_inner or not cands or any(d == "bool" for d in cands.values()):
        return 1
    if any(d not in ("float32", "int32", "float64", "int64") for d in cands.values()):
        return 1
    return 2 if any(d in ("float64", "int64") for d in cands.values()) else 4


def render_cuda(kernel: Kernel, variant: Variant | None = None) -> str:
    """The CUDA C module for `kernel` laid out as `variant` (default: from no size information).

    Example:
        >>> from compiler.kernel_ir import Access, KernelBuilder
        >>> kb = KernelBuilder(1, 0)
        >>> x = kb.load(Access(kb.buffer("float32", False), (1,)), "float32")
        >>> kb.store(Access(kb.buffer("float32", True), (1,)), kb.op("tanh", [x], "float32"))
        >>> "tanhf(" in render_cuda(kb.finish("k"))
        True
    """
    if variant is None:
        variant = Variant("map") if kernel.n_inner == 0 else Variant("row", tpr=256)
    return CUDARenderer(kernel, variant).render()
