"""Programs covering every kernel-lowered op and fused pattern, and a CPU runner for C kernels.

`PATTERNS` maps a name to (function, argument builder). `lowered(fn, *args)` traces a function
with `dyngraph.compile` and lowers its graph (compiler/lower.py). `run_plan_with_c(plan, arrays)`
runs a lowered plan with every kernel step rendered by compiler/render_c.py and built by the
host C compiler, other steps through their eager rules: the numbers the CUDA renderer's shared
per-element code computes, checked on a machine without a GPU.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile

import numpy as np

import dyngraph as dg
import dyngraph.nn.functional as F
from compiler.interpreter import _run_node
from compiler.lower import KernelStep, lower
from compiler.render_c import render_c, symbol_name
from dyngraph.ops.registry import OPS

UNARY_FLOAT = ["neg", "abs", "sign", "exp", "exp2", "expm1", "log", "log2", "log1p", "log10",
               "reciprocal", "sqrt", "rsqrt", "sin", "cos", "tan", "sinh", "cosh", "asin",
               "acos", "atan", "asinh", "acosh", "atanh", "tanh", "sigmoid", "relu", "erf",
               "erfc", "lgamma", "floor", "ceil", "trunc", "round", "isnan", "isinf", "isfinite",
               "logical_not"]
DOMAIN = {"log": "pos", "log2": "pos", "log10": "pos", "log1p": "pos", "sqrt": "pos",
          "rsqrt": "pos", "asin": "unit", "acos": "unit", "atanh": "unit", "acosh": "big"}
BINARY = ["add", "sub", "mul", "div", "pow", "maximum", "minimum", "fmod", "remainder",
          "atan2", "hypot", "logaddexp", "copysign", "xlogy", "eq", "ne", "lt", "le", "gt", "ge",
          "logical_and", "logical_or", "logical_xor"]


def _unary(dtype):
    def fn(x, pos, unit, big):
        src = {"pos": pos, "unit": unit, "big": big}
        return tuple(getattr(dg, op)(src.get(DOMAIN.get(op), x)) for op in UNARY_FLOAT)

    def args():
        x = dg.randn(5, 7, dtype=dtype) * 2
        return x, x.abs() + 0.1, x.tanh() * 0.9, x.abs() + 1.5
    return fn, args


def _binary(dtype):
    def fn(a, b, a_pos):
        outs = [getattr(dg, op)(a_pos if op == "pow" else a, b) for op in BINARY]
        outs += [dg.where(a > 0, a, b), a.clamp(-0.5, 0.5), a.clamp(min=0.1), a * 2.5 - 1,
                 (a > 0).to(dtype) + 1]
        return tuple(outs)

    def args():
        a = dg.randn(4, 1, 6, dtype=dtype)
        return a, dg.randn(3, 1, dtype=dtype) + 0.5, a.abs() + 0.1
    return fn, args


def _integer():
    def fn(a, b, m):
        return (a + b, a - b, a * b, dg.maximum(a, b), dg.minimum(a, b), a.abs(), -a, a.sign(),
                a & b, a | b, a ^ b, ~a, a > b, a == b, m & (a < 0), m | (b > 0), ~m,
                dg.logical_xor(m, a > 1), dg.where(m, a, b), a.to(dg.float32) * 0.5,
                a.to(dg.int32) + 1, m.to(dg.int64) + a)

    def args():
        a = dg.arange(-6, 6).reshape(3, 4)
        return a, dg.tensor([1, -2, 3, 4]), a > 0
    return fn, args


def _reductions(dim, keepdim):
    def fn(x, xi, m):
        return (x.sum(dim=dim, keepdim=keepdim), x.mean(dim=dim, keepdim=keepdim),
                x.prod(dim=dim if not isinstance(dim, tuple) else dim[0], keepdim=keepdim),
                x.amax(dim=dim, keepdim=keepdim),
                x.amin(dim=dim, keepdim=keepdim), xi.sum(dim=dim, keepdim=keepdim),
                m.any(dim=dim, keepdim=keepdim), m.all(dim=dim, keepdim=keepdim),
                (x * 2 + 1).sum(dim=dim, keepdim=keepdim))

    def args():
        x = dg.randn(3, 5, 4, dtype=dg.float64) * 0.5 + 1
        return x, dg.randint(-5, 5, (3, 5, 4)), x > 1
    return fn, args


def _argreduce():
    def fn(x):
        return x.argmax(dim=1), x.argmin(dim=-1), x.argmax(), (x * x).argmin(dim=0)

    def args():
        x = dg.randn(6, 9)
        x[2, 3] = float("nan")
        return (x,)
    return fn, args


def _softmax(dim):
    return (lambda x: (F.softmax(x, dim), F.log_softmax(x, dim)),
            lambda: (dg.randn(4, 6, 10) * 3,))


def _layer_norm():
    return (lambda x, w, b: F.layer_norm(x, (48,), w, b),
            lambda: (dg.randn(16, 48), dg.randn(48), dg.randn(48)))


def _cross_entropy():
    return (lambda x, t: F.cross_entropy(x, t),
            lambda: (dg.randn(32, 10), dg.randint(0, 10, (32,))))


def _gelu_chain():
    return (lambda x, w, b: F.gelu(x * w + b, approximate="tanh") * dg.sigmoid(x),
            lambda: (dg.randn(64, 33), dg.randn(33), dg.randn(33)))


def _strided():
    return (lambda x, y: ((x.t() * 2).exp(), x.t().sum(0), (y[:, ::2] + 1).relu()),
            lambda: (dg.randn(7, 9), dg.randn(5, 12)))


def _copies_and_sum_to_size():
    return (lambda x: (x.t().contiguous() + 0, x.t().contiguous(), x.sum_to_size(1, 9),
                       x.sum_to_size(9) * 2),
            lambda: (dg.randn(7, 9),))


def _full_reduction():
    return (lambda x: (x.sum(), x.amax(), (x * x).mean()), lambda: (dg.randn(300, 70),))


PATTERNS = {
    "unary_f32": _unary(dg.float32), "unary_f64": _unary(dg.float64),
    "binary_f32": _binary(dg.float32), "binary_f64": _binary(dg.float64),
    "integer_bool": _integer(),
    "reduce_all": _reductions(None, False), "reduce_dim1": _reductions(1, False),
    "reduce_dims02_keep": _reductions((0, 2), True), "reduce_last_keep": _reductions(-1, True),
    "argmax_argmin": _argreduce(),
    "softmax_last": _softmax(-1), "softmax_dim1": _softmax(1),
    "layer_norm": _layer_norm(), "cross_entropy": _cross_entropy(),
    "gelu_tanh_sigmoid": _gelu_chain(), "strided_inputs": _strided(),
    "full_reduction": _full_reduction(), "copy_sum_to_size": _copies_and_sum_to_size(),
}


def train_step(model, opt, x, y):
    """One SGD/Adam step of a classifier (the training step the CUDA-graph tests compile)."""
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def lowered(fn, *args):
    """(graph, plan) of `fn` traced on `args` (the graph after the optimisation passes)."""
    cf = dg.compile(fn, backend="interpreter")
    cf(*args)
    cf(*args)
    seg = next(cf._cf.entries[0].segments())
    graph = seg.graph.copy()
    return graph, lower(graph)


def host_cc() -> str | None:
    """The host C compiler, if any."""
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


class CKernels:
    """Builds C kernels with the host compiler: each batch is one source file and library."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dg-c-")
        self.fns: dict = {}

    def prepare(self, kernels) -> None:
        """Compile every kernel not built yet (one compiler run for all of them)."""
        todo = {symbol_name(k): k for k in kernels if symbol_name(k) not in self.fns}
        if not todo:
            return
        stem = os.path.join(self.dir, f"batch{len(self.fns)}")
        with open(stem + ".c", "w") as f:
            f.write("\n".join(render_c(k) for k in todo.values()))
        r = subprocess.run([host_cc(), "-std=c99", "-O0", "-shared", "-fPIC", "-Wall", "-Werror",
                            "-Wno-unused-variable", stem + ".c", "-o", stem + ".so", "-lm"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        lib = ctypes.CDLL(stem + ".so")
        for sym, k in todo.items():
            fn = getattr(lib, sym)
            fn.argtypes = [ctypes.c_longlong, ctypes.c_longlong, ctypes.c_void_p] + \
                [ctypes.c_void_p] * len(k.buffers)
            self.fns[sym] = fn

    def function(self, kernel):
        self.prepare([kernel])
        return self.fns[symbol_name(kernel)]


def _unit_pattern(step: KernelStep, arrays) -> tuple:
    """Per buffer: is its innermost domain stride 1 (what the kernel variant specialises)."""
    unit = []
    for a, spec in zip(arrays, step.inputs + step.outputs):
        ax = spec.axes[-1]
        unit.append(ax is not None and (a.strides[ax] == a.itemsize or a.shape[ax] <= 1))
    return tuple(unit)


def run_kernel_step_c(step: KernelStep, ins: list, ck: CKernels) -> list:
    """Run one kernel step with its C rendering, as the runtimes pack sizes and strides."""
    outs = [np.empty(spec.shape, dtype=spec.value.dtype.np) for spec in step.outputs]
    arrays = ins + outs
    specs = step.inputs + step.outputs
    nd = len(step.domain)
    dims = np.zeros(nd + nd * len(arrays), dtype=np.int64)
    dims[:nd] = step.domain
    for b, (a, spec) in enumerate(zip(arrays, specs)):
        for d, ax in enumerate(spec.axes):
            if ax is not None:
                dims[nd + b * nd + d] = a.strides[ax] // a.itemsize
    if int(np.prod(step.domain)) == 0:
        return outs
    fn = ck.function(step.kernel(_unit_pattern(step, arrays)))
    fn(0, step.domain[0], dims.ctypes.data, *[a.ctypes.data for a in arrays])
    return outs


def _run_plan(graph, plan, arrays, kernel_step) -> list:
    env = {v.id: a for v, a in zip(graph.inputs, arrays)}
    for step in plan.steps:
        if isinstance(step, KernelStep):
            outs = kernel_step(step, [env[s.value.id] for s in step.inputs], env)
            for spec, a in zip(step.outputs, outs):
                env[spec.value.id] = a
            continue
        node = step.node
        env[node.out.id] = _run_one(node, env)
    return [env[v.id] for v in graph.outputs]


def _run_one(node, env):
    cdt = node.compute_dtype.np if node.compute_dtype is not None else None
    rule = OPS.get(node.op)
    args = []
    for i, x in enumerate(node.inputs):
        if hasattr(x, "id") and hasattr(x, "shape"):
            a = env[x.id]
            tail = rule is not None and rule.dtype_rule == "promote_tail" and i == 0
            args.append(a.astype(cdt) if cdt is not None and not tail and a.dtype != cdt
                        else a)
        else:
            args.append(x)
    if node.op == "matmul":
        return np.matmul(*args)
    return _run_node(node, args, np, None)


def plan_kernels(graph, plan, arrays) -> list:
    """Every kernel the plan runs on these inputs (found by a run through the eager rules)."""
    kernels = []

    def eager(step, ins, env):
        for n in step.nodes:
            env[n.out.id] = _run_one(n, env)
        outs = [np.ascontiguousarray(env[s.value.id]) for s in step.outputs]
        kernels.append(step.kernel(_unit_pattern(step, ins + outs)))
        return outs
    _run_plan(graph, plan, arrays, eager)
    return kernels


def run_plan_with_c(graph, plan, arrays, ck: CKernels) -> list:
    """Run a lowered plan: kernel steps in C (built in one batch), other nodes eagerly."""
    ck.prepare(plan_kernels(graph, plan, arrays))
    return _run_plan(graph, plan, arrays, lambda step, ins, env: run_kernel_step_c(step, ins, ck))


def kernel_steps(plan) -> list:
    """The plan's kernel steps."""
    return [s for s in plan.steps if isinstance(s, KernelStep)]
