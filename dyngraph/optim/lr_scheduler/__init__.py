"""Learning-rate schedulers, with PyTorch's names, arguments and step-by-step values.

Each scheduler computes the next lr of every param group from the current one (the "chainable"
form PyTorch uses, so schedulers can be combined); `step(epoch)` (deprecated in PyTorch) jumps
with the closed form where one exists.

Modules: `base` (LRScheduler), `decay` (the per-epoch schedules), `composite` (SequentialLR,
ChainedScheduler), `plateau` (ReduceLROnPlateau), `one_cycle` (OneCycleLR).
"""

from .base import LRScheduler
from .composite import ChainedScheduler, SequentialLR
from .decay import (ConstantLR, CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR,
                    MultiplicativeLR, MultiStepLR, PolynomialLR, StepLR)
from .one_cycle import OneCycleLR
from .plateau import ReduceLROnPlateau

__all__ = ["LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR",
           "LinearLR", "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "SequentialLR",
           "ChainedScheduler", "ReduceLROnPlateau", "OneCycleLR"]
