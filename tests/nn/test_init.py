"""nn.init: gains and fans equal PyTorch's; draws have the documented distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn as nn
import dyngraph.nn.init as init
from tests.conftest import requires_torch, torch


@requires_torch
@pytest.mark.parametrize("nl,param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                      ("tanh", None), ("relu", None), ("leaky_relu", None),
                                      ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)),
                                      ("selu", None)])
def test_calculate_gain_matches_torch(nl, param):
    assert init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", "x")


@requires_torch
@pytest.mark.parametrize("shape", [(3, 5), (4, 2, 3, 3), (6, 1, 7)])
def test_fans_match_torch(shape):
    got = init._calculate_fan_in_and_fan_out(dg.empty(*shape))
    assert got == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(dg.empty(5))


def _np(t):
    return t.detach().numpy().astype(np.float64)


def test_uniform_and_normal_statistics():
    w = dg.empty(200, 300)
    assert init.uniform_(w, -2.0, 3.0) is w
    a = _np(w)
    assert a.min() >= -2.0 and a.max() < 3.0 and abs(a.mean() - 0.5) < 0.03
    init.normal_(w, mean=1.0, std=0.5)
    a = _np(w)
    assert abs(a.mean() - 1.0) < 0.01 and abs(a.std() - 0.5) < 0.01


def test_trunc_normal_bounds_and_moments():
    w = dg.empty(300, 300)
    init.trunc_normal_(w, mean=0.0, std=1.0, a=-1.0, b=2.0)
    a = _np(w)
    assert a.min() >= -1.0 and a.max() <= 2.0
    from scipy import stats
    dist = stats.truncnorm(-1.0, 2.0)
    assert abs(a.mean() - dist.mean()) < 0.01 and abs(a.std() - dist.std()) < 0.01


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_and_xavier_scales(mode):
    w = dg.empty(256, 128, 3)
    fan_in, fan_out = 128 * 3, 256 * 3
    fan = fan_in if mode == "fan_in" else fan_out
    init.kaiming_uniform_(w, a=0.1, mode=mode, nonlinearity="leaky_relu")
    bound = math.sqrt(2.0 / (1 + 0.01)) * math.sqrt(3.0 / fan)
    a = _np(w)
    assert np.abs(a).max() <= bound * (1 + 1e-6) and np.abs(a).max() > 0.99 * bound
    init.kaiming_normal_(w, mode=mode, nonlinearity="relu")
    assert abs(_np(w).std() - math.sqrt(2.0 / fan)) < 0.02 * math.sqrt(2.0 / fan)
    init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(_np(w)).max() <= bound * (1 + 1e-6)
    init.xavier_normal_(w)
    std = math.sqrt(2.0 / (fan_in + fan_out))
    assert abs(_np(w).std() - std) < 0.02 * std
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(w, mode="fan_avg")


def test_constant_zeros_ones_eye_dirac():
    w = dg.empty(3, 4)
    assert init.constant_(w, 0.25).tolist() == [[0.25] * 4] * 3
    assert init.zeros_(w).abs().sum().item() == 0
    assert init.ones_(w).sum().item() == 12
    np.testing.assert_array_equal(_np(init.eye_(w)), np.eye(3, 4))
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(dg.empty(2, 2, 2))
    conv = dg.empty(4, 2, 3, 3)
    d = _np(init.dirac_(conv, groups=2))
    assert d.sum() == 4 and d[0, 0, 1, 1] == 1 and d[1, 1, 1, 1] == 1 and d[2, 0, 1, 1] == 1


@requires_torch
def test_dirac_matches_torch():
    t = torch.nn.init.dirac_(torch.empty(6, 3, 3, 3), groups=2)
    np.testing.assert_array_equal(_np(init.dirac_(dg.empty(6, 3, 3, 3), groups=2)), t.numpy())


@pytest.mark.parametrize("shape", [(5, 8), (8, 5), (4, 3, 2)])
def test_orthogonal(shape):
    w = init.orthogonal_(dg.empty(*shape), gain=2.0)
    a = _np(w).reshape(shape[0], -1)
    rows, cols = a.shape
    gram = a @ a.T if rows <= cols else a.T @ a
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-5)


def test_sparse_zeroes_a_fraction_of_each_column():
    w = init.sparse_(dg.empty(10, 6), sparsity=0.3)
    zeros_per_col = (_np(w) == 0).sum(0)
    assert (zeros_per_col == 3).all()


def test_init_works_on_parameters_without_recording_grad():
    p = nn.Parameter(dg.empty(3, 3))
    init.kaiming_uniform_(p)
    init.normal_(p)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None


def test_generator_makes_draws_reproducible():
    g1, g2 = dg.Generator().manual_seed(7), dg.Generator().manual_seed(7)
    a = init.uniform_(dg.empty(4, 4), generator=g1)
    b = init.uniform_(dg.empty(4, 4), generator=g2)
    assert np.array_equal(_np(a), _np(b))
    dg.manual_seed(3)
    c = nn.Linear(4, 4).weight.detach().numpy().copy()
    dg.manual_seed(3)
    assert np.array_equal(nn.Linear(4, 4).weight.detach().numpy(), c)


def test_deprecated_aliases_warn():
    with pytest.warns(FutureWarning, match="uniform_"):
        init.uniform(dg.empty(2))


def test_erfinv_fallback_without_scipy(monkeypatch):
    import sys
    from scipy.special import erfinv
    u = np.linspace(-0.999, 0.999, 41)
    monkeypatch.setitem(sys.modules, "scipy.special", None)  # import fails: fallback path
    got = init._erfinv(dg.tensor(u)).numpy()
    np.testing.assert_allclose(got, erfinv(u), rtol=1e-9, atol=1e-9)
