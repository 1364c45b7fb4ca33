"""`default_collate` / `default_convert`: turn a list of samples into a batch of tensors."""

from __future__ import annotations

import collections.abc
import copy
import re
from typing import Any, Callable

import numpy as np

from ... import _dtype as D
from ..._tensor import Tensor

__all__ = ["default_collate", "default_convert", "collate", "default_collate_fn_map"]

_STR_OR_OBJECT = re.compile(r"[SaUO]")  # numpy dtypes that cannot become tensors
_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def default_convert(data: Any) -> Any:
    """Convert numpy arrays and scalars to tensors, recursing into dicts and sequences (used when
    batching is off, `batch_size=None`)."""
    from ...ops.creation import as_tensor
    if isinstance(data, Tensor):
        return data
    if isinstance(data, (np.ndarray, np.generic)) and not isinstance(data, (np.str_, np.bytes_)):
        if isinstance(data, np.ndarray) and _STR_OR_OBJECT.search(data.dtype.str):
            return data
        return as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {k: default_convert(data[k]) for k in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # PyTorch returns a list here
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _rebuild_mapping(like, values: dict):
    try:
        if isinstance(like, collections.abc.MutableMapping):
            clone = copy.copy(like)
            clone.update(values)
            return clone
        return type(like)(values)
    except TypeError:
        return values


def _rebuild_sequence(like, values: list):
    try:
        if isinstance(like, collections.abc.MutableSequence):
            clone = copy.copy(like)
            for i, v in enumerate(values):
                clone[i] = v
            return clone
        return type(like)(values)
    except TypeError:
        return values


def _collate_tensors(batch, *, collate_fn_map=None) -> Tensor:
    from ...ops.shape import stack
    shapes = {tuple(t.shape) for t in batch}
    if len(shapes) > 1:
        raise RuntimeError(
            f"default_collate: stack expects each tensor to be equal size, but got tensors of "
            f"shapes {sorted(shapes)} in one batch; pad the samples to one shape or pass a "
            "custom collate_fn")
    return stack(list(batch), 0)


def _collate_arrays(batch, *, collate_fn_map=None):
    from ...ops.creation import as_tensor
    if _STR_OR_OBJECT.search(batch[0].dtype.str):
        raise TypeError(_ERR.format(batch[0].dtype))
    return collate([as_tensor(b) for b in batch], collate_fn_map=collate_fn_map)


def _collate_np_scalars(batch, *, collate_fn_map=None):
    from ...ops.creation import as_tensor
    return as_tensor(np.array(batch))


def _collate_floats(batch, *, collate_fn_map=None):
    from ...ops.creation import tensor
    return tensor(list(batch), dtype=D.float64)


def _collate_ints(batch, *, collate_fn_map=None):
    from ...ops.creation import tensor
    return tensor(list(batch))


def _collate_strs(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {
    Tensor: _collate_tensors,
    np.ndarray: _collate_arrays,
    (np.bool_, np.number): _collate_np_scalars,
    float: _collate_floats,
    int: _collate_ints,
    str: _collate_strs,
    bytes: _collate_strs,
}


def collate(batch, *, collate_fn_map: dict | None = None):
    """Collate `batch` using `collate_fn_map` ({type: fn(batch, collate_fn_map=...)}) for the
    leaves, and recursing into mappings, namedtuples and sequences as PyTorch does."""
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for kind, fn in collate_fn_map.items():
            if isinstance(elem, kind):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        for d in batch:
            if d.keys() != elem.keys():
                raise RuntimeError(
                    f"default_collate: samples in one batch have different keys: "
                    f"{sorted(map(str, elem.keys()))} and {sorted(map(str, d.keys()))}")
        return _rebuild_mapping(elem, {k: collate([d[k] for d in batch],
                                                  collate_fn_map=collate_fn_map) for k in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return elem_type(*(collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return columns  # PyTorch returns a list for tuples (backwards compatibility)
        return _rebuild_sequence(elem, columns)
    raise TypeError(_ERR.format(elem_type))


def default_collate(batch: list) -> Any:
    """Stack a list of samples into a batch, as `torch.utils.data.default_collate`.

    Tensors and numpy arrays are stacked along a new first dimension; Python floats become a
    float64 tensor, ints an int64 tensor, bools a bool tensor; strings stay a list; dicts,
    namedtuples and lists are collated field by field; tuples give a list of collated fields.

    Example:
        >>> default_collate([(dyngraph.ones(2), 0), (dyngraph.zeros(2), 1)])
        [tensor([[1., 1.], [0., 0.]]), tensor([0, 1])]
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)
