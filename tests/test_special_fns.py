"""The special functions (dyngraph/ops/special_fns.py, dyngraph.special) at the points the OpInfo
cases (tests/opinfos/special_fns.py) do not reach: NaN, infinities, poles, 0-d and empty tensors,
integer and half-precision inputs, PyTorch's gradients at special points, errors, the no-scipy
fallbacks, signatures, and compiled mode against eager."""

from __future__ import annotations

import inspect
import math
import sys

import numpy as np
import pytest
import scipy.special as sp

import dyngraph as dg
from dyngraph.autograd import gradcheck
from tests.conftest import assert_close, requires_torch, to_np, torch

NAN, INF = math.nan, math.inf
# values that hit every special case of the unary primitives
SPECIAL = [0.0, -0.0, 1.0, -1.0, -2.0, -1.5, 0.5, 1e-300, 30.0, 1e10, INF, -INF, NAN, 1.0 - 1e-16]
UNARY = ["erfc", "erfinv", "lgamma", "digamma"]


def _pair(values, dtype="float64"):
    """The same values as a dyngraph tensor and a torch tensor."""
    with np.errstate(over="ignore"):   # (1e308 is inf in float32)
        a = np.array(values, dtype=dtype)
    return dg.tensor(a), torch.tensor(a)


# ----- forward at special points, dtypes, shapes -------------------------------------------------

@requires_torch
@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unary_special_points_match_torch(name, dtype):
    x, tx = _pair(SPECIAL, dtype)
    got, want = getattr(dg, name)(x), getattr(torch, name)(tx)
    assert got.dtype is getattr(dg, dtype)
    # (an absolute term for lgamma next to its root at 1, where scipy's error is 2e-16)
    rtol, atol = (1e-12, 1e-15) if dtype == "float64" else (2e-6, 1e-37)
    np.testing.assert_allclose(to_np(got), want.numpy(), rtol=rtol, atol=atol, equal_nan=True)
    # signs of zeros and infinities too
    num = ~np.isnan(want.numpy())
    assert np.array_equal(np.signbit(to_np(got))[num], np.signbit(want.numpy())[num])


@requires_torch
@pytest.mark.parametrize("n", [1, 2, 3])
def test_polygamma_matches_torch_and_scipy(n):
    xs = [0.3, 1.7, 4.5, 25.0, -0.5, -2.5, 0.0, INF, NAN]
    x, tx = _pair(xs)
    got = to_np(dg.polygamma(n, x))
    np.testing.assert_allclose(got[:6], sp.polygamma(n, np.array(xs[:6])), rtol=1e-13)
    # PyTorch's own float64 trigamma is good to ~5e-10
    np.testing.assert_allclose(got[:6], torch.polygamma(n, tx).numpy()[:6], rtol=1e-8)
    # a pole is +-inf, the limit at +inf is 0 (PyTorch: inf at 0, NaN at +inf for n >= 2)
    assert got[6] == (INF if n % 2 else -INF) and got[7] == 0 and math.isnan(got[8])
    assert math.isnan(to_np(dg.polygamma(n, dg.tensor([-INF])))[0])


def test_erfc_is_accurate_where_one_minus_erf_is_not():
    x = dg.tensor([10.0, 26.0], dtype=dg.float64)
    np.testing.assert_allclose(to_np(dg.erfc(x)), sp.erfc([10.0, 26.0]), rtol=1e-14)
    assert (to_np(1 - dg.erf(x)) == 0).all()   # what the composite would give
    x32 = dg.tensor([9.0], dtype=dg.float32)
    np.testing.assert_allclose(to_np(dg.erfc(x32)), sp.erfc(9.0), rtol=1e-6)


@requires_torch
@pytest.mark.parametrize("name", UNARY + ["sinc", "logit", "isposinf", "isneginf", "isreal"])
def test_unary_0d_empty_int_and_half(name):
    fn, tfn = getattr(dg, name), getattr(torch, name)
    for a in (np.array(0.25), np.zeros((0, 3)), np.array([1, 2, 7]),
              np.array([0.25, 0.5], dtype=np.float16)):
        got, want = fn(dg.tensor(a)), tfn(torch.tensor(a))
        assert tuple(got.shape) == tuple(want.shape)
        assert got.dtype.name == str(want.dtype).replace("torch.", ""), (got.dtype, want.dtype)
        assert_close(got, want.float() if want.dtype == torch.float16 else want,
                     rtol=1e-3 if a.dtype == np.float16 else 2e-6)


@requires_torch
def test_out_and_inplace_variants():
    x = dg.tensor([0.2, 0.7], dtype=dg.float64)
    out = dg.empty(2, dtype=dg.float64)
    assert dg.erfc(x, out=out) is out
    assert_close(out, torch.erfc(torch.tensor([0.2, 0.7], dtype=torch.float64)))
    for name in UNARY + ["sinc", "logit"]:
        y = x.clone()
        getattr(y, name + "_")()
        assert_close(y, getattr(torch, name)(torch.tensor([0.2, 0.7], dtype=torch.float64)))
    y = x.clone()
    y.polygamma_(2)
    assert_close(y, torch.polygamma(2, torch.tensor([0.2, 0.7], dtype=torch.float64)))
    y = x.clone()
    y.xlogy_(dg.tensor([3.0], dtype=dg.float64))
    assert_close(y, torch.tensor([0.2, 0.7], dtype=torch.float64).xlogy(torch.tensor([3.0])))


# ----- xlogy --------------------------------------------------------------------------------------

XS = [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, -0.0, 3.0, NAN]
YS = [0.0, 2.0, NAN, INF, 0.0, -1.0, -3.0, INF, 1.0]


@requires_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_xlogy_special_points_and_gradients_match_torch(dtype):
    x, tx = _pair(XS, dtype)
    y, ty = _pair(YS, dtype)
    assert_close(dg.xlogy(x, y), torch.xlogy(tx, ty), dtype)
    if dtype == "float64":
        x.requires_grad_(True), y.requires_grad_(True)
        tx.requires_grad_(True), ty.requires_grad_(True)
        dg.xlogy(x, y).sum().backward()
        torch.xlogy(tx, ty).sum().backward()
        assert_close(x.grad, tx.grad)   # 0 at x == 0, y <= 0; log(y) elsewhere
        assert_close(y.grad, ty.grad)   # x / y: NaN at x == y == 0


@requires_torch
def test_xlogy_dtypes_scalars_and_broadcasting():
    a, b = np.array([[0, 1, 3]]), np.array([[0], [2], [5]])
    got = dg.xlogy(dg.tensor(a), dg.tensor(b))
    want = torch.xlogy(torch.tensor(a), torch.tensor(b))
    assert got.dtype is dg.float32 and tuple(got.shape) == (3, 3)
    assert_close(got, want, rtol=1e-6)
    assert_close(dg.xlogy(2.0, dg.tensor([1, 4])), torch.xlogy(2.0, torch.tensor([1, 4])),
                 rtol=1e-6)
    assert_close(dg.xlogy(dg.tensor([True, False]), dg.tensor([False, False])),
                 torch.xlogy(torch.tensor([True, False]), torch.tensor([False, False])))
    with pytest.raises(TypeError, match="xlogy.*at least one"):
        dg.xlogy(1.0, 2.0)


# ----- isclose / allclose -------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("kw", [{}, {"equal_nan": True}, {"rtol": 0.0, "atol": 0.0},
                                {"atol": INF}, {"rtol": 0.1, "atol": 0.0}])
def test_isclose_float_special_values_match_torch(kw):
    a = [INF, -INF, INF, NAN, NAN, 1.0, 1.0, 0.0, 1e10, 1.0, -0.0, 1e308]
    b = [INF, INF, 1e308, NAN, 1.0, INF, 1.05, 1e-9, 1.00001e10, 1.0 + 1e-6, 0.0, INF]
    for dtype in ("float64", "float32"):
        x, tx = _pair(a, dtype)
        y, ty = _pair(b, dtype)
        got = dg.isclose(x, y, **kw)
        assert got.dtype is dg.bool
        np.testing.assert_array_equal(to_np(got), torch.isclose(tx, ty, **kw).numpy())


@requires_torch
@pytest.mark.parametrize("kw", [{}, {"atol": 1}, {"rtol": 0.5}, {"rtol": 0.0, "atol": 0.0}])
def test_isclose_integer_and_bool_match_torch(kw):
    cases = [(np.array([1, 2, 2 ** 62, -5, -2 ** 63]), np.array([1, 3, 2 ** 62 + 100, -4, 5])),
             (np.array([1, 200, 0], dtype=np.uint8), np.array([2, 100, 255], dtype=np.uint8)),
             (np.array([2 ** 24 + 1, 100], dtype=np.int32), np.array([2 ** 24, -100],
                                                                     dtype=np.int32)),
             (np.array([True, False, True]), np.array([True, True, False]))]
    for a, b in cases:
        got = dg.isclose(dg.tensor(a), dg.tensor(b), **kw)
        want = torch.isclose(torch.tensor(a), torch.tensor(b), **kw)
        np.testing.assert_array_equal(to_np(got), want.numpy(), err_msg=str((a.dtype, kw)))


@requires_torch
def test_isclose_broadcasting_0d_empty_and_allclose():
    a, b = np.linspace(0, 1, 6).reshape(2, 3), np.array(0.4)
    got = dg.isclose(dg.tensor(a), dg.tensor(b), atol=0.15)
    np.testing.assert_array_equal(to_np(got), torch.isclose(torch.tensor(a), torch.tensor(b),
                                                             atol=0.15).numpy())
    assert tuple(dg.isclose(dg.zeros(0, 2), dg.zeros(1, 2)).shape) == (0, 2)
    x = dg.tensor([1.0, 2.0])
    r = dg.allclose(x, x + 1e-7)
    assert r is True and x.allclose(x + 1e-3) is False
    assert dg.allclose(dg.tensor([NAN]), dg.tensor([NAN]), equal_nan=True) is True
    assert dg.allclose(dg.tensor([NAN]), dg.tensor([NAN])) is False
    assert dg.allclose(dg.zeros(0), dg.zeros(0)) is True
    assert x.isclose(x, 0.0, 0.0).all().item()


def test_isclose_errors():
    x = dg.tensor([1.0])
    with pytest.raises(RuntimeError, match="isclose: input and other must have the same dtype, "
                                           "got float32 and float64.*other.to"):
        dg.isclose(x, x.double())
    with pytest.raises(RuntimeError, match="rtol must be greater than or equal to zero"):
        dg.isclose(x, x, rtol=-1.0)
    with pytest.raises(RuntimeError, match="atol must be greater than or equal to zero"):
        dg.allclose(x, x, atol=-1e-3)
    with pytest.raises(TypeError, match="argument 'other' .* must be Tensor, not float"):
        dg.isclose(x, 1.0)
    with pytest.raises(RuntimeError, match="shape|broadcast"):
        dg.allclose(dg.ones(2), dg.ones(3))


def test_isclose_does_not_record_a_gradient():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    r = dg.isclose(x, x.detach() + 1e-9)
    assert r.dtype is dg.bool and not r.requires_grad


# ----- composites: special points and PyTorch's gradients there -----------------------------------

def _grads_match(fn, tfn, *cols, check_value=True, rtol=None):
    """fn and tfn on float64 copies of `cols`; values and gradients (of the sum) compared."""
    ds = [dg.tensor(np.array(c), dtype=dg.float64, requires_grad=True) for c in cols]
    ts = [torch.tensor(np.array(c), dtype=torch.float64, requires_grad=True) for c in cols]
    got, want = fn(*ds), tfn(*ts)
    if check_value:
        assert_close(got, want)
    got.sum().backward()
    want.sum().backward()
    for d, t in zip(ds, ts):
        assert_close(d.grad, t.grad, rtol=rtol)


@requires_torch
def test_fmax_fmin_ignore_nan_and_send_ties_to_input():
    a = [1.0, NAN, NAN, 2.0, 3.0, -INF, 0.0]
    b = [NAN, 1.0, NAN, 2.0, 1.0, INF, -0.0]
    _grads_match(dg.fmax, torch.fmax, a, b)
    _grads_match(dg.fmin, torch.fmin, a, b)
    got = dg.fmax(dg.tensor([[1, 5]]), dg.tensor([[2.5], [3.5]]))
    want = torch.fmax(torch.tensor([[1, 5]]), torch.tensor([[2.5], [3.5]]))
    assert got.dtype is dg.float32
    assert_close(got, want)
    assert_close(dg.fmin(dg.tensor([1.0, NAN]), 0.5), np.array([0.5, 0.5]))


@requires_torch
def test_sinc_at_zero_and_infinities():
    _grads_match(dg.sinc, torch.sinc, [0.0, -0.0, 1e-20, 0.5, 1.0, -2.0, 3.25])
    x, tx = _pair([INF, -INF, NAN])
    assert_close(dg.sinc(x), torch.sinc(tx))


@requires_torch
def test_logit_edges_and_eps_gradients():
    xs = [0.0, 1.0, 1e-3, 0.5, 0.9999, 0.25]
    _grads_match(dg.logit, torch.logit, xs)            # +-inf at 0 and 1, gradient +inf there
    for eps in (0.01, 0.5, 0.6):
        _grads_match(lambda x, e=eps: dg.logit(x, e), lambda x, e=eps: torch.logit(x, e),
                     xs + [-0.1, 1.2, NAN])
    # outside [0, 1] the value is NaN; the gradient is 1/x + 1/(1 - x) (PyTorch: NaN)
    x = dg.tensor([-0.1, 1.2, 0.3], dtype=dg.float64, requires_grad=True)
    y = dg.logit(x, -0.5)
    assert_close(y, torch.logit(torch.tensor([-0.1, 1.2, 0.3], dtype=torch.float64), -0.5))
    y.sum().backward()
    assert_close(x.grad, 1 / np.array([-0.1, 1.2, 0.3]) + 1 / (1 - np.array([-0.1, 1.2, 0.3])))


@requires_torch
def test_logaddexp2_infinities_and_errors():
    a = [1.0, -3.0, 1000.0, -INF, INF, -INF, 5.0]
    b = [2.0, -INF, 1000.0, -INF, INF, 2.0, 5.0]
    _grads_match(dg.logaddexp2, torch.logaddexp2, a, b)   # NaN gradients at equal infinities
    x, tx = _pair([1.0, 2.0], "float32")
    assert_close(dg.logaddexp2(x, 3), torch.logaddexp2(tx, torch.tensor(3.0)), rtol=1e-6)
    with pytest.raises(RuntimeError, match="logaddexp2: not implemented for int64.*float"):
        dg.logaddexp2(dg.tensor([1, 2]), dg.tensor([1, 2]))


@requires_torch
def test_heaviside_matches_torch_and_checks_dtypes():
    a = [-1.0, 0.0, -0.0, 2.0, NAN, INF, -INF]
    x, tx = _pair(a)
    v, tv = _pair([0.5])
    assert_close(dg.heaviside(x, v), torch.heaviside(tx, tv))
    i = dg.heaviside(dg.tensor([-1, 0, 3]), dg.tensor([7]))
    assert i.dtype is dg.int64
    assert to_np(i).tolist() == torch.heaviside(torch.tensor([-1, 0, 3]),
                                                torch.tensor([7])).tolist()
    with pytest.raises(RuntimeError, match="heaviside: input and values must have the same "
                                           "dtype, got float64 and float32"):
        dg.heaviside(x, dg.tensor([0.5]))
    with pytest.raises(TypeError, match="argument 'values' .* must be Tensor, not float"):
        dg.heaviside(x, 0.5)
    y = x.clone()
    y.heaviside_(v)
    assert_close(y, torch.heaviside(tx, tv))


@requires_torch
def test_isposinf_isneginf_isreal_ndtr():
    for a in ([1.0, INF, -INF, NAN, -0.0], [3, -4], [True, False]):
        x, tx = dg.tensor(a), torch.tensor(a)
        for name in ("isposinf", "isneginf", "isreal"):
            got = getattr(dg, name)(x)
            assert got.dtype is dg.bool
            assert to_np(got).tolist() == getattr(torch, name)(tx).tolist()
    x, tx = _pair([-40.0, -5.0, 0.0, 3.0, 40.0, INF, -INF, NAN])
    assert_close(dg.ndtr(x), torch.special.ndtr(tx))
    np.testing.assert_allclose(to_np(dg.ndtr(x))[:2], sp.ndtr([-40.0, -5.0]), rtol=1e-14)


# ----- gradients ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, lo, hi", [
    (dg.erfc, -3.0, 3.0), (dg.erfinv, -0.9, 0.9), (dg.lgamma, 0.2, 6.0),
    (dg.digamma, 0.2, 6.0), (lambda x: dg.polygamma(2, x), 0.3, 4.0),
    (lambda x: dg.logit(x, 0.1), 0.2, 0.8), (dg.ndtr, -3.0, 3.0), (dg.sinc, -2.0, 2.0)])
def test_gradgradcheck(fn, lo, hi):
    # (six points: none at 0, where sinc's gradient is PyTorch's constant 0, so its second
    # derivative there is 0 too, as in PyTorch)
    x = dg.tensor(np.linspace(lo, hi, 6), dtype=dg.float64, requires_grad=True)
    assert gradcheck(fn, [x], eps=1e-6, atol=1e-6, rtol=1e-4)
    assert dg.autograd.gradgradcheck(fn, [x], eps=1e-6, atol=1e-5, rtol=1e-3)


@requires_torch
@pytest.mark.parametrize("name", UNARY)
def test_unary_gradients_match_torch(name):
    xs = {"erfinv": [-0.9, -0.3, 0.0, 0.5, 0.99]}.get(name, [-2.5, -0.5, 0.3, 1.0, 4.5])
    # digamma's gradient is trigamma, which PyTorch computes to ~5e-10 in float64
    _grads_match(getattr(dg, name), getattr(torch, name), xs,
                 rtol=1e-8 if name == "digamma" else None)


def test_xlogy_gradcheck_with_a_number_and_broadcasting():
    y = dg.tensor([[0.5, 2.0, 3.0]], dtype=dg.float64, requires_grad=True)
    x = dg.tensor([[1.5], [-0.5]], dtype=dg.float64, requires_grad=True)
    assert gradcheck(dg.xlogy, [x, y])
    assert gradcheck(lambda y: dg.xlogy(2.0, y), [y])
    assert gradcheck(lambda x: dg.xlogy(x, 0.5), [x])


# ----- errors -------------------------------------------------------------------------------------

def test_polygamma_errors():
    x = dg.tensor([1.0])
    with pytest.raises(RuntimeError, match="does not support negative n"):
        dg.polygamma(-1, x)
    with pytest.raises(TypeError, match="argument 'n' must be int, not float"):
        dg.polygamma(1.5, x)
    with pytest.raises(TypeError, match="argument 'n' must be int"):
        x.polygamma_(True)


def test_without_scipy(monkeypatch):
    """erfc, lgamma and erfinv fall back to Python's math module; the others say to install
    scipy."""
    monkeypatch.setitem(sys.modules, "scipy.special", None)
    x = dg.tensor([-3.0, 0.0, -2.0, 0.5, 12.0, 27.0, INF, -INF, NAN], dtype=dg.float64)
    ref = np.array([-3.0, 0.0, -2.0, 0.5, 12.0, 27.0, INF, -INF, NAN])
    # (math.erfc(27) is the subnormal 5.2e-319, where scipy flushes to 0)
    np.testing.assert_allclose(to_np(dg.erfc(x)), sp.erfc(ref), rtol=1e-15, atol=1e-300,
                               equal_nan=True)
    want = sp.gammaln(ref)
    want[7] = INF   # PyTorch's lgamma(-inf); scipy gives -inf
    np.testing.assert_allclose(to_np(dg.lgamma(x)), want, rtol=1e-15, equal_nan=True)
    assert dg.erfc(dg.tensor([0.5], dtype=dg.float16)).dtype is dg.float16
    u = np.array([-1.0, -0.999999, -0.5, -1e-300, 0.0, 1e-8, 0.3, 0.9999999999, 1.0, 1.5, NAN])
    got = to_np(dg.erfinv(dg.tensor(u, dtype=dg.float64)))
    np.testing.assert_allclose(got, sp.erfinv(u), rtol=4e-16, atol=0, equal_nan=True)
    assert np.signbit(to_np(dg.erfinv(dg.tensor([-0.0], dtype=dg.float64))))[0]
    g32 = to_np(dg.erfinv(dg.tensor(u, dtype=dg.float32)))
    np.testing.assert_allclose(g32, sp.erfinv(u.astype(np.float32)).astype(np.float32),
                               rtol=1e-6, equal_nan=True)
    for fn in (dg.digamma, lambda t: dg.polygamma(1, t)):
        with pytest.raises(RuntimeError, match=r"needs scipy \(scipy\.special\.\w+\).*pip "
                                               "install scipy"):
            fn(x)


# ----- signatures and the dyngraph.special namespace ----------------------------------------------

def _torch_signature(fn) -> inspect.Signature:
    """The signature in the first line of a torch builtin's docstring."""
    head = fn.__doc__.strip().splitlines()[0].split(" -> ")[0]
    scope: dict = {"Tensor": object}
    exec(f"def {head}: pass", scope)
    return inspect.signature(scope[head.split("(")[0]])


def _shape(sig: inspect.Signature):
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


TOP = ["isclose", "allclose", "xlogy", "logit", "fmax", "fmin", "heaviside", "logaddexp2", "sinc",
       "isneginf", "isposinf", "isreal", "erfc", "erfinv", "lgamma", "digamma", "polygamma"]
SPECIAL_NS = ["erf", "erfc", "erfinv", "expit", "logit", "xlogy", "gammaln", "digamma", "psi",
              "polygamma", "ndtr", "log1p", "expm1", "exp2", "sinc", "logsumexp", "softmax",
              "log_softmax", "round"]


@requires_torch
@pytest.mark.parametrize("name", TOP)
def test_signature_matches_torch(name):
    assert _shape(inspect.signature(getattr(dg, name))) == \
        _shape(_torch_signature(getattr(torch, name)))
    assert getattr(dg, name).__doc__
    assert hasattr(dg.Tensor, name) == hasattr(torch.Tensor, name) or name == "polygamma"


@requires_torch
@pytest.mark.parametrize("name", SPECIAL_NS)
def test_special_namespace_signature_and_values(name):
    fn = getattr(dg.special, name)
    assert name in dg.special.__all__ and fn.__doc__
    want = _shape(_torch_signature(getattr(torch.special, name)))
    got = _shape(inspect.signature(fn))
    if name == "round":   # torch.special.round also takes decimals (undocumented in its doc)
        got = [p for p in got if p[0] != "decimals"]
    assert got == want
    a = np.array([[0.2, 0.7, 0.4], [0.9, 0.1, 0.5]])
    args = {"xlogy": (a + 1,), "polygamma": None, "logsumexp": (1,), "softmax": (1,),
            "log_softmax": (0,)}.get(name, ())
    if name == "polygamma":
        got_v, want_v = fn(2, dg.tensor(a)), torch.special.polygamma(2, torch.tensor(a))
    else:
        targs = tuple(torch.tensor(v) if isinstance(v, np.ndarray) else v for v in args)
        dargs = tuple(dg.tensor(v) if isinstance(v, np.ndarray) else v for v in args)
        got_v = fn(dg.tensor(a), *dargs)
        want_v = getattr(torch.special, name)(torch.tensor(a), *targs)
    assert_close(got_v, want_v)


def test_special_softmax_dtype_and_round_decimals():
    x = dg.tensor([[1.0, 2.0]])
    assert dg.special.softmax(x, 1, dtype=dg.float64).dtype is dg.float64
    r = dg.special.round(dg.tensor([1.25, 2.5], dtype=dg.float64), decimals=1)
    assert to_np(r).tolist() == [1.2, 2.5]


# ----- compiled mode ------------------------------------------------------------------------------

def _special_mix(x, p, y):
    return (x.erfc() * 2, x.lgamma() + 1, dg.xlogy(p - 0.5, y), (p * 1.8 - 0.9).erfinv(),
            (x.abs() + 0.1).digamma() + 1, dg.polygamma(1, x.abs() + 0.1) * 2, dg.sinc(x),
            dg.logit(p, 0.01), dg.ndtr(x), dg.fmax(x, y), dg.logaddexp2(x, y),
            dg.isclose(x, y, atol=0.5), dg.heaviside(x.round(), y))


@pytest.mark.parametrize("backend", ["llvm", "interpreter"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_matches_eager(backend, dtype, tmp_path, monkeypatch):
    if backend == "llvm":
        pytest.importorskip("llvmlite")
        monkeypatch.setenv("DYNGRAPH_CACHE_DIR", str(tmp_path))
    dt = getattr(dg, dtype)
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-6, 12, 40), [0.0, 1.0, -2.0, 30.0, NAN, INF, -INF]])
    y = np.concatenate([rng.uniform(-1, 5, 40), [0.0, 0.0, NAN, INF, 1.0, 2.0, 0.0]])
    p = np.concatenate([rng.uniform(0, 1, 40), [0.5, 0.0, 0.5, 0.5, 1.0, 0.5, 0.5]])
    args = [dg.tensor(v, dtype=dt) for v in (x, y, p)]
    cf = dg.compile(lambda x, y, p: _special_mix(x, p, y), backend=backend)
    cf(*args)
    got = cf(*args)
    want = _special_mix(args[0], args[2], args[1])
    for g, w in zip(got, want):
        assert g.dtype is w.dtype
        assert_close(g, w, dtype, rtol=2e-6 if dtype == "float32" else 1e-12)
    if backend == "llvm":
        text = str(cf.explain())
        for op in ("erfc", "lgamma", "xlogy"):
            assert any(f"{op}: llvm kernel" in line for line in text.splitlines()), op
        for op, fn in (("erfinv", "erfinv"), ("digamma", "psi"), ("polygamma", "polygamma")):
            assert f"{op}: interpreter: scipy.special.{fn}" in text


def test_compiled_gradient_matches_eager(tmp_path, monkeypatch):
    pytest.importorskip("llvmlite")
    monkeypatch.setenv("DYNGRAPH_CACHE_DIR", str(tmp_path))

    def loss(x, y):
        return (dg.xlogy(x, y) + x.erfc() + y.lgamma() + dg.sinc(x)).sum()

    def step(x, y):
        x.grad = y.grad = None
        loss(x, y).backward()
        return x.grad, y.grad

    a = np.array([0.0, 0.5, -1.2, 2.0])
    b = np.array([0.0, 1.5, 0.7, 3.0])
    xs = [dg.tensor(a, dtype=dg.float64, requires_grad=True) for _ in range(2)]
    ys = [dg.tensor(b, dtype=dg.float64, requires_grad=True) for _ in range(2)]
    want = step(xs[0], ys[0])
    cf = dg.compile(step, backend="llvm")
    cf(xs[1], ys[1])
    got = cf(xs[1], ys[1])
    for g, w in zip(got, want):
        assert_close(g, w)


def test_render_c_has_the_libm_names():
    from compiler.kernel_ir import Access, KernelBuilder
    from compiler.render_c import render_c
    for dtype, sfx in (("float32", "f"), ("float64", "")):
        kb = KernelBuilder(1, 0)
        x = kb.load(Access(kb.buffer(dtype, False), (1,)), dtype)
        y = kb.load(Access(kb.buffer(dtype, False), (1,)), dtype)
        r = kb.op("add", [kb.op("erfc", [x], dtype), kb.op("lgamma", [y], dtype)], dtype)
        kb.store(Access(kb.buffer(dtype, True), (1,)), kb.op("xlogy", [r, y], dtype))
        text = render_c(kb.finish("k"))
        assert f"erfc{sfx}(" in text and f"lgamma{sfx}(" in text and f"log{sfx}(" in text
