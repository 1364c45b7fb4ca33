"""OpInfo cases for the special functions (dyngraph/ops/special_fns.py): the primitives erfc,
erfinv, lgamma, digamma, polygamma and xlogy against scipy.special and PyTorch, and the composites
(isclose, logit, ndtr, fmax/fmin, heaviside, logaddexp2, sinc, isposinf/isneginf/isreal).

Special points (NaN, inf, poles, the gradients PyTorch defines there), errors and compiled mode
are in tests/test_special_fns.py.
"""

from __future__ import annotations

import numpy as np
import scipy.special as sp

import dyngraph as dg
from tests.conftest import torch
from tests.opinfo import OpCase, positive, rand

CASES: list[OpCase] = []


def _t(name):
    """A torch function by name (None without torch, so cases still load)."""
    return None if torch is None else getattr(torch, name)


# away from the poles and from digamma's root (1.4616...), where float32's relative error grows
_GAMMA_DOMAIN = np.array([[-2.5, -1.3, -0.4, 0.3, 0.8, 2.7], [4.2, 7.5, 12.0, 0.6, 3.3, 25.0]])

CASES += [
    OpCase("erfc", dg.erfc, [rand(2, 3, seed=300)], ref=sp.erfc, torch_fn=_t("erfc")),
    # the tail, where 1 - erf(x) would round to 0
    OpCase("erfc", dg.erfc, [rand(7, low=2.0, high=8.0, seed=301)], ref=sp.erfc,
           torch_fn=_t("erfc"), name="tail"),
    OpCase("erfc", lambda x: x.erfc(), [rand(2, 3, seed=302)[0, 0]], ref=sp.erfc,
           torch_fn=lambda x: x.erfc(), name="method-0d"),
    OpCase("erfinv", dg.erfinv, [rand(2, 3, low=-0.95, high=0.95, seed=303)], ref=sp.erfinv,
           torch_fn=_t("erfinv")),
    OpCase("erfinv", lambda x: x.erfinv(), [rand(4, low=-0.5, high=0.5, seed=304)],
           ref=sp.erfinv, torch_fn=lambda x: x.erfinv(), name="method"),
    OpCase("lgamma", dg.lgamma, [_GAMMA_DOMAIN], ref=sp.gammaln, torch_fn=_t("lgamma")),
    OpCase("lgamma", lambda x: x.lgamma(), [positive(5, seed=305)], ref=sp.gammaln,
           torch_fn=lambda x: x.lgamma(), name="method"),
    OpCase("digamma", dg.digamma, [_GAMMA_DOMAIN], ref=sp.psi, torch_fn=_t("digamma"),
           atol32=1e-5),
    OpCase("digamma", lambda x: x.digamma(), [positive(5, seed=306) + 2], ref=sp.psi,
           torch_fn=lambda x: x.digamma(), name="method"),
]
# PyTorch's float64 trigamma is good to ~5e-10 only (scipy's to 1 ulp): polygamma(1) is compared
# with it at a looser tolerance in tests/test_special_fns.py.
for _n in (1, 2, 3):
    CASES.append(OpCase("polygamma", lambda x, _n=_n: dg.polygamma(_n, x), [_GAMMA_DOMAIN],
                        ref=lambda x, _n=_n: sp.polygamma(_n, x),
                        torch_fn=None if torch is None or _n == 1 else
                        (lambda x, _n=_n: torch.polygamma(_n, x)), name=f"n{_n}"))
CASES += [
    OpCase("polygamma", lambda x: x.polygamma(2), [positive(4, seed=307)],
           ref=lambda x: sp.polygamma(2, x), torch_fn=lambda x: x.polygamma(2), name="method"),
    OpCase("digamma", lambda x: dg.polygamma(0, x), [positive(4, seed=308)], ref=sp.psi,
           torch_fn=torch and (lambda x: torch.polygamma(0, x)), name="polygamma-n0"),
]


def _xlogy_ref(a, b):
    return sp.xlogy(a, b)


_X = lambda *s: rand(*s[:-1], low=-2.0, high=2.0, seed=s[-1])  # noqa: E731
_Y = lambda *s: rand(*s[:-1], low=0.3, high=3.0, seed=s[-1])  # noqa: E731
CASES += [
    OpCase("xlogy", dg.xlogy, [_X(2, 3, 310), _Y(2, 3, 311)], ref=_xlogy_ref,
           torch_fn=_t("xlogy"), name="same"),
    OpCase("xlogy", dg.xlogy, [_X(3, 1, 312), _Y(1, 4, 313)], ref=_xlogy_ref,
           torch_fn=_t("xlogy"), name="broadcast"),
    OpCase("xlogy", dg.xlogy, [_X(2, 3, 314), np.asarray(_Y(1, 315)[0])], ref=_xlogy_ref,
           torch_fn=_t("xlogy"), name="0d-other"),
    OpCase("xlogy", lambda x: dg.xlogy(x, 2.5), [_X(2, 3, 316)], ref=lambda x: _xlogy_ref(x, 2.5),
           torch_fn=torch and (lambda x: torch.xlogy(x, 2.5)), name="scalar-other"),
    OpCase("xlogy", lambda y: dg.xlogy(1.5, y), [_Y(2, 3, 317)], ref=lambda y: _xlogy_ref(1.5, y),
           torch_fn=torch and (lambda y: torch.xlogy(1.5, y)), name="scalar-input"),
    OpCase("xlogy", lambda x, y: x.xlogy(y), [_X(4, 318), _Y(4, 319)], ref=_xlogy_ref,
           torch_fn=lambda x, y: x.xlogy(y), name="method"),
]


# ----- composites ------------------------------------------------------------------------------

_A = rand(3, 4, seed=320)
_B = _A + np.array([0.0, 1e-9, 1e-4, 1.0])  # equal, close, far, far
CASES += [
    OpCase("isclose", dg.isclose, [_A, _B], ref=np.isclose, torch_fn=_t("isclose"), grad=False,
           composite=True),
    OpCase("isclose", lambda a, b: dg.isclose(a, b, rtol=0.0, atol=1e-3), [_A, _B[:1]],
           ref=lambda a, b: np.isclose(a, b, rtol=0.0, atol=1e-3),
           torch_fn=torch and (lambda a, b: torch.isclose(a, b, rtol=0.0, atol=1e-3)),
           grad=False, composite=True, name="broadcast-atol"),
    OpCase("isclose", lambda a, b: a.isclose(b, 1e-3), [_A, _B], ref=lambda a, b:
           np.isclose(a, b, 1e-3), torch_fn=lambda a, b: a.isclose(b, 1e-3), grad=False,
           composite=True, name="method"),
    OpCase("logit", dg.logit, [rand(2, 3, low=0.05, high=0.95, seed=321)], ref=sp.logit,
           torch_fn=_t("logit"), composite=True),
    OpCase("logit", lambda x: x.logit(0.2), [rand(2, 3, low=0.05, high=0.95, seed=322)],
           ref=lambda x: sp.logit(np.clip(x, 0.2, 0.8)),
           torch_fn=lambda x: x.logit(0.2), composite=True, name="eps-method"),
    OpCase("ndtr", dg.ndtr, [rand(2, 3, low=-6.0, high=6.0, seed=323)], ref=sp.ndtr,
           torch_fn=torch and torch.special.ndtr, composite=True),
    OpCase("fmax", dg.fmax, [rand(3, 1, seed=324), rand(1, 4, seed=325)], ref=np.fmax,
           torch_fn=_t("fmax"), composite=True),
    OpCase("fmin", dg.fmin, [rand(3, 1, seed=326), rand(1, 4, seed=327)], ref=np.fmin,
           torch_fn=_t("fmin"), composite=True),
    OpCase("fmax", lambda a, b: a.fmax(b), [rand(4, seed=328), rand(4, seed=329)], ref=np.fmax,
           torch_fn=lambda a, b: a.fmax(b), composite=True, name="method"),
    OpCase("fmin", lambda a, b: a.fmin(b), [rand(4, seed=330), rand(4, seed=331)], ref=np.fmin,
           torch_fn=lambda a, b: a.fmin(b), composite=True, name="method"),
    # (PyTorch has no derivative for heaviside: forward only against it)
    OpCase("heaviside", dg.heaviside, [np.array([-1.5, 0.0, 2.0, -0.0]), np.array([0.25])],
           ref=np.heaviside, torch_fn=_t("heaviside"), grad=False, composite=True),
    OpCase("heaviside",
           lambda v: dg.heaviside(dg.tensor([-1.0, 0.0, 2.0], dtype=v.dtype, device=v.device), v),
           [rand(3, seed=332)], ref=lambda v: np.heaviside(np.array([-1.0, 0.0, 2.0]), v),
           composite=True, name="grad-values"),
    OpCase("logaddexp2", dg.logaddexp2, [rand(3, 1, low=-5, high=5, seed=333),
                                         rand(1, 4, low=-5, high=5, seed=334)],
           ref=np.logaddexp2, torch_fn=_t("logaddexp2"), composite=True),
    OpCase("logaddexp2", lambda a, b: a.logaddexp2(b), [rand(4, seed=335), rand(4, seed=336)],
           ref=np.logaddexp2, torch_fn=lambda a, b: a.logaddexp2(b), composite=True,
           name="method"),
    OpCase("sinc", dg.sinc, [np.array([0.0, 0.3, -1.7, 2.0, 1e-9, -4.25])], ref=np.sinc,
           torch_fn=_t("sinc"), composite=True),
    OpCase("sinc", lambda x: x.sinc(), [rand(2, 3, seed=337)], ref=np.sinc,
           torch_fn=lambda x: x.sinc(), composite=True, name="method"),
    OpCase("isposinf", dg.isposinf, [np.array([1.0, np.inf, -np.inf, np.nan])],
           ref=np.isposinf, torch_fn=_t("isposinf"), grad=False, composite=True),
    OpCase("isneginf", lambda x: x.isneginf(), [np.array([1.0, np.inf, -np.inf, np.nan])],
           ref=np.isneginf, torch_fn=lambda x: x.isneginf(), grad=False, composite=True),
    OpCase("isreal", dg.isreal, [rand(2, 3, seed=338)], ref=np.isreal, torch_fn=_t("isreal"),
           grad=False, composite=True),
]
