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

This module is the container (layout, checksum, versions, upgraders); the graph JSON codec is
runtime/graph_json.py and the symbolic sizes (`SymExpr`, `specialize`) runtime/graph_sym.py.
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

# The JSON encoding and the symbolic sizes live in their own modules; their names stay importable
# from here (the same objects), as they were before the split.
from .graph_json import (MAX_DEPTH, MAX_FULL_ELEMENTS, OPSET_VERSION,  # noqa: F401
                         Decoder, EncodeError, GraphFormatError, _dtype_mod, _fail, _is_int,
                         _short, _value_json, decode_graph, encode_attr, encode_graph)
from .graph_sym import (FullConstant, RangeConstant, SymExpr, _expr_text,  # noqa: F401
                        _subst, ranged, specialize, sym_eval)

__all__ = ["GraphFormatError", "SymExpr", "FullConstant", "RangeConstant", "FORMAT",
           "FORMAT_VERSION", "OPSET_VERSION", "ALIGN", "UPGRADERS", "encode_graph", "decode_graph",
           "encode_attr",
           "write_graph_file", "read_graph_file", "sym_eval", "specialize", "reseal"]

FORMAT = "dyngraph.graph"
FORMAT_VERSION = 1      # layout of the file and of the JSON document
ALIGN = 64              # every tensor starts at a multiple of this in the file
MAX_HEADER_BYTES = 100 * 1024 * 1024

# Upgraders: UPGRADERS[v] turns a version-v document (the parsed header: metadata + graph) into a
# version v+1 one. Version 1 is the first; each bump adds one entry and a checked-in v<k> file.
UPGRADERS: dict[int, Callable[[dict], dict]] = {}

_CODE_OF = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "int32": "I32",
            "int64": "I64", "float16": "F16", "bfloat16": "BF16", "float32": "F32",
            "float64": "F64"}
_DTYPE_OF = {code: name for name, code in _CODE_OF.items()}
_CHECKSUM_PREFIX = "sha256:"


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
