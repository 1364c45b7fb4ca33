"""`dyngraph.nn`: modules, parameters, layers, `functional`, `init` and `utils`, as in PyTorch."""

from .parameter import Buffer, Parameter  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import Module  # noqa: F401
from .modules.rnn import *  # noqa: F401,F403
from .modules.transformer import *  # noqa: F401,F403
from .modules.loss import *  # noqa: F401,F403
from .modules.conv import *  # noqa: F401,F403
from .modules.pooling import *  # noqa: F401,F403
