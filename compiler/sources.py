"""Where a compiled function's inputs come from at call time, and what the trace may read.

Before a trace, `scan_roots` walks what the function can reach — its arguments, the module it is a
method of, the cells of its closure and the globals its code names — and gives every tensor found
there a `Source`: a Python expression that fetches it again on the next call (`a[0]`,
`a[0].fc.weight`, `G0['W']`, `C0.cell_contents`). Parameters, buffers and closure/global tensors so
become graph inputs read afresh on every call, never baked-in constants: updating a weight never
needs a recompile, and rebinding a global name is seen too. A tensor the trace meets that no scan
reached (one created by untraced code) is held by reference (`K3`) and read on every call.

Expressions are evaluated with these names bound: `a` (positional args), `kw` (keyword args),
`G<i>` (a globals dict), `C<i>` (a closure cell), `K<i>` (a constant object).
"""

from __future__ import annotations

import inspect
import os
import sys
import types
from typing import Any

from dyngraph._tensor import raw_grad

__all__ = ["Source", "ScalarSource", "Scan", "scan_roots", "is_module", "is_optimizer",
           "PY_SCALARS", "user_attrs", "is_generator", "generator_state"]

PY_SCALARS = (bool, int, float, str, type(None))
_MAX_DEPTH = 4


def is_module(obj) -> bool:
    """Duck-typed `nn.Module` check (the compiler does not import dyngraph.nn)."""
    return hasattr(obj, "named_parameters") and hasattr(obj, "named_buffers") and \
        hasattr(obj, "training")


def is_optimizer(obj) -> bool:
    """Duck-typed optimizer check: it has `param_groups`, `state` and `step`."""
    return hasattr(obj, "param_groups") and hasattr(obj, "state") and hasattr(obj, "step")


class Source:
    """A Python expression that fetches one object at call time, and a readable name for it."""

    __slots__ = ("expr", "label")

    def __init__(self, expr: str, label: str | None = None):
        self.expr = expr
        self.label = label or expr

    def attr(self, name: str) -> "Source":
        if not name.isidentifier():  # Sequential's children are named "0", "1", ...
            return Source(f"getattr({self.expr}, {name!r})", f"{self.label}.{name}")
        return Source(f"{self.expr}.{name}", f"{self.label}.{name}")

    def item(self, key, key_expr: str | None = None) -> "Source":
        k = key_expr if key_expr is not None else repr(key)
        return Source(f"{self.expr}[{k}]", f"{self.label}[{k}]")

    def __repr__(self) -> str:
        return f"<Source {self.label}>"


class ScalarSource(Source):
    """A Python number (an optimizer hyperparameter) read on every call as a 0-d float64 array.

    `value` is what the trace saw (its type is guarded: a number, or a tensor holding one);
    `device` is where the array goes (None: the CPU).
    """

    __slots__ = ("kind", "device")

    def __init__(self, expr: str, label: str | None, value, device=None):
        super().__init__(expr, label)
        self.kind = "tensor" if hasattr(value, "_data") else "number"
        self.device = device if device is not None and device.type != "cpu" else None


class Scan:
    """What a function can reach: tensors by source, modules, optimizers and Python values."""

    def __init__(self):
        self.bindings: dict[str, Any] = {}       # G<i>/C<i>/K<i> -> object
        self.tensors: dict[int, tuple] = {}      # id(tensor._data) -> (Source, tensor)
        self.tensor_objs: list[tuple] = []       # (Source, tensor) for every reached tensor
        self.modules: list[tuple] = []           # (Source, module)
        self.optimizers: list[tuple] = []        # (Source, optimizer)
        self.values: list[tuple] = []            # (Source, python value) that may steer a trace
        self.objects: list[tuple] = []           # (Source, object) guarded by identity
        self.grad_set: dict[int, bool] = {}      # id(leaf) -> whether it had a .grad at scan time
        self.guards: list[tuple] = []            # (expr, text) added by the trace itself
        self.containers: list[tuple] = []        # (Source, list or dict): writes are side effects
        self.attr_owners: list[tuple] = []       # (Source, object): attribute writes are too
        self.generators: list[tuple] = []        # (Source, random.Random / numpy generator)
        self._seen: set[int] = set()
        self._codes: set[int] = set()            # functions already scanned (by code object)
        self._globals: dict[int, str] = {}       # id(globals dict) -> its G<i> name
        self._consts: dict[int, str] = {}

    def bind(self, prefix: str, obj) -> str:
        """A name (`K3`) under which `obj` is available to source expressions."""
        key = id(obj)
        if prefix == "K" and key in self._consts:
            return self._consts[key]
        name = f"{prefix}{sum(1 for k in self.bindings if k[0] == prefix)}"
        self.bindings[name] = obj
        if prefix == "K":
            self._consts[key] = name
        return name

    def const_source(self, obj, label: str = "") -> Source:
        """A source holding `obj` by reference."""
        name = self.bind("K", obj)
        return Source(name, label or f"<{type(obj).__name__} {name}>")

    def add_tensor(self, src: Source, t) -> None:
        key = id(t._data)
        if key not in self.tensors:
            self.tensors[key] = (src, t)
            self.tensor_objs.append((src, t))
        g = raw_grad(t)
        if t._rg and t.grad_fn is None:
            self.grad_set.setdefault(id(t), g is not None)
        if t._rg and t.grad_fn is None and g is not None:
            if id(g._data) not in self.tensors:
                gsrc = src.attr("_grad")
                self.tensors[id(g._data)] = (gsrc, g)

    def visit(self, src: Source, obj, depth: int = 0) -> None:
        """Record `obj` (reached through `src`) and what it holds."""
        from dyngraph._tensor import Tensor
        if isinstance(obj, PY_SCALARS):
            self.values.append((src, obj))
            return
        if isinstance(obj, Tensor):
            self.add_tensor(src, obj)
            return
        if depth > _MAX_DEPTH or id(obj) in self._seen:
            return
        if isinstance(obj, (tuple, list)):
            self._seen.add(id(obj))
            if isinstance(obj, list):
                self.containers.append((src, obj))
            if isinstance(obj, tuple) and all(isinstance(x, PY_SCALARS) for x in obj):
                self.values.append((src, obj))
                return
            if any(not isinstance(x, PY_SCALARS) for x in obj):   # its structure holds inputs
                self.values.append((Source(f"len({src.expr})", f"len({src.label})"), len(obj)))
            for i, x in enumerate(obj):
                self.visit(src.item(i), x, depth + 1)
            return
        if isinstance(obj, dict):
            self._seen.add(id(obj))
            self.containers.append((src, obj))
            for k, x in obj.items():
                if isinstance(k, (str, int)):
                    self.visit(src.item(k), x, depth + 1)
            return
        if is_module(obj):
            self._seen.add(id(obj))
            self._visit_module(src, obj)
            return
        if is_optimizer(obj):
            self._seen.add(id(obj))
            self._visit_optimizer(src, obj)
            return
        self.watch(src, obj, depth)

    def watch(self, src: Source, obj, depth: int = 0) -> None:
        """Record objects whose change during a trace is a side effect the graph cannot replay:
        user objects (attribute writes), lists and dicts, user-held random generators. Tensors
        found in them become sources (read on every call); their scalars are guarded when the
        trace reads them (`compiler/effects.py`)."""
        from dyngraph._tensor import Tensor
        if depth > _MAX_DEPTH or isinstance(obj, PY_SCALARS):
            return
        if isinstance(obj, Tensor):
            self.add_tensor(src, obj)
            return
        if id(obj) in self._seen:
            return
        if is_module(obj) or is_optimizer(obj):
            self.visit(src, obj, depth)
            return
        if is_generator(obj):
            self._seen.add(id(obj))
            self.generators.append((src, obj))
            return
        if isinstance(obj, (list, tuple, dict)):
            self._seen.add(id(obj))
            if not isinstance(obj, tuple):
                self.containers.append((src, obj))
            items = obj.items() if isinstance(obj, dict) else enumerate(obj)
            for k, x in items:
                if isinstance(k, (str, int)):
                    self.watch(src.item(k), x, depth + 1)
            return
        d = user_attrs(obj)
        if d is None:
            return
        self._seen.add(id(obj))
        self.attr_owners.append((src, obj))
        for k, x in list(d.items()):
            if isinstance(k, str) and k.isidentifier():
                self.watch(src.attr(k), x, depth + 1)

    def scan_function(self, fn, cls=None, depth: int = 0, root: bool = False) -> None:
        """Scan what a function's code can reach: its closure cells, the globals it names, its
        default values; and, recursively, the user functions it names (globals, closure cells,
        methods of `cls` named in the code), so a helper's globals are inputs or guards too.
        Functions of dyngraph, the standard library and installed packages are not entered."""
        fn = getattr(fn, "__func__", fn)
        code = getattr(fn, "__code__", None)
        if code is None or depth > _MAX_DEPTH or id(code) in self._codes or (
                not root and _library_code(code)):
            return
        self._codes.add(id(code))
        names = _code_names(code)
        for name, cell in zip(code.co_freevars, getattr(fn, "__closure__", None) or ()):
            try:
                obj = cell.cell_contents
            except ValueError:
                continue
            if isinstance(obj, (types.FunctionType, types.MethodType)):
                self.scan_function(obj, cls, depth + 1)
            elif not isinstance(obj, (types.ModuleType, type)):
                self.visit(Source(f"{self.bind('C', cell)}.cell_contents", name), obj)
        defaults = list(getattr(fn, "__defaults__", None) or ()) + list(
            (getattr(fn, "__kwdefaults__", None) or {}).values())
        for obj in defaults:        # (def f(x, cfg=CFG): the default object is reachable)
            if not isinstance(obj, PY_SCALARS + (types.FunctionType, types.ModuleType, type)):
                self.visit(self.const_source(obj, f"{fn.__name__}.<default>"), obj)
        glb = getattr(fn, "__globals__", None)
        if glb is not None:
            for name in sorted(names):
                if name not in glb:
                    continue
                obj = glb[name]
                if isinstance(obj, types.FunctionType):
                    self.scan_function(obj, None, depth + 1)
                elif not isinstance(obj, (types.ModuleType, type, types.BuiltinFunctionType)):
                    self.visit(Source(f"{self._globals_name(glb)}[{name!r}]", name), obj)
        if cls is not None:
            for name in sorted(names):
                meth = inspect.getattr_static(cls, name, None)
                if isinstance(meth, (types.FunctionType, staticmethod, classmethod)):
                    self.scan_function(getattr(meth, "__func__", meth), cls, depth + 1)

    def _globals_name(self, glb: dict) -> str:
        name = self._globals.get(id(glb))
        if name is None:
            name = self._globals[id(glb)] = self.bind("G", glb)
        return name

    def _visit_module(self, src: Source, mod) -> None:
        self.objects.append((src, mod))
        for name, m in _named_modules(mod):
            msrc = _module_path(src, mod, name, "_modules")
            self.modules.append((msrc, m))
            if not _library_code(getattr(type(m).forward, "__code__", None)):
                self.scan_function(type(m).forward, type(m))    # (globals its forward reads)
            self.attr_owners.append((msrc, m))     # (self._count += 1, self.training = ...)
            for k, x in vars(m).items():
                if isinstance(x, (bool, int, float, str)) and not k.startswith("_") \
                        and k != "training":
                    self.values.append((msrc.attr(k), x))
                elif isinstance(x, (list, dict)) and not k.startswith("_"):
                    self.containers.append((msrc.attr(k), x))   # (self.history.append(...))
                elif k.isidentifier() and not k.startswith("__") and (
                        user_attrs(x) is not None or is_generator(x)):
                    self.watch(msrc.attr(k), x, 1)              # (self.rng = random.Random())
        for name, p in mod.named_parameters():
            self.add_tensor(_module_path(src, mod, name, "_parameters"), p)
        for name, b in mod.named_buffers():
            if b is not None:
                self.add_tensor(_module_path(src, mod, name, "_buffers"), b)

    def _visit_optimizer(self, src: Source, opt) -> None:
        self.optimizers.append((src, opt))
        self.objects.append((src, opt))
        for gi, group in enumerate(opt.param_groups):
            gsrc = src.attr("param_groups").item(gi)
            for k, x in group.items():
                if k != "params" and isinstance(x, PY_SCALARS + (tuple,)):
                    self.values.append((gsrc.item(k), x))
            for pi, p in enumerate(group["params"]):
                psrc = gsrc.item("params").item(pi)
                self.add_tensor(psrc, p)
                st = opt.state.get(p) if hasattr(opt.state, "get") else None
                pname = self.bind("K", p)
                # Guarded even when empty: a first step creates state, later steps update it.
                self.values.append((Source(f"len({src.expr}.state.get({pname}, ()))",
                                           f"len({src.label}.state[{psrc.label}])"),
                                    len(st) if st else 0))
                if st:
                    ssrc = src.attr("state").item(p, pname)
                    for k, x in st.items():
                        self.visit(ssrc.item(k), x, _MAX_DEPTH)


_LIBRARY_PACKAGES = ("dyngraph", "compiler", "runtime", "numpy", "builtins")


def user_attrs(obj) -> dict | None:
    """The attribute dict of an instance of a user-defined class, else None (classes,
    functions, Python modules, tensors and dyngraph's own objects keep their own state)."""
    if isinstance(obj, (type, types.FunctionType, types.MethodType, types.ModuleType,
                        types.BuiltinFunctionType, dict, list, tuple, set, frozenset)):
        return None     # (containers, OrderedDict included, are watched by content)
    try:
        d = object.__getattribute__(obj, "__dict__")
    except (AttributeError, TypeError):
        return None
    if type(d) is not dict:
        return None
    pkg = (getattr(type(obj), "__module__", None) or "builtins").split(".")[0]
    return None if pkg in _LIBRARY_PACKAGES else d


def is_generator(obj) -> bool:
    """A user-held Python `random.Random` or numpy `Generator`/`RandomState`."""
    import random

    import numpy as np
    return isinstance(obj, (random.Random, np.random.Generator, np.random.RandomState))


def generator_state(g):
    """A comparable snapshot of a generator's state (see `is_generator`)."""
    import random
    if isinstance(g, random.Random):
        return g.getstate()
    bg = getattr(g, "bit_generator", None) or getattr(g, "_bit_generator", None)
    return frozen(bg.state if bg is not None else g.get_state())


def frozen(state):
    """A generator state (nested dicts, tuples, ints, numpy arrays) as an equality-comparable
    value: arrays become (dtype, shape, bytes)."""
    import numpy as np
    if isinstance(state, dict):
        return tuple((k, frozen(v)) for k, v in sorted(state.items()))
    if isinstance(state, (list, tuple)):
        return tuple(frozen(v) for v in state)
    if isinstance(state, np.ndarray):
        return (state.dtype.str, state.shape, state.tobytes())
    return state


def _named_modules(mod):
    if hasattr(mod, "named_modules"):
        return list(mod.named_modules())
    return [("", mod)]


def _path(src: Source, dotted: str) -> Source:
    out = src
    for part in dotted.split(".") if dotted else ():
        out = out.attr(part)
    return out


def _module_path(src: Source, mod, dotted: str, store: str) -> Source:
    """`model.fc.weight` read through the module's own dicts (`._modules['fc']._parameters
    ['weight']`) rather than attribute lookup, which goes through `Module.__getattr__` (a Python
    call per step: ~3 us each, 0.4 ms per call of a guard set over a model's parameters).
    `store` holds the last part ("_modules", "_parameters" or "_buffers"). Modules that do not
    keep those dicts take the attribute path."""
    parts = dotted.split(".") if dotted else []
    obj, ok = mod, True
    for part in parts[:-1]:
        obj = vars(obj).get("_modules", {}).get(part)
        if obj is None:
            ok = False
            break
    if not ok or (parts and parts[-1] not in vars(obj).get(store, {})):
        return _path(src, dotted)
    expr = src.expr
    for part in parts[:-1]:
        expr = f"{expr}._modules[{part!r}]"
    if parts:
        expr = f"{expr}.{store}[{parts[-1]!r}]"
    return Source(expr, ".".join([src.label] + parts))


_LIBRARY_DIRS = tuple(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), d) + os.sep
    for d in ("dyngraph", "compiler", "runtime")) + tuple(
    {p + os.sep for p in (sys.prefix, sys.base_prefix, sys.exec_prefix) if p and p != os.sep})


def _library_code(code) -> bool:
    """Code of dyngraph itself, the standard library or an installed package (not scanned)."""
    if code is None:
        return True
    f = code.co_filename
    return f.startswith("<frozen") or os.path.abspath(f).startswith(_LIBRARY_DIRS)


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


def scan_roots(fn, args, kwargs, self_obj=None) -> Scan:
    """Scan what `fn(*args, **kwargs)` can reach (see the module docstring)."""
    sc = Scan()
    if self_obj is not None:
        sc.visit(Source(sc.bind("K", self_obj), "self"), self_obj)
    for i, x in enumerate(args):
        sc.visit(Source(f"a[{i}]", f"args[{i}]"), x)
    for k, x in kwargs.items():
        sc.visit(Source(f"kw[{k!r}]", k), x)
    f = getattr(fn, "__func__", fn)
    if getattr(fn, "__self__", None) is not None and self_obj is None:
        obj = fn.__self__
        sc.visit(Source(sc.bind("K", obj), "self"), obj)
    if not isinstance(f, types.FunctionType):       # a module or another callable object
        f = getattr(type(f), "forward", None) or type(f).__call__
    sc.scan_function(f, root=True)
    return sc
