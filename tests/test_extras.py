"""Tests for dyngraph/ops/extras.py, scans.py and distances.py: every function against PyTorch
(values, dtypes, gradients) and numpy float64, with edge cases (negative dims, empty and 0-D
tensors, ints), the error messages, gradcheck in float64 and compiled (llvm) against eager."""

from __future__ import annotations

import inspect
import itertools
import math
import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck
from tests.conftest import TOL, assert_close, requires_torch, to_np, torch

pytestmark = requires_torch

RNG = np.random.default_rng(7)
FLOAT_DTYPES = ["float32", "float64"]


def _arr(*shape, dtype="float64", low=-2.0, high=2.0):
    if dtype.startswith("int"):
        return RNG.integers(-5, 6, size=shape).astype(dtype)
    if dtype == "bool":
        return RNG.uniform(size=shape) > 0.5
    return RNG.uniform(low, high, size=shape).astype(dtype)


def _both(*arrays, grad=False):
    """The arrays as dyngraph and as torch tensors (float ones optionally requiring grad)."""
    ds, ts = [], []
    for a in arrays:
        a = np.asarray(a)
        rg = grad and a.dtype.kind == "f"
        ds.append(dg.tensor(a, requires_grad=rg))
        ts.append(torch.tensor(a, requires_grad=rg))
    return ds, ts


def _check_same(got, want, rtol=None, atol=None):
    """Equal structure, shapes, dtypes and values (at the dtype's tolerance)."""
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)) and len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            _check_same(g, w, rtol, atol)
        return
    assert tuple(got.shape) == tuple(want.shape), (tuple(got.shape), tuple(want.shape))
    assert got.dtype.name == str(want.dtype).replace("torch.", ""), (got.dtype, want.dtype)
    name = got.dtype.name
    if name in TOL:
        assert_close(got, want.detach().numpy(), name, rtol=rtol, atol=atol)
    else:
        np.testing.assert_array_equal(to_np(got), want.numpy())


def _compare(dg_fn, torch_fn, *arrays, grad=False, rtol=None, atol=None):
    """Run both on the same inputs; with grad, also compare the gradients of a random
    projection of the (first) output."""
    ds, ts = _both(*arrays, grad=grad)
    got, want = dg_fn(*ds), torch_fn(*ts)
    _check_same(got, want, rtol, atol)
    if grad:
        g0, w0 = (got[0], want[0]) if isinstance(want, (tuple, list)) else (got, want)
        seed = RNG.standard_normal(tuple(w0.shape))
        (w0 * torch.tensor(seed, dtype=w0.dtype)).sum().backward()
        (g0 * dg.tensor(seed, dtype=g0.dtype)).sum().backward()
        for d, t in zip(ds, ts):
            if t.requires_grad:
                want_g = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
                got_g = to_np(d.grad) if d.grad is not None else np.zeros(d.shape)
                np.testing.assert_allclose(got_g, want_g, rtol=1e-9, atol=1e-10)
    return got


def _gradcheck(fn, *arrays):
    ins = [dg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    assert gradcheck(fn, ins, eps=1e-6, atol=1e-6, rtol=1e-4)


# ----------------------------------------------------------------------------------------------
# API: names, signatures, methods
# ----------------------------------------------------------------------------------------------

# Parameter names of the C builtins, from PyTorch 2.13's documentation (layout left out).
_TORCH_DOC_PARAMS = {
    "tensor_split": "input indices_or_sections dim", "hsplit": "input indices_or_sections",
    "vsplit": "input indices_or_sections", "dsplit": "input indices_or_sections",
    "column_stack": "tensors out", "diff": "input n dim prepend append",
    "rot90": "input k dims", "cross": "input other dim out", "kron": "input other out",
    "diagflat": "input offset", "tril_indices": "row col offset dtype device",
    "triu_indices": "row col offset dtype device", "combinations": "input r with_replacement",
    "dist": "input other p", "cosine_similarity": "x1 x2 dim eps",
    "pairwise_distance": "x1 x2 p eps keepdim", "trapezoid": "y x dx dim",
    "trapz": "y x dx dim", "cumulative_trapezoid": "y x dx dim",
    "logcumsumexp": "input dim out", "cummax": "input dim out", "cummin": "input dim out",
    "renorm": "input p dim maxnorm out",
}
_PY_SIGNATURES = ["meshgrid", "atleast_1d", "atleast_2d", "atleast_3d", "block_diag",
                  "cartesian_prod", "cdist"]


@pytest.mark.parametrize("name", sorted(_TORCH_DOC_PARAMS) + _PY_SIGNATURES)
def test_signature_has_torch_parameters(name):
    ours = inspect.signature(getattr(dg, name)).parameters
    if name in _PY_SIGNATURES:
        theirs = inspect.signature(getattr(torch, name)).parameters
        assert list(ours) == list(theirs)
        for p, q in zip(ours.values(), theirs.values()):
            assert p.kind == q.kind and (p.default == q.default or name == "meshgrid"), (p, q)
    else:
        missing = set(_TORCH_DOC_PARAMS[name].split()) - set(ours)
        assert not missing, f"{name} lacks torch's parameters {missing}"


@pytest.mark.parametrize("name", [
    "diff", "rot90", "cross", "kron", "diagflat", "tensor_split", "hsplit", "vsplit", "dsplit",
    "dist", "logcumsumexp", "cummax", "cummin", "renorm", "renorm_"])
def test_tensor_methods_where_torch_has_them(name):
    assert hasattr(torch.Tensor, name)
    assert callable(getattr(dg.Tensor, name))


def test_functions_without_torch_methods_are_not_methods():
    for name in ("meshgrid", "cdist", "trapezoid", "block_diag", "combinations"):
        assert not hasattr(torch.Tensor, name) and not hasattr(dg.Tensor, name)


# ----------------------------------------------------------------------------------------------
# meshgrid, atleast_nd, cartesian_prod, combinations
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("indexing", ["ij", "xy"])
@pytest.mark.parametrize("shapes", [[(3,), (4,)], [(2,), (), (3,)], [(0,), (2,)], [(5,)]])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_meshgrid_matches_torch_and_numpy(indexing, shapes, dtype):
    arrays = [_arr(*s, dtype=dtype) for s in shapes]
    got = _compare(lambda *t: dg.meshgrid(*t, indexing=indexing),
                   lambda *t: torch.meshgrid(*t, indexing=indexing), *arrays)
    want = np.meshgrid(*[a.reshape(-1) for a in arrays], indexing=indexing)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(to_np(g), w)


def test_meshgrid_list_argument_default_indexing_and_grad():
    a, b = _arr(3), _arr(2)
    with pytest.warns(UserWarning, match="indexing"):
        got = dg.meshgrid([dg.tensor(a), dg.tensor(b)])
    want = torch.meshgrid(torch.tensor(a), torch.tensor(b), indexing="ij")
    _check_same(got, want)
    _gradcheck(lambda x, y: (dg.meshgrid(x, y, indexing="xy")[0] *
                             dg.meshgrid(x, y, indexing="xy")[1] ** 2), a, b)


@pytest.mark.parametrize("args, match", [
    ((), "non-empty"),
    ((dg.zeros(2), dg.zeros(2, dtype=dg.int64)), "same dtype.*float32.*int64"),
    ((dg.zeros(2, 2),), "0-D or 1-D.*\\[2, 2\\]"),
])
def test_meshgrid_errors(args, match):
    with pytest.raises(RuntimeError, match=match):
        dg.meshgrid(*args, indexing="ij")
    with pytest.raises(RuntimeError, match="indexing must be one of"):
        dg.meshgrid(dg.zeros(2), indexing="yx")


@pytest.mark.parametrize("fn", ["atleast_1d", "atleast_2d", "atleast_3d"])
def test_atleast_nd(fn):
    shapes = [(), (3,), (2, 3), (2, 3, 4), (0,)]
    arrays = [_arr(*s) for s in shapes]
    ds, ts = _both(*arrays)
    for d, t in zip(ds, ts):
        _check_same(getattr(dg, fn)(d), getattr(torch, fn)(t))
    _check_same(getattr(dg, fn)(*ds), getattr(torch, fn)(*ts))
    _check_same(getattr(dg, fn)(ds), getattr(torch, fn)(ts))
    assert getattr(dg, fn)() == ()
    np_fn = getattr(np, fn)
    for d, a in zip(ds, arrays):
        assert tuple(getattr(dg, fn)(d).shape) == np_fn(a).shape
    with pytest.raises(TypeError, match=fn):
        getattr(dg, fn)(1)


@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_cartesian_prod(dtype):
    a, b, c = _arr(3, dtype=dtype), _arr(2, dtype=dtype), _arr(2, dtype=dtype)
    got = _compare(dg.cartesian_prod, torch.cartesian_prod, a, b, c)
    np.testing.assert_array_equal(to_np(got), np.array(list(itertools.product(a, b, c))))
    _compare(dg.cartesian_prod, torch.cartesian_prod, a)
    _compare(dg.cartesian_prod, torch.cartesian_prod, a, _arr(0, dtype=dtype))
    with pytest.raises(RuntimeError, match="cartesian_prod: expected 1-D.*tensor 1"):
        dg.cartesian_prod(dg.zeros(2), dg.tensor(1.0))
    _gradcheck(lambda x, y: dg.cartesian_prod(x, y), _arr(3), _arr(2))


@pytest.mark.parametrize("r", [0, 1, 2, 3, 5])
@pytest.mark.parametrize("with_replacement", [False, True])
@pytest.mark.parametrize("n", [0, 1, 4])
def test_combinations(r, with_replacement, n):
    a = _arr(n)
    got = _compare(lambda x: dg.combinations(x, r, with_replacement),
                   lambda x: torch.combinations(x, r, with_replacement), a)
    if r:
        gen = itertools.combinations_with_replacement if with_replacement else \
            itertools.combinations
        want = np.array([[a[i] for i in c] for c in gen(range(n), r)]).reshape(-1, r)
        np.testing.assert_array_equal(to_np(got), want)


def test_combinations_int_grad_and_errors():
    _compare(lambda x: dg.combinations(x, with_replacement=True),
             lambda x: torch.combinations(x, with_replacement=True), _arr(4, dtype="int32"))
    _compare(lambda x: dg.combinations(x, 3), lambda x: torch.combinations(x, 3), _arr(5),
             grad=True)
    _gradcheck(lambda x: dg.combinations(x, 2, True), _arr(4))
    with pytest.raises(RuntimeError, match="combinations: expected a 1-D vector.*\\[2, 2\\]"):
        dg.combinations(dg.zeros(2, 2))
    with pytest.raises(RuntimeError, match="non-negative int r.*-1"):
        dg.combinations(dg.zeros(2), -1)


# ----------------------------------------------------------------------------------------------
# tensor_split, hsplit, vsplit, dsplit, column_stack
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ios", [1, 2, 3, 7, [2], [-1], [1, 3], [3, 1], [0, 0, 9], [-9, 2], []])
@pytest.mark.parametrize("dim", [0, -1])
def test_tensor_split(ios, dim):
    a = _arr(5, 5)
    got = _compare(lambda x: dg.tensor_split(x, ios, dim),
                   lambda x: torch.tensor_split(x, ios, dim), a)
    for g, w in zip(got, np.array_split(a, ios, axis=dim)):
        np.testing.assert_array_equal(to_np(g), w)
    _compare(lambda x: x.tensor_split(ios, dim=dim), lambda x: x.tensor_split(ios, dim=dim),
             _arr(3, 5, dtype="int64"))


def test_tensor_split_tensor_arguments_views_grad_and_empty():
    a = _arr(6, 2)
    _compare(lambda x: dg.tensor_split(x, dg.tensor(4)), lambda x: torch.tensor_split(
        x, torch.tensor(4)), a)
    _compare(lambda x: dg.tensor_split(x, dg.tensor([1, 4]), -2),
             lambda x: torch.tensor_split(x, torch.tensor([1, 4]), -2), a)
    _compare(lambda x: dg.tensor_split(x, 3), lambda x: torch.tensor_split(x, 3), _arr(0, 2))
    x = dg.tensor(a)
    parts = dg.tensor_split(x, [2, 5])
    parts[1][0, 0] = 100.0  # views: the write shows in the input
    assert x[2, 0].item() == 100.0
    _gradcheck(lambda t: dg.tensor_split(t, [1, 4], 1)[1] * dg.tensor_split(t, 2, 1)[0][:, :1],
               _arr(3, 5))
    _gradcheck(lambda t: dg.tensor_split(t, [4, 1], 1)[2] ** 2, _arr(3, 5))


@pytest.mark.parametrize("bad, match, err", [
    ((dg.tensor(1.0), 2), "at least a 1-dimensional", RuntimeError),
    ((dg.zeros(4), 0), "number of sections must be larger than 0, got 0", RuntimeError),
    ((dg.zeros(4), dg.tensor([1.0])), "0-D or 1-D int64 tensor.*float32", RuntimeError),
    ((dg.zeros(4), [1.5]), "int or a sequence of ints", TypeError),
])
def test_tensor_split_errors(bad, match, err):
    with pytest.raises(err, match=match):
        dg.tensor_split(*bad)


@pytest.mark.parametrize("fn, shape", [("hsplit", (6,)), ("hsplit", (2, 6, 2)),
                                       ("vsplit", (6, 2)), ("dsplit", (2, 2, 6))])
@pytest.mark.parametrize("ios", [2, 3, [1, 4], [7]])
def test_hsplit_vsplit_dsplit(fn, shape, ios):
    a = _arr(*shape)
    got = _compare(lambda x: getattr(dg, fn)(x, ios), lambda x: getattr(torch, fn)(x, ios), a)
    for g, w in zip(got, getattr(np, fn)(a, ios)):
        np.testing.assert_array_equal(to_np(g), w)
    _compare(lambda x: getattr(x, fn)(ios), lambda x: getattr(x, fn)(ios), a)


def test_split_methods_take_varargs_and_errors_name_the_op():
    _compare(lambda x: x.hsplit(1, 3), lambda x: x.hsplit(1, 3), _arr(2, 4))
    with pytest.raises(RuntimeError, match="hsplit attempted to split along dimension 1, but the "
                                           "size of the dimension 4 is not divisible by the "
                                           "split_size 3"):
        dg.hsplit(dg.zeros(2, 4), 3)
    with pytest.raises(RuntimeError, match="hsplit requires a tensor with at least 1 dim"):
        dg.hsplit(dg.tensor(1.0), 1)
    with pytest.raises(RuntimeError, match="vsplit requires a tensor with at least 2 dim"):
        dg.vsplit(dg.zeros(4), 2)
    with pytest.raises(RuntimeError, match="dsplit requires a tensor with at least 3 dim"):
        dg.dsplit(dg.zeros(2, 2), 2)
    with pytest.raises(RuntimeError, match="vsplit.*not divisible by the split_size 0"):
        dg.vsplit(dg.zeros(2, 2), 0)


@pytest.mark.parametrize("shapes", [[(3,), (3,)], [(), ()], [(2, 2), (2,), (2, 3)],
                                    [(0,), (0, 2)]])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_column_stack(shapes, dtype):
    arrays = [_arr(*s, dtype=dtype) for s in shapes]
    got = _compare(lambda *t: dg.column_stack(t), lambda *t: torch.column_stack(t), *arrays)
    np.testing.assert_array_equal(to_np(got), np.column_stack(arrays))


def test_column_stack_promotes_out_grad_and_errors():
    _compare(lambda a, b: dg.column_stack([a, b]), lambda a, b: torch.column_stack([a, b]),
             _arr(3, dtype="int64"), _arr(3, 2))
    out = dg.empty(0)
    dg.column_stack([dg.ones(2), dg.zeros(2)], out=out)
    np.testing.assert_array_equal(out.numpy(), [[1, 0], [1, 0]])
    _gradcheck(lambda a, b: dg.column_stack([a, b]), _arr(3), _arr(3, 2))
    with pytest.raises(RuntimeError, match="column_stack expects a non-empty"):
        dg.column_stack([])
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        dg.column_stack([dg.zeros(2, 2, 2), dg.zeros(2)])


# ----------------------------------------------------------------------------------------------
# diff, rot90, cross, kron, diagflat, block_diag, tril/triu_indices
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 4, 6])
@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_diff(n, dim, dtype):
    a = _arr(4, 5, dtype=dtype)
    got = _compare(lambda x: dg.diff(x, n, dim), lambda x: torch.diff(x, n, dim), a)
    want = np.diff(a, n, axis=dim)
    np.testing.assert_allclose(to_np(got), want, rtol=1e-6)
    _compare(lambda x: x.diff(n=n, dim=dim), lambda x: x.diff(n=n, dim=dim), a)


def test_diff_prepend_append_promotion_empty_and_grad():
    a, pre, app = _arr(3, 4, dtype="int64"), _arr(3, 1), _arr(3, 2)
    got = _compare(lambda x, p, q: dg.diff(x, 2, -1, p, q),
                   lambda x, p, q: torch.diff(x, 2, -1, p, q), a, pre, app)
    np.testing.assert_allclose(to_np(got), np.diff(a, 2, -1, prepend=pre, append=app))
    _compare(lambda x, q: dg.diff(x, append=q), lambda x, q: torch.diff(x, append=q),
             _arr(0), _arr(3))
    _compare(lambda x: dg.diff(x, dim=0), lambda x: torch.diff(x, dim=0), _arr(0, 3))
    _compare(lambda x, p: dg.diff(x, 3, 0, prepend=p), lambda x, p: torch.diff(x, 3, 0, prepend=p),
             _arr(4, 2), _arr(2, 2), grad=True)
    _gradcheck(lambda x, p: dg.diff(x, 2, 0, prepend=p), _arr(4, 3), _arr(1, 3))


@pytest.mark.parametrize("args, match", [
    ((dg.tensor(1.0),), "at least one-dimensional"),
    ((dg.zeros(3), -1), "order must be non-negative but got -1"),
    ((dg.zeros(2, 3), 1, -1, dg.zeros(1, 2)), "prepend to match.*\\[2, 3\\].*\\[1, 2\\]"),
    ((dg.zeros(3), 1, -1, None, dg.tensor(0.0)), "append to match"),
])
def test_diff_errors(args, match):
    with pytest.raises(RuntimeError, match=match):
        dg.diff(*args)


@pytest.mark.parametrize("k", [-5, -1, 0, 1, 2, 3, 4, 6])
@pytest.mark.parametrize("dims", [(0, 1), (1, 0), (-1, 0), (2, -3)])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_rot90(k, dims, dtype):
    a = _arr(2, 3, 4, dtype=dtype)
    got = _compare(lambda x: dg.rot90(x, k, dims), lambda x: torch.rot90(x, k, dims), a)
    np.testing.assert_array_equal(to_np(got), np.rot90(a, k, dims))
    _compare(lambda x: x.rot90(k, list(dims)), lambda x: x.rot90(k, list(dims)), a)


def test_rot90_copies_grads_and_errors():
    x = dg.tensor(_arr(2, 2))
    r = dg.rot90(x, 0)
    r[0, 0] = 50.0
    assert x[0, 0].item() != 50.0
    _compare(lambda t: dg.rot90(t, 1, (0, 2)), lambda t: torch.rot90(t, 1, (0, 2)), _arr(2, 0, 3))
    for k in range(4):
        _gradcheck(lambda t, k=k: dg.rot90(t, k, (1, 0)), _arr(2, 3))
    with pytest.raises(RuntimeError, match="rot90: expected total rotation dims == 2, but got "
                                           "dims = 3"):
        dg.rot90(dg.zeros(2, 2), 1, (0, 1, 2))
    with pytest.raises(RuntimeError, match="rot90: expected total dims >= 2, but got total dims "
                                           "= 1"):
        dg.rot90(dg.zeros(3))
    with pytest.raises(RuntimeError, match="rotation dims to be different.*dim0 = 1 and dim1 = 1"):
        dg.rot90(dg.zeros(2, 2), 1, (1, -1))


@pytest.mark.parametrize("shapes, dim", [
    ([(3,), (3,)], 0), ([(4, 3), (4, 3)], -1), ([(3, 4), (3, 1)], 0), ([(2, 1, 3), (1, 4, 3)], 2),
    ([(0, 3), (0, 3)], 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_cross(shapes, dim, dtype):
    a, b = (_arr(*s, dtype=dtype) for s in shapes)
    got = _compare(lambda x, y: dg.cross(x, y, dim), lambda x, y: torch.cross(x, y, dim), a, b)
    np.testing.assert_allclose(to_np(got), np.cross(a, b, axis=dim), rtol=1e-6, atol=1e-6)
    _compare(lambda x, y: x.cross(y, dim=dim), lambda x, y: x.cross(y, dim=dim), a, b)


def test_cross_default_dim_grad_and_errors():
    a, b = _arr(2, 3, 3), _arr(2, 3, 3)
    with pytest.warns(UserWarning, match="dim"):
        got = dg.cross(dg.tensor(a), dg.tensor(b))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _check_same(got, torch.cross(torch.tensor(a), torch.tensor(b)))
    _compare(lambda x, y: dg.cross(x, y, 1), lambda x, y: torch.cross(x, y, 1), a, b, grad=True)
    _gradcheck(lambda x, y: dg.cross(x, y, -1), _arr(4, 3), _arr(1, 3))
    with pytest.raises(RuntimeError, match="same number of dimensions.*\\[2, 3\\] and \\[3\\]"):
        dg.cross(dg.zeros(2, 3), dg.zeros(3), dim=1)
    with pytest.raises(RuntimeError, match="same dtype.*float32 and int64"):
        dg.cross(dg.zeros(3), dg.zeros(3, dtype=dg.int64), dim=0)
    with pytest.raises(RuntimeError, match="dimension 1 must have length 3. Got 4 and 4"):
        dg.cross(dg.zeros(3, 4), dg.zeros(3, 4), dim=1)
    with pytest.raises(RuntimeError, match="no dimension of size 3"), pytest.warns(UserWarning):
        dg.cross(dg.zeros(2, 4), dg.zeros(2, 4))
    with pytest.raises(RuntimeError, match="cannot be broadcast"):
        dg.cross(dg.zeros(2, 3), dg.zeros(4, 3), dim=1)


@pytest.mark.parametrize("shapes", [[(2, 3), (3, 2)], [(3,), (2, 2)], [(), (3,)], [(), ()],
                                    [(2, 1, 2), (3, 2)], [(0, 2), (2, 2)]])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_kron(shapes, dtype):
    a, b = (_arr(*s, dtype=dtype) for s in shapes)
    got = _compare(dg.kron, torch.kron, a, b)
    np.testing.assert_allclose(to_np(got), np.kron(a, b), rtol=1e-6)
    _compare(lambda x, y: x.kron(y), lambda x, y: x.kron(y), a, b)


def test_kron_mixed_dtypes_bool_out_and_grad():
    _compare(dg.kron, torch.kron, _arr(2, dtype="int64"), _arr(2, 2))
    _compare(dg.kron, torch.kron, _arr(2, dtype="bool"), _arr(3, dtype="bool"))
    out = dg.empty(4)
    dg.kron(dg.tensor([1.0, 2.0]), dg.tensor([3.0, 4.0]), out=out)
    np.testing.assert_array_equal(out.numpy(), [3, 4, 6, 8])
    _compare(dg.kron, torch.kron, _arr(2, 3), _arr(2, 2), grad=True)
    _gradcheck(dg.kron, _arr(2, 3), _arr(3, 1))


@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 2), (2, 1, 3)])
@pytest.mark.parametrize("offset", [-2, 0, 1])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_diagflat(shape, offset, dtype):
    a = _arr(*shape, dtype=dtype)
    got = _compare(lambda x: dg.diagflat(x, offset), lambda x: torch.diagflat(x, offset), a)
    np.testing.assert_array_equal(to_np(got), np.diagflat(a, offset))
    _compare(lambda x: x.diagflat(offset), lambda x: x.diagflat(offset), a)
    if dtype == "float32" and 0 not in shape:
        _gradcheck(lambda x: dg.diagflat(x, offset), _arr(*shape))


@pytest.mark.parametrize("shapes", [[(2, 2), (3,), ()], [(0, 2), (1, 0), (1,)], [(2, 3)],
                                    [(0,), (0, 0)]])
def test_block_diag(shapes):
    arrays = [_arr(*s) for s in shapes]
    got = _compare(dg.block_diag, torch.block_diag, *arrays)
    from scipy.linalg import block_diag as sp_block_diag
    np.testing.assert_array_equal(to_np(got), sp_block_diag(
        *[a.reshape(1, -1) if a.ndim < 2 else a for a in arrays]))


def test_block_diag_promotion_empty_grad_and_errors():
    _compare(dg.block_diag, torch.block_diag, _arr(2, dtype="int64"), _arr(1, 2, dtype="float32"))
    _compare(dg.block_diag, torch.block_diag, _arr(2, 2, dtype="int32"), _arr(1, dtype="int32"))
    _check_same(dg.block_diag(), torch.block_diag())
    _compare(dg.block_diag, torch.block_diag, _arr(2, 2), _arr(3), grad=True)
    _gradcheck(lambda a, b: dg.block_diag(a, b, a), _arr(2, 1), _arr(2))
    with pytest.raises(RuntimeError, match="block_diag: Input tensors must have 2 or fewer "
                                           "dimensions. Input 1 has 3 dimensions"):
        dg.block_diag(dg.zeros(2), dg.zeros(1, 1, 1))


@pytest.mark.parametrize("fn", ["tril_indices", "triu_indices"])
@pytest.mark.parametrize("row, col", [(0, 0), (1, 1), (3, 3), (3, 5), (5, 2), (0, 4)])
@pytest.mark.parametrize("offset", [-6, -1, 0, 2, 7])
def test_tri_indices(fn, row, col, offset):
    got = getattr(dg, fn)(row, col, offset)
    _check_same(got, getattr(torch, fn)(row, col, offset))
    want = np.stack(getattr(np, fn)(row, offset, col)) if row and col else np.zeros((2, 0))
    np.testing.assert_array_equal(to_np(got), want)


def test_tri_indices_dtype_and_errors():
    _check_same(dg.tril_indices(3, 4, dtype=dg.int32), torch.tril_indices(3, 4, dtype=torch.int32))
    _check_same(dg.triu_indices(4, 3, 1, device="cpu"), torch.triu_indices(4, 3, 1, device="cpu"))
    with pytest.raises(RuntimeError, match="tril_indices: row must be a non-negative int, got -1"):
        dg.tril_indices(-1, 3)
    with pytest.raises(RuntimeError, match="triu_indices: col must be a non-negative int"):
        dg.triu_indices(3, -2)
    with pytest.raises(RuntimeError, match="tril_indices: not implemented for float32"):
        dg.tril_indices(3, 3, dtype=dg.float32)


# ----------------------------------------------------------------------------------------------
# cdist, dist, cosine_similarity, pairwise_distance
# ----------------------------------------------------------------------------------------------

def _np_cdist(a, b, p):
    d = np.abs(a[..., :, None, :] - b[..., None, :, :])
    if p == 0:
        return (d != 0).sum(-1).astype(a.dtype)
    if math.isinf(p):
        return d.max(-1, initial=0.0)
    return (d ** p).sum(-1) ** (1 / p)


CDIST_P = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, math.inf]


@pytest.mark.parametrize("p", CDIST_P)
@pytest.mark.parametrize("shapes", [[(4, 3), (5, 3)], [(2, 4, 3), (5, 3)],
                                    [(3, 1, 2, 3), (4, 6, 3)], [(0, 3), (2, 3)], [(2, 0), (3, 0)]])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_cdist_forward(p, shapes, dtype):
    a, b = (_arr(*s, dtype=dtype) for s in shapes)
    got = _compare(lambda x, y: dg.cdist(x, y, p), lambda x, y: torch.cdist(x, y, p), a, b)
    want = _np_cdist(a.astype(np.float64), b.astype(np.float64), p)
    assert_close(got, want, dtype)


@pytest.mark.parametrize("p", CDIST_P)
def test_cdist_gradient_matches_torch_including_zero_distance(p):
    a = _arr(4, 3)
    a[2] = a[0]          # a zero distance inside x1 against itself ...
    b = np.concatenate([a[:2], _arr(3, 3)])  # ... and between x1 and x2
    b[3, 1] = a[1, 1]    # a zero coordinate difference with a non-zero distance
    _compare(lambda x, y: dg.cdist(x, y, p), lambda x, y: torch.cdist(x, y, p), a, b, grad=True)
    _compare(lambda x: dg.cdist(x, x, p), lambda x: torch.cdist(x, x, p), a, grad=True)
    _gradcheck(lambda x, y: dg.cdist(x, y, p), _arr(2, 3, 2), _arr(4, 2))


@pytest.mark.parametrize("mode", ["use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                                  "donot_use_mm_for_euclid_dist"])
@pytest.mark.parametrize("rows", [3, 30])
def test_cdist_compute_modes(mode, rows):
    a, b = _arr(2, rows, 4), _arr(2, 5, 4)
    _compare(lambda x, y: dg.cdist(x, y, compute_mode=mode),
             lambda x, y: torch.cdist(x, y, compute_mode=mode), a, b, grad=True,
             rtol=1e-9, atol=1e-12)
    _gradcheck(lambda x, y: dg.cdist(x, y, compute_mode=mode), a[:, :rows // 3 + 1], b)


def test_cdist_mm_mode_gradient_is_zero_at_zero_distance():
    x = dg.tensor(_arr(3, 2), requires_grad=True)
    d = dg.cdist(x, x, compute_mode="use_mm_for_euclid_dist")
    np.testing.assert_allclose(np.diag(d.detach().numpy()), 0.0, atol=1e-7)
    d.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("args, kw, err, match", [
    ((dg.zeros(3), dg.zeros(3)), {}, RuntimeError, "at least 2D.*\\[3\\]"),
    ((dg.zeros(2, 3), dg.zeros(2, 4)), {}, RuntimeError, "same number of columns. X1: 3 X2: 4"),
    ((dg.zeros(2, 3, dtype=dg.int64),) * 2, {}, RuntimeError, "floating-point dtypes.*int64"),
    ((dg.zeros(2, 3), dg.zeros(2, 3, dtype=dg.float64)), {}, RuntimeError,
     "same dtype.*float32 and float64"),
    ((dg.zeros(2, 3), dg.zeros(2, 3)), {"p": -1}, RuntimeError, "non-negative p"),
    ((dg.zeros(2, 3), dg.zeros(2, 3)), {"compute_mode": "fast"}, ValueError,
     "fast is not a valid value for compute_mode"),
    ((dg.zeros(2, 2, 3), dg.zeros(3, 2, 3)), {}, RuntimeError, "cannot be broadcast"),
])
def test_cdist_errors(args, kw, err, match):
    with pytest.raises(err, match=match):
        dg.cdist(*args, **kw)


@pytest.mark.parametrize("p", [0, 1, 2, 3.5, math.inf, -math.inf])
@pytest.mark.parametrize("shapes", [[(3, 4), (3, 4)], [(2, 3), (3,)], [(), ()], [(0,), (0,)]])
def test_dist(p, shapes):
    a, b = (_arr(*s) for s in shapes)
    if math.isinf(p) and a.size == 0:  # no identity for max/min: an error in both
        with pytest.raises(RuntimeError):
            torch.dist(torch.tensor(a), torch.tensor(b), p)
        with pytest.raises(IndexError, match="non-zero size"):
            dg.dist(dg.tensor(a), dg.tensor(b), p)
        return
    # PyTorch has no backward for p=0 (ours is 0)
    got = _compare(lambda x, y: dg.dist(x, y, p), lambda x, y: torch.dist(x, y, p), a, b,
                   grad=p != 0)
    diff = np.abs(a - b).reshape(-1)
    want = (diff != 0).sum() if p == 0 else np.linalg.norm(diff, p) if diff.size else 0.0
    np.testing.assert_allclose(to_np(got), want, rtol=1e-12)
    _compare(lambda x, y: x.dist(y, p=p), lambda x, y: x.dist(y, p=p), a, b)


def test_dist_dtypes_grad_and_errors():
    _compare(dg.dist, torch.dist, _arr(3, dtype="float32"), _arr(3))
    _compare(dg.dist, torch.dist, _arr(3, dtype="float32"), _arr(3, dtype="float32"))
    _gradcheck(lambda x, y: dg.dist(x, y, 3), _arr(2, 3), _arr(3))
    with pytest.raises(RuntimeError, match="dist: expected floating-point inputs, got int64"):
        dg.dist(dg.tensor([1, 2]), dg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="dist: shapes \\(3,\\), \\(2,\\) cannot be broadcast"):
        dg.dist(dg.zeros(3), dg.zeros(2))


def test_cosine_similarity_and_pairwise_distance_top_level():
    a, b = _arr(4, 5), _arr(4, 5)
    _compare(dg.cosine_similarity, torch.cosine_similarity, a, b, grad=True)
    _compare(lambda x, y: dg.cosine_similarity(x, y, dim=-1, eps=1e-6),
             lambda x, y: torch.cosine_similarity(x, y, dim=-1, eps=1e-6), a, b[:1])
    _compare(dg.pairwise_distance, torch.pairwise_distance, a, b, grad=True)
    _compare(lambda x, y: dg.pairwise_distance(x, y, 1.0, 1e-3, True),
             lambda x, y: torch.pairwise_distance(x, y, 1.0, 1e-3, True), a, b)
    cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    np.testing.assert_allclose(dg.cosine_similarity(dg.tensor(a), dg.tensor(b)).numpy(), cos)


# ----------------------------------------------------------------------------------------------
# trapezoid, trapz, cumulative_trapezoid
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn", ["trapezoid", "trapz"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("dim", [0, -1])
def test_trapezoid_spacing(fn, dtype, dim):
    y = _arr(4, 5, dtype=dtype)
    for kw in ({}, {"dx": 0.5}, {"dx": 3}):
        got = _compare(lambda t, kw=kw: getattr(dg, fn)(t, dim=dim, **kw),
                       lambda t, kw=kw: getattr(torch, fn)(t, dim=dim, **kw), y)
        want = np.trapezoid(y.astype(np.float64), dx=kw.get("dx", 1), axis=dim)
        assert_close(got, want, "float32" if dtype != "float64" else "float64")


@pytest.mark.parametrize("x_shape, dim", [((5,), -1), ((4,), 0), ((1, 5), 1), ((4, 5), -1),
                                          ((5,), 1)])
def test_trapezoid_sample_points(x_shape, dim):
    y = _arr(4, 5)
    x = np.cumsum(_arr(*x_shape, low=0.1, high=1.0), axis=-1)
    got = _compare(lambda t, s: dg.trapezoid(t, s, dim=dim),
                   lambda t, s: torch.trapezoid(t, s, dim=dim), y, x, grad=True)
    want = np.trapezoid(y, x if x.ndim > 1 else x, axis=dim)
    np.testing.assert_allclose(to_np(got), want)
    _gradcheck(lambda t, s: dg.trapezoid(t, s, dim=dim), y, x)
    got = _compare(lambda t, s: dg.cumulative_trapezoid(t, s, dim=dim),
                   lambda t, s: torch.cumulative_trapezoid(t, s, dim=dim), y, x, grad=True)
    _gradcheck(lambda t, s: dg.cumulative_trapezoid(t, s, dim=dim), y, x)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("dim", [0, -1])
def test_cumulative_trapezoid_spacing(dtype, dim):
    y = _arr(3, 6, dtype=dtype)
    for kw in ({}, {"dx": 0.25}):
        got = _compare(lambda t, kw=kw: dg.cumulative_trapezoid(t, dim=dim, **kw),
                       lambda t, kw=kw: torch.cumulative_trapezoid(t, dim=dim, **kw), y)
        yf = y.astype(np.float64)
        n = y.shape[dim]
        pairs = np.take(yf, range(1, n), dim) + np.take(yf, range(n - 1), dim)
        want = np.cumsum(pairs * kw.get("dx", 1) / 2, axis=dim)
        assert_close(got, want, "float32" if dtype != "float64" else "float64")


def test_integration_edge_cases_grad_and_errors():
    for shape in [(2, 0), (1,), (3, 1)]:
        _compare(dg.trapezoid, torch.trapezoid, _arr(*shape))
        _compare(dg.cumulative_trapezoid, torch.cumulative_trapezoid, _arr(*shape))
    _gradcheck(lambda t: dg.trapezoid(t, dx=0.3, dim=0), _arr(4, 3))
    _gradcheck(lambda t: dg.cumulative_trapezoid(t, dx=0.3), _arr(4, 3))
    with pytest.raises(IndexError, match="trapezoid: Dimension specified as -1 but tensor has no "
                                         "dimensions"):
        dg.trapezoid(dg.tensor(1.0))
    with pytest.raises(RuntimeError, match="trapezoid: There must be one `x` value for each "
                                           "sample point \\(x has 2, y has 3"):
        dg.trapezoid(dg.zeros(3), dg.zeros(2))
    with pytest.raises(RuntimeError, match="cumulative_trapezoid: received a bool input for `y`"):
        dg.cumulative_trapezoid(dg.tensor([True, False]))
    with pytest.raises(TypeError, match="trapezoid\\(\\): pass either x .* or dx"):
        dg.trapezoid(dg.zeros(3), dg.zeros(3), dx=2)


# ----------------------------------------------------------------------------------------------
# logcumsumexp, cummax, cummin
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("shape, dim", [((5,), 0), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), -2),
                                        ((), 0), ((), -1), ((0, 3), 0), ((2, 0), 1)])
def test_logcumsumexp(dtype, shape, dim):
    a = _arr(*shape, dtype=dtype, low=-5, high=5)
    got = _compare(lambda x: dg.logcumsumexp(x, dim), lambda x: torch.logcumsumexp(x, dim), a)
    if a.ndim:
        want = np.log(np.cumsum(np.exp(a.astype(np.float64)), axis=dim))
        assert_close(got, want, dtype)
    _compare(lambda x: x.logcumsumexp(dim), lambda x: x.logcumsumexp(dim), a)


def test_logcumsumexp_is_stable_and_its_gradient_too():
    a = np.array([[-1000.0, 0.0, 1000.0, -1e4, 999.0], [1e4, -1e4, 5.0, 1e4, -np.inf]])
    got = _compare(lambda x: dg.logcumsumexp(x, 1), lambda x: torch.logcumsumexp(x, 1), a,
                   grad=True)
    assert np.isfinite(to_np(got)).all()
    np.testing.assert_allclose(to_np(got)[0], [-1000.0, 0.0, 1000.0, 1000.0,
                                               1000.0 + math.log1p(math.exp(-1.0))])
    _compare(lambda x: dg.logcumsumexp(x, 0), lambda x: torch.logcumsumexp(x, 0),
             np.array([-np.inf, -np.inf, 1.0]))
    # an all -inf prefix: PyTorch's gradient there is NaN, ours 0 (the limit from any finite
    # input); the other elements agree
    x = dg.tensor([-np.inf, -np.inf, 0.5, -np.inf, 1.0], dtype=dg.float64, requires_grad=True)
    t = torch.tensor(x.detach().numpy(), requires_grad=True)
    w = np.arange(1.0, 6.0)
    (dg.logcumsumexp(x, 0) * dg.tensor(w)).sum().backward()
    (torch.logcumsumexp(t, 0) * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[:2], 0.0)
    np.testing.assert_allclose(x.grad.numpy()[2:], t.grad.numpy()[2:], rtol=1e-12)
    _compare(lambda x: dg.logcumsumexp(x, -1), lambda x: torch.logcumsumexp(x, -1),
             _arr(3, 4, dtype="float16", low=-3, high=3), rtol=2e-3, atol=1e-3)


def test_logcumsumexp_gradients_and_errors():
    a = _arr(3, 6)
    _compare(lambda x: dg.logcumsumexp(x, -1), lambda x: torch.logcumsumexp(x, -1), a, grad=True)
    _gradcheck(lambda x: dg.logcumsumexp(x, 0), a)
    _gradcheck(lambda x: dg.logcumsumexp(x * 30, 1), a)
    _gradcheck(lambda x: dg.logcumsumexp(x, 0), _arr())

    def first_grad(x):  # double backward
        (g,) = dg.autograd.grad((dg.logcumsumexp(x, 1) ** 2).sum(), [x], create_graph=True)
        return g
    _gradcheck(first_grad, a)
    out = dg.empty(0, dtype=dg.float64)
    assert dg.logcumsumexp(dg.tensor(a), 1, out=out) is out
    assert_close(out, torch.logcumsumexp(torch.tensor(a), 1))
    with pytest.raises(RuntimeError, match="logcumsumexp: expected a floating-point input, got "
                                           "int64"):
        dg.logcumsumexp(dg.tensor([1, 2]), 0)
    with pytest.raises(IndexError, match="logcumsumexp: Dimension out of range"):
        dg.logcumsumexp(dg.zeros(3), 1)


@pytest.mark.parametrize("fn", ["cummax", "cummin"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool"])
@pytest.mark.parametrize("shape, dim", [((7,), 0), ((3, 6), -1), ((3, 6), 0), ((2, 3, 4), -2),
                                        ((), 0), ((), -1), ((0, 3), 0), ((2, 0), 1)])
def test_cummax_cummin(fn, dtype, shape, dim):
    a = _arr(*shape, dtype=dtype)
    if dtype.startswith("float") and a.size:
        a = np.round(a)  # ties
    got = _compare(lambda x: getattr(dg, fn)(x, dim), lambda x: getattr(torch, fn)(x, dim), a)
    assert type(got).__name__ == fn and got._fields == ("values", "indices")
    if a.ndim:
        acc = np.maximum if fn == "cummax" else np.minimum
        np.testing.assert_array_equal(to_np(got.values), acc.accumulate(a, axis=dim))
    _compare(lambda x: getattr(x, fn)(dim), lambda x: getattr(x, fn)(dim), a)


@pytest.mark.parametrize("fn", ["cummax", "cummin"])
def test_cummax_cummin_nan_grad_out_and_errors(fn):
    a = np.array([[1.0, np.nan, 3.0, np.nan, -1.0], [2.0, 2.0, -3.0, 5.0, 5.0]])
    _compare(lambda x: getattr(dg, fn)(x, 1), lambda x: getattr(torch, fn)(x, 1), a)
    ties = np.round(_arr(4, 5) * 2) / 2
    _compare(lambda x: getattr(dg, fn)(x, 0), lambda x: getattr(torch, fn)(x, 0), ties, grad=True)
    _gradcheck(lambda x: getattr(dg, fn)(x, -1).values, _arr(3, 5))
    values, indices = dg.empty(0, dtype=dg.float64), dg.empty(0, dtype=dg.int64)
    res = getattr(dg, fn)(dg.tensor(a), 1, out=(values, indices))
    assert res.values is values and res.indices is indices
    _check_same(res, getattr(torch, fn)(torch.tensor(a), 1))
    with pytest.raises(IndexError, match=f"{fn}: Dimension out of range"):
        getattr(dg, fn)(dg.zeros(3), 1)


# ----------------------------------------------------------------------------------------------
# renorm
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [1, 2, 3.5, math.inf])
@pytest.mark.parametrize("dim", [0, -1, 1])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_renorm(p, dim, dtype):
    a = _arr(3, 4, 2, dtype=dtype)
    maxnorm = 1.5
    got = _compare(lambda x: dg.renorm(x, p, dim, maxnorm),
                   lambda x: torch.renorm(x, p, dim, maxnorm), a, grad=dtype == "float64")
    others = tuple(i for i in range(3) if i != dim % 3)
    a64 = a.astype(np.float64)
    n = np.max(np.abs(a64), axis=others, keepdims=True) if math.isinf(p) else \
        (np.abs(a64) ** p).sum(others, keepdims=True) ** (1 / p)
    assert_close(got, a64 * np.where(n > maxnorm, maxnorm / (n + 1e-7), 1.0), dtype)
    _compare(lambda x: x.renorm(p, dim, maxnorm), lambda x: x.renorm(p, dim, maxnorm), a)


def test_renorm_inplace_grad_empty_and_errors():
    a = _arr(4, 3)
    x, t = dg.tensor(a), torch.tensor(a)
    assert x.renorm_(2, 0, 1.0) is x
    t.renorm_(2, 0, 1.0)
    assert_close(x, t)
    _compare(lambda x: dg.renorm(x, 2, 0, 1.0), lambda x: torch.renorm(x, 2, 0, 1.0), _arr(0, 3))
    _gradcheck(lambda x: dg.renorm(x, 2, 1, 1.0), a)
    _gradcheck(lambda x: dg.renorm(x, 1.5, 0, 0.5), a)
    with pytest.raises(RuntimeError, match="renorm: input needs at least 2 dimensions, got 1"):
        dg.renorm(dg.zeros(3), 2, 0, 1)
    with pytest.raises(RuntimeError, match="renorm: non-positive-norm not supported"):
        dg.renorm(dg.zeros(2, 2), 0, 0, 1)
    with pytest.raises(RuntimeError, match="renorm: expected maxnorm to be >= 0 but got -1"):
        dg.renorm(dg.zeros(2, 2), 2, 0, -1)
    with pytest.raises(RuntimeError, match="renorm: expected a floating-point input, got int64"):
        dg.renorm(dg.zeros(2, 2, dtype=dg.int64), 2, 0, 1)


# ----------------------------------------------------------------------------------------------
# Compiled (llvm) against eager, forward and backward
# ----------------------------------------------------------------------------------------------

COMPILED = {
    "logcumsumexp": (lambda x, y: dg.logcumsumexp(x * y, 1), [(3, 5), (3, 5)]),
    "cummax": (lambda x, y: dg.cummax(x + y, 0).values * y, [(4, 3), (4, 3)]),
    "cdist": (lambda x, y: dg.cdist(x, y), [(4, 3), (5, 3)]),
    "cdist_inf": (lambda x, y: dg.cdist(x, y, math.inf), [(4, 3), (5, 3)]),
    "cross": (lambda x, y: dg.cross(x, y, dim=-1), [(4, 3), (4, 3)]),
    "kron": (lambda x, y: dg.kron(x, y), [(2, 3), (3, 2)]),
    "diff": (lambda x, y: dg.diff(x, 2, 0, prepend=y[:1]), [(5, 3), (4, 3)]),
    "renorm": (lambda x, y: dg.renorm(x * y, 2, 0, 1.0), [(4, 3), (4, 3)]),
    "trapezoid": (lambda x, y: dg.cumulative_trapezoid(x, y[0]), [(4, 3), (2, 3)]),
}


@pytest.mark.parametrize("name", sorted(COMPILED))
def test_compiled_matches_eager_forward_and_backward(name):
    fn, shapes = COMPILED[name]
    arrays = [_arr(*s) for s in shapes]
    compiled = dg.compile(fn, backend="llvm")
    for _ in range(2):  # the second call runs the compiled graph
        xs_c = [dg.tensor(a, requires_grad=True) for a in arrays]
        out_c = compiled(*xs_c)
    xs_e = [dg.tensor(a, requires_grad=True) for a in arrays]
    out_e = fn(*xs_e)
    assert_close(out_c, out_e.detach())
    seed = dg.tensor(RNG.standard_normal(tuple(out_e.shape)))
    (out_c * seed).sum().backward()
    (out_e * seed).sum().backward()
    for c, e in zip(xs_c, xs_e):
        assert_close(c.grad, e.grad, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# The log-depth scan that CUDA arrays use (cupy's ufuncs accumulate only add and multiply),
# checked here on numpy
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ufunc", [np.maximum, np.minimum, np.logaddexp])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 16, 17])
@pytest.mark.parametrize("axis", [0, -1])
def test_log_depth_scan_equals_accumulate(ufunc, n, axis):
    from dyngraph.ops.scans import _log_depth_scan
    a = _arr(n, 3) if axis == 0 else _arr(3, n)
    if a.size:
        a.flat[::4] = np.nan if ufunc is not np.logaddexp else -np.inf
    got = _log_depth_scan(np, ufunc, a, axis)
    np.testing.assert_allclose(got, ufunc.accumulate(a, axis=axis), rtol=1e-14)


@pytest.mark.parametrize("fn", ["cummax", "cummin", "logcumsumexp"])
def test_scans_through_the_log_depth_path_match_torch(fn, monkeypatch):
    from dyngraph.ops import scans
    monkeypatch.setattr(scans, "_inclusive_scan",
                        lambda xp, ufunc, a, axis: scans._log_depth_scan(xp, ufunc, a, axis))
    a = np.round(_arr(4, 9) * 2) / 2
    a[1, 3] = np.nan
    _compare(lambda x: getattr(dg, fn)(x, 1), lambda x: getattr(torch, fn)(x, 1), a)
    _compare(lambda x: getattr(dg, fn)(x, 0), lambda x: getattr(torch, fn)(x, 0),
             _arr(7, 3, dtype="float32" if fn == "logcumsumexp" else "int64"))
    _compare(lambda x: getattr(dg, fn)(x, -1), lambda x: getattr(torch, fn)(x, -1), _arr(3, 6),
             grad=True)
