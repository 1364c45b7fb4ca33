"""`dyngraph.export`: trace a model once into a whole graph with symbolic dims, save it to a file.

How dynamic dims are found (the compiler's IR has named `Sym` dims but no size arithmetic): the
function is traced at several sizes of the declared dims (the example, one other size per dim on
a grid, and one check point), each trace is encoded to the file's JSON form, and the encodings
are unified leaf by leaf. Integers that differ between traces (a reshape target, an expand size, a
value's shape) are fitted as integer polynomials of the dims (`batch`, `2*batch`, `batch*seq`)
and checked on the extra point; constants that differ only in shape and hold one value
(`zeros(batch, hidden)`) become size-dependent fills. Anything else that changes with the size
(the number of ops, a Python float computed from a size) is an export error naming the node.

Example:
    >>> batch = dyngraph.Dim("batch", min=1, max=4096)
    >>> ep = dyngraph.export(model, (x,), dynamic_shapes=({0: batch},))
    >>> ep.save("model.dgraph")
    >>> run = dyngraph.load_graph("model.dgraph")
    >>> y = run(x)

The steps live next to this module: dyngraph/_export_spec.py (Dim, the inputs, dynamic_shapes),
dyngraph/_export_trace.py (tracing at several sizes), dyngraph/_export_unify.py (merging them).
"""

from __future__ import annotations

import numpy as np

# The steps of export live in their own modules; every name stays importable from here (the same
# objects), as it was before the split.
from ._export_spec import (Dim, ExportError, _apply_spec, _collect_dims,  # noqa: F401
                           _flatten, _Leaf, _leaf_paths, _no_tensor, _param_names,
                           _read_dynamic_shapes)
from ._export_trace import (_break_line, _choose_points, _rebuild, _resample,  # noqa: F401
                            _Trace, _trace_at, _weight_name)
from ._export_unify import (_IDENTITY_ATTRS, _child, _fmt_point, _same_scalar,  # noqa: F401
                            _short, _solve, _Unifier)

__all__ = ["Dim", "ExportedGraph", "ExportError", "export", "load_graph"]

_MAX_DIMS = 4          # the grid of traces has 2**k points


# ----------------------------------------------------------------------------------------------
# The public API
# ----------------------------------------------------------------------------------------------

def export(fn_or_module, args: tuple, kwargs: dict | None = None, *,
           dynamic_shapes=None) -> "ExportedGraph":
    """Trace a function or module into one graph with its weights, ready to save and reload.

    Args:
        fn_or_module: an `nn.Module` or a function of tensors.
        args: the example positional arguments (a tuple).
        kwargs: example keyword arguments.
        dynamic_shapes: which dims may change size, as in `torch.export`: a tuple with one
            entry per argument (`({0: batch},)`) or a dict by argument name
            (`{"x": {0: batch}}`); each entry is None, `{dim index: Dim}`, or a tuple/list/dict
            matching a nested argument.

    Returns:
        An `ExportedGraph`: `.graph`, `.inputs`, `.outputs`, `.state_dict()`, `.save(path)`.

    Raises:
        ExportError: a graph break (reading a tensor value into Python: use dyngraph.cond /
            dyngraph.while_loop), state changed in place, or a size dependence that cannot be
            expressed; the message names the source line or the node.

    Example:
        >>> ep = dyngraph.export(model, (x,), dynamic_shapes=({0: dyngraph.Dim("batch")},))
        >>> ep.save("model.dgraph")
    """
    from compiler.sources import is_module
    if not isinstance(args, tuple):
        raise TypeError(f"export: args must be a tuple of example inputs, got "
                        f"{type(args).__name__} (write (x,) for one input)")
    kwargs = dict(kwargs or {})
    if is_module(fn_or_module):
        fn, sig_fn = fn_or_module.__call__, fn_or_module.forward
    elif callable(fn_or_module):
        fn = sig_fn = fn_or_module
    else:
        raise TypeError(f"export: expected a function or a Module, got "
                        f"{type(fn_or_module).__name__}")
    names = _param_names(sig_fn, len(args))
    leaves: list[_Leaf] = []
    tree = {"args": [_flatten(a, n, f"a[{i}]", leaves) for i, (a, n) in
                     enumerate(zip(args, names))],
            "kwargs": {"$dict": [[k, _flatten(v, k, f"kw[{k!r}]", leaves)]
                                 for k, v in kwargs.items()]},
            "names": names}
    by_top: dict[str, list] = {}
    pos = 0
    for top, obj in list(zip(names, args)) + list(kwargs.items()):
        for p in _leaf_paths(obj):
            by_top.setdefault(top, []).append((p, leaves[pos]))
            pos += 1
    _read_dynamic_shapes(dynamic_shapes, args, kwargs, names, by_top)
    dims, example = _collect_dims(leaves)
    points, varying = _choose_points(dims, example)
    if len(varying) > _MAX_DIMS:
        raise ExportError(f"export: at most {_MAX_DIMS} distinct dynamic dims are supported, "
                          f"got {len(varying)} ({', '.join(varying)})")
    rng = np.random.default_rng(0)
    weight_names: dict[str, str] = {}
    traces = [_trace_at(fn, args, kwargs, leaves, p, rng, weight_names) for p in points]
    u = _Unifier(traces, points, varying)
    body = u.unify([t.doc for t in traces], "export")
    tensors = {n: a for n, a in traces[0].weights}
    tensors.update(u.tensors)
    from runtime.graph_file import encode_attr
    inputs = []
    for i, lf in enumerate(leaves):
        vj = dict(body["graph"]["inputs"][i])
        vj["shape"] = [encode_attr(_sym(dims[lf.dims[d].name]), _no_tensor) if d in lf.dims
                       and lf.dims[d].name in varying else s for d, s in enumerate(vj["shape"])]
        body["graph"]["inputs"][i] = vj
        inputs.append({"name": lf.name, **vj})
    for i, w in enumerate(body["weights"]):
        w.update(body["graph"]["inputs"][len(leaves) + i])
    doc = {"dims": {n: {"min": d.min, "max": d.max} for n, d in dims.items() if n in varying},
           "inputs": inputs, "weights": body["weights"], "graph": body["graph"],
           "in_tree": tree, "out_tree": body["out_tree"],
           "metadata": {"producer": _producer(),
                        "example_sizes": {n: example[n] for n in varying}}}
    return ExportedGraph(doc, tensors)


def _sym(d: Dim):
    from runtime.graph_file import SymExpr
    return SymExpr.dim(d.name)


def _producer() -> str:
    from . import __version__
    return f"dyngraph {__version__}"


class ExportedGraph:
    """An exported program: graph, input/output specs, weights and metadata.

    `save(path)` writes the graph file; `module()` (or calling it) runs it like a loaded file.
    """

    def __init__(self, doc: dict, tensors: dict[str, np.ndarray]):
        from runtime.loaded import Program
        self.doc = doc
        self.tensors = tensors
        self._program = Program(doc, tensors)
        self.metadata: dict[str, str] = {}
        self._module = None

    @property
    def graph(self):
        """The IR graph (`compiler.ir.Graph`), with symbolic dims."""
        return self._program.graph

    @property
    def inputs(self):
        """Specs of the inputs: name, dtype, shape (ints and dim names), device."""
        return self._program.inputs

    @property
    def outputs(self):
        """Specs of the outputs."""
        return self._program.outputs

    @property
    def range_constraints(self) -> dict:
        """{dim name: (min, max)} of the dynamic dims."""
        return {k: (v["min"], v["max"]) for k, v in self.doc["dims"].items()}

    def state_dict(self) -> dict:
        """The weights by name, as tensors."""
        return self._program.state_dict()

    def save(self, path) -> int:
        """Write the graph file to `path` (see docs/graph-format.md); returns its size in bytes."""
        from runtime.graph_file import write_graph_file
        doc = dict(self.doc)
        meta = dict(doc["metadata"])
        for k, v in self.metadata.items():
            if not isinstance(k, str) or not isinstance(v, (str, int, float, bool)):
                raise TypeError("ExportedGraph.metadata must map strings to strings/numbers")
            meta[k] = v
        doc["metadata"] = meta
        return write_graph_file(path, doc, self.tensors)

    def module(self, device=None):
        """A callable that runs the exported graph compiled (as `load_graph` returns)."""
        from runtime.loaded import LoadedGraph
        if device is not None:
            return LoadedGraph(self._program.with_device(device))
        if self._module is None:
            self._module = LoadedGraph(self._program)
        return self._module

    def __call__(self, *args, **kwargs):
        return self.module()(*args, **kwargs)

    def __repr__(self) -> str:
        ins = ", ".join(str(s) for s in self.inputs)
        return f"ExportedGraph(inputs=[{ins}], {len(self.graph.nodes)} nodes)"


def load_graph(path, device=None, *, backend: str = "auto"):
    """Load a graph file saved by `ExportedGraph.save`; returns a callable module.

    Nothing from the file is executed (no pickle, no eval); weights are memory-mapped.

    Args:
        path: the file.
        device: where to run (None: the device it was exported on; "cpu"; "cuda").
        backend: "auto" (the best available: LLVM on the CPU once that backend is enabled for
            auto, else the interpreter), "llvm" or "interpreter".

    Returns:
        A `runtime.loaded.LoadedGraph`: call it like the original function; it exposes
        `.graph`, `.inputs`, `.outputs`, `.state_dict()`.

    Raises:
        GraphFormatError: the file is truncated, corrupt, of an unsupported version, or
            inconsistent; the message names what is wrong.

    Example:
        >>> run = dyngraph.load_graph("model.dgraph")
        >>> y = run(dyngraph.randn(8, 784))
    """
    from runtime.loaded import load
    return load(path, device=device, backend=backend)
