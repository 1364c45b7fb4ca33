"""Movement ops against PyTorch and numpy: which results are views (shared memory and version
counter), which are copies, in-place view ops, shapes of joins and splits, and error messages
that name the op and the sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dyngraph as dg
from tests.conftest import assert_close, requires_torch, torch

X = np.random.default_rng(0).standard_normal((2, 3, 4))

VIEWS = {
    "reshape": lambda t: t.reshape(6, 4),
    "view": lambda t: t.view(-1),
    "flatten": lambda t: t.flatten(0, 1),
    "unflatten": lambda t: t.unflatten(2, (2, 2)),
    "squeeze": lambda t: t[:, :1].squeeze(1),
    "unsqueeze": lambda t: t.unsqueeze(1),
    "permute": lambda t: t.permute(2, 0, 1),
    "transpose": lambda t: t.transpose(0, 2),
    "mT": lambda t: t.mT,
    "movedim": lambda t: t.movedim(0, -1),
    "expand": lambda t: t[:1].expand(5, 3, 4),
    "narrow": lambda t: t.narrow(2, 1, 2),
    "select": lambda t: t.select(1, -1),
    "split": lambda t: t.split(3, 2)[1],
    "chunk": lambda t: t.chunk(2, 1)[0],
    "unbind": lambda t: t.unbind(2)[3],
    "diagonal": lambda t: t.diagonal(0, 1, 2),
    "slice": lambda t: t[1:, ::2],
    "t": lambda t: t[0].t(),
    "reshape_same": lambda t: t.reshape(2, 3, 4),
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_views_share_memory_and_version_counter(name):
    x = dg.tensor(X)
    y = VIEWS[name](x)
    assert y._base is x
    assert np.shares_memory(y._data, x._data)
    with dg.no_grad():
        x.add_(1)
    assert y._version == x._version == 1
    assert_close(y, VIEWS[name](dg.tensor(X + 1)))
    if name != "expand":  # expanded views are read-only, as in PyTorch
        with dg.no_grad():
            y.mul_(0)
        assert x._version == 2
        assert float((VIEWS[name](x)).abs().sum()) == 0.0


@requires_torch
@pytest.mark.parametrize("name", list(VIEWS))
def test_views_match_torch_with_grads(name):
    x = dg.tensor(X, requires_grad=True)
    tx = torch.tensor(X, requires_grad=True)
    y, ty = VIEWS[name](x), VIEWS[name](tx)
    assert tuple(y.shape) == tuple(ty.shape)
    assert_close(y, ty)
    w = np.random.default_rng(1).standard_normal(tuple(ty.shape))
    (y * dg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    assert_close(x.grad, tx.grad)


COPIES = {
    "reshape_noncontiguous": lambda t: t.transpose(0, 2).reshape(-1),
    "flip": lambda t: t.flip(0),
    "roll": lambda t: t.roll(1, 2),
    "repeat": lambda t: t.repeat(1, 1, 1),
    "tile": lambda t: t.tile((2,)),
    "tril": lambda t: t.tril(),
    "clone": lambda t: t.clone(),
    "contiguous": lambda t: t.mT.contiguous(),
    "cat": lambda t: dg.cat([t]),
    "index_select": lambda t: t.index_select(0, dg.tensor([1])),
    "diag": lambda t: dg.diag(t[0]),
}


@pytest.mark.parametrize("name", list(COPIES))
def test_copies_do_not_share_memory(name):
    x = dg.tensor(X)
    y = COPIES[name](x)
    assert not np.shares_memory(y._data, x._data)
    assert y._base is None


def test_view_of_incompatible_layout_fails_like_torch():
    x = dg.tensor(X).transpose(0, 1)
    with pytest.raises(RuntimeError, match=r"view: size \[24\].*\[3, 2, 4\].*Use \.reshape"):
        x.view(-1)
    assert tuple(x.view(3, 2, 2, 2).shape) == (3, 2, 2, 2)  # splitting a dim is still a view
    assert x.reshape(-1)._base is None


@requires_torch
@pytest.mark.parametrize("name, args", [
    ("unsqueeze_", (1,)), ("squeeze_", ()), ("t_", ()), ("transpose_", (0, 1)),
])
def test_in_place_view_ops_match_torch(name, args):
    a = X[0, :1] if name == "squeeze_" else X[0]
    x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = x * 2, tx * 2
    assert getattr(y, name)(*args) is y
    getattr(ty, name)(*args)
    assert tuple(y.shape) == tuple(ty.shape)
    (y.exp() * dg.arange(y.numel()).reshape(y.shape)).sum().backward()
    (ty.exp() * torch.arange(ty.numel()).reshape(ty.shape)).sum().backward()
    assert_close(x.grad, tx.grad)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        getattr(x, name)(*args)


@requires_torch
@pytest.mark.parametrize("fn", [
    lambda lib, t: lib.tril(t, 1), lambda lib, t: t.triu(-1), lambda lib, t: t.tril_(0),
    lambda lib, t: t.triu_(2),
])
def test_triangles_match_torch(fn):
    x, tx = dg.tensor(X), torch.tensor(X)
    assert_close(fn(dg, x), fn(torch, tx))
    assert_close(x, tx)


@requires_torch
@pytest.mark.parametrize("n, chunks", [(5, 3), (6, 4), (7, 7), (2, 5), (0, 3), (9, 2)])
def test_chunk_and_split_sizes_match_torch(n, chunks):
    a = np.arange(float(n))
    got = [p.shape[0] for p in dg.tensor(a).chunk(chunks)]
    assert got == [p.shape[0] for p in torch.tensor(a).chunk(chunks)]
    if n:
        got = [p.tolist() for p in dg.tensor(a).split(chunks)]
        assert got == [p.tolist() for p in torch.tensor(a).split(chunks)]


@requires_torch
def test_cat_promotes_skips_empty_and_writes_out():
    a, b = dg.tensor([[1, 2]]), dg.tensor([[0.5, 1.5]], dtype=dg.float32)
    r = dg.cat([a, b, dg.tensor([])])
    tr = torch.cat([torch.tensor([[1, 2]]), torch.tensor([[0.5, 1.5]]), torch.tensor([])])
    assert r.dtype is dg.float32 and tuple(r.shape) == tuple(tr.shape)
    assert_close(r, tr)
    out = dg.empty(2, 2)
    assert dg.cat([b, b], out=out) is out
    assert_close(out, np.array([[0.5, 1.5], [0.5, 1.5]]))
    assert_close(dg.stack([b[0], b[0]], -1), torch.stack([tr[1], tr[1]], -1))


@requires_torch
@pytest.mark.parametrize("shape, reps", [((3,), (2,)), ((2, 3), (0, 2)), ((2, 1), (3, 1, 4)),
                                         ((), (2, 3))])
def test_repeat_and_tile_match_torch(shape, reps):
    a = np.random.default_rng(2).standard_normal(shape)
    x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    assert_close(x.repeat(*reps), tx.repeat(*reps))
    assert_close(dg.tile(x, reps[1:]), torch.tile(tx, reps[1:]))
    (x.repeat(*reps) ** 2).sum().backward()
    (tx.repeat(*reps) ** 2).sum().backward()
    assert_close(x.grad, tx.grad)


@requires_torch
@pytest.mark.parametrize("offset, d1, d2", [(0, -2, -1), (2, 0, 2), (-1, 2, 0), (1, 1, 0)])
def test_diag_embed_and_diagonal_match_torch(offset, d1, d2):
    a = X[0]
    x, tx = dg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    e, te = dg.diag_embed(x, offset, d1, d2), torch.diag_embed(tx, offset, d1, d2)
    assert_close(e, te)
    d, td = e.diagonal(offset, d1, d2), te.diagonal(offset, d1, d2)
    assert_close(d, td)
    (d * e.sum()).sum().backward()
    (td * te.sum()).sum().backward()
    assert_close(x.grad, tx.grad)


@requires_torch
def test_writing_through_a_diagonal_view_matches_torch():
    out = []
    for lib in (dg, torch):
        x = lib.tensor(X[0, :3, :3], requires_grad=True)
        y = x * 1
        y.diagonal().mul_(3)
        y.diagonal(1).zero_()
        (y ** 2).sum().backward()
        out.append((y, x.grad))
    assert_close(out[0][0], out[1][0])
    assert_close(out[0][1], out[1][1])


@requires_torch
@pytest.mark.parametrize("shifts, dims", [(1, None), (-7, None), ((1, 2), (0, 2)), (3, -1),
                                          ((1, 1), (1, 1))])
def test_roll_matches_torch(shifts, dims):
    x, tx = dg.tensor(X), torch.tensor(X)
    assert_close(x.roll(shifts, dims), tx.roll(shifts, dims))


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
@settings(max_examples=40, deadline=None)
def test_random_permute_reshape_chains_match_numpy(shape, data):
    a = np.arange(float(np.prod(shape))).reshape(shape)
    perm = data.draw(st.permutations(range(len(shape))))
    x = dg.tensor(a).permute(*perm)
    na = a.transpose(perm)
    split = data.draw(st.integers(0, len(shape)))
    new = (-1,) + tuple(na.shape[split:]) if split else (-1,)
    assert_close(x.reshape(*new), na.reshape(new))
    assert_close(x.flatten(), na.ravel())
    assert_close(x.flip(0).roll(1, -1), np.roll(np.flip(na, 0), 1, -1))


@requires_torch
@pytest.mark.parametrize("call", [
    "x.reshape(shape=(4, 6))", "x.view(size=(6, 4))", "x.permute(dims=(2, 0, 1))",
    "x.flip(dims=(0, 2))", "x.repeat(repeats=(1, 2, 1))", "x.tile(dims=(2,))",
    "x[:1].expand(size=(2, 3, 4))", "x.transpose(dim0=0, dim1=2)", "x.squeeze(dim=0)",
    "x.split(split_size=2, dim=2)[1]", "x.chunk(chunks=2, dim=2)[0]", "x.roll(shifts=1, dims=0)",
    "x.narrow(dim=2, start=1, length=2)", "x.movedim(source=0, destination=2)",
    "x.unflatten(dim=2, sizes=(2, 2))", "x.sum_to_size(size=(1, 3, 1))",
    "x.diagonal(offset=1, dim1=1, dim2=2)", "x.select(dim=1, index=0)",
    "lib.split(x, split_size_or_sections=[1, 3], dim=2)[1]", "lib.tril(x, diagonal=-1)",
])
def test_keyword_arguments_match_torch(call):
    got = eval(call, {"x": dg.tensor(X), "lib": dg})
    want = eval(call, {"x": torch.tensor(X), "lib": torch})
    assert_close(got, want)


# ----- errors ---------------------------------------------------------------------------------

ERRORS = [
    (lambda x: x.view(5, -1), r"view: shape '\[5, -1\]' is invalid for input of size 24"),
    (lambda x: x.reshape(-1, -1), r"reshape: only one dimension can be inferred"),
    (lambda x: x.reshape(5, 5), r"reshape: shape '\[5, 5\]' is invalid for input of size 24 "
                                r"\(input shape \[2, 3, 4\]\)"),
    (lambda x: x.permute(0, 1), r"permute: .*3 dims.*\[0, 1\]"),
    (lambda x: x.permute(0, 0, 1), r"permute: duplicate dims"),
    (lambda x: x.transpose(0, 3), r"transpose: Dimension out of range .*\[-3, 2\], but got 3"),
    (lambda x: x.squeeze(5), r"squeeze: Dimension out of range"),
    (lambda x: x.unsqueeze(4), r"unsqueeze: Dimension out of range .*\[-4, 3\]"),
    (lambda x: x.expand(3, 3, 4), r"expand: the expanded size of the tensor \(3\) must match the "
                                  r"existing size \(2\) at non-singleton dimension 0"),
    (lambda x: x.expand(3, 4), r"expand: the number of sizes provided \(2\) must be greater"),
    (lambda x: x.flatten(2, 0), r"flatten\(\) has invalid args"),
    (lambda x: x.unflatten(2, (3, -1)), r"unflatten: Provided sizes \[3, -1\] don't multiply up "
                                        r"to the size of dim 2 \(4\)"),
    (lambda x: x.movedim((0, 0), (1, 2)), r"movedim: repeated dim in `source`"),
    (lambda x: x.movedim(0, (1, 2)), r"movedim: Invalid source or destination dims"),
    (lambda x: x.narrow(0, 1, 2), r"narrow: start \(1\) \+ length \(2\) exceeds dimension size "
                                  r"\(2\)"),
    (lambda x: x.narrow(1, 5, 0), r"narrow: start out of range"),
    (lambda x: x.select(1, 3), r"select\(\): index 3 out of range for tensor of size \[2, 3, 4\] "
                               r"at dimension 1"),
    (lambda x: x.split([1, 1], 1), r"split_with_sizes expects split_sizes to sum exactly to 3"),
    (lambda x: x.split(0, 1), r"split: split_size can only be 0 if dimension size is 0"),
    (lambda x: x.chunk(0), r"chunk expects `chunks` to be greater than 0"),
    (lambda x: x.repeat(2, 2), r"repeat: Number of dimensions of repeat dims \(2\) can not be "
                               r"smaller than number of dimensions of tensor \(3"),
    (lambda x: x.roll((1, 2), 0), r"roll: shifts and dimensions must align"),
    (lambda x: x.flip(0, 0), r"flip: dim \(0,\) appears multiple times|flip: dim .* multiple"),
    (lambda x: x.diagonal(0, 1, -2), r"diagonal: diagonal dimensions cannot be identical"),
    (lambda x: x[0, 0].tril(), r"tril: input tensor must have at least 2 dimensions"),
    (lambda x: x[0, 0].mT, r"tensor.mT is only supported on matrices"),
    (lambda x: x.t(), r"t\(\) expects a tensor with <= 2 dimensions, but self is 3D"),
    (lambda x: dg.cat([x, x[0]]), r"cat\(\): tensors must have same number of dimensions"),
    (lambda x: dg.cat([x, x[:, :2, :3]], 1), r"cat\(\): sizes of tensors must match except in "
                                             r"dimension 1. Expected size 4 but got size 3"),
    (lambda x: dg.cat([x[0, 0, 0]]), r"cat\(\): zero-dimensional tensor"),
    (lambda x: dg.cat([]), r"cat\(\): expected a non-empty list"),
    (lambda x: dg.stack([x, x[0]]), r"stack expects each tensor to be equal size, but got "
                                    r"\[2, 3, 4\] at entry 0 and \[3, 4\] at entry 1"),
    (lambda x: x.sum_to_size(2, 4), r"sum_to_size: size \[2, 4\] is not expandable"),
    (lambda x: dg.diagonal_scatter(x[0], dg.zeros(2)), r"diagonal_scatter: .*src size = \[2\], "
                                                       r"diagonal size = \[3\]"),
]


@pytest.mark.parametrize("fn, pattern", ERRORS)
def test_shape_errors_name_the_op_and_sizes(fn, pattern):
    with pytest.raises((RuntimeError, IndexError), match=pattern):
        fn(dg.tensor(X))
