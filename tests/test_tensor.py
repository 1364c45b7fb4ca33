"""The tensor object: creation, dtypes, memory sharing, the Python protocol, DLPack, devices."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import dyngraph as dg
from tests.conftest import assert_close, requires_torch, torch

# ----- creation -------------------------------------------------------------------------------


def test_tensor_infers_dtype_like_pytorch():
    assert dg.tensor([1, 2]).dtype is dg.int64
    assert dg.tensor([1.0, 2]).dtype is dg.float32
    assert dg.tensor([True, False]).dtype is dg.bool
    assert dg.tensor(3.5).shape == ()
    assert dg.tensor(np.zeros(3, np.float64)).dtype is dg.float64
    assert dg.tensor([[1, 2], [3, 4]], dtype=dg.float16).dtype is dg.float16


def test_aliases_and_constants():
    assert dg.float is dg.float32 and dg.double is dg.float64 and dg.long is dg.int64
    assert dg.int is dg.int32 and dg.half is dg.float16 and dg.bool.name == "bool"
    assert abs(dg.pi - np.pi) < 1e-15
    assert repr(dg.float32) == "dyngraph.float32"


def test_bfloat16():
    x = dg.tensor([1.0, 2.5, 3.0], dtype=dg.bfloat16)
    assert x.dtype is dg.bfloat16
    assert_close((x * 2).float(), [2.0, 5.0, 6.0], "bfloat16")
    assert (x.float() + x).dtype is dg.float32


@pytest.mark.parametrize("fn,args", [
    (dg.zeros, (2, 3)), (dg.ones, ((2, 3),)), (dg.empty, (2, 3)), (dg.rand, (2, 3)),
    (dg.randn, ((2, 3),)),
])
def test_factories_accept_varargs_or_tuple(fn, args):
    t = fn(*args, dtype=dg.float64, requires_grad=True)
    assert t.shape == (2, 3) and t.dtype is dg.float64 and t.requires_grad and t.is_leaf


def test_factory_values():
    assert_close(dg.full((2, 2), 7), np.full((2, 2), 7))
    assert dg.full((2,), 7).dtype is dg.int64 and dg.full((2,), 7.0).dtype is dg.float32
    assert_close(dg.arange(5), np.arange(5))
    assert dg.arange(5).dtype is dg.int64 and dg.arange(0, 1, 0.25).dtype is dg.float32
    assert_close(dg.arange(1, 2.5, 0.5), [1.0, 1.5, 2.0])
    assert_close(dg.linspace(0, 1, 5), np.linspace(0, 1, 5), "float32")
    assert_close(dg.eye(3, 2), np.eye(3, 2))
    x = dg.ones(2, 3, dtype=dg.int32)
    assert dg.zeros_like(x).dtype is dg.int32
    assert dg.ones_like(x, dtype=dg.float64).dtype is dg.float64
    assert_close(dg.full_like(x, 4), np.full((2, 3), 4))
    assert dg.empty_like(x).shape == (2, 3)
    assert dg.randint(0, 10, (50,)).dtype is dg.int64
    r = dg.randint(3, 5, (100,))
    assert int(r.min()) >= 3 and int(r.max()) < 5
    p = dg.randperm(10)
    assert sorted(p.tolist()) == list(range(10))
    assert dg.rand_like(dg.zeros(2, dtype=dg.float64)).dtype is dg.float64
    assert dg.randn_like(dg.zeros(2, 2)).shape == (2, 2)
    n = dg.normal(2.0, 0.5, size=(4000,))
    assert abs(float(n.mean()) - 2.0) < 0.05 and abs(float(n.std()) - 0.5) < 0.05
    n2 = dg.normal(dg.zeros(3), dg.ones(3))
    assert n2.shape == (3,)


def test_factory_errors():
    with pytest.raises(RuntimeError, match="negative dimension"):
        dg.zeros(2, -1)
    with pytest.raises(RuntimeError, match="step must be nonzero"):
        dg.arange(0, 1, 0)


def test_manual_seed_and_generator_reproducible():
    dg.manual_seed(123)
    a = dg.randn(5)
    dg.manual_seed(123)
    b = dg.randn(5)
    assert_close(a, b)
    g = dg.Generator().manual_seed(7)
    c = dg.rand(3, generator=g)
    g.manual_seed(7)
    assert_close(dg.rand(3, generator=g), c)
    state = g.get_state()
    d1 = dg.rand(3, generator=g)
    g.set_state(state)
    assert_close(dg.rand(3, generator=g), d1)


def test_legacy_constructors():
    t = dg.Tensor([1, 2])
    assert t.dtype is dg.float32
    assert dg.Tensor(2, 3).shape == (2, 3)
    assert dg.LongTensor([1, 2]).dtype is dg.int64
    assert dg.FloatTensor([1]).dtype is dg.float32


# ----- memory sharing -------------------------------------------------------------------------

def test_from_numpy_shares_memory_both_ways():
    a = np.zeros(3, dtype=np.float32)
    t = dg.from_numpy(a)
    a[0] = 5
    assert float(t[0]) == 5
    t[1] = 7
    assert a[1] == 7
    assert t.numpy() is a or np.shares_memory(t.numpy(), a)


def test_as_tensor_shares_and_tensor_copies():
    a = np.arange(3.0)
    assert np.shares_memory(dg.as_tensor(a).numpy(), a)
    assert not np.shares_memory(dg.tensor(a).numpy(), a)


def test_numpy_requires_grad_error():
    x = dg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0, 1.0]
    assert np.asarray(x.detach()).shape == (2,)


def test_unsupported_numpy_dtype():
    with pytest.raises(TypeError, match="unsupported dtype"):
        dg.from_numpy(np.zeros(2, dtype=np.complex64))
    with pytest.raises(TypeError, match="uint8"):
        dg.from_numpy(np.zeros(2, dtype=np.uint32))


# ----- the Python protocol ----------------------------------------------------------------------

def test_size_is_a_sliceable_tuple():
    x = dg.zeros(2, 3, 4)
    s = x.size()
    assert isinstance(s, tuple) and s == (2, 3, 4) and s[1:] == (3, 4)
    assert isinstance(s[1:], dg.Size) and s.numel() == 24
    assert x.size(-1) == 4 and x.shape == (2, 3, 4) and x.ndim == 3 and x.dim() == 3
    assert x.numel() == 24 and len(x) == 2
    assert repr(s) == "dyngraph.Size([2, 3, 4])"
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.size(3)


def test_item_tolist_bool_float_int_index():
    assert dg.tensor([[2.5]]).item() == 2.5
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        dg.tensor([1.0, 2.0]).item()
    assert dg.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert bool(dg.tensor([1.0])) is True
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(dg.tensor([1.0, 2.0]))
    assert float(dg.tensor(2)) == 2.0 and int(dg.tensor(2.7)) == 2
    assert [10, 20, 30][dg.tensor(1)] == 20


def test_iteration_and_len():
    x = dg.arange(6).reshape(3, 2)
    rows = list(x)
    assert len(rows) == 3 and rows[1].tolist() == [2, 3]
    with pytest.raises(TypeError, match="0-d"):
        iter(dg.tensor(1.0))


def test_format_0d():
    assert f"{dg.tensor(3.14159):.2f}" == "3.14"
    assert "{:+.2f}".format(dg.tensor(2.0)) == "+2.00"


def test_to_and_type_conversions():
    x = dg.tensor([1.7, -2.2])
    assert x.long().tolist() == [1, -2] and x.long().dtype is dg.int64
    assert x.int().dtype is dg.int32 and x.bool().dtype is dg.bool and x.half().dtype is dg.float16
    assert x.double().dtype is dg.float64 and x.to(dg.float64).dtype is dg.float64
    assert x.to("cpu") is x and x.cpu() is x
    assert x.type() == "dyngraph.FloatTensor" and x.type(dg.float64).dtype is dg.float64
    assert x.to(dg.zeros(1, dtype=dg.int16)).dtype is dg.int16
    c = x.to(dg.float32, copy=True)
    assert c is not x
    assert x.is_floating_point() and not x.long().is_floating_point()


def test_cast_is_differentiable():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * 3
    y.sum().backward()
    assert x.grad.dtype is dg.float32
    assert_close(x.grad, [3.0, 3.0])


def test_clone_contiguous_stride():
    x = dg.arange(6.0).reshape(2, 3)
    t = x.t()
    assert not t.is_contiguous() and t.contiguous().is_contiguous()
    assert x.stride() == (3, 1) and t.stride() == (1, 3)
    c = x.clone()
    c[0, 0] = 100
    assert float(x[0, 0]) == 0


def test_data_attribute():
    x = dg.ones(2, requires_grad=True)
    d = x.data
    assert not d.requires_grad
    d.mul_(3)
    assert x.detach().tolist() == [3.0, 3.0]


def test_pickle_refused_with_advice():
    import pickle
    with pytest.raises(TypeError, match="dyngraph.save"):
        pickle.dumps(dg.ones(2))


def test_deepcopy():
    import copy
    x = dg.ones(2, requires_grad=True)
    y = copy.deepcopy(x)
    assert y is not x and y.requires_grad and y.tolist() == [1.0, 1.0]


# ----- DLPack -----------------------------------------------------------------------------------

def test_dlpack_with_numpy():
    x = dg.arange(4.0)
    a = np.from_dlpack(x)
    a[0] = 9
    assert float(x[0]) == 9
    back = dg.from_dlpack(np.arange(3.0))
    assert back.tolist() == [0.0, 1.0, 2.0]
    assert x.__dlpack_device__()[0] == 1


@requires_torch
def test_dlpack_with_torch():
    x = dg.arange(4.0)
    t = torch.from_dlpack(x)
    t[1] = 42
    assert float(x[1]) == 42
    y = dg.from_dlpack(torch.arange(3.0))
    assert y.tolist() == [0.0, 1.0, 2.0]


# ----- devices ----------------------------------------------------------------------------------

def test_device_object():
    d = dg.device("cuda:1")
    assert d.type == "cuda" and d.index == 1 and str(d) == "cuda:1"
    assert dg.device("cpu") == "cpu" and dg.device("cuda", 0) == dg.device("cuda:0")
    assert repr(dg.device("cpu")) == "device(type='cpu')"
    with pytest.raises(ValueError, match="unknown device type"):
        dg.device("tpu")
    assert dg.ones(2).device == dg.device("cpu") and not dg.ones(2).is_cuda


def test_cuda_queries_without_gpu():
    if dg.cuda.is_available():
        pytest.skip("a GPU is present")
    assert dg.cuda.device_count() == 0
    assert not dg.accelerator.is_available() and dg.accelerator.current_accelerator() is None
    with pytest.raises(RuntimeError, match="(CUDA is not available|cupy)"):
        dg.ones(2).to("cuda")


def test_default_device():
    dg.set_default_device("cpu")
    assert dg.zeros(1).device.type == "cpu"
    dg.set_default_device(None)


# ----- import cost --------------------------------------------------------------------------------

def test_import_does_not_load_compiler_dependencies():
    code = ("import sys, dyngraph; bad = [m for m in ('llvmlite', 'networkx', 'torch', 'cupy', "
            "'scipy') if m in sys.modules]; print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import dyngraph pulled in: {out.stdout.strip()}"


@requires_torch
def test_tensor_from_values_beyond_the_dtype_range_gives_inf_quietly():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dt, tdt in ((dg.float32, torch.float32), (dg.float16, torch.float16)):
            got = dg.tensor([1e40, -1e40, 1.0], dtype=dt).numpy()
            want = torch.tensor([1e40, -1e40, 1.0], dtype=tdt).numpy()
            np.testing.assert_array_equal(got, want)
