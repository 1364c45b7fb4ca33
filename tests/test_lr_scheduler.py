"""Learning-rate schedulers against PyTorch: the lr (and momentum) sequence over 40 steps matches
for every scheduler, with two param groups of different initial lr."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph import optim
from dyngraph.optim import lr_scheduler as dls
from tests.conftest import requires_torch, torch

STEPS = 40


def _optimizer(lib, kind: str = "SGD"):
    """An optimizer over two param groups (lr 0.1 and 0.02) on tensors of `lib`."""
    if lib is dg:
        a, b = dg.ones(2, requires_grad=True), dg.ones(3, requires_grad=True)
        mod = optim
    else:
        a, b = torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)
        mod = torch.optim
    groups = [{"params": [a]}, {"params": [b], "lr": 0.02}]
    if kind == "SGD":
        return getattr(mod, kind)(groups, lr=0.1, momentum=0.9)
    return getattr(mod, kind)(groups, lr=0.1)


def _trace(lib, make, steps=STEPS, metrics=None, kind="SGD", momentum_key=None):
    """The lrs (and optionally the momentum) after construction and after each step."""
    opt = _optimizer(lib, kind)
    mod = dls if lib is dg else torch.optim.lr_scheduler
    sched = make(mod, opt)
    seq = []

    def record():
        row = list(sched.get_last_lr())
        if momentum_key == "momentum":
            row += [g["momentum"] for g in opt.param_groups]
        elif momentum_key == "betas":
            row += [g["betas"][0] for g in opt.param_groups]
        seq.append(row)

    record()
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        record()
    return np.array(seq, dtype=np.float64)


SCHEDULERS = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[3, 10, 10, 25], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.93),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=15, eta_min=0.001),
    "CosineAnnealingLR-long": lambda m, o: m.CosineAnnealingLR(o, T_max=40),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lr_lambda=lambda e: 1.0 / (1 + e)),
    "LambdaLR-per-group": lambda m, o: m.LambdaLR(
        o, lr_lambda=[lambda e: 0.9 ** e, lambda e: min(1.0, (e + 1) / 10)]),
    "MultiplicativeLR": lambda m, o: m.MultiplicativeLR(o, lr_lambda=lambda e: 0.95),
    "LinearLR": lambda m, o: m.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=12),
    "LinearLR-decay": lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.2,
                                              total_iters=30),
    "ConstantLR": lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=6),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=30, power=2.0),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5), m.ExponentialLR(o, gamma=0.9)],
        milestones=[5]),
    "SequentialLR-3": lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=4), m.CosineAnnealingLR(o, T_max=10),
            m.StepLR(o, step_size=5, gamma=0.5)], milestones=[8, 20]),
    "ChainedScheduler": lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.5, total_iters=4), m.ExponentialLR(o, gamma=0.9)]),
    "OneCycleLR-cos": lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=STEPS),
    "OneCycleLR-linear": lambda m, o: m.OneCycleLR(
        o, max_lr=[0.5, 0.2], total_steps=STEPS, anneal_strategy="linear", pct_start=0.25),
    "OneCycleLR-three-phase": lambda m, o: m.OneCycleLR(
        o, max_lr=0.3, epochs=4, steps_per_epoch=10, three_phase=True, div_factor=10.0),
}


@requires_torch
@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_lr_sequence_matches_torch(name):
    make = SCHEDULERS[name]
    mom = "momentum" if name.startswith("OneCycle") else None
    ours = _trace(dg, make, momentum_key=mom)
    ref = _trace(torch, make, momentum_key=mom)
    assert len(np.unique(ours[:, 0])) > 1   # the schedule does change the lr
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


@requires_torch
def test_one_cycle_cycles_adam_beta1():
    make = SCHEDULERS["OneCycleLR-cos"]
    ours = _trace(dg, make, kind="Adam", momentum_key="betas")
    ref = _trace(torch, make, kind="Adam", momentum_key="betas")
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


PLATEAU_METRICS = [1.0 / (1 + i) if i < 8 else 0.11 + 0.001 * ((i * 7) % 5) for i in range(STEPS)]

PLATEAU = {
    "min-rel": dict(mode="min", patience=2),
    "min-abs-cooldown": dict(mode="min", threshold=0.01, threshold_mode="abs", cooldown=3,
                             patience=1, factor=0.5),
    "max-rel": dict(mode="max", patience=3, factor=0.7, min_lr=[0.01, 0.005]),
    "max-abs": dict(mode="max", threshold=0.05, threshold_mode="abs", patience=0, min_lr=0.004),
}


@requires_torch
@pytest.mark.parametrize("name", sorted(PLATEAU))
def test_reduce_lr_on_plateau_matches_torch(name):
    def make(m, o):
        return m.ReduceLROnPlateau(o, **PLATEAU[name])

    metrics = PLATEAU_METRICS if PLATEAU[name]["mode"] == "min" else [-x for x in PLATEAU_METRICS]
    ours = _trace(dg, make, metrics=metrics)
    ref = _trace(torch, make, metrics=metrics)
    assert len(np.unique(ours[:, 0])) > 1
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)


@requires_torch
@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
                                  "LinearLR", "PolynomialLR", "ConstantLR"])
def test_step_with_epoch_uses_closed_form_like_torch(name):
    make = SCHEDULERS[name]
    results = []
    for lib in (dg, torch):
        opt = _optimizer(lib)
        sched = make(dls if lib is dg else torch.optim.lr_scheduler, opt)
        lrs = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for epoch in (3, 9, 4, 17, 30):
                opt.step()
                sched.step(epoch)
                lrs.append(sched.get_last_lr())
        results.append(np.array(lrs))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


def _closed_form_cosine(t, base, eta_min, t_max):
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2


def test_cosine_against_formula():
    opt = _optimizer(dg)
    sched = dls.CosineAnnealingLR(opt, T_max=20, eta_min=0.01)
    for t in range(1, 21):
        opt.step()
        sched.step()
        expected = [_closed_form_cosine(t, b, 0.01, 20) for b in (0.1, 0.02)]
        np.testing.assert_allclose(sched.get_last_lr(), expected, rtol=1e-12)


@pytest.mark.parametrize("name", ["StepLR", "MultiStepLR", "CosineAnnealingLR", "LambdaLR",
                                  "SequentialLR", "OneCycleLR-cos", "LinearLR"])
def test_state_dict_round_trip_through_save(name, tmp_path):
    make = SCHEDULERS[name]
    opt = _optimizer(dg)
    sched = make(dls, opt)
    for _ in range(10):
        opt.step()
        sched.step()
    dg.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "ckpt")
    ckpt = dg.load(tmp_path / "ckpt")
    opt2 = _optimizer(dg)
    sched2 = make(dls, opt2)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    for _ in range(15):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
        assert sched.get_last_lr() == sched2.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt2.param_groups]


def test_plateau_state_dict_round_trip_through_save(tmp_path):
    opt = _optimizer(dg)
    sched = dls.ReduceLROnPlateau(opt, patience=1)
    for m in PLATEAU_METRICS[:12]:
        sched.step(m)
    dg.save(sched.state_dict(), tmp_path / "s")
    opt2 = _optimizer(dg)
    opt2.load_state_dict(opt.state_dict())
    sched2 = dls.ReduceLROnPlateau(opt2)
    sched2.load_state_dict(dg.load(tmp_path / "s"))
    for m in PLATEAU_METRICS[12:]:
        sched.step(m)
        sched2.step(m)
        assert sched.get_last_lr() == sched2.get_last_lr()


def test_warns_when_scheduler_steps_before_optimizer():
    opt = _optimizer(dg)
    sched = dls.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()


def test_errors():
    opt = _optimizer(dg)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        dls.StepLR(object(), step_size=1)
    with pytest.raises(KeyError, match="initial_lr"):
        dls.StepLR(opt, step_size=1, last_epoch=3)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        dls.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        dls.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="total_steps OR"):
        dls.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="momentum or beta1"):
        dls.OneCycleLR(optim.Adagrad([dg.ones(1, requires_grad=True)]), 0.1, total_steps=5)
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        dls.SequentialLR(opt, [dls.ReduceLROnPlateau(opt)], milestones=[])
    one = dls.OneCycleLR(_optimizer(dg), max_lr=0.1, total_steps=2)
    o = one.optimizer
    o.step()
    one.step()
    one.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        one.step()
