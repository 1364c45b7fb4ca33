"""The graph JSON of a graph file: IR -> tagged JSON (`encode_graph`) and back (`Decoder`).

Every value that is not plain JSON is a one-key tag (`{"$tuple": [...]}`, `{"$dtype": ...}`,
`{"$sym": [[2, ["batch"]]]}`, ...). Decoding checks every field and raises `GraphFormatError`
naming it; the file container around the JSON is runtime/graph_file.py.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import numpy as np

from compiler.ir import IR_OPS, Graph, Node, Sym, Value

from .graph_sym import FullConstant, RangeConstant, SymExpr

__all__ = ["GraphFormatError", "EncodeError", "OPSET_VERSION", "encode_attr", "encode_graph",
           "Decoder", "decode_graph"]

OPSET_VERSION = 1       # meaning of op names and their attributes (the op table)
MAX_DEPTH = 64          # nesting limit for JSON tags and subgraphs
MAX_FULL_ELEMENTS = 1 << 31


class GraphFormatError(RuntimeError):
    """A graph file that cannot be loaded: the message names the field or byte range at fault."""


# ----------------------------------------------------------------------------------------------
# Encoding: IR -> JSON
# ----------------------------------------------------------------------------------------------

class EncodeError(TypeError):
    """An attribute value the format cannot represent (raised at export time)."""


def _dtype_mod():
    from dyngraph import _dtype
    return _dtype


def encode_attr(a: Any, add_tensor: Callable[[np.ndarray], str], where: str = "attr"):
    """The tagged JSON form of an attribute value; `add_tensor(array) -> name` stores arrays."""
    if a is None or isinstance(a, (bool, str)):
        return a
    if isinstance(a, int):
        return int(a)
    if isinstance(a, float):
        return a if math.isfinite(a) else {"$float": repr(a)}
    # (imported here, after the plain scalars: graph-cache keys encode every size and scalar)
    from dyngraph._device import device as _device
    from dyngraph.ops.creation import Generator
    from dyngraph.ops.index import TensorSlot
    D = _dtype_mod()
    if isinstance(a, SymExpr):
        return {"$sym": [[c, list(names)] for c, names in a.terms]}
    if isinstance(a, Sym):
        return {"$sym": [[1, [a.name]]]}
    if isinstance(a, tuple):
        return {"$tuple": [encode_attr(x, add_tensor, f"{where}[{i}]") for i, x in enumerate(a)]}
    if isinstance(a, list):
        return [encode_attr(x, add_tensor, f"{where}[{i}]") for i, x in enumerate(a)]
    if isinstance(a, dict):
        return {"$dict": [[encode_attr(k, add_tensor, where), encode_attr(v, add_tensor,
                                                                           f"{where}[{k!r}]")]
                          for k, v in a.items()]}
    if isinstance(a, slice):
        return {"$slice": [encode_attr(x, add_tensor, where) for x in (a.start, a.stop, a.step)]}
    if a is Ellipsis:
        return {"$ellipsis": None}
    if isinstance(a, D.dtype):
        return {"$dtype": a.name}
    if isinstance(a, _device):
        return {"$device": str(a)}
    if isinstance(a, TensorSlot):
        return {"$slot": a.i}
    if isinstance(a, Generator):
        return {"$generator": {"device": str(a.device), "seed": int(a.initial_seed())}}
    if isinstance(a, np.ndarray):
        return {"$tensor": add_tensor(a)}
    if isinstance(a, np.generic):
        D.from_numpy_dtype(a.dtype)
        v = a.item()
        return {"$np": [D.from_numpy_dtype(a.dtype).name,
                        v if not isinstance(v, float) or math.isfinite(v) else repr(v)]}
    if isinstance(a, FullConstant):
        return {"$full": {"value": encode_attr(a.value, add_tensor, where),
                          "dtype": a.dtype.name,
                          "shape": [encode_attr(s, add_tensor, where) for s in a.shape]}}
    if isinstance(a, RangeConstant):
        return {"$range": {"start": a.start, "step": a.step, "dtype": a.dtype.name,
                           "length": encode_attr(a.shape[0], add_tensor, where)}}
    if isinstance(a, Graph):
        return {"$graph": encode_graph(a, add_tensor, where)}
    raise EncodeError(
        f"export: {where} holds a {type(a).__module__}.{type(a).__qualname__}, which a graph file "
        "cannot store (supported: None, bool, int, float, str, tuples, lists, dicts, slices, "
        "..., dtypes, devices, index slots, Generators, arrays, subgraphs)")


def encode_graph(g: Graph, add_tensor, where: str = "graph", loop_ids=None) -> dict:
    """The JSON form of a graph: values are numbered inputs first, then one per node."""
    loop_ids = {} if loop_ids is None else loop_ids
    num: dict[int, int] = {}
    inputs = []
    for v in g.inputs:
        num[v.id] = len(num)
        inputs.append(_value_json(v, add_tensor, where))
    nodes = []
    for n in g.nodes:
        w = f"{where}: node {len(num)} ({n.op})"
        ins = []
        for x in n.inputs:
            if isinstance(x, Value):
                if x.id not in num:
                    raise EncodeError(f"export: {w} reads a value defined outside the graph")
                ins.append({"$v": num[x.id]})
            else:
                ins.append(encode_attr(x, add_tensor, w + " input"))
        attrs = {str(k): encode_attr(n.attrs[k], add_tensor, f"{w} attribute {k!r}")
                 for k in sorted(n.attrs)}
        if n.op == "while_loop" and _is_int(attrs.get("loop_id")):
            # Loop ids are process-wide counters: store them numbered from 0 in the file.
            attrs["loop_id"] = loop_ids.setdefault(attrs["loop_id"], len(loop_ids))
        entry = {"op": n.op, "inputs": ins, "attrs": attrs,
                 "compute_dtype": None if n.compute_dtype is None else n.compute_dtype.name}
        entry.update(_value_json(n.out, add_tensor, w))
        nodes.append(entry)
        num[n.out.id] = len(num)
    outputs = []
    for v in g.outputs:
        if v.id not in num:
            raise EncodeError(f"export: an output of {where} is not defined in it")
        outputs.append(num[v.id])
    return {"inputs": inputs, "nodes": nodes, "outputs": outputs}


def _value_json(v: Value, add_tensor, where) -> dict:
    return {"shape": [encode_attr(s, add_tensor, where) for s in v.shape],
            "dtype": v.dtype.name, "device": str(v.device)}


# ----------------------------------------------------------------------------------------------
# Decoding: JSON -> IR (every field checked)
# ----------------------------------------------------------------------------------------------

def _fail(msg: str):
    raise GraphFormatError(msg)


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class Decoder:
    """Rebuilds IR objects from the JSON document; `arrays` maps tensor names to arrays."""

    def __init__(self, arrays: dict[str, np.ndarray], device_override=None):
        self.arrays = arrays
        self.device_override = device_override
        self.dims: set[str] = set()
        self.used: set[str] = set()
        self.loop_map: dict[int, int] = {}

    def dtype(self, name, where):
        D = _dtype_mod()
        if not isinstance(name, str) or name not in D._BY_NAME:
            _fail(f"{where}: unknown dtype {_short(name)} (known: {', '.join(D._BY_NAME)})")
        return D._BY_NAME[name]

    def device(self, s, where):
        from dyngraph._device import device as _device
        if self.device_override is not None:
            return self.device_override
        if not isinstance(s, str) or not (s == "cpu" or s == "cuda" or (
                s.startswith("cuda:") and s[5:].isdigit() and len(s) < 12)):
            _fail(f"{where}: invalid device {_short(s)}")
        return _device(s)

    def sym(self, terms, where):
        if not isinstance(terms, list) or not terms or len(terms) > 64:
            _fail(f"{where}: '$sym' must be a non-empty list of [coefficient, [dims]] terms")
        out = []
        for t in terms:
            if not (isinstance(t, list) and len(t) == 2 and _is_int(t[0]) and abs(t[0]) < 2**62
                    and isinstance(t[1], list) and len(t[1]) <= 8
                    and all(isinstance(n, str) for n in t[1])):
                _fail(f"{where}: invalid symbolic size term {_short(t)}")
            for n in t[1]:
                if n not in self.dims:
                    _fail(f"{where}: symbolic size uses dim {n!r}, which the file does not "
                          "declare in 'dims'")
            out.append((t[0], tuple(t[1])))
        e = SymExpr(out)
        if len(e.terms) == 1 and e.terms[0][0] == 1 and len(e.terms[0][1]) == 1:
            return e
        return e

    def size(self, s, where):
        if _is_int(s):
            if not 0 <= s < 2**62:
                _fail(f"{where}: invalid size {s}")
            return s
        if isinstance(s, dict) and set(s) == {"$sym"}:
            return self.sym(s["$sym"], where)
        _fail(f"{where}: a size must be an int or a {{'$sym': ...}} tag, got {_short(s)}")

    def shape(self, sh, where):
        if not isinstance(sh, list) or len(sh) > 64:
            _fail(f"{where}: 'shape' must be a list of sizes, got {_short(sh)}")
        return tuple(self.size(s, f"{where} shape[{i}]") for i, s in enumerate(sh))

    def tensor(self, name, where):
        if not isinstance(name, str) or name not in self.arrays:
            _fail(f"{where}: refers to tensor {_short(name)}, which is not in the file")
        self.used.add(name)
        return self.arrays[name]

    def attr(self, a, where, depth=0):
        if depth > MAX_DEPTH:
            _fail(f"{where}: nested too deeply")
        if a is None or isinstance(a, (bool, str)) or _is_int(a):
            return a
        if isinstance(a, float):
            return a
        if isinstance(a, list):
            return [self.attr(x, where, depth + 1) for x in a]
        if not isinstance(a, dict) or len(a) != 1:
            _fail(f"{where}: expected a value or a one-key tag like {{'$tuple': [...]}}, got "
                  f"{_short(a)}")
        (tag, v), = a.items()
        if tag == "$tuple":
            if not isinstance(v, list):
                _fail(f"{where}: '$tuple' needs a list")
            return tuple(self.attr(x, where, depth + 1) for x in v)
        if tag == "$dict":
            if not isinstance(v, list) or not all(isinstance(kv, list) and len(kv) == 2
                                                  for kv in v):
                _fail(f"{where}: '$dict' needs a list of [key, value] pairs")
            out = {}
            for k, x in v:
                k = self.attr(k, where, depth + 1)
                try:
                    hash(k)
                except TypeError:
                    _fail(f"{where}: a '$dict' key must be hashable, got {_short(k)}")
                out[k] = self.attr(x, where, depth + 1)
            return out
        if tag == "$float":
            if v not in ("nan", "inf", "-inf"):
                _fail(f"{where}: '$float' must be 'nan', 'inf' or '-inf', got {_short(v)}")
            return float(v)
        if tag == "$np":
            if not (isinstance(v, list) and len(v) == 2):
                _fail(f"{where}: '$np' needs [dtype, value]")
            dt = self.dtype(v[0], where)
            x = v[1]
            if isinstance(x, str) and x in ("nan", "inf", "-inf"):
                x = float(x)
            if not isinstance(x, (bool, int, float)):
                _fail(f"{where}: '$np' value must be a number, got {_short(x)}")
            try:
                with np.errstate(all="ignore"):
                    return np.array(x).astype(dt.np)[()]
            except (OverflowError, ValueError, TypeError):
                _fail(f"{where}: '$np' value {_short(x)} does not fit {dt.name}")
        if tag == "$slice":
            if not (isinstance(v, list) and len(v) == 3):
                _fail(f"{where}: '$slice' needs [start, stop, step]")
            parts = [self.attr(x, where, depth + 1) for x in v]
            if not all(p is None or _is_int(p) or isinstance(p, Sym) for p in parts):
                _fail(f"{where}: slice bounds must be ints or null")
            return slice(*parts)
        if tag == "$ellipsis":
            return Ellipsis
        if tag == "$dtype":
            return self.dtype(v, where)
        if tag == "$device":
            return self.device(v, where)
        if tag == "$sym":
            return self.sym(v, where)
        if tag == "$slot":
            from dyngraph.ops.index import TensorSlot
            if not _is_int(v) or not 0 <= v < 64:
                _fail(f"{where}: invalid '$slot' {_short(v)}")
            return TensorSlot(v)
        if tag == "$generator":
            from dyngraph.ops.creation import Generator
            if not (isinstance(v, dict) and set(v) == {"device", "seed"} and _is_int(v["seed"])
                    and 0 <= v["seed"] < 2**64):
                _fail(f"{where}: '$generator' needs {{'device', 'seed'}}")
            dev = self.device(v["device"], where)
            if dev.type != "cpu":
                from dyngraph._device import cuda_available
                if not cuda_available():
                    dev = self.device("cpu", where)
            return Generator(dev).manual_seed(v["seed"])
        if tag == "$tensor":
            return self.tensor(v, where)
        if tag == "$full":
            if not (isinstance(v, dict) and set(v) == {"value", "dtype", "shape"}):
                _fail(f"{where}: '$full' needs {{'value', 'dtype', 'shape'}}")
            val = self.attr(v["value"], where, depth + 1)
            if not isinstance(val, (bool, int, float)):
                _fail(f"{where}: '$full' value must be a number")
            return FullConstant(val, self.dtype(v["dtype"], where),
                                self.shape(v["shape"], where))
        if tag == "$range":
            if not (isinstance(v, dict) and set(v) == {"start", "step", "dtype", "length"}
                    and all(isinstance(v[k], (int, float)) and not isinstance(v[k], bool)
                            and math.isfinite(v[k]) for k in ("start", "step"))):
                _fail(f"{where}: '$range' needs finite numbers 'start', 'step', a 'dtype' and a "
                      "'length'")
            return RangeConstant(v["start"], v["step"], self.dtype(v["dtype"], where),
                                 self.size(v["length"], where))
        if tag == "$graph":
            return self.graph(v, where, depth + 1)
        _fail(f"{where}: unknown tag {tag!r}")

    def value(self, j, where, node=None):
        if not isinstance(j, dict):
            _fail(f"{where}: expected an object with shape/dtype/device")
        for k in ("shape", "dtype", "device"):
            if k not in j:
                _fail(f"{where}: missing {k!r}")
        return Value(self.shape(j["shape"], where), self.dtype(j["dtype"], where),
                     self.device(j["device"], where), node)

    def graph(self, j, where="graph", depth=0) -> Graph:
        from dyngraph.ops.registry import OPS
        if depth > MAX_DEPTH:
            _fail(f"{where}: subgraphs nested too deeply")
        if not isinstance(j, dict) or set(j) != {"inputs", "nodes", "outputs"}:
            _fail(f"{where}: a graph must be an object with exactly 'inputs', 'nodes', "
                  "'outputs'")
        if not all(isinstance(j[k], list) for k in j):
            _fail(f"{where}: 'inputs', 'nodes' and 'outputs' must be lists")
        g = Graph()
        values: list[Value] = []
        for i, vj in enumerate(j["inputs"]):
            v = self.value(vj, f"{where}: input {i}")
            g.inputs.append(v)
            values.append(v)
        keys = {"op", "inputs", "attrs", "compute_dtype", "shape", "dtype", "device"}
        for nj in j["nodes"]:
            w = f"{where}: node %{len(values)}"
            if not isinstance(nj, dict) or set(nj) != keys:
                _fail(f"{w}: a node must have exactly the keys {sorted(keys)}")
            op = nj["op"]
            if not isinstance(op, str) or (op not in OPS and op not in IR_OPS):
                _fail(f"{w}: unknown op {_short(op)} (not in this dyngraph's op table, opset "
                      f"{OPSET_VERSION}); upgrade dyngraph or re-export the model")
            w = f"{w} ({op})"
            if not isinstance(nj["inputs"], list) or not isinstance(nj["attrs"], dict):
                _fail(f"{w}: 'inputs' must be a list and 'attrs' an object")
            ins = []
            for x in nj["inputs"]:
                if isinstance(x, dict) and set(x) == {"$v"}:
                    k = x["$v"]
                    if not _is_int(k) or not 0 <= k < len(values):
                        _fail(f"{w}: input {_short(x)} refers to a value not defined before it")
                    ins.append(values[k])
                else:
                    s = self.attr(x, w + " input", depth)
                    if not (s is None or isinstance(s, (bool, int, float, Sym, np.generic))):
                        _fail(f"{w}: inputs must be values or scalars, got {_short(x)}")
                    ins.append(s)
            attrs = {k: self.attr(a, f"{w} attribute {k!r}", depth) for k, a in
                     nj["attrs"].items()}
            cdt = nj["compute_dtype"]
            cdt = None if cdt is None else self.dtype(cdt, f"{w} compute_dtype")
            out = self.value(nj, w)
            self._check_node(op, ins, attrs, out, w)
            g.nodes.append(Node(op, ins, attrs, out, cdt))
            values.append(out)
        for k in j["outputs"]:
            if not _is_int(k) or not 0 <= k < len(values):
                _fail(f"{where}: output {_short(k)} is not a defined value")
            g.outputs.append(values[k])
        return g

    def _check_node(self, op, ins, attrs, out, w):
        if op == "constant":
            v = attrs.get("value")
            if set(attrs) != {"value"} or ins or not isinstance(
                    v, (np.ndarray, FullConstant, RangeConstant)):
                _fail(f"{w}: a constant needs exactly a 'value' tensor attribute and no inputs")
            if v.dtype != out.dtype.np if isinstance(v, np.ndarray) else v.dtype is not out.dtype:
                _fail(f"{w}: the constant's data has dtype {v.dtype} but the node declares "
                      f"{out.dtype.name}")
            if tuple(v.shape) != out.shape:
                _fail(f"{w}: the constant's data has shape {tuple(v.shape)} but the node "
                      f"declares {out.shape}")
            if not isinstance(v, np.ndarray) and all(_is_int(s) for s in v.shape) and \
                    math.prod(v.shape) > MAX_FULL_ELEMENTS:
                _fail(f"{w}: the constant has {math.prod(v.shape)} elements (limit "
                      f"{MAX_FULL_ELEMENTS})")
        elif op == "cond":
            base = {"true_graph", "false_graph", "n_operands", "n_true"}
            if set(attrs) == base:
                # Written before cond could return several tensors: one output, index 0.
                attrs["index"], attrs["cond_id"] = 0, 0
            need = base | {"index", "cond_id"}
            if set(attrs) != need or not all(
                    isinstance(attrs[k], Graph) for k in ("true_graph", "false_graph")) or not all(
                    _is_int(attrs[k]) for k in ("n_operands", "n_true", "index", "cond_id")):
                _fail(f"{w}: a cond needs {sorted(need)}")
            k, nt, idx = attrs["n_operands"], attrs["n_true"], attrs["index"]
            tg, fg = attrs["true_graph"], attrs["false_graph"]
            from compiler.control_flow import _loop_ids
            # fresh process-wide ids, as for while_loop below
            attrs["cond_id"] = self.loop_map.setdefault(("cond", attrs["cond_id"]),
                                                        next(_loop_ids))
            if not (0 <= k and 0 <= nt and 1 + k + nt <= len(ins)
                    and len(tg.inputs) == k + nt and len(fg.inputs) == len(ins) - 1 - nt
                    and len(tg.outputs) == len(fg.outputs) and 0 <= idx < len(tg.outputs)):
                _fail(f"{w}: operand counts do not match its branch graphs")
        elif op == "while_loop":
            need = {"cond_graph", "body_graph", "n_carried", "n_cond", "index", "loop_id"}
            if set(attrs) != need or not all(
                    isinstance(attrs[k], Graph) for k in ("cond_graph", "body_graph")) or not all(
                    _is_int(attrs[k]) for k in ("n_carried", "n_cond", "index", "loop_id")):
                _fail(f"{w}: a while_loop needs {sorted(need)}")
            k, nc, idx = attrs["n_carried"], attrs["n_cond"], attrs["index"]
            cg, bg = attrs["cond_graph"], attrs["body_graph"]
            from compiler.control_flow import _loop_ids
            # fresh process-wide ids: loops of different files must never share a run memo
            attrs["loop_id"] = self.loop_map.setdefault(attrs["loop_id"], next(_loop_ids))
            if not (0 <= k <= len(ins) and 0 <= nc <= len(ins) - k and 0 <= idx < k
                    and len(cg.inputs) == k + nc and len(bg.inputs) == len(ins) - nc
                    and len(bg.outputs) == k and len(cg.outputs) == 1):
                _fail(f"{w}: operand counts do not match its cond/body graphs")
        elif any(isinstance(a, Graph) for a in attrs.values()):
            _fail(f"{w}: only cond and while_loop may hold subgraphs")


def decode_graph(j, arrays: dict, dims: set[str], device_override=None) -> Graph:
    """The IR graph of a JSON graph (see `Decoder`); raises GraphFormatError when malformed."""
    d = Decoder(arrays, device_override)
    d.dims = set(dims)
    return d.graph(j)


def _short(x, limit: int = 80) -> str:
    try:
        s = json.dumps(x)
    except (TypeError, ValueError):
        s = repr(x)
    return s if len(s) <= limit else s[:limit] + "..."
