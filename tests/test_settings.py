"""Global settings (dyngraph/_settings.py) and memory formats (dyngraph/_memory_format.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import _settings
from dyngraph.autograd.anomaly import ANOMALY, check_anomaly
from tests.conftest import assert_close, requires_torch, torch


@pytest.fixture
def restore_settings():
    from runtime import blas
    saved, anomaly, limit = dict(_settings._state), dict(ANOMALY), dict(blas._LIMIT)
    threads = dg.get_num_threads()
    yield
    _settings._state.update(saved)
    ANOMALY.update(anomaly)
    dg.set_num_threads(threads)
    blas._LIMIT.update(limit)


def test_num_threads_reach_llvm_kernels_and_blas(restore_settings):
    from runtime import blas, llvm_backend
    dg.set_num_threads(3)
    assert dg.get_num_threads() == 3 == llvm_backend._threads["n"]
    assert blas.threads_for(1024, 1024, 1024) == 3 and blas.threads_for(8, 8, 8) == 1
    if blas.threads_address():   # OpenBLAS's per-thread count is readable by setting it again
        assert blas.set_threads(3) == 3
    dg.set_num_threads(1)
    assert llvm_backend._threads["n"] == 1 and llvm_backend._pool() is None
    assert blas.threads_for(1024, 1024, 1024) == 1
    if blas.threads_address():
        assert blas.set_threads(1) == 1
    with pytest.raises(RuntimeError, match="expects a positive integer"):
        dg.set_num_threads(0)
    with pytest.raises(RuntimeError, match="expects an int"):
        dg.set_num_threads(2.5)


def test_interop_precision_determinism_warn_always(restore_settings):
    dg.set_num_interop_threads(2)
    assert dg.get_num_interop_threads() == 2
    with pytest.raises(RuntimeError, match="set_num_interop_threads expects a positive integer"):
        dg.set_num_interop_threads(0)
    assert dg.get_float32_matmul_precision() == "highest"
    dg.set_float32_matmul_precision("medium")
    assert dg.get_float32_matmul_precision() == "medium"
    with pytest.warns(UserWarning, match="is not one of 'highest', 'high', or 'medium'"):
        dg.set_float32_matmul_precision("low")
    assert dg.get_float32_matmul_precision() == "medium"
    assert not dg.are_deterministic_algorithms_enabled()
    dg.use_deterministic_algorithms(True, warn_only=True)
    assert dg.are_deterministic_algorithms_enabled()
    assert dg.is_deterministic_algorithms_warn_only_enabled()
    assert dg.get_deterministic_debug_mode() == 1
    dg.set_deterministic_debug_mode("error")
    assert dg.get_deterministic_debug_mode() == 2
    assert not dg.is_deterministic_algorithms_warn_only_enabled()
    dg.set_deterministic_debug_mode(0)
    assert not dg.are_deterministic_algorithms_enabled()
    with pytest.raises(RuntimeError, match="expected one of `default`, `warn`, `error`"):
        dg.set_deterministic_debug_mode("bad")
    with pytest.raises(RuntimeError, match="expected 0, 1, or 2, but got 3"):
        dg.set_deterministic_debug_mode(3)
    with pytest.raises(TypeError, match="must be bool"):
        dg.use_deterministic_algorithms("yes")
    dg.set_warn_always(True)
    assert dg.is_warn_always_enabled()
    with pytest.raises(RuntimeError, match="expects a bool"):
        dg.set_warn_always(1)
    assert dg.set_flush_denormal(True) is False


@requires_torch
def test_settings_match_torch_defaults():
    assert dg.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
    assert dg.get_deterministic_debug_mode() == torch.get_deterministic_debug_mode()
    assert dg.is_anomaly_enabled() == torch.is_anomaly_enabled()
    assert dg.is_anomaly_check_nan_enabled() == torch.is_anomaly_check_nan_enabled()
    assert dg.is_warn_always_enabled() == torch.is_warn_always_enabled()


def test_anomaly_flags_and_context_managers(restore_settings):
    assert not dg.is_anomaly_enabled()
    with dg.autograd.detect_anomaly(check_nan=False):
        assert dg.is_anomaly_enabled() and not dg.is_anomaly_check_nan_enabled()
    assert not dg.is_anomaly_enabled() and dg.is_anomaly_check_nan_enabled()

    @dg.autograd.detect_anomaly()
    def inside():
        return dg.is_anomaly_enabled()
    assert inside() and not dg.is_anomaly_enabled()
    with dg.autograd.set_detect_anomaly(True):
        assert dg.is_anomaly_enabled()
    assert not dg.is_anomaly_enabled()
    dg.autograd.set_detect_anomaly(True)
    assert dg.is_anomaly_enabled()
    dg.set_anomaly_enabled(False)
    assert not dg.is_anomaly_enabled()


def test_check_anomaly_names_the_node(restore_settings):
    x = dg.tensor([0.0, 1.0], requires_grad=True)
    y = x.sqrt()
    nan_grad = (dg.tensor([float("nan"), 1.0]),)
    check_anomaly(y.grad_fn, nan_grad)     # anomaly mode off: no check
    with dg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match=r"Function 'SqrtBackward0' returned nan values "
                                               r"in its 0th output\."):
            check_anomaly(y.grad_fn, nan_grad)
        check_anomaly(y.grad_fn, (dg.ones(2), None))


def test_anomaly_mode_names_the_node_that_made_a_nan_in_backward(restore_settings):
    x = dg.tensor([0.0, -1.0], requires_grad=True)
    y = (x.sqrt() * 0.0).sum()          # sqrt(-1) is nan; its backward gives nan (and inf)
    with dg.autograd.detect_anomaly():
        with pytest.raises(RuntimeError, match="returned nan values in its 0th output"):
            y.backward(retain_graph=True)
    y.backward()                         # mode off: no check, the nan reaches x.grad
    assert np.isnan(x.grad.numpy()).any()


@requires_torch
def test_memory_formats_like_torch():
    a = np.arange(120.0).reshape(2, 3, 4, 5)
    d, t = dg.tensor(a), torch.tensor(a)
    for fmt, tfmt in ((dg.channels_last, torch.channels_last),
                      (dg.contiguous_format, torch.contiguous_format)):
        cd, ct = d.contiguous(memory_format=fmt), t.contiguous(memory_format=tfmt)
        assert cd.stride() == ct.stride()
        assert_close(cd, ct)
        assert cd.is_contiguous(memory_format=fmt)
        assert cd.is_contiguous() == ct.is_contiguous()
        assert cd.clone().stride() == ct.clone().stride()
        assert (cd + 1).stride() == (ct + 1).stride()
        assert d.to(memory_format=fmt).stride() == t.to(memory_format=tfmt).stride()
        assert d.clone(memory_format=fmt).stride() == t.clone(memory_format=tfmt).stride()
    cl = d.contiguous(memory_format=dg.channels_last)
    assert cl.contiguous(memory_format=dg.channels_last) is cl
    assert cl.to(dg.float32, memory_format=dg.channels_last).stride() == (60, 1, 15, 3)
    assert dg.ones(2, 3, 4, 5, 6).contiguous(memory_format=dg.channels_last_3d).stride() == \
        torch.ones(2, 3, 4, 5, 6).contiguous(memory_format=torch.channels_last_3d).stride()
    assert dg.ones(1, 3, 1, 1).is_contiguous(memory_format=dg.channels_last)
    assert not dg.ones(2, 3, 4).is_contiguous(memory_format=dg.channels_last)
    with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last format"):
        dg.ones(2, 3, 4).contiguous(memory_format=dg.channels_last)
    assert repr(dg.channels_last) == "dyngraph.channels_last"
    assert repr(dg.strided) == "dyngraph.strided" and d.layout is dg.strided
    assert isinstance(dg.channels_last, dg.memory_format) and isinstance(dg.strided, dg.layout)


def test_channels_last_is_differentiable_and_compiles():
    x = dg.randn(2, 3, 4, 4, requires_grad=True)
    y = x.contiguous(memory_format=dg.channels_last)
    (y * dg.arange(96.0).reshape(2, 3, 4, 4)).sum().backward()
    assert_close(x.grad, np.arange(96.0).reshape(2, 3, 4, 4), "float32")

    def fn(x):
        return (x.contiguous(memory_format=dg.channels_last) * 2).relu()

    cfn = dg.compile(fn, backend="llvm")
    x = dg.randn(2, 3, 4, 4)
    eager = fn(x)
    cfn(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(cfn(x), eager, "float32")
