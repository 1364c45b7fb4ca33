"""OpInfo cases for indexing and data-dependent addressing (dyngraph/ops/index.py)."""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from dyngraph._dispatch import apply
from dyngraph.ops.index import TensorSlot, getitem_backward_op
from tests.conftest import torch
from tests.opinfo import OpCase, rand

A = rand(3, 4, seed=11)
B = rand(2, 3, 4, seed=12)
MASK = rand(3, 4, seed=13) > 0
ROWS = np.array([2, 0, 2, 1])            # repeated index: gradients must add up
IDX2 = np.array([[0, 1, 1, 3], [2, 2, 0, 0]])
GIDX = np.array([[2, 0, 1, 2], [0, 0, 2, 1]])   # gather/scatter index along dim 0 of A
SIDX = np.array([[1, 0, 2, 0], [2, 1, 0, 1]])   # scatter: no repeats within a column
FLAT = np.array([[0, 11], [5, 5]])


def _np_gather(x, dim, idx):
    block = tuple(slice(None) if d == dim else slice(0, s) for d, s in enumerate(idx.shape))
    return np.take_along_axis(x[block], idx, dim)


def _np_scatter(x, dim, idx, src, add=False):
    out = x.copy()
    grid = list(np.indices(idx.shape))
    grid[dim] = idx
    src = src if np.isscalar(src) else src[tuple(slice(0, s) for s in idx.shape)]
    if add:
        np.add.at(out, tuple(grid), src)
    else:
        out[tuple(grid)] = src
    return out


def _np_index_put(x, key, v, accumulate):
    out = x.copy()
    if accumulate:
        np.add.at(out, key, v)
    else:
        out[key] = v
    return out


def _np_put(x, v, key):
    out = x.copy()
    out[key] = v
    return out


def _np_index_add(x, dim, idx, src):
    out = np.moveaxis(x.copy(), dim, 0)
    np.add.at(out, idx, np.moveaxis(src, dim, 0))
    return np.moveaxis(out, 0, dim)


def _np_getitem_backward(g, idx, key, shape):
    out = np.zeros(shape)
    np.add.at(out, tuple(idx if k == "i" else k for k in key), g)
    return out


def _getitem_backward(key, shape, inputs, name):
    static = tuple(TensorSlot(0) if k == "i" else k for k in key)
    return OpCase("getitem_backward",
                  lambda g, i: apply(getitem_backward_op, g, i, key=static, shape=shape),
                  inputs, ref=lambda g, i: _np_getitem_backward(g, i, key, shape), name=name)


def _setitem(x, key, v):
    y = x * 1.0           # a non-leaf, so writing into it is recorded by autograd
    y[key] = v
    return y


def _t(a):
    return dg.tensor(a)


def _tt(a):
    return torch.tensor(a)


CASES = [
    # getitem: basic keys (views)
    OpCase("getitem", lambda x: x[1], [A], ref=lambda x: x[1], torch_fn=lambda x: x[1],
           name="int"),
    OpCase("getitem", lambda x: x[:, -1], [A], ref=lambda x: x[:, -1],
           torch_fn=lambda x: x[:, -1], name="negative_int"),
    OpCase("getitem", lambda x: x[::2, 1::2], [A], ref=lambda x: x[::2, 1::2],
           torch_fn=lambda x: x[::2, 1::2], name="step_slices"),
    OpCase("getitem", lambda x: x[None, ..., None, 1:], [B], ref=lambda x: x[None, ..., None, 1:],
           torch_fn=lambda x: x[None, ..., None, 1:], name="none_ellipsis"),
    OpCase("getitem", lambda x: x[-5:100], [A], ref=lambda x: x[-5:100],
           torch_fn=lambda x: x[-5:100], name="clamped_slice"),
    # getitem: advanced keys (copies; repeated indices accumulate in the gradient)
    OpCase("getitem", lambda x, i: x[i], [A, ROWS], ref=lambda x, i: x[i],
           torch_fn=lambda x, i: x[i], name="int_tensor"),
    OpCase("getitem", lambda x: x[[0, -1, 0]], [A], ref=lambda x: x[[0, -1, 0]],
           torch_fn=lambda x: x[[0, -1, 0]], name="list"),
    OpCase("getitem", lambda x, i: x[:, i], [A, IDX2], ref=lambda x, i: x[:, i],
           torch_fn=lambda x, i: x[:, i], name="2d_index_tensor"),
    OpCase("getitem", lambda x, i, j: x[i, :, j], [B, np.array([1, 0, 1]), np.array([3, 3, 0])],
           ref=lambda x, i, j: x[i, :, j], torch_fn=lambda x, i, j: x[i, :, j],
           name="separated_index_tensors"),
    OpCase("getitem", lambda x, i: x[1:, i, None], [B, np.array([[2], [0]])],
           ref=lambda x, i: x[1:, i, None], torch_fn=lambda x, i: x[1:, i, None],
           name="slice_then_tensor"),
    OpCase("getitem", lambda x, m: x[m], [A, MASK], ref=lambda x, m: x[m],
           torch_fn=lambda x, m: x[m], name="bool_mask"),
    OpCase("getitem", lambda x, m: x[:, m[0]], [A, MASK], ref=lambda x, m: x[:, m[0]],
           torch_fn=lambda x, m: x[:, m[0]], name="bool_mask_dim1"),
    OpCase("getitem", lambda x, m: x[m[:, :1].reshape(3)], [B.reshape(3, 8), MASK],
           ref=lambda x, m: x[m[:, 0]], torch_fn=lambda x, m: x[m[:, :1].reshape(3)],
           name="bool_rows"),
    OpCase("getitem", lambda x: dg.masked_select(x, x > 0), [A], ref=lambda x: x[x > 0],
           torch_fn=lambda x: torch.masked_select(x, x > 0), name="masked_select"),
    OpCase("getitem", lambda x, m: x.masked_select(m[0]), [A, MASK],
           ref=lambda x, m: x[np.broadcast_to(m[0], x.shape)],
           torch_fn=lambda x, m: x.masked_select(m[0]), name="masked_select_broadcast"),
    OpCase("getitem", lambda x, i: x.index_select(1, i), [A, ROWS],
           ref=lambda x, i: x[:, i], torch_fn=lambda x, i: x.index_select(1, i),
           name="index_select"),
    OpCase("getitem", lambda x, i: dg.take(x, i), [A, FLAT], ref=lambda x, i: np.take(x, i),
           torch_fn=lambda x, i: torch.take(x, i), name="take"),
    # index_put: writes (and x[key] = v on a non-leaf)
    OpCase("index_put", lambda x, v: x.index_put((_t(ROWS[1:]),), v), [A, rand(3, 4, seed=14)],
           ref=lambda x, v: _np_index_put(x, (ROWS[1:],), v, False),
           torch_fn=lambda x, v: x.index_put((_tt(ROWS[1:]),), v)),
    OpCase("index_put", lambda x, v: x.index_put((_t(ROWS),), v, accumulate=True),
           [A, rand(4, seed=15)], ref=lambda x, v: _np_index_put(x, (ROWS,), v, True),
           torch_fn=lambda x, v: x.index_put((_tt(ROWS),), v, accumulate=True),
           name="accumulate_broadcast"),
    OpCase("index_put", lambda x, v: _setitem(x, (slice(None), 1), v), [A, rand(3, seed=16)],
           ref=lambda x, v: _np_put(x, v, (slice(None), 1)),
           torch_fn=lambda x, v: _setitem(x, (slice(None), 1), v), name="setitem_slice"),
    OpCase("index_put", lambda x, m: _setitem(x, m, 0.0), [A, MASK],
           ref=lambda x, m: _np_put(x, 0.0, m), torch_fn=lambda x, m: _setitem(x, m, 0.0),
           name="setitem_mask"),
    OpCase("index_put", lambda x, v, i: _setitem(x, (i, slice(1, 3)), v),
           [A, rand(2, 2, seed=17), np.array([2, 0])],
           ref=lambda x, v, i: _np_put(x, v, (i, slice(1, 3))),
           torch_fn=lambda x, v, i: _setitem(x, (i, slice(1, 3)), v), name="setitem_tensor"),
    OpCase("index_put", lambda x, s, i: x.index_add(1, i, s), [A, rand(3, 4, seed=18), ROWS],
           ref=lambda x, s, i: _np_index_add(x, 1, i, s),
           torch_fn=lambda x, s, i: x.index_add(1, i, s), name="index_add"),
    OpCase("index_put", lambda x, s, i: dg.index_add(x, 0, i, s, alpha=2.0),
           [A, rand(4, 4, seed=19), ROWS], ref=lambda x, s, i: _np_index_add(x, 0, i, 2 * s),
           torch_fn=lambda x, s, i: torch.index_add(x, 0, i, s, alpha=2.0),
           name="index_add_alpha"),
    OpCase("index_put", lambda x, s, i: x.index_copy(1, i, s), [A, rand(3, 2, seed=20),
                                                              np.array([3, 0])],
           ref=lambda x, s, i: _np_put(x, s, (slice(None), i)),
           torch_fn=lambda x, s, i: x.index_copy(1, i, s), name="index_copy"),
    OpCase("index_put", lambda x, i: x.index_fill(1, i, -1.5), [A, np.array([3, 0])],
           ref=lambda x, i: _np_put(x, -1.5, (slice(None), i)),
           torch_fn=lambda x, i: x.index_fill(1, i, -1.5), name="index_fill"),
    # getitem_backward: zeros with g accumulated at the key (the rows fast path and add.at)
    _getitem_backward(("i",), (3, 4), [rand(4, 4, seed=25), ROWS], "rows"),
    _getitem_backward((slice(None), "i"), (3, 5), [rand(3, 2, 4, seed=26), IDX2], "dim1_2d"),
    _getitem_backward(("i", slice(1, 3)), (3, 4), [rand(4, 2, seed=27), ROWS], "rows_slice"),
    _getitem_backward(("i",), (3, 4), [rand(int(MASK.sum()), seed=28), MASK], "mask"),
    # gather / scatter / scatter_add
    OpCase("gather", lambda x, i: x.gather(0, i), [A, GIDX], ref=lambda x, i: _np_gather(x, 0, i),
           torch_fn=lambda x, i: x.gather(0, i)),
    OpCase("gather", lambda x, i: dg.gather(x, -1, i), [A, IDX2[:, :3]],
           ref=lambda x, i: _np_gather(x, 1, i), torch_fn=lambda x, i: torch.gather(x, -1, i),
           name="smaller_index"),
    OpCase("gather", lambda x, i: dg.take_along_dim(x, i, 2), [B, np.array([[[3], [0], [1]]])],
           ref=lambda x, i: np.take_along_axis(x, np.broadcast_to(i, (2, 3, 1)), 2),
           torch_fn=lambda x, i: torch.take_along_dim(x, i, 2), name="take_along_dim_broadcast"),
    OpCase("gather", lambda x, i: x.take_along_dim(i, 0), [A[:, :1], np.array([[2, 0, 0, 1]])],
           ref=lambda x, i: np.take_along_axis(np.broadcast_to(x, (3, 4)), i, 0),
           torch_fn=lambda x, i: x.take_along_dim(i, 0), name="take_along_dim_input_broadcast"),
    OpCase("gather", lambda x, i: dg.take_along_dim(x, i), [A, FLAT],
           ref=lambda x, i: np.take_along_axis(x.reshape(-1), i.reshape(-1), 0),
           torch_fn=lambda x, i: torch.take_along_dim(x, i), name="take_along_dim_flat"),
    OpCase("scatter", lambda x, i, s: x.scatter(0, i, s), [A, SIDX, rand(2, 4, seed=21)],
           ref=lambda x, i, s: _np_scatter(x, 0, i, s),
           torch_fn=lambda x, i, s: x.scatter(0, i, s)),
    # (a src larger than index: PyTorch's own backward rejects this case, so numpy only)
    OpCase("scatter", lambda x, i, s: x.scatter(0, i, s), [A, SIDX[:, :3], rand(3, 4, seed=24)],
           ref=lambda x, i, s: _np_scatter(x, 0, i, s), name="bigger_src"),
    OpCase("scatter", lambda x, i: dg.scatter(x, 1, i, value=2.5), [A, IDX2[:, :2]],
           ref=lambda x, i: _np_scatter(x, 1, i, 2.5),
           torch_fn=lambda x, i: torch.scatter(x, 1, i, value=2.5), name="value"),
    OpCase("scatter_add", lambda x, i, s: x.scatter_add(0, i, s), [A, GIDX, rand(2, 4, seed=22)],
           ref=lambda x, i, s: _np_scatter(x, 0, i, s, add=True),
           torch_fn=lambda x, i, s: x.scatter_add(0, i, s)),
    OpCase("scatter_add", lambda x, i, s: dg.scatter(x, 1, i, s, reduce="add"),
           [A, IDX2[:, :3], rand(2, 4, seed=23)],
           ref=lambda x, i, s: _np_scatter(x, 1, i, s, add=True),
           name="reduce_add_bigger_src"),
    # masked_fill (where) and nonzero
    OpCase("where", lambda x, m: x.masked_fill(m, -1.0), [A, MASK],
           ref=lambda x, m: np.where(m, -1.0, x), torch_fn=lambda x, m: x.masked_fill(m, -1.0),
           name="masked_fill"),
    OpCase("where", lambda x, m, v: x.masked_fill(m[0], v), [A, MASK, np.array(0.5)],
           ref=lambda x, m, v: np.where(m[0], v, x),
           torch_fn=lambda x, m, v: x.masked_fill(m[0], v), name="masked_fill_tensor_value"),
    OpCase("nonzero", lambda x: dg.nonzero(x > 0), [A], ref=lambda x: np.argwhere(x > 0),
           torch_fn=lambda x: torch.nonzero(x > 0), grad=False),
    OpCase("nonzero", lambda x: dg.stack(dg.nonzero(x > 0, as_tuple=True)), [B],
           ref=lambda x: np.stack(np.nonzero(x > 0)),
           torch_fn=lambda x: torch.stack(torch.nonzero(x > 0, as_tuple=True)), grad=False,
           name="as_tuple"),
]
