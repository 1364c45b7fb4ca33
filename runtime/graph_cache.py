"""A disk cache of optimised segment graphs: the pass pipeline runs once per graph, not per process.

`optimize(raw, backend) -> (graph, PassReport)` is the whole interface. It is what
`runtime/segments.py` calls instead of `raw.copy()` + `run_pipeline`:

- the key is the SHA-256 of a salt, the backend name and the traced graph's canonical text: its
  graph JSON (runtime/graph_json.py: input specs, ops, attributes, scalars, compute dtypes, in
  order) with every constant replaced by the hash of its dtype, shape and bytes. The salt holds
  dyngraph's version, this cache's `FORMAT_VERSION`, the graph JSON's `OPSET_VERSION`, numpy's
  version and the size and mtime of every source file of the pass pipeline, the IR, the
  interpreter and the op table, so an edited pass or eager rule never meets an old entry;
- the value is the optimised graph in the same no-pickle graph JSON, the pass report (per pass
  node counts and times, fusion groups, memory plan) and the passes' node annotations
  (`meta`: fusion group, buffer, in-place source), with the constants' bytes after it;
- an entry lives in `$DYNGRAPH_CACHE_DIR/graphs/<key>.graph` (the directory runtime/jit.py's
  object cache uses, `llvm/` next to it). It is written to a temporary file and renamed, so a
  reader sees a whole entry or none; it carries a SHA-256 of its payload, and an entry that does
  not check out or decode (truncated, corrupted, another format) is counted in
  `STATS["corrupt"]`, rebuilt by running the passes, and rewritten. A read-only or missing
  directory only costs the passes.

Graphs the cache does not take (`STATS["uncacheable"]`, the passes run as before): symbolic
shapes, `cond`/`while_loop` nodes (their ids are process-wide counters), explicit `Generator`
objects in attributes (a live generator's state is not a value of the graph), constants that are
not numpy arrays (CUDA) or that hold more than `MAX_CONSTANT_BYTES` together. Only the CPU
backends call it (see `cacheable_backend`).

Nothing in an entry is executed: the graph is rebuilt by graph_json's checked decoder.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading

import numpy as np

from compiler.ir import Graph, Sym, SymExpr, has_sym
from compiler.passes.manager import PassReport, run_pipeline

__all__ = ["optimize", "graph_key", "cache_dir", "cacheable_backend", "STATS", "FORMAT_VERSION",
           "ENABLED", "MAX_CONSTANT_BYTES"]

FORMAT_VERSION = 1          # layout of an entry; bump on any change of what is stored
ENABLED = True              # tests and benchmarks may switch the cache off
STATS = {"hits": 0, "misses": 0, "stores": 0, "corrupt": 0, "uncacheable": 0}
# Constants are hashed into the key and stored in the entry: a graph holding more (a large table
# built inside the function) costs more to hash and keep than its passes cost to run.
MAX_CONSTANT_BYTES = 16 << 20

_MAGIC = b"DGGRF001"
_HEAD = struct.Struct("<8s32sQ")        # magic, sha256 of the rest, JSON length
_META_KEYS = ("group", "buffer", "inplace_of")
_lock = threading.Lock()
_salt: list[str] = []

# The code whose output an entry stores: the passes, the IR they rewrite, the interpreter and op
# table constant folding runs, the codec. Their files' sizes and mtimes enter every key.
_SALT_SOURCES = ("compiler/passes", "compiler/ir.py", "compiler/interpreter.py", "dyngraph/ops",
                 "runtime/graph_json.py", "runtime/graph_cache.py")


def cache_dir() -> str:
    """Where optimised graphs are kept: `graphs/` next to runtime/jit.py's `llvm/` objects."""
    from .jit import cache_dir as objects_dir
    return os.path.join(os.path.dirname(objects_dir()), "graphs")


def cacheable_backend(backend: str) -> bool:
    """Whether segments compiled for `backend` go through the cache (the LLVM CPU backends)."""
    return ENABLED and backend in ("llvm", "auto")


def _source_salt() -> str:
    """Versions plus the size and modification time of every source file in `_SALT_SOURCES`
    (computed once per process). Size + mtime is the rule CPython uses to trust a `.pyc`; it
    costs ~0.2 ms where hashing the files' text costs ~2.5 ms of every cached first compile."""
    if not _salt:
        import dyngraph

        from .graph_json import OPSET_VERSION
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        parts = []
        for rel in _SALT_SOURCES:
            path = os.path.join(root, rel)
            files = [path] if path.endswith(".py") else sorted(
                os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".py"))
            for f in files:
                name = f[len(root):]
                try:
                    st = os.stat(f)
                    parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
                except OSError:
                    parts.append(f"{name}:?")
        h = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        _salt.append(f"dyngraph {dyngraph.__version__}|graph cache {FORMAT_VERSION}|opset "
                     f"{OPSET_VERSION}|numpy {np.__version__}|sources {h}")
    return _salt[0]


# ----------------------------------------------------------------------------------------------
# Which graphs, and their key
# ----------------------------------------------------------------------------------------------

def _uncacheable(graph: Graph) -> str | None:
    """Why `graph` cannot be cached, or None."""
    from dyngraph.ops.creation import Generator
    if any(has_sym(v.shape) for v in graph.inputs):
        return "symbolic shapes"

    def live(a) -> bool:
        if isinstance(a, Generator):
            return True
        if isinstance(a, (tuple, list)):
            return any(live(x) for x in a)
        if isinstance(a, dict):
            return any(live(x) for x in a.values())
        return False

    const_bytes = 0
    for n in graph.nodes:
        if n.op in ("cond", "while_loop"):
            return f"{n.op} node"
        if has_sym(n.out.shape) or has_sym(n.attrs) or any(
                isinstance(x, (Sym, SymExpr)) for x in n.inputs):
            return "symbolic shapes"
        if live(n.attrs):
            return f"{n.op} holds a Generator"
        if n.op == "constant":
            value = n.attrs.get("value")
            if type(value) is not np.ndarray:
                return "a constant that is not a numpy array"
            const_bytes += value.nbytes
    if const_bytes > MAX_CONSTANT_BYTES:
        return f"{const_bytes} bytes of constants (limit {MAX_CONSTANT_BYTES})"
    return None


def _dtype_name(a: np.ndarray) -> str:
    from dyngraph._dtype import from_numpy_dtype
    return from_numpy_dtype(a.dtype).name


def _bytes_of(a: np.ndarray) -> np.ndarray:
    """The array's bytes in C order, as a flat uint8 array (0-d and empty arrays too)."""
    return np.ascontiguousarray(a.reshape(-1)).view(np.uint8)


def graph_key(raw: Graph, backend: str) -> str:
    """The cache key of a traced graph for `backend` (see the module docstring)."""
    from .graph_json import encode_graph

    def digest(a: np.ndarray) -> str:
        h = hashlib.sha256(f"{_dtype_name(a)}{a.shape}".encode())
        h.update(_bytes_of(a))
        return h.hexdigest()

    doc = encode_graph(raw, digest)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{_source_salt()}\n{backend}\n{text}".encode()).hexdigest()


# ----------------------------------------------------------------------------------------------
# Entries: write and read
# ----------------------------------------------------------------------------------------------

def _encode_entry(key: str, g: Graph, report: PassReport) -> bytes:
    from .graph_json import encode_graph
    arrays: list[np.ndarray] = []

    def add_tensor(a: np.ndarray) -> str:
        arrays.append(a)
        return f"t{len(arrays) - 1}"

    graph = encode_graph(g, add_tensor)
    num = g.numbering()
    meta = []
    for i, n in enumerate(g.nodes):
        m = {k: n.meta[k] for k in _META_KEYS if k in n.meta}
        if "inplace_of" in m:
            m["inplace_of"] = num[m["inplace_of"]]
        if m:
            meta.append([i, m])
    tensors, offset = [], 0
    for a in arrays:
        tensors.append([_dtype_name(a), list(a.shape), offset, a.nbytes])
        offset += a.nbytes
    doc = {"format": FORMAT_VERSION, "key": key, "graph": graph, "tensors": tensors,
           "meta": meta, "report": {"steps": [list(s) for s in report.steps],
                                    "info": report.info}}
    body = json.dumps(doc, separators=(",", ":")).encode()
    data = b"".join([body] + [_bytes_of(a).tobytes() for a in arrays])
    rest = struct.pack("<Q", len(body)) + data
    return _MAGIC + hashlib.sha256(rest).digest() + rest


class _Corrupt(Exception):
    """An entry that does not check out (the message says how)."""


def _decode_entry(blob: bytes, key: str, raw: Graph) -> tuple[Graph, PassReport]:
    from dyngraph._dtype import _BY_NAME

    from .graph_json import GraphFormatError, decode_graph
    if len(blob) < _HEAD.size:
        raise _Corrupt("truncated header")
    magic, digest, n = _HEAD.unpack_from(blob)
    if magic != _MAGIC:
        raise _Corrupt("not a graph-cache entry of this format")
    if hashlib.sha256(blob[40:]).digest() != digest:
        raise _Corrupt("checksum mismatch")
    body = blob[_HEAD.size:_HEAD.size + n]
    data = memoryview(blob)[_HEAD.size + n:]
    try:
        doc = json.loads(body)
        if doc["format"] != FORMAT_VERSION or doc["key"] != key:
            raise _Corrupt("entry written for another key or format")
        arrays = {}
        for i, (dt, shape, off, nbytes) in enumerate(doc["tensors"]):
            npdt = np.dtype(_BY_NAME[dt].np)
            if off < 0 or off + nbytes > len(data) or nbytes != npdt.itemsize * int(
                    np.prod(shape, dtype=np.int64)):
                raise _Corrupt(f"tensor t{i} lies outside the entry")
            arrays[f"t{i}"] = np.frombuffer(data[off:off + nbytes], npdt).reshape(shape).copy()
        g = decode_graph(doc["graph"], arrays, set())
        values = list(g.inputs) + [nd.out for nd in g.nodes]
        for i, m in doc["meta"]:
            if "inplace_of" in m:
                m["inplace_of"] = values[m["inplace_of"]].id
            g.nodes[i].meta.update(m)
        report = PassReport(steps=[tuple(s) for s in doc["report"]["steps"]],
                            info=doc["report"]["info"], source=f"graph cache {key[:12]}")
    except _Corrupt:
        raise
    except (GraphFormatError, ValueError, KeyError, TypeError, IndexError) as e:
        raise _Corrupt(f"{type(e).__name__}: {e}") from e
    if [(v.shape, v.dtype) for v in g.inputs] != [(v.shape, v.dtype) for v in raw.inputs] or \
            len(g.outputs) != len(raw.outputs):
        raise _Corrupt("its inputs or outputs differ from the traced graph's")
    return g, report


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def _write(path: str, blob: bytes) -> bool:
    from .jit import atomic_write
    return atomic_write(path, blob)     # a read-only cache directory only costs the passes


# ----------------------------------------------------------------------------------------------
# The interface
# ----------------------------------------------------------------------------------------------

def optimize(raw: Graph, backend: str) -> tuple[Graph, PassReport]:
    """The optimised copy of `raw` and its pass report, from the disk cache when an entry exists
    (else the pass pipeline runs and the result is stored). `raw` itself is not changed.

    Example:
        >>> g, report = optimize(segment_graph, "llvm")   # report.source says where it came from
    """
    if not cacheable_backend(backend):
        return _run_passes(raw)
    try:
        key = None if _uncacheable(raw) else graph_key(raw, backend)
    except Exception:   # noqa: BLE001 - an attribute the graph JSON cannot hold (EncodeError,
        key = None      # an array of a dtype dyngraph does not know): not cached
    if key is None:
        _count("uncacheable")
        return _run_passes(raw)
    path = os.path.join(cache_dir(), f"{key}.graph")
    blob = _read(path)
    if blob is not None:
        try:
            g, report = _decode_entry(blob, key, raw)
        except _Corrupt:
            _count("corrupt")
        else:
            _count("hits")
            return g, report
    _count("misses")
    g, report = _run_passes(raw)
    try:
        blob = _encode_entry(key, g, report)
    except Exception:   # noqa: BLE001 - a report field JSON cannot hold: not cached
        _count("uncacheable")
        return g, report
    if _write(path, blob):
        _count("stores")
    return g, report


def _run_passes(raw: Graph) -> tuple[Graph, PassReport]:
    g = raw.copy()
    return g, run_pipeline(g)


def _count(what: str) -> None:
    with _lock:
        STATS[what] += 1
