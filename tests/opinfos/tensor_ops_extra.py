"""OpInfo cases for dyngraph/ops/tensor_ops_extra.py and _scatter_extra.py: the unfold,
as_strided and scatter_reduce primitives, and the compositions trace, index_reduce,
masked_scatter, put, select_scatter, slice_scatter, addbmm and addr.

Ties, zeros, dtypes, errors, in-place forms and compiled calls are tested in
tests/test_tensor_ops_extra.py.
"""

from __future__ import annotations

import warnings

import numpy as np

import dyngraph as dg
from tests.conftest import torch
from tests.opinfo import OpCase, positive, rand

_rng = np.random.default_rng(140)
INDEX0 = _rng.integers(0, 3, size=(5, 4))           # scatter along dim 0 of a (3, 4) input
INDEX1 = _rng.integers(0, 4, size=(3, 6))           # scatter along dim 1 of a (3, 4) input
VEC_INDEX = np.array([0, 2, 0, 1, 2])
MASK = _rng.random((3, 4)) < 0.5
PUT_INDEX = np.array([0, 11, -1, 5, 5])


def _torch_index_reduce(x, i, s, reduce):
    """torch's index_reduce, without its 'in beta' warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return x.index_reduce(0, i, s, reduce)


def _windows(x, axis, size, step):
    """numpy's sliding windows along `axis`, every `step`, as a new last axis."""
    w = np.lib.stride_tricks.sliding_window_view(x, size, axis=axis)
    key = [slice(None)] * w.ndim
    key[axis] = slice(None, None, step)
    return w[tuple(key)]


def _strided(x, size, stride, offset=0):
    flat = np.ascontiguousarray(x).reshape(-1)[offset:]
    return np.lib.stride_tricks.as_strided(flat, size, [s * flat.itemsize for s in stride])


def _scatter_reduce_ref(x, index, src, dim, reduce, include_self):
    out = np.moveaxis(x.copy(), dim, 0)
    idx, s = np.moveaxis(index, dim, 0), np.moveaxis(src[tuple(slice(0, n) for n in
                                                                index.shape)], dim, 0)
    cols = np.indices(idx.shape)[1:]
    key = (idx,) + tuple(cols)
    ufunc = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum,
             "amin": np.minimum}[reduce]
    if not include_self:
        out[key] = {"sum": 0, "mean": 0, "prod": 1, "amax": -np.inf, "amin": np.inf}[reduce]
    ufunc.at(out, key, s)
    if reduce == "mean":
        count = np.zeros(out.shape) + include_self
        np.add.at(count, key, 1)
        out = out / np.maximum(count, 1)
    return np.moveaxis(out, 0, dim)


def _masked_scatter_ref(x, mask, src):
    out = x.copy()
    out[mask] = src.reshape(-1)[:mask.sum()]
    return out


def _put_ref(x, index, src, accumulate):
    out = x.copy().reshape(-1)
    if accumulate:
        np.add.at(out, index, src)
    else:
        out[index] = src
    return out.reshape(x.shape)


CASES = [
    OpCase("unfold", lambda x: x.unfold(1, 3, 2), [rand(3, 8, seed=141)],
           ref=lambda x: _windows(x, 1, 3, 2), torch_fn=lambda x: x.unfold(1, 3, 2),
           name="overlap"),
    OpCase("unfold", lambda x: x.unfold(0, 2, 3), [rand(7, 2, seed=142)],
           ref=lambda x: _windows(x, 0, 2, 3), torch_fn=lambda x: x.unfold(0, 2, 3),
           name="gaps"),
    OpCase("as_strided", lambda x: x.as_strided((3, 3), (2, 1), 1), [rand(3, 4, seed=143)],
           ref=lambda x: _strided(x, (3, 3), (2, 1), 1),
           torch_fn=lambda x: x.as_strided((3, 3), (2, 1), 1), name="overlap"),
    OpCase("as_strided", lambda x: dg.as_strided(x, (2, 3), (1, 2)), [rand(6, seed=144)],
           ref=lambda x: _strided(x, (2, 3), (1, 2)),
           torch_fn=lambda x: torch.as_strided(x, (2, 3), (1, 2)), name="transpose"),
] + [
    OpCase("scatter_reduce",
           lambda x, i, s, r=r, inc=inc: x.scatter_reduce(0, i, s, r, include_self=inc),
           [rand(3, 4, seed=145), INDEX0, rand(5, 4, seed=146)],
           ref=lambda x, i, s, r=r, inc=inc: _scatter_reduce_ref(x, i, s, 0, r, inc),
           torch_fn=lambda x, i, s, r=r, inc=inc: x.scatter_reduce(0, i, s, r,
                                                                   include_self=inc),
           name=f"{r}_{'self' if inc else 'noself'}")
    for r in ("sum", "prod", "mean", "amax", "amin") for inc in (True, False)
] + [
    OpCase("scatter_reduce", lambda x, i, s: dg.scatter_reduce(x, 1, i, s, "mean"),
           [rand(3, 4, seed=147), INDEX1, rand(3, 6, seed=148)],
           ref=lambda x, i, s: _scatter_reduce_ref(x, i, s, 1, "mean", True),
           torch_fn=lambda x, i, s: torch.scatter_reduce(x, 1, i, s, "mean"), name="dim1"),
    OpCase("trace", lambda x: dg.trace(x), [rand(4, 3, seed=149)],
           ref=lambda x: np.trace(x), torch_fn=lambda x: torch.trace(x), composite=True),
    OpCase("index_reduce", lambda x, i, s: x.index_reduce(0, i, s, "amax"),
           [rand(3, 4, seed=150), VEC_INDEX, rand(5, 4, seed=151)],
           ref=lambda x, i, s: _scatter_reduce_ref(x, np.broadcast_to(i[:, None], s.shape), s,
                                                   0, "amax", True),
           torch_fn=lambda x, i, s: _torch_index_reduce(x, i, s, "amax"), composite=True),
    OpCase("masked_scatter", lambda x, m, s: x.masked_scatter(m, s),
           [rand(3, 4, seed=152), MASK, rand(12, seed=153)], ref=_masked_scatter_ref,
           torch_fn=lambda x, m, s: x.masked_scatter(m, s), composite=True),
    OpCase("put", lambda x, i, s: x.put(i, s, accumulate=True),
           [rand(3, 4, seed=154), PUT_INDEX, rand(5, seed=155)],
           ref=lambda x, i, s: _put_ref(x, i, s, True),
           torch_fn=lambda x, i, s: x.put(i, s, accumulate=True), composite=True),
    OpCase("select_scatter", lambda x, s: dg.select_scatter(x, s, 1, 2),
           [rand(3, 4, seed=156), rand(3, seed=157)],
           ref=lambda x, s: np.concatenate([x[:, :2], s[:, None], x[:, 3:]], 1),
           torch_fn=lambda x, s: torch.select_scatter(x, s, 1, 2), composite=True),
    OpCase("slice_scatter", lambda x, s: dg.slice_scatter(x, s, 0, 1, None, 2),
           [rand(5, 2, seed=158), rand(2, 2, seed=159)],
           ref=lambda x, s: np.stack([x[0], s[0], x[2], s[1], x[4]]),
           torch_fn=lambda x, s: torch.slice_scatter(x, s, 0, 1, None, 2), composite=True),
    OpCase("addbmm", lambda i, a, b: dg.addbmm(i, a, b, beta=0.5, alpha=2.0),
           [rand(2, 3, seed=160), rand(4, 2, 5, seed=161), rand(4, 5, 3, seed=162)],
           ref=lambda i, a, b: 0.5 * i + 2.0 * np.einsum("bnm,bmp->np", a, b),
           torch_fn=lambda i, a, b: torch.addbmm(i, a, b, beta=0.5, alpha=2.0),
           composite=True),
    OpCase("addr", lambda i, a, b: i.addr(a, b, alpha=3.0),
           [positive(3, 1, seed=163), rand(3, seed=164), rand(4, seed=165)],
           ref=lambda i, a, b: i + 3.0 * np.outer(a, b),
           torch_fn=lambda i, a, b: i.addr(a, b, alpha=3.0), composite=True),
]
