"""Tests for dyngraph/ops/misc_fns.py beyond the OpInfo cases: Tensor memory methods, Python
callbacks, cov/corrcoef weights and edge cases (and compiled vs eager), histogram against torch
on random data, errors, empty and 0-D inputs."""

from __future__ import annotations

import multiprocessing
import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck
from dyngraph.ops import misc_fns as M
from tests.conftest import assert_close, requires_torch, to_np, torch

RNG = np.random.default_rng(7)


# ---------------------------------------------------------------------------------------------
# pin_memory, is_pinned, share_memory_, is_shared
# ---------------------------------------------------------------------------------------------

def test_pin_memory_returns_an_unaliased_copy():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = x.pin_memory()
    assert y is not x and not y.is_pinned() and not x.is_pinned()
    assert_close(y, x)
    y.sum().backward()  # differentiable, like clone()
    assert_close(x.grad, np.ones(2))
    z = dg.ones(3).pin_memory()
    z[0] = 5.0
    assert to_np(z)[0] == 5.0


def test_share_memory_is_seen_by_a_forked_child():
    x = dg.zeros(4)
    assert not x.is_shared()
    assert x.share_memory_() is x and x.is_shared() and x[1:].is_shared()
    assert x.share_memory_() is x  # already shared: a no-op
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=lambda: x.fill_(3.0))
    p.start()
    p.join()
    assert p.exitcode == 0
    assert_close(x, np.full(4, 3.0))


def test_share_memory_keeps_values_dtype_and_empty():
    x = dg.arange(6).reshape(2, 3)
    assert_close(x.share_memory_(), np.arange(6).reshape(2, 3))
    assert x.dtype is dg.int64 and x.is_shared()
    assert dg.zeros(0).share_memory_().shape == (0,)


def test_share_memory_refuses_views():
    x = dg.zeros(4)
    v = x[1:]
    with pytest.raises(RuntimeError, match="share_memory_: .*view"):
        v.share_memory_()
    with pytest.raises(RuntimeError, match="share_memory_: .*view"):
        x.share_memory_()


# ---------------------------------------------------------------------------------------------
# apply_ and map_
# ---------------------------------------------------------------------------------------------

@requires_torch
def test_apply_and_map_match_torch():
    a = RNG.standard_normal((2, 3))
    assert_close(dg.tensor(a).apply_(lambda v: v * v + 1), torch.tensor(a).apply_(
        lambda v: v * v + 1))
    i = np.array([1, 2, 3])
    assert_close(dg.tensor(i).apply_(lambda v: v * 1.5), torch.tensor(i).apply_(
        lambda v: v * 1.5))
    b = RNG.standard_normal(3)
    assert_close(dg.tensor(a).map_(dg.tensor(b), lambda p, q: p - 2 * q),
                 torch.tensor(a).map_(torch.tensor(b), lambda p, q: p - 2 * q))
    x = dg.ones(2)
    assert x.apply_(lambda v: v) is x and x._vc[0] == 1


def test_apply_map_errors():
    with pytest.raises(RuntimeError, match=r"Can't call apply_\(\) on Variable that requires "
                                           r"grad. Use var.detach\(\).apply_\(\)"):
        dg.ones(2, requires_grad=True).apply_(lambda v: v)
    with pytest.raises(RuntimeError, match=r"Can't call map_\(\)"):
        dg.ones(2, requires_grad=True).map_(dg.ones(2), lambda a, b: a)
    with pytest.raises(TypeError, match="must be callable, not int"):
        dg.ones(2).apply_(3)
    with pytest.raises(TypeError, match="must return a number"):
        dg.ones(2).apply_(lambda v: "a")
    with pytest.raises(TypeError, match="map_: expected float32 for 'other' .*int64"):
        dg.ones(2).map_(dg.tensor([1, 2]), lambda a, b: a)
    with pytest.raises(RuntimeError, match=r"shape of 'other' \[4\] cannot be broadcast"):
        dg.ones(3).map_(dg.ones(4), lambda a, b: a)
    with pytest.raises(TypeError, match="must be Tensor, not list"):
        dg.ones(3).map_([1.0, 2.0, 3.0], lambda a, b: a)


# ---------------------------------------------------------------------------------------------
# cov and corrcoef
# ---------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("correction", [0, 1, 2])
def test_cov_weights_against_torch(correction):
    x = RNG.standard_normal((3, 6))
    fw, aw = np.array([1, 0, 2, 3, 1, 1]), RNG.uniform(0.1, 2.0, 6)
    got = M.cov(dg.tensor(x), correction=correction, fweights=dg.tensor(fw),
                aweights=dg.tensor(aw))
    want = torch.cov(torch.tensor(x), correction=correction, fweights=torch.tensor(fw),
                     aweights=torch.tensor(aw))
    assert_close(got, want)
    assert_close(got, np.cov(x, ddof=correction, fweights=fw, aweights=aw))


def test_cov_corrcoef_gradcheck_with_weights():
    x = dg.tensor(RNG.standard_normal((2, 5)), requires_grad=True)
    aw = dg.tensor(RNG.uniform(0.5, 2.0, 5), requires_grad=True)
    fw = dg.tensor([2, 1, 1, 3, 1])
    assert gradcheck(lambda a, w: M.cov(a, fweights=fw, aweights=w), [x, aw])
    assert gradcheck(M.corrcoef, [x])


@requires_torch
def test_cov_dtypes_and_edge_shapes():
    i = np.arange(6).reshape(2, 3)
    got = M.cov(dg.tensor(i))
    assert got.dtype is dg.float32
    assert_close(got, torch.cov(torch.tensor(i)))
    assert M.cov(dg.ones(2, 3, dtype=dg.float16)).dtype is dg.float16
    assert M.cov(dg.ones(1, 4)).ndim == 0
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):  # one observation
        assert M.cov(dg.tensor(2.0)).ndim == 0
    assert tuple(M.cov(dg.ones(0, 3)).shape) == (0, 0)
    assert tuple(M.corrcoef(dg.ones(0, 3)).shape) == (0, 0)
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        got = M.cov(dg.ones(3, 0))
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        assert_close(got, torch.cov(torch.ones(3, 0)))
    with pytest.warns(UserWarning, match="degrees of freedom is <= 0"):
        assert_close(M.cov(dg.tensor([[1.0], [2.0]])), np.full((2, 2), np.nan))
    assert np.isnan(to_np(M.corrcoef(dg.tensor([1.0, 1.0, 1.0]))))
    assert_close(M.corrcoef(dg.tensor([1.0, 2.0, 4.0])), 1.0)
    assert_close(dg.tensor(i).corrcoef(), np.corrcoef(i))


def test_cov_errors():
    with pytest.raises(RuntimeError, match="cov\\(\\): expected input to have two or fewer "
                                           "dimensions but got an input with 3"):
        M.cov(dg.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="bool dtype is not supported"):
        M.cov(dg.tensor([True, False]))
    with pytest.raises(TypeError, match="'correction' must be int, not float"):
        M.cov(dg.ones(2, 3), correction=2.5)
    with pytest.raises(RuntimeError, match="fweights to have integral dtype .*float32"):
        M.cov(dg.ones(2, 3), fweights=dg.ones(3))
    with pytest.raises(RuntimeError, match="aweights to have floating point dtype .*int64"):
        M.cov(dg.ones(2, 3), aweights=dg.tensor([1, 1, 1]))
    with pytest.raises(RuntimeError, match="fweights cannot be negative"):
        M.cov(dg.ones(2, 3), fweights=dg.tensor([1, -1, 1]))
    with pytest.raises(RuntimeError, match="same numel as there are observations .* 4 != 3"):
        M.cov(dg.ones(2, 3), aweights=dg.ones(4))
    with pytest.raises(RuntimeError, match="aweights to have one or fewer dimensions"):
        M.cov(dg.ones(2, 3), aweights=dg.ones(1, 3))
    with pytest.raises(RuntimeError, match="corrcoef\\(\\): expected input to have two"):
        M.corrcoef(dg.ones(1, 2, 3))


@pytest.mark.parametrize("fn", [M.cov, M.corrcoef, lambda x: M.cov(x, correction=0)])
def test_cov_corrcoef_compiled_matches_eager(fn):
    x = dg.tensor(RNG.standard_normal((4, 7)), dtype=dg.float32)
    compiled = dg.compile(fn, backend="llvm")
    assert_close(compiled(x), fn(x), "float32")
    y = dg.tensor(RNG.standard_normal((4, 7)), dtype=dg.float32)
    assert_close(compiled(y), fn(y), "float32")


# ---------------------------------------------------------------------------------------------
# vander, pdist, chain_matmul
# ---------------------------------------------------------------------------------------------

@requires_torch
def test_vander_dtypes_and_shapes():
    for arr in (np.array([1, 2, 3], dtype=np.int8), np.array([True, False])):
        got, want = M.vander(dg.tensor(arr), 4), torch.vander(torch.tensor(arr), 4)
        assert got.dtype is dg.int64
        assert_close(got, want)
    assert tuple(M.vander(dg.ones(2), N=0).shape) == (2, 0)
    assert tuple(M.vander(dg.ones(0)).shape) == (0, 0)
    assert M.vander(dg.ones(3)).dtype is dg.float32
    with pytest.raises(RuntimeError, match="x must be a one-dimensional tensor"):
        M.vander(dg.ones(2, 2))
    with pytest.raises(RuntimeError, match="x must be a one-dimensional tensor"):
        M.vander(dg.tensor(2.0))
    with pytest.raises(RuntimeError, match="N must be non-negative"):
        M.vander(dg.ones(2), N=-1)


@requires_torch
def test_pdist_edge_cases_and_gradients():
    for shape in ((1, 2), (0, 2), (3, 0)):
        assert_close(M.pdist(dg.ones(*shape)), torch.pdist(torch.ones(*shape)))
    # many rows (cdist would switch to the matmul form) and a repeated row (zero distance)
    x = RNG.standard_normal((30, 3))
    x[5] = x[2]
    for p in (0.0, 1.0, 2.0, float("inf")):
        tx = torch.tensor(x, requires_grad=True)
        dx = dg.tensor(x, requires_grad=True)
        want, got = torch.pdist(tx, p), M.pdist(dx, p)
        assert_close(got, want)
        seed = RNG.standard_normal(tuple(want.shape))
        want.backward(torch.tensor(seed))
        got.backward(dg.tensor(seed))
        assert_close(dx.grad, tx.grad, rtol=1e-9, atol=1e-10)
    with pytest.raises(RuntimeError, match="pdist only supports 2D tensors, got: 3D"):
        M.pdist(dg.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="pdist only supports floating-point dtypes"):
        M.pdist(dg.tensor([[1, 2], [3, 4]]))
    with pytest.raises(RuntimeError, match="non-negative p values"):
        M.pdist(dg.ones(3, 2), p=-1)


def test_chain_matmul_warns_and_multiplies():
    a, b, c = (RNG.standard_normal(s) for s in ((2, 3), (3, 4), (4, 1)))
    with pytest.warns(UserWarning, match="chain_matmul is deprecated.*multi_dot"):
        got = M.chain_matmul(dg.tensor(a), dg.tensor(b), dg.tensor(c))
    assert_close(got, a @ b @ c)
    with pytest.warns(UserWarning):
        single = M.chain_matmul(dg.tensor(a))
    assert_close(single, a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match="Expected one or more matrices"):
            M.chain_matmul()
        with pytest.raises(RuntimeError, match="matrix 0 has 1 dimensions"):
            M.chain_matmul(dg.ones(3), dg.ones(3, 2))


# ---------------------------------------------------------------------------------------------
# histogram and isin
# ---------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_histogram_random_data_matches_torch(dtype):
    for bins in (1, 3, 10, 64):
        x = RNG.standard_normal(500).astype(dtype)
        got = M.histogram(dg.tensor(x), bins)
        want = torch.histogram(torch.tensor(x), bins)
        assert got.hist.dtype is getattr(dg, dtype)
        # the edges may differ from PyTorch's by an ulp (see histogram's docstring); random
        # data lands within an ulp of an edge with negligible probability, so counts match
        assert_close(got.bin_edges, want.bin_edges, dtype)
        np.testing.assert_array_equal(to_np(got.hist), want.hist.numpy())


@requires_torch
def test_histogram_edge_cases_match_torch():
    cases = [([1.0, 1.0, 1.0], 2, {}), ([], 2, {}), ([1.0, 2.0, float("nan")], 2,
                                                      {"range": (0.0, 3.0)}),
             ([[1.0, 2.0], [1.0, 5.0]], 2, {}), ([-5.0, 0.0, 3.0, 9.0], 3, {"range": (0, 3)})]
    for data, bins, kw in cases:
        got = M.histogram(dg.tensor(data), bins, **kw)
        want = torch.histogram(torch.tensor(data), bins, **kw)
        assert_close(got.hist, want.hist)
        assert_close(got.bin_edges, want.bin_edges)
    hist, edges = dg.empty(0), dg.empty(0)
    res = M.histogram(dg.tensor([1.0, 2.0, 1.0]), 2, out=(hist, edges))
    assert res.hist is hist and res.bin_edges is edges
    assert_close(hist, [2.0, 1.0])
    assert M.histogram(dg.tensor([1.0], requires_grad=True), 2).hist.requires_grad is False


def test_histogram_errors():
    x = dg.tensor([1.0, 2.0, 1.0])
    with pytest.raises(RuntimeError, match="histogram\\(\\): not implemented for int64"):
        M.histogram(dg.tensor([1, 2]), 2)
    with pytest.raises(RuntimeError, match="bins must be > 0, but got 0"):
        M.histogram(x, 0)
    with pytest.raises(RuntimeError, match="min should not exceed max"):
        M.histogram(x, 2, range=(3.0, 1.0))
    with pytest.raises(RuntimeError, match="range of \\[1, inf\\] is not finite"):
        M.histogram(dg.tensor([1.0, float("inf")]), 2)
    with pytest.raises(RuntimeError, match="weight should have the same shape"):
        M.histogram(x, 2, weight=dg.ones(2))
    with pytest.raises(RuntimeError, match="same dtype.*weight\\(int64\\)"):
        M.histogram(x, 2, weight=dg.tensor([1, 2, 3]))
    with pytest.raises(RuntimeError, match="bins tensor should have the same dtype"):
        M.histogram(x, dg.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match="bins tensor should have one dimension"):
        M.histogram(x, dg.ones(1, 3))
    with pytest.raises(TypeError, match="'bins' must be int or Tensor, not float"):
        M.histogram(x, 2.5)


@requires_torch
def test_isin_scalars_nan_empty_and_errors():
    assert_close(M.isin(2, dg.tensor([1, 2])), torch.isin(2, torch.tensor([1, 2])))
    assert_close(M.isin(dg.tensor([1, 2, 3]), 2), torch.isin(torch.tensor([1, 2, 3]), 2))
    nan = float("nan")
    assert_close(M.isin(dg.tensor([1.0, nan]), dg.tensor([nan, 1.0])), [True, False])
    assert_close(M.isin(dg.ones(2, 0), dg.ones(3)), np.ones((2, 0), bool))
    assert_close(M.isin(dg.ones(2), dg.ones(0), invert=True), [True, True])
    big = RNG.integers(0, 50, 300)
    test = RNG.integers(0, 50, 40)
    assert_close(M.isin(dg.tensor(big), dg.tensor(test), assume_unique=False),
                 np.isin(big, test))
    with pytest.raises(TypeError, match="expected elements or test_elements to be a Tensor"):
        M.isin(2, 3)
    with pytest.raises(RuntimeError, match="Unsupported input type encountered for isin\\(\\): "
                                           "Bool"):
        M.isin(dg.tensor([True]), dg.tensor([True]))


# ---------------------------------------------------------------------------------------------
# gcd, lcm, ldexp, poisson, is_complex
# ---------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8"])
def test_gcd_lcm_integer_dtypes(dtype):
    a = RNG.integers(0 if dtype == "uint8" else -60, 60, 20).astype(dtype)
    b = RNG.integers(0 if dtype == "uint8" else -60, 60, 20).astype(dtype)
    for fn, tfn in ((M.gcd, torch.gcd), (M.lcm, torch.lcm)):
        got = fn(dg.tensor(a), dg.tensor(b))
        assert got.dtype is getattr(dg, dtype)
        assert_close(got, tfn(torch.tensor(a), torch.tensor(b)))
    x = dg.tensor([4, 6])
    assert x.gcd_(dg.tensor([6, 9])) is x
    assert_close(x, [2, 3])
    assert_close(dg.tensor([4, 6]).lcm_(dg.tensor([6, 9])), [12, 18])


def test_gcd_lcm_errors_and_empty():
    with pytest.raises(RuntimeError, match="gcd: not implemented for float32 .*\\.long\\(\\)"):
        M.gcd(dg.ones(2), dg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="lcm: not implemented for bool"):
        M.lcm(dg.tensor([True]), dg.tensor([1]))
    with pytest.raises(RuntimeError, match=r"gcd: shapes \(2,\), \(3,\) cannot be broadcast"):
        M.gcd(dg.tensor([1, 2]), dg.tensor([1, 2, 3]))
    assert tuple(M.gcd(dg.zeros(0, dtype=dg.int64), dg.tensor(3)).shape) == (0,)


@requires_torch
def test_ldexp_negative_exponents_dtypes_and_inplace():
    x, e = RNG.standard_normal(5), np.array([-3, -1, 0, 2, 60])
    assert_close(M.ldexp(dg.tensor(x), dg.tensor(e)), np.ldexp(x, e))
    assert M.ldexp(dg.tensor([1, 3]), dg.tensor([2, -1])).dtype is dg.float32
    assert_close(M.ldexp(dg.tensor([1, 3]), dg.tensor([2, -1])), [4.0, 1.5])
    y = dg.tensor([1.0, 2.0])
    assert y.ldexp_(dg.tensor([1, 2])) is y
    assert_close(y, [2.0, 8.0])
    xt = dg.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: M.ldexp(t, dg.tensor(e)), [xt])


def test_poisson_statistics_generator_and_errors():
    rates = dg.full((20000,), 3.5, dtype=dg.float64)
    s = M.poisson(rates, generator=dg.Generator().manual_seed(1))
    assert s.dtype is dg.float64 and not s.requires_grad
    arr = to_np(s)
    assert np.all(arr == np.round(arr)) and abs(arr.mean() - 3.5) < 0.1
    assert abs(arr.var() - 3.5) < 0.2
    again = M.poisson(rates, generator=dg.Generator().manual_seed(1))
    np.testing.assert_array_equal(to_np(again), arr)
    assert M.poisson(dg.tensor(2.0)).ndim == 0 and M.poisson(dg.empty(0)).shape == (0,)
    with pytest.raises(RuntimeError, match="poisson: invalid rate"):
        M.poisson(dg.tensor([-1.0]))
    with pytest.raises(RuntimeError, match="poisson: not implemented for int64"):
        M.poisson(dg.tensor([1]))


def test_is_complex():
    assert M.is_complex(dg.ones(2)) is False and dg.ones(2).is_complex() is False
    with pytest.raises(TypeError, match="is_complex\\(\\): argument 'input' must be a Tensor"):
        M.is_complex(1.0)
