"""Soundness of the compiler: a cached graph never returns a stale or wrong result.

Sizes derived from a symbolic size by a non-polynomial operation (`//`, `%`, `/` then `int`,
`math.ceil`, `>>`, `float()`/`int()` then arithmetic, `min`) must be guarded or kept symbolic,
so a later size that changes the derived number recompiles. Python side effects the graph cannot
replay (attribute writes on reachable objects, draws from user-held generators) run eagerly."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dyngraph as dg
from tests.conftest import to_np

SIZES = (10, 20, 30, 200, 201, 13)


def _floordiv(x):
    return x[: x.shape[0] // 64 + 1]


def _truediv_int(x):
    return x[: int(x.shape[0] / 64) + 1]


def _ceil(x):
    return x[: math.ceil(x.shape[0] / 64)]


def _mod(x):
    return x * (x.shape[0] % 2) + x[: x.shape[0] % 10 + 1].sum(0)


def _rshift(x):
    return x[: (x.shape[0] >> 6) + 1]


def _float_then_arith(x):
    f = float(x.shape[0])
    return x[: int(f / 64) + 1]


def _int_then_arith(x):
    n = int(x.shape[0])
    return x[: n // 64 + 1]


def _min(x):
    return x[: min(x.shape[0], 64)].sum(0)


def _len_floordiv(x):
    return x[: len(x) // 64 + 1] * 2


def _numel_mod(x):
    return x.sum() * (x.numel() % 4)


def _numpy_route(x):
    # the size passes through numpy: not interceptable, the third trace has to catch it
    return x[: int(np.prod(x.shape)) // 64 + 1]


ROUTES = [_floordiv, _truediv_int, _ceil, _mod, _rshift, _float_then_arith, _int_then_arith,
          _min, _len_floordiv, _numel_mod]


def _run(fn, mode, sizes=SIZES, width=3):
    kwargs = {"backend": "interpreter"}
    if mode == "dynamic":
        kwargs["dynamic"] = True
    elif mode == "marked":
        kwargs["dynamic"] = False
    cf = dg.compile(fn, **kwargs)
    rng = np.random.default_rng(0)
    for n in sizes:
        xa = rng.standard_normal((n, width))
        x = dg.tensor(xa)
        if mode == "marked":
            dg.mark_dynamic(x, 0)
        got = cf(x)
        want = fn(dg.tensor(xa))
        assert tuple(got.shape) == tuple(want.shape), (fn.__name__, mode, n)
        np.testing.assert_allclose(to_np(got), to_np(want), rtol=1e-12, atol=1e-12,
                                   err_msg=f"{fn.__name__} {mode} n={n}")
    return cf


@pytest.mark.parametrize("mode", ["recompile", "dynamic", "marked"])
@pytest.mark.parametrize("fn", ROUTES, ids=lambda f: f.__name__)
def test_size_derived_numbers_are_never_stale(fn, mode):
    _run(fn, mode)


@pytest.mark.parametrize("mode", ["recompile", "dynamic"])
def test_numpy_route_is_caught_by_the_third_trace(mode):
    _run(_numpy_route, mode)


def test_size_arithmetic_tracks_guards_or_pins():
    from types import SimpleNamespace

    from compiler import symsize
    from compiler.symsize import SymFloat, SymSize

    def arg(*shape):
        return [SimpleNamespace(_data=np.zeros(shape))]

    guards: list = []
    symsize._RECORD.append(guards)
    try:
        n = SymSize(20, "a[0]._data.shape[0]")
        e = SymSize(3, "a[0]._data.shape[1]")
        for poly in (n * e + 1, 2 * n - e, n ** 2, -n, n << 2):
            assert isinstance(poly, SymSize)           # polynomials stay symbolic, unguarded
            assert eval(poly.expr, {"a": arg(20, 3)}) == poly._v
        assert isinstance(n / 64, SymFloat) and isinstance(n * 0.5, SymFloat)
        assert not guards
        for derived, want in ((n // 64, 0), (n % 3, 2), (n >> 3, 2), (n & 4, 4), (abs(n - 30), 10),
                              (int(n / 64), 0), (math.ceil(n / 8), 3), (round(n / 8), 2),
                              (int(n), 20), (float(n) + 1, 21.0), (divmod(n, 6), (3, 2))):
            assert derived == want and not isinstance(derived, (SymSize, SymFloat))
        assert len(guards) == 12                     # one pin each (divmod: two)
        ns = {"a": arg(20, 3), **symsize.size_namespace()}
        assert all(eval(g, ns) for g, _ in guards)   # they hold at the traced size ...
        ns = {"a": arg(200, 3), **symsize.size_namespace()}
        assert not all(eval(g, ns) for g, _ in guards)   # ... and fail at another
        guards.clear()
        assert (n > 64) is False and min(n, 64) is n
        assert [t for _, t in guards] == ["size check (args[0].shape[0] > 64) is False"] * 2
    finally:
        symsize._RECORD.pop()


def test_a_pinned_value_serves_every_size_with_that_value():
    cf = _run(_floordiv, "recompile", sizes=(10, 20, 30, 40, 63))
    (entry,) = cf._cf.entries
    assert entry.sym_dims
    assert "size-derived value (args[0].shape[0] // 64) == 0" in str(cf.explain())
    _run(_floordiv, "recompile", sizes=(64,))
    cf(dg.randn(64, 3))
    assert any("guard failed: size-derived value" in e for e in cf._cf.events)


def test_plain_size_uses_stay_symbolic_and_unguarded():
    def f(x):
        b, t = x.shape[0], x.shape[1]
        return x.reshape(b * t, -1).sum(0) * 2 + x.new_ones(b, t).sum(1).view(b, 1)

    cf = _run(f, "recompile", sizes=(4, 6, 9, 13), width=5)
    (entry,) = cf._cf.entries
    assert entry.sym_dims
    assert not any("size-derived" in g.text or "size check" in g.text
                   for g in entry.guards.guards)
