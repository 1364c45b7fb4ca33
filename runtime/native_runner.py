"""The generated runner of a native program: one specialised Python function per plan.

`_GeneratedRunner._make_runner` (mixed into runtime/native.py's `NativeProgram`) writes a
function that fills the slot list, calls the segments' entry functions and the steps left in
Python, and returns the outputs, with no per-call loops or branching on item kinds.
"""

from __future__ import annotations

import functools

import numpy as np

from compiler.render_entry import FIRST_INPUT_SLOT, INTS_SLOT, STATUS

from .llvm_backend import RECYCLE_BYTES, run_split, unshared
from .native_plan import STATS, _ptr


class _GeneratedRunner:
    """NativeProgram's call path: the generated runner and the steps it calls back into."""

    def __call__(self, arrays) -> list | None:
        """The outputs, or None when this call does not fit the plan (the caller runs it
        step by step)."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            return self._run(arrays)
        finally:
            self.lock.release()

    def _run(self, arrays):
        return self.runner(arrays)

    def _make_runner(self):
        """A Python function specialised to this plan (generated once): it fills the slot list
        and runs the schedule with no loops, dict lookups or per-call branching on item kinds,
        so a small graph's call costs little more than its ctypes calls."""
        ns: dict = {"_empty": np.empty, "_unshared": unshared, "STATS": STATS}
        lines = ["def run(arrays):"]
        first = FIRST_INPUT_SLOT
        slots = [f"T{i}" for i in range(len(self.template))]
        for i, v in enumerate(self.template):
            ns[f"T{i}"] = v
        slots[first:first + self.nin] = [f"arrays[{i}]" for i in range(self.nin)]
        big = []
        for k, (slot, shape, dtype, _) in enumerate(self.fresh):
            ns[f"S{k}"], ns[f"D{k}"] = shape, dtype
            if int(np.prod(shape)) * dtype.itemsize >= RECYCLE_BYTES:
                big.append((k, slot))
            else:
                slots[slot] = f"_empty(S{k}, D{k})"
        lines.append(f"    lst = [{', '.join(slots)}]")
        for k, slot in big:     # last call's output again when nobody holds it any more
            ns[f"F{k}"] = self.fresh[k]
            lines += [f"    o = _unshared(F{k}, 3)",
                      "    if o is None:",
                      f"        o = F{k}[3] = _empty(S{k}, D{k})",
                      f"    lst[{slot}] = o"]
        for j, (kind, obj) in enumerate(self.schedule):
            if kind == "native":
                ns[f"N{j}"] = obj
                lines.append(f"    N{j}(lst)")
                if self.checks:     # an index out of bounds: run step by step (it raises)
                    lines += [f"    if T{INTS_SLOT}[{STATUS}]:",
                              f"        T{INTS_SLOT}[{STATUS}] = 0", "        return None"]
            elif kind == "python":
                ns[f"P{j}"] = functools.partial(self._python_step, obj)
                lines += [f"    if not P{j}(lst):", "        return None"]
            else:
                ns[f"P{j}"] = functools.partial(self._threaded_step, obj)
                lines.append(f"    P{j}(lst)")
        lines.append('    STATS["calls"] += 1')
        res = []
        for k, (g, copy) in enumerate(self.outs):
            kind, v = g
            if kind == "slot":
                res.append(f"lst[{v}]")
            elif kind == "static":
                ns[f"V{k}"] = v
                res.append(f"V{k}.copy()" if copy else f"V{k}")
            else:
                ns[f"G{k}"] = functools.partial(self._fetch, g)
                res.append(f"G{k}(lst).copy()" if copy else f"G{k}(lst)")
        lines.append(f"    return [{', '.join(res)}]")
        exec("\n".join(lines), ns)   # noqa: S102 - text built above from slot numbers only
        return ns["run"]

    def _python_step(self, obj, lst) -> bool:
        """Run one step that stays in Python; False when its result does not fit the plan."""
        how, node, slot, layout, getters = obj
        args = [self._fetch(g, lst) for g in getters]
        env = {x.id: a for x, a in zip(node.value_inputs, args)}
        out = self._prog._extern(node, env) if how == "extern" else \
            self._prog._node(node, env, self.syms)
        if type(out) is not np.ndarray or (out.shape, out.strides, out.dtype) != layout:
            return False
        lst[slot] = out
        return True

    def _threaded_step(self, obj, lst) -> None:
        """Run one kernel split over the thread pool."""
        fn, dims, n0, total, ptrs = obj
        addrs = [(self.arena_base if slot == 0 else _ptr(lst[slot])) + off
                 for slot, off in ptrs]
        run_split(fn, n0, total, dims.ctypes.data, addrs)

    def _fetch(self, g, lst):
        """The array of getter `g` (see `_getter`) for slot list `lst`."""
        kind, v = g
        if kind == "slot":
            return lst[v]
        if kind == "static":
            return v
        slot, vid, chain = v
        env = {vid: lst[slot]}
        for node in chain:
            env[node.out.id] = self._prog._node(node, env, self.syms)
        return env[chain[-1].out.id]

