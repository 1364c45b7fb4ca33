"""Traced optimizer steps: `optimizer.step()` inside a compiled function becomes part of the graph.

`dyngraph.optim` updates the arrays behind the parameters directly (fast in eager mode, invisible to
a trace). While a function is traced, `traced_optimizers` gives every reachable SGD, Adam, AdamW,
RMSprop and Adagrad optimizer a `step` written in dyngraph ops instead, with the same arithmetic in
the same order as the eager update (so compiled and eager training agree to the last bit on the
CPU). What the update writes goes through traced in-place ops, so parameters and optimizer state
are written back in place after each compiled call, and state the first step creates (momentum
buffers, moment averages) is inserted into `optimizer.state` by the call too. The model, the
optimizer and the step function stay ordinary objects that can be used eagerly between calls.

Hyperparameters that only enter arithmetic (lr, momentum, betas, eps, weight_decay, ...) are graph
inputs read from `param_groups` on every call, so a learning-rate scheduler changes them without a
recompile; what steers the trace is guarded: flags (nesterov, amsgrad, maximize, ...), whether
momentum or weight decay is zero, the number of groups and parameters and the state each parameter
has. The step count lives in the optimizer state (a tensor), so it is an input too.

While tracing, each param group dict is replaced by a `_WatchedGroup` that records reads and
writes by anything other than the traced step. If user code reads a runtime hyperparameter (say,
to log it or branch on it), its value stays guarded; if it writes one (a scheduler stepped inside
the compiled function), the signature runs eagerly, since a Python write cannot be replayed.
Optimizers of other types, subclasses that override `step`, and optimizers with step hooks keep
their eager `step`, whose raw array writes make the trace fall back to eager (never silently wrong).
"""

from __future__ import annotations

import contextlib
import functools

from .sources import ScalarSource, Source

__all__ = ["traced_optimizers", "RUNTIME_KEYS"]

# Hyperparameters that only enter arithmetic: graph inputs, never baked into the graph.
RUNTIME_KEYS = ("lr", "momentum", "dampening", "weight_decay", "betas", "eps", "alpha",
                "lr_decay")


class _WatchedGroup(dict):
    """A param group dict that records keys read or written by code other than the traced step."""

    def __init__(self, group: dict):
        super().__init__(group)
        self.original = group
        self.reads: set = set()
        self.writes: set = set()

    def __getitem__(self, key):
        self.reads.add(key)
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        self.reads.add(key)
        return dict.get(self, key, default)

    def items(self):
        self.reads.update(dict.keys(self))
        return dict.items(self)

    def values(self):
        self.reads.update(dict.keys(self))
        return dict.values(self)

    def __setitem__(self, key, value):
        self.writes.add(key)
        dict.__setitem__(self, key, value)
        self.original[key] = value

    def update(self, *args, **kwargs):
        self.writes.update(dict(*args, **kwargs))
        dict.update(self, *args, **kwargs)
        self.original.update(*args, **kwargs)

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]


class _StepContext:
    """What a rule needs while it traces one param group: runtime scalars, guards, state."""

    def __init__(self, tracer, scan, src: Source, opt, gi: int, group: dict):
        self.tracer, self.scan, self.src, self.opt, self.gi = tracer, scan, src, opt, gi
        self.group = group                 # the plain dict (reads here are not the user's)
        self.gsrc = src.attr("param_groups").item(gi)
        self.scalars: dict = tracer.optim_scalars

    def scalar(self, key: str, index: int | None = None, like=None):
        """The hyperparameter as a 0-d float64 tensor bound to a graph input."""
        ck = (id(self.opt), self.gi, key, index)
        t = self.scalars.get(ck)
        if t is None:
            src = self.gsrc.item(key) if index is None else self.gsrc.item(key).item(index)
            value = self.group[key] if index is None else self.group[key][index]
            dev = like.device if like is not None else None
            t = self.scalars[ck] = self.tracer.scalar_input(
                ScalarSource(src.expr, src.label, value, dev), value)
        return t

    def test(self, key: str, op: str) -> bool:
        """`group[key] <op> 0`, guarded (it decides which ops the trace records)."""
        value = _num(self.group[key])
        result = value != 0 if op == "!=" else value > 0
        e = self.gsrc.item(key)
        self.scan.guards.append((f"(_hpf({e.expr}) {op} 0) is {result}",
                                 f"({e.label} {op} 0) is {result}"))
        return result

    def grads(self):
        """(index, param, grad) for each parameter with a gradient (as `_iter_grads`)."""
        for pi, p in enumerate(self.group["params"]):
            g = p._grad
            if g is None:
                continue
            if tuple(g.shape) != tuple(p.shape):
                raise RuntimeError(
                    f"optimizer: gradient of shape {tuple(g.shape)} does not match its "
                    f"parameter's shape {tuple(p.shape)}")
            yield pi, p, g

    def state(self, p) -> dict:
        return self.opt.state[p]

    def new_state(self, pi: int, p, key: str, t) -> None:
        """Put a tensor the step creates into the optimizer state (and replay that each call)."""
        self.opt.state[p][key] = t
        psrc = self.gsrc.item("params").item(pi)
        self.tracer.created_state.append((Source(f"{self.src.expr}.state[{psrc.expr}]",
                                                 f"{self.src.label}.state[{psrc.label}]"), key, t))


def _num(x) -> float:
    """A hyperparameter as a float, without a graph break when it is a tensor."""
    data = getattr(x, "_data", None)
    if data is not None:
        return float(data if type(data).__module__ == "numpy" else data.get())
    return float(x)


def _assign(target, value) -> None:
    """`target.copy_(value)` recorded as a traced in-place op (even when neither requires grad)."""
    from dyngraph.ops._api import inplace
    from dyngraph.ops.shape import _copy_node
    inplace(_copy_node, target, value, opname="copy_")


def _zeros_like(p):
    import dyngraph
    return dyngraph.zeros_like(p)


def _step_counter(p):
    import dyngraph
    return dyngraph.zeros((), dtype=dyngraph.float32)


# ----- the rules: one per optimizer, mirroring dyngraph/optim's eager updates op for op --------

def sgd_rule(ctx: _StepContext) -> None:
    """SGD with momentum, dampening, Nesterov momentum, weight decay and maximize."""
    group = ctx.group
    use_wd = ctx.test("weight_decay", "!=")
    use_mom = ctx.test("momentum", "!=")
    nesterov, maximize = group["nesterov"], group["maximize"]
    for pi, p, g in ctx.grads():
        lr = ctx.scalar("lr", like=p)
        if maximize:
            g = -g
        if use_wd:
            g = g + ctx.scalar("weight_decay", like=p) * p
        if use_mom:
            mom = ctx.scalar("momentum", like=p)
            buf = ctx.state(p).get("momentum_buffer")
            if buf is None:
                buf = g.clone()
                ctx.new_state(pi, p, "momentum_buffer", buf)
            else:
                _assign(buf, buf * mom + (1 - ctx.scalar("dampening", like=p)) * g)
            g = g + mom * buf if nesterov else buf
        _assign(p, p - lr * g)


def adam_rule(ctx: _StepContext, decoupled: bool | None = None) -> None:
    """Adam / AdamW (amsgrad, maximize, L2 or decoupled weight decay)."""
    group = ctx.group
    if decoupled is None:
        decoupled = group.get("decoupled_weight_decay", False)
    use_wd = ctx.test("weight_decay", "!=")
    amsgrad, maximize = group["amsgrad"], group["maximize"]
    for pi, p, g in ctx.grads():
        st = ctx.state(p)
        if not st:
            for key, make in (("step", _step_counter), ("exp_avg", _zeros_like),
                              ("exp_avg_sq", _zeros_like)) + (
                    (("max_exp_avg_sq", _zeros_like),) if amsgrad else ()):
                ctx.new_state(pi, p, key, make(p))
        lr, eps = ctx.scalar("lr", like=p), ctx.scalar("eps", like=p)
        beta1, beta2 = ctx.scalar("betas", 0, like=p), ctx.scalar("betas", 1, like=p)
        if maximize:
            g = -g
        step_t = st["step"]
        _assign(step_t, step_t + 1)
        step = step_t.double()
        new_p = p
        if use_wd:
            wd = ctx.scalar("weight_decay", like=p)
            if decoupled:
                new_p = p * (1 - lr * wd)
            else:
                g = g + wd * p
        m, v = st["exp_avg"], st["exp_avg_sq"]
        _assign(m, m + (1 - beta1) * (g - m))
        _assign(v, v * beta2 + (1 - beta2) * (g * g))
        step_size = lr / (1 - beta1 ** step)
        bias_correction2_sqrt = (1 - beta2 ** step).sqrt()
        if amsgrad:
            vmax = st["max_exp_avg_sq"]
            _assign(vmax, _maximum(vmax, v))
            v = vmax
        denom = v.sqrt() / bias_correction2_sqrt + eps
        _assign(p, new_p - step_size * m / denom)


def adamw_rule(ctx: _StepContext) -> None:
    """AdamW: Adam with decoupled weight decay."""
    adam_rule(ctx, decoupled=True)


def rmsprop_rule(ctx: _StepContext) -> None:
    """RMSprop (centered, momentum, weight decay, maximize)."""
    group = ctx.group
    use_wd = ctx.test("weight_decay", "!=")
    use_mom = ctx.test("momentum", ">")
    centered, maximize = group["centered"], group["maximize"]
    for pi, p, g in ctx.grads():
        st = ctx.state(p)
        if not st:
            ctx.new_state(pi, p, "step", _step_counter(p))
            ctx.new_state(pi, p, "square_avg", _zeros_like(p))
            if use_mom:
                ctx.new_state(pi, p, "momentum_buffer", _zeros_like(p))
            if centered:
                ctx.new_state(pi, p, "grad_avg", _zeros_like(p))
        lr, eps = ctx.scalar("lr", like=p), ctx.scalar("eps", like=p)
        alpha = ctx.scalar("alpha", like=p)
        if maximize:
            g = -g
        _assign(st["step"], st["step"] + 1)
        if use_wd:
            g = g + ctx.scalar("weight_decay", like=p) * p
        v = st["square_avg"]
        _assign(v, v * alpha + (1 - alpha) * (g * g))
        if centered:
            ga = st["grad_avg"]
            _assign(ga, ga + (1 - alpha) * (g - ga))
            avg = (v - ga * ga).sqrt()
        else:
            avg = v.sqrt()
        avg = avg + eps
        if use_mom:
            buf = st["momentum_buffer"]
            _assign(buf, buf * ctx.scalar("momentum", like=p) + g / avg)
            _assign(p, p - lr * buf)
        else:
            _assign(p, p - lr * (g / avg))


def adagrad_rule(ctx: _StepContext) -> None:
    """Adagrad (lr decay, weight decay, maximize)."""
    import dyngraph
    group = ctx.group
    use_wd = ctx.test("weight_decay", "!=")
    maximize = group["maximize"]
    for pi, p, g in ctx.grads():
        st = ctx.state(p)
        if not st:
            ctx.new_state(pi, p, "step", _step_counter(p))
            ctx.new_state(pi, p, "sum", dyngraph.full_like(p, group["initial_accumulator_value"]))
        lr, eps = ctx.scalar("lr", like=p), ctx.scalar("eps", like=p)
        lr_decay = ctx.scalar("lr_decay", like=p)
        step_t = st["step"]
        _assign(step_t, step_t + 1)
        step = step_t.double()
        if maximize:
            g = -g
        if use_wd:
            g = g + ctx.scalar("weight_decay", like=p) * p
        clr = lr / (1 + (step - 1) * lr_decay)
        s = st["sum"]
        _assign(s, s + g * g)
        std = s.sqrt() + eps
        _assign(p, p - clr * (g / std))


def _maximum(a, b):
    import dyngraph
    return dyngraph.maximum(a, b)


def _rules() -> dict:
    from dyngraph import optim
    return {optim.SGD: sgd_rule, optim.Adam: adam_rule, optim.AdamW: adamw_rule,
            optim.RMSprop: rmsprop_rule, optim.Adagrad: adagrad_rule}


def _rule_for(opt):
    """The traced rule for `opt`, or (None, why not)."""
    for cls, rule in _rules().items():
        if isinstance(opt, cls) and type(opt).step is cls.step:
            if opt._optimizer_step_pre_hooks or opt._optimizer_step_post_hooks:
                return None, "it has step hooks (Python code the graph cannot replay)"
            return rule, ""
    return None, (f"{type(opt).__name__} has no traced update rule (compiler/optim_rules.py "
                  "covers SGD, Adam, AdamW, RMSprop and Adagrad)")


def _traced_step(tracer, scan, src, opt, rule, scheduled, closure=None):
    """The `step` installed on an optimizer while tracing."""
    from dyngraph.autograd import enable_grad, no_grad
    loss = None
    if scheduled:
        opt._opt_called = True     # what a scheduler's wrapper of `step` records (idempotent)
    if closure is not None:
        with enable_grad():
            loss = closure()
    with no_grad():
        for gi, group in enumerate(opt.param_groups):
            plain = group.original if isinstance(group, _WatchedGroup) else group
            rule(_StepContext(tracer, scan, src, opt, gi, plain))
    return loss


@contextlib.contextmanager
def traced_optimizers(scan, tracer):
    """While tracing, route reachable optimizers' `step()` through traceable dyngraph ops."""
    installed = []
    for src, opt in scan.optimizers:
        rule, why = _rule_for(opt)
        own = opt.__dict__.get("step")
        if rule is not None and own is not None and not getattr(own, "_wrapped_by_lr_sched",
                                                                False):
            rule, why = None, "its step() was replaced on the instance"
        if rule is None:
            tracer.notes.append(f"{src.label}.step() keeps its eager update: {why}")
            continue
        had_step = "step" in opt.__dict__
        old_step = opt.__dict__.get("step")
        groups = list(opt.param_groups)
        opt.param_groups[:] = [_WatchedGroup(g) for g in groups]
        before = [dict(g) for g in groups]
        opt.step = functools.partial(_traced_step, tracer, scan, src, opt, rule, own is not None)
        installed.append((src, opt, had_step, old_step, groups, before))
        scan.guards.append((f"len({src.expr}.param_groups) == {len(groups)}",
                            f"len({src.label}.param_groups) == {len(groups)}"))
        for gi, g in enumerate(groups):
            e = src.attr("param_groups").item(gi).item("params")
            scan.guards.append((f"len({e.expr}) == {len(g['params'])}",
                                f"len({e.label}) == {len(g['params'])}"))
    try:
        yield
    finally:
        for src, opt, had_step, old_step, groups, before in installed:
            watched = opt.param_groups
            if had_step:
                opt.step = old_step
            else:
                del opt.step
            user_reads: set = set()
            for gi, (w, g, b) in enumerate(zip(watched, groups, before)):
                if isinstance(w, _WatchedGroup):
                    user_reads |= {(gi, k) for k in w.reads}
                    if w.writes or g != b:
                        changed = sorted(w.writes | {k for k in g if g.get(k) is not b.get(k)})
                        tracer.poison(
                            f"the function changed {src.label}.param_groups[{gi}] "
                            f"({', '.join(map(str, changed))}) while it was traced, e.g. with "
                            "a scheduler's step(); a Python write cannot be replayed by the "
                            "graph: step the scheduler outside the compiled function")
            opt.param_groups[:] = groups
            _unguard_runtime_values(scan, src, len(groups), user_reads)


def _unguard_runtime_values(scan, src, n_groups: int, user_reads: set) -> None:
    """Drop value guards on hyperparameters that are graph inputs, unless user code read them."""
    drop = set()
    for gi in range(n_groups):
        gsrc = src.attr("param_groups").item(gi)
        for k in RUNTIME_KEYS:
            if (gi, k) not in user_reads:
                drop.add(gsrc.item(k).expr)
    scan.values[:] = [(s, v) for s, v in scan.values if s.expr not in drop]
