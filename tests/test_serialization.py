"""dyngraph.save / dyngraph.load: round trips of nested objects and every dtype, interop with the
safetensors package in both directions, and refusal of truncated or tampered files."""

from __future__ import annotations

import io
import json
import math
import os
from collections import OrderedDict

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.serialization import SerializationError
from tests.conftest import requires_torch, torch

try:
    import safetensors.numpy as st_numpy
except ImportError:  # pragma: no cover - the package is optional at run time
    st_numpy = None

requires_safetensors = pytest.mark.skipif(st_numpy is None, reason="safetensors not installed")


def _roundtrip(obj, **load_kwargs):
    buf = io.BytesIO()
    dg.save(obj, buf)
    buf.seek(0)
    return dg.load(buf, **load_kwargs)


def _np(t: dg.Tensor) -> np.ndarray:
    return np.array(t.detach().numpy())


def _assert_tensor_equal(a: dg.Tensor, b: dg.Tensor) -> None:
    assert isinstance(a, dg.Tensor) and a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(_np(a).reshape(-1).view(np.uint8),
                                  _np(b).reshape(-1).view(np.uint8))  # bitwise


DTYPES = [dg.float32, dg.float64, dg.float16, dg.bfloat16, dg.int64, dg.int32, dg.int16,
          dg.int8, dg.uint8, dg.bool]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (5,), (2, 3, 4)], ids=str)
def test_tensor_round_trip_bitwise(dtype, shape):
    rng = np.random.default_rng(len(shape))
    values = rng.standard_normal(shape) * 50
    if dtype is dg.bool:
        values = values > 0
    t = dg.tensor(values, dtype=dtype)
    _assert_tensor_equal(_roundtrip(t), t)


def test_special_float_values_round_trip():
    t = dg.tensor([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4e38], dtype=dg.float32)
    _assert_tensor_equal(_roundtrip(t), t)


def test_non_contiguous_tensor():
    t = dg.arange(12, dtype=dg.float64).reshape(3, 4).t()
    out = _roundtrip(t)
    _assert_tensor_equal(out, t.contiguous())
    np.testing.assert_array_equal(_np(out), _np(t))


def test_nested_structure_round_trip():
    w = dg.randn(3, 2)
    obj = {
        "model": OrderedDict([("layer.weight", w), ("layer.bias", dg.zeros(2))]),
        "epoch": 7, "big": 2 ** 70, "neg": -3, "lr": 0.1, "inf": math.inf, "ninf": -math.inf,
        "negzero": -0.0, "flag": True, "none": None, "name": "résumé ✓", "empty": {},
        "list": [1, [2.5, (3, "x")], []], "tuple": (1, 2), "size": dg.Size([2, 3]),
        "dtype": dg.bfloat16, "device": dg.device("cpu"),
        5: "int key", (1, "a"): "tuple key", 2.5: "float key", None: "none key", False: "bool",
        "np": np.arange(4, dtype=np.int32),
    }
    out = _roundtrip(obj)
    assert list(out) == list(obj)
    assert type(out["model"]) is OrderedDict and list(out["model"]) == ["layer.weight",
                                                                        "layer.bias"]
    _assert_tensor_equal(out["model"]["layer.weight"], w)
    for k in ("epoch", "big", "neg", "lr", "inf", "ninf", "flag", "none", "name", "empty",
              "list", "tuple", 5, (1, "a"), 2.5, None, False):
        assert out[k] == obj[k] and type(out[k]) is type(obj[k]), k
    assert math.copysign(1, out["negzero"]) == -1
    assert isinstance(out["size"], dg.Size) and out["size"] == (2, 3)
    assert out["dtype"] is dg.bfloat16 and out["device"] == dg.device("cpu")
    assert isinstance(out["np"], np.ndarray) and out["np"].dtype == np.int32
    np.testing.assert_array_equal(out["np"], obj["np"])
    nan = _roundtrip({"x": math.nan})["x"]
    assert math.isnan(nan)


def test_requires_grad_and_identity():
    w = dg.randn(2, 2, requires_grad=True)
    view = w.detach()[0]
    out = _roundtrip({"a": w, "b": w, "view": view, "w_again": [w]})
    assert out["a"] is out["b"] is out["w_again"][0]   # one object saved twice stays one object
    assert out["a"].requires_grad and out["a"].is_leaf
    assert not out["view"].requires_grad
    # Distinct tensors that shared storage come back as separate tensors.
    out["view"]._data[0] = 100.0
    assert float(out["a"][0, 0].item()) != 100.0


def test_parameter_comes_back_as_parameter():
    from dyngraph.nn.parameter import Parameter
    p = Parameter(dg.randn(3))
    out = _roundtrip({"p": p})
    assert isinstance(out["p"], Parameter) and out["p"].requires_grad
    _assert_tensor_equal(out["p"], p)


def test_module_state_dict_round_trip(tmp_path):
    import dyngraph.nn as nn
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    dg.save(model.state_dict(), tmp_path / "m.dg")
    model2 = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model2.load_state_dict(dg.load(tmp_path / "m.dg"))
    x = dg.randn(5, 4)
    np.testing.assert_array_equal(_np(model(x)), _np(model2(x)))


def test_paths_and_file_objects(tmp_path):
    t = dg.arange(5)
    dg.save(t, str(tmp_path / "a"))
    dg.save(t, tmp_path / "a")           # overwrite in place, atomically
    assert sorted(os.listdir(tmp_path)) == ["a"]
    _assert_tensor_equal(dg.load(str(tmp_path / "a")), t)
    with open(tmp_path / "b", "wb") as fh:
        dg.save([t, t + 1], fh)
    with open(tmp_path / "b", "rb") as fh:
        out = dg.load(fh)
    _assert_tensor_equal(out[1], t + 1)
    with pytest.raises(TypeError, match="io.BytesIO"):
        dg.load(b"bytes")


@pytest.mark.parametrize("obj,exc,msg", [
    ({"f": lambda: 0}, TypeError, r"cannot save obj\['f'\] of type builtins.function"),
    ([1, {2, 3}], TypeError, r"obj\[1\] of type builtins.set"),
    ({"k": __import__("collections").namedtuple("P", "a")(1)}, TypeError, "namedtuple"),
    ({dg.ones(1): 1}, TypeError, "keys must be"),
    (np.array(["a"]), TypeError, "unsupported dtype"),
])
def test_unsupported_objects_are_rejected(obj, exc, msg):
    with pytest.raises(exc, match=msg):
        dg.save(obj, io.BytesIO())


def test_reference_cycle_is_rejected():
    a: list = [1]
    a.append(a)
    with pytest.raises(ValueError, match="reference cycle"):
        dg.save(a, io.BytesIO())


# ----- interop with the safetensors package ---------------------------------------------------

@requires_safetensors
def test_file_is_valid_safetensors(tmp_path):
    tensors = {"w": dg.randn(3, 4), "i": dg.arange(6).reshape(2, 3), "b": dg.tensor([True, False]),
               "h": dg.randn(2, dtype=dg.float16)}
    dg.save(tensors, tmp_path / "x")
    arrays = st_numpy.load_file(str(tmp_path / "x"))
    assert len(arrays) == 4
    for t in tensors.values():
        assert any(a.dtype == t.numpy().dtype and np.array_equal(a, t.numpy())
                   for a in arrays.values())


@requires_torch
@requires_safetensors
def test_load_file_written_by_safetensors_torch(tmp_path):
    import safetensors.torch as st_torch
    g = torch.Generator().manual_seed(0)
    ref = {"weight": torch.randn(4, 3, generator=g), "bias": torch.zeros(3),
           "bf16": torch.randn(5, generator=g).to(torch.bfloat16),
           "half": torch.randn(2, 2, generator=g).half(), "ids": torch.arange(7),
           "mask": torch.tensor([True, False, True]), "scalar": torch.tensor(2.5),
           "empty": torch.zeros(0, 4), "i8": torch.tensor([-3, 4], dtype=torch.int8)}
    st_torch.save_file(ref, str(tmp_path / "t.safetensors"), metadata={"format": "pt"})
    out = dg.load(tmp_path / "t.safetensors")
    assert list(out) == sorted(ref)
    for k, v in ref.items():
        assert out[k].dtype.name == str(v.dtype).replace("torch.", ""), k
        assert tuple(out[k].shape) == tuple(v.shape)
        expected = v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
        np.testing.assert_array_equal(out[k].float().numpy() if v.dtype == torch.bfloat16
                                      else out[k].numpy(), expected)


@requires_safetensors
def test_load_file_written_by_safetensors_numpy(tmp_path):
    ref = {"a": np.arange(6, dtype=np.float64).reshape(2, 3), "b": np.array([1, 2], np.uint8)}
    st_numpy.save_file(ref, str(tmp_path / "n"))
    out = dg.load(str(tmp_path / "n"))
    for k, v in ref.items():
        np.testing.assert_array_equal(out[k].numpy(), v)
        assert out[k].numpy().dtype == v.dtype


# ----- map_location ---------------------------------------------------------------------------

@pytest.mark.parametrize("ml", ["cpu", dg.device("cpu"), {"cpu": "cpu"}], ids=str)
def test_map_location_cpu(ml):
    out = _roundtrip({"t": dg.ones(2)}, map_location=ml)
    assert out["t"].device == dg.device("cpu")


def test_map_location_callable_sees_saved_location():
    seen = []

    def fn(t, location):
        seen.append(location)
        return t * 2

    out = _roundtrip([dg.ones(2), dg.ones(1)], map_location=fn)
    assert seen == ["cpu", "cpu"]
    np.testing.assert_array_equal(_np(out[0]), [2.0, 2.0])
    out = _roundtrip([dg.ones(2)], map_location=lambda t, loc: None)
    np.testing.assert_array_equal(_np(out[0]), [1.0, 1.0])


@pytest.mark.skipif(dg.cuda.is_available(), reason="checks the CPU-only error")
def test_map_location_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        _roundtrip(dg.ones(1), map_location="cuda")
    with pytest.raises(TypeError, match="map_location must be"):
        _roundtrip(dg.ones(1), map_location=3.5)


# ----- corrupt and tampered files -------------------------------------------------------------

def _saved_bytes(obj=None) -> bytes:
    buf = io.BytesIO()
    dg.save(obj if obj is not None else {"a": dg.arange(4, dtype=dg.float32),
                                         "b": dg.ones(2, 2, dtype=dg.int64)}, buf)
    return buf.getvalue()


def _split(raw: bytes) -> tuple[dict, bytes]:
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _join(header: dict, data: bytes) -> bytes:
    head = json.dumps(header).encode()
    return len(head).to_bytes(8, "little") + head + data


def _load_bytes(raw: bytes):
    return dg.load(io.BytesIO(raw))


def test_flipped_data_byte_fails_checksum():
    raw = bytearray(_saved_bytes())
    raw[-3] ^= 0x01
    with pytest.raises(SerializationError, match="checksum mismatch"):
        _load_bytes(bytes(raw))


@pytest.mark.parametrize("keep", [0, 5, 8, 20, -1, -8], ids=str)
def test_truncated_file(keep):
    raw = _saved_bytes()
    with pytest.raises(SerializationError, match="truncated"):
        _load_bytes(raw[:keep])


def test_error_is_a_runtime_error():
    assert issubclass(SerializationError, RuntimeError)


def test_huge_header_length():
    raw = _saved_bytes()
    with pytest.raises(SerializationError, match="implausibly large"):
        _load_bytes((2 ** 60).to_bytes(8, "little") + raw[8:])


def test_bad_json_header():
    raw = _saved_bytes()
    n = int.from_bytes(raw[:8], "little")
    bad = raw[:8] + b"{not json" + b" " * (n - 9) + raw[8 + n:]
    with pytest.raises(SerializationError, match="not valid JSON"):
        _load_bytes(bad)
    with pytest.raises(SerializationError, match="JSON object"):
        _load_bytes(_join([1, 2], b""))  # type: ignore[arg-type]


def _tamper(edit) -> bytes:
    header, data = _split(_saved_bytes())
    edit(header)
    return _join(header, data)


def _set_offsets(name, offs):
    def edit(h):
        h[name]["data_offsets"] = offs
    return edit


@pytest.mark.parametrize("edit,msg", [
    (_set_offsets("0", [0, 10 ** 6]), "truncated"),
    (_set_offsets("1", [16, 10 ** 18]), "truncated"),
    (_set_offsets("0", [-4, 12]), "invalid data_offsets"),
    (_set_offsets("0", [8, 4]), "invalid data_offsets"),
    (_set_offsets("1", [8, 40]), "overlapping"),
    (_set_offsets("0", [0, 12]), "needs 16 bytes"),
    (lambda h: h["0"].update(shape=[5]), "needs 20 bytes"),
    (lambda h: h["0"].update(shape=[-4]), "invalid shape"),
    (lambda h: h["0"].update(dtype="F8_E4M3"), "cannot hold"),
    (lambda h: h["0"].update(extra=1), "exactly"),
    (lambda h: h.pop("0"), "belong to no tensor"),
    (lambda h: h.pop("1"), "checksum mismatch"),
    (lambda h: h["__metadata__"].update(format_version="99"), "newer than this dyngraph"),
    (lambda h: h["__metadata__"].pop("sha256"), "no sha256"),
    (lambda h: h["__metadata__"].update(structure="{oops"), "structure is not valid JSON"),
    (lambda h: h["__metadata__"].update(structure='{"pickle": "gASVAAAA"}'), "unknown"),
    (lambda h: h["__metadata__"].update(structure='{"tensor": "7"}'), "not in the file"),
    (lambda h: h["__metadata__"].update(structure='[1, 2]'), "unexpected node"),
    (lambda h: h["__metadata__"].update(structure='{"dict": [[{"list": []}, 1]]}'),
     "unhashable"),
    (lambda h: h["__metadata__"].update(structure='{"tensor": "0", "exec": "x"}'), "malformed"),
    (lambda h: h.update(__metadata__="text"), "must be a JSON object"),
], ids=lambda x: x if isinstance(x, str) else "")
def test_tampered_header(edit, msg):
    with pytest.raises(SerializationError, match=msg):
        _load_bytes(_tamper(edit))


def test_deeply_nested_structure_is_refused():
    deep = '{"list": [' * 100_000 + "]}" * 100_000

    def edit(h):
        h["__metadata__"]["structure"] = deep
    with pytest.raises(SerializationError, match="too deeply|not valid JSON"):
        _load_bytes(_tamper(edit))


def test_trailing_garbage_in_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_bytes(_saved_bytes() + b"\x00" * 8)
    with pytest.raises(SerializationError, match="trailing"):
        dg.load(tmp_path / "f")


def test_offsets_past_the_end_of_a_file(tmp_path):
    header, data = _split(_saved_bytes())
    header["1"]["data_offsets"] = [16, 10 ** 6]
    (tmp_path / "f").write_bytes(_join(header, data))
    with pytest.raises(SerializationError, match="past the end"):
        dg.load(tmp_path / "f")


def test_objects_share_a_stream():
    buf = io.BytesIO()
    dg.save({"first": dg.ones(2)}, buf)
    dg.save([dg.zeros(3), "second"], buf)
    buf.seek(0)
    first, second = dg.load(buf), dg.load(buf)
    _assert_tensor_equal(first["first"], dg.ones(2))
    assert second[1] == "second" and buf.read() == b""
