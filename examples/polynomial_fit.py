"""Fit y = sin(x) on [-pi, pi] with a cubic, four ways, each step adding one part of dyngraph:
tensors with hand-written gradients, then autograd, then nn, then optim.

Mirrors PyTorch's "Learning PyTorch with Examples" tutorial; the code is the same after changing
the imports. Run: python examples/polynomial_fit.py
"""

from __future__ import annotations

import math

import dyngraph as dg

x = dg.linspace(-math.pi, math.pi, 2000)
y = dg.sin(x)


def with_tensors(steps=2000, lr=1e-6):
    """Forward and backward passes written by hand with tensor ops."""
    a, b, c, d = dg.randn(()), dg.randn(()), dg.randn(()), dg.randn(())
    for _ in range(steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum().item()
        grad_y_pred = 2.0 * (y_pred - y)
        a -= lr * grad_y_pred.sum()
        b -= lr * (grad_y_pred * x).sum()
        c -= lr * (grad_y_pred * x ** 2).sum()
        d -= lr * (grad_y_pred * x ** 3).sum()
    return loss, (a.item(), b.item(), c.item(), d.item())


def with_autograd(steps=2000, lr=1e-6):
    """Autograd computes the gradients; updates run under no_grad."""
    a, b, c, d = (dg.randn((), requires_grad=True) for _ in range(4))
    for _ in range(steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        with dg.no_grad():
            for p in (a, b, c, d):
                p -= lr * p.grad
                p.grad = None
    return loss.item(), (a.item(), b.item(), c.item(), d.item())


def with_nn(steps=2000, lr=1e-6):
    """The cubic as a Linear layer on the features (x, x^2, x^3)."""
    import dyngraph.nn as nn
    xx = x.unsqueeze(-1).pow(dg.tensor([1, 2, 3]))
    model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))
    loss_fn = nn.MSELoss(reduction="sum")
    for _ in range(steps):
        loss = loss_fn(model(xx), y)
        model.zero_grad()
        loss.backward()
        with dg.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    lin = model[0]
    return loss.item(), (lin.bias.item(), *lin.weight[0].tolist())


def with_optim(steps=2000, lr=1e-3):
    """The same model trained by an optimizer (RMSprop)."""
    import dyngraph.nn as nn
    xx = x.unsqueeze(-1).pow(dg.tensor([1, 2, 3]))
    model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1))
    loss_fn = nn.MSELoss(reduction="sum")
    opt = dg.optim.RMSprop(model.parameters(), lr=lr)
    for _ in range(steps):
        loss = loss_fn(model(xx), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    lin = model[0]
    return loss.item(), (lin.bias.item(), *lin.weight[0].tolist())


if __name__ == "__main__":
    dg.manual_seed(0)
    for name, fn in [("tensors", with_tensors), ("autograd", with_autograd), ("nn", with_nn),
                     ("optim", with_optim)]:
        loss, (a, b, c, d) = fn()
        print(f"{name:>8}: loss {loss:8.2f}   y = {a:+.4f} {b:+.4f} x {c:+.4f} x^2 {d:+.4f} x^3")
