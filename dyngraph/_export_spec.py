"""Export inputs: `Dim`, `ExportError`, the flattened example arguments and `dynamic_shapes`.

`dyngraph.export` (dyngraph/export.py) flattens the example arguments into named tensor leaves,
marks the dims that `dynamic_shapes` declares dynamic on them, and collects the dims' example sizes.
"""

from __future__ import annotations

import inspect

__all__ = ["Dim", "ExportError"]


class ExportError(RuntimeError):
    """The function cannot be exported as one graph; the message says where and what to do."""


class Dim:
    """A named dynamic dimension with an inclusive range, as in `torch.export.Dim`.

    Args:
        name: the dim's name (an identifier); inputs that share a Dim must have equal sizes.
        min: the smallest size accepted (default 1).
        max: the largest size accepted (default: unbounded).

    Example:
        >>> batch = dyngraph.Dim("batch", min=1, max=4096)
    """

    def __init__(self, name: str, *, min: int | None = None, max: int | None = None):  # noqa: A002
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Dim: the name must be a Python identifier, got {name!r}")
        lo = 1 if min is None else int(min)
        hi = None if max is None else int(max)
        if lo < 0 or (hi is not None and hi < lo):
            raise ValueError(f"Dim {name!r}: invalid range min={min}, max={max} (need "
                             "0 <= min <= max)")
        self.__name__ = name
        self.min = lo
        self.max = hi

    @property
    def name(self) -> str:
        return self.__name__

    def contains(self, n: int) -> bool:
        """Whether size `n` is in the range."""
        return n >= self.min and (self.max is None or n <= self.max)

    def __repr__(self) -> str:
        hi = "inf" if self.max is None else self.max
        return f"Dim({self.__name__!r}, min={self.min}, max={hi})"


# ----------------------------------------------------------------------------------------------
# Inputs: flatten the example args, name the tensors, read dynamic_shapes
# ----------------------------------------------------------------------------------------------

class _Leaf:
    __slots__ = ("name", "expr", "tensor", "dims")

    def __init__(self, name, expr, tensor):
        self.name, self.expr, self.tensor, self.dims = name, expr, tensor, {}


def _param_names(fn, n_args: int) -> list[str]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = []
    for i in range(n_args):
        if i < len(params) and params[i].kind in (params[i].POSITIONAL_ONLY,
                                                  params[i].POSITIONAL_OR_KEYWORD):
            names.append(params[i].name)
        else:
            names.append(f"args_{i}")
    return names


def _flatten(obj, name: str, expr: str, leaves: list):
    """The input tree as JSON (tensor leaves become {"$input": i}); fills `leaves`."""
    from runtime.graph_file import encode_attr

    from ._tensor import Tensor
    if isinstance(obj, Tensor):
        leaves.append(_Leaf(name, expr, obj))
        return {"$input": len(leaves) - 1}
    if isinstance(obj, (tuple, list)) and (type(obj) in (tuple, list)):
        items = [_flatten(x, f"{name}.{i}", f"{expr}[{i}]", leaves) for i, x in enumerate(obj)]
        return {"$tuple": items} if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {"$dict": [[k, _flatten(x, f"{name}.{k}", f"{expr}[{k!r}]", leaves)]
                          for k, x in obj.items()]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return encode_attr(obj, _no_tensor, name)
    raise ExportError(f"export: input {name!r} is a {type(obj).__name__}; inputs must be "
                      "tensors, Python scalars, or tuples/lists/dicts of them")


def _no_tensor(a):
    raise ExportError("export: arrays are not allowed in the input tree")


def _read_dynamic_shapes(dynamic_shapes, args, kwargs, names, leaves_by_top) -> None:
    if dynamic_shapes is None:
        return
    if isinstance(dynamic_shapes, dict):
        known = set(names) | set(kwargs)
        for k in dynamic_shapes:
            if k not in known:
                raise ExportError(f"export: dynamic_shapes names {k!r}, which is not an "
                                  f"argument (arguments: {sorted(known)})")
        specs = {k: dynamic_shapes[k] for k in dynamic_shapes}
    elif isinstance(dynamic_shapes, (tuple, list)):
        if len(dynamic_shapes) != len(args) + len(kwargs):
            raise ExportError(f"export: dynamic_shapes has {len(dynamic_shapes)} entries but "
                              f"there are {len(args) + len(kwargs)} arguments; give one per "
                              "argument (None for a static one)")
        specs = dict(zip(names + list(kwargs), dynamic_shapes))
    else:
        raise ExportError("export: dynamic_shapes must be a tuple (by position) or a dict (by "
                          f"argument name), got {type(dynamic_shapes).__name__}")
    for top, spec in specs.items():
        _apply_spec(spec, leaves_by_top.get(top, []), top)


def _apply_spec(spec, leaves, where):
    if spec is None:
        return
    if isinstance(spec, dict) and all(isinstance(k, int) for k in spec):
        if len(leaves) != 1 or leaves[0][0] != ():
            raise ExportError(f"export: dynamic_shapes[{where!r}] is a {{dim: Dim}} map but "
                              "that argument is not a tensor")
        leaf = leaves[0][1]
        nd = leaf.tensor.ndim
        for d, dim in spec.items():
            if dim is None:
                continue
            if not isinstance(dim, Dim):
                raise ExportError(f"export: dynamic_shapes[{where!r}][{d}] must be a "
                                  f"dyngraph.Dim, got {type(dim).__name__}")
            if not -nd <= d < nd:
                raise ExportError(f"export: dynamic_shapes[{where!r}] marks dim {d}, but input "
                                  f"{leaf.name!r} has {nd} dims")
            leaf.dims[d % nd] = dim
        return
    if isinstance(spec, (tuple, list)):
        for i, s in enumerate(spec):
            sub = [(p[1:], lf) for p, lf in leaves if p and p[0] == i]
            _apply_spec(s, sub, f"{where}.{i}")
        return
    if isinstance(spec, dict):
        for k, s in spec.items():
            sub = [(p[1:], lf) for p, lf in leaves if p and p[0] == k]
            _apply_spec(s, sub, f"{where}.{k}")
        return
    raise ExportError(f"export: dynamic_shapes[{where!r}] must be None, {{dim: Dim}}, or a "
                      f"tuple/list/dict matching the argument, got {type(spec).__name__}")


def _leaf_paths(obj, path=()):
    """(path, position) for the tensors in one argument, in flattening order."""
    from ._tensor import Tensor
    if isinstance(obj, Tensor):
        return [path]
    if isinstance(obj, (tuple, list)):
        return [p for i, x in enumerate(obj) for p in _leaf_paths(x, path + (i,))]
    if isinstance(obj, dict):
        return [p for k, x in obj.items() for p in _leaf_paths(x, path + (k,))]
    return []


def _collect_dims(leaves) -> tuple[dict[str, Dim], dict[str, int]]:
    dims: dict[str, Dim] = {}
    example: dict[str, int] = {}
    for lf in leaves:
        for d, dim in lf.dims.items():
            n = int(lf.tensor.shape[d])
            old = dims.get(dim.name)
            if old is not None and (old.min, old.max) != (dim.min, dim.max):
                raise ExportError(f"export: two different Dims are named {dim.name!r}")
            if old is not None and example[dim.name] != n:
                raise ExportError(
                    f"export: dim {dim.name!r} has size {example[dim.name]} in one input but "
                    f"{n} in {lf.name!r} (dim {d}); inputs sharing a Dim must agree")
            if not dim.contains(n):
                raise ExportError(f"export: input {lf.name!r} dim {d} has size {n}, outside "
                                  f"the range of {dim!r}")
            if n < 2:
                raise ExportError(
                    f"export: input {lf.name!r} dim {d} ({dim.name!r}) has size {n} in the "
                    "example; use an example of size >= 2 for a dynamic dim (sizes 0 and 1 "
                    "specialise the trace, as in torch.export)")
            dims[dim.name] = dim
            example[dim.name] = n
    return dims, example
