"""Reductions and sorting against PyTorch (and numpy in float64): many dims, keepdim and dtypes,
gradients (ties, zeros), double backward, and PyTorch-like errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck, gradgradcheck
from tests.conftest import assert_close, requires_torch, to_np, torch

RNG = np.random.default_rng(2024)
X = RNG.standard_normal((3, 4, 5))
DTYPES = {"float32": (dg.float32, "float32"), "float64": (dg.float64, "float64")}
DIMS = [None, 0, -1, (0, 2), (-1, 1), ()]


def _pair(a, dtype="float64", requires_grad=True):
    """The same values as a dyngraph tensor and a torch tensor."""
    d = dg.tensor(a, dtype=getattr(dg, dtype), requires_grad=requires_grad)
    t = torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=requires_grad)
    return d, t


def _check_fwd_bwd(dfn, tfn, a, dtype="float64", rtol=None, atol=None):
    d, t = _pair(a, dtype)
    got, want = dfn(d), tfn(t)
    assert tuple(got.shape) == tuple(want.shape)
    assert got.dtype.name == str(want.dtype).replace("torch.", "")
    assert_close(got, want, dtype, rtol=rtol, atol=atol)
    seed = RNG.standard_normal(tuple(want.shape))
    want.backward(torch.tensor(seed, dtype=want.dtype))
    got.backward(dg.tensor(seed, dtype=got.dtype))
    assert_close(d.grad, t.grad, dtype, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------------------------
# sum / mean / amax / amin / norm / var / std / logsumexp over many dims
# ----------------------------------------------------------------------------------------------

REDUCTIONS = {
    "sum": (lambda x, d, k: x.sum(d, keepdim=k), lambda x, d, k: x.sum(d, keepdim=k)),
    "mean": (lambda x, d, k: x.mean(d, keepdim=k), lambda x, d, k: x.mean(d, keepdim=k)),
    "amax": (lambda x, d, k: x.amax(d, keepdim=k), lambda x, d, k: x.amax(d, keepdim=k)),
    "amin": (lambda x, d, k: x.amin(d, keepdim=k), lambda x, d, k: x.amin(d, keepdim=k)),
    "norm2": (lambda x, d, k: x.norm(2, d, k), lambda x, d, k: x.norm(2, d, k)),
    "norm1": (lambda x, d, k: x.norm(1, d, k), lambda x, d, k: x.norm(1, d, k)),
    "norm_inf": (lambda x, d, k: x.norm(float("inf"), d, k),
                 lambda x, d, k: x.norm(float("inf"), d, k)),
    "var": (lambda x, d, k: x.var(d, keepdim=k), lambda x, d, k: x.var(d, keepdim=k)),
    "std0": (lambda x, d, k: x.std(d, keepdim=k, correction=0),
             lambda x, d, k: x.std(d, keepdim=k, correction=0)),
    "logsumexp": (lambda x, d, k: x.logsumexp(d, keepdim=k),
                  lambda x, d, k: x.logsumexp(d, keepdim=k)),
    "nansum": (lambda x, d, k: x.nansum(d, keepdim=k), lambda x, d, k: x.nansum(d, keepdim=k)),
}


def _torch_dim(name, dim):
    # torch.logsumexp and norm have no "all dims" spelling of () or None everywhere; pass the
    # full tuple, which means the same thing.
    if dim in (None, ()) and name in ("logsumexp", "norm2", "norm1", "norm_inf"):
        return tuple(range(X.ndim))
    return dim


@requires_torch
@pytest.mark.parametrize("dtype", sorted(DTYPES))
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_matches_torch(name, dim, keepdim, dtype):
    dfn, tfn = REDUCTIONS[name]
    if dim is None and keepdim and name in ("mean", "sum", "var", "std0", "nansum", "amax",
                                             "amin"):
        pytest.skip("torch rejects dim=None with keepdim for this op's overloads")
    if dim == () and name in ("var", "std0"):
        pytest.skip("torch's var/std backward treats dim=() as no reduction (a torch bug); "
                    "the forward treats it as all dims, as dyngraph does")
    tdim = _torch_dim(name, dim)
    _check_fwd_bwd(lambda x: dfn(x, dim, keepdim), lambda x: tfn(x, tdim, keepdim), X, dtype)


@requires_torch
@pytest.mark.parametrize("dim", [0, 1, -1, -3])
@pytest.mark.parametrize("keepdim", [False, True])
def test_prod_and_arg_reductions_with_dim(dim, keepdim):
    _check_fwd_bwd(lambda x: x.prod(dim, keepdim), lambda x: x.prod(dim, keepdim), X)
    d, t = _pair(X, requires_grad=False)
    for name in ("argmax", "argmin"):
        got = getattr(d, name)(dim, keepdim)
        want = getattr(t, name)(dim, keepdim)
        assert got.dtype is dg.int64
        np.testing.assert_array_equal(to_np(got), want.numpy())
    for name in ("max", "min"):
        def values(x, name=name):
            return getattr(x, name)(dim, keepdim).values
        _check_fwd_bwd(values, values, X)
        np.testing.assert_array_equal(to_np(getattr(d, name)(dim, keepdim).indices),
                                      getattr(t, name)(dim, keepdim).indices.numpy())


@requires_torch
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scans_match_torch(dim):
    _check_fwd_bwd(lambda x: x.cumsum(dim), lambda x: x.cumsum(dim), X)
    _check_fwd_bwd(lambda x: x.cumprod(dim), lambda x: x.cumprod(dim), X)


# ----------------------------------------------------------------------------------------------
# dtypes
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int8", "int16", "int32", "int64"])
def test_integer_reductions_accumulate_in_int64(dtype):
    a = RNG.integers(0, 4, size=(3, 5)).astype(dtype)
    d, t = dg.tensor(a), torch.tensor(a)
    for fn in (lambda x: x.sum(), lambda x: x.sum(1), lambda x: x.prod(0),
               lambda x: x.cumsum(1), lambda x: x.cumprod(0), lambda x: x.sum(0, dtype=x.dtype)):
        got, want = fn(d), fn(t)
        assert got.dtype.name == str(want.dtype).replace("torch.", ""), dtype
        np.testing.assert_array_equal(to_np(got), want.numpy())


@requires_torch
def test_all_any_keep_uint8_and_take_tuple_dims():
    a = RNG.integers(0, 2, size=(2, 3, 4)).astype(np.uint8)
    d, t = dg.tensor(a), torch.tensor(a)
    for got, want in [(d.all(), t.all()), (d.any(1), t.any(1)),
                      (d.bool().all((0, 2)), t.bool().all((0, 2))),
                      (dg.count_nonzero(d, (0, 1)), torch.count_nonzero(t, (0, 1)))]:
        assert got.dtype.name == str(want.dtype).replace("torch.", "")
        np.testing.assert_array_equal(to_np(got), want.numpy())


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_accumulates_in_float32(dtype):
    # 4096 ones: a float16 accumulator would stop at 2048, a bfloat16 one at 256.
    x = dg.ones(4096, dtype=getattr(dg, dtype))
    assert x.sum().dtype is getattr(dg, dtype)
    assert x.sum().item() == 4096
    assert x.mean().item() == 1.0
    assert x.cumsum(0)[-1].item() == 4096
    v = dg.tensor(RNG.standard_normal(4000) + 3.0, dtype=getattr(dg, dtype))
    ref = to_np(v).astype(np.float64)
    np.testing.assert_allclose(v.var().item(), ref.var(ddof=1), rtol=2e-2)
    np.testing.assert_allclose(v.norm().item(), np.sqrt((ref * ref).sum()), rtol=2e-2)


def test_sum_dtype_argument_and_out():
    x = dg.tensor(X, dtype=dg.float32)
    r = x.sum(1, dtype=dg.float64)
    assert r.dtype is dg.float64
    np.testing.assert_allclose(to_np(r), X.astype(np.float32).astype(np.float64).sum(1))
    out = dg.empty(3, 5)
    assert dg.sum(x, 1, out=out) is out
    np.testing.assert_allclose(to_np(out), X.sum(1), rtol=1e-5)
    assert dg.mean(dg.tensor([1, 2]), dtype=dg.float64).item() == 1.5


# ----------------------------------------------------------------------------------------------
# gradients at ties and zeros, double backward
# ----------------------------------------------------------------------------------------------

TIES = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 0.0], [-1.0, 0.5, 0.5, -1.0]])


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.amax(1), lambda x: x.amin(0), lambda x: x.amax(), lambda x: x.max(),
    lambda x: x.min(), lambda x: x.norm(float("inf"), 1), lambda x: x.median(),
    lambda x: x.max(1).values, lambda x: x.min(1, keepdim=True).values,
    lambda x: x.median(1).values,
], ids=["amax1", "amin0", "amax", "max", "min", "norm_inf", "median", "max_dim", "min_dim",
        "median_dim"])
def test_gradients_at_ties_match_torch(fn):
    d, t = _pair(TIES)
    got, want = fn(d), fn(t)
    assert_close(got, want)
    want.sum().backward()
    got.sum().backward()
    assert_close(d.grad, t.grad)


@requires_torch
def test_max_with_dim_indices_at_ties_match_torch():
    d, t = _pair(TIES, requires_grad=False)
    for dim in (0, 1):
        np.testing.assert_array_equal(to_np(d.max(dim).indices), t.max(dim).indices.numpy())
        np.testing.assert_array_equal(to_np(d.min(dim).indices), t.min(dim).indices.numpy())
        np.testing.assert_array_equal(to_np(d.argmax(dim)), t.argmax(dim).numpy())


ZEROS = np.array([[2.0, 0.0, 1.5, 3.0, -1.0], [0.0, 2.0, 0.0, 1.0, 3.0],
                  [1.0, 2.0, -3.0, 0.5, 2.0]])


@requires_torch
@pytest.mark.parametrize("fn", [lambda x: x.prod(1), lambda x: x.prod(0), lambda x: x.prod(),
                                lambda x: x.cumprod(1), lambda x: x.cumprod(0),
                                lambda x: x.norm(), lambda x: (x * 0).norm(dim=1)],
                         ids=["prod1", "prod0", "prod", "cumprod1", "cumprod0", "norm",
                              "norm_zero"])
def test_gradients_at_zeros_match_torch(fn):
    _check_fwd_bwd(fn, fn, ZEROS)


@pytest.mark.parametrize("fn", [lambda x: x.prod(1), lambda x: x.cumprod(1),
                                lambda x: x.norm(3, 1), lambda x: x.norm(dim=0),
                                lambda x: x.logsumexp(1), lambda x: x.var(0),
                                lambda x: x.amax(1), lambda x: x.cumsum(0)],
                         ids=["prod", "cumprod", "norm3", "norm2", "logsumexp", "var", "amax",
                              "cumsum"])
def test_double_backward(fn):
    x = dg.tensor(RNG.uniform(0.5, 2.0, size=(3, 4)), requires_grad=True)
    assert gradgradcheck(fn, (x,), atol=1e-5, rtol=1e-4)


def test_prod_double_backward_with_a_zero():
    a = RNG.uniform(0.5, 2.0, size=(2, 4))
    a[0, 1] = 0.0
    x = dg.tensor(a, requires_grad=True)
    assert gradcheck(lambda t: t.prod(1), (x,), atol=1e-6, rtol=1e-4)
    assert gradgradcheck(lambda t: t.prod(1), (x,), atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------------------------
# var / std overloads, median, logsumexp edge cases
# ----------------------------------------------------------------------------------------------

@requires_torch
def test_var_std_overloads_match_torch():
    d, t = _pair(X, requires_grad=False)
    pairs = [(d.var(False), t.var(False)), (d.std(1, True, True), t.std(1, True, True)),
             (d.var(dim=(0, 1), correction=0), t.var(dim=(0, 1), correction=0)),
             (dg.std_mean(d, 1)[0], torch.std_mean(t, 1)[0]),
             (dg.std_mean(d, 1)[1], torch.std_mean(t, 1)[1]),
             (dg.var_mean(d, (0, 2), correction=2)[0], torch.var_mean(t, (0, 2), correction=2)[0])]
    for got, want in pairs:
        assert_close(got, want)
    with warnings.catch_warnings():  # torch warns that N - correction <= 0
        warnings.simplefilter("ignore")
        want = torch.tensor([1.5, 2.0]).var(correction=2)
    assert_close(dg.tensor([1.5, 2.0]).var(correction=2), want)


@requires_torch
def test_logsumexp_infinities_match_torch():
    a = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [0.0, 1000.0]])
    d, t = _pair(a, requires_grad=False)
    assert_close(d.logsumexp(1), t.logsumexp(1))
    assert dg.logsumexp(dg.tensor([1, 2]), 0).dtype is dg.float32


@requires_torch
def test_median_values_and_indices_match_torch():
    a = RNG.permutation(24).reshape(4, 6).astype(np.float64)
    d, t = _pair(a, requires_grad=False)
    for dim in (0, 1, -1):
        got, want = d.median(dim), t.median(dim)
        np.testing.assert_array_equal(to_np(got.values), want.values.numpy())
        np.testing.assert_array_equal(to_np(got.indices), want.indices.numpy())
    assert d.median().item() == t.median().item()


@requires_torch
def test_median_nan_and_aminmax_match_torch():
    a = RNG.standard_normal((3, 5))
    a[1, 3] = a[2, 0] = a[2, 4] = np.nan
    d, t = _pair(a, requires_grad=False)
    for dim in (0, 1):
        got, want = d.median(dim), t.median(dim)
        np.testing.assert_array_equal(to_np(got.values), want.values.numpy())
        np.testing.assert_array_equal(to_np(got.indices), want.indices.numpy())
    assert np.isnan(d.median().item()) and np.isnan(t.median().item())
    b = RNG.standard_normal((3, 5))
    d, t = _pair(b, requires_grad=False)
    for kw in ({}, {"dim": 1}, {"dim": 0, "keepdim": True}):
        got, want = dg.aminmax(d, **kw), torch.aminmax(t, **kw)
        assert_close(got.min, want.min)
        assert_close(got.max, want.max)


# ----------------------------------------------------------------------------------------------
# sorting
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_stable_sort_with_ties_and_nan_matches_torch(dim, descending):
    a = RNG.integers(0, 3, size=(5, 6)).astype(np.float64)
    a[1, 2] = a[3, 0] = a[4, 4] = np.nan
    d, t = _pair(a, requires_grad=False)
    got = d.sort(dim, descending, stable=True)
    want = t.sort(dim=dim, descending=descending, stable=True)
    np.testing.assert_array_equal(to_np(got.values), want.values.numpy())
    np.testing.assert_array_equal(to_np(got.indices), want.indices.numpy())
    np.testing.assert_array_equal(to_np(d.argsort(dim, descending, stable=True)),
                                  t.argsort(dim=dim, descending=descending, stable=True).numpy())


@requires_torch
@pytest.mark.parametrize("dtype", ["bool", "int32", "int64", "float32"])
def test_sort_other_dtypes_match_torch(dtype):
    a = RNG.integers(-3, 3, size=(4, 7)).astype(dtype)
    d, t = dg.tensor(a), torch.tensor(a)
    for desc in (False, True):
        got, want = d.sort(1, desc, stable=True), t.sort(dim=1, descending=desc, stable=True)
        np.testing.assert_array_equal(to_np(got.values), want.values.numpy())
        np.testing.assert_array_equal(to_np(got.indices), want.indices.numpy())


@requires_torch
def test_sort_topk_gradients_flow_to_selected_elements():
    a = RNG.standard_normal((4, 6))
    for dfn in (lambda x: x.sort(1, descending=True).values[:, :3],
                lambda x: x.topk(3, 1).values, lambda x: x.topk(2, 0, largest=False).values,
                lambda x: x.kthvalue(2, 1).values):
        _check_fwd_bwd(dfn, dfn, a)


@requires_torch
def test_topk_nan_is_largest_like_torch():
    a = np.array([[1.0, np.nan, 3.0, 2.0], [4.0, 0.0, np.nan, np.nan]])
    d, t = _pair(a, requires_grad=False)
    for k, largest in [(2, True), (3, True), (2, False)]:
        got, want = d.topk(k, 1, largest), t.topk(k, 1, largest)
        np.testing.assert_array_equal(to_np(got.values), want.values.numpy())
        np.testing.assert_array_equal(to_np(got.indices), want.indices.numpy())


def test_sort_of_scalar_and_empty():
    s = dg.tensor(3.0)
    assert s.sort().values.item() == 3.0 and s.sort().indices.item() == 0
    e = dg.zeros(0, 3).sort(0)
    assert tuple(e.values.shape) == (0, 3)
    assert tuple(dg.topk(dg.ones(4), 0).values.shape) == (0,)


def test_sort_out_and_namedtuple_fields():
    x = dg.tensor([3.0, 1.0, 2.0])
    v, i = dg.empty(3), dg.empty(3, dtype=dg.int64)
    r = dg.sort(x, out=(v, i))
    assert r.values is v and r.indices is i
    assert v.tolist() == [1.0, 2.0, 3.0] and i.tolist() == [1, 2, 0]
    assert type(dg.topk(x, 1)).__name__ == "topk"
    assert dg.max(x, 0)._fields == ("values", "indices")


@requires_torch
def test_unique_matches_torch():
    a = RNG.integers(0, 5, size=(4, 3))
    d, t = dg.tensor(a), torch.tensor(a)
    for kw in ({}, {"return_inverse": True}, {"return_counts": True},
               {"return_inverse": True, "return_counts": True, "dim": 1}):
        got, want = dg.unique(d, **kw), torch.unique(t, **kw)
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(to_np(g), w.numpy())


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda x: x.sum(2), lambda x: x.mean(-3), lambda x: x.amax((0, 5)), lambda x: x.max(2),
    lambda x: x.argmax(2), lambda x: x.cumsum(2), lambda x: x.var(2), lambda x: x.norm(dim=2),
    lambda x: x.sort(2), lambda x: x.topk(1, 2), lambda x: x.logsumexp(2),
    lambda x: x.prod(2), lambda x: x.median(2), lambda x: x.all(2),
])
def test_bad_dim_error_is_pytorch_like(call):
    x = dg.ones(2, 3)
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of "
                                         r"\[-2, 1\], but got (2|-3|5)\)"):
        call(x)


@pytest.mark.parametrize("call, pattern", [
    (lambda: dg.ones(2, 3).sum((0, 0)), "dim .* appears multiple times"),
    (lambda: dg.tensor([1, 2]).mean(), "mean\\(\\): could not infer output dtype"),
    (lambda: dg.tensor([1, 2]).var(), "std and var only support floating point"),
    (lambda: dg.tensor([1, 2]).norm(), "Expected a floating point"),
    (lambda: dg.zeros(0, 3).amax(0), "Expected reduction dim to have non-zero size"),
    (lambda: dg.zeros(0).max(), "Expected reduction dim to be specified"),
    (lambda: dg.zeros(0).argmax(), "Expected reduction dim to be specified"),
    (lambda: dg.ones(3).topk(4), "selected index k out of range"),
    (lambda: dg.ones(3).kthvalue(0), "selected number k out of range"),
    (lambda: dg.ones(3).norm("nuc"), "nuclear norm"),
])
def test_reduction_errors(call, pattern):
    with pytest.raises((RuntimeError, IndexError, NotImplementedError), match=pattern):
        call()


def test_inplace_scans():
    x = dg.tensor([1.0, 2.0, 3.0])
    assert x.cumsum_(0) is x and x.tolist() == [1.0, 3.0, 6.0]
    assert x.cumprod_(0).tolist() == [1.0, 3.0, 18.0]


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.sum(0), lambda x: x.mean(-1, keepdim=True), lambda x: x.amax(0),
    lambda x: x.prod(0), lambda x: x.cumsum(0), lambda x: x.cumprod(-1), lambda x: x.norm(dim=0),
    lambda x: x.logsumexp(0), lambda x: x.max(0).values, lambda x: x.sort().values,
    lambda x: x.topk(1).values, lambda x: x.kthvalue(1).values, lambda x: x.median(0).values,
], ids=["sum", "mean", "amax", "prod", "cumsum", "cumprod", "norm", "logsumexp", "max", "sort",
        "topk", "kthvalue", "median"])
def test_zero_dim_tensors_accept_dim_0_like_torch(fn):
    _check_fwd_bwd(fn, fn, np.array(2.5))
