"""Elementwise primitives and their public functions: unary math, binary arithmetic,
comparisons and logical/bitwise ops, where/clamp, composites, and the Python operators.

Each op's eager rule, dtype rule and gradient rule sit together. Gradient rules use dyngraph ops
(`g * ctx.out`), so they work for eager autograd, traced backward graphs and double backward.
The engine reduces gradients to broadcast input shapes, so binary rules return full-size grads.

The submodules are imported in the order that defines the op table (unary, binary, comparison,
ternary); every name stays importable from `dyngraph.ops.elementwise`.
"""

# Import order is op-table order: do not sort.
from . import unary  # noqa: I001
from . import binary, compare, ternary, composites, operators  # noqa: F401
from ._common import _scalar_or_tensor, _zero_grad  # noqa: F401
from .unary import *  # noqa: F401,F403
from .binary import *  # noqa: F401,F403
from .compare import *  # noqa: F401,F403
from .ternary import *  # noqa: F401,F403
from .composites import *  # noqa: F401,F403

# The op objects (`add_op`, `where_op`, ...) as attributes, as before the split.
for _module in (unary, binary, compare, ternary):
    globals().update({_n: _v for _n, _v in vars(_module).items() if _n.endswith("_op")})
del _module

__all__ = (unary.__all__ + binary.__all__ + compare.__all__ + ternary.__all__
           + composites.__all__)
