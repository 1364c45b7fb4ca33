"""Ops whose output size depends on the input's values (nonzero, unique, boolean-mask
selection): a compiled function splits its graph after them and guards on the size they
produced, so a call that selects a different number of elements never runs kernels sized for
an earlier call (it once returned [2, 2, 2] for `unique(x) * 2` of four equal values)."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from compiler.trace import GraphBreakError

BACKENDS = ["llvm", "interpreter"]
INPUTS = [[1.0, 3.0, 4.0, 5.0], [1.0, 1.0, 3.0, 1.0], [1.0, 1.0, 1.0, 1.0], [5.0, 1.0, 3.0, 1.0],
          [1.0, 1.0, 3.0, 1.0]]


def _masked(x):
    return (x[x > 2] * 2).sum() + x[x > 2].numel()


FUNCTIONS = {
    "unique": lambda x: dg.unique(x) * 2,
    "unique_counts": lambda x: dg.unique(x, return_counts=True)[1] + 1,
    "nonzero": lambda x: dg.nonzero(x > 2).sum() + dg.nonzero(x > 2).shape[0],
    "masked_select": lambda x: dg.masked_select(x, x > 2) * 2 + 1,
    "boolean_mask": _masked,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_a_new_output_size_takes_a_new_path(backend, name):
    fn = FUNCTIONS[name]
    cf = dg.compile(fn, backend=backend)
    for values in INPUTS:           # sizes 3, 1, 0, 2, then 1 again (a cached path)
        x = dg.tensor(values)
        want, got = fn(x), cf(x)
        assert got.shape == want.shape, (values, got, want)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert any("graph break" in e for e in cf.explain().events)


@pytest.mark.parametrize("backend", BACKENDS)
def test_masked_training_step_matches_eager(backend):
    """A loss over the elements a mask selects: the gradient of each call is eager's."""
    def step(x, w):
        loss = (x[x > 0] * w).sum()
        loss.backward()
        return loss
    cstep = dg.compile(step, backend=backend)
    rng = np.random.default_rng(0)
    for _ in range(5):
        xa = rng.standard_normal(6).astype(np.float32)
        w1, w2 = dg.tensor(1.5, requires_grad=True), dg.tensor(1.5, requires_grad=True)
        want, got = step(dg.tensor(xa), w1), cstep(dg.tensor(xa), w2)
        np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6)
        np.testing.assert_allclose(w2.grad.numpy(), w1.grad.numpy(), rtol=1e-6)


def test_fullgraph_refuses_a_data_dependent_size():
    cf = dg.compile(lambda x: dg.nonzero(x > 2), backend="llvm", fullgraph=True)
    with pytest.raises(GraphBreakError, match=r"nonzero .*depends on the input's values"):
        cf(dg.tensor([1.0, 3.0]))


def test_export_refuses_a_data_dependent_size():
    """An exported graph has no Python to re-trace with: a size set by the data is an error
    at export time, not a graph that returns the traced size for every input."""
    from dyngraph._export_spec import ExportError

    class M(dg.nn.Module):
        def forward(self, x):
            return dg.masked_select(x, x > 0) * 2
    with pytest.raises(ExportError, match="getitem returns a tensor whose size depends on the "
                                          "input's values"):
        dg.export(M(), (dg.tensor([1.0, -1.0, 2.0]),))


def test_index_tensors_keep_one_graph():
    """Integer-index selection and a mask used through where have sizes set by shapes alone:
    no graph break."""
    idx = dg.tensor([0, 2])

    def fn(x):
        return x[idx] * 2 + dg.where(x > 2, x, 0.0).sum()
    cf = dg.compile(fn, backend="llvm")
    for values in INPUTS[:3]:
        x = dg.tensor(values)
        np.testing.assert_array_equal(cf(x).numpy(), fn(x).numpy())
    assert not any("graph break" in e for e in cf.explain().events)


@pytest.mark.parametrize("backend", BACKENDS)
def test_repeat_interleave_counts_are_guarded(backend):
    """repeat_interleave reads its tensor of counts into Python: under compile that is a graph
    break on the counts (it read the array directly, so the trace kept the first counts)."""
    def fn(x, r):
        return dg.repeat_interleave(x, r) * 2 + dg.repeat_interleave(r).sum()
    cf = dg.compile(fn, backend=backend)
    x = dg.tensor([1.0, 2.0, 3.0])
    for counts in ([1, 1, 1], [2, 0, 1], [3, 3, 3], [1, 1, 1]):
        r = dg.tensor(counts)
        want, got = fn(x, r), cf(x, r)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.numpy(), want.numpy())
