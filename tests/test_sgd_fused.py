"""SGD's in-place update: the same fused sequence as torch.optim.SGD, value for value, and
`_axpy`'s BLAS path against numpy float64 and its fallback paths."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.optim.optimizer import _axpy
from tests.conftest import requires_torch, torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_axpy_matches_float64_oracle(dtype, order):
    rng = np.random.default_rng(0)
    x = np.asarray(rng.standard_normal((37, 53)), dtype=dtype, order=order)
    y = np.asarray(rng.standard_normal((37, 53)), dtype=dtype, order=order)
    want = y.astype(np.float64) + (-0.37) * x.astype(np.float64)
    _axpy(-0.37, x, y)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(y, want, rtol=tol, atol=tol)


def test_axpy_falls_back_on_mixed_layouts_and_views():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 6)).astype(np.float32)
    y = np.asfortranarray(rng.standard_normal((8, 6)).astype(np.float32))
    want = y + 2.0 * x
    _axpy(2.0, x, y)
    np.testing.assert_allclose(y, want, rtol=1e-6)
    base = rng.standard_normal((8, 12)).astype(np.float32)
    view = base[:, ::2]
    want = view + 0.5 * x
    _axpy(0.5, x, view)
    np.testing.assert_allclose(base[:, ::2], want, rtol=1e-6)


@requires_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("opts", [
    dict(),
    dict(momentum=0.9),
    dict(momentum=0.9, dampening=0.1, weight_decay=1e-2),
    dict(momentum=0.8, nesterov=True, weight_decay=1e-3),
    dict(weight_decay=1e-2, maximize=True),
])
def test_sgd_update_matches_torch_to_the_ulp(dtype, opts):
    rng = np.random.default_rng(2)
    shapes = [(64, 33), (33,), (5, 4, 3)]
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(4)]
    tp = [torch.tensor(p, requires_grad=True) for p in params]
    dp = [dg.tensor(p, requires_grad=True) for p in params]
    topt = torch.optim.SGD(tp, lr=0.03, **opts)
    dopt = dg.optim.SGD(dp, lr=0.03, **opts)
    for step in grads:
        for t, d, g in zip(tp, dp, step):
            t.grad = torch.tensor(g)
            d.grad = dg.tensor(g)
        topt.step()
        dopt.step()
    for t, d in zip(tp, dp):
        # BLAS axpy's vector loop is fused like PyTorch's kernel; its scalar tail (the last
        # few elements of an array) may round twice, a few ulps there after some steps.
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(d.detach().numpy(), t.detach().numpy(), rtol=16 * eps,
                                   atol=16 * eps)
    big_t, big_d = tp[0].detach().numpy(), dp[0].detach().numpy()
    assert np.mean(big_t == big_d) > 0.95


def test_sgd_step_leaves_the_gradient_unchanged():
    p = dg.tensor(np.ones((4, 4), np.float32), requires_grad=True)
    g = np.full((4, 4), 0.5, np.float32)
    p.grad = dg.tensor(g.copy())
    opt = dg.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)
    opt.step()
    opt.step()
    np.testing.assert_array_equal(p.grad.numpy(), g)
