"""unbind / split / chunk share one backward node that stacks or concatenates the pieces'
gradients (autograd/graph.py: join_backward): values vs PyTorch, gradcheck (first and second
order), hooks, retain_grad, autograd.grad, in-place writes, and the linear cost."""

from __future__ import annotations

import time

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck, gradgradcheck
from tests.conftest import requires_torch, torch


def _loss(pieces, lib_pow=2):
    # uses some pieces (not all), with different weights, so missing slots are exercised
    total = None
    for i, p in enumerate(pieces):
        if i % 3 == 1:
            continue
        term = (p ** lib_pow * (i + 1)).sum()
        total = term if total is None else total + term
    return total


@requires_torch
@pytest.mark.parametrize("how", ["unbind0", "unbind2", "split_int", "split_sizes", "chunk"])
def test_gradients_match_torch(how):
    x = np.random.default_rng(0).standard_normal((5, 4, 6))

    def pieces(t):
        if how == "unbind0":
            return t.unbind(0)
        if how == "unbind2":
            return t.unbind(2)
        if how == "split_int":
            return t.split(2, dim=1)
        if how == "split_sizes":
            return t.split([1, 3, 2], dim=2)
        return t.chunk(3, dim=0)
    a = dg.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    _loss(pieces(a)).backward()
    _loss(pieces(t)).backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert type(pieces(a)[0].grad_fn).__name__ == "_PieceNode"
    # PyTorch's names (its SplitWithSizesBackward0 is our SplitBackward0)
    assert pieces(a)[0].grad_fn.name() == pieces(t)[0].grad_fn.name().replace("WithSizes", "")


@pytest.mark.parametrize("how", ["unbind", "split"])
def test_gradcheck_first_and_second_order(how):
    x = dg.randn(3, 4, dtype=dg.float64, requires_grad=True)

    def f(t):
        ps = t.unbind(1) if how == "unbind" else t.split([1, 2, 1], dim=1)
        return (ps[0] * ps[-1].sum() + ps[1].sum() * ps[0]).sum() + (ps[-1] ** 3).sum()
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def test_hooks_retain_grad_and_autograd_grad_per_piece():
    x = dg.randn(4, 3, dtype=dg.float64, requires_grad=True)
    ps = x.unbind(0)
    seen = []
    ps[1].register_hook(lambda g: seen.append(g.numpy().copy()))
    ps[2].retain_grad()
    loss = (ps[1] * 3).sum() + (ps[2] ** 2).sum()
    g_piece, g_x = dg.autograd.grad(loss, (ps[2], x), retain_graph=True)
    np.testing.assert_allclose(g_piece.numpy(), 2 * ps[2].detach().numpy())
    want = np.zeros((4, 3))
    want[1] = 3
    want[2] = 2 * x.detach().numpy()[2]
    np.testing.assert_allclose(g_x.numpy(), want)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), want)
    np.testing.assert_allclose(ps[2].grad.numpy(), want[2])
    np.testing.assert_allclose(seen[-1], np.full(3, 3.0))


def test_in_place_write_to_a_piece_reaches_the_base():
    x = dg.randn(3, 2, dtype=dg.float64, requires_grad=True)
    y = x * 1.0
    a, b, c = y.unbind(0)
    b.mul_(5)
    y.sum().backward()
    want = np.ones((3, 2))
    want[1] = 5
    np.testing.assert_allclose(x.grad.numpy(), want)


def test_no_grad_and_non_grad_inputs_make_plain_views():
    x = dg.randn(3, 2)
    assert all(p.grad_fn is None for p in x.unbind(0))
    w = dg.randn(3, 2, requires_grad=True)
    with dg.no_grad():
        assert all(p.grad_fn is None and not p.requires_grad for p in w.unbind(0))
    p = w.unbind(0)[1]
    assert p._base is w and np.shares_memory(p._data, w._data)


@pytest.mark.slow
def test_unbind_backward_is_linear_in_the_number_of_pieces():
    def run(n):
        x = dg.randn(n, 64, requires_grad=True)
        t0 = time.perf_counter()
        total = None
        for p in x.unbind(0):
            total = p.sum() if total is None else total + p.sum()
        total.backward()
        return time.perf_counter() - t0
    run(200)
    small = min(run(1000) for _ in range(3))
    large = min(run(8000) for _ in range(3))
    # quadratic scattering would make 8x the pieces cost ~64x; linear is ~8x
    assert large < 20 * small
