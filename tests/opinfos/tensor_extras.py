"""OpInfo cases for dyngraph/ops/tensor_extras.py: searchsorted/bucketize, bincount, histc, mode,
nanmedian, quantile/nanquantile.

Ties, NaN, dtypes and the in-place samplers are tested in tests/test_tensor_extras.py.
"""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from tests.conftest import torch
from tests.opinfo import OpCase, rand

_rng = np.random.default_rng(90)
SEQ = np.sort(rand(9, seed=91))
SEQ2 = np.sort(rand(3, 6, seed=92), axis=-1)
VALS = rand(4, 5, seed=93)
VALS2 = rand(3, 4, seed=94)
COUNTS = _rng.integers(0, 7, size=25)
MODE_INTS = _rng.integers(0, 4, size=(3, 8))
NANS = rand(4, 6, seed=95)
NANS[_rng.random(size=NANS.shape) < 0.3] = np.nan


def _rows_searchsorted(seq, values, side):
    return np.stack([np.searchsorted(s, v, side=side) for s, v in zip(seq, values)])


def _mode(x, axis):
    """The smallest most frequent value along `axis` and the index of its last occurrence."""
    x = np.moveaxis(x, axis, -1)
    values, indices = [], []
    for row in x.reshape(-1, x.shape[-1]):
        vals, counts = np.unique(row, return_counts=True)
        v = vals[np.argmax(counts)]
        values.append(v)
        indices.append(np.flatnonzero(row == v)[-1])
    shape = x.shape[:-1]
    return np.array(values).reshape(shape), np.array(indices).reshape(shape)


def _nanmedian_values(x, axis):
    x = np.moveaxis(x, axis, -1)
    s = np.sort(x, axis=-1)                       # NaN last
    k = np.maximum((np.sum(~np.isnan(x), axis=-1, keepdims=True) - 1) // 2, 0)
    return np.take_along_axis(s, k, axis=-1)[..., 0]


def _histc(x, bins, lo, hi):
    return np.histogram(x, bins, range=(lo, hi))[0].astype(np.float64)


CASES = [
    OpCase("searchsorted", lambda s, v: dg.searchsorted(s, v), [SEQ, VALS],
           ref=lambda s, v: np.searchsorted(s, v),
           torch_fn=lambda s, v: torch.searchsorted(s, v), grad=False, name="1d"),
    OpCase("searchsorted", lambda s, v: dg.searchsorted(s, v, side="right"), [SEQ2, VALS2],
           ref=lambda s, v: _rows_searchsorted(s, v, "right"),
           torch_fn=lambda s, v: torch.searchsorted(s, v, side="right"),
           grad=False, name="batched_right"),
    OpCase("bucketize", lambda v, b: dg.bucketize(v, b, right=True), [VALS, SEQ],
           ref=lambda v, b: np.searchsorted(b, v, side="right"),
           torch_fn=lambda v, b: torch.bucketize(v, b, right=True), grad=False,
           composite=True),
    OpCase("bincount", lambda x: dg.bincount(x, minlength=9), [COUNTS],
           ref=lambda x: np.bincount(x, minlength=9),
           torch_fn=lambda x: x.bincount(minlength=9), grad=False, name="counts"),
    OpCase("bincount", lambda x, w: x.bincount(w), [COUNTS, rand(25, seed=96)],
           ref=lambda x, w: np.bincount(x, w),
           torch_fn=lambda x, w: x.bincount(w), grad=False, name="weights"),
    OpCase("histc", lambda x: dg.histc(x, 7, -1.5, 1.5), [rand(6, 9, seed=97)],
           ref=lambda x: _histc(x, 7, -1.5, 1.5),
           torch_fn=lambda x: x.histc(7, -1.5, 1.5), grad=False, name="range"),
    OpCase("histc", lambda x: x.histc(bins=5), [rand(40, seed=98)],
           ref=lambda x: _histc(x, 5, x.min(), x.max()),
           torch_fn=lambda x: x.histc(bins=5), grad=False, name="data_range"),
    OpCase("mode", lambda x: dg.mode(x, 1), [MODE_INTS], ref=lambda x: _mode(x, 1),
           torch_fn=lambda x: tuple(x.mode(1)), grad=False, name="ints"),
    OpCase("mode", lambda x: x.mode(0, keepdim=True).values, [rand(5, 3, seed=99)],
           ref=lambda x: _mode(x, 0)[0][None],
           torch_fn=lambda x: x.mode(0, keepdim=True).values, name="distinct_values_grad"),
    OpCase("nanmedian", lambda x: dg.nanmedian(x, -1).values, [NANS],
           ref=lambda x: _nanmedian_values(x, -1),
           torch_fn=lambda x: x.nanmedian(-1).values, composite=True, name="dim"),
    OpCase("nanmedian", lambda x: x.nanmedian(), [rand(3, 5, seed=100)],
           ref=lambda x: np.sort(x.reshape(-1))[(x.size - 1) // 2],
           torch_fn=lambda x: x.nanmedian(), composite=True, name="all"),
    OpCase("quantile", lambda x: dg.quantile(x, 0.3, 1, keepdim=True), [rand(4, 7, seed=101)],
           ref=lambda x: np.quantile(x, 0.3, axis=1, keepdims=True),
           torch_fn=lambda x: x.quantile(0.3, 1, keepdim=True), composite=True, name="linear"),
    OpCase("quantile", lambda x: x.quantile(0.6, interpolation="midpoint"),
           [rand(3, 5, seed=102)], ref=lambda x: np.quantile(x, 0.6, method="midpoint"),
           torch_fn=lambda x: x.quantile(0.6, interpolation="midpoint"), composite=True,
           name="midpoint"),
    OpCase("nanquantile", lambda x: dg.nanquantile(x, 0.75, 0), [NANS],
           ref=lambda x: np.nanquantile(x, 0.75, axis=0),
           torch_fn=lambda x: x.nanquantile(0.75, 0), composite=True),
]
