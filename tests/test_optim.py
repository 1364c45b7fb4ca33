"""Optimizers against PyTorch: 20 steps of each option combination give the same parameters, and
state dicts round-trip so that a restored optimizer continues identically."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import optim
from tests.conftest import requires_torch, torch

STEPS = 20
RTOL, ATOL = 1e-4, 1e-5   # float32, after 20 steps of accumulated rounding


def _init_arrays(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = [(5, 4), (4,), (4, 3)]
    params = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    x = rng.standard_normal((8, 5)).astype(np.float32)
    return params, x


def _loss(lib, ps, x):
    """A small two-layer regression loss written so it runs on dyngraph and torch tensors."""
    h = x @ ps[0] + ps[1]
    out = h @ ps[2]
    return (out * out).mean() + (ps[0] * ps[0]).sum() * 0.1


def _groups(ps, grouped: bool, group_opts: dict):
    if not grouped:
        return ps
    return [{"params": ps[:2], "lr": 0.05, **group_opts}, {"params": ps[2:]}]


def _run(lib, opt_name: str, kwargs: dict, grouped=False, group_opts=None, steps=STEPS):
    """Train with `lib` (dyngraph or torch); return the final parameters as numpy arrays."""
    arrays, x = _init_arrays()
    if lib is dg:
        ps = [dg.tensor(a, requires_grad=True) for a in arrays]
        xt = dg.tensor(x)
        opt = getattr(optim, opt_name)(_groups(ps, grouped, group_opts or {}), **kwargs)
    else:
        ps = [torch.tensor(a, requires_grad=True) for a in arrays]
        xt = torch.tensor(x)
        opt = getattr(torch.optim, opt_name)(_groups(ps, grouped, group_opts or {}), **kwargs)
    sign = -1.0 if kwargs.get("maximize") else 1.0   # ascend a bounded objective
    for _ in range(steps):
        opt.zero_grad()
        (sign * _loss(lib, ps, xt)).backward()
        opt.step()
    return [p.detach().numpy().copy() for p in ps]


def _combos(**options):
    keys = list(options)
    for values in itertools.product(*options.values()):
        yield dict(zip(keys, values))


def _sgd_cases():
    for kw in _combos(momentum=[0, 0.9], dampening=[0, 0.3], nesterov=[False, True],
                      weight_decay=[0, 0.1], maximize=[False, True]):
        if kw["nesterov"] and (kw["momentum"] == 0 or kw["dampening"] != 0):
            continue
        yield dict(lr=0.02, **kw)


CASES = (
    [("SGD", kw) for kw in _sgd_cases()]
    + [("Adam", dict(lr=0.01, **kw)) for kw in _combos(
        amsgrad=[False, True], weight_decay=[0, 0.1], maximize=[False, True])]
    + [("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6))]
    + [("AdamW", dict(lr=0.01, **kw)) for kw in _combos(
        amsgrad=[False, True], weight_decay=[0, 0.01, 0.3], maximize=[False, True])]
    + [("RMSprop", dict(lr=0.005, **kw)) for kw in _combos(
        centered=[False, True], momentum=[0, 0.9], weight_decay=[0, 0.1],
        maximize=[False, True])]
    + [("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6))]
    + [("Adagrad", dict(lr=0.05, **kw)) for kw in _combos(
        lr_decay=[0, 0.01], weight_decay=[0, 0.1], initial_accumulator_value=[0, 0.5],
        maximize=[False, True])]
)


def _case_id(case):
    name, kw = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


@requires_torch
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_matches_torch(case):
    name, kwargs = case
    ours = _run(dg, name, kwargs)
    ref = _run(torch, name, kwargs)
    for a, b, a0 in zip(ours, ref, _init_arrays()[0]):
        assert np.isfinite(a).all() and not np.allclose(a, a0)
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


GROUP_OPTS = {"SGD": {"momentum": 0.5}, "Adam": {"betas": (0.5, 0.9)},
              "AdamW": {"weight_decay": 0.2}, "RMSprop": {"centered": True},
              "Adagrad": {"lr_decay": 0.1}}


@requires_torch
@pytest.mark.parametrize("name", sorted(GROUP_OPTS))
def test_param_groups_match_torch(name):
    kwargs = {"lr": 0.01, "momentum": 0.9} if name == "SGD" else {"lr": 0.01}
    ours = _run(dg, name, kwargs, grouped=True, group_opts=GROUP_OPTS[name])
    ref = _run(torch, name, kwargs, grouped=True, group_opts=GROUP_OPTS[name])
    for a, b, a0 in zip(ours, ref, _init_arrays()[0]):
        assert np.isfinite(a).all() and not np.allclose(a, a0)
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


ROUND_TRIP = [("SGD", dict(lr=0.02, momentum=0.9, nesterov=True)),
              ("Adam", dict(lr=0.01, amsgrad=True)), ("AdamW", dict(lr=0.01)),
              ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5)),
              ("Adagrad", dict(lr=0.05, lr_decay=0.01))]


def _train(opt, ps, x, steps):
    for _ in range(steps):
        opt.zero_grad()
        _loss(dg, ps, x).backward()
        opt.step()


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP, ids=[n for n, _ in ROUND_TRIP])
def test_state_dict_round_trip_continues_identically(name, kwargs):
    arrays, x = _init_arrays()
    x = dg.tensor(x)
    ps = [dg.tensor(a, requires_grad=True) for a in arrays]
    opt = getattr(optim, name)(_groups(ps, True, {}), **kwargs)
    _train(opt, ps, x, 10)
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    # A second optimizer, built fresh on copies of the parameters, takes over the state.
    ps2 = [p.detach().clone().requires_grad_(True) for p in ps]
    opt2 = getattr(optim, name)(_groups(ps2, True, {}), **kwargs)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.05
    _train(opt, ps, x, 10)
    _train(opt2, ps2, x, 10)
    for a, b in zip(ps, ps2):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@pytest.mark.parametrize("name,kwargs", ROUND_TRIP, ids=[n for n, _ in ROUND_TRIP])
def test_state_dict_survives_save_and_load(name, kwargs, tmp_path):
    arrays, x = _init_arrays()
    x = dg.tensor(x)
    ps = [dg.tensor(a, requires_grad=True) for a in arrays]
    opt = getattr(optim, name)(ps, **kwargs)
    _train(opt, ps, x, 5)
    dg.save(opt.state_dict(), tmp_path / "opt.dg")
    ps2 = [p.detach().clone().requires_grad_(True) for p in ps]
    opt2 = getattr(optim, name)(ps2, **kwargs)
    opt2.load_state_dict(dg.load(tmp_path / "opt.dg"))
    _train(opt, ps, x, 5)
    _train(opt2, ps2, x, 5)
    for a, b in zip(ps, ps2):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())


@requires_torch
@pytest.mark.parametrize("name,kwargs", ROUND_TRIP, ids=[n for n, _ in ROUND_TRIP])
def test_state_dict_layout_matches_torch(name, kwargs):
    arrays, x = _init_arrays()
    ps = [dg.tensor(a, requires_grad=True) for a in arrays]
    tps = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt = getattr(optim, name)(ps, **kwargs)
    topt = getattr(torch.optim, name)(tps, **kwargs)
    _train(opt, ps, dg.tensor(x), 2)
    for _ in range(2):
        topt.zero_grad()
        _loss(torch, tps, torch.tensor(x)).backward()
        topt.step()
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["state"].keys() == tsd["state"].keys()
    for i in sd["state"]:
        assert sd["state"][i].keys() == tsd["state"][i].keys()
        for k, v in sd["state"][i].items():
            np.testing.assert_allclose(v.numpy(), tsd["state"][i][k].numpy(), rtol=1e-4,
                                       atol=1e-6)
    group, tgroup = sd["param_groups"][0], tsd["param_groups"][0]
    assert group["params"] == tgroup["params"]
    for k, v in group.items():
        assert tgroup[k] == v, k


def test_params_without_grad_are_skipped():
    a = dg.ones(3, requires_grad=True)
    b = dg.ones(3, requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert len(opt.state) == 1
    np.testing.assert_array_equal(b.detach().numpy(), np.ones(3, np.float32))
    assert not np.allclose(a.detach().numpy(), 1)


def test_step_bumps_version_and_keeps_grad_untouched():
    w = dg.tensor([1.0, 2.0], requires_grad=True)
    g = dg.tensor([0.5, -0.5])
    w.backward(g)
    grad_before = w.grad.numpy().copy()
    v0 = w._version
    optim.SGD([w], lr=0.1, weight_decay=0.1, momentum=0.9).step()
    assert w._version == v0 + 1
    np.testing.assert_array_equal(w.grad.numpy(), grad_before)
    np.testing.assert_array_equal(g.numpy(), np.array([0.5, -0.5], np.float32))


def test_zero_grad():
    w = dg.ones(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * 3).sum().backward()
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros(2, np.float32))
    opt.zero_grad()
    assert w.grad is None


def test_closure_returns_loss_and_runs_with_grad():
    w = dg.tensor([3.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with dg.no_grad():
        loss = opt.step(closure)
    assert float(loss.item()) == 9.0
    np.testing.assert_allclose(w.detach().numpy(), [3.0 - 0.25 * 6.0])


def test_add_param_group_and_named_params():
    a, b = dg.ones(2, requires_grad=True), dg.ones(2, requires_grad=True)
    opt = optim.SGD([("a", a)], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": [("b", b)], "lr": 0.5})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.5
    assert [g["param_names"] for g in opt.state_dict()["param_groups"]] == [["a"], ["b"]]
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


@pytest.mark.parametrize("make,msg", [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate"),
    (lambda p: optim.SGD(p, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "beta parameter at index 0"),
    (lambda p: optim.Adam(p, eps=-1), "Invalid epsilon"),
    (lambda p: optim.RMSprop(p, alpha=-0.1), "Invalid alpha"),
    (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay"),
    (lambda p: optim.AdamW([], lr=0.1), "empty parameter list"),
])
def test_invalid_options(make, msg):
    with pytest.raises(ValueError, match=msg):
        make([dg.ones(1, requires_grad=True)])


def test_bad_params_rejected():
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(dg.ones(2, requires_grad=True), lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {dg.ones(2, requires_grad=True)}}], lr=0.1)
    leaf = dg.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([leaf * 2], lr=0.1)
    with pytest.raises(RuntimeError, match="fused=True"):
        optim.Adam([leaf], fused=True)


def test_load_state_dict_checks_shapes():
    a, b = dg.ones(2, requires_grad=True), dg.ones(2, requires_grad=True)
    sd = optim.Adam([a, b]).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.Adam([a]).load_state_dict(sd)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)


def test_load_state_dict_casts_to_param_dtype():
    w = dg.ones(3, dtype=dg.float64, requires_grad=True)
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = sd["state"][0]["exp_avg"].float()
    opt2 = optim.Adam([w], lr=0.1)
    opt2.load_state_dict(sd)
    assert opt2.state[w]["exp_avg"].dtype == dg.float64
    assert opt2.state[w]["step"].dtype == dg.float32


def test_step_hooks():
    w = dg.ones(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    calls = []
    h1 = opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    opt.step()
    h1.remove()
    opt.step()
    assert calls == ["pre", "post", "post"]


def test_hooks_run_once_for_a_subclass_calling_super_step():
    class ClippedSGD(optim.SGD):
        def step(self, closure=None):
            return super().step(closure)

    w = dg.ones(2, requires_grad=True)
    opt = ClippedSGD([w], lr=0.1)
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.step()
    assert calls == ["pre"]


def test_repr_lists_groups():
    opt = optim.SGD([dg.ones(1, requires_grad=True)], lr=0.1)
    assert "Parameter Group 0" in repr(opt) and "lr: 0.1" in repr(opt)
