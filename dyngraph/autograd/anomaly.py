"""Anomaly mode (`dyngraph.autograd.detect_anomaly`, `set_detect_anomaly`): while it is on, the
backward engine checks every node's gradients for NaN and names the node that produced one, as
PyTorch does ("Function 'SqrtBackward0' returned nan values in its 0th output.").

The engine reads `ANOMALY["enabled"]` once per node (`graph.run_backward`); the check itself
reads each gradient back (`isnan().any()`), so it costs a sync per node on CUDA: a debugging
mode, off by default.
"""

from __future__ import annotations

import functools

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled", "set_anomaly_enabled"]

ANOMALY = {"enabled": False, "check_nan": True}


def is_anomaly_enabled() -> bool:
    """Whether autograd's anomaly detection is on."""
    return ANOMALY["enabled"]


def is_anomaly_check_nan_enabled() -> bool:
    """Whether anomaly detection checks backward outputs for NaN."""
    return ANOMALY["check_nan"]


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    """Turn anomaly detection on or off (see `dyngraph.autograd.detect_anomaly`)."""
    ANOMALY["enabled"], ANOMALY["check_nan"] = bool(enabled), bool(check_nan)


def check_anomaly(node, grads) -> None:
    """Raise when anomaly mode checks NaN and `node`'s gradient rule returned a NaN (the
    backward engine calls this after each node while the mode is on)."""
    if not (ANOMALY["enabled"] and ANOMALY["check_nan"]):
        return
    from .._tensor import Tensor
    edges = getattr(node, "next_functions", None) or [(True, 0)] * len(grads)
    for i, (g, (nxt, _)) in enumerate(zip(grads, edges)):
        if nxt is None:     # an input that needs no gradient (a constant): not passed on
            continue
        if isinstance(g, Tensor) and g.dtype.is_floating_point and g.numel() and \
                bool(g.detach().isnan().any()):
            raise RuntimeError(f"Function '{node.name()}' returned nan values in its {i}th "
                               "output.")


class detect_anomaly:
    """Context manager / decorator: anomaly detection on inside (check_nan: NaN checks of
    backward outputs).

    Example:
        >>> with dyngraph.autograd.detect_anomaly():
        ...     dyngraph.is_anomaly_enabled()
        True
    """

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        self._prev = (ANOMALY["enabled"], ANOMALY["check_nan"])
        set_anomaly_enabled(True, self.check_nan)
        return self

    def __exit__(self, *exc):
        set_anomaly_enabled(*self._prev)

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(self.check_nan):
                return fn(*args, **kwargs)
        return wrapper


class set_detect_anomaly(detect_anomaly):
    """Set anomaly detection on or off: as a function call, or a context manager that restores
    the previous setting on exit."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self.mode, self.check_nan = mode, check_nan
        self._prev = (ANOMALY["enabled"], ANOMALY["check_nan"])
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self):
        return self

    def __call__(self, fn):
        raise TypeError("set_detect_anomaly(mode) is a function or a context manager, not a "
                        "decorator; decorate with dyngraph.autograd.detect_anomaly() instead")
