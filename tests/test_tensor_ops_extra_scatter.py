"""dyngraph/ops/_scatter_extra.py against PyTorch: scatter_reduce, index_reduce, masked_scatter,
put, select_scatter and slice_scatter (values, dtypes, gradients with ties and zeros, finite
differences, in-place forms, errors), and scatter_reduce's cupy path through the cupy test
double. Their compiled calls are tested in test_tensor_ops_extra.py."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck, gradgradcheck
from tests.conftest import assert_close, requires_torch, to_np, torch
from tests.test_tensor_ops_extra import RNG, _grads_match, _pair, _raises_like_torch, _same

pytestmark = requires_torch

REDUCES = ["sum", "prod", "mean", "amax", "amin"]


# ----------------------------------------------------------------------------------------------
# scatter_reduce
# ----------------------------------------------------------------------------------------------

def _scatter_args(dim, dtype="float64", ties=False, src_like_index=False):
    x = RNG.integers(-3, 4, size=(4, 5)) if ties else RNG.normal(size=(4, 5))
    src = RNG.integers(-3, 4, size=(6, 5)) if ties else RNG.normal(size=(6, 5))
    shape = (6, 3) if dim == 0 else (3, 4)
    index = RNG.integers(0, 4 if dim == 0 else 5, size=shape)
    src = src if dim == 0 else RNG.integers(-3, 4, size=(4, 6)) if ties else \
        RNG.normal(size=(4, 6))
    if src_like_index:   # (torch's backward fails for a src larger than the index)
        src = src[tuple(slice(0, n) for n in shape)]
    return x.astype(dtype), index, src.astype(dtype)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_scatter_reduce_forward_matches_torch(reduce, include_self, dtype):
    for dim in (0, 1, -1):
        x, index, src = _scatter_args(dim % 2, dtype)
        if dtype == "int64":
            x, src = (RNG.integers(-9, 10, size=a.shape) for a in (x, src))
        (dx, tx), (di, ti), (ds, ts) = _pair(x), _pair(index), _pair(src)
        got = dg.scatter_reduce(dx, dim, di, ds, reduce, include_self=include_self)
        want = torch.scatter_reduce(tx, dim, ti, ts, reduce, include_self=include_self)
        _same(got, want)
        _same(dx.scatter_reduce(dim, di, ds, reduce=reduce, include_self=include_self), want)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_gradients_match_torch(reduce, include_self):
    for dim in (0, 1):
        # integer-valued floats: amax/amin ties and prod zeros (single and repeated) occur
        for ties in (False, True):
            x, index, src = _scatter_args(dim, ties=ties, src_like_index=True)
            _grads_match(
                lambda a, i, s, dim=dim: dg.scatter_reduce(a, dim, i, s, reduce,
                                                           include_self=include_self),
                lambda a, i, s, dim=dim: torch.scatter_reduce(a, dim, i, s, reduce,
                                                              include_self=include_self),
                [x, index, src])


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_gradcheck(reduce, include_self):
    x = dg.tensor(RNG.normal(size=(3, 4)), requires_grad=True)
    src = dg.tensor(RNG.normal(size=(5, 4)), requires_grad=True)
    index = dg.tensor(RNG.integers(0, 3, size=(5, 4)))

    def f(a, s):
        return dg.scatter_reduce(a, 0, index, s, reduce, include_self=include_self)
    assert gradcheck(f, (x, src), eps=1e-6, atol=1e-6, rtol=1e-4)
    if reduce in ("sum", "mean", "prod"):
        assert gradgradcheck(f, (x, src))


def test_scatter_reduce_edge_cases():
    # 0-d tensors, an empty index, a src larger than the index, int32 indices
    _same(dg.tensor(2.).scatter_reduce(0, dg.tensor(0), dg.tensor(5.), "prod"),
          torch.tensor(2.).scatter_reduce(0, torch.tensor(0), torch.tensor(5.), "prod"))
    x, tx = _pair([1., 2., 3.])
    e, te = _pair(np.zeros(0, np.int64))
    _same(x.scatter_reduce(0, e, dg.tensor([]).double(), "amax", include_self=False),
          tx.scatter_reduce(0, te, torch.tensor([]).double(), "amax", include_self=False))
    i, ti = _pair(np.array([2, 2], np.int32))
    s, ts = _pair([4., 5., 6., 7.])
    _same(x.scatter_reduce(0, i, s, "mean"), tx.scatter_reduce(0, ti, ts, "mean"))
    u, tu = _pair(np.array([1, 2], np.uint8))
    iu, tiu = _pair([0, 0])
    su, tsu = _pair(np.array([5, 6], np.uint8))
    _same(u.scatter_reduce(0, iu, su, "mean", include_self=False),
          tu.scatter_reduce(0, tiu, tsu, "mean", include_self=False))


def test_scatter_reduce_in_place_and_out():
    x, tx = _pair(RNG.normal(size=(3, 4)))
    i, ti = _pair(RNG.integers(0, 3, size=(2, 4)))
    s, ts = _pair(RNG.normal(size=(2, 4)))
    r = x.scatter_reduce_(0, i, s, "amin", include_self=False)
    assert r is x
    _same(x, tx.scatter_reduce_(0, ti, ts, "amin", include_self=False))
    out = dg.empty(3, 4, dtype=dg.float64)
    dg.scatter_reduce(x, 1, i, s, "sum", out=out)
    _same(out, torch.scatter_reduce(tx, 1, ti, ts, "sum"))
    # in place on a non-leaf keeps the gradient right
    a, ta = _pair(RNG.normal(size=(3, 4)), grad=True)
    y, ty = a * 2, ta * 2
    y.scatter_reduce_(0, i, s, "prod")
    ty.scatter_reduce_(0, ti, ts, "prod")
    y.sum().backward()
    ty.sum().backward()
    assert_close(a.grad, ta.grad)


def test_scatter_reduce_errors():
    x, tx = _pair([1., 2., 3.])
    i, ti = _pair([0, 1])
    s, ts = _pair([1., 2.])
    _raises_like_torch(lambda: x.scatter_reduce(0, i, s, "max2"),
                       lambda: tx.scatter_reduce(0, ti, ts, "max2"), "sum, prod, mean, amax")
    _raises_like_torch(lambda: x.scatter_reduce(0, i, s.float(), "sum"),
                       lambda: tx.scatter_reduce(0, ti, ts.float(), "sum"), "same dtype")
    _raises_like_torch(lambda: x.scatter_reduce(0, i.double(), s, "sum"),
                       lambda: tx.scatter_reduce(0, ti.double(), ts, "sum"), "int")
    _raises_like_torch(lambda: x.scatter_reduce(0, dg.tensor([0, 3]), s, "sum"),
                       lambda: tx.scatter_reduce(0, torch.tensor([0, 3]), ts, "sum"),
                       "out of bounds")
    _raises_like_torch(lambda: x.scatter_reduce(0, dg.tensor([0, 1, 2]), s, "sum"),
                       lambda: tx.scatter_reduce(0, torch.tensor([0, 1, 2]), ts, "sum"),
                       "no larger")
    _raises_like_torch(lambda: x.scatter_reduce(1, i, s, "sum"),
                       lambda: tx.scatter_reduce(1, ti, ts, "sum"))


# ----------------------------------------------------------------------------------------------
# index_reduce
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta")
def test_index_reduce_matches_torch(reduce, include_self):
    for dim, ties in ((0, False), (1, False), (0, True), (-1, True)):
        x = RNG.integers(-2, 3, size=(4, 3)).astype(float) if ties else RNG.normal(size=(4, 3))
        n = 5
        sshape = (n, 3) if dim == 0 else (4, n)
        src = RNG.integers(-2, 3, size=sshape).astype(float) if ties else \
            RNG.normal(size=sshape)
        index = RNG.integers(0, x.shape[dim], size=n)
        _grads_match(
            lambda a, i, s, d=dim: a.index_reduce(d, i, s, reduce, include_self=include_self),
            lambda a, i, s, d=dim: a.index_reduce(d, i, s, reduce, include_self=include_self),
            [x, index, src])
    xi, txi = _pair([[-7, 2]])
    ii, tii = _pair([0, 0])
    si, tsi = _pair([[0, 0], [0, 5]])
    _same(xi.index_reduce(0, ii, si, reduce, include_self=include_self),
          txi.index_reduce(0, tii, tsi, reduce, include_self=include_self))


def test_index_reduce_gradcheck_and_in_place():
    x = dg.tensor(RNG.normal(size=(3, 2)), requires_grad=True)
    s = dg.tensor(RNG.normal(size=(4, 2)), requires_grad=True)
    i = dg.tensor([0, 2, 0, 0])
    for reduce in ("prod", "mean", "amax"):
        assert gradcheck(lambda a, b, r=reduce: dg.index_reduce(a, 0, i, b, r), (x, s))
    y, ty = _pair(np.ones((3, 2)))
    assert y.index_reduce_(0, i, s.detach(), "prod") is y
    _same(y, ty.index_reduce_(0, torch.tensor([0, 2, 0, 0]), torch.tensor(to_np(s)), "prod"))


def test_index_reduce_errors():
    x, tx = _pair(np.ones((3, 2)))
    s, ts = _pair(np.ones((3, 2)))
    i, ti = _pair([0, 2, 0])
    _raises_like_torch(lambda: x.index_reduce(0, i, s, "sum"),
                       lambda: tx.index_reduce(0, ti, ts, "sum"), "prod, mean, amax or amin")
    _raises_like_torch(lambda: x.index_reduce(0, i.float(), s, "prod"),
                       lambda: tx.index_reduce(0, ti.float(), ts, "prod"), "int32/int64")
    _raises_like_torch(lambda: x.index_reduce(0, i[:2], s, "prod"),
                       lambda: tx.index_reduce(0, ti[:2], ts, "prod"), "Number of indices")
    _raises_like_torch(lambda: x.index_reduce(0, i.reshape(3, 1), s, "prod"),
                       lambda: tx.index_reduce(0, ti.reshape(3, 1), ts, "prod"), "vector")
    _raises_like_torch(lambda: x.index_reduce(0, dg.tensor([0, 5, 0]), s, "prod"),
                       lambda: tx.index_reduce(0, torch.tensor([0, 5, 0]), ts, "prod"),
                       "out of range")
    _raises_like_torch(lambda: x.index_reduce(0, i, s.float(), "prod"),
                       lambda: tx.index_reduce(0, ti, ts.float(), "prod"), "same dtype")


# ----------------------------------------------------------------------------------------------
# masked_scatter, put, select_scatter, slice_scatter
# ----------------------------------------------------------------------------------------------

def test_masked_scatter_matches_torch():
    mask = RNG.random((3, 4)) < 0.5
    for x_shape, m in (((3, 4), mask), ((4,), mask), ((3, 4), mask[0]), ((3, 1), mask)):
        _grads_match(lambda x, mk, s: x.masked_scatter(mk, s),
                     lambda x, mk, s: x.masked_scatter(mk, s),
                     [RNG.normal(size=x_shape), m, RNG.normal(size=(2, 7))])
    # no Trues, empty source
    x, tx = _pair(np.zeros((2, 2)))
    none, tnone = _pair(np.zeros((2, 2), bool))
    _same(x.masked_scatter(none, dg.tensor([], dtype=dg.float64)),
          tx.masked_scatter(tnone, torch.tensor([], dtype=torch.float64)))
    # in place, with a mask that broadcasts to self
    y, ty = _pair(np.zeros((3, 4)))
    m1, tm1 = _pair(mask[1])
    src, tsrc = _pair(np.arange(12.))
    assert y.masked_scatter_(m1, src) is y
    _same(y, ty.masked_scatter_(tm1, tsrc))


def test_masked_scatter_errors():
    x, tx = _pair(np.zeros((2, 3)))
    m, tm = _pair(np.array([[True, False, True], [False, True, False]]))
    _raises_like_torch(lambda: x.masked_scatter(m, dg.arange(2.).double()),
                       lambda: tx.masked_scatter(tm, torch.arange(2.).double()),
                       "Number of elements of source")
    _raises_like_torch(lambda: x.masked_scatter(m.int(), dg.arange(6.).double()),
                       lambda: tx.masked_scatter(tm.int(), torch.arange(6.).double()),
                       "boolean masks")
    _raises_like_torch(lambda: x.masked_scatter(m, dg.arange(6.)),
                       lambda: tx.masked_scatter(tm, torch.arange(6.)), "same dtype")


def test_put_matches_torch():
    for acc in (False, True):
        index = np.array([[0, -1], [4, 1]]) if not acc else np.array([0, -1, 0, 5, 5])
        _grads_match(lambda x, i, s, acc=acc: x.put(i, s, accumulate=acc),
                     lambda x, i, s, acc=acc: x.put(i, s, accumulate=acc),
                     [RNG.normal(size=(2, 3)), index, RNG.normal(size=index.shape)])
        _grads_match(lambda x, i, s, acc=acc: dg.put(x, i, s, acc),
                     lambda x, i, s, acc=acc: torch.put(x, i, s, acc),
                     [RNG.normal(size=()), np.array([0]), RNG.normal(size=(1,))])
    y, ty = _pair(np.zeros(4))
    assert y.put_(dg.tensor([1, 1]), dg.tensor([2., 3.]).double(), accumulate=True) is y
    _same(y, ty.put_(torch.tensor([1, 1]), torch.tensor([2., 3.]).double(), True))


def test_put_errors():
    def cases(m):
        x = m.zeros(2, 3, dtype=m.float64)
        one, two, three = (m.arange(float(n), dtype=m.float64) for n in (1, 2, 3))
        return [
            (lambda: x.put(m.tensor([0, 6]), two), "access index 6"),
            (lambda: x.put(m.tensor([0, -7]), two), "access index -7"),
            (lambda: x.put(m.tensor([0, 1]), three), "same number of elements"),
            (lambda: x.put(m.tensor([0., 1.]), two), "long tensor"),
            (lambda: x.put(m.tensor([0, 1]).int(), two), "long tensor"),
            (lambda: x.put(m.tensor([0, 1]), m.tensor([1, 2])), "same dtype"),
            (lambda: m.zeros(0, dtype=m.float64).put(m.tensor([0]), one), "empty tensor"),
        ]
    for (dfn, match), (tfn, _) in zip(cases(dg), cases(torch)):
        _raises_like_torch(dfn, tfn, match)


def test_select_and_slice_scatter_match_torch():
    x = RNG.normal(size=(3, 4))
    for dim, index in ((0, 1), (1, -1), (-2, 2)):
        want_shape = tuple(s for i, s in enumerate(x.shape) if i != dim % 2)
        _grads_match(lambda a, s, k=(dim, index): dg.select_scatter(a, s, *k),
                     lambda a, s, k=(dim, index): torch.select_scatter(a, s, *k),
                     [x, RNG.normal(size=want_shape)])
    for dim, start, end, step in ((0, None, None, 1), (1, 1, 3, 1), (1, 0, None, 2),
                                  (1, -1, None, 1), (0, -10, 10, 2), (1, 5, 2, 1)):
        length = len(range(*slice(start, end, step).indices(x.shape[dim])))
        sshape = (length, 4) if dim == 0 else (3, length)
        k = (dim, start, end, step)
        _grads_match(lambda a, s, k=k: a.slice_scatter(s, *k),
                     lambda a, s, k=k: a.slice_scatter(s, *k),
                     [x, RNG.normal(size=sshape)])
    # src is cast to input's dtype, as in PyTorch
    a, ta = _pair(np.zeros((2, 3), np.float32))
    _same(dg.select_scatter(a, dg.ones(3, dtype=dg.float64), 0, 0),
          torch.select_scatter(ta, torch.ones(3, dtype=torch.float64), 0, 0))


def test_select_and_slice_scatter_errors():
    x, tx = _pair(np.zeros((2, 3)))
    _raises_like_torch(lambda: dg.select_scatter(x, dg.ones(3), 0, 2),
                       lambda: torch.select_scatter(tx, torch.ones(3), 0, 2), "out of range")
    _raises_like_torch(lambda: dg.select_scatter(x, dg.ones(2), 0, 0),
                       lambda: torch.select_scatter(tx, torch.ones(2), 0, 0), "slice of self")
    _raises_like_torch(lambda: dg.select_scatter(dg.tensor(1.), dg.tensor(2.), 0, 0),
                       lambda: torch.select_scatter(torch.tensor(1.), torch.tensor(2.), 0, 0),
                       "0-dim")
    _raises_like_torch(lambda: dg.slice_scatter(x, dg.ones(2, 2), 1, 1, 2),
                       lambda: torch.slice_scatter(tx, torch.ones(2, 2), 1, 1, 2),
                       "slice of self")
    _raises_like_torch(lambda: dg.slice_scatter(x, dg.ones(2, 3), step=0),
                       lambda: torch.slice_scatter(tx, torch.ones(2, 3), step=0),
                       "step must be positive")


# ----------------------------------------------------------------------------------------------
# The cupy paths of the eager rules, through the cupy test double (tests/cuda/fake_cupy.py)
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_cupy_path_matches_numpy(monkeypatch, reduce, include_self):
    from dyngraph.ops import _scatter_extra
    from dyngraph.ops.tensor_ops_extra import as_strided_op, unfold_op
    from tests.cuda import fake_cupy as fc

    def scatter_add(out, key, values):   # cupyx.scatter_add's contract, on numpy
        np.add.at(out.view(np.ndarray), key, np.asarray(values))
    monkeypatch.setattr(_scatter_extra, "_scatter_add_cupy", scatter_add)
    op = _scatter_extra.scatter_reduce_op
    for dtype in ("float64", "int64"):
        for dim in (0, 1):
            x, index, src = _scatter_args(dim, dtype, ties=True)
            want = op.eager(np, x, index, src, dim=dim, reduce=reduce, include_self=include_self)
            with fc.installed(monkeypatch) as fake:
                got = op.eager(fake, fc.on_device(x), fc.on_device(index), fc.on_device(src),
                               dim=dim, reduce=reduce, include_self=include_self)
            assert type(got) is fc.FakeArray
            np.testing.assert_array_equal(got.get(), want)
    a = RNG.normal(size=(3, 8))
    with fc.installed(monkeypatch) as fake:
        w = unfold_op.eager(fake, fc.on_device(a), dim=1, size=3, step=2)
        s = as_strided_op.eager(fake, fc.on_device(a), size=(2, 3), stride=(1, 2), offset=1)
    np.testing.assert_array_equal(np.asarray(w), unfold_op.eager(np, a, dim=1, size=3, step=2))
    np.testing.assert_array_equal(np.asarray(s), a.reshape(-1)[1:][[[0, 2, 4], [1, 3, 5]]])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("reduce", REDUCES)
def test_scatter_reduce_half_precision_matches_torch(dtype, reduce):
    x, index, src = _scatter_args(0, ties=True)
    for include_self in (True, False):
        got = dg.tensor(x).to(getattr(dg, dtype)).scatter_reduce(
            0, dg.tensor(index), dg.tensor(src).to(getattr(dg, dtype)), reduce,
            include_self=include_self)
        want = torch.tensor(x).to(getattr(torch, dtype)).scatter_reduce(
            0, torch.tensor(index), torch.tensor(src).to(getattr(torch, dtype)), reduce,
            include_self=include_self)
        assert got.dtype.name == dtype
        assert_close(got, want.float(), rtol=1e-2, atol=1e-2)
