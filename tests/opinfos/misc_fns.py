"""OpInfo cases for dyngraph/ops/misc_fns.py: the primitives gcd and poisson, and the composites
cov, corrcoef, vander, pdist, histogram, isin, lcm and ldexp, against numpy float64 and PyTorch.

Errors, weights, empty and 0-D inputs, Tensor methods and compiled mode are in
tests/test_misc_fns.py.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist as _scipy_pdist

from dyngraph.ops import misc_fns as M
from tests.conftest import torch
from tests.opinfo import OpCase, positive, rand

CASES: list[OpCase] = []

_INTS_A = np.array([[12, -18, 0, 7], [0, 35, 100, -1]], dtype=np.int64)
_INTS_B = np.array([[8, 27, 5, 0], [0, -14, 75, 1]], dtype=np.int64)


def _vander_ref(x, n=None, increasing=False):
    return np.vander(x, n, increasing)


def _torch_vander(x, n=None, increasing=False):
    """torch.vander's own backward fails (an in-place cumprod), so the torch oracle for values
    and gradients is x ** k."""
    n = x.shape[0] if n is None else n
    k = torch.arange(n, dtype=torch.float64)
    return x.unsqueeze(1) ** (k if increasing else k.flip(0))


def _hist_ref(x, bins, rng=None, w=None, density=False):
    return np.histogram(x, bins, range=rng, weights=w, density=density)


CASES += [
    OpCase("gcd", M.gcd, [_INTS_A, _INTS_B], ref=np.gcd, torch_fn=torch and torch.gcd,
           grad=False),
    OpCase("gcd", lambda a, b: a.gcd(b), [_INTS_A[0], np.array(6)], ref=np.gcd,
           torch_fn=torch and (lambda a, b: a.gcd(b)), grad=False, name="method-0d"),
    # a zero rate always draws 0: a deterministic case for the random primitive
    OpCase("poisson", M.poisson, [np.zeros((2, 3))], ref=np.zeros_like,
           torch_fn=torch and torch.poisson, grad=False),
    OpCase("cov", M.cov, [rand(3, 6, seed=900)], ref=np.cov, torch_fn=torch and torch.cov,
           composite=True),
    OpCase("cov", lambda x: M.cov(x, correction=0), [rand(7, seed=901)],
           ref=lambda x: np.cov(x, ddof=0),
           torch_fn=torch and (lambda x: torch.cov(x, correction=0)),
           composite=True, name="1d-ddof0"),
    OpCase("cov", lambda x, a: M.cov(x, aweights=a), [rand(2, 5, seed=902), positive(5, seed=903)],
           ref=lambda x, a: np.cov(x, aweights=a),
           torch_fn=torch and (lambda x, a: torch.cov(x, aweights=a)), composite=True,
           name="aweights"),
    OpCase("cov", lambda x, f: x.cov(fweights=f), [rand(2, 4, seed=904), np.array([1, 3, 0, 2])],
           ref=lambda x, f: np.cov(x, fweights=f),
           torch_fn=torch and (lambda x, f: x.cov(fweights=f)), composite=True,
           name="fweights-method"),
    OpCase("corrcoef", M.corrcoef, [rand(3, 6, seed=905)], ref=np.corrcoef,
           torch_fn=torch and torch.corrcoef, composite=True),
    OpCase("corrcoef", lambda x: x.corrcoef(), [rand(2, 9, seed=906)], ref=np.corrcoef,
           torch_fn=torch and (lambda x: x.corrcoef()), composite=True, name="method"),
    OpCase("vander", M.vander, [rand(4, seed=907)], ref=_vander_ref,
           torch_fn=torch and _torch_vander, composite=True),
    OpCase("vander", lambda x: M.vander(x, 6, True), [rand(3, seed=908)],
           ref=lambda x: _vander_ref(x, 6, True),
           torch_fn=torch and (lambda x: _torch_vander(x, 6, True)), composite=True,
           name="N-increasing"),
    OpCase("pdist", M.pdist, [rand(5, 3, seed=909)], ref=_scipy_pdist,
           torch_fn=torch and torch.pdist, composite=True),
    OpCase("pdist", lambda x: M.pdist(x, 1), [rand(4, 3, seed=910)],
           ref=lambda x: _scipy_pdist(x, "minkowski", p=1),
           torch_fn=torch and (lambda x: torch.pdist(x, 1)), composite=True, name="p1"),
    OpCase("pdist", lambda x: M.pdist(x, 3.5), [rand(4, 2, seed=911)],
           ref=lambda x: _scipy_pdist(x, "minkowski", p=3.5),
           torch_fn=torch and (lambda x: torch.pdist(x, 3.5)), composite=True, name="p3.5"),
    OpCase("histogram", lambda x: M.histogram(x, 5), [rand(40, seed=912)],
           ref=lambda x: _hist_ref(x, 5), torch_fn=torch and (lambda x: torch.histogram(x, 5)),
           grad=False, composite=True),
    OpCase("histogram", lambda x, w: M.histogram(x, 4, range=(-1.0, 1.5), weight=w,
                                                 density=True),
           [rand(3, 10, seed=913), positive(3, 10, seed=914)],
           ref=lambda x, w: _hist_ref(x.ravel(), 4, (-1.0, 1.5), w.ravel(), True),
           torch_fn=torch and (lambda x, w: torch.histogram(x, 4, range=(-1.0, 1.5), weight=w,
                                                             density=True)),
           grad=False, composite=True, name="range-weight-density"),
    OpCase("histogram", lambda x, e: x.histogram(e),
           [rand(30, seed=915), np.array([-2.0, -0.5, 0.0, 0.25, 2.0])],
           ref=lambda x, e: _hist_ref(x, e), torch_fn=torch and (lambda x, e: x.histogram(e)),
           grad=False, composite=True, name="edges-method"),
    OpCase("isin", M.isin, [_INTS_A, _INTS_B], ref=np.isin, torch_fn=torch and torch.isin,
           grad=False, composite=True),
    OpCase("isin", lambda a, b: M.isin(a, b, invert=True), [rand(3, 4, seed=916).round(),
                                                          rand(5, seed=917).round()],
           ref=lambda a, b: np.isin(a, b, invert=True),
           torch_fn=torch and (lambda a, b: torch.isin(a, b, invert=True)), grad=False,
           composite=True, name="float-invert"),
    OpCase("lcm", M.lcm, [_INTS_A, _INTS_B], ref=np.lcm, torch_fn=torch and torch.lcm,
           grad=False, composite=True),
    OpCase("lcm", lambda a, b: a.lcm(b), [_INTS_A[1], _INTS_B[0]], ref=np.lcm,
           torch_fn=torch and (lambda a, b: a.lcm(b)), grad=False, composite=True,
           name="method"),
    # non-negative integer exponents: torch computes the gradient of 2 ** -k in integers (0)
    OpCase("ldexp", M.ldexp, [rand(2, 3, seed=918), np.array([[3, 1, 0]])],
           ref=lambda x, e: x * 2.0 ** e, torch_fn=torch and torch.ldexp, composite=True),
    OpCase("ldexp", lambda x, e: x.ldexp(e), [rand(4, seed=919), rand(4, seed=920)],
           ref=lambda x, e: x * 2.0 ** e, torch_fn=torch and (lambda x, e: x.ldexp(e)),
           composite=True, name="float-exponent-method"),
]
