"""Every public op function, gathered from the op modules (the op table itself is `OPS`)."""

from .registry import COMPOSITES, OPS, Op, OpKind  # noqa: F401
from .elementwise import *  # noqa: F401,F403
from .creation import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .reduction import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .sorting import *  # noqa: F401,F403
from .index import *  # noqa: F401,F403
from .nn_ops import *  # noqa: F401,F403
from .conv_ops import *  # noqa: F401,F403
from .rnn_ops import *  # noqa: F401,F403
from .special_fns import *  # noqa: F401,F403
from .extras import *  # noqa: F401,F403
from .scans import *  # noqa: F401,F403
from .distances import *  # noqa: F401,F403
from .tensor_extras import *  # noqa: F401,F403
from .samplers import *  # noqa: F401,F403
from .statistics import *  # noqa: F401,F403
from .linalg_lapack import *  # noqa: F401,F403
from .linalg_decomp import *  # noqa: F401,F403
from .misc_fns import *  # noqa: F401,F403
from .tensor_ops_extra import *  # noqa: F401,F403
from .numeric_extra import *  # noqa: F401,F403
from .linalg_extra import *  # noqa: F401,F403
from .linalg_lu import *  # noqa: F401,F403
from .toplevel_extra import *  # noqa: F401,F403
