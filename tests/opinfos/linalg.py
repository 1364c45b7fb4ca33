"""OpInfo cases for dyngraph/ops/linalg.py: matmul and the products built on it, einsum and the
contractions built on it (tensordot, inner)."""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from tests.conftest import torch
from tests.opinfo import OpCase, rand


def _r(*shape, seed):
    return rand(*shape, seed=seed)


def _ein(eq, *shapes, name, seed=40):
    """An einsum case checked against numpy's einsum and torch.einsum."""
    inputs = [_r(*s, seed=seed + i) for i, s in enumerate(shapes)]
    return OpCase("einsum", lambda *xs: dg.einsum(eq, *xs), inputs,
                  ref=lambda *xs: np.einsum(eq, *xs),
                  torch_fn=lambda *xs: torch.einsum(eq, *xs), name=name)


CASES = [
    # ----- matmul and its 1-D / batched forms -----
    OpCase("matmul", lambda a, b: a @ b, [_r(3, 4, seed=30), _r(4, 5, seed=31)],
           ref=np.matmul, torch_fn=lambda a, b: a @ b, name="2d"),
    OpCase("matmul", dg.matmul, [_r(4, seed=32), _r(4, 5, seed=33)], ref=np.matmul,
           torch_fn=lambda a, b: a @ b, name="1d_2d"),
    OpCase("matmul", dg.matmul, [_r(3, 4, seed=34), _r(4, seed=35)], ref=np.matmul,
           torch_fn=lambda a, b: a @ b, name="2d_1d"),
    OpCase("matmul", lambda a, b: a.matmul(b), [_r(4, seed=36), _r(4, seed=37)], ref=np.matmul,
           torch_fn=lambda a, b: a @ b, name="1d_1d"),
    OpCase("matmul", dg.matmul, [_r(2, 3, 4, seed=38), _r(4, 5, seed=39)], ref=np.matmul,
           torch_fn=lambda a, b: a @ b, name="batch_2d"),
    OpCase("matmul", dg.matmul, [_r(2, 1, 3, 4, seed=40), _r(3, 4, 2, seed=41)], ref=np.matmul,
           torch_fn=lambda a, b: a @ b, name="batch_broadcast"),
    OpCase("matmul", dg.matmul, [_r(4, seed=42), _r(2, 4, 3, seed=43)], ref=np.matmul,
           torch_fn=lambda a, b: a @ b, name="1d_batch"),
    OpCase("mm", dg.mm, [_r(3, 4, seed=44), _r(4, 2, seed=45)], ref=np.matmul,
           torch_fn=torch.mm if torch else None, composite=True),
    OpCase("bmm", lambda a, b: a.bmm(b), [_r(2, 3, 4, seed=46), _r(2, 4, 2, seed=47)],
           ref=np.matmul, torch_fn=lambda a, b: a.bmm(b), composite=True),
    OpCase("mv", dg.mv, [_r(3, 4, seed=48), _r(4, seed=49)], ref=np.matmul,
           torch_fn=lambda a, b: a.mv(b), composite=True),
    OpCase("dot", dg.dot, [_r(5, seed=50), _r(5, seed=51)], ref=np.dot,
           torch_fn=lambda a, b: a.dot(b), composite=True),
    OpCase("outer", dg.outer, [_r(3, seed=52), _r(4, seed=53)], ref=np.outer,
           torch_fn=lambda a, b: a.outer(b), composite=True),
    OpCase("addmm", lambda c, a, b: dg.addmm(c, a, b, beta=0.5, alpha=2.0),
           [_r(3, 2, seed=54), _r(3, 4, seed=55), _r(4, 2, seed=56)],
           ref=lambda c, a, b: 0.5 * c + 2.0 * a @ b,
           torch_fn=lambda c, a, b: c.addmm(a, b, beta=0.5, alpha=2.0), composite=True),
    OpCase("addmm", lambda c, a, b: c.addmm(a, b), [_r(2, seed=57), _r(3, 4, seed=58),
                                                    _r(4, 2, seed=59)],
           ref=lambda c, a, b: c + a @ b, torch_fn=lambda c, a, b: c.addmm(a, b),
           composite=True, name="broadcast_input"),
    OpCase("baddbmm", lambda c, a, b: dg.baddbmm(c, a, b, beta=2.0, alpha=-1.0),
           [_r(2, 3, 2, seed=60), _r(2, 3, 4, seed=61), _r(2, 4, 2, seed=62)],
           ref=lambda c, a, b: 2.0 * c - a @ b,
           torch_fn=lambda c, a, b: c.baddbmm(a, b, beta=2.0, alpha=-1.0), composite=True),
    OpCase("addmv", lambda c, a, b: dg.addmv(c, a, b, beta=0.0),
           [_r(3, seed=63), _r(3, 4, seed=64), _r(4, seed=65)],
           ref=lambda c, a, b: a @ b, torch_fn=lambda c, a, b: c.addmv(a, b, beta=0.0),
           composite=True),
    OpCase("tensordot", lambda a, b: dg.tensordot(a, b, dims=([1, 0], [0, 2])),
           [_r(3, 4, 2, seed=66), _r(4, 5, 3, seed=67)],
           ref=lambda a, b: np.tensordot(a, b, axes=([1, 0], [0, 2])),
           torch_fn=lambda a, b: torch.tensordot(a, b, dims=([1, 0], [0, 2])), composite=True),
    OpCase("tensordot", lambda a, b: dg.tensordot(a, b), [_r(2, 3, 4, seed=68),
                                                          _r(3, 4, 2, seed=69)],
           ref=lambda a, b: np.tensordot(a, b), torch_fn=lambda a, b: torch.tensordot(a, b),
           composite=True, name="int_dims"),
    OpCase("inner", dg.inner, [_r(2, 3, seed=70), _r(4, 3, seed=71)], ref=np.inner,
           torch_fn=lambda a, b: a.inner(b), composite=True),
    # ----- einsum -----
    _ein("ij,jk->ik", (3, 4), (4, 2), name="matmul"),
    _ein("ij,jk", (3, 4), (4, 2), name="implicit"),
    _ein("bij,bjk->bik", (2, 3, 4), (2, 4, 2), name="batched"),
    _ein("...ij,...jk->...ik", (2, 3, 4), (4, 2), name="ellipsis_broadcast"),
    _ein("...ij,...jk", (1, 3, 4), (2, 4, 2), name="ellipsis_size1"),
    _ein("ii->i", (4, 4), name="diagonal"),
    _ein("ii", (4, 4), name="trace"),
    _ein("iij,jk->ik", (3, 3, 2), (2, 4), name="repeated_contracted"),
    _ein("ij->", (3, 4), name="sum_all"),
    _ein("ij->j", (3, 4), name="sum_dim"),
    _ein("ij->ji", (3, 4), name="transpose"),
    _ein("i,j->ij", (3,), (4,), name="outer"),
    _ein("ij,kl->jl", (3, 2), (4, 5), name="summed_away_each"),
    _ein("ij,jk,kl->il", (2, 3), (3, 4), (4, 2), name="three_operands"),
    _ein("bhqd,bhkd->bhqk", (2, 2, 3, 4), (2, 2, 5, 4), name="attention"),
    _ein("ij,jk->ik", (3, 1), (2, 4), name="label_broadcast"),
    OpCase("einsum", lambda a, b: dg.einsum("ij,jk->ik", [a, b]),
           [_r(2, 3, seed=72), _r(3, 2, seed=73)], ref=lambda a, b: a @ b,
           torch_fn=lambda a, b: torch.einsum("ij,jk->ik", [a, b]), name="list_form"),
    OpCase("einsum", lambda a, b: dg.einsum(a, [0, 1], b, [1, 2], [0, 2]),
           [_r(2, 3, seed=74), _r(3, 2, seed=75)], ref=lambda a, b: a @ b,
           torch_fn=lambda a, b: torch.einsum(a, [0, 1], b, [1, 2], [0, 2]),
           name="sublist_form"),
]
