"""User entry points of the compiler: `compile`, `explain`, `reset`, `mark_dynamic`, `cond`,
`while_loop` and `set_logs` (the machinery lives in `compiler/` and `runtime/`)."""

from __future__ import annotations

import functools

from ._dispatch import state

__all__ = ["compile", "explain", "reset", "mark_dynamic", "cond", "while_loop", "set_logs"]

_BACKENDS = ("auto", "interpreter", "llvm", "cuda")


def compile(fn_or_module=None, *, backend: str = "auto", fullgraph: bool = False,  # noqa: A001
            dynamic: bool | None = None, mode: str | None = None, options: dict | None = None):
    """Compile a function or module: trace it to IR, guard, optimise and run it.

    Usable as `@dyngraph.compile`, `@dyngraph.compile(backend=...)` and
    `model = dyngraph.compile(model)` (the result keeps the module's parameters, state dict and
    train/eval switch: attribute access goes to the original module).

    Args:
        fn_or_module: a function or an `nn.Module`.
        backend: "auto" (LLVM kernels on the CPU, the interpreter elsewhere),
            "interpreter", "llvm" or "cuda".
        fullgraph: raise (naming the source line) instead of splitting the graph where the
            function reads a tensor's value into Python.
        dynamic: None (default) or True: when a call misses the cache only because argument
            sizes changed, those dims become symbolic and one graph serves all their sizes >= 2
            (sizes that cannot be expressed stay static; `explain()` says why). False: every
            size gets its own graph, except dims marked with `dyngraph.mark_dynamic`.
        mode: accepted for PyTorch compatibility ("default", "reduce-overhead", ...); with
            backend="cuda", "reduce-overhead" replays the compiled graph as a CUDA graph.
        options: {"cache_size_limit": 8, "recompute": True} (recompute: cheap elementwise
            values the backward reads are recomputed there instead of saved when that lowers
            memory).

    Returns:
        A callable with the same signature (a `CompiledModule` for modules).

    Example:
        >>> @dyngraph.compile
        ... def f(x):
        ...     return (x * 2).relu().sum()
    """
    if fn_or_module is None:
        return functools.partial(compile, backend=backend, fullgraph=fullgraph, dynamic=dynamic,
                                 mode=mode, options=options)
    if backend not in _BACKENDS:
        raise ValueError(f"compile: unknown backend {backend!r}; choose from {list(_BACKENDS)}")
    if backend == "cuda" and mode == "reduce-overhead":
        backend = "cuda:reduce-overhead"      # the CUDA backend replays a captured CUDA graph
    from runtime.executor import CompiledFunction
    from compiler.sources import is_module
    if is_module(fn_or_module):
        return CompiledModule(fn_or_module, CompiledFunction(
            fn_or_module.__call__, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
            options=options))
    if not callable(fn_or_module):
        raise TypeError(f"compile: expected a function or a Module, got "
                        f"{type(fn_or_module).__name__}")
    cf = CompiledFunction(fn_or_module, fullgraph=fullgraph, dynamic=dynamic, backend=backend,
                          options=options)
    return functools.wraps(fn_or_module)(_Wrapper(cf))


class _Wrapper:
    """A compiled function: call it like the original; `.explain()` describes its caches."""

    def __init__(self, cf):
        self._cf = cf

    def __call__(self, *args, **kwargs):
        return self._cf(*args, **kwargs)

    def explain(self) -> "ExplainOutput":
        """What was captured so far: graphs, guards, breaks, recompiles, passes."""
        return ExplainOutput(self._cf)

    def __get__(self, obj, objtype=None):   # compiled methods bind like functions
        return self if obj is None else functools.partial(self, obj)


class CompiledModule:
    """A module whose calls run compiled; everything else is the original module's."""

    def __init__(self, module, cf):
        object.__setattr__(self, "_orig_mod", module)
        object.__setattr__(self, "_cf", cf)

    def __call__(self, *args, **kwargs):
        return self._cf(*args, **kwargs)

    def forward(self, *args, **kwargs):
        return self._cf(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._orig_mod, name)

    def __setattr__(self, name, value):
        setattr(self._orig_mod, name, value)

    def train(self, mode: bool = True):
        self._orig_mod.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def explain(self) -> "ExplainOutput":
        return ExplainOutput(self._cf)

    def __repr__(self) -> str:
        return f"CompiledModule({self._orig_mod!r})"


class ExplainOutput:
    """The report `explain` gives: print it, or read `graphs`, `breaks`, `events`."""

    def __init__(self, cf):
        self.entries = cf.entries
        self.events = list(cf.events)
        self.graphs = []
        self.breaks = [e for e in self.events if e.startswith("graph break")]
        self.recompiles = [e for e in self.events if e.startswith("recompile")]
        parts = [f"compiled function {cf._name()}: {len(cf.entries)} cache entr"
                 f"{'y' if len(cf.entries) == 1 else 'ies'}"]
        for i, entry in enumerate(cf.entries):
            parts.append(f"entry {i}:")
            if entry.root is None:
                parts.append(f"  runs eagerly: {entry.eager_reason}")
            parts.append(" guards:\n" + entry.guards.text())
            for seg in entry.segments():
                if seg.program is None:
                    seg.compile(cf.backend)
                self.graphs.append(seg.graph)
                parts.append(" graph:\n" + seg.graph.text("  "))
                if seg.brk is not None:
                    parts.append(f"  then graph break: .{seg.brk.kind}() at {seg.brk.line}")
                parts.append(" passes:\n" + seg.report.text())
                lowered = getattr(seg.program[0], "explain", None)
                if lowered is not None:     # how each node ran (the LLVM backend)
                    parts.append(" backend:\n" + lowered())
                groups = seg.report.info.get("fusion_groups")
                if groups:
                    parts.append(" fusion groups: " + "; ".join("+".join(g) for g in groups))
                mem = seg.report.info.get("memory")
                if mem:
                    parts.append(f" memory: peak {mem['peak_bytes']} bytes "
                                 f"({mem['no_reuse_bytes']} without reuse), "
                                 f"{mem['buffers']} buffers, {mem['reused']} reused")
        if self.events:
            parts.append("events:\n" + "\n".join(f"  {e}" for e in self.events))
        self.text = "\n".join(parts)

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def explain(fn):
    """`explain(fn)(*args)`: compile `fn`, run it on the args twice, and describe the result.

    Example:
        >>> print(dyngraph.explain(lambda x: x.relu() * 2)(dyngraph.randn(3)))
    """
    def run(*args, **kwargs):
        compiled = compile(fn)
        compiled(*args, **kwargs)
        return ExplainOutput(compiled._cf if hasattr(compiled, "_cf") else compiled)
    return run


def reset() -> None:
    """Forget every compiled function's cached graphs (they recompile on their next call)."""
    from runtime.executor import all_compiled
    for cf in all_compiled():
        cf.reset()


def mark_dynamic(t, dim) -> None:
    """Ask for dim `dim` (an int or a sequence) of `t` to be symbolic, even under
    `compile(dynamic=False)`. Shapes come from eager runs, so the graph turns symbolic at the
    second size seen (the first trace cannot tell a size-derived number from a constant)."""
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    t.__dict__.setdefault("_dynamo_dynamic_indices", set()).update(dims)


def cond(pred, true_fn, false_fn, operands=()):
    """`true_fn(*operands)` if `pred` else `false_fn(*operands)`; one IR node under compile.

    The branches return a tensor or a tuple of tensors (same shapes and dtypes in both).
    Under compile both branches are traced, and gradients flow through the node to the
    operands and to tensors the branches read from outside (the backward graph holds a `cond`
    of the two branches' gradients).

    Example:
        >>> dyngraph.cond(x.sum() > 0, lambda x: x * 2, lambda x: -x, (x,))
    """
    operands = tuple(operands)
    tracer = state.tracer
    if tracer is None or not hasattr(tracer, "graph"):
        return true_fn(*operands) if bool(pred) else false_fn(*operands)
    from compiler.control_flow import trace_cond
    from compiler.trace import Unsupported
    try:
        return trace_cond(tracer, _as_tensor(pred), true_fn, false_fn, operands)
    except Unsupported as e:      # the function runs eagerly from here on (explain says why)
        tracer.poison(f"dyngraph.cond: {e}")
        return true_fn(*operands) if bool(pred) else false_fn(*operands)


def while_loop(cond_fn, body_fn, carried):
    """Run `carried = body_fn(*carried)` while `cond_fn(*carried)`; returns the final tuple.

    Under compile the loop is one IR node when no gradient is needed; when a carried value
    (or a tensor the body reads) requires grad, `fullgraph=True` raises NotImplementedError
    and otherwise the loop is unrolled into the graph with a graph break at each test of the
    condition (differentiable by compiled autograd), noted in `explain()`.

    Example:
        >>> dyngraph.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2), (i0, x))
    """
    carried = tuple(carried)
    tracer = state.tracer
    if tracer is None or not hasattr(tracer, "graph"):
        while bool(cond_fn(*carried)):
            carried = tuple(body_fn(*carried))
        return carried
    from compiler.control_flow import trace_while
    from compiler.trace import Unsupported
    try:
        return trace_while(tracer, cond_fn, body_fn, carried)
    except Unsupported as e:
        tracer.poison(f"dyngraph.while_loop: {e}")
        while bool(cond_fn(*carried)):
            carried = tuple(body_fn(*carried))
        return carried


def _as_tensor(x):
    from ._tensor import Tensor
    if isinstance(x, Tensor):
        return x
    from .ops.creation import tensor
    return tensor(bool(x))


def set_logs(*channels, **flags) -> None:
    """Enable compiler log channels: set_logs("graphs", "recompiles"), set_logs(all=True),
    set_logs() to turn them off. Also read from the DYNGRAPH_LOGS environment variable."""
    from runtime import logs
    names = list(channels) + [k for k, v in flags.items() if v]
    logs.set_channels(names)
