"""Training parity: an MLP and a CNN started from PyTorch's weights on the same data follow
PyTorch's loss curve (relative 1e-4) for 20 steps with SGD(momentum) and Adam."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from tests.conftest import requires_torch, torch


def _copy_weights(tmod, dmod):
    dmod.load_state_dict({k: dg.tensor(v.detach().numpy()) for k, v in tmod.state_dict().items()})


def _models(kind, dtype):
    import dyngraph.nn as dnn
    tnn = torch.nn
    if kind == "mlp":
        def build(nn):
            return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.Tanh(),
                                 nn.Linear(32, 5))
        shape = (32, 20)
    else:
        def build(nn):
            # No bias before batch norm: its gradient is pure rounding noise, which Adam amplifies.
            return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8),
                                 nn.ReLU(),
                                 nn.MaxPool2d(2), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(8 * 2 * 2, 5))
        shape = (16, 1, 8, 8)
    torch.manual_seed(0)
    tm = build(tnn).to(getattr(torch, dtype))
    dm = build(dnn).to(getattr(dg, dtype))
    _copy_weights(tm, dm)
    return tm, dm, shape


@requires_torch
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_loss_curve_matches_torch(kind, opt, dtype):
    tm, dm, shape = _models(kind, dtype)
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal(shape).astype(dtype) for _ in range(20)]
    ys = [rng.integers(0, 5, shape[0]) for _ in range(20)]
    if opt == "sgd":
        topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
        dopt = dg.optim.SGD(dm.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    else:
        topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
        dopt = dg.optim.Adam(dm.parameters(), lr=1e-3)
    import dyngraph.nn.functional as F
    t_losses, d_losses = [], []
    for x, y in zip(xs, ys):
        tl = torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        topt.zero_grad()
        tl.backward()
        topt.step()
        t_losses.append(tl.item())
        dl = F.cross_entropy(dm(dg.tensor(x)), dg.tensor(y))
        dopt.zero_grad()
        dl.backward()
        dopt.step()
        d_losses.append(dl.item())
    np.testing.assert_allclose(d_losses, t_losses, rtol=1e-4)
    for (name, tp), dp in zip(tm.named_parameters(), dm.parameters()):
        np.testing.assert_allclose(dp.detach().numpy(), tp.detach().numpy(), rtol=1e-4,
                                   atol=1e-6 if dtype == "float64" else 1e-4, err_msg=name)
