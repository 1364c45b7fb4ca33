"""OpInfo-style test cases: each names the primitive op it exercises, a dyngraph call, a numpy
float64 reference, sample inputs, and optionally a PyTorch call. `test_op_table.py` runs every case
(forward vs numpy in float64 and float32, vs PyTorch, gradcheck in float64) and fails when an op in
the table has no case.

Cases live in `tests/opinfos/<area>.py`, each module defining `CASES: list[OpCase]`.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any, Callable

import numpy as np


@dataclasses.dataclass
class OpCase:
    """One test case.

    op: name of the primitive in `dyngraph.OPS` this case exercises (composites name their
        main primitive, or use `composite=True` and their public name).
    fn: `fn(*tensors) -> Tensor` using dyngraph.
    ref: `ref(*float64_arrays) -> array`, the numpy oracle (None when only torch is an oracle).
    inputs: numpy arrays. Float arrays are cast to the dtype under test and may require grad;
        integer/bool arrays (indices, masks) are passed as they are and never require grad.
    torch_fn: `torch_fn(*torch_tensors) -> torch.Tensor`, same arguments as `fn`.
    grad: run gradcheck (float64) on the float inputs.
    dtypes: float dtypes to test the forward in.
    atol/rtol: override the dtype tolerance for float32 (some ops lose more).
    """

    op: str
    fn: Callable
    inputs: list
    ref: Callable | None = None
    torch_fn: Callable | None = None
    grad: bool = True
    dtypes: tuple = ("float64", "float32")
    name: str = ""
    composite: bool = False
    rtol32: float | None = None
    atol32: float | None = None
    extra: dict = dataclasses.field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.op}-{self.name}" if self.name else self.op


def rand(*shape, low=-2.0, high=2.0, seed=None) -> np.ndarray:
    """Reproducible float64 samples (each call site passes its own seed for independence)."""
    rng = np.random.default_rng(seed if seed is not None else hash(shape) % 2**32)
    return rng.uniform(low, high, size=shape)


def positive(*shape, seed=None) -> np.ndarray:
    return rand(*shape, low=0.5, high=3.0, seed=seed)


def all_cases() -> list[OpCase]:
    from tests import opinfos
    cases: list[Any] = []
    for m in pkgutil.iter_modules(opinfos.__path__):
        mod = importlib.import_module(f"tests.opinfos.{m.name}")
        cases.extend(getattr(mod, "CASES", []))
    return cases
