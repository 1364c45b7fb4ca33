"""Write-backs: replaying a compiled path's effects on the tensors it changed.

After a leaf segment ran, `_write_back` copies results into the tensors written in place,
rebinds `.data`, sets or clears `.grad` and replays item assignments, copying first an array
that aliases another copy target.
"""

from __future__ import annotations

import numpy as np

from dyngraph._tensor import _wrap


def _owner(a):
    """The ndarray owning `a`'s memory, None for memory numpy does not own (a foreign buffer:
    compare such arrays by address range)."""
    b = a.base
    while b is not None:
        if type(b) is not np.ndarray:
            return None
        a, b = b, b.base
    return a


def _copy_targets(writebacks, targets) -> dict:
    """{id(owner ndarray) or None (foreign memory): [(tensor, array)]} of the "copy" targets."""
    out: dict = {}
    for w, t in zip(writebacks, targets):
        if w.kind == "copy":
            d = t._data
            o = _owner(d) if type(d) is np.ndarray else None
            out.setdefault(None if o is None else id(o), []).append((t, d))
    return out


def _write_back(writebacks, targets: list, values: list) -> None:
    """Replay a path's effects on the tensors it changed: in-place copies, `.data` rebinding,
    `.grad` set or cleared. An array that aliases another copy target is copied first; only
    arrays in the same numpy allocation (or foreign memory) are compared."""
    copied = _copy_targets(writebacks, targets)
    it = iter(values)
    given = set()       # an array handed to one tensor is copied for the next
    for w, t in zip(writebacks, targets):
        arr = next(it) if w.value is not None else None
        if arr is not None:
            if not (w.kind == "copy" and arr is t._data):
                o = _owner(arr) if type(arr) is np.ndarray else None
                near = copied.get(None, []) + copied.get(id(o), []) if o is not None else \
                    [p for ps in copied.values() for p in ps]
                if (w.kind != "copy" and id(arr) in given) or any(
                        u is not t and np.may_share_memory(arr, d) for u, d in near):
                    arr = arr.copy()
            given.add(id(arr))
        if w.kind == "copy":
            if arr is not t._data:      # (else the backend wrote it in place)
                t._data[...] = arr
            t._vc[0] += 1
        elif w.kind == "set_data":
            t._data = arr
            copied = _copy_targets(writebacks, targets)     # a copy target may have moved
        elif w.kind == "set_grad":
            t._grad = _wrap(arr)
        elif w.kind == "grad_none":
            t._grad = None
        elif w.kind == "set_item":
            t[w.extra] = _wrap(arr)

