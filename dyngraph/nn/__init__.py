"""`dyngraph.nn`: modules, parameters, layers, `functional`, `init` and `utils`, as in PyTorch.

Example:
    >>> import dyngraph.nn as nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> net(dyngraph.randn(3, 4)).shape
    dyngraph.Size([3, 2])
"""

from .parameter import Buffer, Parameter, UninitializedBuffer, UninitializedParameter  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import Module, RemovableHandle  # noqa: F401
from .modules.container import *  # noqa: F401,F403
from .modules.linear import *  # noqa: F401,F403
from .modules.activation import *  # noqa: F401,F403
from .modules.normalization import *  # noqa: F401,F403
from .modules.dropout import *  # noqa: F401,F403
from .modules.sparse import *  # noqa: F401,F403
from .modules.flatten import *  # noqa: F401,F403
from .modules.rnn import *  # noqa: F401,F403
from .modules.transformer import *  # noqa: F401,F403
from .modules.loss import *  # noqa: F401,F403
from .modules.conv import *  # noqa: F401,F403
from .modules.pooling import *  # noqa: F401,F403
from .modules.extra_layers import *  # noqa: F401,F403
from .modules.loss_extra import *  # noqa: F401,F403
from .modules.lazy import *  # noqa: F401,F403
from .modules.extra_modules import *  # noqa: F401,F403
from . import functional, init, utils  # noqa: F401,E402
