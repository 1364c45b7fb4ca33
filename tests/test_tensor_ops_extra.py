"""dyngraph/ops/tensor_ops_extra.py against PyTorch: trace, unfold, as_strided, addbmm, addr,
fill_diagonal_, unique_consecutive, the split/narrow variants and tensor metadata (values,
dtypes, gradients, finite differences, errors), and compiled calls of every op of the module
(the scatter family's eager tests are in test_tensor_ops_extra_scatter.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck, gradgradcheck
from tests.conftest import assert_close, requires_pinned_torch, requires_torch, to_np, torch

pytestmark = requires_torch

RNG = np.random.default_rng(2024)


def _pair(a, grad=False):
    """The same values as a dyngraph and a torch tensor (float64 stays float64)."""
    a = np.asarray(a)
    d, t = dg.tensor(a), torch.tensor(a)
    if grad:
        d.requires_grad_(True)
        t.requires_grad_(True)
    return d, t


def _same(got, want):
    """Equal values, shape and dtype name."""
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _same(g, w)
        return
    assert tuple(got.shape) == tuple(want.shape), (got.shape, want.shape)
    assert got.dtype.name == str(want.dtype).replace("torch.", ""), (got.dtype, want.dtype)
    assert_close(got, want)


def _grads_match(dfn, tfn, arrays, grad_mask=None, seed=0):
    """Forward values and the gradients of every float input match torch's (float64)."""
    grad_mask = grad_mask or [np.asarray(a).dtype.kind == "f" for a in arrays]
    pairs = [_pair(a, g) for a, g in zip(arrays, grad_mask)]
    got = dfn(*[p[0] for p in pairs])
    want = tfn(*[p[1] for p in pairs])
    _same(got, want)
    w = np.random.default_rng(seed).standard_normal(tuple(want.shape))
    want.backward(torch.tensor(w))
    got.backward(dg.tensor(w))
    for (d, t), g in zip(pairs, grad_mask):
        if g:
            tg = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
            dgr = to_np(d.grad) if d.grad is not None else np.zeros(d.shape)
            np.testing.assert_allclose(dgr, tg, rtol=1e-9, atol=1e-12)


def _raises_like_torch(dfn, tfn, match=None):
    """Both raise, with the same exception type (and dyngraph's message matches `match`)."""
    with pytest.raises(Exception) as te:
        tfn()
    with pytest.raises(te.type, match=match):
        dfn()


# ----------------------------------------------------------------------------------------------
# trace, unfold, as_strided
# ----------------------------------------------------------------------------------------------

@requires_pinned_torch   # torch 2.11's trace backward is wrong for non-square matrices
def test_trace_matches_torch():
    for shape in ((3, 3), (2, 5), (4, 1), (0, 3)):
        _grads_match(lambda a: dg.trace(a), lambda a: torch.trace(a), [RNG.normal(size=shape)])
    for dt in (np.int8, np.int32, np.int64, np.uint8):
        a, ta = _pair(np.arange(12).reshape(3, 4).astype(dt))
        _same(a.trace(), ta.trace())
    x = dg.tensor(RNG.normal(size=(3, 3)), requires_grad=True)
    assert gradcheck(dg.trace, (x,))
    _raises_like_torch(lambda: dg.trace(dg.zeros(2, 2, 2)),
                       lambda: torch.trace(torch.zeros(2, 2, 2)), "expected a matrix")
    _raises_like_torch(lambda: dg.trace(dg.ones(2, 2, dtype=dg.bool)),
                       lambda: torch.trace(torch.ones(2, 2, dtype=torch.bool)), "Bool")


@pytest.mark.parametrize("shape,dim,size,step", [
    ((7,), 0, 3, 2), ((7,), 0, 3, 1), ((7,), -1, 7, 3), ((7,), 0, 0, 1), ((3, 6), 1, 2, 2),
    ((4, 5, 2), 0, 2, 1), ((4, 5, 2), 1, 3, 4), ((), 0, 1, 1), ((), 0, 0, 1), ((2, 0, 3), 1, 0, 2),
])
def test_unfold_matches_torch(shape, dim, size, step):
    _grads_match(lambda a: a.unfold(dim, size, step), lambda a: a.unfold(dim, size, step),
                 [RNG.normal(size=shape)])


def test_unfold_is_a_view_with_gradcheck():
    base = dg.arange(8.)
    w = base.unfold(0, 3, 2)
    base[2] = 100.0
    assert to_np(w)[1, 0] == 100.0 and to_np(w)[0, 2] == 100.0
    assert w._base is base
    x = dg.tensor(RNG.normal(size=(3, 7)), requires_grad=True)
    assert gradcheck(lambda a: a.unfold(1, 3, 2) * a.unfold(1, 3, 2), (x,))
    assert gradgradcheck(lambda a: (a.unfold(1, 4, 1) ** 2), (x,))


def test_unfold_errors():
    x, tx = _pair(np.arange(7.))
    for args, match in (((0, 8, 1), "maximum size"), ((0, 3, 0), "step is 0"),
                        ((0, -1, 1), "size is -1"), ((1, 2, 1), "out of range")):
        _raises_like_torch(lambda k=args: x.unfold(*k), lambda k=args: tx.unfold(*k), match)
    _raises_like_torch(lambda: dg.tensor(3.).unfold(0, 2, 1),
                       lambda: torch.tensor(3.).unfold(0, 2, 1), "maximum size")


@pytest.mark.parametrize("size,stride,offset", [
    ((2, 2), (1, 2), None), ((3, 3), (1, 1), 1), ((2, 3), (0, 1), 2), ((4,), (1,), 2),
    ((0, 2), (1, 1), None), ((2, 2, 2), (3, 1, 1), 0), ((), (), 5),
])
def test_as_strided_matches_torch(size, stride, offset):
    _grads_match(lambda a: a.as_strided(size, stride, offset),
                 lambda a: a.as_strided(size, stride, offset), [RNG.normal(size=(2, 3))])
    _grads_match(lambda a: dg.as_strided(a, size, stride, offset),
                 lambda a: torch.as_strided(a, size, stride, offset), [RNG.normal(size=6)])


def test_as_strided_of_an_offset_view_and_gradcheck():
    x, tx = _pair(np.arange(10.))
    _same(x[2:].as_strided((2,), (3,)), tx[2:].as_strided((2,), (3,)))
    _same(x[2:].as_strided((2,), (1,), 4), tx[2:].as_strided((2,), (1,), 4))
    v = x.as_strided((3,), (2,))
    x[4] = -1.0
    assert to_np(v)[2] == -1.0          # a view of the input's memory
    a = dg.tensor(RNG.normal(size=(3, 4)), requires_grad=True)
    assert gradcheck(lambda t: t.as_strided((3, 3), (2, 1), 1) ** 2, (a,))


def test_as_strided_errors():
    x, tx = _pair(np.arange(6.))
    for args, match in ((((2, 2), (1, 2), 3), "out of bounds"), (((3, 3), (2, 2)), "out of "
                        "bounds"), (((2,), (1,), -1), "invalid storage offset"),
                        (((2, 2), (1,)), "length of strides"), (((2, 2), (-1, 1)), "Negative"),
                        (((2, -1), (1, 1)), "overflowed")):
        _raises_like_torch(lambda k=args: x.as_strided(*k), lambda k=args: tx.as_strided(*k),
                           match)
    # dyngraph's own limits: contiguous inputs, offsets inside the input
    with pytest.raises(RuntimeError, match="contiguous"):
        dg.zeros(2, 3).t().as_strided((2,), (1,))
    with pytest.raises(RuntimeError, match="before the input's first element"):
        dg.zeros(6)[2:].as_strided((2,), (1,), 0)


# ----------------------------------------------------------------------------------------------
# addbmm, addr
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1), (2, 0)])
def test_addbmm_and_addr_match_torch(beta, alpha):
    for ishape in ((2, 3), (3,), (1, 1), ()):
        _grads_match(lambda i, a, b: dg.addbmm(i, a, b, beta=beta, alpha=alpha),
                     lambda i, a, b: torch.addbmm(i, a, b, beta=beta, alpha=alpha),
                     [RNG.normal(size=ishape), RNG.normal(size=(4, 2, 5)),
                      RNG.normal(size=(4, 5, 3))])
        _grads_match(lambda i, a, b: i.addr(a, b, beta=beta, alpha=alpha),
                     lambda i, a, b: i.addr(a, b, beta=beta, alpha=alpha),
                     [RNG.normal(size=ishape), RNG.normal(size=2), RNG.normal(size=3)])


def test_addbmm_addr_special_cases():
    nan = np.full((2, 3), np.nan)
    _same(dg.addbmm(dg.tensor(nan), dg.ones(4, 2, 5).double(), dg.ones(4, 5, 3).double(),
                    beta=0),
          torch.addbmm(torch.tensor(nan), torch.ones(4, 2, 5).double(),
                       torch.ones(4, 5, 3).double(), beta=0))
    _same(dg.addr(dg.tensor(nan), dg.ones(2).double(), dg.ones(3).double(), beta=0),
          torch.addr(torch.tensor(nan), torch.ones(2).double(), torch.ones(3).double(), beta=0))
    # empty batch, integer and bool dtypes, dtype promotion in addr
    _same(dg.addbmm(dg.ones(2, 3), dg.ones(0, 2, 5), dg.ones(0, 5, 3)),
          torch.addbmm(torch.ones(2, 3), torch.ones(0, 2, 5), torch.ones(0, 5, 3)))
    li, tli = _pair(np.arange(6).reshape(2, 3))
    l1, tl1 = _pair(np.arange(2))
    l2, tl2 = _pair(np.arange(3))
    _same(dg.addr(li, l1, l2, beta=2, alpha=3), torch.addr(tli, tl1, tl2, beta=2, alpha=3))
    _same(dg.addr(li.double(), l1.float(), l2), torch.addr(tli.double(), tl1.float(), tl2))
    for beta, alpha in ((True, True), (False, True), (True, False)):
        b, tb = _pair(np.array([[True, False], [False, False]]))
        v1, tv1 = _pair(np.array([True, False]))
        v2, tv2 = _pair(np.array([False, True]))
        _same(dg.addr(b, v1, v2, beta=beta, alpha=alpha),
              torch.addr(tb, tv1, tv2, beta=beta, alpha=alpha))
    # in place
    y, ty = _pair(RNG.normal(size=(2, 3)))
    b1, tb1 = _pair(RNG.normal(size=(3, 2, 4)))
    b2, tb2 = _pair(RNG.normal(size=(3, 4, 3)))
    assert y.addbmm_(b1, b2, alpha=0.5) is y
    _same(y, ty.addbmm_(tb1, tb2, alpha=0.5))
    v1, tv1 = _pair(RNG.normal(size=2))
    v2, tv2 = _pair(RNG.normal(size=3))
    assert y.addr_(v1, v2, beta=3) is y
    _same(y, ty.addr_(tv1, tv2, beta=3))


def test_addbmm_addr_errors():
    z, tz = _pair(np.zeros((2, 3), np.float32))
    cases = [
        ((2, 5), (4, 5, 3), None, "3D"),
        ((4, 2, 5), (3, 5, 3), None, "same number of batches"),
        ((4, 2, 5), (4, 6, 3), None, "Incompatible matrix sizes"),
    ]
    for s1, s2, _, match in cases:
        with pytest.raises(RuntimeError):
            torch.addbmm(tz, torch.zeros(s1), torch.zeros(s2))
        with pytest.raises(RuntimeError, match=match):
            dg.addbmm(z, dg.zeros(s1), dg.zeros(s2))
    _raises_like_torch(lambda: dg.addbmm(dg.zeros(2, 4), dg.zeros(4, 2, 5), dg.zeros(4, 5, 3)),
                       lambda: torch.addbmm(torch.zeros(2, 4), torch.zeros(4, 2, 5),
                                            torch.zeros(4, 5, 3)), "expanded size")
    _raises_like_torch(lambda: dg.addbmm(z, dg.zeros(4, 2, 5), dg.zeros(4, 5, 3).double()),
                       lambda: torch.addbmm(tz, torch.zeros(4, 2, 5),
                                            torch.zeros(4, 5, 3).double()), "same dtype")
    _raises_like_torch(lambda: dg.addr(z, dg.zeros(2, 1), dg.zeros(3)),
                       lambda: torch.addr(tz, torch.zeros(2, 1), torch.zeros(3)), "1-D")
    _raises_like_torch(lambda: dg.addr(z.long(), dg.ones(2).long(), dg.ones(3).long(),
                                       alpha=0.5),
                       lambda: torch.addr(tz.long(), torch.ones(2).long(), torch.ones(3).long(),
                                          alpha=0.5), "floating point")


# ----------------------------------------------------------------------------------------------
# fill_diagonal_, unique_consecutive, splits
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(7, 3), (4, 3), (2, 4), (3, 3), (2, 2, 2), (0, 3), (5, 1)])
@pytest.mark.parametrize("wrap", [False, True])
def test_fill_diagonal_matches_torch(shape, wrap):
    x, tx = _pair(np.zeros(shape))
    assert x.fill_diagonal_(5, wrap=wrap) is x
    _same(x, tx.fill_diagonal_(5, wrap=wrap))
    i, ti = _pair(np.zeros(shape, np.int64))
    _same(i.fill_diagonal_(2.7, wrap), ti.fill_diagonal_(2.7, wrap))


def test_fill_diagonal_gradient_and_errors():
    a, ta = _pair(RNG.normal(size=(3, 3)), grad=True)
    b, tb = a * 2, ta * 2
    b.fill_diagonal_(0.5)
    tb.fill_diagonal_(0.5)
    _same(b, tb)
    (b * b).sum().backward()
    (tb * tb).sum().backward()
    assert_close(a.grad, ta.grad)
    _raises_like_torch(lambda: dg.zeros(3).fill_diagonal_(1),
                       lambda: torch.zeros(3).fill_diagonal_(1), "dimensions must larger")
    _raises_like_torch(lambda: dg.zeros(2, 2, 3).fill_diagonal_(1),
                       lambda: torch.zeros(2, 2, 3).fill_diagonal_(1), "equal length")
    leaf = dg.zeros(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf.fill_diagonal_(1)


@pytest.mark.parametrize("values,dim", [
    ([1, 1, 2, 2, 3, 1, 1, 2], None), ([], None), (5, None), ([3.0, np.nan, np.nan, 1.0], None),
    ([[1, 1, 2, 2], [3, 1, 1, 2]], None), ([True, True, False], None),
    ([[1, 2], [1, 2], [3, 4], [1, 2]], 0), ([[1, 2], [1, 2], [3, 4], [1, 2]], 1),
    ([[1, 1, 2], [1, 1, 3]], -1), (np.zeros((0, 3)), 0), (np.zeros((2, 0)), 1), ([7], 0),
])
def test_unique_consecutive_matches_torch(values, dim):
    x, tx = _pair(np.asarray(values))
    for inv in (False, True):
        for cnt in (False, True):
            _same(dg.unique_consecutive(x, return_inverse=inv, return_counts=cnt, dim=dim),
                  torch.unique_consecutive(tx, return_inverse=inv, return_counts=cnt, dim=dim))
    _same(x.unique_consecutive(dim=dim), tx.unique_consecutive(dim=dim))


def test_unique_consecutive_errors_and_no_gradient():
    _raises_like_torch(lambda: dg.unique_consecutive(dg.zeros(3, 0), dim=0),
                       lambda: torch.unique_consecutive(torch.zeros(3, 0), dim=0),
                       "0 sized dimensions")
    _raises_like_torch(lambda: dg.unique_consecutive(dg.zeros(3), dim=1),
                       lambda: torch.unique_consecutive(torch.zeros(3), dim=1), "out of range")
    _raises_like_torch(lambda: dg.unique_consecutive(dg.tensor(3.), dim=0),
                       lambda: torch.unique_consecutive(torch.tensor(3.), dim=0),
                       "no dimensions")
    x = dg.tensor([1., 1., 2.], requires_grad=True)
    assert not dg.unique_consecutive(x).requires_grad   # as dyngraph.unique


@requires_pinned_torch   # torch 2.11 has no derivative for narrow_copy
def test_split_with_sizes_narrow_copy_unsafe_splits():
    x, tx = _pair(RNG.normal(size=(5, 4)))
    _same(dg.split_with_sizes(x, [2, 3]), torch.split_with_sizes(tx, [2, 3]))
    _same(x.split_with_sizes([1, 0, 3], dim=1), tx.split_with_sizes([1, 0, 3], dim=1))
    _raises_like_torch(lambda: x.split_with_sizes([2, 2]), lambda: tx.split_with_sizes([2, 2]),
                       "sum exactly")
    _same(dg.narrow_copy(x, 1, 1, 2), torch.narrow_copy(tx, 1, 1, 2))
    c = x.narrow_copy(0, -2, 2)
    c[0, 0] = 99.0
    assert to_np(x)[3, 0] != 99.0                    # a copy, not a view
    _same(dg.unsafe_chunk(x, 3), torch.unsafe_chunk(tx, 3))
    _same(x.unsafe_chunk(2, dim=1), tx.unsafe_chunk(2, dim=1))
    _same(dg.unsafe_split(x, 2), torch.unsafe_split(tx, 2))
    _same(x.unsafe_split(3, 1), tx.unsafe_split(3, 1))
    a, ta = _pair(RNG.normal(size=(5, 4)), grad=True)
    _grads_match(lambda t: dg.cat([p * (k + 1) for k, p in enumerate(t.split_with_sizes([2, 3]))]),
                 lambda t: torch.cat([p * (k + 1) for k, p in enumerate(
                     t.split_with_sizes([2, 3]))]), [RNG.normal(size=(5, 4))])
    _grads_match(lambda t: t.narrow_copy(0, 1, 3) ** 2, lambda t: t.narrow_copy(0, 1, 3) ** 2,
                 [RNG.normal(size=(5, 4))])


# ----------------------------------------------------------------------------------------------
# metadata and the complex API on real tensors
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int32", "int64", "float16",
                                   "float32", "float64"])
def test_metadata_matches_torch(dtype):
    d = dg.zeros(2, 3, dtype=getattr(dg, dtype))
    t = torch.zeros(2, 3, dtype=getattr(torch, dtype))
    assert d.is_signed() == t.is_signed() == dg.is_signed(d)
    assert d.get_device() == t.get_device() == dg.get_device(d) == -1
    assert d.is_cpu is True and t.is_cpu is True
    for name in ("is_inference", "is_neg", "is_conj"):
        assert getattr(d, name)() == getattr(t, name)() == getattr(dg, name)(d) is False
    assert d.is_same_size(dg.ones(2, 3)) and not dg.is_same_size(d, dg.ones(3, 2))
    for name in ("resolve_conj", "resolve_neg", "conj", "conj_physical", "conj_physical_"):
        assert getattr(d, name)() is d and getattr(dg, name)(d) is d
        assert getattr(t, name)() is t
    assert d.real is d and dg.real(d) is d and t.real is t
    _raises_like_torch(lambda: d.imag, lambda: t.imag, "non-complex")
    _raises_like_torch(lambda: dg.imag(d), lambda: torch.imag(t), "non-complex")


def test_is_nonzero_and_adjoint_match_torch():
    for v in ([0.0], [1.5], [np.nan], 0, 3, [[False]], [True]):
        d, t = _pair(np.asarray(v))
        assert d.is_nonzero() == t.is_nonzero() == dg.is_nonzero(d)
    for v, match in (([1, 2], "more than one value"), ([], "no values")):
        d, t = _pair(np.asarray(v))
        _raises_like_torch(d.is_nonzero, t.is_nonzero, match)
    for shape in ((2, 3), (4, 2, 3)):
        _grads_match(lambda a: a.adjoint() * 2, lambda a: a.adjoint() * 2,
                     [RNG.normal(size=shape)])
        _grads_match(lambda a: dg.adjoint(a), lambda a: torch.adjoint(a),
                     [RNG.normal(size=shape)])
    _raises_like_torch(lambda: dg.zeros(3).adjoint(), lambda: torch.zeros(3).adjoint(),
                       "only supported on matrices")


def test_real_setter_and_complex_conversions():
    x = dg.zeros(3)
    x.real = dg.ones(3)
    assert to_np(x).tolist() == [1.0, 1.0, 1.0]
    for name in ("cfloat", "cdouble", "chalf"):
        with pytest.raises(RuntimeError, match=f"{name}\\(\\): dyngraph has no complex dtypes"):
            getattr(x, name)()


# ----------------------------------------------------------------------------------------------
# Compiled
# ----------------------------------------------------------------------------------------------

def _scatters(x, idx, src, mask, big):
    a = x.scatter_reduce(0, idx, src, "amax", include_self=False)
    b = x.index_reduce(0, idx[:, 0], src, "prod")
    c = x.masked_scatter(mask, src) + x.put(idx[0], src[0], accumulate=True)
    d = dg.select_scatter(x, src[1], 0, 2) * dg.slice_scatter(x, src[:2], 0, 1, 3)
    e = dg.trace(x) + big.unfold(1, 3, 2).sum(-1).mean() + big.as_strided((3, 3), (2, 1)).sum()
    f = dg.addr(x, src[0], src[1], beta=0.5) + dg.addbmm(x, src.reshape(3, 3, 1),
                                                          src.reshape(3, 1, 3), alpha=2)
    return a, b, c, d * e, f


def test_compiled_scatters_and_views_match_eager():
    f = dg.compile(_scatters, backend="llvm")
    for _ in range(3):   # the first call traces, later ones run the compiled code
        x = dg.tensor(RNG.normal(size=(3, 3)))
        idx = dg.tensor(RNG.integers(0, 3, size=(3, 3)))
        src = dg.tensor(RNG.normal(size=(3, 3)))
        mask = dg.tensor(RNG.random((3, 3)) < 0.5)
        big = dg.tensor(RNG.normal(size=(4, 7)))
        for got, want in zip(f(x, idx, src, mask, big), _scatters(x, idx, src, mask, big)):
            assert_close(got, want)


def _runs(x):
    values, inverse, counts = dg.unique_consecutive(x, return_inverse=True, return_counts=True)
    return values * 2, inverse + 1, counts


def test_compiled_unique_consecutive_follows_the_data():
    f = dg.compile(_runs, backend="llvm")
    for k in range(4):   # the number of runs changes from call to call
        x = dg.tensor(RNG.integers(0, 2 + k, size=10))
        for got, want in zip(f(x), _runs(x)):
            assert got.dtype is want.dtype
            assert tuple(got.shape) == tuple(want.shape)
            assert_close(got, want)


def test_compiled_gradient_through_scatter_reduce_and_unfold():
    def loss(x, src, idx):
        y = x.scatter_reduce(0, idx, src, "mean") + x.unfold(1, 2, 1)[..., 0].sum()
        return (y ** 2).sum()

    x0 = RNG.normal(size=(3, 4))
    s0 = RNG.normal(size=(2, 4))
    idx = dg.tensor(RNG.integers(0, 3, size=(2, 4)))
    grads = []
    for fn in (loss, dg.compile(loss, backend="llvm"), dg.compile(loss, backend="llvm")):
        for _ in range(2):
            x = dg.tensor(x0, requires_grad=True)
            s = dg.tensor(s0, requires_grad=True)
            fn(x, s, idx).backward()
            grads.append((to_np(x.grad), to_np(s.grad)))
    for gx, gs in grads[1:]:
        np.testing.assert_allclose(gx, grads[0][0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gs, grads[0][1], rtol=1e-10, atol=1e-12)
    assert math.isfinite(float(grads[0][0].sum()))
