"""`dyngraph.save` / `dyngraph.load` without pickle: nothing in a file is ever executed.

A file is a valid safetensors file:

    [8 bytes: header length N, little-endian u64][N bytes: JSON header][raw little-endian data]

The header maps tensor names to `{"dtype", "shape", "data_offsets"}` (offsets into the data part,
which the tensors cover exactly, without overlap). Its `"__metadata__"` entry (strings only) holds
`format` ("dyngraph"), `format_version`, `sha256` (of the data part) and `structure`: the saved
object as JSON, where tensors are references `{"tensor": name}` and every container and non-JSON
value is a one-key tag (`{"list": [...]}`, `{"dict": [[key, value], ...]}`, `{"float": "inf"}`).

What can be saved: tensors (and `nn.Parameter`s), numpy arrays, None, bool, int, float, str,
lists, tuples, dicts and OrderedDicts of those (dict keys: str, int, float, bool, None or tuples
of them), `dyngraph.Size`, `dyngraph.dtype` and `dyngraph.device`. numpy scalars are saved as the
Python number they hold, and dict subclasses other than OrderedDict (Counter, defaultdict) as
plain dicts.

Aliasing: the same Tensor object saved twice comes back as one object, but distinct tensors that
share storage (views, `detach()`ed copies) come back as separate tensors with their own memory.

Files written by the `safetensors` package load as a dict `{name: tensor}`, in name order.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from collections import OrderedDict
from typing import Any

import numpy as np

from . import _dtype as D
from ._device import device as _device_cls
from ._tensor import Size, Tensor, _wrap

__all__ = ["save", "load", "SerializationError", "FORMAT_VERSION"]

FORMAT = "dyngraph"
FORMAT_VERSION = 1
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors package's own limit

_CODE_OF = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "int32": "I32",
            "int64": "I64", "float16": "F16", "bfloat16": "BF16", "float32": "F32",
            "float64": "F64"}
_DTYPE_OF = {code: name for name, code in _CODE_OF.items()}


class SerializationError(RuntimeError):
    """A file `dyngraph.load` refuses: truncated, tampered with, or not in a format it reads."""


# ----------------------------------------------------------------------------------------------
# save
# ----------------------------------------------------------------------------------------------

def save(obj: Any, f) -> None:
    """Save tensors, state dicts and nested containers of them to a file, without pickle.

    Args:
        obj: the object to save (see the module docstring for what is supported).
        f: a path (str or os.PathLike), or a binary file object open for writing.

    Example:
        >>> dyngraph.save({"model": model.state_dict(), "epoch": 3}, "ckpt.dg")
        >>> ckpt = dyngraph.load("ckpt.dg")
    """
    enc = _Encoder()
    structure = enc.encode(obj, "obj")
    arrays = [_little_endian(a) for a in enc.arrays]
    digest = hashlib.sha256()
    header: dict[str, Any] = {}
    offset = 0
    for name, a in zip(enc.names, arrays):
        nbytes = a.nbytes
        header[name] = {"dtype": _CODE_OF[D.from_numpy_dtype(a.dtype).name],
                        "shape": list(a.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
        if nbytes:
            digest.update(_byte_view(a))
    header["__metadata__"] = {
        "format": FORMAT, "format_version": str(FORMAT_VERSION), "sha256": digest.hexdigest(),
        "structure": json.dumps(structure, separators=(",", ":"), allow_nan=False)}
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    head += b" " * (-len(head) % 8)  # pad so the data starts 8-byte aligned, as safetensors does

    def write(fh) -> None:
        fh.write(len(head).to_bytes(8, "little"))
        fh.write(head)
        for a in arrays:
            if a.nbytes:
                fh.write(_byte_view(a))

    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with open(tmp, "wb") as fh:
                write(fh)
            os.replace(tmp, path)  # never leave a half-written checkpoint under the real name
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    elif hasattr(f, "write"):
        write(f)
    else:
        raise TypeError(f"save(): f must be a path or a binary file object, not "
                        f"{type(f).__name__}")


def _little_endian(a: np.ndarray) -> np.ndarray:
    if not a.flags.c_contiguous:
        a = a.copy(order="C")   # (np.ascontiguousarray would turn 0-d arrays into 1-d ones)
    if sys.byteorder == "big" and a.dtype.itemsize > 1:
        a = a.view(f"u{a.dtype.itemsize}").byteswap().view(a.dtype)
    return a


def _byte_view(a: np.ndarray) -> memoryview:
    return memoryview(a.reshape(-1).view(np.uint8))


_SCALAR_KEY_TYPES = (str, int, float, bool, type(None))


class _Encoder:
    """Turns the object into JSON-able tags and collects the tensors' arrays."""

    def __init__(self):
        self.names: list[str] = []
        self.arrays: list[np.ndarray] = []
        self._memo: dict[int, str] = {}
        self._keep: list[Any] = []     # keeps memoised objects alive so their ids stay unique
        self._active: set[int] = set()

    def _add_array(self, obj, arr: np.ndarray) -> str:
        name = self._memo.get(id(obj))
        if name is None:
            name = str(len(self.names))
            D.from_numpy_dtype(arr.dtype)  # a clear error for unsupported dtypes
            self.names.append(name)
            self.arrays.append(arr)
            self._memo[id(obj)] = name
            self._keep.append(obj)
        return name

    def encode(self, obj, path: str):
        """The JSON form of `obj` (`path` names it in error messages)."""
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, Tensor):
            return self._tensor(obj)
        if isinstance(obj, int):
            return int(obj)
        if isinstance(obj, float):
            return {"float": repr(float(obj))}
        if isinstance(obj, np.ndarray):
            return {"ndarray": self._add_array(obj, obj)}
        if isinstance(obj, np.generic):
            return self.encode(obj.item(), path)
        if isinstance(obj, D.dtype):
            return {"dtype": obj.name}
        if isinstance(obj, _device_cls):
            return {"device": str(obj)}
        if isinstance(obj, Size):
            return {"size": [int(s) for s in obj]}
        if isinstance(obj, (list, tuple, dict)):
            return self._container(obj, path)
        raise TypeError(
            f"save(): cannot save {path} of type {type(obj).__module__}.{type(obj).__qualname__} "
            "without pickle; supported are tensors, numpy arrays, None, bool, int, float, str, "
            "and lists, tuples and dicts of them (convert other objects to these first)")

    def _container(self, obj, path: str):
        if id(obj) in self._active:
            raise ValueError(f"save(): {path} contains itself (a reference cycle)")
        self._active.add(id(obj))
        try:
            if isinstance(obj, list):
                return {"list": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
            if isinstance(obj, tuple):
                if type(obj) is not tuple:
                    raise TypeError(
                        f"save(): cannot save {path} of type {type(obj).__qualname__} (a tuple "
                        "subclass such as a namedtuple) without pickle; convert it to a tuple or "
                        "dict")
                return {"tuple": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(obj)]}
            items = [[self._key(k, path), self.encode(v, f"{path}[{k!r}]")]
                     for k, v in obj.items()]
            return {"odict" if isinstance(obj, OrderedDict) else "dict": items}
        finally:
            self._active.discard(id(obj))

    def _key(self, k, path: str):
        if isinstance(k, tuple) and type(k) is tuple:
            return {"tuple": [self._key(x, path) for x in k]}
        if isinstance(k, _SCALAR_KEY_TYPES):
            return self.encode(k, path)
        raise TypeError(f"save(): dict key {k!r} in {path} is a {type(k).__name__}; keys must be "
                        "str, int, float, bool, None or tuples of them")

    def _tensor(self, t: Tensor) -> dict[str, Any]:
        arr = t._data
        dev = t.device
        if type(arr) is not np.ndarray:
            arr = arr.get()  # cupy -> host
        tag: dict[str, Any] = {"tensor": self._add_array(t, arr)}
        if dev.type != "cpu":
            tag["device"] = str(dev if dev.index is not None else _device_cls("cuda", 0))
        if t.requires_grad:
            tag["requires_grad"] = True
        if type(t).__name__ == "Parameter" and type(t).__module__.startswith("dyngraph.nn"):
            tag["parameter"] = True
        return tag


# ----------------------------------------------------------------------------------------------
# load
# ----------------------------------------------------------------------------------------------

def load(f, map_location=None, *, weights_only: bool = True, mmap: bool | None = None) -> Any:
    """Load an object saved by `dyngraph.save` (or a safetensors file); runs no code from it.

    Args:
        f: a path, or a binary file object positioned at the start of the saved data (it is
            read up to the end of the saved object, so several objects can share one stream).
        map_location: where tensors go: None (the device they were saved from), a device or
            string ('cpu', 'cuda:0'), a dict mapping saved locations to new ones
            ({'cuda:1': 'cuda:0'}), or a callable `fn(tensor, location)` that gets each tensor
            on the CPU with its saved location string and returns the tensor to use (None: the
            saved device).
        weights_only: accepted for PyTorch compatibility; loading never unpickles, so it is
            always "weights only".
        mmap: accepted for PyTorch compatibility; the file is read into memory.

    Returns:
        The saved object; a dict of tensors for a file written by the safetensors package.

    Raises:
        SerializationError: the file is truncated, fails its checksum, or is malformed.

    Example:
        >>> state = dyngraph.load("ckpt.dg", map_location="cpu")
    """
    del weights_only, mmap
    header, data = _read(f)
    meta = header.pop("__metadata__", None)
    entries = _check_entries(header, len(data))
    if meta is not None and not isinstance(meta, dict):
        raise SerializationError("load(): '__metadata__' in the header must be a JSON object")
    meta = meta or {}
    if meta.get("format") == FORMAT:
        _check_version(meta)
        if not isinstance(meta.get("sha256"), str):
            raise SerializationError("load(): the dyngraph header has no sha256 checksum")
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise SerializationError(
                "load(): checksum mismatch: the tensor data does not match the sha256 recorded "
                "when the file was saved (the file is corrupt or was modified)")
    view = memoryview(data)
    arrays = {name: _array(name, entry, view) for name, entry in entries.items()}
    if meta.get("format") != FORMAT:
        mapper = _Mapper(map_location)
        return {name: mapper.tensor(arrays[name], {}) for name in sorted(arrays)}
    if not isinstance(meta.get("structure"), str):
        raise SerializationError("load(): the dyngraph header has no 'structure' string")
    try:
        structure = json.loads(meta["structure"])
    except (ValueError, RecursionError) as e:
        raise SerializationError(f"load(): the saved structure is not valid JSON ({e})") from None
    try:
        return _Decoder(arrays, _Mapper(map_location)).decode(structure)
    except RecursionError:
        raise SerializationError("load(): the saved structure is nested too deeply") from None


def _read(f) -> tuple[dict, bytes]:
    """The header and the data part. A path is read whole (trailing bytes are an error); a file
    object is read only as far as its header describes, leaving it positioned after the object."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return _read_stream(fh, whole=True)
    if hasattr(f, "read"):
        return _read_stream(f, whole=False)
    if isinstance(f, (bytes, bytearray)):
        raise TypeError("load(): pass a path or a file object; wrap bytes in io.BytesIO(...)")
    raise TypeError(f"load(): f must be a path or a binary file object, not {type(f).__name__}")


def _read_exactly(fh, n: int) -> bytes:
    """Up to `n` bytes, in bounded chunks (a forged size must not allocate it up front)."""
    chunks, left = [], n
    while left > 0:
        chunk = fh.read(min(left, 1 << 26))
        if not isinstance(chunk, (bytes, bytearray)):
            raise TypeError("load(): the file object must be opened in binary mode ('rb')")
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_stream(fh, whole: bool) -> tuple[dict, bytes]:
    first = _read_exactly(fh, 8)
    if len(first) < 8:
        raise SerializationError(
            f"load(): the file is truncated: {len(first)} bytes, shorter than the 8-byte header "
            "length that starts a dyngraph/safetensors file")
    n = int.from_bytes(first, "little")
    if n > MAX_HEADER_BYTES:
        raise SerializationError(
            f"load(): the header length {n} is implausibly large (limit {MAX_HEADER_BYTES} "
            "bytes); the file is corrupt or not a dyngraph/safetensors file")
    head = _read_exactly(fh, n)
    if len(head) < n:
        raise SerializationError(
            f"load(): the file is truncated: the header claims {n} bytes but only {len(head)} "
            "follow the length field")
    try:
        header = json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SerializationError(f"load(): the header is not valid JSON ({e}); the file is "
                                 "corrupt or not a dyngraph/safetensors file") from None
    if not isinstance(header, dict):
        raise SerializationError("load(): the header must be a JSON object")
    if whole:
        return header, _read_exactly(fh, 1 << 62)
    need = _described_length(header)
    data = _read_exactly(fh, need)
    if len(data) < need:
        raise SerializationError(
            f"load(): the file is truncated: its header describes {need} bytes of tensor data "
            f"but only {len(data)} follow")
    return header, data


def _described_length(header: dict) -> int:
    """The end of the last tensor's data (malformed entries are reported later)."""
    ends = [e["data_offsets"][1] for k, e in header.items() if k != "__metadata__"
            and isinstance(e, dict) and isinstance(e.get("data_offsets"), list)
            and len(e["data_offsets"]) == 2 and _is_int(e["data_offsets"][1])]
    return max(ends, default=0)


def _check_entries(header: dict, data_len: int) -> dict[str, dict]:
    """Validate every tensor entry; offsets must tile the data part exactly."""
    entries = {}
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) - {"dtype", "shape", "data_offsets"} \
                or len(e) != 3:
            raise SerializationError(f"load(): tensor {name!r}: the entry must have exactly "
                                     "'dtype', 'shape' and 'data_offsets'")
        code, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if code not in _DTYPE_OF:
            raise SerializationError(
                f"load(): tensor {name!r} has dtype {code!r}, which dyngraph cannot hold "
                f"(supported: {', '.join(sorted(_DTYPE_OF))})")
        if not isinstance(shape, list) or not all(_is_int(s) and s >= 0 for s in shape):
            raise SerializationError(f"load(): tensor {name!r} has an invalid shape {shape!r}")
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_int(o) for o in offs)
                and 0 <= offs[0] <= offs[1]):
            raise SerializationError(
                f"load(): tensor {name!r} has invalid data_offsets {offs!r}")
        if offs[1] > data_len:
            raise SerializationError(
                f"load(): tensor {name!r} has data_offsets {offs} past the end of the data "
                f"({data_len} bytes); the file is truncated or corrupt")
        itemsize = D.to_dtype(_DTYPE_OF[code]).itemsize
        expected = math.prod(shape) * itemsize
        if offs[1] - offs[0] != expected:
            raise SerializationError(
                f"load(): tensor {name!r} of shape {shape} and dtype {code} needs {expected} "
                f"bytes but its data_offsets {offs} span {offs[1] - offs[0]}")
        entries[name] = e
    end = 0
    prev = None
    for name, e in sorted(entries.items(), key=lambda kv: tuple(kv[1]["data_offsets"])):
        begin, stop = e["data_offsets"]
        if begin < end:
            raise SerializationError(
                f"load(): tensors {prev!r} and {name!r} have overlapping data_offsets")
        if begin > end:
            raise SerializationError(
                f"load(): bytes {end}..{begin} of the data belong to no tensor; the header "
                "does not describe the data")
        end, prev = stop, name
    if end != data_len:
        raise SerializationError(
            f"load(): the tensors cover {end} bytes but the data part has {data_len}; the file "
            "is truncated or has trailing bytes")
    return entries


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_version(meta: dict) -> None:
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise SerializationError(f"load(): invalid format_version "
                                 f"{meta.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise SerializationError(
            f"load(): the file has format version {version}, newer than this dyngraph reads "
            f"({FORMAT_VERSION}); upgrade dyngraph")


def _array(name: str, e: dict, data: memoryview) -> np.ndarray:
    dt = D.to_dtype(_DTYPE_OF[e["dtype"]])
    begin, end = e["data_offsets"]
    raw = np.frombuffer(data[begin:end], dtype=np.uint8)
    if dt is D.bool_:
        return (raw != 0).reshape(e["shape"])  # any nonzero byte is True, as in safetensors
    arr = raw.view(np.dtype(f"u{dt.itemsize}") if dt.itemsize > 1 else np.uint8)
    if sys.byteorder == "big" and dt.itemsize > 1:
        arr = arr.byteswap()
    return arr.view(dt.np).reshape(e["shape"]).copy()


class _Mapper:
    """Applies `map_location` to each loaded tensor."""

    def __init__(self, map_location):
        if map_location is not None and not isinstance(
                map_location, (str, _device_cls, dict)) and not callable(map_location):
            raise TypeError(
                f"load(): map_location must be None, a device, a string, a dict or a callable, "
                f"not {type(map_location).__name__}")
        self.map_location = map_location

    def tensor(self, arr: np.ndarray, tag: dict) -> Tensor:
        """Wrap a loaded array and place it where map_location says."""
        saved = tag.get("device", "cpu")
        t = _wrap(arr)
        ml = self.map_location
        if callable(ml) and not isinstance(ml, (str, _device_cls, dict)):
            out = ml(t, saved)
            if out is not None:
                if not isinstance(out, Tensor):
                    raise TypeError(f"load(): map_location returned {type(out).__name__}, "
                                    "expected a Tensor or None")
                return out
            target = saved
        elif isinstance(ml, dict):
            target = ml.get(saved, saved)
        elif ml is not None:
            target = ml
        else:
            target = saved
        dev = _device_cls(target) if not isinstance(target, _device_cls) else target
        if dev.type == "cuda":
            from . import cuda
            if not cuda.is_available():
                raise RuntimeError(
                    f"load(): attempting to deserialize a tensor on {dev} but "
                    "dyngraph.cuda.is_available() is False. On a CPU-only machine, use "
                    "dyngraph.load(f, map_location='cpu') to map the tensors to the CPU.")
            t = t.to(dev)
        return t


class _Decoder:
    """Rebuilds the object from its JSON tags; every tag is checked, nothing is executed."""

    def __init__(self, arrays: dict[str, np.ndarray], mapper: _Mapper):
        self.arrays = arrays
        self.mapper = mapper
        self.made: dict[tuple[str, str], Any] = {}

    def decode(self, node):
        """The object a JSON node stands for."""
        if node is None or isinstance(node, (bool, int, str)):
            return node
        if isinstance(node, dict) and len(node) >= 1:
            if "tensor" in node:
                return self._tensor(node)
            if len(node) == 1:
                (tag, value), = node.items()
                return self._tagged(tag, value)
        raise SerializationError(f"load(): unexpected node {_short(node)} in the saved structure")

    def _tagged(self, tag: str, value):
        if tag == "list" and isinstance(value, list):
            return [self.decode(v) for v in value]
        if tag == "tuple" and isinstance(value, list):
            return tuple(self.decode(v) for v in value)
        if tag in ("dict", "odict") and isinstance(value, list):
            out = OrderedDict() if tag == "odict" else {}
            for item in value:
                if not (isinstance(item, list) and len(item) == 2):
                    raise SerializationError(f"load(): bad dict item {_short(item)}")
                key = self.decode(item[0])
                try:
                    out[key] = self.decode(item[1])
                except TypeError:
                    raise SerializationError(f"load(): unhashable dict key {_short(item[0])}") \
                        from None
            return out
        if tag == "float" and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise SerializationError(f"load(): bad float {value!r}") from None
        if tag == "ndarray" and isinstance(value, str):
            return self._array(value, "ndarray").copy()
        if tag == "dtype" and value in D._BY_NAME:
            return D._BY_NAME[value]
        if tag == "device" and isinstance(value, str):
            try:
                return _device_cls(value)
            except (ValueError, TypeError) as e:
                raise SerializationError(f"load(): bad device {value!r}: {e}") from None
        if tag == "size" and isinstance(value, list) and all(_is_int(s) for s in value):
            return Size(value)
        raise SerializationError(f"load(): unknown or malformed tag {tag!r}: {_short(value)}")

    def _array(self, name, kind: str) -> np.ndarray:
        if not isinstance(name, str) or name not in self.arrays:
            raise SerializationError(f"load(): the structure refers to {kind} {name!r}, which "
                                     "is not in the file")
        return self.arrays[name]

    def _tensor(self, node: dict) -> Tensor:
        if set(node) - {"tensor", "device", "requires_grad", "parameter"}:
            raise SerializationError(f"load(): malformed tensor reference {_short(node)}")
        key = ("tensor", node["tensor"])
        if key in self.made:
            return self.made[key]
        arr = self._array(node["tensor"], "tensor")
        saved = node.get("device", "cpu")
        try:
            _device_cls(saved)
        except (ValueError, TypeError):
            raise SerializationError(f"load(): bad device in {_short(node)}") from None
        t = self.mapper.tensor(arr, node)
        rg = node.get("requires_grad", False) is True
        if node.get("parameter") is True:
            try:
                from .nn.parameter import Parameter
                t = Parameter(t, requires_grad=rg)
            except ImportError:  # nn not available: a plain tensor that requires grad
                t.requires_grad_(rg)
        elif rg:
            if not t.dtype.is_floating_point:
                raise SerializationError("load(): a non-floating tensor is marked requires_grad")
            t.requires_grad_(True)
        self.made[key] = t
        return t


def _short(x, limit: int = 80) -> str:
    s = json.dumps(x) if not isinstance(x, str) else repr(x)
    return s if len(s) <= limit else s[:limit] + "..."

