"""Hidden traces: the function runs again at compile time, and what it changed is undone.

Dynamic shapes trace the user's function more than once per compile (the shadow trace of
`dynamic=True` at other sizes, the third trace that verifies a unified graph; see
`compiler/dynamic.py`). Those runs must leave no trace: `preserved_state` snapshots what the
function can reach and restores it afterwards, `_quiet` silences its prints.
"""

from __future__ import annotations

import contextlib

import numpy as np

from dyngraph._tensor import raw_grad, set_raw_grad

__all__ = ["snapshot_state", "restore_state", "preserved_state", "snapshot_python",
           "restore_python", "python_changed"]


def snapshot_state(scan):
    """Copies of what a hidden trace could change in reachable state (see `restore_state`):
    tensor values, versions, arrays and grads, optimizer state, every random generator, and
    reachable lists, dicts and user objects' attributes."""
    import random

    from dyngraph.ops import creation
    tensors = []
    for _, t in scan.tensor_objs:
        g = raw_grad(t)
        tensors.append((t, t._data, t._data.copy(), t._vc[0], g, t.grad_fn, t._rg,
                        None if g is None else (g._data, g._data.copy(), g._vc[0])))
    optims = [(o, dict(o.state), {p: dict(st) for p, st in o.state.items()
                                  if isinstance(st, dict)}) for _, o in scan.optimizers]
    gens = list(creation._GENERATORS)      # dyngraph's default, CUDA and user-held generators
    rng = (gens, [g.get_state() for g in gens], random.getstate(), np.random.get_state())
    return tensors, optims, rng, snapshot_python(scan)


def snapshot_python(scan) -> list:
    """Python state a hidden trace could change: lists, dicts, attributes of user objects and
    modules, user-held random generators (restored shallowly by `restore_python`)."""
    import random
    out = [(obj, list(obj) if isinstance(obj, list) else dict(obj)) for _, obj in scan.containers]
    out += [(vars(obj), dict(vars(obj))) for _, obj in scan.attr_owners]
    for _, g in scan.generators:
        if isinstance(g, random.Random):
            out.append((g, g.getstate()))
        else:
            bg = getattr(g, "bit_generator", None) or getattr(g, "_bit_generator", None)
            out.append((bg, bg.state))
    return out


def python_changed(saved: list) -> bool:
    """Whether Python state saved by `snapshot_python` changed since (identity compare)."""
    import random

    from .sources import frozen
    for obj, old in saved:
        if isinstance(obj, list):
            if len(obj) != len(old) or any(a is not b for a, b in zip(obj, old)):
                return True
        elif isinstance(obj, dict):
            if obj.keys() != old.keys() or any(obj[k] is not v for k, v in old.items()):
                return True
        elif isinstance(obj, random.Random):
            if obj.getstate() != old:
                return True
        elif frozen(obj.state) != frozen(old):
            return True
    return False


def restore_python(saved: list) -> None:
    """Put back what `snapshot_python` saved."""
    import random
    for obj, old in saved:
        if isinstance(obj, list):
            obj[:] = old
        elif isinstance(obj, dict):
            obj.clear()
            obj.update(old)
        elif isinstance(obj, random.Random):
            obj.setstate(old)
        else:
            obj.state = old


def restore_state(snap) -> None:
    """Put reachable state back as `snapshot_state` found it."""
    import random
    tensors, optims, rng, python = snap
    restore_python(python)
    for t, arr, copy, vc, g, fn, rg, gdata in tensors:
        t._data = arr
        if getattr(arr.flags, "writeable", True):
            arr[...] = copy
        t._vc[0], t.grad_fn, t._rg = vc, fn, rg
        set_raw_grad(t, g)
        if gdata is not None:
            g._data = gdata[0]
            if getattr(gdata[0].flags, "writeable", True):
                gdata[0][...] = gdata[1]
            g._vc[0] = gdata[2]
    for o, st, inner in optims:
        o.state.clear()
        o.state.update(st)
        for p, d in inner.items():
            st[p].clear()
            st[p].update(d)
    for g, state in zip(rng[0], rng[1]):
        g.set_state(state)
    random.setstate(rng[2])
    np.random.set_state(rng[3])


@contextlib.contextmanager
def preserved_state(scan):
    """Undo what a shadow trace did to reachable state: tensor values, versions, arrays and
    grads, optimizer state, every random generator (dyngraph's, Python's, numpy's, user-held
    ones), lists, dicts and attributes of user objects and modules."""
    snap = snapshot_state(scan)
    try:
        yield
    finally:
        restore_state(snap)


class _quiet:
    """Silences print() while a hidden (shadow or check) trace runs; the real trace prints once."""

    def __enter__(self):
        import builtins
        self.orig = builtins.print
        builtins.print = lambda *a, **k: None

    def __exit__(self, *exc):
        import builtins
        builtins.print = self.orig
