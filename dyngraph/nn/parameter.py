"""`Parameter`: a tensor that a `Module` registers as one of its learnable weights."""

from __future__ import annotations

from .._tensor import Tensor, _init

__all__ = ["Parameter", "Buffer"]


class Parameter(Tensor):
    """A Tensor that modules register as a parameter when assigned as an attribute.

    It shares memory with `data` and requires grad by default.

    Args:
        data: the initial value (a tensor; default: an empty float tensor).
        requires_grad: whether autograd tracks it (default True).

    Example:
        >>> w = Parameter(dyngraph.zeros(2, 3))
        >>> w.requires_grad
        True
    """

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            from ..ops.creation import empty
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(
                f"Parameter(): data must be a Tensor, not {type(data).__name__}; wrap it with "
                "dyngraph.tensor(...) first")
        _init(self, data._data)
        self._vc = data._vc  # shares memory with `data`, so in-place changes are seen by both
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_tensor(cls, t: Tensor, original: "Parameter") -> "Parameter":
        """Rebuild a Parameter around `t` (used by deepcopy)."""
        return cls(t, requires_grad=original.requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute.

    Args:
        data: the tensor.
        persistent: whether the buffer is part of the module's `state_dict`.
    """

    def __init__(self, data: Tensor, *, persistent: bool = True):
        _init(self, data._data)
        self._vc = data._vc
        self.persistent = persistent
