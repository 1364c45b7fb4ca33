"""The exported graph file: writer, reader, validation, upgraders (see docs/graph-format.md).

A file is a valid safetensors file whose tensors start 64-byte aligned:

    [u64 N, little-endian][N bytes JSON header, space padded][data: tensors and zero padding]

The header maps tensor names to `{"dtype", "shape", "data_offsets"}`; padding between tensors is
covered by `__pad.<k>` U8 entries so the data part is tiled exactly, as safetensors requires.
`__metadata__` (strings only) holds `format` ("dyngraph.graph"), `format_version`,
`opset_version`, `checksum` ("sha256:<hex>" over the whole file with the hex digits zeroed) and
`graph`: the program as JSON, where every value that is not plain JSON is a one-key tag
(`{"$tuple": [...]}`, `{"$dtype": "float32"}`, `{"$sym": [[2, ["batch"]]]}`, ...).

Reading maps the file (`mmap`) and gives weights as read-only numpy views of it: nothing large
is copied. Nothing from the file is ever executed: no pickle, no eval; every field is checked,
and anything wrong raises `GraphFormatError` naming the field.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import sys
from typing import Any, Callable

import numpy as np

from compiler.ir import IR_OPS, Graph, Node, Sym, Value

__all__ = ["GraphFormatError", "SymExpr", "FullConstant", "RangeConstant", "FORMAT",
           "FORMAT_VERSION", "OPSET_VERSION", "ALIGN", "UPGRADERS", "encode_graph", "decode_graph",
           "encode_attr",
           "write_graph_file", "read_graph_file", "sym_eval", "specialize", "reseal"]

FORMAT = "dyngraph.graph"
FORMAT_VERSION = 1      # layout of the file and of the JSON document
OPSET_VERSION = 1       # meaning of op names and their attributes (the op table)
ALIGN = 64              # every tensor starts at a multiple of this in the file
MAX_HEADER_BYTES = 100 * 1024 * 1024
MAX_DEPTH = 64          # nesting limit for JSON tags and subgraphs
MAX_FULL_ELEMENTS = 1 << 31

# Upgraders: UPGRADERS[v] turns a version-v document (the parsed header: metadata + graph) into a
# version v+1 one. Version 1 is the first; each bump adds one entry and a checked-in v<k> file.
UPGRADERS: dict[int, Callable[[dict], dict]] = {}

_CODE_OF = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "int32": "I32",
            "int64": "I64", "float16": "F16", "bfloat16": "BF16", "float32": "F32",
            "float64": "F64"}
_DTYPE_OF = {code: name for name, code in _CODE_OF.items()}
_CHECKSUM_PREFIX = "sha256:"


class GraphFormatError(RuntimeError):
    """A graph file that cannot be loaded: the message names the field or byte range at fault."""


# ----------------------------------------------------------------------------------------------
# Symbolic sizes and size-dependent constants
# ----------------------------------------------------------------------------------------------

class SymExpr(Sym):
    """A size that is an integer polynomial of named dims: `2*batch + 1`, `batch*seq`.

    `terms` is a tuple of (coefficient, dim names) in canonical order; a plain dim `batch` is
    `((1, ("batch",)),)`. Subclassing `Sym` keeps the IR's printing and checks working.
    """

    __slots__ = ("terms",)

    def __init__(self, terms):
        acc: dict[tuple, int] = {}
        for c, names in terms:
            key = tuple(sorted(names))
            acc[key] = acc.get(key, 0) + int(c)
        self.terms = tuple(sorted(((c, k) for k, c in acc.items() if c),
                                  key=lambda t: (-len(t[1]), t[1])))
        super().__init__(_expr_text(self.terms))

    @classmethod
    def dim(cls, name: str) -> "SymExpr":
        """The plain dim `name`."""
        return cls([(1, (name,))])

    @property
    def dims(self) -> set[str]:
        return {n for _, names in self.terms for n in names}

    def is_const(self) -> bool:
        return all(not names for _, names in self.terms)


def _expr_text(terms) -> str:
    if not terms:
        return "0"
    parts = []
    for c, names in terms:
        body = "*".join(names)
        if not body:
            parts.append(str(c))
        elif c == 1:
            parts.append(body)
        elif c == -1:
            parts.append("-" + body)
        else:
            parts.append(f"{c}*{body}")
    return " + ".join(parts).replace("+ -", "- ")


def sym_eval(s, sizes: dict[str, int]) -> int:
    """The value of a size (int, `Sym` or `SymExpr`) for concrete dim sizes."""
    if isinstance(s, SymExpr):
        return sum(c * math.prod(sizes[n] for n in names) for c, names in s.terms)
    if isinstance(s, Sym):
        return sizes[s.name]
    return s


class FullConstant:
    """A constant whose shape depends on dims, filled with one value (`zeros(batch, hidden)`)."""

    __slots__ = ("value", "dtype", "shape")

    def __init__(self, value, dtype, shape):
        self.value = value
        self.dtype = dtype
        self.shape = tuple(shape)

    def materialize(self, sizes: dict[str, int]) -> np.ndarray:
        shape = tuple(sym_eval(s, sizes) for s in self.shape)
        return np.full(shape, self.value, dtype=self.dtype.np)

    def __repr__(self) -> str:
        return f"full({self.value!r}, [{','.join(str(s) for s in self.shape)}])"


class RangeConstant:
    """A 1-d constant `start + step * arange(length)` whose length depends on dims."""

    __slots__ = ("start", "step", "dtype", "shape")

    def __init__(self, start, step, dtype, length):
        self.start, self.step, self.dtype, self.shape = start, step, dtype, (length,)

    def materialize(self, sizes: dict[str, int]) -> np.ndarray:
        n = sym_eval(self.shape[0], sizes)
        return ranged(self.start, self.step, n, self.dtype.np)

    def __repr__(self) -> str:
        return f"range({self.start!r}, step={self.step!r}, length={self.shape[0]})"


def ranged(start, step, n: int, npdt) -> np.ndarray:
    """`start + step * arange(n)` in dtype `npdt` (how a RangeConstant is rebuilt)."""
    return (start + step * np.arange(n, dtype=np.float64 if isinstance(step, float) or
                                     isinstance(start, float) else np.int64)).astype(npdt)


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
    from dyngraph._device import device as _device
    from dyngraph.ops.creation import Generator
    from dyngraph.ops.index import TensorSlot
    D = _dtype_mod()
    if a is None or isinstance(a, (bool, str)):
        return a
    if isinstance(a, int):
        return int(a)
    if isinstance(a, float):
        return a if math.isfinite(a) else {"$float": repr(a)}
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


# ----------------------------------------------------------------------------------------------
# Specialising a symbolic graph to concrete sizes
# ----------------------------------------------------------------------------------------------

def _subst(a, sizes):
    if isinstance(a, Sym):
        return sym_eval(a, sizes)
    if isinstance(a, tuple):
        return tuple(_subst(x, sizes) for x in a)
    if isinstance(a, list):
        return [_subst(x, sizes) for x in a]
    if isinstance(a, dict):
        return {k: _subst(x, sizes) for k, x in a.items()}
    if isinstance(a, slice):
        return slice(_subst(a.start, sizes), _subst(a.stop, sizes), _subst(a.step, sizes))
    if isinstance(a, (FullConstant, RangeConstant)):
        return a.materialize(sizes)
    if isinstance(a, Graph):
        return specialize(a, sizes)
    return a


def specialize(g: Graph, sizes: dict[str, int]) -> Graph:
    """A copy of `g` with every symbolic size, attribute and constant made concrete."""
    mapping: dict[int, Value] = {}
    out = Graph()

    def fresh(v: Value) -> Value:
        nv = Value(tuple(sym_eval(s, sizes) for s in v.shape), v.dtype, v.device,
                   requires_grad=False, name=v.name)
        mapping[v.id] = nv
        return nv

    for v in g.inputs:
        out.inputs.append(fresh(v))
    for n in g.nodes:
        ins = [mapping[x.id] if isinstance(x, Value) else _subst(x, sizes) for x in n.inputs]
        attrs = {k: _subst(a, sizes) for k, a in n.attrs.items()}
        out.nodes.append(Node(n.op, ins, attrs, fresh(n.out), n.compute_dtype, dict(n.meta)))
    out.outputs = [mapping[v.id] for v in g.outputs]
    return out


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------

def _little_endian(a: np.ndarray) -> np.ndarray:
    if not a.flags.c_contiguous:
        a = a.copy(order="C")
    if sys.byteorder == "big" and a.dtype.itemsize > 1:
        a = a.view(f"u{a.dtype.itemsize}").byteswap().view(a.dtype)
    return a


def _code(a: np.ndarray) -> str:
    D = _dtype_mod()
    return _CODE_OF[D.from_numpy_dtype(a.dtype).name]


def _build_header(doc: dict, tensors: dict[str, np.ndarray], checksum: str) -> tuple[bytes, list]:
    entries: dict[str, Any] = {}
    layout = []
    off = 0
    pad_i = 0
    for name, a in tensors.items():
        if off % ALIGN:
            pad = ALIGN - off % ALIGN
            entries[f"__pad.{pad_i}"] = {"dtype": "U8", "shape": [pad],
                                         "data_offsets": [off, off + pad]}
            layout.append(pad)
            pad_i += 1
            off += pad
        entries[name] = {"dtype": _code(a), "shape": list(a.shape),
                         "data_offsets": [off, off + a.nbytes]}
        layout.append(a)
        off += a.nbytes
    meta = {"format": FORMAT, "format_version": str(doc.get("format_version", FORMAT_VERSION)),
            "opset_version": str(doc.get("opset_version", OPSET_VERSION)),
            "checksum": checksum,
            "graph": json.dumps(doc["graph"], separators=(",", ":"), allow_nan=False)}
    header = {"__metadata__": meta, **entries}
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    head += b" " * (-(8 + len(head)) % ALIGN)   # data part starts 64-byte aligned in the file
    return head, layout


def _chunks(head: bytes, layout):
    yield len(head).to_bytes(8, "little")
    yield head
    for a in layout:
        if isinstance(a, int):
            yield bytes(a)
        elif a.nbytes:
            yield memoryview(a.reshape(-1).view(np.uint8))


def write_graph_file(path, graph_doc: dict, tensors: dict[str, np.ndarray], *,
                     format_version: int = FORMAT_VERSION) -> int:
    """Write a graph file (atomically: temp file + rename); returns its size in bytes.

    `graph_doc` is the JSON document (inputs, weights, dims, graph, trees, metadata) and
    `tensors` maps names used by `{"$tensor": name}` / weight entries to arrays.
    """
    for name in tensors:
        if name.startswith("__"):
            raise ValueError(f"tensor name {name!r} is reserved (names starting with '__')")
    tensors = {k: _little_endian(np.asarray(a)) for k, a in tensors.items()}
    doc = {"graph": graph_doc, "format_version": format_version}
    zero = _CHECKSUM_PREFIX + "0" * 64
    head, layout = _build_header(doc, tensors, zero)
    h = hashlib.sha256()
    for c in _chunks(head, layout):
        h.update(c)
    head = head.replace(zero.encode(), (_CHECKSUM_PREFIX + h.hexdigest()).encode(), 1)
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            for c in _chunks(head, layout):
                fh.write(c)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return os.path.getsize(path)


def reseal(data: bytes) -> bytes:
    """The same file bytes with a recomputed checksum (tests use it to fuzz the validator)."""
    n = int.from_bytes(data[:8], "little")
    head = data[8:8 + n]
    meta = json.loads(head)["__metadata__"]
    old = meta["checksum"].encode()
    zero = (_CHECKSUM_PREFIX + "0" * 64).encode()
    zeroed = head.replace(old, zero, 1)
    digest = hashlib.sha256(data[:8] + zeroed + data[8 + n:]).hexdigest()
    new = zeroed.replace(zero, (_CHECKSUM_PREFIX + digest).encode(), 1)
    return data[:8] + new + data[8 + n:]


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------

class GraphFile:
    """A parsed, validated file: its metadata, JSON document and mapped tensors."""

    def __init__(self, path, meta: dict, doc: dict, arrays: dict, size: int, mm=None):
        self.path = path
        self.meta = meta
        self.doc = doc
        self.arrays = arrays
        self.size = size
        self._mmap = mm      # the arrays are views of this map; it lives as long as they do


def read_graph_file(path, *, verify: bool = True) -> GraphFile:
    """Open, check and map a graph file; returns a `GraphFile` (tensors are mmap views).

    Raises:
        GraphFormatError: bad layout, truncation, checksum mismatch, unsupported version,
            malformed JSON or header entries.
    """
    path = os.fspath(path)
    size = os.path.getsize(path)
    if size < 8:
        _fail(f"{path}: the file is truncated ({size} bytes; a graph file starts with an 8-byte "
              "header length)")
    with open(path, "rb") as fh:
        n = int.from_bytes(fh.read(8), "little")
        if n > MAX_HEADER_BYTES:
            _fail(f"{path}: the header length {n} is implausibly large (limit "
                  f"{MAX_HEADER_BYTES}); the file is corrupt or not a graph file")
        if 8 + n > size:
            _fail(f"{path}: the file is truncated: the header claims {n} bytes but only "
                  f"{size - 8} follow the length field")
        head = fh.read(n)
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size > 8 + n else None
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        _fail(f"{path}: the header is not valid JSON ({_short(str(e))})")
    if not isinstance(header, dict):
        _fail(f"{path}: the header must be a JSON object")
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(f"{path}: not a dyngraph graph file (its metadata has no format "
              f"{FORMAT!r}; a checkpoint from dyngraph.save loads with dyngraph.load)")
    for k in ("format_version", "opset_version", "checksum", "graph"):
        if not isinstance(meta.get(k), str):
            _fail(f"{path}: metadata field {k!r} is missing or not a string")
    version = _version(meta, "format_version", FORMAT_VERSION, path)
    opset = _version(meta, "opset_version", OPSET_VERSION, path)
    data_start = 8 + n
    data_len = size - data_start
    entries = _check_entries(header, data_len, data_start, path)
    if verify:
        _verify_checksum(path, head, mm, data_start, size, meta["checksum"])
    try:
        graph = json.loads(meta["graph"])
    except (ValueError, RecursionError) as e:
        _fail(f"{path}: metadata 'graph' is not valid JSON ({_short(str(e))})")
    doc = {"format_version": version, "opset_version": opset, "graph": graph}
    while doc["format_version"] < FORMAT_VERSION:
        v = doc["format_version"]
        up = UPGRADERS.get(v)
        if up is None:
            _fail(f"{path}: no upgrader from format version {v}")
        try:
            doc = up(doc)
        except GraphFormatError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            _fail(f"{path}: upgrading from format version {v} failed: the document is "
                  f"malformed ({type(e).__name__}: {e})")
        doc["format_version"] = v + 1
    arrays = {name: _array(mm, e, data_start) for name, e in entries.items()}
    return GraphFile(path, meta, doc, arrays, size, mm)


def _version(meta, key, current, path) -> int:
    s = meta[key]
    if not s.isdigit() or len(s) > 6:
        _fail(f"{path}: invalid {key} {_short(s)}")
    v = int(s)
    if v < 1 or v > current:
        _fail(f"{path}: {key} {v} is not supported (this dyngraph reads 1..{current}); "
              + ("upgrade dyngraph" if v > current else "the file is corrupt"))
    return v


def _verify_checksum(path, head: bytes, mm, data_start: int, size: int, checksum: str) -> None:
    if not (checksum.startswith(_CHECKSUM_PREFIX) and len(checksum) == len(_CHECKSUM_PREFIX) + 64
            and all(c in "0123456789abcdef" for c in checksum[len(_CHECKSUM_PREFIX):])):
        _fail(f"{path}: invalid checksum field {_short(checksum)}")
    zero = (_CHECKSUM_PREFIX + "0" * 64).encode()
    h = hashlib.sha256()
    h.update((len(head)).to_bytes(8, "little"))
    h.update(head.replace(checksum.encode(), zero, 1))
    if mm is not None:
        view = memoryview(mm)
        step = 1 << 24
        for i in range(data_start, size, step):
            h.update(view[i:min(i + step, size)])
        view.release()
    if "sha256:" + h.hexdigest() != checksum:
        _fail(f"{path}: checksum mismatch: the file's bytes do not match the sha256 recorded "
              "when it was written (the file is corrupt or was modified)")


def _check_entries(header: dict, data_len: int, data_start: int, path) -> dict:
    """Validate tensor entries: known dtypes, sizes matching shapes, aligned, in range, tiled."""
    entries = {}
    spans = []
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            _fail(f"{path}: tensor {_short(name)}: the entry must have exactly 'dtype', 'shape' "
                  "and 'data_offsets'")
        code, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if code not in _DTYPE_OF:
            _fail(f"{path}: tensor {_short(name)} has unknown dtype {_short(code)}")
        if not (isinstance(shape, list) and len(shape) <= 64
                and all(_is_int(s) and 0 <= s < 2**62 for s in shape)):
            _fail(f"{path}: tensor {_short(name)} has an invalid shape {_short(shape)}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_int(o) for o in offs)):
            _fail(f"{path}: tensor {_short(name)} has invalid data_offsets {_short(offs)}")
        begin, end = offs
        if begin < 0 or end < begin:
            _fail(f"{path}: tensor {_short(name)} has data_offsets {offs}: negative or reversed")
        if end > data_len:
            _fail(f"{path}: tensor {_short(name)} has data_offsets {offs} past the end of the "
                  f"data ({data_len} bytes); the file is truncated or corrupt")
        itemsize = _dtype_mod()._BY_NAME[_DTYPE_OF[code]].itemsize
        need = math.prod(shape) * itemsize
        if end - begin != need:
            _fail(f"{path}: tensor {_short(name)} of shape {shape} and dtype {code} needs {need} "
                  f"bytes but its data_offsets {offs} span {end - begin}")
        if name.startswith("__pad."):
            if code != "U8" or len(shape) != 1 or shape[0] >= ALIGN:
                _fail(f"{path}: padding entry {name!r} must be U8 of fewer than {ALIGN} bytes")
        else:
            if (data_start + begin) % ALIGN:
                _fail(f"{path}: tensor {name!r} starts at file offset {data_start + begin}, "
                      f"which is not {ALIGN}-byte aligned")
            entries[name] = e
        spans.append((begin, end, name))
    pos, prev = 0, None
    for begin, end, name in sorted(spans):
        if begin < pos:
            _fail(f"{path}: tensors {prev!r} and {name!r} have overlapping data_offsets")
        if begin > pos:
            _fail(f"{path}: data bytes {pos}..{begin} belong to no tensor")
        pos, prev = end, name
    if pos != data_len:
        _fail(f"{path}: the tensors cover {pos} bytes but the data part has {data_len}; the "
              "file is truncated or has trailing bytes")
    return entries


def _array(mm, e: dict, data_start: int) -> np.ndarray:
    dt = _dtype_mod()._BY_NAME[_DTYPE_OF[e["dtype"]]]
    begin, end = e["data_offsets"]
    count = (end - begin) // dt.itemsize
    if count == 0 or mm is None:
        return np.zeros(e["shape"], dtype=dt.np)
    if dt.name == "bool":   # any nonzero byte is True (as in safetensors): needs a copy
        raw = np.frombuffer(mm, dtype=np.uint8, count=count, offset=data_start + begin)
        return (raw != 0).reshape(e["shape"])
    npdt = dt.np if sys.byteorder == "little" else dt.np.newbyteorder("<")
    arr = np.frombuffer(mm, dtype=npdt, count=count, offset=data_start + begin)
    if sys.byteorder == "big":
        arr = arr.astype(dt.np)
    return arr.reshape(e["shape"])
