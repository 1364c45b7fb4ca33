"""Compiled training steps: loss.backward(), optimizer.step() and zero_grad() run compiled and
follow the eager loop; hyperparameters are runtime inputs (schedulers need no recompile); state
stays consistent when eager and compiled steps interleave; what cannot be replayed runs eagerly."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dyngraph as dg
from tests.conftest import to_np

nn = dg.nn
optim = dg.optim


def _mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


def _pair(make):
    m1 = make()
    m2 = make()
    m2.load_state_dict(m1.state_dict())
    return m1, m2


def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = dg.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    return loss


def _assert_params_close(m1, m2, tol=1e-5):
    for (name, p1), p2 in zip(m1.named_parameters(), m2.parameters()):
        np.testing.assert_allclose(to_np(p1), to_np(p2), rtol=tol, atol=tol, err_msg=name)


def _assert_compiled(step):
    entries = step._cf.entries
    assert entries and all(e.root is not None for e in entries), [e.eager_reason for e in entries]
    return entries


@pytest.mark.parametrize("make,shape", [(_mlp, (8, 6)), (_cnn, (4, 1, 8, 8))],
                         ids=["mlp", "cnn"])
@pytest.mark.parametrize("opt_cls,kw", [(optim.SGD, dict(lr=0.05, momentum=0.9)),
                                        (optim.Adam, dict(lr=0.01))], ids=["sgd", "adam"])
def test_training_loop_follows_eager_for_50_steps(make, shape, opt_cls, kw):
    m1, m2 = _pair(make)
    o1, o2 = opt_cls(m1.parameters(), **kw), opt_cls(m2.parameters(), **kw)
    x, y = dg.randn(*shape), dg.randint(0, 3, (shape[0],))
    step = dg.compile(train_step)
    for _ in range(50):
        l1 = step(m1, o1, x, y)
        l2 = train_step(m2, o2, x, y)
        np.testing.assert_allclose(l1.item(), l2.item(), rtol=1e-4, atol=1e-6)
    _assert_params_close(m1, m2)
    entries = _assert_compiled(step)
    # one trace for the first step (creates optimizer state), one for all later steps
    assert len(entries) == 2
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        for k, v in o2.state[p2].items():
            np.testing.assert_allclose(to_np(o1.state[p1][k]), to_np(v), rtol=1e-5, atol=1e-6)


OPTIONS = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.1, momentum=0.8, nesterov=True, maximize=True)),
    (optim.Adam, dict(lr=0.02, weight_decay=0.05, amsgrad=True)),
    (optim.Adam, dict(lr=0.02, betas=(0.8, 0.9), maximize=True)),
    (optim.Adam, dict(lr=0.02, weight_decay=0.05, decoupled_weight_decay=True)),
    (optim.AdamW, dict(lr=0.02, amsgrad=True)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.1)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
]


@pytest.mark.parametrize("opt_cls,kw", OPTIONS, ids=[f"{c.__name__}-{i}"
                                                    for i, (c, _) in enumerate(OPTIONS)])
def test_every_optimizer_option_matches_eager(opt_cls, kw):
    m1, m2 = _pair(_mlp)
    o1, o2 = opt_cls(m1.parameters(), **kw), opt_cls(m2.parameters(), **kw)
    x, y = dg.randn(8, 6), dg.randint(0, 3, (8,))
    step = dg.compile(train_step)
    for _ in range(6):
        step(m1, o1, x, y)
        train_step(m2, o2, x, y)
    _assert_params_close(m1, m2, 1e-6)
    _assert_compiled(step)


def test_scheduler_changes_lr_without_recompile():
    m1, m2 = _pair(_mlp)
    o1 = optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
    o2 = optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    s1 = optim.lr_scheduler.StepLR(o1, step_size=2, gamma=0.5)
    s2 = optim.lr_scheduler.StepLR(o2, step_size=2, gamma=0.5)
    x, y = dg.randn(8, 6), dg.randint(0, 3, (8,))
    step = dg.compile(train_step)
    for _ in range(8):
        step(m1, o1, x, y)
        train_step(m2, o2, x, y)
        s1.step()
        s2.step()
    assert o1.param_groups[0]["lr"] == o2.param_groups[0]["lr"] < 0.01
    _assert_params_close(m1, m2, 1e-6)
    assert len(_assert_compiled(step)) == 2
    assert not any("lr" in e for e in step._cf.events)


def test_momentum_and_betas_are_runtime_but_zero_momentum_is_guarded():
    m1, m2 = _pair(_mlp)
    o1 = optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
    o2 = optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    x, y = dg.randn(8, 6), dg.randint(0, 3, (8,))
    step = dg.compile(train_step)
    for mom in (0.9, 0.9, 0.5, 0.7, 0.0, 0.3):
        o1.param_groups[0]["momentum"] = o2.param_groups[0]["momentum"] = mom
        step(m1, o1, x, y)
        train_step(m2, o2, x, y)
    _assert_params_close(m1, m2, 1e-6)
    assert len(step._cf.entries) == 3   # first step, momentum steps, momentum 0 (0.3 reuses)
    assert any("momentum'] != 0) is True" in e for e in step._cf.events)


def test_eager_and_compiled_steps_interleave_consistently():
    m1, m2 = _pair(_mlp)
    o1, o2 = optim.Adam(m1.parameters(), lr=0.01), optim.Adam(m2.parameters(), lr=0.01)
    x, y = dg.randn(8, 6), dg.randint(0, 3, (8,))
    step = dg.compile(train_step)
    for i in range(8):
        (step if i % 3 else train_step)(m1, o1, x, y)
        train_step(m2, o2, x, y)
    _assert_params_close(m1, m2, 1e-6)
    sd1, sd2 = o1.state_dict(), o2.state_dict()
    for k in sd2["state"]:
        for name, v in sd2["state"][k].items():
            np.testing.assert_allclose(to_np(sd1["state"][k][name]), to_np(v), rtol=1e-5,
                                       atol=1e-8)
    assert float(sd1["state"][0]["step"]) == 8


def test_step_alone_with_grads_from_outside():
    """Only `opt.step(); opt.zero_grad()` compiled; the optimizer found through a closure."""
    m1, m2 = _pair(_mlp)
    o1 = optim.SGD(m1.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    o2 = optim.SGD(m2.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    x = dg.randn(8, 6)

    @dg.compile
    def update():
        o1.step()
        o1.zero_grad()

    for _ in range(5):
        m1(x).pow(2).mean().backward()
        m2(x).pow(2).mean().backward()
        update()
        o2.step()
        o2.zero_grad()
    _assert_params_close(m1, m2, 1e-6)
    assert all(p.grad is None for p in m1.parameters())
    _assert_compiled(update)


def test_scheduler_inside_compiled_function_runs_eagerly():
    m1, m2 = _pair(_mlp)
    o1, o2 = optim.SGD(m1.parameters(), lr=0.1), optim.SGD(m2.parameters(), lr=0.1)
    s1 = optim.lr_scheduler.ExponentialLR(o1, gamma=0.5)
    s2 = optim.lr_scheduler.ExponentialLR(o2, gamma=0.5)
    x, y = dg.randn(8, 6), dg.randint(0, 3, (8,))

    def step_and_schedule(model, opt, sched, x, y):
        loss = train_step(model, opt, x, y)
        sched.step()
        return loss

    step = dg.compile(step_and_schedule)
    for _ in range(4):
        step(m1, o1, s1, x, y)
        step_and_schedule(m2, o2, s2, x, y)
    assert o1.param_groups[0]["lr"] == o2.param_groups[0]["lr"] == 0.1 * 0.5 ** 4
    _assert_params_close(m1, m2, 1e-6)
    assert any("scheduler" in (e.eager_reason or "") for e in step._cf.entries)


def test_lr_read_by_user_code_stays_guarded():
    m1, m2 = _pair(_mlp)
    o1, o2 = optim.SGD(m1.parameters(), lr=0.1), optim.SGD(m2.parameters(), lr=0.1)
    x, y = dg.randn(8, 6), dg.randint(0, 3, (8,))

    def step_scaled(model, opt, x, y):
        loss = train_step(model, opt, x, y)
        return loss * opt.param_groups[0]["lr"]

    step = dg.compile(step_scaled)
    for lr in (0.1, 0.1, 0.05, 0.05):
        o1.param_groups[0]["lr"] = o2.param_groups[0]["lr"] = lr
        a, b = step(m1, o1, x, y), step_scaled(m2, o2, x, y)
        np.testing.assert_allclose(a.item(), b.item(), rtol=1e-6)
    _assert_params_close(m1, m2, 1e-6)
    assert any("['lr'] == 0.1" in e for e in step._cf.events)


def test_optimizer_with_step_hook_runs_eagerly():
    m1, m2 = _pair(_mlp)
    o1, o2 = optim.Adam(m1.parameters()), optim.Adam(m2.parameters())
    calls = []
    o1.register_step_post_hook(lambda opt, a, k: calls.append(1))
    x, y = dg.randn(8, 6), dg.randint(0, 3, (8,))
    step = dg.compile(train_step)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            step(m1, o1, x, y)
            train_step(m2, o2, x, y)
    assert len(calls) == 3      # the hook ran on every call: nothing was silently dropped
    _assert_params_close(m1, m2, 1e-6)
    assert all(e.root is None for e in step._cf.entries)


def test_explain_shows_hyperparameters_as_inputs():
    m = _mlp()
    o = optim.Adam(m.parameters(), lr=0.01)
    x, y = dg.randn(8, 6), dg.randint(0, 3, (8,))
    step = dg.compile(train_step)
    for _ in range(2):
        step(m, o, x, y)
    text = str(step.explain())
    assert "args[1].param_groups[0]['lr'] is a number" in text
    assert "(args[1].param_groups[0]['weight_decay'] != 0) is False" in text


def _bn_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 8),
                         nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


@pytest.mark.parametrize("backend", ["interpreter", "llvm"])
def test_batchnorm_training_compiles_with_its_running_statistics(backend):
    # BatchNorm's running-stat updates are copy_ into buffers: under a trace they are recorded
    # in-place ops written back after the call, so the step compiles instead of running eagerly
    m1, m2 = _pair(_bn_cnn)
    o1 = optim.SGD(m1.parameters(), lr=0.05, momentum=0.9)
    o2 = optim.SGD(m2.parameters(), lr=0.05, momentum=0.9)
    step = dg.compile(train_step, backend=backend)
    for _ in range(8):
        x, y = dg.randn(4, 1, 8, 8), dg.randint(0, 3, (4,))
        l1 = step(m1, o1, x, y)
        l2 = train_step(m2, o2, x, y)
        np.testing.assert_allclose(l1.item(), l2.item(), rtol=1e-4, atol=1e-6)
    _assert_params_close(m1, m2)
    for (name, b1), b2 in zip(m1.named_buffers(), m2.buffers()):
        np.testing.assert_allclose(to_np(b1), to_np(b2), rtol=1e-5, atol=1e-6, err_msg=name)
    assert int(m1[1].num_batches_tracked.item()) == 8
    _assert_compiled(step)
    m1.eval()
    m2.eval()
    x = dg.randn(4, 1, 8, 8)
    np.testing.assert_allclose(to_np(dg.compile(m1, backend=backend)(x)), to_np(m2(x)),
                               rtol=1e-5, atol=1e-6)
