"""The file format: layout, memory mapping, checksum, validation errors, attrs, upgraders."""

import json
import os

import numpy as np
import pytest

import dyngraph as dg
from runtime import graph_file as gfm
from runtime.graph_file import GraphFormatError, read_graph_file, reseal
from tests.conftest import to_np
from tests.export import models


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    dg.manual_seed(1)
    m = models.mlp()
    ep = dg.export(m, (dg.randn(4, 8),), dynamic_shapes=({0: dg.Dim("batch")},))
    path = tmp_path_factory.mktemp("f") / "mlp.dgraph"
    ep.save(path)
    return m, path, path.read_bytes()


def _header(data):
    n = int.from_bytes(data[:8], "little")
    return n, json.loads(data[8:8 + n])


def _write(tmp_path, data, name="x.dgraph"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _edit_header(data, fn, seal=True):
    """Apply `fn` to the parsed header, re-encode it (same data part), optionally reseal."""
    n, h = _header(data)
    fn(h)
    head = json.dumps(h, separators=(",", ":")).encode()
    head += b" " * (-(8 + len(head)) % 64)
    out = len(head).to_bytes(8, "little") + head + data[8 + n:]
    return reseal(out) if seal else out


def test_layout_is_aligned_safetensors(saved, tmp_path):
    m, path, data = saved
    n, h = _header(data)
    assert (8 + n) % 64 == 0
    meta = h["__metadata__"]
    assert meta["format"] == "dyngraph.graph" and meta["format_version"] == "1"
    assert meta["opset_version"] == "1" and meta["checksum"].startswith("sha256:")
    for name, e in h.items():
        if name != "__metadata__" and not name.startswith("__pad."):
            assert (8 + n + e["data_offsets"][0]) % 64 == 0, name
    from safetensors.numpy import load_file     # a standard reader sees the weights
    st = load_file(str(path))
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(st[k], to_np(v))


def test_weights_are_memory_mapped_not_copied(saved):
    _, path, _ = saved
    gf = read_graph_file(path)
    import mmap
    for a in gf.arrays.values():
        base = a
        while isinstance(base, np.ndarray) and base.base is not None:
            base = base.base
        assert isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap)
        assert not a.flags.writeable
    run = dg.load_graph(path)
    assert not next(iter(run.state_dict().values()))._data.flags.writeable


def test_graph_json_records_ops_specs_and_dims(saved):
    _, path, data = saved
    _, h = _header(data)
    doc = json.loads(h["__metadata__"]["graph"])
    assert doc["dims"] == {"batch": {"min": 1, "max": None}}
    assert [n["op"] for n in doc["graph"]["nodes"]] == ["permute", "matmul", "add", "relu",
                                                          "permute", "matmul", "add"]
    assert doc["inputs"][0]["shape"] == [{"$sym": [[1, ["batch"]]]}, 8]


@pytest.mark.parametrize("case", ["truncated_data", "truncated_header", "bitflip_data",
                                  "bitflip_header", "trailing", "tiny"])
def test_corruption_is_a_format_error(saved, tmp_path, case):
    _, _, data = saved
    n, _ = _header(data)
    b = bytearray(data)
    if case == "truncated_data":
        b = b[:-10]
    elif case == "truncated_header":
        b = b[:8 + n // 2]
    elif case == "bitflip_data":
        b[-5] ^= 0x10
    elif case == "bitflip_header":
        b[8 + n // 3] ^= 0x01
    elif case == "trailing":
        b += b"\0" * 64
    else:
        b = b[:5]
    with pytest.raises(GraphFormatError):
        dg.load_graph(_write(tmp_path, bytes(b)))


def test_checksum_mismatch_is_named(saved, tmp_path):
    _, _, data = saved
    b = bytearray(data)
    b[-5] ^= 0x10
    with pytest.raises(GraphFormatError, match="checksum mismatch"):
        dg.load_graph(_write(tmp_path, bytes(b)))


def _first_weight(h):
    return next(k for k in h if k != "__metadata__" and not k.startswith("__pad."))


@pytest.mark.parametrize("edit,match", [
    (lambda h: h[_first_weight(h)].update(data_offsets=[-64, 448]), "negative"),
    (lambda h: h[_first_weight(h)].update(data_offsets=[0, 10**12]), "past the end"),
    (lambda h: h[_first_weight(h)].update(shape=[10**9, 10**9]), "needs"),
    (lambda h: h[_first_weight(h)].update(dtype="F64"), "needs"),
    (lambda h: h[_first_weight(h)].update(dtype="C64"), "unknown dtype"),
    (lambda h: h["__metadata__"].update(format_version="2"), "format_version 2 is not supported"),
    (lambda h: h["__metadata__"].update(opset_version="99"), "opset_version 99"),
    (lambda h: h["__metadata__"].update(format="other"), "not a dyngraph graph file"),
    (lambda h: h["__metadata__"].update(graph="{"), "not valid JSON"),
])
def test_header_inconsistencies(saved, tmp_path, edit, match):
    _, _, data = saved
    with pytest.raises(GraphFormatError, match=match):
        dg.load_graph(_write(tmp_path, _edit_header(data, edit)))


def test_overlapping_tensors(saved, tmp_path):
    _, _, data = saved

    def edit(h):
        names = [k for k in h if k != "__metadata__" and not k.startswith("__pad.")]
        a, b = h[names[1]], h[names[3]]   # 0.bias (16 f32) and 2.bias (3 f32)
        b["data_offsets"] = [a["data_offsets"][0], a["data_offsets"][0] + 12]
    with pytest.raises(GraphFormatError, match="overlapping|belong to no tensor"):
        dg.load_graph(_write(tmp_path, _edit_header(data, edit)))


def _edit_doc(data, fn):
    def edit(h):
        doc = json.loads(h["__metadata__"]["graph"])
        fn(doc)
        h["__metadata__"]["graph"] = json.dumps(doc)
    return _edit_header(data, edit)


@pytest.mark.parametrize("fn,match", [
    (lambda d: d["graph"]["nodes"][1].update(op="os.system"), "unknown op \"os.system\""),
    (lambda d: d["graph"]["nodes"][1].update(dtype="float128"), "unknown dtype"),
    (lambda d: d["graph"]["nodes"][1]["inputs"].__setitem__(0, {"$v": 99}), "not defined"),
    (lambda d: d["weights"][0].update(shape=[8, 16]), "size 0 is 8, which does not match"),
    (lambda d: d["weights"][0].update(dtype="float64"), "declared as"),
    (lambda d: d["graph"]["nodes"][0]["attrs"].update(dims={"$pickle": "x"}), "unknown tag"),
    (lambda d: d["graph"]["inputs"][0]["shape"].__setitem__(0, {"$sym": [[1, ["seq"]]]}),
     "dim 'seq', which the file does not declare"),
    (lambda d: d["inputs"][0]["shape"].__setitem__(0, 5), "size 0 is 5, which does not match"),
    (lambda d: d.pop("weights"), "exactly the keys"),
    (lambda d: d["weights"][0].update(tensor="nope"), "not in the file"),
])
def test_document_inconsistencies(saved, tmp_path, fn, match):
    _, _, data = saved
    with pytest.raises(GraphFormatError, match=match):
        dg.load_graph(_write(tmp_path, _edit_doc(data, fn)))


def test_attribute_values_round_trip():
    from dyngraph.ops.creation import Generator
    from dyngraph.ops.index import TensorSlot
    arrays = []

    def add(a):
        arrays.append(a)
        return f"t{len(arrays) - 1}"
    values = [(1, 2), slice(1, None, 2), dg.float16, dg.device("cpu"), TensorSlot(1),
              Ellipsis, None, True, -3, 2.5, float("nan"), float("-inf"), "s", [1, (2,)],
              {"a": 1, 2: (3,)}, np.float32(1.5), np.array([1, 2])]
    enc = [gfm.encode_attr(v, add) for v in values]
    text = json.dumps(enc, allow_nan=False)      # pure JSON: no NaN literals, no objects
    dec = gfm.Decoder({f"t{i}": a for i, a in enumerate(arrays)})
    back = [dec.attr(j, "test") for j in json.loads(text)]
    for v, b in zip(values, back):
        if isinstance(v, float) and v != v:
            assert b != b
        elif isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, b)
        elif isinstance(v, np.generic):
            assert type(b) is type(v) and b == v
        else:
            assert b == v and type(b) is type(v)
    g = Generator().manual_seed(5)
    g2 = dec.attr(json.loads(json.dumps(gfm.encode_attr(g, add))), "gen")
    assert g2.initial_seed() == 5 and g2 is not g
    with pytest.raises(TypeError, match="cannot store"):
        gfm.encode_attr(object(), add)


def test_unencodable_attribute_is_refused_with_its_place():
    from compiler.ir import Graph
    g = Graph()
    x = g.add_input((3,), dg.float32, dg.device("cpu"))
    g.outputs = [g.add_node("relu", [x], {"odd": object()}, (3,), dg.float32, x.device)]
    with pytest.raises(TypeError, match=r"node 1 \(relu\) attribute 'odd' holds a builtins"):
        gfm.encode_graph(g, lambda a: "t")


def test_upgrader_runs_for_older_versions(monkeypatch, tmp_path):
    here = os.path.join(os.path.dirname(__file__), "data", "mlp_v1.dgraph")
    calls = []

    def v1_to_v2(doc):
        calls.append(doc["format_version"])
        doc["graph"]["metadata"]["upgraded"] = "yes"
        return doc
    monkeypatch.setattr(gfm, "FORMAT_VERSION", 2)
    monkeypatch.setitem(gfm.UPGRADERS, 1, v1_to_v2)
    run = dg.load_graph(here, backend="interpreter")
    assert calls == [1] and run.metadata["upgraded"] == "yes"
    monkeypatch.delitem(gfm.UPGRADERS, 1)
    with pytest.raises(GraphFormatError, match="no upgrader from format version 1"):
        dg.load_graph(here)


def test_loading_executes_nothing(saved, tmp_path, monkeypatch):
    import builtins
    import pickle
    _, _, data = saved
    warm = dg.load_graph(_write(tmp_path, data, "warm.dgraph"), backend="interpreter")
    warm(dg.randn(3, 8))      # imports every module a load and a run need, before the patch

    def boom(*a, **k):
        raise AssertionError("loading must not eval/exec/unpickle")
    monkeypatch.setattr(builtins, "eval", boom)
    monkeypatch.setattr(builtins, "exec", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    run = dg.load_graph(_write(tmp_path, data), backend="interpreter")
    assert run(dg.randn(2, 8)).shape == (2, 3)
