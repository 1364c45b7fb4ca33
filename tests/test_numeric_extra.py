"""frexp, nextafter, the Bessel i0/i0e/i1/i1e, igamma/igammac, mvlgamma and the torch.special
additions (log_ndtr, ndtri, erfcx, entr, xlog1py) against PyTorch and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.ops import numeric_extra as NX
from dyngraph.ops import special_fns as SF
from tests.conftest import assert_close, requires_torch, to_np, torch

pytestmark = requires_torch


def _pair(a, dtype="float64"):
    return dg.tensor(np.asarray(a), dtype=getattr(dg, dtype)), \
        torch.tensor(np.asarray(a), dtype=getattr(torch, dtype))


def test_frexp_edge_values_and_dtypes():
    vals = [8.0, 0.0, -0.0, -3.0, float("inf"), float("-inf"), float("nan"), 1e-310, 1.7e308]
    for dtype in ("float64", "float32", "float16"):
        d, t = _pair(vals, dtype)
        got, want = dg.frexp(d), torch.frexp(t)
        assert got.exponent.dtype is dg.int32 and got.mantissa.dtype is d.dtype
        np.testing.assert_array_equal(to_np(got.exponent), want.exponent.numpy())
        np.testing.assert_array_equal(to_np(got.mantissa), want.mantissa.float().numpy()
                                      if dtype == "float16" else want.mantissa.numpy())
    assert d.frexp()[0].shape == (9,)
    assert type(dg.frexp(d)).__name__ == "frexp"


def test_frexp_grad_out_and_errors():
    x, tx = _pair([3.0, -20.0, 0.1])
    x.requires_grad_(True)
    tx.requires_grad_(True)
    dg.frexp(x).mantissa.sum().backward()
    torch.frexp(tx).mantissa.sum().backward()
    assert_close(x.grad, tx.grad)
    m, e = dg.empty(3), dg.empty(3, dtype=dg.int32)
    r = dg.frexp(x.detach(), out=(m, e))
    assert r.mantissa is m and int(e[1]) == 5
    with pytest.raises(RuntimeError, match="only supports floating-point"):
        dg.frexp(dg.tensor([1, 2]))


def test_nextafter_values_methods_and_grad():
    d, t = _pair([1.0, 0.0, -2.0, 5.0], "float32")
    o, to = _pair([2.0, -1.0, -2.0, float("nan")], "float32")
    np.testing.assert_array_equal(to_np(dg.nextafter(d, o)),
                                  torch.nextafter(t, to).numpy())
    assert_close(d.nextafter(2.0), torch.nextafter(t, torch.tensor(2.0)), "float32", 0, 0)
    e = d.clone()
    e.nextafter_(o)
    assert to_np(e)[0] > 1.0
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = dg.tensor([3.0, 0.0], requires_grad=True)
    dg.nextafter(x, y).sum().backward()
    assert to_np(x.grad).tolist() == [1.0, 1.0] and to_np(y.grad).tolist() == [0.0, 0.0]
    with pytest.raises(NotImplementedError, match="nextafter"):
        dg.nextafter(dg.tensor([1, 2]), dg.tensor([1, 2]))


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bessel_against_torch_with_grads(name, dtype):
    vals = [-30.0, -2.5, -1e-3, 0.0, 1e-3, 0.7, 4.0, 50.0]
    d, t = _pair(vals, dtype)
    d.requires_grad_(True)
    t.requires_grad_(True)
    got, want = getattr(dg.special, name)(d), getattr(torch.special, name)(t)
    assert_close(got, want, dtype, rtol=1e-6 if dtype == "float32" else 1e-12)
    got.sum().backward()
    want.sum().backward()
    assert_close(d.grad, t.grad, dtype, rtol=1e-5 if dtype == "float32" else 1e-10)


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e"])
def test_bessel_gradcheck_and_double_backward(name):
    fn = getattr(dg.special, name)
    x = dg.tensor([-2.0, -0.3, 0.0, 0.5, 3.0], dtype=dg.float64, requires_grad=True)
    assert dg.autograd.gradcheck(fn, [x])
    assert dg.autograd.gradgradcheck(fn, [dg.tensor([-1.5, 0.4, 2.0], dtype=dg.float64,
                                                    requires_grad=True)])


def test_i0_method_inplace_and_int_promotion():
    x = dg.tensor([1, 2])
    assert x.i0().dtype is dg.float32
    assert_close(dg.i0(x), torch.i0(torch.tensor([1, 2])), "float32")
    y = dg.tensor([0.5, 1.5])
    y.i0_()
    assert_close(y, torch.i0(torch.tensor([0.5, 1.5])), "float32")
    assert not hasattr(dg.Tensor, "i1e") and not hasattr(dg, "erfcx")   # torch.special only


def test_bessel_without_scipy(monkeypatch):
    monkeypatch.setattr(NX, "_scipy_special", lambda xp: None)
    monkeypatch.setattr(SF, "_scipy_special", lambda xp: None)
    x = dg.tensor([-3.0, 0.0, 2.0], dtype=dg.float64)
    assert_close(dg.i0(x), torch.i0(torch.tensor([-3.0, 0.0, 2.0], dtype=torch.float64)))
    with pytest.raises(RuntimeError, match="scipy"):
        dg.special.i1(x)
    p = dg.tensor([1e-10, 0.3, 0.5, 0.9], dtype=dg.float64)
    want = torch.special.ndtri(torch.tensor([1e-10, 0.3, 0.5, 0.9], dtype=torch.float64))
    assert_close(dg.special.ndtri(p), want, rtol=1e-8, atol=1e-12)


def test_igamma_igammac_values_broadcast_and_scalars():
    a, ta = _pair([[0.5], [2.0], [10.0]])
    x, tx = _pair([0.0, 0.3, 4.0, 30.0])
    assert_close(dg.igamma(a, x), torch.igamma(ta, tx))
    assert_close(dg.special.gammaincc(a, x), torch.special.gammaincc(ta, tx))
    assert_close(a.igammac(x), ta.igammac(tx))
    assert_close(dg.igamma(2.0, x), torch.igamma(torch.tensor(2.0, dtype=torch.float64), tx))
    bad = dg.igamma(dg.tensor([-1.0, 0.0]), dg.tensor([1.0, 1.0]))
    assert_close(bad, torch.igamma(torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 1.0])),
                 "float32")
    b = a.clone()
    b.igamma_(dg.tensor([[1.0], [1.0], [1.0]], dtype=dg.float64))
    assert_close(b, torch.igamma(ta, torch.ones(3, 1, dtype=torch.float64)))


def test_igamma_grad_x_only():
    a = dg.tensor([0.7, 2.0, 5.0], dtype=dg.float64)
    x = dg.tensor([0.4, 1.5, 6.0], dtype=dg.float64, requires_grad=True)
    assert dg.autograd.gradcheck(lambda x: dg.igamma(a, x), [x])
    assert dg.autograd.gradcheck(lambda x: dg.igammac(a, x), [x])
    a.requires_grad_(True)
    with pytest.raises(NotImplementedError, match="derivative for 'igamma: input'"):
        dg.igamma(a, x).sum().backward()


@pytest.mark.parametrize("p", [1, 2, 5])
def test_mvlgamma(p):
    d, t = _pair([[3.1, 4.5], [7.0, 2.6]])
    d.requires_grad_(True)
    t.requires_grad_(True)
    got, want = dg.special.multigammaln(d, p), torch.special.multigammaln(t, p)
    assert_close(got, want)
    got.sum().backward()
    want.sum().backward()
    assert_close(d.grad, t.grad)
    assert dg.autograd.gradcheck(lambda x: dg.mvlgamma(x, p), [d])
    e = d.detach().clone()
    e.mvlgamma_(p)
    assert_close(e, want)
    assert_close(d.mvlgamma(p), want)


def test_mvlgamma_errors():
    with pytest.raises(RuntimeError, match="p has to be greater than or equal to 1"):
        dg.mvlgamma(dg.tensor([2.0]), 0)
    with pytest.raises(TypeError, match="'p' must be int"):
        dg.mvlgamma(dg.tensor([2.0]), 1.5)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_log_ndtr_tails_and_grad(dtype):
    vals = [-200.0, -40.0, -5.0, -1.0, -0.999, 0.0, 3.0, 10.0, 40.0, float("inf"),
            float("-inf")]
    d, t = _pair(vals, dtype)
    d.requires_grad_(True)
    t.requires_grad_(True)
    got, want = dg.special.log_ndtr(d), torch.special.log_ndtr(t)
    assert_close(got, want, dtype)
    got[:-2].sum().backward()
    # (torch's float32 gradient loses 5e-4 at -200; compare with its float64 one)
    t64 = t.detach().double().requires_grad_(True)
    torch.special.log_ndtr(t64)[:-2].sum().backward()
    assert_close(d.grad, t64.grad, dtype, rtol=1e-5 if dtype == "float32" else 1e-9)


def test_ndtri_erfcx_entr_xlog1py_edges():
    p, tp = _pair([0.0, 1e-300, 1e-20, 0.5, 1 - 1e-12, 1.0, 1.5, -0.1])
    assert_close(dg.special.ndtri(p), torch.special.ndtri(tp))
    x, tx = _pair([-30.0, -1.0, 0.0, 2.0, 1e10, float("inf"), float("-inf")])
    assert_close(dg.special.erfcx(x), torch.special.erfcx(tx))
    e, te = _pair([-1.0, 0.0, 0.25, float("nan"), float("inf")])
    assert_close(dg.special.entr(e), torch.special.entr(te))
    a, ta = _pair([0.0, 0.0, 2.0, 1.0, 0.0])
    b, tb = _pair([-1.0, float("nan"), 0.5, -2.0, 3.0])
    assert_close(dg.special.xlog1py(a, b), torch.special.xlog1py(ta, tb))
    assert_close(dg.special.xlog1py(2.0, b), torch.special.xlog1py(2.0, tb))
    with pytest.raises(TypeError, match="xlog1py"):
        dg.special.xlog1py(1.0, 2.0)


def test_xlog1py_grads_match_torch_at_zero():
    a, ta = _pair([1.0, 0.0, 0.0, 2.0])
    b, tb = _pair([3.0, -1.5, 0.5, 0.2])
    for t in (a, b, ta, tb):
        t.requires_grad_(True)
    dg.special.xlog1py(a, b).sum().backward()
    torch.special.xlog1py(ta, tb).sum().backward()
    assert_close(a.grad, ta.grad)
    assert_close(b.grad, tb.grad)


def test_entr_and_erfcx_grads():
    x = dg.tensor([0.3, 1.0, 2.5], dtype=dg.float64, requires_grad=True)
    assert dg.autograd.gradcheck(dg.special.entr, [x])
    assert dg.autograd.gradcheck(dg.special.erfcx, [x])
    assert dg.autograd.gradgradcheck(dg.special.erfcx, [x])
    z = dg.tensor([0.0, -1.0], requires_grad=True)
    dg.special.entr(z).sum().backward()   # documented: 0 here (PyTorch: inf and NaN)
    assert to_np(z.grad).tolist() == [0.0, 0.0]


def test_half_and_empty():
    h = dg.tensor([0.5, 2.0], dtype=dg.float16)
    assert dg.i0(h).dtype is dg.float16
    assert_close(dg.i0(h), torch.i0(torch.tensor([0.5, 2.0], dtype=torch.float16)).float(),
                 "float16")
    empty = dg.empty(0, 3)
    assert dg.special.i1e(empty).shape == (0, 3)
    assert dg.mvlgamma(empty + 2, 2).shape == (0, 3)
    assert dg.frexp(empty).exponent.shape == (0, 3)


def test_compiled_matches_eager():
    def fn(x, a):
        return (dg.special.log_ndtr(x) + dg.i0(x) + dg.igamma(a, x.abs())
                + dg.mvlgamma(x.abs() + 2, 2) + dg.frexp(x).mantissa)
    x = dg.tensor(np.linspace(-3, 3, 12).reshape(3, 4))
    a = dg.tensor([0.5, 1.0, 2.0, 4.0])
    cf = dg.compile(fn, backend="llvm")
    want = fn(x, a)
    cf(x, a)
    assert_close(cf(x, a), want, "float32")
