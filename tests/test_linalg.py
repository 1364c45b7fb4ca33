"""matmul and friends, einsum and tensordot against PyTorch and numpy: shapes, broadcasting,
gradients (also second order), half precision, and the errors users see."""

from __future__ import annotations

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.autograd import gradcheck, gradgradcheck
from tests.conftest import assert_close, requires_torch, to_np, torch

RNG = np.random.default_rng(7)


def _arrays(*shapes):
    return [RNG.standard_normal(s) for s in shapes]


def _check(dfn, tfn, arrays, dtype="float64"):
    """Forward and input gradients of dfn vs tfn (torch) on the same values."""
    ds = [dg.tensor(a, dtype=getattr(dg, dtype), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True) for a in arrays]
    got, want = dfn(*ds), tfn(*ts)
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want, dtype)
    seed = RNG.standard_normal(tuple(want.shape))
    want.backward(torch.tensor(seed, dtype=want.dtype))
    got.backward(dg.tensor(seed, dtype=got.dtype))
    for d, t in zip(ds, ts):
        assert_close(d.grad, t.grad, dtype)


MATMUL_SHAPES = [((3,), (3,)), ((3,), (3, 4)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                 ((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,)),
                 ((5, 1, 2, 3), (4, 3, 2)), ((1, 2, 3), (6, 3, 1)), ((0, 3), (3, 2))]


@requires_torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=str)
def test_matmul_shapes_match_torch(sa, sb, dtype):
    _check(lambda a, b: a @ b, lambda a, b: a @ b, _arrays(sa, sb), dtype)


@requires_torch
@pytest.mark.parametrize("name, shapes", [
    ("mm", [(3, 4), (4, 2)]), ("bmm", [(2, 3, 4), (2, 4, 5)]), ("mv", [(3, 4), (4,)]),
    ("dot", [(4,), (4,)]), ("outer", [(3,), (2,)]), ("inner", [(2, 3), (4, 3)]),
    ("addmm", [(2,), (3, 4), (4, 2)]), ("baddbmm", [(1, 3, 2), (2, 3, 4), (2, 4, 2)]),
    ("addmv", [(3,), (3, 4), (4,)]),
])
def test_products_match_torch(name, shapes):
    _check(getattr(dg, name), getattr(torch, name), _arrays(*shapes))
    if name.startswith("add") or name.startswith("badd"):
        def scaled(dfn):
            return lambda c, a, b: dfn(c, a, b, beta=0.5, alpha=-2.0)
        _check(scaled(getattr(dg, name)), scaled(getattr(torch, name)), _arrays(*shapes))


def test_addmm_beta_zero_ignores_nan_input():
    c = dg.full((2, 2), float("nan"))
    a, b = dg.ones(2, 3), dg.ones(3, 2)
    np.testing.assert_array_equal(to_np(dg.addmm(c, a, b, beta=0)), np.full((2, 2), 3.0))
    x = dg.zeros(2, 2)
    assert x.addmm_(a, b, alpha=2) is x and x.tolist() == [[6.0, 6.0], [6.0, 6.0]]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_matmul_keeps_dtype(dtype):
    a, b = _arrays((8, 16), (16, 4))
    got = dg.tensor(a, dtype=getattr(dg, dtype)) @ dg.tensor(b, dtype=getattr(dg, dtype))
    assert got.dtype is getattr(dg, dtype)
    ah = to_np(dg.tensor(a, dtype=getattr(dg, dtype))).astype(np.float64)
    bh = to_np(dg.tensor(b, dtype=getattr(dg, dtype))).astype(np.float64)
    np.testing.assert_allclose(to_np(got), ah @ bh, rtol=2e-2, atol=5e-2)
    e = dg.einsum("ij,jk->ik", dg.tensor(a, dtype=getattr(dg, dtype)),
                  dg.tensor(b, dtype=getattr(dg, dtype)))
    assert e.dtype is getattr(dg, dtype)
    np.testing.assert_allclose(to_np(e), ah @ bh, rtol=2e-2, atol=5e-2)


def test_integer_matmul():
    a = dg.tensor([[1, 2], [3, 4]])
    assert (a @ a).dtype is dg.int64
    assert (a @ a).tolist() == [[7, 10], [15, 22]]


@pytest.mark.parametrize("fn, shapes", [
    (lambda a, b: a @ b, [(2, 3), (3, 4)]),
    (lambda a, b: a @ b, [(2, 2, 3), (3,)]),
    (lambda a, b: dg.einsum("bij,bjk->bik", a, b), [(2, 2, 3), (2, 3, 2)]),
    (lambda a: dg.einsum("ii->i", a), [(3, 3)]),
    (lambda a, b: dg.einsum("ij,kl->jl", a, b), [(2, 3), (4, 2)]),
    (lambda a, b: dg.einsum("...ij,...jk", a, b), [(1, 2, 3), (2, 3, 2)]),
], ids=["matmul", "matmul_1d", "einsum_batched", "einsum_diag", "einsum_summed_away",
        "einsum_broadcast"])
def test_second_order_gradients(fn, shapes):
    xs = [dg.tensor(a, requires_grad=True) for a in _arrays(*shapes)]
    assert gradcheck(fn, xs, atol=1e-6, rtol=1e-4)
    assert gradgradcheck(fn, xs, atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------------------------
# einsum
# ----------------------------------------------------------------------------------------------

EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 2)]), ("ij,jk", [(3, 4), (4, 2)]), ("ji", [(3, 4)]),
    ("ii->i", [(4, 4)]), ("ii", [(4, 4)]), ("iij->j", [(3, 3, 2)]), ("iji->j", [(3, 2, 3)]),
    ("ij,ij->ij", [(2, 3), (2, 3)]), ("ij,ij->", [(2, 3), (2, 3)]), ("i,i", [(5,), (5,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("b i j , b j k -> b i k", [(2, 3, 4), (2, 4, 5)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]), ("...ii->...i", [(2, 3, 3)]),
    ("i...->...", [(2, 3, 4)]), ("...->...", [(2, 3)]), ("...j,j", [(2, 3), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]), ("ab,cd->", [(2, 3), (4, 5)]),
    ("abc,cd,ab->bd", [(2, 3, 4), (4, 5), (2, 3)]), ("Ab,bA->A", [(3, 2), (2, 3)]),
    ("ij,jk->ik", [(3, 1), (2, 4)]), ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("i,j,k->ijk", [(2,), (3,), (4,)]), ("iijj->ij", [(2, 2, 3, 3)]),
]


@requires_torch
@pytest.mark.parametrize("eq, shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum_matches_torch(eq, shapes):
    arrays = _arrays(*shapes)
    _check(lambda *xs: dg.einsum(eq, *xs), lambda *xs: torch.einsum(eq, *xs), arrays)
    np.testing.assert_allclose(to_np(dg.einsum(eq, *[dg.tensor(a) for a in arrays])),
                               np.einsum(eq.replace(" ", ""), *arrays), rtol=1e-10,
                               atol=1e-12)


@requires_torch
def test_einsum_list_and_sublist_forms():
    a, b = _arrays((2, 3), (3, 4))
    want = a @ b
    np.testing.assert_allclose(to_np(dg.einsum("ij,jk", [dg.tensor(a), dg.tensor(b)])), want)
    np.testing.assert_allclose(to_np(dg.einsum(dg.tensor(a), [0, 1], dg.tensor(b), [1, 2],
                                               [0, 2])), want)
    c = RNG.standard_normal((5, 2, 3))
    got = dg.einsum(dg.tensor(c), [Ellipsis, 0, 1], [Ellipsis, 1])
    np.testing.assert_allclose(to_np(got),
                               torch.einsum(torch.tensor(c), [Ellipsis, 0, 1],
                                            [Ellipsis, 1]).numpy())


def test_einsum_result_owns_its_memory():
    x = dg.tensor([[1.0, 2.0], [3.0, 4.0]])
    for eq in ("ij->ji", "ii->i", "ij->ij"):
        y = dg.einsum(eq, x)
        y += 100
        assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]], eq


@pytest.mark.parametrize("args, pattern", [
    (("ij,jk->ik", (2, 3)), "fewer operands were provided than specified"),
    (("ij->ij", (2, 3), (3, 3)), "more operands were provided than specified"),
    (("ij->ii", (2, 2)), "output subscript i appears more than once"),
    (("ij->k", (2, 2)), "output subscript k does not appear"),
    (("i1->i", (2, 2)), "invalid subscript '1'"),
    (("ij", (2, 3, 4)), "number of subscripts in the equation \\(2\\) does not match the "
                        "number of dimensions \\(3\\) for operand 0 and no ellipsis"),
    (("ii->i", (2, 3)), "subscript i is repeated for operand 0 but the sizes don't match, "
                        "2 != 3"),
    (("ij,jk->ik", (2, 2), (3, 4)), "subscript j has size 3 for operand 1 which does not "
                                    "broadcast with previously seen size 2"),
    (("...ij", (3,)), "more than the number of dimensions"),
])
def test_einsum_errors(args, pattern):
    eq, *shapes = args
    with pytest.raises(RuntimeError, match=pattern):
        dg.einsum(eq, *[dg.ones(*s) for s in shapes])


TENSORDOTS = [((2, 3, 4), (3, 4, 5), 2), ((2, 3, 4), (4, 5), 1), ((2, 3), (4,), 0),
              ((3, 4, 2), (4, 5, 3), ([1, 0], [0, 2])), ((2, 3, 4), (2, 4, 3), ([2], [1]))]


@requires_torch
@pytest.mark.parametrize("sa, sb, dims", TENSORDOTS, ids=str)
def test_tensordot_matches_torch(sa, sb, dims):
    _check(lambda x, y: dg.tensordot(x, y, dims), lambda x, y: torch.tensordot(x, y, dims),
           _arrays(sa, sb))


# ----------------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------------

def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"^matmul: shapes \(64, 784\) and \(512, 10\) cannot "
                                           r"be multiplied \(784 != 512\)$"):
        dg.ones(64, 784) @ dg.ones(512, 10)


@pytest.mark.parametrize("call, pattern", [
    (lambda: dg.matmul(dg.ones(3), dg.ones(4)), r"shapes \(3,\) and \(4,\) cannot be multiplied"),
    (lambda: dg.ones(2, 3, 4) @ dg.ones(3, 4, 5), r"batch dimensions \(2,\) and \(3,\)"),
    (lambda: dg.matmul(dg.tensor(2.0), dg.ones(2)), "both arguments need at least 1 dimension"),
    (lambda: dg.ones(2, 3) @ dg.ones(3, 2, dtype=dg.float64),
     "expected both operands to have the same dtype, but got float32 and float64"),
    (lambda: dg.mm(dg.ones(2, 3), dg.ones(2, 3)), r"mm: shapes \(2, 3\) and \(2, 3\) cannot"),
    (lambda: dg.mm(dg.ones(2, 3, 1), dg.ones(2, 3)), "mm: expected 2-D tensors"),
    (lambda: dg.bmm(dg.ones(2, 2, 3), dg.ones(3, 3, 4)), "bmm: batch sizes differ"),
    (lambda: dg.bmm(dg.ones(2, 2, 3), dg.ones(2, 4, 4)), r"bmm: shapes .* \(3 != 4\)"),
    (lambda: dg.bmm(dg.ones(2, 3), dg.ones(3, 4)), "batch1 must be a 3D tensor"),
    (lambda: dg.mv(dg.ones(2, 3), dg.ones(4)), r"mv: shapes \(2, 3\) and \(4,\)"),
    (lambda: dg.dot(dg.ones(3), dg.ones(4)), "inconsistent tensor size"),
    (lambda: dg.dot(dg.ones(3, 1), dg.ones(3)), "1D tensors expected"),
    (lambda: dg.outer(dg.ones(3, 1), dg.ones(3)), "outer: expected 1-D tensors"),
    (lambda: dg.tensordot(dg.ones(2, 3), dg.ones(4, 5), 1), "contracted dimensions need to match"),
])
def test_linalg_errors(call, pattern):
    with pytest.raises(RuntimeError, match=pattern):
        call()


# ----------------------------------------------------------------------------------------------
# random equations (hypothesis)
# ----------------------------------------------------------------------------------------------

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a test extra
    given = None


def _equations():
    """(equation, shapes): 1-3 operands over letters a-d (repeats allowed), fixed letter sizes,
    explicit or implicit output."""
    sizes = {"a": 2, "b": 3, "c": 1, "d": 4}
    term = st.lists(st.sampled_from("abcd"), min_size=0, max_size=3).map("".join)

    @st.composite
    def build(draw):
        terms = draw(st.lists(term, min_size=1, max_size=3))
        used = sorted(set("".join(terms)))
        explicit = draw(st.booleans())
        eq = ",".join(terms)
        if explicit:
            out = draw(st.permutations(used).flatmap(
                lambda p: st.integers(0, len(p)).map(lambda n: "".join(p[:n]))))
            eq += "->" + out
        return eq, [tuple(sizes[c] for c in t) for t in terms]
    return build()


if given is not None:
    @requires_torch
    @settings(max_examples=60, deadline=None)
    @given(_equations())
    def test_random_einsum_matches_numpy_and_torch_gradients(case):
        eq, shapes = case
        arrays = [np.random.default_rng(len(eq)).standard_normal(s) for s in shapes]
        got = dg.einsum(eq, *[dg.tensor(a) for a in arrays])
        np.testing.assert_allclose(to_np(got), np.einsum(eq, *arrays), rtol=1e-10, atol=1e-12)
        _check(lambda *xs: dg.einsum(eq, *xs), lambda *xs: torch.einsum(eq, *xs), arrays)
