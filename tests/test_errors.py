"""Bad input gets a clear error naming the op, the shapes or dtypes, and the fix."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
import dyngraph._dispatch as dispatch


def test_broadcast_mismatch_names_sizes():
    with pytest.raises(RuntimeError, match=r"add: the size of tensor a \(3\) must match the size "
                                           r"of tensor b \(4\) at non-singleton dimension 1"):
        dg.ones(2, 3) + dg.ones(2, 4)


def test_matmul_mismatch_names_shapes():
    with pytest.raises(RuntimeError,
                       match=r"matmul: shapes \(64, 784\) and \(512, 10\) cannot be multiplied "
                             r"\(784 != 512\)"):
        dg.ones(64, 784) @ dg.ones(512, 10)


def test_bad_dim():
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of "
                                         r"\[-2, 1\], but got 2\)"):
        dg.ones(2, 3).sum(dim=2)


def test_unsupported_dtype():
    with pytest.raises(TypeError, match="unsupported dtype complex128"):
        dg.tensor(np.array([1 + 2j]))


def test_backward_non_scalar():
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (dg.ones(3, requires_grad=True) * 2).backward()


def test_second_backward():
    x = dg.ones(3, requires_grad=True)
    y = (x.exp()).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_inplace_on_leaf():
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad.*no_grad"):
        dg.ones(3, requires_grad=True).mul_(2)


def test_inplace_result_cannot_be_cast():
    with pytest.raises(RuntimeError, match="result type Float.*can't be cast.*Int64"):
        dg.tensor([1, 2]).add_(1.5)


def test_mixed_devices(monkeypatch):
    class FakeCuda(np.ndarray):
        """Stands in for a cupy array so the device check runs without a GPU."""

    real = dispatch.device_of
    monkeypatch.setattr(dispatch, "device_of",
                        lambda a: dg.device("cuda:0") if isinstance(a, FakeCuda) else real(a))
    monkeypatch.setattr(dispatch, "get_array_module", lambda a: np)
    gpu = dg.ones(3)
    gpu._data = np.ones(3).view(FakeCuda)
    with pytest.raises(RuntimeError, match="same device.*cpu and cuda:0.*\\.to\\(device\\)"):
        dg.ones(3) + gpu


def test_non_float_requires_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        dg.tensor([1, 2], requires_grad=True)


def test_reshape_invalid():
    with pytest.raises(RuntimeError, match=r"shape '\[4, 4\]' is invalid for input of size 6"):
        dg.ones(2, 3).reshape(4, 4)


def test_index_out_of_range():
    with pytest.raises(IndexError, match="index 5 is out of bounds for dimension 0 with size 3"):
        dg.ones(3)[5]
