"""All layer classes of `dyngraph.nn`, gathered from their modules."""

from .module import Module, RemovableHandle  # noqa: F401
from .rnn import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
