"""dyngraph/ops/tensor_extras.py, samplers.py and statistics.py against PyTorch and numpy:
finfo/iinfo, tensor metadata, in-place samplers (statistics, reproducibility, in-place rules),
searchsorted/bucketize/bincount/histc, mode/nanmedian/quantile/nanquantile (values, indices,
gradients, compiled)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck
from tests.conftest import assert_close, requires_torch, to_np, torch

pytestmark = requires_torch

FLOAT_NAMES = ["float16", "bfloat16", "float32", "float64"]
INT_NAMES = ["uint8", "int8", "int16", "int32", "int64"]
NAN = math.nan


def _pair(a, dtype=None):
    """The same values as a dyngraph and a torch tensor."""
    a = np.asarray(a)
    d = dg.tensor(a) if dtype is None else dg.tensor(a, dtype=getattr(dg, dtype))
    t = torch.tensor(a) if dtype is None else torch.tensor(a, dtype=getattr(torch, dtype))
    return d, t


def _same(got, want):
    """Equal values, shape and dtype name (tensors or (values, indices) pairs)."""
    if isinstance(want, tuple):
        for g, w in zip(got, want):
            _same(g, w)
        return
    assert tuple(got.shape) == tuple(want.shape), (got.shape, want.shape)
    assert got.dtype.name == str(want.dtype).replace("torch.", ""), (got.dtype, want.dtype)
    assert_close(got, want.detach().float() if want.dtype == torch.bfloat16 else want)


# ----------------------------------------------------------------------------------------------
# finfo / iinfo
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", FLOAT_NAMES)
def test_finfo_matches_torch(name):
    got, want = dg.finfo(getattr(dg, name)), torch.finfo(getattr(torch, name))
    for attr in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"):
        assert getattr(got, attr) == getattr(want, attr), attr
    assert repr(got) == repr(want)


def test_finfo_defaults_to_the_default_dtype():
    assert dg.finfo().dtype == "float32"
    dg.set_default_dtype(dg.float64)
    try:
        assert dg.finfo() == dg.finfo(dg.float64)
    finally:
        dg.set_default_dtype(dg.float32)


@pytest.mark.parametrize("name", INT_NAMES)
def test_iinfo_matches_torch(name):
    got, want = dg.iinfo(getattr(dg, name)), torch.iinfo(getattr(torch, name))
    for attr in ("bits", "max", "min", "dtype"):
        assert getattr(got, attr) == getattr(want, attr), attr
    assert repr(got) == repr(want)


@pytest.mark.parametrize("call, message", [
    (lambda: dg.finfo(dg.int32), "not a floating-point dtype; use dyngraph.iinfo"),
    (lambda: dg.finfo(dg.bool), "not a floating-point dtype"),
    (lambda: dg.finfo("float32"), "must be dyngraph.dtype, not str"),
    (lambda: dg.iinfo(dg.float32), "not an integer dtype; use dyngraph.finfo"),
    (lambda: dg.iinfo(dg.bool), "dyngraph.bool is not supported"),
    (lambda: dg.iinfo(np.int32), "must be dyngraph.dtype"),
])
def test_finfo_iinfo_wrong_kind_raise_type_error(call, message):
    with pytest.raises(TypeError, match=message):
        call()


# ----------------------------------------------------------------------------------------------
# type_as, nbytes, itemsize, storage_offset
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("src", ["float32", "int64", "bool", "float16"])
@pytest.mark.parametrize("dst", ["float64", "int32", "uint8", "bfloat16"])
def test_type_as_matches_torch(src, dst):
    d, t = _pair([[0, 1.5, -2], [3, 0, 7]], src)
    od, ot = _pair([1], dst)
    _same(d.type_as(od), t.type_as(ot))


def test_type_as_returns_self_when_types_match_and_keeps_grad():
    x = dg.randn(3, requires_grad=True)
    assert x.type_as(dg.zeros(1)) is x
    y = x.type_as(dg.zeros(1, dtype=dg.float64))
    y.sum().backward()
    assert y.dtype is dg.float64 and x.grad.dtype is dg.float32
    with pytest.raises(TypeError, match="type_as\\(\\): argument 'other' must be Tensor"):
        x.type_as(dg.float64)


@pytest.mark.parametrize("name", FLOAT_NAMES + INT_NAMES + ["bool"])
@pytest.mark.parametrize("shape", [(), (0, 3), (2, 3, 4)])
def test_nbytes_and_itemsize_match_torch(name, shape):
    d = dg.zeros(shape, dtype=getattr(dg, name))
    t = torch.zeros(shape, dtype=getattr(torch, name))
    assert (d.nbytes, d.itemsize) == (t.nbytes, t.itemsize)
    if len(shape) == 3:     # a view counts its own elements
        assert d[1, :, 1:].nbytes == t[1, :, 1:].nbytes


VIEWS = [
    lambda x: x, lambda x: x[1:], lambda x: x[:, 2], lambda x: x[1, 2, 3:],
    lambda x: x.transpose(0, 2)[1], lambda x: x.narrow(2, 1, 3), lambda x: x.select(1, 3),
    lambda x: x.reshape(12, 5)[7:], lambda x: x[..., ::2][1:], lambda x: x.diagonal(0, 1, 2),
    lambda x: x[2].unsqueeze(0).expand(4, 4, 5), lambda x: x.view(-1)[13:40].view(3, 9),
    lambda x: x[1:][1:][0, 1:], lambda x: x.permute(2, 0, 1)[3:, 1], lambda x: x[0, 0, 0],
    lambda x: x.flatten()[59:], lambda x: x.detach()[2:], lambda x: x.movedim(0, -1)[2],
    lambda x: x.chunk(2, 1)[1], lambda x: x.split(2, -1)[2], lambda x: x.unbind(1)[3],
    lambda x: x.mT[1], lambda x: x[:, 1:3][..., 4], lambda x: x[1:, :0],
]


@pytest.mark.parametrize("view", VIEWS)
def test_storage_offset_of_views_matches_torch(view):
    a = np.arange(60.0).reshape(3, 4, 5)
    d, t = view(dg.tensor(a)), view(torch.tensor(a))
    assert d.storage_offset() == t.storage_offset()
    assert d.stride() == t.stride()


def test_storage_offset_of_fresh_tensors_and_other_dtypes():
    assert dg.tensor(3.0).storage_offset() == 0
    assert dg.zeros(0).storage_offset() == 0
    x = dg.arange(24, dtype=dg.int16).reshape(4, 6)
    assert x[2:, 3].storage_offset() == torch.arange(24, dtype=torch.int16).reshape(4, 6)[
        2:, 3].storage_offset() == 15
    assert (x[1:] + 0).storage_offset() == 0


# ----------------------------------------------------------------------------------------------
# In-place samplers
# ----------------------------------------------------------------------------------------------

N = 200_000


def _moments(x):
    a = to_np(x).astype(np.float64)
    return a.mean(), a.var()


@pytest.mark.parametrize("call, mean, var", [
    (lambda t: t.uniform_(-2, 4), 1.0, 3.0),
    (lambda t: t.uniform_(), 0.5, 1 / 12),
    (lambda t: t.normal_(3, 2), 3.0, 4.0),
    (lambda t: t.normal_(), 0.0, 1.0),
    (lambda t: t.exponential_(2.0), 0.5, 0.25),
    (lambda t: t.exponential_(), 1.0, 1.0),
    (lambda t: t.geometric_(0.25), 4.0, 0.75 / 0.25 ** 2),
    (lambda t: t.log_normal_(0.5, 0.4), math.exp(0.5 + 0.08),
     (math.exp(0.16) - 1) * math.exp(1 + 0.16)),
    (lambda t: t.random_(3, 11), 6.5, (8 ** 2 - 1) / 12),
    (lambda t: t.random_(10), 4.5, (10 ** 2 - 1) / 12),
    (lambda t: t.bernoulli_(0.3), 0.3, 0.21),
    (lambda t: t.bernoulli_(), 0.5, 0.25),
])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sampler_moments(call, mean, var, dtype):
    x = dg.empty(N, dtype=getattr(dg, dtype))
    assert call(x) is x and x.dtype is getattr(dg, dtype)
    m, v = _moments(x)
    se = math.sqrt(var / N)        # the standard error of the mean
    assert abs(m - mean) < 5 * se, (m, mean)
    assert abs(v - var) < 0.05 * var, (v, var)


def test_cauchy_quartiles():
    # The Cauchy distribution has no moments: check its median and quartiles instead.
    x = to_np(dg.empty(N, dtype=dg.float64).cauchy_(1.5, 2.0))
    q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75])
    assert abs(med - 1.5) < 0.03 and abs(q1 - (1.5 - 2.0)) < 0.05 and abs(q3 - 3.5) < 0.05


def test_sampler_supports():
    u = to_np(dg.empty(N).uniform_(2, 3))
    assert u.min() >= 2 and u.max() < 3
    g = to_np(dg.empty(N, dtype=dg.int64).geometric_(0.5))
    assert g.min() == 1 and np.all(g == np.round(g))
    r = to_np(dg.empty(N, dtype=dg.int32).random_(-3, 4))
    assert set(np.unique(r)) == set(range(-3, 4))
    assert to_np(dg.empty(N).exponential_()).min() >= 0
    assert to_np(dg.empty(N).log_normal_()).min() > 0
    b = to_np(dg.empty(N, dtype=dg.bool).bernoulli_(0.5))
    assert b.dtype == np.bool_ and 0.49 < b.mean() < 0.51


@pytest.mark.parametrize("name, digits", [("float16", 11), ("bfloat16", 8), ("float32", 24),
                                          ("float64", 53)])
def test_random_default_range_for_floats(name, digits):
    x = to_np(dg.empty(20_000, dtype=getattr(dg, name)).random_()).astype(np.float64)
    assert x.min() >= 0 and x.max() <= 2 ** digits and np.all(x == np.round(x))
    assert x.max() > 2 ** digits * 0.9


@pytest.mark.parametrize("name", INT_NAMES + ["bool"])
def test_random_default_range_for_integers(name):
    x = to_np(dg.empty(20_000, dtype=getattr(dg, name)).random_())
    hi = 1 if name == "bool" else np.iinfo(getattr(np, name)).max
    assert x.min() >= 0 and x.max() <= hi and x.max() >= hi * 0.9
    assert x.dtype == getattr(np, "bool_" if name == "bool" else name)


def test_random_from_to_none_goes_to_the_dtype_maximum():
    x = to_np(dg.empty(20_000, dtype=dg.uint8).random_(200, None))
    assert x.min() == 200 and x.max() == 255


def test_bernoulli_with_a_tensor_p():
    p = dg.tensor([0.0, 1.0, 0.25])
    x = dg.empty(N, 3).bernoulli_(p)
    assert to_np(x)[:, 0].sum() == 0 and to_np(x)[:, 1].sum() == N
    assert abs(to_np(x)[:, 2].mean() - 0.25) < 0.005
    with pytest.raises(RuntimeError, match="does not broadcast to the tensor's shape"):
        dg.empty(3).bernoulli_(dg.tensor([0.5, 0.5]))
    with pytest.raises(RuntimeError, match="expects every p to be in \\[0, 1\\]"):
        dg.empty(3).bernoulli_(dg.tensor([0.5, 1.5, 0.5]))


SAMPLERS = [
    lambda t, **k: t.uniform_(-1, 1, **k), lambda t, **k: t.normal_(1, 2, **k),
    lambda t, **k: t.exponential_(1.5, **k), lambda t, **k: t.geometric_(0.3, **k),
    lambda t, **k: t.cauchy_(**k), lambda t, **k: t.log_normal_(**k),
    lambda t, **k: t.random_(0, 100, **k), lambda t, **k: t.bernoulli_(0.5, **k),
]


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "float64"])
def test_samplers_are_reproducible_and_keep_dtype(sampler, dtype):
    dt = getattr(dg, dtype)
    dg.manual_seed(123)
    a = sampler(dg.zeros(4, 50, dtype=dt))
    dg.manual_seed(123)
    b = sampler(dg.zeros(4, 50, dtype=dt))
    c = sampler(dg.zeros(4, 50, dtype=dt))
    assert a.dtype is dt and tuple(a.shape) == (4, 50) and a.device == dg.device("cpu")
    assert np.array_equal(to_np(a), to_np(b), equal_nan=True)
    assert not np.array_equal(to_np(b), to_np(c))
    g1, g2 = dg.Generator().manual_seed(7), dg.Generator().manual_seed(7)
    assert np.array_equal(to_np(sampler(dg.zeros(30, dtype=dt), generator=g1)),
                          to_np(sampler(dg.zeros(30, dtype=dt), generator=g2)))


def test_uniform_and_normal_draw_as_nn_init_does():
    w1, w2 = dg.empty(5, 7), dg.empty(5, 7)
    dg.manual_seed(3)
    dg.nn.init.uniform_(w1, -0.3, 0.7)
    dg.manual_seed(3)
    w2.uniform_(-0.3, 0.7)
    assert np.array_equal(to_np(w1), to_np(w2))
    dg.manual_seed(4)
    dg.nn.init.normal_(w1, 0.5, 0.1)
    dg.manual_seed(4)
    w2.normal_(0.5, 0.1)
    assert np.array_equal(to_np(w1), to_np(w2))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_follow_the_inplace_rules(sampler):
    leaf = dg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        sampler(leaf)
    view = leaf[1:]
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        sampler(view)
    with dg.no_grad():            # (init code: weights of a module)
        v = leaf._version
        assert sampler(leaf) is leaf
    assert leaf._version == v + 1 and leaf.requires_grad and leaf.is_leaf
    p = dg.nn.Parameter(dg.zeros(4))
    with dg.no_grad():
        sampler(p)
    assert isinstance(p, dg.nn.Parameter)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_samplers_on_a_non_leaf_give_zero_gradient_like_torch(sampler):
    x = dg.ones(4, requires_grad=True)
    y = x * 2
    sampler(y)
    assert y.requires_grad and y.grad_fn is not None
    (y * 3).sum().backward()
    assert np.array_equal(to_np(x.grad), np.zeros(4))
    tx = torch.ones(4, requires_grad=True)
    ty = tx * 2
    sampler(ty)
    (ty * 3).sum().backward()
    assert np.array_equal(tx.grad.numpy(), np.zeros(4))


def test_samplers_write_through_views_and_on_empty_and_0d_tensors():
    base = dg.zeros(4, 6)
    base[:, 2:4].uniform_(5, 6)
    a = to_np(base)
    assert np.all(a[:, 2:4] >= 5) and np.all(a[:, :2] == 0) and np.all(a[:, 4:] == 0)
    assert dg.empty(0, 3).normal_().shape == (0, 3)
    s = dg.tensor(0.0).exponential_()
    assert s.shape == () and float(s) >= 0


@pytest.mark.parametrize("call, error, message", [
    (lambda: dg.zeros(3, dtype=dg.int64).uniform_(), NotImplementedError, "uniform_: not impl"),
    (lambda: dg.zeros(3, dtype=dg.bool).normal_(), NotImplementedError, "normal_: not impl"),
    (lambda: dg.zeros(3, dtype=dg.int32).log_normal_(), NotImplementedError, "log_normal_"),
    (lambda: dg.zeros(3, dtype=dg.int64).exponential_(), RuntimeError, "must be floating"),
    (lambda: dg.zeros(3, dtype=dg.int64).cauchy_(), RuntimeError, "must be floating"),
    (lambda: dg.zeros(3, dtype=dg.bool).geometric_(0.5), NotImplementedError, "geometric_"),
    (lambda: dg.zeros(3).uniform_(3, 1), RuntimeError, "found from=3 > to=1"),
    (lambda: dg.zeros(3).normal_(0, -1), RuntimeError, "std >= 0.0, but found std -1"),
    (lambda: dg.zeros(3).exponential_(0), RuntimeError, "lambda > 0.0, but found lambda=0"),
    (lambda: dg.zeros(3).geometric_(1), RuntimeError, "p to be in \\(0, 1\\), but got p=1"),
    (lambda: dg.zeros(3).cauchy_(0, -1), RuntimeError, "sigma > 0.0, but found sigma=-1"),
    (lambda: dg.zeros(3).log_normal_(0, 0), RuntimeError, "std > 0.0, but found std=0"),
    (lambda: dg.zeros(3).random_(5, 2), RuntimeError, "from=5 >= to=2"),
    (lambda: dg.zeros(3, dtype=dg.uint8).random_(-1, 2), RuntimeError, "from=-1 is out of"),
    (lambda: dg.zeros(3, dtype=dg.uint8).random_(0, 300), RuntimeError, "to - 1=299 is out"),
    (lambda: dg.zeros(3).bernoulli_(1.5), RuntimeError, "p to be in \\[0, 1\\], but got p=1.5"),
])
def test_sampler_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_random_warns_outside_the_exact_integer_range_of_floats():
    with pytest.warns(UserWarning, match="to - 1=1073741823 is out of bounds"):
        dg.zeros(3).random_(0, 2 ** 30)


# ----------------------------------------------------------------------------------------------
# searchsorted, bucketize
# ----------------------------------------------------------------------------------------------

RNG = np.random.default_rng(2024)
SORTED_1D = np.sort(RNG.integers(-5, 6, size=12)).astype(np.float64)   # with repeats
SORTED_2D = np.sort(RNG.normal(size=(3, 7)), axis=-1)
VALUES = np.concatenate([RNG.integers(-7, 8, size=10).astype(np.float64), [0.5, -0.5]])


@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("values", [VALUES, VALUES.reshape(3, 4), VALUES.reshape(2, 2, 3),
                                    np.array(2.0), np.zeros((0, 3))])
def test_searchsorted_1d_matches_torch_and_numpy(right, values):
    ds, ts = _pair(SORTED_1D)
    dv, tv = _pair(values)
    got = dg.searchsorted(ds, dv, right=right)
    _same(got, torch.searchsorted(ts, tv, right=right))
    want = np.searchsorted(SORTED_1D, values, side="right" if right else "left")
    assert np.array_equal(to_np(got), want)
    _same(dg.searchsorted(ds, dv, side="right" if right else "left"),
          torch.searchsorted(ts, tv, side="right" if right else "left"))


@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_batched_rows_match_torch(right):
    values = np.concatenate([RNG.normal(size=(3, 5)), SORTED_2D[:, 2:4]], axis=1)
    ds, ts = _pair(SORTED_2D)
    dv, tv = _pair(values)
    _same(dg.searchsorted(ds, dv, right=right), torch.searchsorted(ts, tv, right=right))
    ds3, ts3 = _pair(np.sort(RNG.normal(size=(2, 3, 4)), -1))
    dv3, tv3 = _pair(RNG.normal(size=(2, 3, 6)))
    _same(dg.searchsorted(ds3, dv3, right=right), torch.searchsorted(ts3, tv3, right=right))


@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted_with_sorter_out_int32_and_scalars(side):
    raw = RNG.permutation(SORTED_1D)
    order = np.argsort(raw, kind="stable")
    ds, ts = _pair(raw)
    dsort, tsort = _pair(order)
    dv, tv = _pair(VALUES)
    _same(dg.searchsorted(ds, dv, side=side, sorter=dsort),
          torch.searchsorted(ts, tv, side=side, sorter=tsort))
    _same(dg.searchsorted(ds.sort().values, dv, side=side, out_int32=True),
          torch.searchsorted(ts.sort().values, tv, side=side, out_int32=True))
    _same(dg.searchsorted(ds.sort().values, 1.0, side=side),
          torch.searchsorted(ts.sort().values, 1.0, side=side))


@pytest.mark.parametrize("seq_dtype, val_dtype", [("int64", "float32"), ("float32", "int64"),
                                                  ("int32", "int64"), ("float64", "float32"),
                                                  ("uint8", "int16")])
def test_searchsorted_mixed_dtypes_match_torch(seq_dtype, val_dtype):
    ds, ts = _pair([0, 2, 4, 6, 8], seq_dtype)
    dv, tv = _pair([[-1, 3, 4], [9, 0, 7]], val_dtype)
    _same(dg.searchsorted(ds, dv), torch.searchsorted(ts, tv))
    _same(dg.searchsorted(ds, dv, right=True), torch.searchsorted(ts, tv, right=True))


def test_searchsorted_nan_and_empty_sequence_match_torch():
    ds, ts = _pair([1.0, 2.0, NAN])
    dv, tv = _pair([1.5, 5.0, NAN, -1.0])
    for right in (False, True):
        _same(dg.searchsorted(ds, dv, right=right), torch.searchsorted(ts, tv, right=right))
    de, te = _pair(np.zeros(0))
    _same(dg.searchsorted(de, dv), torch.searchsorted(te, tv))


@pytest.mark.parametrize("call, message", [
    (lambda: dg.searchsorted(dg.zeros(2, 3), dg.zeros(3, 4)), "first N-1 dimensions"),
    (lambda: dg.searchsorted(dg.zeros(2, 3), dg.zeros(4)), "boundaries tensor \\[2, 3\\]"),
    (lambda: dg.searchsorted(dg.tensor(1.0), dg.zeros(2)), "positive dimension"),
    (lambda: dg.searchsorted(dg.zeros(3), dg.zeros(2), side="left", right=True), "opposites"),
    (lambda: dg.searchsorted(dg.zeros(3), dg.zeros(2), side="middle"), "'left' or 'right'"),
    (lambda: dg.searchsorted(dg.zeros(3), dg.zeros(2), sorter=dg.tensor([0, 1])),
     "same size"),
    (lambda: dg.searchsorted(dg.zeros(3), dg.zeros(2), sorter=dg.zeros(3)), "long dtype"),
    (lambda: dg.bucketize(dg.zeros(3), dg.zeros(2, 2)), "must be 1 dimension"),
])
def test_searchsorted_and_bucketize_errors(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("values", [[[1, 5], [2, 3]], 3.0, [[-2.5, 0.0, 9.0]], np.zeros(0)])
def test_bucketize_matches_torch(right, values):
    db, tb = _pair([1, 3, 5, 7])
    if isinstance(values, float):
        dv, tv = values, values
    else:
        dv, tv = _pair(values)
    _same(dg.bucketize(dv, db, right=right), torch.bucketize(tv, tb, right=right))
    _same(dg.bucketize(dv, db, right=right, out_int32=True),
          torch.bucketize(tv, tb, right=right, out_int32=True))


def test_searchsorted_and_bucketize_out_and_no_gradient():
    ds = dg.tensor([0.0, 1.0, 2.0], requires_grad=True)
    dv = dg.tensor([0.5, 1.5], requires_grad=True)
    r = dg.searchsorted(ds, dv)
    assert not r.requires_grad and r.dtype is dg.int64
    out = dg.empty(2, dtype=dg.int64)
    with dg.no_grad():
        assert dg.bucketize(dv, ds, out=out) is out
    assert to_np(out).tolist() == [1, 2]


# ----------------------------------------------------------------------------------------------
# bincount, histc
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
@pytest.mark.parametrize("minlength", [0, 3, 12])
def test_bincount_matches_torch(name, minlength):
    d, t = _pair(RNG.integers(0, 8, size=30), name)
    _same(dg.bincount(d, minlength=minlength), torch.bincount(t, minlength=minlength))
    _same(d.bincount(minlength=minlength), t.bincount(minlength=minlength))


@pytest.mark.parametrize("wname", ["float32", "float64", "float16", "int64"])
def test_bincount_weights_dtype_matches_torch(wname):
    d, t = _pair(RNG.integers(0, 6, size=20))
    dw, tw = _pair(RNG.integers(-3, 4, size=20) / 2, wname)
    _same(dg.bincount(d, dw, 8), torch.bincount(t, tw, 8))


def test_bincount_empty_and_errors():
    _same(dg.bincount(dg.zeros(0, dtype=dg.int64)), torch.bincount(torch.zeros(0,
                                                                            dtype=torch.long)))
    _same(dg.bincount(dg.zeros(0, dtype=dg.int64), minlength=3),
          torch.bincount(torch.zeros(0, dtype=torch.long), minlength=3))
    with pytest.raises(RuntimeError, match="must be non-negative"):
        dg.bincount(dg.tensor([1, -3]))
    with pytest.raises(RuntimeError, match="must be 1-d, got shape \\(1, 2\\)"):
        dg.bincount(dg.tensor([[1, 3]]))
    with pytest.raises(RuntimeError, match="must hold integers, got dtype float32"):
        dg.bincount(dg.tensor([1.0, 3.0]))
    with pytest.raises(RuntimeError, match="minlength should be >= 0"):
        dg.bincount(dg.tensor([1]), minlength=-1)
    with pytest.raises(RuntimeError, match="weights should be 1-d and have the same length"):
        dg.bincount(dg.tensor([1, 2]), weights=dg.tensor([1.0]))


@pytest.mark.parametrize("name", ["float32", "float64"])
@pytest.mark.parametrize("bins, lo, hi", [(10, 0, 0), (7, -1.0, 1.5), (100, 0, 0), (1, -3, 3),
                                          (5, 0.5, 0.5)])
def test_histc_matches_torch(name, bins, lo, hi):
    d, t = _pair(RNG.normal(size=(40, 25)), name)
    _same(dg.histc(d, bins, lo, hi), torch.histc(t, bins, lo, hi))
    _same(d.histc(bins=bins, min=lo, max=hi), t.histc(bins=bins, min=lo, max=hi))


@pytest.mark.parametrize("values", [[1.0, 2.0, 1.0], [], 1.5, [[3.0, 3.0], [3.0, 3.0]],
                                    [0.0, 1.0, 2.0, 3.0, NAN]])
def test_histc_edge_cases_match_torch(values):
    d, t = _pair(values)
    lo, hi = (0, 3) if len(np.shape(values)) == 1 and np.size(values) == 5 else (0, 0)
    _same(dg.histc(d, 4, lo, hi), torch.histc(t, 4, lo, hi))


def test_histc_half_precision_and_errors():
    d, t = _pair(RNG.uniform(-1, 1, size=200), "float16")
    _same(dg.histc(d, 8, -1, 1), torch.histc(t, 8, -1, 1))
    with pytest.raises(RuntimeError, match="must be floating point, got int64"):
        dg.histc(dg.tensor([1, 2, 3]))
    with pytest.raises(RuntimeError, match="max must be larger than min"):
        dg.histc(dg.tensor([1.0]), 4, 3, 1)
    with pytest.raises(RuntimeError, match="bins must be > 0, but got 0"):
        dg.histc(dg.tensor([1.0]), 0)
    with pytest.raises(RuntimeError, match="range of \\[1.0, inf\\] is not finite"):
        dg.histc(dg.tensor([1.0, 2.0, math.inf]))
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    assert not dg.histc(x, 2).requires_grad


# ----------------------------------------------------------------------------------------------
# mode, nanmedian
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim", [0, 1, -1, -3])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["int64", "float64", "float32", "uint8"])
def test_mode_matches_torch(dim, keepdim, name):
    d, t = _pair(RNG.integers(0, 4, size=(3, 9, 5)), name)
    _same(dg.mode(d, dim, keepdim), tuple(torch.mode(t, dim, keepdim)))
    _same(d.mode(dim=dim, keepdim=keepdim), tuple(t.mode(dim=dim, keepdim=keepdim)))


def test_mode_0d_empty_nan_and_errors_match_torch():
    for values, dim in [(2.0, 0), (2.0, -1), (np.zeros((2, 0)), 0), ([1.0, NAN, NAN, 2.0], 0),
                        ([[3.0, 1, 3], [1, 2, 2]], 0), ([True, False, True], 0)]:
        d, t = _pair(values)
        _same(dg.mode(d, dim), tuple(torch.mode(t, dim)))
    with pytest.raises(IndexError, match="mode\\(\\): Expected reduction dim 1 to have non-zero"):
        dg.mode(dg.zeros(2, 0))
    with pytest.raises(IndexError, match="Dimension out of range"):
        dg.mode(dg.zeros(2, 2), -3)


def test_mode_gradient_matches_torch_and_gradcheck():
    a = RNG.integers(0, 3, size=(4, 6)).astype(np.float64)
    d, t = _pair(a)
    d.requires_grad_(True)
    t.requires_grad_(True)
    g = RNG.normal(size=4)
    dg.mode(d, 1).values.backward(dg.tensor(g))
    torch.mode(t, 1).values.backward(torch.tensor(g))
    assert_close(d.grad, t.grad)
    x = dg.tensor(RNG.normal(size=(3, 4)), requires_grad=True)   # distinct: the mode is the min
    assert gradcheck(lambda v: dg.mode(v, 0).values, (x,))


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_nanmedian_matches_torch(dim, keepdim):
    a = RNG.normal(size=(5, 6))
    a[RNG.random(size=a.shape) < 0.3] = NAN
    a[2] = NAN
    d, t = _pair(a)
    if dim is None:
        _same(dg.nanmedian(d), torch.nanmedian(t))
        _same(d.nanmedian(), t.nanmedian())
    else:
        got, want = dg.nanmedian(d, dim, keepdim), torch.nanmedian(t, dim, keepdim)
        _same(got.values, want.values)
        _same(d.nanmedian(dim, keepdim=keepdim).values, t.nanmedian(dim, keepdim=keepdim).values)
        # An all-NaN slice's index is 0 here; PyTorch's is whichever NaN its nth_element
        # leaves first (row 2 is all NaN): compare the others.
        some = ~np.isnan(a).all(axis=dim, keepdims=keepdim)
        assert np.array_equal(to_np(got.indices)[some], want.indices.numpy()[some])
        assert np.all(to_np(got.indices)[~some] == 0)


def test_nanmedian_edge_cases_match_torch():
    for values in [[3, 1, 2, 4], [NAN, NAN], [], 2.5, [1.0, 1.0, NAN, 1.0, 0.0]]:
        d, t = _pair(values)
        _same(dg.nanmedian(d), torch.nanmedian(t))
        if np.ndim(values) <= 1 and np.size(values):
            _same(dg.nanmedian(d, 0), tuple(torch.nanmedian(t, 0)))
    with pytest.raises(IndexError, match="nanmedian\\(\\): Expected reduction dim 0"):
        dg.nanmedian(dg.zeros(0), 0)


@pytest.mark.parametrize("values", [[1.0, 2.0, 2.0, NAN, 5.0, 2.0], [[NAN, 1.0], [4.0, 3.0]],
                                    [NAN, NAN, 1.0]])
def test_nanmedian_gradients_match_torch(values):
    d, t = _pair(values)
    d.requires_grad_(True)
    t.requires_grad_(True)
    dg.nanmedian(d).backward()
    torch.nanmedian(t).backward()
    assert_close(d.grad, t.grad)
    d.grad, t.grad = None, None
    g = np.arange(1.0, d.shape[0] + 1) if d.ndim == 2 else 2.0
    dg.nanmedian(d, 0).values.backward(dg.tensor(g))
    torch.nanmedian(t, 0).values.backward(torch.tensor(g))
    assert_close(d.grad, t.grad)


def test_nanmedian_gradcheck():
    a = RNG.normal(size=(4, 5))
    a[1, 2] = NAN
    x = dg.tensor(a, requires_grad=True)
    assert gradcheck(lambda v: dg.nanmedian(v, 1).values, (x,))
    y = dg.tensor(RNG.normal(size=7), requires_grad=True)
    assert gradcheck(lambda v: dg.nanmedian(v), (y,))


# ----------------------------------------------------------------------------------------------
# quantile, nanquantile
# ----------------------------------------------------------------------------------------------

MODES = ["linear", "lower", "higher", "midpoint", "nearest"]
QS = [0.0, 0.3, 0.5, 1.0, [0.1, 0.25, 0.5, 0.9, 1.0]]


@pytest.mark.parametrize("interpolation", MODES)
@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("dim, keepdim", [(None, False), (None, True), (0, False), (1, True),
                                          (-1, False), (-2, True)])
def test_quantile_matches_torch_and_numpy(interpolation, q, dim, keepdim):
    a = RNG.normal(size=(4, 7))
    d, t = _pair(a)
    dq, tq = (dg.tensor(q, dtype=dg.float64), torch.tensor(q, dtype=torch.float64)) \
        if isinstance(q, list) else (q, q)
    got = dg.quantile(d, dq, dim, keepdim, interpolation=interpolation)
    _same(got, torch.quantile(t, tq, dim, keepdim, interpolation=interpolation))
    want = np.quantile(a, q, axis=dim, keepdims=keepdim, method=interpolation)
    assert_close(got, want)
    _same(d.quantile(dq, dim=dim, keepdim=keepdim, interpolation=interpolation),
          t.quantile(tq, dim=dim, keepdim=keepdim, interpolation=interpolation))


@pytest.mark.parametrize("interpolation", MODES)
@pytest.mark.parametrize("dim", [None, 1, -2])
def test_nanquantile_matches_torch_and_numpy(interpolation, dim):
    a = RNG.normal(size=(5, 6))
    a[RNG.random(size=a.shape) < 0.3] = NAN
    a[:, 4] = NAN
    a[3] = NAN
    d, t = _pair(a)
    q = [0.0, 0.2, 0.5, 0.75, 1.0]
    dq, tq = dg.tensor(q, dtype=dg.float64), torch.tensor(q, dtype=torch.float64)
    got = dg.nanquantile(d, dq, dim, interpolation=interpolation)
    _same(got, torch.nanquantile(t, tq, dim, interpolation=interpolation))
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning) if dim is not None else \
            _no_warning():
        want = np.nanquantile(a, q, axis=dim, method=interpolation)
    assert_close(got, want)
    _same(d.nanquantile(0.4, dim=dim), t.nanquantile(0.4, dim=dim))
    _same(dg.quantile(d, dq, dim, interpolation=interpolation),
          torch.quantile(t, tq, dim, interpolation=interpolation))


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_quantile_float32_0d_and_q_shapes_match_torch(name):
    d, t = _pair(RNG.normal(size=(3, 8)), name)
    dq, tq = _pair([0.05, 0.5, 0.95], name)
    _same(dg.quantile(d, dq, 1), torch.quantile(t, tq, 1))
    _same(dg.quantile(d, dq[1], 0, True), torch.quantile(t, tq[1], 0, True))
    s, ts = _pair(2.5, name)
    _same(dg.quantile(s, dq, 0, True), torch.quantile(ts, tq, 0, True))
    _same(dg.quantile(s, 0.3), torch.quantile(ts, 0.3))
    _same(dg.nanquantile(s, dq, -1), torch.nanquantile(ts, tq, -1))


@pytest.mark.parametrize("interpolation", MODES)
def test_quantile_gradients_match_torch_and_gradcheck(interpolation):
    a = RNG.normal(size=(4, 6))
    d, t = _pair(a)
    d.requires_grad_(True)
    t.requires_grad_(True)
    q = [0.1, 0.5, 0.77]
    r = dg.quantile(d, dg.tensor(q, dtype=dg.float64), 1, interpolation=interpolation)
    w = torch.quantile(t, torch.tensor(q, dtype=torch.float64), 1, interpolation=interpolation)
    g = RNG.normal(size=tuple(w.shape))
    r.backward(dg.tensor(g))
    w.backward(torch.tensor(g))
    assert_close(d.grad, t.grad)
    x = dg.tensor(a, requires_grad=True)
    assert gradcheck(lambda v: dg.quantile(v, 0.3, 0, interpolation=interpolation), (x,))
    b = a.copy()
    b[1, 1] = NAN
    y = dg.tensor(b, requires_grad=True)
    assert gradcheck(lambda v: dg.nanquantile(v, 0.6, 1, interpolation=interpolation), (y,))


@pytest.mark.parametrize("call, message", [
    (lambda: dg.quantile(dg.tensor([1, 2]), 0.5), "must be either float or double dtype"),
    (lambda: dg.quantile(dg.zeros(3, dtype=dg.float16), 0.5), "float or double"),
    (lambda: dg.quantile(dg.zeros(3), dg.zeros(1, 1)), "q must be a scalar or 1D tensor"),
    (lambda: dg.quantile(dg.zeros(3), dg.zeros(1, dtype=dg.float64)), "same dtype as the input"),
    (lambda: dg.quantile(dg.zeros(3), 1.5), "q must be in the range \\[0, 1\\] but got 1.5"),
    (lambda: dg.nanquantile(dg.zeros(3), dg.tensor([1.5])), "q values must be in the range"),
    (lambda: dg.quantile(dg.zeros(0), 0.5), "input tensor must be non-empty"),
    (lambda: dg.quantile(dg.zeros(3), 0.5, interpolation="foo"), "but got 'foo'"),
])
def test_quantile_errors(call, message):
    with pytest.raises(RuntimeError, match=message):
        call()


def test_quantile_q_of_the_wrong_type_raises_type_error():
    with pytest.raises(TypeError, match="q must be a float or a Tensor, not list"):
        dg.quantile(dg.zeros(3), [0.5])


def test_quantile_out_argument():
    out = dg.empty(2, dtype=dg.float64)
    x = dg.tensor([[0.0, 1.0, 2.0], [3.0, 5.0, 4.0]], dtype=dg.float64)
    assert dg.quantile(x, 0.5, 1, out=out) is out
    assert to_np(out).tolist() == [1.0, 4.0]


# ----------------------------------------------------------------------------------------------
# Compiled
# ----------------------------------------------------------------------------------------------

def _binning(seq, x, idx):
    h = dg.histc(x, bins=6)
    pos = dg.searchsorted(seq, x, right=True)
    buckets = dg.bucketize(x, seq)
    counts = dg.bincount(idx, minlength=3)
    m = dg.mode(idx.reshape(2, -1), 1)
    return h * 2, pos + 1, buckets, counts, m.values, m.indices


def _stats(x):
    return dg.quantile(x, 0.25, 1) + 1, dg.nanquantile(x, 0.5), dg.nanmedian(x, 0).values * 3


def test_compiled_binning_and_statistics_match_eager():
    f = dg.compile(_binning, backend="llvm")
    seq = dg.tensor([-1.0, 0.0, 0.5, 2.0])
    for k in range(4):
        x = dg.tensor(RNG.normal(size=10) * (k + 1))
        idx = dg.tensor(RNG.integers(0, 4 + 3 * k, size=8))   # bincount's length changes
        for got, want in zip(f(seq, x, idx), _binning(seq, x, idx)):
            assert got.dtype is want.dtype
            assert_close(got, want)
    g = dg.compile(_stats, backend="llvm")
    for _ in range(3):
        a = RNG.normal(size=(3, 5))
        a[RNG.random(size=a.shape) < 0.2] = NAN
        x = dg.tensor(a)
        for got, want in zip(g(x), _stats(x)):
            assert_close(got, want)


def test_compiled_sampler_is_reproducible_under_the_seed():
    def fill(x):
        return x.uniform_(-1, 1) * 2

    f = dg.compile(fill, backend="llvm")
    results = []
    for _ in range(3):
        dg.manual_seed(11)
        results.append(to_np(f(dg.zeros(6))))
    dg.manual_seed(11)
    eager = to_np(fill(dg.zeros(6)))
    for r in results:
        assert np.array_equal(r, eager)
