"""OpInfo cases for the movement ops in dyngraph/ops/shape.py (and the composites built on them)."""

from __future__ import annotations

import numpy as np

import dyngraph as dg
from dyngraph._dispatch import apply
from dyngraph.ops.shape import to_device_op
from tests.conftest import torch
from tests.opinfo import OpCase, rand

A = rand(3, 4, seed=1)
B = rand(2, 3, 4, seed=2)
C = rand(4, 4, seed=3)


def _np_repeat(x, *reps):
    x = x.reshape((1,) * (len(reps) - x.ndim) + x.shape)
    return np.tile(x, reps)


def _np_diag_embed(x, offset=0, dim1=-2, dim2=-1):
    n = x.shape[-1] + abs(offset)
    out = np.zeros(x.shape[:-1] + (n, n))
    i = np.arange(x.shape[-1])
    r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
    out[..., r, c] = x
    return np.moveaxis(out, (-2, -1), (dim1, dim2))


def _np_diag_scatter(x, s, offset, a1, a2):
    out = x.copy()
    v = np.moveaxis(out, (a1, a2), (-2, -1))
    i = np.arange(s.shape[-1])
    r, c = (i, i + offset) if offset >= 0 else (i - offset, i)
    v[..., r, c] = s
    return out


CASES = [
    # reshape and the composites that are reshapes
    OpCase("reshape", lambda x: x.reshape(4, -1), [A], ref=lambda x: x.reshape(4, -1),
           torch_fn=lambda x: x.reshape(4, -1)),
    OpCase("reshape", lambda x: x.view(-1), [A], ref=lambda x: x.reshape(-1),
           torch_fn=lambda x: x.view(-1), name="view"),
    OpCase("reshape", lambda x: x.t().reshape(-1), [A], ref=lambda x: x.T.reshape(-1),
           torch_fn=lambda x: x.t().reshape(-1), name="noncontiguous"),
    OpCase("reshape", lambda x: x.flatten(1), [B], ref=lambda x: x.reshape(2, 12),
           torch_fn=lambda x: x.flatten(1), name="flatten"),
    OpCase("reshape", lambda x: x.unflatten(1, (2, -1)), [A], ref=lambda x: x.reshape(3, 2, 2),
           torch_fn=lambda x: x.unflatten(1, (2, -1)), name="unflatten"),
    OpCase("reshape", lambda x: x.unsqueeze(-1).unsqueeze(0).squeeze((0, 3)), [A],
           ref=lambda x: x, torch_fn=lambda x: x.unsqueeze(-1).unsqueeze(0).squeeze((0, 3)),
           name="squeeze_unsqueeze"),
    OpCase("reshape", lambda x: x.reshape(1, 3, 1, 4).squeeze(), [A], ref=lambda x: x,
           torch_fn=lambda x: x.reshape(1, 3, 1, 4).squeeze(), name="squeeze_all"),
    OpCase("reshape", lambda x: x.ravel(), [B], ref=np.ravel, torch_fn=lambda x: x.ravel(),
           name="ravel"),
    # permute family
    OpCase("permute", lambda x: x.permute(2, 0, 1), [B], ref=lambda x: x.transpose(2, 0, 1),
           torch_fn=lambda x: x.permute(2, 0, 1)),
    OpCase("permute", lambda x: x.transpose(0, -1), [B], ref=lambda x: np.swapaxes(x, 0, -1),
           torch_fn=lambda x: x.transpose(0, -1), name="transpose"),
    OpCase("permute", lambda x: x.t(), [A], ref=lambda x: x.T, torch_fn=lambda x: x.t(),
           name="t"),
    OpCase("permute", lambda x: x.mT, [B], ref=lambda x: np.swapaxes(x, -1, -2),
           torch_fn=lambda x: x.mT, name="mT"),
    OpCase("permute", lambda x: x.T, [A], ref=lambda x: x.T, torch_fn=lambda x: x.T, name="T"),
    OpCase("permute", lambda x: x.movedim((0, 1), (2, 0)), [B],
           ref=lambda x: np.moveaxis(x, (0, 1), (2, 0)),
           torch_fn=lambda x: x.movedim((0, 1), (2, 0)), name="movedim"),
    # expand, broadcasting and repeat
    OpCase("expand", lambda x: x[:, None].expand(3, 2, 4), [A],
           ref=lambda x: np.broadcast_to(x[:, None], (3, 2, 4)),
           torch_fn=lambda x: x[:, None].expand(3, 2, 4)),
    OpCase("expand", lambda x: x[:1].expand(2, -1, -1), [A],
           ref=lambda x: np.broadcast_to(x[:1], (2, 1, 4)),
           torch_fn=lambda x: x[:1].expand(2, -1, -1), name="leading"),
    OpCase("expand", lambda x, y: x[0].expand_as(y), [A, B],
           ref=lambda x, y: np.broadcast_to(x[0], y.shape),
           torch_fn=lambda x, y: x[0].expand_as(y), name="expand_as"),
    OpCase("expand", lambda x: x.repeat(2, 1, 3), [A], ref=lambda x: _np_repeat(x, 2, 1, 3),
           torch_fn=lambda x: x.repeat(2, 1, 3), name="repeat"),
    OpCase("expand", lambda x: x.tile((2,)), [A], ref=lambda x: np.tile(x, (2,)),
           torch_fn=lambda x: x.tile((2,)), name="tile"),
    OpCase("expand", lambda x: dg.tile(x, (2, 1, 2)), [A], ref=lambda x: np.tile(x, (2, 1, 2)),
           torch_fn=lambda x: torch.tile(x, (2, 1, 2)), name="tile_more_dims"),
    OpCase("sum_to_size", lambda x: x.sum_to_size(1, 4), [A],
           ref=lambda x: x.sum(0, keepdims=True), torch_fn=lambda x: x.sum_to_size(1, 4)),
    OpCase("sum_to_size", lambda x: x.sum_to_size(3, 1), [B],
           ref=lambda x: x.sum((0, 2), keepdims=True).reshape(3, 1),
           torch_fn=lambda x: x.sum_to_size(3, 1), name="leading"),
    # copies and devices
    OpCase("copy", lambda x: x.t().contiguous(), [A], ref=lambda x: x.T.copy(),
           torch_fn=lambda x: x.t().contiguous()),
    OpCase("copy", lambda x: x.clone(), [A], ref=np.copy, torch_fn=lambda x: x.clone(),
           name="clone"),
    OpCase("to_device", lambda x: apply(to_device_op, x * 1, device=x.device, src=x.device),
           [A], ref=lambda x: x),
    # joins and splits
    OpCase("cat", lambda x, y: dg.cat([x, y[0], x], dim=0), [A, B],
           ref=lambda x, y: np.concatenate([x, y[0], x], 0),
           torch_fn=lambda x, y: torch.cat([x, y[0], x], dim=0)),
    OpCase("cat", lambda x, y: dg.cat([x, y], dim=-1), [A, C[:3]],
           ref=lambda x, y: np.concatenate([x, y], -1),
           torch_fn=lambda x, y: torch.cat([x, y], dim=-1), name="last_dim"),
    OpCase("cat", lambda x, y: dg.stack([x, y], dim=1), [A, C[:3]],
           ref=lambda x, y: np.stack([x, y], 1),
           torch_fn=lambda x, y: torch.stack([x, y], dim=1), name="stack"),
    OpCase("cat", lambda x, y: dg.hstack([x, y]), [A, C[:3]], ref=lambda x, y: np.hstack([x, y]),
           torch_fn=lambda x, y: torch.hstack([x, y]), name="hstack"),
    OpCase("cat", lambda x, y: dg.vstack([x[0], y]), [A, C], ref=lambda x, y: np.vstack([x[0], y]),
           torch_fn=lambda x, y: torch.vstack([x[0], y]), name="vstack"),
    OpCase("cat", lambda x, y: dg.dstack([x, y[:3]]), [A, C],
           ref=lambda x, y: np.dstack([x, y[:3]]),
           torch_fn=lambda x, y: torch.dstack([x, y[:3]]), name="dstack"),
    OpCase("getitem", lambda x: x.narrow(1, 1, 2), [A], ref=lambda x: x[:, 1:3],
           torch_fn=lambda x: x.narrow(1, 1, 2), name="narrow"),
    OpCase("getitem", lambda x: x.narrow(0, -2, 2), [A], ref=lambda x: x[1:3],
           torch_fn=lambda x: x.narrow(0, -2, 2), name="narrow_negative_start"),
    OpCase("getitem", lambda x: x.select(2, -1), [B], ref=lambda x: x[:, :, -1],
           torch_fn=lambda x: x.select(2, -1), name="select"),
    OpCase("getitem", lambda x: x.split(2, 1), [B],
           ref=lambda x: (x[:, :2], x[:, 2:]),
           torch_fn=lambda x: x.split(2, 1), name="split_int"),
    OpCase("getitem", lambda x: dg.cat(dg.split(x, [1, 0, 3], dim=1)[::-1], 1), [A],
           ref=lambda x: np.concatenate([x[:, 1:], x[:, :1]], 1),
           torch_fn=lambda x: torch.cat(torch.split(x, [1, 0, 3], dim=1)[::-1], 1),
           name="split_sizes"),
    OpCase("getitem", lambda x: dg.stack(x.chunk(3, -1), 0), [rand(2, 6, seed=4)],
           ref=lambda x: np.stack(np.split(x, 3, -1), 0),
           torch_fn=lambda x: torch.stack(x.chunk(3, -1), 0), name="chunk"),
    OpCase("getitem", lambda x: dg.cat(x.unbind(1), 0), [A],
           ref=lambda x: np.concatenate([x[:, i] for i in range(4)], 0),
           torch_fn=lambda x: torch.cat(x.unbind(1), 0), name="unbind"),
    # flips and rolls
    OpCase("flip", lambda x: x.flip(0, 2), [B], ref=lambda x: np.flip(x, (0, 2)),
           torch_fn=lambda x: x.flip(0, 2)),
    OpCase("flip", lambda x: dg.fliplr(x), [A], ref=np.fliplr, torch_fn=torch and torch.fliplr,
           name="fliplr"),
    OpCase("flip", lambda x: dg.flipud(x), [A], ref=np.flipud, torch_fn=torch and torch.flipud,
           name="flipud"),
    OpCase("roll", lambda x: x.roll((1, -3), (0, 2)), [B],
           ref=lambda x: np.roll(x, (1, -3), (0, 2)),
           torch_fn=lambda x: x.roll((1, -3), (0, 2))),
    OpCase("roll", lambda x: x.roll(5), [A], ref=lambda x: np.roll(x, 5),
           torch_fn=lambda x: x.roll(5), name="flattened"),
    # triangles and diagonals
    OpCase("tril", lambda x: x.tril(), [C], ref=np.tril, torch_fn=lambda x: x.tril()),
    OpCase("tril", lambda x: dg.tril(x, -1), [B], ref=lambda x: np.tril(x, -1),
           torch_fn=lambda x: torch.tril(x, -1), name="batched_below"),
    OpCase("triu", lambda x: x.triu(1), [A], ref=lambda x: np.triu(x, 1),
           torch_fn=lambda x: x.triu(1)),
    OpCase("triu", lambda x: dg.triu(x, -1), [B], ref=lambda x: np.triu(x, -1),
           torch_fn=lambda x: torch.triu(x, -1), name="batched_below"),
    OpCase("diagonal", lambda x: x.diagonal(), [A], ref=np.diagonal,
           torch_fn=lambda x: x.diagonal()),
    OpCase("diagonal", lambda x: x.diagonal(1, 0, 2), [B],
           ref=lambda x: np.diagonal(x, 1, 0, 2), torch_fn=lambda x: x.diagonal(1, 0, 2),
           name="offset_dims"),
    OpCase("diagonal", lambda x: x.diagonal(-1, -1, -2), [B],
           ref=lambda x: np.diagonal(x, -1, -1, -2), torch_fn=lambda x: x.diagonal(-1, -1, -2),
           name="negative_offset"),
    OpCase("diagonal", lambda x: dg.diag(x, 1), [A], ref=lambda x: np.diag(x, 1),
           torch_fn=lambda x: torch.diag(x, 1), name="diag_of_matrix"),
    OpCase("diagonal_scatter", lambda x, s: dg.diagonal_scatter(x, s, 1), [A, rand(3, seed=5)],
           ref=lambda x, s: _np_diag_scatter(x, s, 1, 0, 1),
           torch_fn=lambda x, s: torch.diagonal_scatter(x, s, 1)),
    OpCase("diagonal_scatter", lambda x, s: dg.diagonal_scatter(x, s, -1, 2, 1),
           [B, rand(2, 3, seed=6)], ref=lambda x, s: _np_diag_scatter(x, s, -1, 2, 1),
           torch_fn=lambda x, s: torch.diagonal_scatter(x, s, -1, 2, 1), name="dims"),
    OpCase("diagonal_scatter", lambda x: dg.diag_embed(x), [A], ref=_np_diag_embed,
           torch_fn=lambda x: torch.diag_embed(x), name="diag_embed"),
    OpCase("diagonal_scatter", lambda x: dg.diag_embed(x, -1, 0, 2), [A],
           ref=lambda x: _np_diag_embed(x, -1, 0, 2),
           torch_fn=lambda x: torch.diag_embed(x, -1, 0, 2), name="diag_embed_dims"),
    OpCase("diagonal_scatter", lambda x: dg.diag(x[0], -2), [A], ref=lambda x: np.diag(x[0], -2),
           torch_fn=lambda x: torch.diag(x[0], -2), name="diag_of_vector"),
]
