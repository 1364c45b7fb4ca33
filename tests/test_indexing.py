"""Indexing semantics against PyTorch: reads, writes, views, gradients (duplicates included),
writes through views of tensors autograd records, in-place index ops, and error messages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dyngraph as dg
from tests.conftest import assert_close, requires_torch, torch

pytestmark = requires_torch

X = np.random.default_rng(0).standard_normal((4, 5, 3))


def _both(a, requires_grad=False):
    """The same float64 data as a dyngraph and a torch tensor."""
    return (dg.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def _idx(lib, v):
    return lib.tensor(v)


# Each key is a function of the library, so index tensors are built with each library's own type.
READ_KEYS = {
    "int": lambda lib: 1,
    "negative_int": lambda lib: -1,
    "tuple_ints": lambda lib: (2, -3),
    "slices_steps": lambda lib: (slice(None, None, 2), slice(1, None, 3)),
    "neg_slice": lambda lib: (slice(-3, -1), Ellipsis, slice(None, 1)),
    "none_ellipsis": lambda lib: (None, Ellipsis, None, 0),
    "int_list": lambda lib: [0, 2, 0],
    "int_tensor_dup": lambda lib: _idx(lib, [3, 1, 3, 3]),
    "int_tensor_2d": lambda lib: (slice(None), _idx(lib, [[0, 4], [4, 4]])),
    "two_tensors": lambda lib: (_idx(lib, [0, 3, 0]), slice(None), _idx(lib, [2, 1, 2])),
    "adjacent_tensors": lambda lib: (slice(1, None), _idx(lib, [0, 4]), _idx(lib, [2, 2])),
    "bool_mask_2d": lambda lib: _idx(lib, (X[..., 0] > 0).tolist()),
    "bool_mask_dim1": lambda lib: (slice(None), _idx(lib, [True, False, True, True, False])),
    "bool_list": lambda lib: [True, False, False, True],
    "int_and_tensor": lambda lib: (1, _idx(lib, [4, 0, 4])),
    "0d_int_tensor": lambda lib: lib.tensor(2),
    "scalar_true": lambda lib: True,
    "scalar_false": lambda lib: (False, 0),
    "negative_tensor": lambda lib: (slice(None), _idx(lib, [-1, -5])),
    "empty_tensor": lambda lib: lib.tensor([], dtype=lib.int64),
}


@pytest.mark.parametrize("name", list(READ_KEYS))
def test_read_and_grad_match_torch(name):
    x, tx = _both(X, requires_grad=True)
    y, ty = x[READ_KEYS[name](dg)], tx[READ_KEYS[name](torch)]
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty)
    w = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    (y * dg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_close(x.grad, tx.grad)  # repeated indices accumulate


@pytest.mark.parametrize("name", ["int", "slices_steps", "none_ellipsis", "neg_slice"])
def test_basic_indexing_returns_a_view(name):
    x = dg.tensor(X)
    y = x[READ_KEYS[name](dg)]
    assert y._base is x and y._version == x._version
    y.mul_(0)
    assert y._version == x._version == 1
    assert float(y.abs().sum()) == 0.0
    want = X.copy()
    want[READ_KEYS[name](np)] = 0
    assert_close(x, want)


@pytest.mark.parametrize("name", ["int_list", "int_tensor_dup", "bool_mask_2d"])
def test_advanced_indexing_returns_a_copy(name):
    x = dg.tensor(X)
    y = x[READ_KEYS[name](dg)]
    y.add_(1)
    assert_close(x, X)
    assert x._version == 0


def _write_cases(lib):
    m = lib.tensor((X[..., 0] > 0).tolist())
    return [
        ((slice(None), 1), 0.0),
        (m, 0.0),
        (lib.tensor([0, 2]), lib.tensor(np.arange(15.).reshape(5, 3))),
        ((lib.tensor([1, 3]), slice(None), 0), lib.tensor(np.array([[1.], [2.]]))),
        ([0, 1], lib.tensor(np.array([[7.0, 8.0, 9.0]]))),
        ((Ellipsis, -1), lib.tensor(np.arange(5.))),
        ((1, slice(1, 4)), lib.tensor(2.5)),
        ((slice(None), lib.tensor([True, False, True, False, False])), -1),
    ]


@pytest.mark.parametrize("case", range(len(_write_cases(dg))))
def test_setitem_matches_torch(case):
    x, tx = _both(X)
    key, value = _write_cases(dg)[case]
    tkey, tvalue = _write_cases(torch)[case]
    x[key] = value
    tx[tkey] = tvalue
    assert_close(x, tx)
    assert x._version == 1


@pytest.mark.parametrize("case", range(len(_write_cases(dg))))
def test_setitem_on_non_leaf_gradients_match_torch(case):
    x, tx = _both(X, requires_grad=True)
    key, value = _write_cases(dg)[case]
    tkey, tvalue = _write_cases(torch)[case]
    if isinstance(value, dg.Tensor):
        value.requires_grad_(True)
        tvalue.requires_grad_(True)
    y, ty = x * 2, tx * 2
    y[key] = value
    ty[tkey] = tvalue
    w = np.random.default_rng(2).standard_normal(X.shape)
    (y.exp() * dg.tensor(w)).sum().backward()
    (ty.exp() * torch.tensor(w)).sum().backward()
    assert_close(y, ty)
    assert_close(x.grad, tx.grad)
    if isinstance(value, dg.Tensor):
        assert_close(value.grad, tvalue.grad)


def test_augmented_assignment_through_views_matches_torch():
    x, tx = _both(X[:, :, 0], requires_grad=True)
    outs = []
    for lib, t in ((dg, x), (torch, tx)):
        v = t * 1.5
        v[1] += 1                          # basic index: in-place add on a view of a non-leaf
        v[:, 2] *= v[:, 3].clone()         # a view times a copy of another view
        v[lib.tensor([0, 0, 3])] += 10     # advanced index with a repeat: written once
        row = v[2]
        row.sub_(row.sum())                # in-place on a view kept in a variable
        v.diagonal().mul_(-1)              # a diagonal view
        outs.append(v)
        (v.sin() * lib.arange(5.0)).sum().backward()
    assert_close(outs[0], outs[1])
    assert_close(x.grad, tx.grad)


def test_write_through_view_keeps_the_view_history():
    x, tx = _both(X[0], requires_grad=True)
    for t in (x, tx):
        v = t * 1
        col = v[:, 1]
        col.mul_(3)
        (col * 2 + v.sum()).sum().backward()
    assert_close(x.grad, tx.grad)


def test_setitem_accepts_lists_and_arrays_and_casts():
    x = dg.zeros(3, 2, dtype=dg.int64)
    x[[0, 2]] = [[1.9, 2.0]]
    x[1] = np.array([5, 6])
    want = np.array([[1, 2], [5, 6], [1, 2]])
    assert x.tolist() == want.tolist()


def test_index_put_accumulate_and_in_place_variants_match_torch():
    idx = [3, 0, 3, 1]
    src = np.random.default_rng(3).standard_normal((4, 5, 3))
    x, tx = _both(X, requires_grad=True)
    s, ts = _both(src, requires_grad=True)
    y = (x * 1).index_put_((dg.tensor(idx),), s, accumulate=True)
    ty = (tx * 1).index_put_((torch.tensor(idx),), ts, accumulate=True)
    assert_close(y, ty)
    (y ** 2).sum().backward()
    (ty ** 2).sum().backward()
    assert_close(x.grad, tx.grad)
    assert_close(s.grad, ts.grad)


@pytest.mark.parametrize("name", ["scatter_", "scatter_value", "scatter_add_", "index_add_",
                                  "index_copy_", "index_fill_", "masked_fill_", "masked_fill_t"])
def test_in_place_index_ops_match_torch(name):
    a = X[:, :, 0].copy()
    rng = np.random.default_rng(4)
    src = rng.standard_normal((4, 5))
    outs = []
    for lib in (dg, torch):
        x = lib.tensor(a, requires_grad=True)
        s = lib.tensor(src, requires_grad=True)
        y = x * 1
        i2 = lib.tensor([[0, 1, 2, 3, 0], [1, 2, 3, 0, 2]])
        i1 = lib.tensor([4, 0, 4])
        if name == "scatter_":
            y.scatter_(0, i2[:1], s[:1])
        elif name == "scatter_value":
            y.scatter_(1, i2[:, :2], value=-3.0)
        elif name == "scatter_add_":
            y.scatter_add_(0, i2, s[:2])
        elif name == "index_add_":
            y.index_add_(1, i1, s[:, :3], alpha=0.5)
        elif name == "index_copy_":
            y.index_copy_(0, lib.tensor([2, 0]), s[:2])
        elif name == "index_fill_":
            y.index_fill_(1, i1, 7.0)
        elif name == "masked_fill_":
            y.masked_fill_(x > 0.2, 0.0)
        else:
            y.masked_fill_(lib.tensor([True, False, False, True, True]), s[0, 0])
        (y * y).sum().backward()
        outs.append((y, x.grad, s.grad))
    (y, gx, gs), (ty, tgx, tgs) = outs
    assert_close(y, ty)
    assert_close(gx, tgx)
    if tgs is None:
        assert gs is None or float(gs.abs().sum()) == 0.0
    else:
        assert_close(gs, tgs)


def test_masked_fill_broadcasts_mask_out_of_place_but_not_in_place():
    x, tx = _both(np.zeros(3))
    m = [[True, False, True], [False, False, True]]
    assert_close(x.masked_fill(dg.tensor(m), 1.0), tx.masked_fill(torch.tensor(m), 1.0))
    with pytest.raises(RuntimeError, match=r"masked_fill_.*\[3\].*\[2, 3\]"):
        x.masked_fill_(dg.tensor(m), 1.0)
    with pytest.raises(RuntimeError, match="masked_fill.*boolean.*float"):
        x.masked_fill(dg.tensor([1.0, 0.0, 1.0]), 1.0)
    with pytest.raises(RuntimeError, match="masked_fill.*0-dimensional"):
        x.masked_fill(dg.tensor([True, False, True]), dg.tensor([1.0, 2.0, 3.0]))


def test_masked_fill_keeps_integer_dtype():
    x, tx = dg.tensor([1, 2, 3]), torch.tensor([1, 2, 3])
    y, ty = x.masked_fill(x > 1, 1.7), tx.masked_fill(tx > 1, 1.7)
    assert y.dtype is dg.int64
    assert y.tolist() == ty.tolist()


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 0, 3)])
def test_nonzero_matches_torch(shape):
    a = np.random.default_rng(5).integers(0, 2, size=shape)
    x, tx = dg.tensor(a), torch.tensor(a)
    assert dg.nonzero(x).tolist() == torch.nonzero(tx).tolist()
    assert tuple(dg.nonzero(x).shape) == tuple(torch.nonzero(tx).shape)
    got = dg.nonzero(x, as_tuple=True)
    want = torch.nonzero(tx, as_tuple=True)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.tolist() == w.tolist() and g.dtype is dg.int64
    assert [t.tolist() for t in dg.where(x)] == [t.tolist() for t in torch.where(tx)]


def test_double_backward_through_indexing():
    x, tx = _both(X[0], requires_grad=True)
    grads = []
    for lib, t in ((dg, x), (torch, tx)):
        i = lib.tensor([2, 0, 2])
        f = (t[i] ** 3).sum() + (t[:, 1] ** 2).sum()
        (g,) = (dg.autograd.grad if lib is dg else torch.autograd.grad)(f, t, create_graph=True)
        (gg,) = (dg.autograd.grad if lib is dg else torch.autograd.grad)((g * g).sum(), t)
        grads.append((g, gg))
    assert_close(grads[0][0], grads[1][0])
    assert_close(grads[0][1], grads[1][1])


def test_iterating_yields_row_views():
    x = dg.tensor(X[:, :, 0])
    rows = list(x)
    assert len(rows) == 4 and all(r._base is x for r in rows)
    assert_close(dg.stack(rows), X[:, :, 0])


# ----- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("key, exc, pattern", [
    ((4,), IndexError, r"index 4 is out of bounds for dimension 0 with size 4"),
    ((0, -6), IndexError, r"index -6 is out of bounds for dimension 1 with size 5"),
    ((0, 0, 0, 0), IndexError, r"too many indices for tensor of dimension 3"),
    (([0, 7],), IndexError, r"index 7 is out of bounds for dimension 0 with size 4"),
    ((slice(None), [-6]), IndexError, r"index -6 is out of bounds for dimension 1 with size 5"),
    (([True, False],), IndexError, r"mask \[2\] at index 0 does not match .*\[4, 5, 3\]"),
    ((slice(None, None, -1),), ValueError, r"step must be positive"),
    ((1.5,), IndexError, r"not a valid index"),
    (([0, 1], slice(None), [0, 1, 2]), IndexError, r"index(_put_)?: shape mismatch.*\(2,\) \(3,\)"),
])
def test_index_errors_name_the_problem(key, exc, pattern):
    x = dg.tensor(X)
    with pytest.raises(exc, match=pattern):
        x[key if len(key) > 1 else key[0]]
    if exc is IndexError:
        with pytest.raises(exc, match=pattern):
            x[key if len(key) > 1 else key[0]] = 0.0


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_out_of_bounds_names_the_index(accumulate):
    x = dg.zeros(3, 2)
    with pytest.raises(IndexError, match="index_put: index 5 is out of bounds for dimension 0 "
                                         "with size 3"):
        x.index_put((dg.tensor([0, 5]),), dg.tensor(1.0), accumulate=accumulate)


def test_float_index_tensor_is_refused():
    with pytest.raises(IndexError, match="long, int, byte or bool.*float32"):
        dg.zeros(3)[dg.tensor([0.0, 1.0])]


def test_setitem_on_a_leaf_under_no_grad_matches_torch():
    x, tx = _both(X, requires_grad=True)
    with dg.no_grad():
        x[0, :, 1] = 5.0
        x[dg.tensor([1, 1])] += 1.0
    with torch.no_grad():
        tx[0, :, 1] = 5.0
        tx[torch.tensor([1, 1])] += 1.0
    assert_close(x.detach(), tx.detach())
    assert x.is_leaf and x.requires_grad and x._version == tx._version


def test_write_to_leaf_or_expanded_view_is_refused():
    x = dg.tensor(X, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x[0] = 1.0
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x.detach().requires_grad_(False)  # a plain detach is fine to write
        x[0].mul_(2)
    e = dg.zeros(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="broadcast .*expanded.*clone"):
        e[0, 1] = 1.0


def test_setitem_shape_mismatch_names_shapes():
    with pytest.raises(RuntimeError, match=r"index_put_: shape mismatch.*\[2\]"):
        dg.zeros(3, 4)[0] = dg.ones(2)


def test_modifying_a_saved_tensor_is_detected():
    x = dg.tensor(X, requires_grad=True)
    y = x.exp()           # exp saves its output
    y[0] = 0.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("fn, pattern", [
    (lambda x, i: x.gather(0, i.float()), r"gather\(\): Expected dtype int64"),
    (lambda x, i: x.gather(0, i[0]), r"gather\(\): Index tensor must have the same number"),
    (lambda x, i: x.gather(0, i + 4), r"gather\(\): index 5 is out of bounds for dimension 0 "
                                      r"with size 4"),
    (lambda x, i: x.gather(1, dg.zeros(5, 5, dtype=dg.int64)),
     r"gather\(\): Expected index \[5, 5\] to be no larger than self \[4, 5\] apart from "
     r"dimension 1"),
    (lambda x, i: x.scatter(0, i, dg.zeros(1, 1)), r"scatter\(\): Expected index \[2, 2\].*src "
                                                   r"\[1, 1\]"),
    (lambda x, i: x.scatter_add(0, i - 3, dg.zeros(2, 2)), r"scatter_add\(\): index -3"),
    (lambda x, i: x.index_select(0, i), r"index_select\(\): Index is supposed to be a vector"),
    (lambda x, i: x.index_add(0, i[0], dg.zeros(3, 5)),
     r"index_add\(\): Number of indices \(2\) should be equal to source.size\(dim\): \(3\)"),
    (lambda x, i: x.take(dg.tensor([20])), r"take\(\): tried to access index 20 on a tensor of "
                                           r"20 elements"),
    (lambda x, i: x.scatter(0, i, dg.zeros(2, 2), reduce="multiply"), "reduce='multiply'"),
])
def test_gather_scatter_errors(fn, pattern):
    x = dg.zeros(4, 5)
    i = dg.tensor([[1, 0], [0, 1]])
    with pytest.raises((RuntimeError, IndexError, NotImplementedError), match=pattern):
        fn(x, i)


# ----- random keys against numpy ----------------------------------------------------------------


@st.composite
def _shape_and_key(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    n_picks = draw(st.integers(1, 3))  # index arrays in one key must broadcast together
    key, dim = [], 0
    while dim < len(shape) and draw(st.booleans()):
        n = shape[dim]
        kind = draw(st.sampled_from(["int", "slice", "none", "array"]))
        if kind == "int":
            key.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            key.append(slice(draw(st.none() | st.integers(-n - 1, n + 1)),
                             draw(st.none() | st.integers(-n - 1, n + 1)),
                             draw(st.none() | st.integers(1, 3))))
        elif kind == "none":
            key.append(None)
            continue
        else:
            key.append(np.array(draw(st.lists(st.integers(-n, n - 1), min_size=n_picks,
                                              max_size=n_picks))))
        dim += 1
    if draw(st.booleans()):  # anywhere when the key uses every dim, else at the end
        key.insert(draw(st.integers(0, len(key))) if dim == len(shape) else len(key), Ellipsis)
    return shape, tuple(key)


@given(_shape_and_key())
@settings(max_examples=60, deadline=None)
def test_random_keys_read_write_and_grad_match_numpy(shape_key):
    shape, key = shape_key
    a = np.arange(float(np.prod(shape))).reshape(shape)
    dkey = tuple(dg.tensor(k) if isinstance(k, np.ndarray) else k for k in key)
    x = dg.tensor(a, requires_grad=True)
    y = x[dkey]
    assert_close(y, a[key])
    y.sum().backward()
    want = np.zeros(shape)
    np.add.at(want, key, 1.0)   # each read position gets its count as gradient
    assert_close(x.grad, want)
    b = a.copy()
    b[key] = -1.0
    z = dg.tensor(a)
    z[dkey] = -1.0
    assert_close(z, b)


@requires_torch
@pytest.mark.parametrize("args", [(2,), (2, 0), (2, 1), (2, -1), ("t12", 0), ("t013", 1), (0, 1)])
def test_repeat_interleave_matches_torch(args):
    counts = {"t12": [1, 2], "t013": [0, 1, 3]}
    x = np.arange(6.0).reshape(2, 3)
    targs = tuple(torch.tensor(counts[a]) if isinstance(a, str) else a for a in args)
    dargs = tuple(dg.tensor(counts[a]) if isinstance(a, str) else a for a in args)
    want = torch.tensor(x, requires_grad=True)
    got = dg.tensor(x, requires_grad=True)
    w, g = want.repeat_interleave(*targs), got.repeat_interleave(*dargs)
    np.testing.assert_array_equal(g.detach().numpy(), w.detach().numpy())
    w.sum().backward()
    g.sum().backward()
    np.testing.assert_array_equal(got.grad.numpy(), want.grad.numpy())
    assert dg.repeat_interleave(dg.tensor([1, 0, 2])).tolist() == [0, 2, 2]
    with pytest.raises(RuntimeError, match="same size as input"):
        dg.tensor(x).repeat_interleave(dg.tensor([1, 2, 3]), 0)
