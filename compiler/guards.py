"""Guards: everything a trace assumed, checked on every call before a cached graph runs.

A guard is a Python boolean expression over the call's arguments (`a`, `kw`) and bound objects,
with a readable description. `GuardSet.build` generates one function that checks all guards and, on
success, returns the input arrays the graph reads; Python evaluates it with no per-guard call
overhead (the target is a few microseconds per call). When it fails, `first_failure` re-checks the
guards one by one to say which one failed (the recompile reason shown by `explain` and the logs).

Covered: the number and names of arguments, each input tensor's type, shape (symbolic dims only
checked for >= 2, as 0 and 1 specialise), dtype, device and requires_grad, whether each trainable
leaf has a `.grad`, grad mode, module training flags, module/optimizer identity, and the Python
values (ints, floats, bools, strings, tuples) in arguments, closures, globals, module attributes and
optimizer hyperparameters that may have steered the trace, scalars the trace read from user objects
(`compiler/effects.py`), and for symbolic entries the size checks and pinned size-derived values
Python computed (`compiler/symsize.py`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dyngraph._dispatch import state

from .ir import Sym
from .sources import ScalarSource, Scan, Source

__all__ = ["Guard", "GuardSet", "tensor_guards"]


@dataclasses.dataclass
class Guard:
    """One assumption: `expr` must be true; `text` says it in words."""

    expr: str
    text: str
    kind: str = ""      # "shape" for a tensor's exact shape (a candidate for dynamic dims)
    src: str = ""       # the source expression the guard is about


def tensor_guards(src: Source, t, shape, requires_grad: bool) -> list[Guard]:
    """Guards on a tensor input: type, shape (Sym dims only >= 2), dtype, device, requires_grad."""
    e = src.expr
    out = [Guard(f"type({e}) is {_tname(t)}", f"type({src.label}) is {type(t).__name__}")]
    if any(isinstance(s, Sym) for s in shape):
        out.append(Guard(f"{e}._data.ndim == {len(shape)}", f"{src.label}.ndim == {len(shape)}"))
        for i, s in enumerate(shape):
            if isinstance(s, Sym):
                out.append(Guard(f"{e}._data.shape[{i}] >= 2", f"{src.label}.shape[{i}] >= 2"))
            else:
                out.append(Guard(f"{e}._data.shape[{i}] == {s}",
                                 f"{src.label}.shape[{i}] == {s}"))
    else:
        out.append(Guard(f"{e}._data.shape == {tuple(shape)!r}",
                         f"{src.label}.shape == {tuple(shape)}", "shape", e))
    out.append(Guard(f"{e}._data.dtype == {_dname(t._data.dtype)}",
                     f"{src.label}.dtype == {t.dtype.name}"))
    if type(t._data) is np.ndarray:
        out.append(Guard(f"type({e}._data) is _np.ndarray", f"{src.label}.device == cpu"))
    else:
        out.append(Guard(f"{e}._data.device.id == {t._data.device.id}",
                         f"{src.label}.device == {t.device}"))
    out.append(Guard(f"{e}._rg is {bool(requires_grad)}",
                     f"{src.label}.requires_grad == {bool(requires_grad)}"))
    return out


def scalar_guards(src: ScalarSource) -> list[Guard]:
    """Guards on a runtime scalar: still a number (or still a tensor), whatever its value."""
    if src.kind == "tensor":
        return [Guard(f"isinstance({src.expr}, _Tensor)", f"{src.label} is a tensor")]
    return [Guard(f"type({src.expr}) in _NUM", f"{src.label} is a number")]


def scalar_fetch(src: ScalarSource, bind) -> str:
    """The expression giving a runtime scalar's 0-d float64 array (on its device)."""
    if src.device is None:
        return f"_hp({src.expr})"
    return f"_hpd({src.expr}, {bind(src.device)})"


def _hp(x):
    return np.array(_hpf(x), np.float64)


def _hpf(x) -> float:
    data = getattr(x, "_data", None)
    if data is None:
        return float(x)
    return float(data if type(data) is np.ndarray else data.get())


def _hpd(x, dev):
    from dyngraph._device import to_device_array
    return to_device_array(_hp(x), dev)


def _namespace() -> dict:
    from dyngraph._tensor import Tensor

    from .symsize import size_namespace
    return {"_np": np, "_state": state, "_hp": _hp, "_hpf": _hpf, "_hpd": _hpd,
            "_NUM": (int, float), "_Tensor": Tensor, **size_namespace()}


_TYPES: dict[str, object] = {}   # types and numpy dtypes named in guard expressions


def _dname(npdt) -> str:
    name = f"_D{npdt.str.replace('<', 'l').replace('>', 'b').replace('|', 'n')}"
    if name in _TYPES and _TYPES[name] != npdt:     # bfloat16 and friends share a str
        name += f"_{id(npdt)}"
    _TYPES[name] = npdt
    return name


def _tname(t) -> str:
    name = f"_T{id(type(t))}"
    _TYPES[name] = type(t)
    return name


class GuardSet:
    """The guards of one cache entry, compiled into one check-and-fetch function."""

    def __init__(self, guards: list[Guard], bindings: dict, fetch_exprs: list[str]):
        self.guards = guards
        self.bindings = dict(bindings)
        self.fetch_exprs = fetch_exprs
        self.check = self._compile()

    @classmethod
    def build(cls, scan: Scan, args, kwargs, inputs, grad_enabled: bool) -> "GuardSet":
        """Guards for a trace: `inputs` is a list of (Source, tensor, Value) graph inputs."""
        g = [Guard(f"len(a) == {len(args)}", f"len(args) == {len(args)}"),
             Guard(f"sorted(kw) == {sorted(kwargs)!r}" if kwargs else "not kw",
                   f"kwargs == {sorted(kwargs)}"),
             Guard(f"_state.grad_enabled is {grad_enabled}", f"grad mode is {grad_enabled}")]
        for src, obj in scan.objects:
            name = scan.bind("K", obj)
            g.append(Guard(f"{src.expr} is {name}", f"{src.label} is the traced object"))
        for src, m in scan.modules:
            g.append(Guard(f"{src.expr}.training is {bool(m.training)}",
                           f"{src.label}.training == {m.training}"))
        for src, v in scan.values:
            if v is None:
                g.append(Guard(f"{src.expr} is None", f"{src.label} is None"))
            else:
                g.append(Guard(f"type({src.expr}) is {type(v).__name__} and {src.expr} == {v!r}",
                               f"{src.label} == {v!r}"))
        g.extend(Guard(expr, text) for expr, text in scan.guards)
        fetch = []
        for src, t, v in inputs:
            if isinstance(src, ScalarSource):
                g.extend(scalar_guards(src))
                fetch.append(scalar_fetch(src, lambda obj: scan.bind("K", obj)))
            else:
                g.extend(tensor_guards(src, t, v.shape, v.requires_grad))
                fetch.append(f"{src.expr}._data")
        for src, t in scan.tensor_objs:
            has = scan.grad_set.get(id(t))
            if has is not None:
                g.append(Guard(f"({src.expr}._grad is not None) is {has}",
                               f"{src.label}.grad is {'set' if has else 'None'}"))
        return cls(g, scan.bindings, fetch)

    def _compile(self):
        ns = {**_namespace(), "None": None, **_TYPES, **self.bindings}
        conds = " and\n            ".join(g.expr for g in self.guards) or "True"
        fetch = ", ".join(self.fetch_exprs)
        src = (f"def check(a, kw):\n    try:\n        if ({conds}):\n"
               f"            return [{fetch}]\n"
               f"    except (AttributeError, IndexError, KeyError, TypeError):\n"
               f"        pass\n    return None\n")
        exec(compile(src, "<dyngraph guards>", "exec"), ns)
        return ns["check"]

    def failures(self, args, kwargs) -> list[Guard]:
        """Every guard that fails for this call."""
        ns = {**_namespace(), **_TYPES, **self.bindings, "a": args, "kw": kwargs}
        out = []
        for g in self.guards:
            try:
                ok = eval(g.expr, ns)
            except Exception:
                ok = False
            if not ok:
                out.append(g)
        return out

    def first_failure(self, args, kwargs) -> str | None:
        """The first guard that fails for this call, in words (None if all pass)."""
        bad = self.failures(args, kwargs)
        return bad[0].text if bad else None

    def text(self) -> str:
        return "\n".join(f"  {g.text}" for g in self.guards)
