"""Optimizers and learning-rate schedulers with PyTorch's names, options and state dicts.

Example:
    >>> opt = dyngraph.optim.AdamW(model.parameters(), lr=3e-4)
    >>> sched = dyngraph.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    >>> loss.backward(); opt.step(); opt.zero_grad(); sched.step()
"""

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "lr_scheduler"]
