"""Python side effects a trace cannot replay, and Python values it read: watched while tracing.

The graph replays tensor ops only. Anything else the function does to Python state would happen
on the traced call and silently not on cached calls, so each of these makes the trace poisoned
(the call itself ran eagerly, its effect happened once; the signature runs eagerly from then on,
with the reason and line in `explain()`):
- `print()`;
- a change to a list or dict the function can reach (compared by length and element identity);
- an attribute added, removed or rebound on a reachable user object or module (`self.n += 1`,
  `model.eval()` inside the function): each object's `__dict__` is copied before and compared
  by identity after;
- a draw from Python's `random` (module functions, or the global state), numpy's global
  generator, or a reachable user-held `random.Random` / numpy `Generator` (state compared).

Reads: a scalar (or a tuple/list of scalars) read from an attribute of a reachable user object
or user module class (`cfg.scale`) while tracing is guarded by value, so changing it later
recompiles instead of running the graph with the old number baked in. The classes' attribute
lookup is hooked only while the trace runs.
"""

from __future__ import annotations

import numpy as np

from dyngraph._dispatch import state

from .sources import PY_SCALARS, generator_state

__all__ = ["watch_print", "watch_side_effects"]


def _where() -> str:
    from .trace import user_frame
    return user_frame()


class watch_print:
    """While tracing, `print` is a side effect the graph cannot replay: the call still prints,
    and the signature runs eagerly from then on (so every later call prints too)."""

    def __init__(self, tracer):
        self.tracer = tracer

    def __enter__(self):
        import builtins
        self.orig = builtins.print
        tracer, orig = self.tracer, self.orig

        def print_(*args, **kwargs):
            if state.tracer is tracer or tracer.poisoned is None:
                tracer.poison(f"print() at {_where()}: a Python side effect the compiled "
                              "graph cannot replay (the function runs eagerly)")
            return orig(*args, **kwargs)
        builtins.print = print_

    def __exit__(self, *exc):
        import builtins
        builtins.print = self.orig


def _fingerprint(obj):
    if isinstance(obj, list):
        return (len(obj), tuple(map(id, obj)))
    return (len(obj), tuple((k, id(v)) for k, v in obj.items()))


def _changed_attrs(before: dict, after: dict) -> str | None:
    """The first attribute added, removed or rebound between two copies of an object's dict."""
    for k, v in after.items():
        if k not in before or before[k] is not v:
            return k
    for k in before:
        if k not in after:
            return k
    return None


def _np_random_changed(before) -> bool:
    after = np.random.get_state()
    return before[2] != after[2] or not np.array_equal(before[1], after[1])


class watch_side_effects:
    """Python side effects the graph cannot replay, found while tracing: a list or dict the
    function can reach (argument, closure, global, module attribute) changed (`append`,
    `extend`, `d[k] = v`, ...), or a draw from Python's `random` (module functions or a
    changed global state) or numpy's global generator. Each makes the call's trace poisoned:
    the call itself ran eagerly (its effect happened once, as it should), and the signature
    runs eagerly from then on, with the reason in `explain()`."""

    def __init__(self, tracer):
        self.tracer = tracer

    def __enter__(self):
        import random
        tracer = self.tracer
        scan = tracer.scan
        self.reads: dict = {}
        self.hooked = _hook_reads(scan, self.reads)
        self.snap = [(src, obj, _fingerprint(obj)) for src, obj in scan.containers]
        # (the dicts are copied, not fingerprinted by id: a copy keeps the old values alive,
        # so a rebound attribute can never reuse the old value's address)
        self.attrs = [(src, obj, dict(vars(obj))) for src, obj in scan.attr_owners]
        self.gens = [(src, g, generator_state(g)) for src, g in scan.generators]
        self.py_state = random.getstate()
        self.np_state = np.random.get_state()
        self.patched = {}
        for name in getattr(random, "__all__", ()):
            fn = getattr(random, name, None)
            if getattr(fn, "__self__", None) is getattr(random, "_inst", None) and callable(fn):
                self.patched[name] = fn
                setattr(random, name, self._wrap(name, fn))

    def _wrap(self, name, fn):
        tracer = self.tracer

        def draw(*args, **kwargs):
            if state.tracer is not None or tracer.poisoned is None:
                tracer.poison(f"random.{name}() at {_where()}: a draw from Python's random "
                              "module, which the compiled graph cannot replay (the function runs "
                              "eagerly; use dyngraph's random ops to compile it)")
            return fn(*args, **kwargs)
        return draw

    def __exit__(self, exc_type, *exc):
        import random
        for name, fn in self.patched.items():
            setattr(random, name, fn)
        for cls, orig in reversed(self.hooked):
            if orig is None:
                del cls.__getattribute__
            else:
                cls.__getattribute__ = orig
        values = self.tracer.scan.values
        known = {src.expr for src, _ in values}
        values.extend((src, v) for src, v in self.reads.values() if src.expr not in known)
        if exc_type is not None:
            return
        tracer = self.tracer
        for src, obj, fp in self.snap:
            if _fingerprint(obj) != fp:
                kind = "list" if isinstance(obj, list) else "dict"
                tracer.poison(f"the {kind} {src.label} was changed during the trace (append, "
                              "extend, item assignment, ...): a Python side effect the compiled "
                              "graph cannot replay (the function runs eagerly)")
        for src, obj, before in self.attrs:
            changed = _changed_attrs(before, vars(obj))
            if changed:
                tracer.poison(f"{src.label}.{changed} was assigned during the trace: a Python "
                              "side effect the compiled graph cannot replay (the function runs "
                              "eagerly)")
        for src, g, before in self.gens:
            if generator_state(g) != before:
                tracer.poison(f"the random generator {src.label} ({type(g).__name__}) was drawn "
                              "from during the trace: the compiled graph cannot replay it (the "
                              "function runs eagerly; use dyngraph's random ops to compile it)")
        if random.getstate() != self.py_state:
            tracer.poison("Python's random module was used during the trace (its state "
                          "changed): the compiled graph cannot replay it (the function runs "
                          "eagerly)")
        if _np_random_changed(self.np_state):
            tracer.poison("numpy's global random generator was used during the trace: the "
                          "compiled graph cannot replay it (the function runs eagerly)")


def _guardable(v) -> bool:
    if isinstance(v, PY_SCALARS):
        return True
    return type(v) in (tuple, list) and len(v) <= 64 and all(
        type(x) in (bool, int, float, str, type(None)) for x in v)


def _hook_reads(scan, reads: dict) -> list:
    """Hook attribute lookup on the classes of reachable user objects (and user module
    classes) so scalars read from them are guarded by value; returns [(class, original)]."""
    from .sources import is_module, user_attrs
    owners = {id(o): src for src, o in scan.attr_owners
              if user_attrs(o) is not None or (is_module(o) and _user_class(type(o)))}
    if not owners:
        return []
    hooked = []
    for cls in {type(o): None for _, o in scan.attr_owners if id(o) in owners}:
        orig = cls.__dict__.get("__getattribute__")
        get = cls.__getattribute__

        def hook(obj, name, _get=get):
            v = _get(obj, name)
            src = owners.get(id(obj))
            if src is not None and not name.startswith("__") and name != "training" and \
                    _guardable(v) and (id(obj), name) not in reads:   # (training: guarded)
                reads[(id(obj), name)] = (src.attr(name), v)
            return v
        try:
            cls.__getattribute__ = hook
        except TypeError:       # a class that cannot be patched: its reads stay unguarded
            continue
        hooked.append((cls, orig))
    return hooked


def _user_class(cls) -> bool:
    return (cls.__module__ or "").split(".")[0] not in ("dyngraph", "compiler", "runtime")

