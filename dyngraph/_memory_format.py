"""Memory formats and layouts: `dyngraph.contiguous_format`, `channels_last`,
`channels_last_3d`, `preserve_format`, `dyngraph.strided` (`Tensor.layout`).

A tensor's numpy/cupy array carries strides, so channels_last is real: `x.contiguous(
memory_format=dyngraph.channels_last)` permutes to NHWC, copies, and permutes back, giving an
(N, C, H, W) tensor with strides (HWC, 1, WC, C) as in PyTorch. Elementwise ops keep that layout
(numpy's ufuncs allocate outputs in their inputs' order). `Tensor.contiguous`, `clone`, `to` and
`is_contiguous` (ops/shape/copies.py, _tensor.py) take `memory_format=` and call the helpers
here for anything but the row-major default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._tensor import Tensor


__all__ = ["memory_format", "contiguous_format", "channels_last", "channels_last_3d",
           "preserve_format", "layout", "strided"]


class memory_format:
    """How a tensor's elements are ordered in memory (PyTorch's `torch.memory_format`)."""

    def __init__(self, name: str, perm: tuple | None = None, rank: int | None = None):
        self.name = name
        self._perm = perm  # the dims in memory order, outermost first (None: not a layout)
        self._rank = rank

    def __repr__(self) -> str:
        return f"dyngraph.{self.name}"

    def __reduce__(self):
        return self.name


class layout:
    """How a tensor is stored (PyTorch's `torch.layout`); dyngraph has only `strided`."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"dyngraph.{self.name}"

    def __reduce__(self):
        return self.name


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last", (0, 2, 3, 1), 4)
channels_last_3d = memory_format("channels_last_3d", (0, 2, 3, 4, 1), 5)
strided = layout("strided")


def check_format(fmt, t: Tensor, op: str) -> None:
    """`fmt` is a memory_format usable for t (channels-last ones need rank 4 or 5)."""
    if not isinstance(fmt, memory_format):
        raise TypeError(f"{op}(): argument 'memory_format' must be dyngraph.memory_format, not "
                        f"{type(fmt).__name__}")
    if fmt._rank is not None and t.ndim != fmt._rank:
        raise RuntimeError(f"required rank {fmt._rank} tensor to use {fmt.name} format")


def _is_dense_in(t: Tensor, perm: tuple) -> bool:
    """Whether t's elements lie densely in `perm` order (size-1 dims may have any stride)."""
    shape, strides = t.shape, t.stride()
    expected = 1
    for d in reversed(perm):
        if shape[d] != 1:
            if strides[d] != expected:
                return False
            expected *= shape[d]
    return True


def _inverse(perm: tuple) -> list:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def _copy_in(t: Tensor, fmt: memory_format) -> Tensor:
    """A copy of t whose memory is dense in fmt's order."""
    from .ops.shape.copies import copy_op
    from ._dispatch import apply
    return apply(copy_op, t.permute(*fmt._perm)).permute(*_inverse(fmt._perm))


def _suggest_format(t: Tensor):
    """The channels-last format t is laid out in, or None (for preserve_format)."""
    for fmt in (channels_last, channels_last_3d):
        if t.ndim == fmt._rank and not t._data.flags.c_contiguous and \
                _is_dense_in(t, fmt._perm):
            return fmt
    return None


def contiguous_in(t: Tensor, fmt: memory_format) -> Tensor:
    """t if its memory is dense in fmt's order, else a copy that is (fmt not row-major)."""
    check_format(fmt, t, "contiguous")
    if fmt is preserve_format:
        raise RuntimeError("preserve memory format is unsupported by the contiguous operator")
    return t if _is_dense_in(t, fmt._perm) else _copy_in(t, fmt)


def clone_in(t: Tensor, fmt) -> Tensor | None:
    """A copy of t laid out in fmt (preserve_format or None: t's own channels-last layout),
    or None for a plain row-major copy."""
    if fmt is preserve_format or fmt is None:
        fmt = _suggest_format(t)
        if fmt is None:
            return None
    elif fmt is contiguous_format:
        return None
    check_format(fmt, t, "clone")
    return _copy_in(t, fmt)


def is_contiguous_in(t: Tensor, fmt) -> bool:
    """Whether t's memory is dense in fmt's order (fmt not row-major)."""
    if not isinstance(fmt, memory_format):
        raise TypeError(f"is_contiguous(): argument 'memory_format' must be "
                        f"dyngraph.memory_format, not {type(fmt).__name__}")
    if fmt._perm is None or t.ndim != fmt._rank:
        return False
    return _is_dense_in(t, fmt._perm)
