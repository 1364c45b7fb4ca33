"""The autograd tape: leaves, grad_fn, backward/grad options, hooks, custom Functions, double
backward, version counters, deep graphs and memory release."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd.gradcheck import GradcheckError
from tests.conftest import assert_close, requires_torch, torch


def test_leaf_and_grad_fn():
    x = dg.randn(3, requires_grad=True)
    y = x * 2
    assert x.is_leaf and x.grad_fn is None
    assert not y.is_leaf and y.grad_fn.name() == "MulBackward0"
    (nxt, idx), (other, _) = y.grad_fn.next_functions
    assert type(nxt).__name__ == "AccumulateGrad" and nxt.variable is x and idx == 0
    assert other is None  # the scalar operand
    assert "grad_fn=<MulBackward0>" in repr(y)


def test_backward_accumulates_and_grad_can_be_reset():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert_close(x.grad, [2.0, 4.0, 6.0])
    (x * x).sum().backward()
    assert_close(x.grad, [4.0, 8.0, 12.0])
    x.grad = None
    (3 * x).sum().backward()
    assert_close(x.grad, [3.0, 3.0, 3.0])


def test_shared_gradient_is_not_aliased_between_leaves():
    a = dg.ones(3, requires_grad=True)
    b = dg.ones(3, requires_grad=True)
    (a + b).sum().backward()
    a.grad.mul_(5)
    assert_close(b.grad, [1.0, 1.0, 1.0])


def test_backward_non_scalar_needs_gradient():
    x = dg.randn(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        y.backward()
    y.backward(dg.ones(2, 3))
    assert_close(x.grad, np.full((2, 3), 2.0))
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(dg.ones(3))


def test_second_backward_without_retain_graph_raises():
    x = dg.randn(3, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, 4 * x.detach().numpy())
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_backward_on_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dg.ones(2).sum().backward()


def test_autograd_grad_options():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    z = dg.tensor([5.0], requires_grad=True)
    y = (x ** 3).sum()
    (gx,) = dg.autograd.grad(y, x, retain_graph=True)
    assert_close(gx, [3.0, 12.0])
    assert x.grad is None  # grad() does not accumulate
    with pytest.raises(RuntimeError, match="not have been used in the graph"):
        dg.autograd.grad(y, [x, z], retain_graph=True)
    gx, gz = dg.autograd.grad(y, [x, z], allow_unused=True, retain_graph=True)
    assert gz is None
    gx, gz = dg.autograd.grad(y, [x, z], allow_unused=True, materialize_grads=True)
    assert_close(gz, [0.0])
    w = x * 2
    (g,) = dg.autograd.grad(w, x, grad_outputs=dg.tensor([1.0, 10.0]))
    assert_close(g, [2.0, 20.0])


def test_grad_of_intermediate():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    y = (h * h).sum()
    (gh,) = dg.autograd.grad(y, h)
    assert_close(gh, [6.0, 12.0])


def test_double_backward():
    x = dg.tensor([0.5, -1.0, 2.0], dtype=dg.float64, requires_grad=True)
    y = (x.sin() * x.exp()).sum()
    (g,) = dg.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad
    (gg,) = dg.autograd.grad(g.sum(), x)
    xn = x.detach().numpy()
    # d2/dx2 sin(x) e^x = 2 cos(x) e^x
    assert_close(gg, 2 * np.cos(xn) * np.exp(xn))


@pytest.mark.parametrize("fn", [
    lambda x: (x.tanh() * x).sum(),
    lambda x: (x.sigmoid() ** 2).sum(),
    lambda x: (x @ x.T).relu().sum() + x.exp().mean(),
    lambda x: (x / (1 + x * x)).sum(),
])
def test_gradgradcheck(fn):
    x = dg.randn(3, 3, dtype=dg.float64, requires_grad=True)
    assert dg.autograd.gradgradcheck(fn, (x,))


def test_backward_create_graph_then_backward_again():
    x = dg.tensor(2.0, requires_grad=True)
    y = x ** 3
    y.backward(create_graph=True)
    g = x.grad
    assert_close(g, 12.0)
    x.grad = None
    g.backward()
    assert_close(x.grad, 12.0)  # d/dx 3x^2 = 6x


def test_no_grad_enable_grad_set_grad_enabled_inference_mode():
    x = dg.ones(2, requires_grad=True)
    with dg.no_grad():
        y = x * 2
        with dg.enable_grad():
            z = x * 2
    assert not y.requires_grad and z.requires_grad
    with dg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert dg.is_grad_enabled()
    dg.set_grad_enabled(False)
    assert not dg.is_grad_enabled()
    dg.set_grad_enabled(True)
    with dg.inference_mode():
        assert not (x * 2).requires_grad

    @dg.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad


def test_detach_and_requires_grad_():
    x = dg.randn(3, requires_grad=True)
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    d[0] = 100.0  # shares memory
    assert float(x[0]) == 100.0
    y = x * 2
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        y.requires_grad_(False)
    with pytest.raises(RuntimeError, match="floating point"):
        dg.tensor([1, 2]).requires_grad_()


def test_register_hook_leaf_and_nonleaf_and_retain_grad():
    x = dg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h = x.register_hook(lambda g: g * 10)
    y = x * 3
    y.register_hook(lambda g: seen.append(g.tolist()))
    y.retain_grad()
    y.sum().backward()
    assert seen == [[1.0, 1.0]]
    assert_close(y.grad, [1.0, 1.0])
    assert_close(x.grad, [30.0, 30.0])
    h.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert_close(x.grad, [3.0, 3.0])


def test_inplace_on_leaf_requiring_grad_raises():
    x = dg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        x[0] = 2.0
    with dg.no_grad():
        x.add_(1)  # allowed: weight-update style
    assert_close(x.detach(), [2.0, 2.0, 2.0])


def test_inplace_modification_of_saved_tensor_raises():
    x = dg.randn(3, requires_grad=True)
    y = x * 1
    z = y * y  # saves y
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_inplace_on_nonleaf_keeps_gradient_correct():
    x = dg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.mul_(x)  # y = 2x * x
    y.sum().backward()
    assert_close(x.grad, [4.0, 8.0, 12.0])
    assert y._version == 1


@requires_torch
def test_inplace_chain_matches_torch():
    xn = np.array([0.5, -1.0, 2.0])
    x = dg.tensor(xn, requires_grad=True)
    tx = torch.tensor(xn, requires_grad=True)
    for t in (x, tx):
        y = t.exp()
        y = y * 1
        y.add_(t).mul_(2).clamp_(max=10.0)
        y[1] = 0.0
        y.sum().backward()
    assert_close(x.grad, tx.grad)


def test_version_counter_shared_with_views():
    x = dg.zeros(4)
    v = x[1:3]
    v.add_(1)
    assert x._version == v._version == 1
    assert_close(x, [0.0, 1.0, 1.0, 0.0])


def test_custom_function():
    class Cube(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.k = k
            return x ** 3 * k

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return g * 3 * x ** 2 * ctx.k, None

    x = dg.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x, 2.0)
    assert y.grad_fn.name() == "CubeBackward"
    y.sum().backward()
    assert_close(x.grad, [6.0, 24.0])
    assert dg.autograd.gradcheck(lambda t: Cube.apply(t, 1.5),
                                 (dg.randn(3, dtype=dg.float64, requires_grad=True),))


def test_variable_legacy():
    v = dg.autograd.Variable(dg.ones(2), requires_grad=True)
    assert isinstance(v, dg.Tensor) and v.requires_grad


def test_gradcheck_catches_a_wrong_gradient():
    class Wrong(dg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = dg.randn(3, dtype=dg.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        dg.autograd.gradcheck(Wrong.apply, (x,))
    assert dg.autograd.gradcheck(Wrong.apply, (x,), raise_exception=False) is False


def test_deep_graph_has_no_recursion_limit():
    x = dg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 0.0
    y.backward()
    assert float(x.grad) == 1.0


def test_graph_is_freed_after_backward():
    x = dg.randn(100, requires_grad=True)
    y = x.exp()
    node = weakref.ref(y.grad_fn)
    y.sum().backward()
    del y
    gc.collect()
    assert node() is None


def test_memory_flat_over_many_steps():
    import tracemalloc
    w = dg.randn(32, 32, requires_grad=True)
    x = dg.randn(16, 32)

    def step():
        loss = (x @ w).tanh().pow(2).mean()
        loss.backward()
        with dg.no_grad():
            w.sub_(0.01 * w.grad)
        w.grad = None

    for _ in range(200):
        step()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(2000):
        step()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 200_000, f"memory grew by {grown} bytes over 2000 steps"


@requires_torch
def test_mlp_gradients_match_torch():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((8, 5))
    w1 = rng.standard_normal((5, 7))
    w2 = rng.standard_normal((7, 3))
    params = [dg.tensor(a, requires_grad=True) for a in (w1, w2)]
    tparams = [torch.tensor(a, requires_grad=True) for a in (w1, w2)]
    for (a, b), x in ((params, dg.tensor(xs)), (tparams, torch.tensor(xs))):
        h = (x @ a).tanh()
        out = (h @ b).sigmoid()
        loss = (out * out).mean() + (h.abs().sum() * 0.01)
        loss.backward()
    for p, tp in zip(params, tparams):
        assert_close(p.grad, tp.grad)


def test_leaf_gradients_that_are_views_of_one_buffer_are_not_shared():
    a = dg.ones(6, requires_grad=True)
    b = dg.ones(2, 3, requires_grad=True)
    ((a + b.reshape(6)) * 2).backward(dg.ones(6))
    a.grad.mul_(10)
    assert_close(b.grad, np.full((2, 3), 2.0))


@pytest.mark.slow
def test_memory_flat_over_10000_training_steps():
    import tracemalloc
    w = dg.randn(64, 64, requires_grad=True)
    x = dg.randn(32, 64)
    tracemalloc.start()
    samples = []
    for i in range(10_000):
        loss = (x @ w).tanh().pow(2).mean()
        loss.backward()
        with dg.no_grad():
            w.sub_(0.01 * w.grad)
        w.grad = None
        if i % 1000 == 999:
            samples.append(tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    assert max(samples) - min(samples) < 200_000, samples
