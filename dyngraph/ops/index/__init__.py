"""Data-dependent addressing: `x[key]` reads and writes, gather/scatter, index_select/index_add,
masked ops, nonzero, take.

Three primitives carry all the indexing: `getitem` (numpy-style indexing with ints, slices, None,
..., integer and boolean tensors; a view for basic keys), `index_put` (its adjoint: write or
accumulate values at a key) and `gather`/`scatter`/`scatter_add` (PyTorch's per-dim addressing).
index_select, index_add, masked_fill, masked_select, take and take_along_dim are compositions.

A key is split into a static part (ints, slices, None, ..., and `TensorSlot` placeholders) and the
index tensors it uses, so the static part can be an op attribute (hashable, printable in the IR)
while index tensors are ordinary op inputs.

The submodules are imported in the order that defines the op table (getitem, gather_scatter,
compositions); every name stays importable from `dyngraph.ops.index`.
"""

# Import order is op-table order: do not sort.
from . import getitem  # noqa: I001
from . import gather_scatter, compositions
from .getitem import *  # noqa: F401,F403
from .getitem import getitem_backward_op, getitem_op, index_put_op  # noqa: F401
from .gather_scatter import *  # noqa: F401,F403
from .gather_scatter import gather_op, scatter_add_op, scatter_op  # noqa: F401
from .compositions import *  # noqa: F401,F403
from .compositions import nonzero_op  # noqa: F401

__all__ = getitem.__all__ + gather_scatter.__all__ + compositions.__all__
