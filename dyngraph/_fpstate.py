"""numpy's floating-point warnings silenced around an eager rule, as cheaply as numpy allows.

PyTorch never warns about inf/nan arithmetic (`inf - inf`, `0 * inf`, `log(0)`): the inf or nan
is the answer. numpy warns unless its error state says "ignore". `np.errstate` costs ~3 us per
use (most of a small op's time); numpy 2 keeps the error state in a context variable, and setting
that variable to the "ignore all" state directly costs ~0.4 us. Falls back to `np.errstate` where
the private variable is missing. Thread-safe (context variables are per thread).

    token = quiet_enter()
    try:
        ...numpy calls...
    finally:
        quiet_exit(token)
"""

from __future__ import annotations

import numpy as np

__all__ = ["quiet_enter", "quiet_exit", "make_quiet"]


def make_quiet():
    """(enter, exit): enter() silences numpy's floating-point warnings and returns a token."""
    try:
        from numpy._core._ufunc_config import _extobj_contextvar as var
        with np.errstate(all="ignore"):
            ignore = var.get()
        return (lambda: var.set(ignore)), var.reset
    except (ImportError, AttributeError):
        def enter():
            state = np.errstate(all="ignore")
            state.__enter__()
            return state
        return enter, (lambda state: state.__exit__(None, None, None))


quiet_enter, quiet_exit = make_quiet()
