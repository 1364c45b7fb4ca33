"""The compiler's IR: a graph of nodes in SSA form over the op table's vocabulary.

A `Graph` has input `Value`s, a list of `Node`s in topological order and output values. Each node
applies one op (a name in `dyngraph.OPS`, or one of the IR's own ops in `IR_OPS`) to values and
Python scalars, with static attributes, and defines exactly one new value carrying shape, dtype and
device. Shapes may hold symbolic dims (`Sym`), so one graph can serve every size of a dynamic dim.

The text form is deterministic (values are renumbered in definition order) and reads like jaxpr:

    graph(%0: f32[64,784], %1: f32[10,784]) {
      %2: f32[784,10] = permute %1 {dims=(1, 0)}
      %3: f32[64,10] = matmul %0, %2
      return (%3)
    }

It is used in golden tests, logs and cache keys. `to_networkx` gives the dataflow as a
`networkx.DiGraph` for passes that need graph algorithms; `to_dot` renders it for Graphviz.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable

import numpy as np

__all__ = ["Sym", "SymExpr", "Value", "Node", "Graph", "IRError", "IR_OPS", "format_attr",
           "dtype_short", "has_sym", "subst_syms"]

# Ops the IR defines itself (everything else names an entry in dyngraph.OPS).
#   constant: a tensor baked into the graph (attrs: value = array)
#   cond / while_loop: structured control flow with subgraphs (attrs hold Graphs)
IR_OPS = ("constant", "cond", "while_loop")

_DTYPE_SHORT = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16",
                "int64": "i64", "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8",
                "bool": "b8"}


class IRError(RuntimeError):
    """A malformed graph (raised by `Graph.lint`)."""


def dtype_short(dt) -> str:
    """The short dtype name used in the text form (`f32`, `i64`, `b8`)."""
    return _DTYPE_SHORT.get(dt.name, dt.name)


class Sym:
    """A symbolic dim (`s0`): a size that varies between calls served by one graph."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other) -> bool:
        return isinstance(other, Sym) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("Sym", self.name))


class SymExpr:
    """A size derived from symbolic dims: `coeff * s_i * s_j ... + offset` (`3*s0`, `s0*s1`,
    `s0-1`).

    Dynamic-shape graphs use it where a traced size depends on a symbolic dim (a reshape to
    `(B*T, C)`, the `1/n` of a mean's gradient, the `n - 1` of an unbiased variance or of
    `x[1:]`). Anything else that depends on a size makes the graph specialise instead (see
    `compiler/dynamic.py`).
    """

    __slots__ = ("coeff", "syms", "offset")

    def __init__(self, coeff: int, syms, offset: int = 0):
        self.coeff = int(coeff)
        self.syms = tuple(sorted(syms))
        self.offset = int(offset)

    def eval(self, sizes: dict) -> int:
        n = self.coeff
        for s in self.syms:
            n *= sizes[s]
        return n + self.offset

    def __repr__(self) -> str:
        parts = ([str(self.coeff)] if self.coeff != 1 else []) + list(self.syms)
        text = "*".join(parts)
        return f"{text}{self.offset:+d}" if self.offset else text

    def __eq__(self, other) -> bool:
        return isinstance(other, SymExpr) and (other.coeff, other.syms, other.offset) == (
            self.coeff, self.syms, self.offset)

    def __hash__(self) -> int:
        return hash(("SymExpr", self.coeff, self.syms, self.offset))


def has_sym(obj) -> bool:
    """Whether an attribute, input or shape holds a symbolic size."""
    if isinstance(obj, (Sym, SymExpr)):
        return True
    if isinstance(obj, (tuple, list)):
        return any(has_sym(x) for x in obj)
    if isinstance(obj, dict):
        return any(has_sym(x) for x in obj.values())
    if isinstance(obj, slice):
        return has_sym((obj.start, obj.stop, obj.step))
    return False


def subst_syms(obj, sizes: dict):
    """`obj` with every symbolic size replaced by its value in `sizes` (name -> int)."""
    if isinstance(obj, Sym):
        return sizes[obj.name]
    if isinstance(obj, SymExpr):
        return obj.eval(sizes)
    if isinstance(obj, tuple):
        return tuple(subst_syms(x, sizes) for x in obj)
    if isinstance(obj, list):
        return [subst_syms(x, sizes) for x in obj]
    if isinstance(obj, dict):
        return {k: subst_syms(x, sizes) for k, x in obj.items()}
    if isinstance(obj, slice):
        return slice(*subst_syms((obj.start, obj.stop, obj.step), sizes))
    return obj


class Value:
    """One SSA value: defined once (by a graph input or a node), with its metadata."""

    __slots__ = ("id", "shape", "dtype", "device", "node", "requires_grad", "name")

    _ids = itertools.count()

    def __init__(self, shape, dtype, device, node: "Node | None" = None,
                 requires_grad: bool = False, name: str = ""):
        self.id = next(Value._ids)
        self.shape = tuple(shape)
        self.dtype = dtype
        self.device = device
        self.node = node
        self.requires_grad = requires_grad
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def type_str(self) -> str:
        """`f32[64,s0]`: dtype and shape as the text form prints them."""
        return f"{dtype_short(self.dtype)}[{','.join(str(s) for s in self.shape)}]"

    def __repr__(self) -> str:
        return f"<Value {self.id}: {self.type_str()}>"


class Node:
    """One op application: `out = op(*inputs, **attrs)`.

    `inputs` holds `Value`s and Python scalars (bool/int/float/None). `compute_dtype` is the dtype
    array inputs are cast to before the eager rule runs (resolved at trace time from the op's
    dtype rule, so the interpreter does no promotion logic).
    """

    __slots__ = ("op", "inputs", "attrs", "out", "compute_dtype", "meta")

    def __init__(self, op: str, inputs: Iterable, attrs: dict, out: Value,
                 compute_dtype=None, meta: dict | None = None):
        self.op = op
        self.inputs = list(inputs)
        self.attrs = dict(attrs)
        self.out = out
        out.node = self
        self.compute_dtype = compute_dtype
        self.meta = meta or {}

    @property
    def value_inputs(self) -> list[Value]:
        return [x for x in self.inputs if isinstance(x, Value)]

    def __repr__(self) -> str:
        return f"<Node {self.op} -> %{self.out.id}>"


class Graph:
    """A function in SSA form: inputs, nodes in topological order, outputs."""

    def __init__(self, inputs: Iterable[Value] = (), nodes: Iterable[Node] = (),
                 outputs: Iterable[Value] = ()):
        self.inputs: list[Value] = list(inputs)
        self.nodes: list[Node] = list(nodes)
        self.outputs: list[Value] = list(outputs)

    # ----- building ------------------------------------------------------------------------------
    def add_input(self, shape, dtype, device, requires_grad=False, name="") -> Value:
        """Append a graph input and return its value."""
        v = Value(shape, dtype, device, requires_grad=requires_grad, name=name)
        self.inputs.append(v)
        return v

    def add_node(self, op: str, inputs, attrs, shape, dtype, device, *, compute_dtype=None,
                 requires_grad=False, index: int | None = None) -> Value:
        """Append (or insert at `index`) a node and return the value it defines."""
        out = Value(shape, dtype, device, requires_grad=requires_grad)
        node = Node(op, inputs, attrs, out, compute_dtype)
        if index is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(index, node)
        return out

    def replace_all_uses(self, old: Value, new) -> int:
        """Make every use of `old` (in nodes and outputs) use `new`; returns the number replaced."""
        n = 0
        for node in self.nodes:
            for i, x in enumerate(node.inputs):
                if x is old:
                    node.inputs[i] = new
                    n += 1
        for i, x in enumerate(self.outputs):
            if x is old:
                self.outputs[i] = new
                n += 1
        return n

    def users(self) -> dict[int, list[Node]]:
        """Map from value id to the nodes that read it."""
        out: dict[int, list[Node]] = {}
        for node in self.nodes:
            for x in node.value_inputs:
                out.setdefault(x.id, []).append(node)
        return out

    def copy(self) -> "Graph":
        """A deep copy with fresh values (subgraph attrs are shared, they are immutable)."""
        mapping: dict[int, Value] = {}
        g = Graph()
        for v in self.inputs:
            nv = Value(v.shape, v.dtype, v.device, requires_grad=v.requires_grad, name=v.name)
            mapping[v.id] = nv
            g.inputs.append(nv)
        for node in self.nodes:
            v = node.out
            nv = Value(v.shape, v.dtype, v.device, requires_grad=v.requires_grad, name=v.name)
            ins = [mapping[x.id] if isinstance(x, Value) else x for x in node.inputs]
            g.nodes.append(Node(node.op, ins, node.attrs, nv, node.compute_dtype,
                                dict(node.meta)))
            mapping[v.id] = nv
        g.outputs = [mapping[v.id] for v in self.outputs]
        return g

    # ----- checking ------------------------------------------------------------------------------
    def lint(self) -> None:
        """Check SSA form: each value defined once, before its uses, by this graph; ops known."""
        from dyngraph.ops.registry import OPS
        defined: set[int] = set()
        for v in self.inputs:
            if v.id in defined:
                raise IRError(f"lint: graph input %{v.id} is listed twice")
            defined.add(v.id)
        for i, node in enumerate(self.nodes):
            if node.op not in OPS and node.op not in IR_OPS:
                raise IRError(f"lint: node {i} uses unknown op {node.op!r}")
            for x in node.inputs:
                if isinstance(x, Value) and x.id not in defined:
                    raise IRError(f"lint: node {i} ({node.op}) uses %{x.id} before it is defined "
                                  "or from outside the graph")
                if not isinstance(x, (Value, bool, int, float, type(None), Sym, SymExpr)):
                    raise IRError(f"lint: node {i} ({node.op}) has an input of type "
                                  f"{type(x).__name__}; only values and Python scalars are allowed")
            if node.out.node is not node:
                raise IRError(f"lint: node {i} ({node.op}) does not own its output value")
            if node.out.id in defined:
                raise IRError(f"lint: %{node.out.id} is defined twice (node {i}, {node.op})")
            defined.add(node.out.id)
        for v in self.outputs:
            if v.id not in defined:
                raise IRError(f"lint: output %{v.id} is not defined in the graph")

    # ----- views ---------------------------------------------------------------------------------
    def numbering(self) -> dict[int, int]:
        """Deterministic numbers for the text form: inputs first, then nodes, in order."""
        num: dict[int, int] = {}
        for v in itertools.chain(self.inputs, (n.out for n in self.nodes)):
            num[v.id] = len(num)
        return num

    def text(self, indent: str = "") -> str:
        """The deterministic text form (see the module docstring)."""
        num = self.numbering()

        def ref(x):
            if isinstance(x, Value):
                return f"%{num.get(x.id, '?' + str(x.id))}"
            return repr(x)

        head = ", ".join(f"%{num[v.id]}: {v.type_str()}" for v in self.inputs)
        lines = [f"{indent}graph({head}) {{"]
        for node in self.nodes:
            args = ", ".join(ref(x) for x in node.inputs)
            attrs = ""
            if node.attrs:
                attrs = " {" + ", ".join(f"{k}={format_attr(node.attrs[k], indent + '  ')}"
                                         for k in sorted(node.attrs)) + "}"
            lines.append(f"{indent}  %{num[node.out.id]}: {node.out.type_str()} = "
                         f"{node.op}{' ' + args if args else ''}{attrs}")
        lines.append(f"{indent}  return ({', '.join(ref(v) for v in self.outputs)})")
        lines.append(f"{indent}}}")
        return "\n".join(lines)

    __str__ = text

    def __repr__(self) -> str:
        return f"<Graph: {len(self.inputs)} inputs, {len(self.nodes)} nodes>"

    def op_counts(self) -> dict[str, int]:
        """How many nodes use each op."""
        out: dict[str, int] = {}
        for n in self.nodes:
            out[n.op] = out.get(n.op, 0) + 1
        return out

    def to_networkx(self):
        """The dataflow as a `networkx.DiGraph`: one vertex per value id, edges producer -> user.

        Vertices carry `op` ("input" for graph inputs) and `node` (the `Node`, or None).
        """
        import networkx as nx
        g = nx.DiGraph()
        for v in self.inputs:
            g.add_node(v.id, op="input", node=None)
        for node in self.nodes:
            g.add_node(node.out.id, op=node.op, node=node)
            for x in node.value_inputs:
                g.add_edge(x.id, node.out.id)
        return g

    def to_dot(self) -> str:
        """Graphviz source for the graph (inputs as ellipses, ops as boxes)."""
        num = self.numbering()
        lines = ["digraph G {", "  rankdir=TB;"]
        for v in self.inputs:
            lines.append(f'  v{v.id} [shape=ellipse, label="%{num[v.id]}\\n{v.type_str()}"];')
        for node in self.nodes:
            v = node.out
            lines.append(f'  v{v.id} [shape=box, label="%{num[v.id]} = {node.op}\\n'
                         f'{v.type_str()}"];')
            for x in node.value_inputs:
                lines.append(f"  v{x.id} -> v{v.id};")
        for i, v in enumerate(self.outputs):
            lines.append(f'  out{i} [shape=plaintext, label="out{i}"];')
            lines.append(f"  v{v.id} -> out{i};")
        lines.append("}")
        return "\n".join(lines)


def format_attr(a: Any, indent: str = "") -> str:
    """Deterministic text for an attribute value (dtypes, devices, slices, subgraphs, arrays)."""
    from dyngraph._device import device as _device
    from dyngraph._dtype import dtype as _dtype
    if isinstance(a, Graph):
        return "\n" + a.text(indent + "  ")
    if isinstance(a, _dtype):
        return a.name
    if isinstance(a, _device):
        return str(a)
    if isinstance(a, slice):
        start, stop, step = ("" if p is None else format_attr(p)
                             for p in (a.start, a.stop, a.step))
        return f"{start}:{stop}" + (f":{step}" if step else "")     # `1:`, never `1`
    if isinstance(a, tuple):
        inner = ", ".join(format_attr(x, indent) for x in a)
        return f"({inner},)" if len(a) == 1 else f"({inner})"
    if isinstance(a, list):
        return "[" + ", ".join(format_attr(x, indent) for x in a) + "]"
    if isinstance(a, dict):
        return "{" + ", ".join(f"{k}: {format_attr(a[k], indent)}" for k in sorted(a)) + "}"
    if isinstance(a, np.ndarray):
        if a.size <= 4:
            return f"array({a.tolist()}, {a.dtype})"
        return f"array(<{a.size} x {a.dtype}>)"
    if a is Ellipsis:
        return "..."
    if isinstance(a, (bool, int, float, str, type(None), Sym, SymExpr)):
        return repr(a)
    if type(a).__name__ == "TensorSlot":
        return f"${a.i}"
    if type(a).__name__ == "Generator":
        return f"<generator {getattr(a, 'device', '')}>"
    return f"<{type(a).__name__}>"
