"""A loaded graph file as a callable module: checks inputs against the specs, runs compiled.

Needs only `runtime`, `compiler`, the dyngraph core (tensors, dtypes, the op table) and numpy
(llvmlite when the LLVM backend is present): never `dyngraph.nn` nor the model's own code.

A call binds the dynamic dims from the inputs (`batch=7`), specialises the symbolic graph to
those sizes once per combination (`runtime.graph_file.specialize`, cached), and runs it. The first
run at new sizes is a checked run on the reference interpreter: every node's result must have the
shape and dtype the file declares, otherwise the file is inconsistent (`GraphFormatError`). Later
runs use the graph after the pass pipeline on the best available backend.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from compiler.interpreter import Interpreter, _run_node
from compiler.ir import Graph, Sym, Value

from .graph_file import (Decoder, GraphFormatError, SymExpr, _is_int, _short,
                         read_graph_file, specialize)

__all__ = ["TensorSpec", "Program", "LoadedGraph", "load", "InputError"]

_DOC_KEYS = {"dims", "inputs", "weights", "graph", "in_tree", "out_tree", "metadata"}
_CACHE_LIMIT = 16      # specialisations kept per loaded graph (one per size combination)


class InputError(ValueError):
    """A call's inputs do not match the loaded graph's input specs."""


class TensorSpec:
    """Name, dtype, shape (ints and dim names) and device of one graph input or output."""

    __slots__ = ("name", "dtype", "shape", "device")

    def __init__(self, name, dtype, shape, device):
        self.name, self.dtype, self.shape, self.device = name, dtype, tuple(shape), device

    def __repr__(self) -> str:
        from compiler.ir import dtype_short
        dims = ",".join(str(s) for s in self.shape)
        return f"{self.name}: {dtype_short(self.dtype)}[{dims}]"

    def as_dict(self) -> dict:
        return {"name": self.name, "dtype": self.dtype.name,
                "shape": [s if isinstance(s, int) else str(s) for s in self.shape],
                "device": str(self.device)}


class Program:
    """The validated contents of a graph file: graph, specs, weights, trees, metadata."""

    def __init__(self, doc, arrays: dict, device=None, source="graph"):
        self.doc, self.arrays, self.source = doc, arrays, source
        if not isinstance(doc, dict) or set(doc) != _DOC_KEYS:
            raise GraphFormatError(f"{source}: the document must have exactly the keys "
                                   f"{sorted(_DOC_KEYS)}")
        self.dims = self._dims(doc["dims"])
        dev = None
        if device is not None:
            from dyngraph._device import device as _device
            dev = device if isinstance(device, _device) else _device(device)
        self.device_override = dev
        dec = Decoder(arrays, dev)
        dec.dims = set(self.dims)
        self.graph: Graph = dec.graph(doc["graph"], f"{source}: graph")
        self.inputs, self.weights = self._specs(doc["inputs"], doc["weights"])
        used = {w["tensor"] for w in doc["weights"]} | dec.used
        for name in arrays:
            if name not in used:
                raise GraphFormatError(f"{source}: tensor {name!r} in the file is used by no "
                                       "weight or constant")
        self.outputs = [TensorSpec(f"output{i}", v.dtype, v.shape, v.device)
                        for i, v in enumerate(self.graph.outputs)]
        self.n_inputs = len(self.inputs)
        self._check_tree(doc["in_tree"], doc["out_tree"])
        if not isinstance(doc["metadata"], dict):
            raise GraphFormatError(f"{source}: 'metadata' must be an object")
        self.metadata = doc["metadata"]
        self._weights_on_device = None

    # ----- validation ----------------------------------------------------------------------
    def _dims(self, dims) -> dict:
        if not isinstance(dims, dict):
            raise GraphFormatError(f"{self.source}: 'dims' must be an object")
        out = {}
        for name, r in dims.items():
            if not name.isidentifier() or not isinstance(r, dict) or set(r) != {"min", "max"} \
                    or not _is_int(r["min"]) or not (r["max"] is None or _is_int(r["max"])) \
                    or r["min"] < 0 or (r["max"] is not None and r["max"] < r["min"]):
                raise GraphFormatError(f"{self.source}: dim {_short(name)} needs a range "
                                       f"{{'min': int, 'max': int or null}}, got {_short(r)}")
            out[name] = (r["min"], r["max"])
        return out

    def _specs(self, inputs, weights):
        g = self.graph
        if not isinstance(inputs, list) or not isinstance(weights, list):
            raise GraphFormatError(f"{self.source}: 'inputs' and 'weights' must be lists")
        if len(inputs) + len(weights) != len(g.inputs):
            raise GraphFormatError(
                f"{self.source}: {len(inputs)} inputs and {len(weights)} weights, but the graph "
                f"has {len(g.inputs)} inputs")
        specs, wspecs, names = [], [], set()
        for i, (j, v) in enumerate(zip(inputs + weights, g.inputs)):
            kind = "input" if i < len(inputs) else "weight"
            need = {"name", "shape", "dtype", "device"} | ({"tensor"} if kind == "weight"
                                                          else set())
            if not isinstance(j, dict) or set(j) != need or not isinstance(j["name"], str) \
                    or not isinstance(j["shape"], list):
                raise GraphFormatError(f"{self.source}: {kind} {i} must have exactly the keys "
                                       f"{sorted(need)}")
            if j["name"] in names:
                raise GraphFormatError(f"{self.source}: two inputs/weights are named "
                                       f"{j['name']!r}")
            names.add(j["name"])
            w = f"{self.source}: {kind} {j['name']!r}"
            if j["dtype"] != v.dtype.name or len(j["shape"]) != len(v.shape) or (
                    self.device_override is None and j["device"] != str(v.device)):
                raise GraphFormatError(f"{w} is declared as {j['dtype']} {j['shape']} but graph "
                                       f"input {i} is {v.type_str()}")
            for d, (s, gs) in enumerate(zip(j["shape"], v.shape)):
                if _is_int(s):
                    ok = s == gs
                elif isinstance(s, dict) and set(s) == {"$sym"}:
                    ok = isinstance(gs, SymExpr) and len(gs.terms) == 1 and gs.terms[0][0] == 1 \
                        and len(gs.terms[0][1]) == 1 and s["$sym"] == [[1, [gs.name]]]
                else:
                    ok = False
                if not ok or (kind == "weight" and not _is_int(s)):
                    raise GraphFormatError(f"{w}: size {d} is {_short(s)}, which does not match "
                                           f"the graph ({gs}) or is not a plain size/dim")
            v.name = j["name"]
            spec = TensorSpec(j["name"], v.dtype, v.shape, v.device)
            if kind == "weight":
                arr = self.arrays.get(j["tensor"]) if isinstance(j["tensor"], str) else None
                if arr is None:
                    raise GraphFormatError(f"{w} refers to tensor {_short(j['tensor'])}, which "
                                           "is not in the file")
                if tuple(arr.shape) != v.shape or arr.dtype != v.dtype.np:
                    raise GraphFormatError(
                        f"{w}: the file's tensor {j['tensor']!r} is {arr.dtype} "
                        f"{list(arr.shape)} but the graph declares {v.type_str()}")
                wspecs.append((spec, j["tensor"]))
            else:
                specs.append(spec)
        return specs, wspecs

    def _check_tree(self, in_tree, out_tree) -> None:
        if not isinstance(in_tree, dict) or set(in_tree) != {"args", "kwargs", "names"} or \
                not isinstance(in_tree["args"], list) or not isinstance(in_tree["names"], list) \
                or len(in_tree["names"]) != len(in_tree["args"]) or not all(
                    isinstance(n, str) for n in in_tree["names"]):
            raise GraphFormatError(f"{self.source}: 'in_tree' must have 'args', 'kwargs' and "
                                   "'names' (one per positional argument)")
        kw = in_tree["kwargs"]
        if not (isinstance(kw, dict) and set(kw) == {"$dict"} and isinstance(kw["$dict"], list)
                and all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)
                        for p in kw["$dict"])):
            raise GraphFormatError(f"{self.source}: 'in_tree.kwargs' must be a $dict with string "
                                   "keys")
        seen = []
        _walk_tree(in_tree["args"], "$input", seen, self.source, 0)
        _walk_tree(kw, "$input", seen, self.source, 0)
        if sorted(seen) != list(range(self.n_inputs)):
            raise GraphFormatError(f"{self.source}: 'in_tree' must use each of the "
                                   f"{self.n_inputs} inputs exactly once")
        seen = []
        _walk_tree(out_tree, "$output", seen, self.source, 0)
        if any(not 0 <= i < len(self.graph.outputs) for i in seen):
            raise GraphFormatError(f"{self.source}: 'out_tree' refers to an output the graph "
                                   "does not have")

    # ----- helpers -------------------------------------------------------------------------
    def with_device(self, device) -> "Program":
        """The same program placed on another device."""
        return Program(self.doc, self.arrays, device, self.source)

    def state_dict(self) -> "OrderedDict":
        """Weights by name as tensors (read-only views of the file's memory map on the CPU)."""
        from dyngraph._tensor import _wrap
        return OrderedDict((s.name, _wrap(a)) for s, a in zip(
            (s for s, _ in self.weights), self.weight_arrays()))

    def weight_arrays(self) -> list:
        if self._weights_on_device is None:
            arrs = [self.arrays[t] for _, t in self.weights]
            dev = self.device_override
            if dev is not None and dev.type == "cuda":
                from dyngraph._device import to_device_array
                arrs = [to_device_array(np.ascontiguousarray(a), dev) for a in arrs]
            self._weights_on_device = arrs
        return self._weights_on_device

    def xp(self):
        dev = self.device_override or (self.graph.inputs[0].device if self.graph.inputs
                                        else None)
        if dev is not None and dev.type == "cuda":
            from dyngraph._device import cupy_module
            return cupy_module()
        return np


def _walk_tree(t, tag, seen, source, depth):
    if depth > 64:
        raise GraphFormatError(f"{source}: an input/output tree is nested too deeply")
    if isinstance(t, list):
        for x in t:
            _walk_tree(x, tag, seen, source, depth + 1)
    elif isinstance(t, dict):
        if len(t) != 1:
            raise GraphFormatError(f"{source}: tree node {_short(t)} must be a one-key tag")
        (k, v), = t.items()
        if k == tag:
            if not _is_int(v):
                raise GraphFormatError(f"{source}: {tag} needs an int, got {_short(v)}")
            seen.append(v)
        elif k == "$tuple":
            _walk_tree(v if isinstance(v, list) else None, tag, seen, source, depth + 1)
        elif k == "$dict":
            if not isinstance(v, list) or not all(isinstance(p, list) and len(p) == 2 and
                                                  isinstance(p[0], (str, int)) for p in v):
                raise GraphFormatError(f"{source}: $dict needs [key, value] pairs")
            for _, x in v:
                _walk_tree(x, tag, seen, source, depth + 1)
        elif k == "$float":
            if v not in ("nan", "inf", "-inf"):
                raise GraphFormatError(f"{source}: invalid $float {_short(v)}")
        else:
            raise GraphFormatError(f"{source}: unknown tag {k!r} in an input/output tree")
    elif not (t is None or isinstance(t, (bool, int, float, str))):
        raise GraphFormatError(f"{source}: invalid tree node {_short(t)}")


def _build(t, leaf_tag, leaves):
    """Rebuild an output tree from its JSON form."""
    if isinstance(t, list):
        return [_build(x, leaf_tag, leaves) for x in t]
    if isinstance(t, dict):
        (k, v), = t.items()
        if k == leaf_tag:
            return leaves[v]
        if k == "$tuple":
            return tuple(_build(x, leaf_tag, leaves) for x in v)
        if k == "$dict":
            return {kk: _build(x, leaf_tag, leaves) for kk, x in v}
        if k == "$float":
            return float(v)
    return t


def _match(t, obj, where, out: list):
    """Match a call's argument `obj` against the input tree `t`; collects the tensors."""
    if isinstance(t, dict) and "$input" in t:
        out.append((t["$input"], obj, where))
        return
    if isinstance(t, list) or (isinstance(t, dict) and "$tuple" in t):
        items = t if isinstance(t, list) else t["$tuple"]
        if not isinstance(obj, (list, tuple)) or len(obj) != len(items):
            raise InputError(f"loaded graph: {where} must be a sequence of {len(items)} items, "
                             f"got {type(obj).__name__}")
        for i, (x, o) in enumerate(zip(items, obj)):
            _match(x, o, f"{where}[{i}]", out)
        return
    if isinstance(t, dict) and "$dict" in t:
        if not isinstance(obj, dict) or set(obj) != {k for k, _ in t["$dict"]}:
            raise InputError(f"loaded graph: {where} must be a dict with keys "
                             f"{[k for k, _ in t['$dict']]}")
        for k, x in t["$dict"]:
            _match(x, obj[k], f"{where}[{k!r}]", out)
        return
    expected = _build(t, "$input", [])
    same = obj == expected or (isinstance(obj, float) and isinstance(expected, float)
                               and math.isnan(obj) and math.isnan(expected))
    if type(obj) is not type(expected) or not same:
        raise InputError(f"loaded graph: {where} was {expected!r} when the graph was exported "
                         f"and is baked into it; got {obj!r}")


class LoadedGraph:
    """A graph file as a callable: `run(*args, **kwargs)` like the exported function.

    Attributes: `graph` (IR with symbolic dims), `inputs` / `outputs` (`TensorSpec`s), `dims`
    ({name: (min, max)}), `metadata`; `state_dict()` gives the weights.
    """

    def __init__(self, program: Program, backend: str = "auto"):
        if backend not in ("auto", "interpreter", "llvm"):
            raise ValueError(f"loaded graph: unknown backend {backend!r}; choose 'auto', "
                             "'interpreter' or 'llvm'")
        self.program = program
        self.backend = backend
        self._cache: OrderedDict = OrderedDict()
        self.backend_used = None
        self.compile_note = ""

    @property
    def graph(self) -> Graph:
        return self.program.graph

    @property
    def inputs(self) -> list:
        return self.program.inputs

    @property
    def outputs(self) -> list:
        return self.program.outputs

    @property
    def dims(self) -> dict:
        return dict(self.program.dims)

    @property
    def metadata(self) -> dict:
        return self.program.metadata

    def state_dict(self) -> "OrderedDict":
        """The weights by name (read-only tensors backed by the file's memory map)."""
        return self.program.state_dict()

    def __call__(self, *args, **kwargs):
        arrays = self._bind(args, kwargs)
        outs = self.run_arrays(arrays)
        from dyngraph._tensor import _wrap
        return _build(self.program.doc["out_tree"], "$output", [_wrap(a) for a in outs])

    def _bind(self, args, kwargs) -> list:
        tree = self.program.doc["in_tree"]
        names = tree["names"]
        if len(args) > len(names):
            raise InputError(f"loaded graph: takes {len(names)} positional arguments "
                             f"({', '.join(names)}) but {len(args)} were given")
        args = list(args)
        kwargs = dict(kwargs)
        for n in names[len(args):]:
            if n not in kwargs:
                raise InputError(f"loaded graph: missing argument {n!r} (arguments: "
                                 f"{', '.join(names)})")
            args.append(kwargs.pop(n))
        kw_names = [k for k, _ in tree["kwargs"]["$dict"]]
        if set(kwargs) != set(kw_names):
            raise InputError(f"loaded graph: keyword arguments {sorted(kwargs)} do not match "
                             f"the exported ones {sorted(kw_names)}")
        found: list = []
        for i, (t, a) in enumerate(zip(tree["args"], args)):
            _match(t, a, names[i], found)
        for k, t in tree["kwargs"]["$dict"]:
            _match(t, kwargs[k], k, found)
        arrays: list = [None] * self.program.n_inputs
        for i, obj, _ in found:
            arrays[i] = obj
        return arrays

    def check_inputs(self, arrays) -> dict[str, int]:
        """Check arrays/tensors against the input specs; returns the dim sizes they bind."""
        from dyngraph._tensor import Tensor
        sizes: dict[str, int] = {}
        out = []
        for spec, a in zip(self.inputs, arrays):
            if isinstance(a, Tensor):
                a = a._data
            elif not hasattr(a, "shape") or not hasattr(a, "dtype"):
                raise InputError(f"loaded graph: input {spec.name!r} must be a tensor or an "
                                 f"array, got {type(a).__name__}")
            if a.dtype != spec.dtype.np:
                raise InputError(
                    f"loaded graph: input {spec.name!r} has dtype {np.dtype(a.dtype).name} but "
                    f"the graph was exported for {spec.dtype.name}; convert it with "
                    f".to(dyngraph.{spec.dtype.name})")
            if len(a.shape) != len(spec.shape):
                raise InputError(f"loaded graph: input {spec.name!r} has shape {tuple(a.shape)} "
                                 f"but the spec is {list(map(str, spec.shape))} "
                                 f"({len(spec.shape)} dims)")
            for d, (n, s) in enumerate(zip(a.shape, spec.shape)):
                if isinstance(s, Sym):
                    lo, hi = self.program.dims[s.name]
                    if n < lo or (hi is not None and n > hi):
                        raise InputError(
                            f"loaded graph: input {spec.name!r} dim {d} ({s.name}) has size {n},"
                            f" outside the exported range [{lo}, {'inf' if hi is None else hi}]")
                    if sizes.setdefault(s.name, n) != n:
                        raise InputError(
                            f"loaded graph: dim {s.name!r} is {sizes[s.name]} in one input but "
                            f"{n} in {spec.name!r} (dim {d}); inputs sharing a dim must agree")
                elif n != s:
                    raise InputError(
                        f"loaded graph: input {spec.name!r} has shape {tuple(a.shape)} but the "
                        f"spec is [{', '.join(map(str, spec.shape))}] (dim {d} must be {s}; "
                        "export with dynamic_shapes to make it dynamic)")
            out.append(a)
        arrays[:] = out
        return sizes

    def run_arrays(self, arrays) -> list:
        """Run on a flat list of input arrays (in `inputs` order); returns output arrays."""
        arrays = list(arrays)
        if len(arrays) != self.program.n_inputs:
            raise InputError(f"loaded graph: expected {self.program.n_inputs} inputs, got "
                             f"{len(arrays)}")
        sizes = self.check_inputs(arrays)
        xp = self.program.xp()
        if xp is not np:
            arrays = [xp.asarray(a) for a in arrays]
        full = arrays + self.program.weight_arrays()
        key = tuple(sorted(sizes.items()))
        runner = self._cache.get(key)
        if runner is not None:
            self._cache.move_to_end(key)
            return runner(full, xp)
        sg = specialize(self.graph, sizes)
        outs = _checked_run(sg, full, xp, self.program.source)
        self._cache[key] = self._compile(sg)
        if len(self._cache) > _CACHE_LIMIT:
            self._cache.popitem(last=False)
        return outs

    def _compile(self, sg: Graph):
        from compiler.passes.manager import PassError, run_pipeline
        g = sg.copy()
        try:
            run_pipeline(g)
        except PassError as e:
            # The checked run proved the graph runs; a pass that chokes on it must not stop it.
            self.compile_note = f"passes skipped: {e}"
            runner = _InterpreterRunner(sg)
            self.backend_used = runner.backend_name
            return runner
        runner = _backend_runner(g, self.backend, self.program.xp() is np)
        self.backend_used = getattr(runner, "backend_name", "interpreter")
        return runner

    def __repr__(self) -> str:
        ins = ", ".join(map(repr, self.inputs))
        outs = ", ".join(map(repr, self.outputs))
        return f"LoadedGraph(({ins}) -> ({outs}), {len(self.graph.nodes)} nodes)"


class _InterpreterRunner:
    backend_name = "interpreter"

    def __init__(self, g):
        self.interp = Interpreter(g)

    def __call__(self, arrays, xp):
        return self.interp(arrays, xp)


def _backend_runner(g: Graph, backend: str, on_cpu: bool):
    """The runner for `g`: the LLVM backend's choice for `backend` (issue 5) on the CPU when it is
    present ("auto" follows its AUTO_USES_LLVM switch), else the reference interpreter."""
    if on_cpu and backend != "interpreter":
        try:
            from runtime import llvm_backend
        except ImportError:
            llvm_backend = None
        program_for = getattr(llvm_backend, "program_for", None)
        if program_for is not None:
            try:
                prog = program_for(g, backend)
            except Exception:   # noqa: BLE001 - a graph it cannot take runs on the reference
                if backend == "llvm":
                    raise
                prog = None
            if prog is not None and not isinstance(prog, Interpreter):
                def run(arrays, xp, prog=prog):
                    return list(prog(arrays, xp))
                run.backend_name = "llvm"
                return run
        elif backend == "llvm":
            raise RuntimeError("loaded graph: backend='llvm' needs runtime/llvm_backend.py and "
                               "llvmlite")
    return _InterpreterRunner(g)


def _checked_run(g: Graph, arrays, xp, source) -> list:
    """Run `g` node by node; each result must match the shape and dtype the file declares."""
    env = {v.id: a for v, a in zip(g.inputs, arrays)}
    from dyngraph.ops.registry import OPS
    for i, node in enumerate(g.nodes):
        rule = OPS.get(node.op)
        tail = rule is not None and rule.dtype_rule == "promote_tail"
        args = []
        for k, x in enumerate(node.inputs):
            if isinstance(x, Value):
                a = env[x.id]
                cdt = node.compute_dtype
                if cdt is not None and not (tail and k == 0) and a.dtype != cdt.np:
                    a = a.astype(cdt.np)
                args.append(a)
            else:
                args.append(x)
        where = f"{source}: node %{len(g.inputs) + i} ({node.op})"
        _precheck(node, args, where)
        try:
            out = _run_node(node, args, xp, None)
        except (MemoryError, RecursionError):
            raise
        except Exception as e:  # noqa: BLE001 - a valid graph on valid inputs does not raise
            raise GraphFormatError(f"{where} failed on inputs that match the specs: "
                                   f"{type(e).__name__}: {e}; the graph in the file is "
                                   "inconsistent") from e
        if tuple(out.shape) != tuple(node.out.shape) or out.dtype != node.out.dtype.np:
            raise GraphFormatError(
                f"{where} produced {np.dtype(out.dtype).name}{list(out.shape)} but the file "
                f"declares {node.out.type_str()}; the graph in the file is inconsistent")
        env[node.out.id] = out
    return [env[v.id] for v in g.outputs]


def _precheck(node, args, where) -> None:
    """Refuse a shape attribute asking for more elements than the node's declared output or any
    input holds: valid graphs never do, and a forged one must not allocate it."""
    limit = max([math.prod(node.out.shape)] + [math.prod(a.shape) for a in args
                                                if hasattr(a, "shape")])
    for key in ("shape", "size"):
        s = node.attrs.get(key)
        if isinstance(s, tuple) and s and all(_is_int(x) for x in s):
            n = math.prod(x for x in s if x >= 0)
            if n > max(limit, 1):
                raise GraphFormatError(f"{where}: attribute {key}={s} asks for {n} elements, "
                                       f"more than its declared output {node.out.type_str()} "
                                       "or any input holds; the graph in the file is "
                                       "inconsistent")


def load(path, device=None, *, backend: str = "auto", verify: bool = True) -> LoadedGraph:
    """Load a graph file (see `dyngraph.load_graph`)."""
    gf = read_graph_file(path, verify=verify)
    prog = Program(gf.doc["graph"], gf.arrays, device, source=str(path))
    prog.file = gf
    return LoadedGraph(prog, backend)
