"""Shared test helpers: oracles (numpy float64, PyTorch where installed) and tolerances."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg

try:  # PyTorch is an optional oracle: parity tests skip without it.
    import torch
except ImportError:  # pragma: no cover - exercised on machines without torch
    torch = None

requires_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")
# .ci/run installs torch 2.13: module reprs and warning texts are compared with that version
# only (torch 2.11, on the GPU machine, prints norms without 2.13's `bias=` field)
PINNED_TORCH = "2.13"
torch_is_pinned = torch is not None and torch.__version__.startswith(PINNED_TORCH + ".")
requires_pinned_torch = pytest.mark.skipif(
    not torch_is_pinned, reason=f"compares text with torch {PINNED_TORCH}, the version .ci/run "
    f"installs (found {getattr(torch, '__version__', 'none')})")


def assert_repr_like_torch(d, t) -> None:
    """`repr(d) == repr(t)` under the pinned torch; other versions print other fields."""
    if torch_is_pinned:
        assert repr(d) == repr(t)
requires_cuda = pytest.mark.skipif(not dg.cuda.is_available(), reason="no CUDA GPU")

TOL = {"float64": (1e-10, 1e-12), "float32": (1e-5, 1e-6), "float16": (1e-2, 1e-3),
       "bfloat16": (2e-2, 1e-2)}


def to_np(t) -> np.ndarray:
    """A tensor's values as numpy (float16/bfloat16 widened to float32)."""
    if isinstance(t, dg.Tensor):
        a = t.detach()._data
        if type(a) is not np.ndarray:
            a = a.get()
    else:
        a = np.asarray(t)
    if a.dtype.name == "bfloat16":
        a = a.astype(np.float32)
    return a


def assert_close(actual, expected, dtype: str = "float64", rtol=None, atol=None):
    """Compare a tensor with a numpy/torch/tensor reference at the dtype's tolerance."""
    r, a = TOL.get(dtype, (0, 0))
    if hasattr(expected, "detach") and not isinstance(expected, dg.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(to_np(actual), to_np(expected),
                               rtol=r if rtol is None else rtol, atol=a if atol is None else atol,
                               equal_nan=True)


@pytest.fixture(autouse=True)
def _seed():
    dg.manual_seed(0)
    np.random.seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` skip (with the reason) where no GPU is usable."""
    if dg.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (dyngraph.cuda.is_available() is False)")
    for item in items:
        # the marker, not `"cuda" in item.keywords`: keywords also hold the names of the
        # enclosing folders, so every test under tests/cuda/ would be skipped
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)
