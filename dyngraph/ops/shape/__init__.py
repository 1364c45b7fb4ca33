"""Movement ops: reshape, permute, expand, slicing views, joins and splits, flips, rolls,
triangles and diagonals, copies and devices.

View ops (reshape when the layout allows, permute, expand, basic indexing, narrow/select/split/
chunk/unbind, diagonal) return tensors that share memory and the version counter with their input,
as in PyTorch (`apply` links them for ops with `is_view=True`). Writing through a view of a tensor
that is part of an autograd graph is handled by `write_through_view`.

The submodules are imported in the order that defines the op table (views, joins, reorder,
copies); every name stays importable from `dyngraph.ops.shape`.
"""

# Import order is op-table order: do not sort. The index ops (getitem, index_put) that the
# slicing views and copies use come before the movement ops.
from .. import index  # noqa: F401,I001
from . import views
from . import joins, reorder, copies
from .views import *  # noqa: F401,F403
from .views import broadcast_error, expand_op, permute_op, reshape_op, sum_to_size_op  # noqa: F401
from .joins import *  # noqa: F401,F403
from .joins import cat_op  # noqa: F401
from .reorder import *  # noqa: F401,F403
from .reorder import (diagonal_op, diagonal_scatter_op, flip_op, roll_op,  # noqa: F401
                      tril_op, triu_op)
from .copies import *  # noqa: F401,F403
from .copies import _copy_node, copy_op, to_device_op, write_through_view  # noqa: F401

__all__ = views.__all__ + joins.__all__ + reorder.__all__ + copies.__all__
