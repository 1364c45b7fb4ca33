"""Walks the op table: every primitive has a gradient rule or a documented reason it has none, and
every op is exercised by at least one OpInfo case, checked against numpy (float64, float32), PyTorch
(where installed) and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from tests.conftest import TOL, assert_close, requires_torch, to_np, torch, torch_is_pinned
from tests.opinfo import all_cases

CASES = all_cases()
FLOATS = {"float64": dg.float64, "float32": dg.float32}


def _make(case, dtype, requires_grad=False):
    out = []
    for a in case.inputs:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            t = dg.tensor(a, dtype=FLOATS[dtype])
            if requires_grad:
                t.requires_grad_(True)
        else:
            t = dg.tensor(a)
        out.append(t)
    return out


def test_every_op_has_grad_rule_or_reason():
    missing = [name for name, op in dg.OPS.items()
               if op.grad is None and (op.differentiable or not op.nondiff_reason)]
    assert not missing, f"ops without a gradient rule or a non-differentiability reason: {missing}"


def test_every_op_has_a_case():
    covered = {c.op for c in CASES}
    missing = sorted(set(dg.OPS) - covered)
    assert not missing, f"ops in the table without an OpInfo case: {missing}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_forward_against_numpy(case):
    if case.ref is None:
        pytest.skip("no numpy reference for this case (checked against torch)")
    for dtype in case.dtypes:
        got = case.fn(*_make(case, dtype))
        want = case.ref(*[np.asarray(a) for a in case.inputs])
        rtol, atol = TOL[dtype]
        if dtype == "float32":
            rtol = case.rtol32 or rtol
            atol = case.atol32 or atol
        if isinstance(got, (tuple, list)):
            for g, w in zip(got, want):
                np.testing.assert_allclose(to_np(g), np.asarray(w), rtol=rtol, atol=atol)
        else:
            assert tuple(got.shape) == np.shape(want), (got.shape, np.shape(want))
            np.testing.assert_allclose(to_np(got), np.asarray(want), rtol=rtol, atol=atol,
                                       equal_nan=True)


@requires_torch
@pytest.mark.parametrize("case", [c for c in CASES if c.torch_fn is not None],
                         ids=lambda c: c.id)
def test_forward_and_grad_against_torch(case):
    tins = []
    for a in case.inputs:
        a = np.asarray(a)
        t = torch.tensor(a)
        if a.dtype.kind == "f" and case.grad:
            t.requires_grad_(True)
        tins.append(t)
    dins = _make(case, "float64", requires_grad=case.grad)
    want = case.torch_fn(*tins)
    got = case.fn(*dins)
    if isinstance(want, (tuple, list)):
        for g, w in zip(got, want):
            assert_close(g, w.detach().numpy())
        return
    assert_close(got, want.detach().numpy())
    if case.grad and want.requires_grad and want.dtype.is_floating_point:
        seed = np.random.default_rng(1).standard_normal(tuple(want.shape))
        try:
            want.backward(torch.tensor(seed))
        except (NotImplementedError, RuntimeError) as e:
            if torch_is_pinned:
                raise
            pytest.skip(f"torch {torch.__version__} has no gradient here ({e}); the gradient "
                        f"is compared under torch 2.13")
        got.backward(dg.tensor(seed))
        for d, t in zip(dins, tins):
            if t.requires_grad:
                w = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
                g = to_np(d.grad) if d.grad is not None else np.zeros(d.shape)
                np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("case", [c for c in CASES if c.grad], ids=lambda c: c.id)
def test_gradcheck(case):
    dins = _make(case, "float64", requires_grad=True)
    assert dg.autograd.gradcheck(case.fn, dins, eps=1e-6, atol=1e-6, rtol=1e-4)
