"""The generic C renderer, built by the host C compiler and run on the CPU, against the
interpreter (the reference backend) and eager mode.

Every per-element rule of the CUDA renderer (ops, casts, NaN handling, accumulation, argmax's
tie and NaN rules) is the C renderer's, so these runs check the numbers a GPU kernel computes on
a machine with no GPU.
"""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from compiler.interpreter import Interpreter
from compiler.lower import LOWERING
from compiler.render_c import render_c

from .patterns import PATTERNS, CKernels, host_cc, kernel_steps, lowered, run_plan_with_c

pytestmark = pytest.mark.skipif(host_cc() is None, reason="no host C compiler (cc/gcc/clang)")


@pytest.fixture(scope="module")
def ck():
    return CKernels()


def _np(t):
    return t.detach().numpy() if isinstance(t, dg.Tensor) else np.asarray(t)


def _flat(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_pattern_matches_eager(name, ck):
    fn, make_args = PATTERNS[name]
    args = make_args()
    graph, plan = lowered(fn, *args)
    assert kernel_steps(plan), plan.text()
    arrays = [_np(a) for a in args]
    got = run_plan_with_c(graph, plan, arrays, ck)
    want = Interpreter(graph)(arrays)             # the reference backend
    eager = [_np(w) for w in _flat(fn(*args))]
    if len(eager) == len(want):                   # (no graph break: the segment is the function)
        for w, e in zip(want, eager):
            np.testing.assert_allclose(w, e, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, (name, g.shape, w.shape, g.dtype)
        if w.dtype.kind in "biu":
            np.testing.assert_array_equal(g, w)
        else:
            tol = 1e-12 if w.dtype == np.float64 else 2e-6
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True)


def test_every_kernel_op_is_covered_by_a_pattern():
    """Each op the lowering sends to kernels appears in some pattern's kernels."""
    seen = set()
    for fn, make_args in PATTERNS.values():
        _, plan = lowered(fn, *make_args())
        for step in kernel_steps(plan):
            seen |= {n.op for n in step.nodes}
    kernel_ops = {op for op, how in LOWERING.items() if how.startswith("kernel")}
    # `expand` folds into broadcast loads; `cast`'s rule is exercised by .to() in "integer_bool"
    missing = kernel_ops - seen - {"expand", "clamp", "cast", "mean", "prod"}
    assert not missing, f"kernel ops no pattern lowers: {sorted(missing)}"


def test_c_text_is_deterministic_and_names_the_kernel():
    fn, make_args = PATTERNS["softmax_last"]
    _, plan = lowered(fn, *make_args())
    k = kernel_steps(plan)[0].kernel((True, True, True))
    text = render_c(k)
    assert text == render_c(kernel_steps(lowered(fn, *make_args())[1])[0].kernel((True,) * 3))
    assert text.startswith("// kernel k(") and "expf(" in text and "dg_maxf" in text


def test_special_values_follow_numpy(ck):
    x = dg.tensor([0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1e-40, -2.5, 3.5])

    def f(x):
        return (x.sign(), x.relu(), x.round(), dg.maximum(x, 0.0), dg.minimum(x, 1.0), x.sigmoid(),
                dg.remainder(x, -1.5), dg.logaddexp(x, x), x.isinf(), x.isfinite())

    graph, plan = lowered(f, x)
    got = run_plan_with_c(graph, plan, [_np(x)], ck)
    for g, w in zip(got, _flat(f(x))):
        np.testing.assert_allclose(g, _np(w), rtol=1e-6, atol=0, equal_nan=True)
