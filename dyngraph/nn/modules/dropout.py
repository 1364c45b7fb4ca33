"""`Dropout`: zeroes elements at random during training, using dyngraph's RNG."""

from __future__ import annotations

from ..._tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """In training, zero each element with probability `p` and scale the rest by 1/(1-p).

    In eval mode it is the identity. Draws come from dyngraph's RNG (`dyngraph.manual_seed`).

    Args:
        p: probability of an element being zeroed (default 0.5).
        inplace: overwrite the input.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        """Apply dropout (only when `self.training`)."""
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
