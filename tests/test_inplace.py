"""In-place ops (`x.add_()`, augmented assignment, fill_/zero_/copy_) and `out=`, against PyTorch.

Checks values, that in-place ops return self, version counters, autograd through in-place ops on
non-leaf tensors, and the errors: in-place on a leaf that requires grad, backward through a tensor
modified in place, results that cannot be cast to the target dtype, writes to expanded views, and
`out=` with autograd. `out=` resizes like PyTorch (silently when empty, with a warning otherwise).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dyngraph as dg
from tests.conftest import TOL, assert_close, requires_torch, torch

pytestmark = requires_torch


def _both(data, dtype="float32", requires_grad=False):
    """The same tensor in dyngraph and PyTorch."""
    a = np.asarray(data)
    return (dg.tensor(a, dtype=getattr(dg, dtype), requires_grad=requires_grad),
            torch.tensor(a).to(getattr(torch, dtype)).requires_grad_(requires_grad))


def _same(d, t):
    assert str(d.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], (d.dtype, t.dtype)
    assert tuple(d.shape) == tuple(t.shape)
    name = str(t.dtype).split(".")[-1]
    assert_close(d, t.detach(), dtype=name if name in TOL else "float64")


def _err(fn, *args, out=None):
    """The exception `fn(*args)` (with `out=` when given) raises (None if it does not)."""
    try:
        fn(*args) if out is None else fn(*args, out=out)
    except Exception as e:  # noqa: BLE001 - the caller compares the exception types
        return e
    return None


# ----------------------------------------------------------------------------------------------
# Values, identity and version counters
# ----------------------------------------------------------------------------------------------

_FLOAT_OPS = {
    "add_": lambda x, o: x.add_(o),
    "add_-alpha": lambda x, o: x.add_(o, alpha=-2),
    "sub_": lambda x, o: x.sub_(o),
    "mul_": lambda x, o: x.mul_(o),
    "div_": lambda x, o: x.div_(o),
    "div_-floor": lambda x, o: x.div_(o, rounding_mode="floor"),
    "pow_": lambda x, o: x.abs_().pow_(o),
    "remainder_": lambda x, o: x.remainder_(o),
    "fmod_": lambda x, o: x.fmod_(o),
    "maximum_via_clamp_": lambda x, o: x.clamp_(min=o),
    "clamp_": lambda x, o: x.clamp_(-0.5, 0.5),
    "clamp_-tensors": lambda x, o: x.clamp_(o - 1, o + 1),
    "copy_": lambda x, o: x.copy_(o),
    "lerp_": lambda x, o: x.lerp_(o, 0.3),
    "addcmul_": lambda x, o: x.addcmul_(o, o, value=0.5),
    "exp_": lambda x, o: x.exp_(),
    "sigmoid_": lambda x, o: x.sigmoid_(),
    "neg_": lambda x, o: x.neg_(),
    "floor_": lambda x, o: x.floor_(),
    "nan_to_num_": lambda x, o: x.div_(0).nan_to_num_(),
    "iadd": lambda x, o: x.__iadd__(o),
    "isub": lambda x, o: x.__isub__(o),
    "imul": lambda x, o: x.__imul__(o),
    "itruediv": lambda x, o: x.__itruediv__(o),
    "imod": lambda x, o: x.__imod__(o),
    "ifloordiv": lambda x, o: x.__ifloordiv__(o),
}


@pytest.mark.parametrize("other_kind", ["tensor", "broadcast", "scalar"])
@pytest.mark.parametrize("name", sorted(_FLOAT_OPS))
def test_inplace_float_ops_match_torch(name, other_kind):
    fn = _FLOAT_OPS[name]
    x, tx = _both(np.random.default_rng(1).uniform(-2, 2, (2, 3)))
    if other_kind == "scalar":
        if name in ("copy_", "lerp_", "addcmul_", "clamp_-tensors", "maximum_via_clamp_"):
            pytest.skip("this op takes a tensor")
        o, to = 1.5, 1.5
    else:
        shape = (2, 3) if other_kind == "tensor" else (3,)
        o, to = _both(np.random.default_rng(2).uniform(0.5, 2, shape))
    data_before = x._data
    r, tr = fn(x, o), fn(tx, to)
    assert r is x and tr is tx
    assert x._data is data_before  # written into the same memory
    _same(x, tx)
    assert x._version == tx._version


_INT_OPS = {
    "iadd": lambda x, o: x.__iadd__(o),
    "imul": lambda x, o: x.__imul__(o),
    "imod": lambda x, o: x.__imod__(o),
    "ifloordiv": lambda x, o: x.__ifloordiv__(o),
    "iand": lambda x, o: x.__iand__(o),
    "ior": lambda x, o: x.__ior__(o),
    "ixor": lambda x, o: x.__ixor__(o),
    "ilshift": lambda x, o: x.__ilshift__(o),
    "irshift": lambda x, o: x.__irshift__(o),
    "clamp_": lambda x, o: x.clamp_(0, 5),
    "fill_-float-truncates": lambda x, o: x.fill_(7.9),
    "zero_": lambda x, o: x.zero_(),
    "copy_-float-source": lambda x, o: x.copy_(o.float() * 1.7 if isinstance(o, dg.Tensor)
                                              else o.float() * 1.7),
}


@pytest.mark.parametrize("dtype", ["int64", "int16", "uint8"])
@pytest.mark.parametrize("name", sorted(_INT_OPS))
def test_inplace_integer_ops_match_torch(name, dtype):
    fn = _INT_OPS[name]
    x, tx = _both([9, 4, 7, 12], dtype)
    o, to = _both([2, 3, 1, 5], dtype)
    assert fn(x, o) is x and fn(tx, to) is tx
    _same(x, tx)
    assert x._version == tx._version


def test_augmented_assignment_keeps_identity_and_bumps_version():
    x, tx = _both([1.0, 2.0])
    alias = x
    x += 1
    x *= 3
    x -= dg.tensor([1.0, 1.0])
    x /= 2
    tx += 1
    tx *= 3
    tx -= torch.tensor([1.0, 1.0])
    tx /= 2
    assert x is alias
    _same(x, tx)
    assert x._version == tx._version == 4


def test_chained_inplace_calls():
    x, tx = _both([3.0, -1.0, 2.0])
    x.zero_().add_(2).mul_(dg.tensor([1.0, 2.0, 3.0])).clamp_(max=5)
    tx.zero_().add_(2).mul_(torch.tensor([1.0, 2.0, 3.0])).clamp_(max=5)
    _same(x, tx)
    assert x._version == tx._version


def test_fill_and_zero_match_torch():
    for dtype, value in (("float32", 2.5), ("int32", 3.9), ("bool", 2), ("float64", -1),
                         ("uint8", 7)):
        x, tx = _both(np.zeros((2, 2)), dtype)
        x.fill_(value)
        tx.fill_(value)
        _same(x, tx)
        assert x._version == tx._version == 1
        x.zero_()
        tx.zero_()
        _same(x, tx)
    x, tx = _both([1.0, 2.0, 3.0])
    x.fill_(dg.tensor(4, dtype=dg.int64))
    tx.fill_(torch.tensor(4))
    _same(x, tx)
    with pytest.raises(RuntimeError, match="0-dimension"):
        x.fill_(dg.tensor([1.0, 2.0]))
    with pytest.raises(RuntimeError):
        tx.fill_(torch.tensor([1.0, 2.0]))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "bool"])
def test_fill_out_of_range_values_like_torch(dtype):
    for value in (-7.9, -7, -200, 255, 300, 1e10, float("nan"), 2**40, True):
        x, tx = _both([0, 0], dtype)
        te, e = _err(tx.fill_, value), _err(x.fill_, value)
        assert type(e) is type(te), (value, e, te)
        if te is None:
            _same(x, tx)
        else:
            assert "overflow" in str(e)


def test_views_share_data_and_version_counter():
    x, tx = _both(np.arange(6.0).reshape(2, 3))
    row, trow = x[0], tx[0]
    row.mul_(10)
    trow.mul_(10)
    _same(x, tx)
    assert x._version == row._version == tx._version
    x.t().add_(1)
    tx.t().add_(1)
    _same(x, tx)
    assert row._version == x._version == tx._version


def test_inplace_on_expanded_view_is_refused():
    x, tx = _both([1.0, 2.0])
    with pytest.raises(RuntimeError, match="clone"):
        x.expand(3, 2).add_(1)
    with pytest.raises(RuntimeError, match="clone"):
        tx.expand(3, 2).add_(1)
    with pytest.raises(RuntimeError, match="clone"):
        x.expand(3, 2).fill_(1)


def test_inplace_broadcast_target_shape_errors():
    x, tx = _both([1.0, 2.0])
    e, te = _err(lambda: x.add_(dg.ones(2, 2))), _err(lambda: tx.add_(torch.ones(2, 2)))
    assert type(e) is type(te) is RuntimeError
    assert "[2]" in str(e) and "[2, 2]" in str(e)


# ----------------------------------------------------------------------------------------------
# dtype errors
# ----------------------------------------------------------------------------------------------

_CAST_ERRORS = [
    ("int64", lambda x: x.add_(1.5)),
    ("int64", lambda x: x.__iadd__(1.5)),
    ("int64", lambda x: x.div_(2)),
    ("int64", lambda x: x.__itruediv__(2)),
    ("int32", lambda x: x.mul_(dg.tensor([1.5]) if isinstance(x, dg.Tensor)
                               else torch.tensor([1.5]))),
    ("int64", lambda x: x.sqrt_()),
    ("int64", lambda x: x.clamp_(0.5, 1.5)),
    ("bool", lambda x: x.add_(1)),
    ("uint8", lambda x: x.sigmoid_()),
]


@pytest.mark.parametrize("dtype,fn", _CAST_ERRORS)
def test_inplace_result_that_cannot_be_cast_raises_like_torch(dtype, fn):
    x, tx = _both([1, 2], dtype)
    te = _err(lambda: fn(tx))
    e = _err(lambda: fn(x))
    assert isinstance(te, RuntimeError) and "can't be cast to the desired output type" in str(te)
    assert isinstance(e, RuntimeError), e
    assert "can't be cast to the desired output type" in str(e)
    assert dtype.capitalize()[:3] in str(e) or "Bool" in str(e)
    assert x._version == 0  # nothing was written


def test_bool_subtraction_and_negation_errors_match_torch():
    b, tb = _both([True, False], "bool")
    for fn in (lambda x: x - x, lambda x: -x, lambda x: x - 1, lambda x: 1 - x,
               lambda x: x.sub_(True)):
        te, e = _err(fn, tb), _err(fn, b)
        assert type(e) is type(te) is RuntimeError, (e, te)
        for hint in ("`~`", "`^`"):
            assert (hint in str(e)) == (hint in str(te)), (e, te)


# ----------------------------------------------------------------------------------------------
# Autograd and in-place
# ----------------------------------------------------------------------------------------------

def test_inplace_on_leaf_requiring_grad_is_refused():
    x, tx = _both([1.0, 2.0], requires_grad=True)
    for fn in (lambda t: t.add_(1), lambda t: t.zero_(), lambda t: t.fill_(3.0),
               lambda t: t.mul_(2), lambda t: t.clamp_(0, 1), lambda t: t.__iadd__(1)):
        te, e = _err(fn, tx), _err(fn, x)
        assert type(e) is type(te) is RuntimeError
        assert "a leaf Variable that requires grad is being used in an in-place operation" \
            in str(te)
        assert "a leaf Variable that requires grad is being used in an in-place operation" \
            in str(e)
    assert x._version == 0
    with dg.no_grad():
        x.add_(1)  # allowed (e.g. an optimizer step)
    with torch.no_grad():
        tx.add_(1)
    _same(x, tx)
    assert x.requires_grad and x.grad_fn is None


@pytest.mark.parametrize("case", ["exp-output", "mul-input", "self-mul", "sigmoid-output"])
def test_backward_through_tensor_modified_inplace_is_refused(case):
    def run(m, x):
        if case == "exp-output":
            y = x.exp()
            y.add_(1)
            return y.sum()
        if case == "mul-input":
            y = x * 1
            z = y * y
            y.add_(1)
            return z.sum()
        if case == "self-mul":
            y = x * 2
            y.mul_(y)
            return y.sum()
        y = x.sigmoid()
        y.mul_(2)
        return y.sum()

    x, tx = _both([1.0, 2.0], requires_grad=True)
    te = _err(lambda: run(torch, tx).backward())
    e = _err(lambda: run(dg, x).backward())
    assert isinstance(te, RuntimeError) and isinstance(e, RuntimeError), (e, te)
    for words in ("modified by an inplace operation", "version"):
        assert words in str(te) and words in str(e), str(e)


def test_inplace_on_unsaved_tensor_keeps_gradients_correct():
    x, tx = _both([1.0, -2.0, 3.0], requires_grad=True)

    def run(t, ones):
        y = t * 2          # mul saves t, not y
        z = y + 1          # add saves nothing
        y.mul_(3)          # so changing y is fine
        y.clamp_(min=0.0)
        w = y.sigmoid_()   # in-place unary on a non-leaf
        return (z * ones).sum() + w.sum()

    run(x, dg.ones(3)).backward()
    run(tx, torch.ones(3)).backward()
    assert_close(x.grad, tx.grad, dtype="float32")


def test_inplace_ops_record_history_on_non_leaf():
    x, tx = _both([0.5, -1.0, 2.0], dtype="float64", requires_grad=True)
    w, tw = _both([2.0, 3.0, -1.0], dtype="float64", requires_grad=True)

    def run(a, b):
        y = a * 1
        y.mul_(b).add_(b, alpha=0.5).div_(2).pow_(2).sub_(a)
        return y

    y, ty = run(x, w), run(tx, tw)
    assert y.grad_fn is not None and y.requires_grad
    g = np.random.default_rng(0).standard_normal(3)
    y.backward(dg.tensor(g))
    ty.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad)
    assert_close(w.grad, tw.grad)
    assert dg.autograd.gradcheck(lambda a, b: run(a, b), (x.detach().requires_grad_(),
                                                         w.detach().requires_grad_()))


def test_fill_zero_copy_under_autograd():
    x, tx = _both([1.0, 2.0, 3.0], dtype="float64", requires_grad=True)
    v, tv = _both(1.5, dtype="float64", requires_grad=True)
    src, tsrc = _both([4.0, 5.0, 6.0], dtype="float64", requires_grad=True)

    def run(a, value, s):
        y = a * 2
        y.fill_(value)          # gradient flows to value (summed), none to a
        z = a * 3
        z.zero_()
        u = a * 1
        u.copy_(s)              # gradient flows to s, none to a
        return (y * a).sum() + (z + a).sum() + (u * u).sum()

    run(x, v, src).backward()
    run(tx, tv, tsrc).backward()
    for d, t in ((x, tx), (v, tv), (src, tsrc)):
        assert_close(d.grad, t.grad)


def test_copy_broadcasts_and_casts_like_torch():
    x, tx = _both(np.zeros((2, 3)), "float64")
    x.copy_(dg.tensor([1, 2, 3], dtype=dg.int32))
    tx.copy_(torch.tensor([1, 2, 3], dtype=torch.int32))
    _same(x, tx)
    i, ti = _both(np.zeros(3), "int64")
    i.copy_(dg.tensor([1.7, -2.7, 3.2]))
    ti.copy_(torch.tensor([1.7, -2.7, 3.2]))
    _same(i, ti)
    assert i._version == ti._version == 1
    with pytest.raises(RuntimeError):
        torch.zeros(2, 3).copy_(torch.ones(2))
    with pytest.raises(RuntimeError):
        dg.zeros(2, 3).copy_(dg.ones(2))


# ----------------------------------------------------------------------------------------------
# out=
# ----------------------------------------------------------------------------------------------

_OUT_CALLS = {
    "add": (lambda m, a, b, out: m.add(a, b, alpha=2, out=out)),
    "sub": (lambda m, a, b, out: m.sub(a, b, out=out)),
    "mul": (lambda m, a, b, out: m.mul(a, b, out=out)),
    "div": (lambda m, a, b, out: m.div(a, b, out=out)),
    "pow": (lambda m, a, b, out: m.pow(a.abs(), b, out=out)),
    "maximum": (lambda m, a, b, out: m.maximum(a, b, out=out)),
    "minimum": (lambda m, a, b, out: m.minimum(a, b, out=out)),
    "remainder": (lambda m, a, b, out: m.remainder(a, b, out=out)),
    "atan2": (lambda m, a, b, out: m.atan2(a, b, out=out)),
    "exp": (lambda m, a, b, out: m.exp(a, out=out)),
    "sqrt": (lambda m, a, b, out: m.sqrt(a.abs(), out=out)),
    "sigmoid": (lambda m, a, b, out: m.sigmoid(a, out=out)),
    "tanh": (lambda m, a, b, out: m.tanh(a, out=out)),
    "abs": (lambda m, a, b, out: m.abs(a, out=out)),
    "clamp": (lambda m, a, b, out: m.clamp(a, -0.5, 0.5, out=out)),
    "where": (lambda m, a, b, out: m.where(a > 0, a, b, out=out)),
    "nan_to_num": (lambda m, a, b, out: m.nan_to_num(a / 0, out=out)),
    "lerp": (lambda m, a, b, out: m.lerp(a, b, 0.25, out=out)),
}


@pytest.mark.parametrize("out_shape", ["exact", "empty", "wrong"])
@pytest.mark.parametrize("name", sorted(_OUT_CALLS))
def test_out_matches_torch_and_resizes(name, out_shape):
    fn = _OUT_CALLS[name]
    a, ta = _both(np.random.default_rng(3).uniform(-2, 2, (2, 3)))
    b, tb = _both(np.random.default_rng(4).uniform(0.5, 2, (3,)))
    shape = {"exact": (2, 3), "empty": (0,), "wrong": (4,)}[out_shape]
    out, tout = dg.empty(*shape), torch.empty(*shape)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = fn(dg, a, b, out)
    with warnings.catch_warnings(record=True) as tcaught:
        warnings.simplefilter("always")
        tr = fn(torch, ta, tb, tout)
    assert r is out and tr is tout
    _same(out, tout)
    # a resize warning exactly when PyTorch warns (non-empty output of the wrong shape)
    resized = [w for w in caught if "resized" in str(w.message)]
    tresized = [w for w in tcaught if "resized" in str(w.message)]
    assert len(resized) == len(tresized) == (1 if out_shape == "wrong" else 0)


def test_out_dtype_rules_match_torch():
    a, ta = _both([1, 2, 3], "int64")
    f, tf = _both([0.5, 1.5, 2.5])
    cases = [
        (lambda m, o: m.add(a if m is dg else ta, 1, out=o), "float64"),   # int -> wider float ok
        (lambda m, o: m.add(a if m is dg else ta, 1, out=o), "int32"),     # int -> int ok
        (lambda m, o: m.add(f if m is dg else tf, 1, out=o), "int64"),     # float -> int: error
        (lambda m, o: m.sqrt(a if m is dg else ta, out=o), "int64"),       # float result -> int
        (lambda m, o: m.eq(f if m is dg else tf, 1.5, out=o), "int64"),    # bool -> int ok
        (lambda m, o: m.eq(f if m is dg else tf, 1.5, out=o), "float32"),  # bool -> float ok
        (lambda m, o: m.exp(f if m is dg else tf, out=o), "float64"),
    ]
    for fn, out_dtype in cases:
        out, tout = dg.empty(3, dtype=getattr(dg, out_dtype)), \
            torch.empty(3, dtype=getattr(torch, out_dtype))
        te, e = _err(fn, torch, tout), _err(fn, dg, out)
        assert type(e) is type(te), (out_dtype, e, te)
        if te is None:  # (results computed in float32, so compare at float32 tolerance)
            assert out.dtype is getattr(dg, out_dtype)
            assert_close(out, tout, dtype="float32")
        else:
            assert "can't be cast to the desired output type" in str(e)


def test_out_refuses_autograd_like_torch():
    x, tx = _both([1.0, 2.0], requires_grad=True)
    for make_out in (lambda m: m.empty(2), lambda m: m.empty(2, requires_grad=True)):
        te, e = _err(torch.mul, tx, 2, out=make_out(torch)), _err(dg.mul, x, 2, out=make_out(dg))
        assert type(e) is type(te) is RuntimeError
        assert "out=" in str(e) and "automatic differentiation" in str(e)
    o, to = dg.empty(2, requires_grad=True), torch.empty(2, requires_grad=True)
    te = _err(lambda: torch.exp(torch.ones(2), out=to))
    e = _err(lambda: dg.exp(dg.ones(2), out=o))
    assert type(e) is type(te) is RuntimeError
    with dg.no_grad():
        dg.mul(x, 2, out=o)
    with torch.no_grad():
        torch.mul(tx, 2, out=to)
    _same(o, to)


def test_out_bumps_version_and_writes_into_a_view():
    base, tbase = _both(np.zeros((2, 3)))
    dg.add(dg.ones(3), 1, out=base[1])
    torch.add(torch.ones(3), 1, out=tbase[1])
    _same(base, tbase)
    assert base._version == tbase._version == 1
