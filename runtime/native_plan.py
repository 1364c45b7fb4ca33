"""Planning a native program: where every value of a lowered graph lives, and what runs how.

The planning run (`_StepPlanner._plan`, mixed into runtime/native.py's `NativeProgram`) runs the
lowered graph once from Python (a kernel step through its nodes' eager rules, into arrays of the
kernel's output layout) and turns each step into a plan item: a kernel or GEMM call on
(slot, byte offset) places, a gather / scatter_add index call, a kernel split over threads, or a
step that stays in Python. Views are resolved to offsets of their base's block. `_donate` lets an
output reuse an input's array where that is safe, and `_allocate` gives the arena's
temporaries offsets by first fit over their live ranges.
"""

from __future__ import annotations

import types

import numpy as np

from compiler.interpreter import bind_syms
from compiler.kernel_ir import RUNTIME, Access, InstrKind, KernelBuilder
from compiler.render_entry import FIRST_INPUT_SLOT
from compiler.render_conv import conv_table
from compiler.render_gemm import SKINNY_MAX, skinny_form
from compiler.render_llvm import UnsupportedOp, render_llvm
from dyngraph.ops.registry import OPS, OpKind

from . import blas
from .llvm_backend import _size, threaded

ALIGN = 64
STATS = {"plans": 0, "segments": 0, "calls": 0}
_VIEW_KINDS = (OpKind.MOVEMENT, OpKind.INDEX)


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


class _StepPlanner:
    """NativeProgram's planning run: plan items, blocks (`_Root`) and value places."""

    def _plan(self, prog, arrays) -> list:
        self._prog = prog
        # a symbolic graph's sizes in this plan's call (a plan serves one input layout, so
        # they are fixed for it: the Python steps and size parameters read them)
        self.syms = bind_syms(prog.graph, arrays) if prog.symbolic else None
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
        syms = self.syms
        sizes = [_size(s, syms) for s in step.domain] if syms else list(step.domain)
        outs = [np.empty(tuple(_size(s, syms) for s in spec.shape) if syms else spec.shape,
                         spec.value.dtype.np) for spec in step.outputs]
        unit, dims = runner.layout(ins + outs, sizes, syms)
        unit = tuple(unit)
        total = int(np.prod(sizes))
        # a kernel split over threads, or streaming its output, runs from Python (its own
        # module: a streaming kernel's stores may not be made non-temporal in a shared one)
        stream = runner.variants is not None and runner.streams(unit, outs)
        big = threaded(sizes[0], total) or stream
        if stream:
            for n in step.nodes:
                ran = n.meta.get("ran", "llvm kernel")
                if not ran.endswith(", streaming stores"):      # (one suffix per plan)
                    n.meta["ran"] = ran + ", streaming stores"
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
            scratch[n.out.id] = self._prog._node(n, scratch, self.syms)
        for spec, a in zip(step.outputs, outs):
            a[...] = scratch[spec.value.id]
        in_vids = [spec.value.id for spec in step.inputs]
        for spec, a in zip(step.outputs, outs):
            env[spec.value.id] = a
            new_root("out" if spec.value.id in out_ids else "arena", spec.value.id, a)
        vids = in_vids + [spec.value.id for spec in step.outputs]
        ptrs = [self._where(v, env, loc) for v in vids]
        if big:
            items.append(("threaded", (runner, unit, dims, ptrs, sizes[0], total, stream),
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
        skinny = skinny_form(ta, tb, m, n, k, ldb, a.itemsize)
        if skinny is not None:
            node.meta["ran"] = (f"llvm skinny GEMM {skinny} kernel (m or k <= {SKINNY_MAX}: "
                                f"compiler/render_gemm.py)")
        call = types.SimpleNamespace(dtype=a.dtype.name, ta=ta, tb=tb, m=m, n=n, k=k, lda=lda,
                                     ldb=ldb, a=pa, b=pb, c=pc, skinny=skinny)
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
        if node.op in ("im2col", "col2im") and self._plan_conv(node, env, loc, items, new_root):
            return
        op = OPS.get(node.op)
        vals = node.value_inputs
        if op is not None and op.kind in _VIEW_KINDS and vals:
            x = env[vals[0].id]
            out = self._prog._node(node, env, self.syms)
            if type(out) is np.ndarray and out.size and np.may_share_memory(out, x):
                root, off = loc[vals[0].id]
                loc[node.out.id] = (root, off + _ptr(out) - _ptr(x))
                env[node.out.id] = out
                self.view_of[node.out.id] = node
                return
            self._add_python(node, out, env, loc, items, new_root, "node")
            return
        if node.op == "constant" and type(node.attrs.get("value")) is np.ndarray:
            out = self._prog._node(node, env, self.syms)
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
        out = self._prog._node(node, env, self.syms)
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

    def _plan_conv(self, node, env, loc, items, new_root) -> bool:
        """im2col / col2im of a float32/float64 array as a ConvCall inside the segment
        (compiler/render_conv.py), its output laid out as the eager op lays it (im2col's
        columns as (C, kh, kw, N, oh, ow)), so the views after it stay views; False: this node
        stays a Python step."""
        vals = node.value_inputs
        if len(vals) != 1:
            return False
        x = env[vals[0].id]
        cdt = node.compute_dtype
        if type(x) is not np.ndarray or x.dtype.name not in ("float32", "float64") or \
                x.ndim != (4 if node.op == "im2col" else 6) or not x.size or \
                (cdt is not None and cdt.np != x.dtype):
            return False
        out = self._prog._node(node, env, self.syms)
        if type(out) is not np.ndarray or out.dtype != x.dtype or not out.size:
            return False
        res = np.empty_like(out)        # the same memory order as eager's result
        res[...] = out
        env[node.out.id] = res
        new_root("out" if node.out.id in self._out_ids else "arena", node.out.id, res)

        def el(a):
            return [s // a.itemsize for s in a.strides]
        image, cols = (x, res) if node.op == "im2col" else (res, x)
        table = conv_table(image.shape, cols.shape, node.attrs, el(image), el(cols))
        vids = [vals[0].id, node.out.id]
        node.meta["ran"] = f"llvm {node.op} loops (compiler/render_conv.py)"
        items.append(("conv", (node.op, x.dtype.name, table,
                               [self._where(v, env, loc) for v in vids]), self._reads(vids, loc)))
        return True

    def _plan_python(self, node, env, loc, items, new_root, kind):
        out = (self._prog._extern(node, env) if kind == "extern"
               else self._prog._node(node, env, self.syms))
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
