"""Dispatch decisions for CUDA arrays, checked without a GPU through a cupy test double
(tests/cuda/fake_cupy.py): the interpreter takes its array module from its inputs, graph
constants are copied to the device once, and compiled-autograd backward graphs go to the CUDA
backend. Values are compared with the same computation on numpy (eager mode, float64)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import compiler.interpreter as interp_mod
import dyngraph as dg
from compiler.interpreter import Interpreter
from dyngraph._tensor import _wrap

from . import fake_cupy as fc
from .patterns import train_step


def _fn(x, w):
    # a constant made inside the function (a graph constant), a matmul, a fused chain, a sum
    scale = dg.tensor([0.5, -1.0, 2.0], dtype=dg.float64, device=x.device)
    return ((x @ w) * scale).tanh().sum()


def _inputs():
    rng = np.random.default_rng(0)
    return rng.standard_normal((4, 5)), rng.standard_normal((5, 3))


def _spy_modules(monkeypatch) -> list:
    """Record the array module every interpreter node runs with."""
    seen = []
    real = interp_mod._run_node

    def run_node(node, args, xp, syms):
        seen.append(xp)
        return real(node, args, xp, syms)
    monkeypatch.setattr(interp_mod, "_run_node", run_node)
    return seen


def _cpu_graph():
    """The segment graph of `_fn` traced on the CPU (its constant is a numpy array)."""
    x, w = _inputs()
    f = dg.compile(_fn, backend="interpreter")
    f(dg.tensor(x), dg.tensor(w))
    f(dg.tensor(x), dg.tensor(w))
    graph = f._cf.entries[0].root.graph
    assert any(n.op == "constant" and type(n.attrs["value"]) is np.ndarray
               for n in graph.nodes)
    return graph


def test_interpreter_picks_the_inputs_array_module_and_copies_constants_once(monkeypatch):
    graph = _cpu_graph()
    x, w = _inputs()
    want = Interpreter(graph)([x, w])
    assert all(type(a) is np.ndarray for a in want)
    with fc.installed(monkeypatch) as fake:
        seen = _spy_modules(monkeypatch)
        run = Interpreter(graph)
        for _ in range(3):
            got = run([fc.on_device(x), fc.on_device(w)])
            assert all(type(a) is fc.FakeArray for a in got)
            np.testing.assert_allclose([a.get() for a in got], want, rtol=1e-12)
        assert seen and all(xp is fake for xp in seen)
        n_consts = sum(n.op == "constant" for n in graph.nodes)
        assert fake.copies == n_consts          # once per constant, not once per call
        seen.clear()
        run([x, w])                              # numpy inputs: numpy again, constants as they are
        assert seen and all(xp is np for xp in seen)


def test_explicit_xp_wins(monkeypatch):
    graph = _cpu_graph()
    x, w = _inputs()
    with fc.installed(monkeypatch):
        seen = _spy_modules(monkeypatch)
        Interpreter(graph)([fc.on_device(x), fc.on_device(w)], np)
        assert seen and all(xp is np for xp in seen)


@pytest.mark.parametrize("backend", ["interpreter", "cuda", "auto"])
def test_compiled_forward_and_backward_on_device_arrays(monkeypatch, backend):
    """Compiled calls on CUDA tensors: the segment and the compiled-autograd backward graph run
    on the CUDA program for "cuda"/"auto" (recorded here; it runs the graph with the reference
    interpreter), every node with the device array module; values and gradients as eager numpy."""
    x, w = _inputs()
    xt, wt = dg.tensor(x), dg.tensor(w, requires_grad=True)
    _fn(xt, wt).backward()
    with fc.installed(monkeypatch) as fake:
        import runtime.cuda_backend as cb
        programs = []

        def program_for(graph, be="cuda"):
            programs.append((graph, be))
            return Interpreter(graph)
        monkeypatch.setattr(cb, "program_for", program_for)
        seen = _spy_modules(monkeypatch)
        f = dg.compile(_fn, backend=backend)
        xd = _wrap(fc.on_device(x))
        for _ in range(3):                  # the first call traces, the next ones run compiled
            wd = _wrap(fc.on_device(w)).requires_grad_()
            loss = f(xd, wd)
            loss.backward()
            assert type(loss._data) is fc.FakeArray and type(wd.grad._data) is fc.FakeArray
            np.testing.assert_allclose(loss._data.get(), _fn(xt, dg.tensor(w)).item(),
                                       rtol=1e-12)
            np.testing.assert_allclose(wd.grad._data.get(), wt.grad.numpy(), rtol=1e-12)
        assert seen and all(xp is fake for xp in seen)
        if backend == "interpreter":
            assert programs == []
        else:
            # one forward segment and one backward graph, both on the CUDA backend
            assert len(programs) == 2 and all(be == backend for _, be in programs)
            fwd, bwd = (g for g, _ in programs)
            assert len(bwd.inputs) == 1 + len(f._cf.entries[0].root.leaf[4][0][1].saved)


def test_symbolic_graph_runs_on_the_inputs_module(monkeypatch):
    """Dynamic shapes run on the interpreter; with CUDA inputs it now runs the device module."""
    def g(x):
        return (x * 2.0).softmax(-1).sum(0)
    with fc.installed(monkeypatch) as fake:
        seen = _spy_modules(monkeypatch)
        f = dg.compile(g, backend="cuda", dynamic=True)
        for n in (3, 5, 7, 9):
            x = np.random.default_rng(n).standard_normal((n, 4))
            got = f(_wrap(fc.on_device(x)))
            assert type(got._data) is fc.FakeArray
            np.testing.assert_allclose(got._data.get(), g(dg.tensor(x)).numpy(), rtol=1e-12)
        assert seen and all(xp is fake for xp in seen)
        assert not any("stays static" in e for e in f._cf.events), f._cf.events


def test_cuda_program_keeps_graph_constants_on_the_device(monkeypatch):
    """CUDAProgram's eager-rule steps (no kernels needed) with a constant: one copy in all."""
    import runtime.cuda_backend as cb
    from compiler.ir import Graph
    x = np.random.default_rng(1).standard_normal((3, 4))
    c = np.random.default_rng(2).standard_normal((4, 2))
    g = Graph()
    vx = g.add_input((3, 4), dg.float64, dg.device("cuda", 0))
    vc = g.add_node("constant", (), {"value": c}, (4, 2), dg.float64, dg.device("cuda", 0))
    vy = g.add_node("matmul", [vx, vc], {}, (3, 2), dg.float64, dg.device("cuda", 0))
    g.outputs = [vy]
    with fc.installed(monkeypatch) as fake:
        monkeypatch.setattr(cb, "_cp", lambda: fake)
        prog = cb.CUDAProgram(g)
        for _ in range(3):
            (out,) = prog([fc.on_device(x)])
            assert type(out) is fc.FakeArray
            np.testing.assert_allclose(out.get(), x @ c, rtol=1e-12)
        assert fake.copies == 1


def test_moving_a_cpu_tensor_to_cuda_keeps_the_device_array(monkeypatch):
    """`cpu_tensor.to("cuda")` (the dispatcher's one-CPU-tensor shortcut) must not turn the
    device array back into numpy (real cupy refuses the implicit conversion)."""
    x = dg.randn(3, 4, dtype=dg.float64, requires_grad=True)
    with fc.installed(monkeypatch):
        y = x.to("cuda")
        assert type(y._data) is fc.FakeArray and y.device == dg.device("cuda", 0)
        (y * 3.0).sum().backward()
    assert type(x.grad._data) is np.ndarray
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), 3.0))


def test_constants_from_cuda_tensors_fold_on_the_host(monkeypatch):
    """An all-constant expression on CUDA tensors is folded with numpy rules on a host copy (a
    cupy constant cannot go through np.asarray); the folded constant goes back to the device
    once, and values are those of eager mode."""
    def fn(x):
        return x * (dg.arange(4.0, device=x.device) * 2.0 + 1.0)
    x = np.random.default_rng(3).standard_normal((3, 4))
    want = fn(dg.tensor(x)).numpy()
    with fc.installed(monkeypatch) as fake:
        f = dg.compile(fn, backend="interpreter")
        xd = _wrap(fc.on_device(x))
        for _ in range(3):
            got = f(xd)
            assert type(got._data) is fc.FakeArray
            np.testing.assert_allclose(got._data.get(), want, rtol=1e-12)
        graph = f._cf.entries[0].root.graph
        consts = [n for n in graph.nodes if n.op == "constant"]
        assert len(consts) == 1 and type(consts[0].attrs["value"]) is np.ndarray   # folded
        assert [n.op for n in graph.nodes] == ["constant", "mul"]
        copies = fake.copies
        f(xd)
        assert fake.copies == copies       # the folded constant stays on the device


def test_multinomial_draws_on_the_device_and_compiles_to_the_same_samples(monkeypatch):
    # multinomial is composed of captured ops driven by the CUDA generator (the double's
    # RandomState takes cupy's 64-bit seeds)
    with fc.installed(monkeypatch):
        w = _wrap(fc.on_device(np.array([[0.1, 0.0, 0.9, 0.5], [1.0, 1.0, 0.0, 2.0]])))

        def draw(w):
            return dg.multinomial(w, 3)

        dg.cuda.manual_seed(123)
        eager = draw(w)
        assert isinstance(eager._data, fc.FakeArray)
        rows = eager._data.get()
        for row, weights in zip(rows, w._data.get()):
            assert len(set(row.tolist())) == 3              # no repeats without replacement
            assert all(weights[i] > 0 for i in row)         # only categories with weight
        dg.cuda.manual_seed(123)
        compiled = dg.compile(draw, backend="interpreter")(w)
        np.testing.assert_array_equal(compiled._data.get(), rows)


def test_cuda_generator_state_restores_exactly(monkeypatch):
    # (seed, draws) is the CUDA generator's whole state, so set_state replays the same draws
    with fc.installed(monkeypatch):
        g = dg.Generator(device="cuda").manual_seed(7)
        head = dg.rand(4, generator=g, device="cuda")._data.get()
        state = g.get_state()
        first = [dg.rand(5, generator=g, device="cuda")._data.get() for _ in range(3)]
        assert not np.array_equal(first[0], first[1])
        g.set_state(state)
        again = [dg.rand(5, generator=g, device="cuda")._data.get() for _ in range(3)]
        np.testing.assert_array_equal(np.stack(first), np.stack(again))
        other = dg.Generator(device="cuda").manual_seed(7)      # same seed, same stream
        np.testing.assert_array_equal(dg.rand(4, generator=other, device="cuda")._data.get(),
                                      head)


# ----- eager mode on arrays without numpy's writeable flag (cupy's) ----------------------------

def _dev(t):
    """A CPU tensor's copy as a fake CUDA tensor."""
    return _wrap(fc.on_device(t.detach()._data.copy()))


def test_backward_and_in_place_writes_on_arrays_without_a_writeable_flag(monkeypatch):
    """cupy arrays have no `flags.writeable`: gradient accumulation, `x[i] = v`, fill_, copy_
    and in-place arithmetic work on them, and a broadcast view still refuses writes."""
    x = dg.randn(4, 3, dtype=dg.float64)
    w = dg.randn(3, 2, dtype=dg.float64)
    with fc.installed(monkeypatch):
        wd = _dev(w).requires_grad_()
        for _ in range(2):          # the second backward accumulates into the existing .grad
            ((_dev(x) @ wd).tanh().sum()).backward()
        assert isinstance(wd.grad._data, fc.FakeArray)
        got = wd.grad._data.get()
        y = _dev(x)
        y[0] = 5.0
        y[1:3, 1].fill_(-1.0)
        y.add_(1.0)
        y[3].copy_(_dev(dg.ones(3, dtype=dg.float64)))
        with pytest.raises(RuntimeError, match="broadcast"):
            _dev(dg.ones(3)).expand(2, 3).fill_(0.0)
    w2 = w.clone().requires_grad_()
    for _ in range(2):
        ((x @ w2).tanh().sum()).backward()
    np.testing.assert_allclose(got, w2.grad.numpy(), rtol=1e-12)
    want = x.clone()
    want[0] = 5.0
    want[1:3, 1] = -1.0
    want += 1.0
    want[3] = 1.0
    np.testing.assert_array_equal(y._data.get(), want.numpy())


def test_cpu_scalars_and_cpu_index_tensors_mix_with_cuda_tensors(monkeypatch):
    """As in PyTorch: a 0-dim CPU tensor acts as a scalar beside CUDA tensors, and index tensors
    may stay on the CPU; any other CPU tensor beside a CUDA one is a clear error."""
    x = dg.randn(5, 3, dtype=dg.float64)
    idx = dg.tensor([4, 0, 2])
    with fc.installed(monkeypatch):
        xd = _dev(x)
        s = xd * dg.tensor(2.0, dtype=dg.float64)
        g = xd[idx]
        p = xd.index_put((idx,), dg.tensor(7.0, dtype=dg.float64))
        m = xd[x[:, 0] > 0]
        for t in (s, g, p, m):
            assert isinstance(t._data, fc.FakeArray)
        with pytest.raises(RuntimeError, match=r"add: expected all tensors to be on the same "
                           r"device.*cpu and cuda:0"):
            xd + dg.ones(3, dtype=dg.float64)
        with pytest.raises(RuntimeError, match="same device"):
            xd * dg.tensor(2.0, dtype=dg.float64, requires_grad=True)
        vals = s._data.get(), g._data.get(), p._data.get(), m._data.get()
    want_p = x.clone()
    want_p[idx] = 7.0
    for got, want in zip(vals, (x * 2.0, x[idx], want_p, x[x[:, 0] > 0])):
        np.testing.assert_array_equal(got, want.numpy())


def test_input_checks_become_device_flags_while_a_cuda_graph_is_captured(monkeypatch):
    """Under a capture an eager rule cannot read device values: index bounds and integer
    division by zero become flags (read after the replay); outside one they raise at once."""
    from dyngraph._device import deferred_checks
    from dyngraph.ops.index.gather_scatter import _bounds
    from dyngraph.ops.index.getitem import TensorSlot, check_key
    x = dg.randn(3, 4, dtype=dg.float64)
    with fc.installed(monkeypatch) as fake:
        xd = _dev(x)
        bad, good = fc.on_device(np.array([0, 5])), fc.on_device(np.array([0, 3]))
        zero = _dev(dg.tensor([2, 0]))
        with pytest.raises(RuntimeError, match="out of bounds"):
            xd.gather(1, _wrap(bad[None]))
        with deferred_checks() as checks:
            _bounds(fake, bad, 4, 1, "gather")
            _bounds(fake, good, 4, 1, "gather")
            check_key((3, 4), (TensorSlot(0),), [fc.on_device(np.array([0, 7]))])
            _dev(dg.tensor([4, 4])) // zero
        flags = [bool(f) for f, _ in checks]
        messages = [m for _, m in checks]
    assert flags == [True, False, True, True], messages
    assert "gather(): an index is out of bounds for dimension 1 with size 4" in messages[0]
    assert "index: an index is out of bounds for dimension 0 with size 3" in messages[2]
    assert "ZeroDivisionError" in messages[3]


def test_kernel_launch_plans_are_cached_per_layout(monkeypatch):
    """A kernel step plans its launch (variant, grid, size and stride arguments) once per sizes
    and input layout, including the pointers' alignment: a misaligned view gets its own plan
    with scalar loads. (No GPU: the kernels are recorded, not run.)"""
    import types

    import runtime.cuda_backend as cb
    launched = []

    class Module:
        def get_function(self, name):
            return lambda grid, block, args: launched.append((name, grid, block, len(args)))
    with fc.installed(monkeypatch) as fake:
        monkeypatch.setattr(cb, "_cp", lambda: fake)
        monkeypatch.setattr(cb, "available", lambda: True)
        monkeypatch.setattr(cb, "module_for", lambda src: Module())
        monkeypatch.setattr(fc.FakeArray, "data", property(
            lambda self: types.SimpleNamespace(ptr=self.ctypes.data)), raising=False)
        f = dg.compile(lambda x: (x * 2.0).exp() + 1.0, backend="cuda")
        base = fc.on_device(np.zeros(4096 + 1, dtype=np.float32))
        aligned = _wrap(base[:4096]) if base.ctypes.data % 16 == 0 else _wrap(base[1:])
        for _ in range(4):
            f(aligned)
        misaligned = _wrap(fc.on_device(np.zeros(4096 + 1, dtype=np.float32))[1:])
        f(misaligned)
        f(misaligned)
        runners = [obj for entry in f._cf.entries for seg in entry.segments()
                   if seg.program is not None
                   for kind, obj, _ in seg.program[0].steps if kind == "kernel"]
    assert len(runners) == 1 and len(runners[0].plans) == 2
    names = [n for n, *_ in launched]
    assert names[0].endswith("_m4") and names[-1].endswith("_m1"), names
    assert len(launched) == 5          # the first call ran eagerly while it was traced


def _cnn_and_mlp():
    import dyngraph.nn as nn
    return [nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(32, 4)),
            nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 4))]


@pytest.mark.parametrize("which", [0, 1], ids=["cnn", "mlp"])
def test_training_steps_read_nothing_back_while_a_cuda_graph_is_captured(monkeypatch, which):
    """A compiled training step (forward, backward, momentum SGD) run as a CUDA program under a
    simulated capture: no eager rule reads a device value on the host or copies host data in
    (either would break `mode="reduce-overhead"` on a GPU). Kernel steps run as their nodes'
    eager rules here; input checks become deferred flags."""
    import types

    import runtime.cuda_backend as cb
    from compiler.render_c import UnsupportedOp
    from dyngraph._device import deferred_checks

    def no_kernels(self, ins, syms):
        raise UnsupportedOp("test: kernels run as their nodes' eager rules")
    with fc.installed(monkeypatch) as fake:
        monkeypatch.setattr(cb, "_cp", lambda: fake)
        monkeypatch.setattr(cb, "available", lambda: True)
        monkeypatch.setattr(cb._KernelRunner, "__call__", no_kernels)
        monkeypatch.setitem(sys.modules, "cupyx", types.SimpleNamespace(
            scatter_add=lambda a, k, v: np.add.at(a, k, v)))
        fc.forbid_host_transfers_in_capture(monkeypatch, fake)
        dg.manual_seed(0)
        model = _cnn_and_mlp()[which]
        for p in model.parameters():
            p.data = _dev(p)
        opt = dg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        compiled = dg.compile(train_step, backend="cuda")
        x = _dev(dg.randn(6, 3, 8, 8) if which == 0 else dg.randn(6, 12))
        y = _dev(dg.randint(0, 4, (6,)))
        for _ in range(3):
            compiled(model, opt, x, y)
        progs = [seg.program[0] for entry in compiled._cf.entries for seg in entry.segments()
                 if seg.program is not None]
        seen = []
        for prog in progs:          # record each program's inputs of one more call
            prog.run = lambda a, syms=None, keep=None, r=prog.run: seen.append(a) or r(a, syms,
                                                                                     keep)
        try:
            compiled(model, opt, x, y)
        finally:
            for prog in progs:
                del prog.run
        assert len(seen) == len(progs) >= 1
        for prog, arrays in zip(progs, seen):
            with deferred_checks() as checks:
                prog.run(arrays, keep=[])
            assert checks, "the step's index bounds should be deferred flags"


def test_cuda_graph_runner_logic_with_an_emulated_capture(monkeypatch):
    """`mode="reduce-overhead"`'s control flow without a GPU: two step-by-step calls, then a
    capture; replays copy moving inputs into static buffers and copy outputs out; a device-side
    bounds flag raises after the replay; a moved parameter triggers a recapture. The stand-in
    "graph" replays by running the program again on the static buffers (kernels as eager rules)
    and writing into the captured outputs and flags, as a real replay writes the same memory."""
    import contextlib
    import types

    import runtime.cuda_backend as cb
    from compiler.render_c import UnsupportedOp
    from dyngraph._device import deferred_checks

    def no_kernels(self, ins, syms):
        raise UnsupportedOp("test: kernels run as their nodes' eager rules")
    runners = []

    class Graph:
        def __init__(self, runner):
            self.runner = runner

        def launch(self, stream):
            r = self.runner
            with deferred_checks() as checks:
                try:
                    outs = r.p.run(r.static, keep=[])
                except IndexError:      # numpy refuses what a GPU kernel reads as garbage
                    outs = [np.full(o.shape, np.nan) for o in r.outs]
            for o, n in zip(r.outs, outs):
                o[...] = n
            if r.flags is not None:
                flags = [bool(f) for f, _ in checks]
                r.flags[...] = np.array(flags + [False] * (len(r.flags) - len(flags)))

    class Stream:
        def __init__(self, non_blocking=False):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def record(self):
            return object()

        def wait_event(self, event):
            pass

        def synchronize(self):
            pass

        def begin_capture(self):
            pass

        def end_capture(self):
            return Graph(runners[-1])

    with fc.installed(monkeypatch) as fake:
        monkeypatch.setattr(cb, "_cp", lambda: fake)
        monkeypatch.setattr(cb, "available", lambda: True)
        monkeypatch.setattr(cb._KernelRunner, "__call__", no_kernels)
        monkeypatch.setattr(fc.FakeArray, "data", property(
            lambda self: types.SimpleNamespace(ptr=self.__array_interface__["data"][0])),
            raising=False)
        fake.cuda.Stream = Stream
        fake.cuda.MemoryPool = lambda: types.SimpleNamespace(malloc=None)
        fake.cuda.using_allocator = lambda alloc: contextlib.nullcontext()
        fake.cuda.get_current_stream = lambda: Stream()
        real_init = cb._GraphRunner.__init__

        def init(self, program):
            real_init(self, program)
            runners.append(self)
        monkeypatch.setattr(cb._GraphRunner, "__init__", init)
        fc.forbid_host_transfers_in_capture(monkeypatch, fake)
        FakeArray = fc.FakeArray
        monkeypatch.setattr(FakeArray, "get", lambda self, stream=None: np.array(self))

        def fn(x, w, i):
            return x.gather(1, i) * 2.0 + w
        rows = dg.tensor([[0], [5], [2], [1]])
        bad = dg.tensor([[0], [6], [2], [1]])

        alive = []      # fresh arrays each call keep fresh addresses (as a pool may not)

        def check(f, x, w, i):
            xd = _dev(x)
            alive.extend((xd, i))
            got = f(xd, w, i)
            want = x.gather(1, _wrap(i._data.get())) * 2.0 + _wrap(w._data.get())
            np.testing.assert_array_equal(got._data.get(), want.numpy())
        f = dg.compile(fn, backend="cuda", mode="reduce-overhead")
        w = _dev(dg.randn(4, 1, dtype=dg.float64))
        captures, replays = cb.STATS["graph_captures"], cb.STATS["graph_replays"]
        for _ in range(6):              # x and the index move (new arrays), w stays
            check(f, dg.randn(4, 6, dtype=dg.float64), w, _dev(rows))
        assert cb.STATS["graph_captures"] == captures + 1
        assert cb.STATS["graph_replays"] == replays + 3       # calls 4-6 (1 eager, 2 warm-up)
        assert "CUDA graph: captured (" in str(f.explain())
        x = dg.randn(4, 6, dtype=dg.float64)
        with pytest.raises(RuntimeError, match="out of bounds.*found in a CUDA graph replay"):
            f(_dev(x), w, _dev(bad))                           # checked on the device
        check(f, x, w, _dev(rows))                             # the graph is still in use
        assert cb.STATS["graph_replays"] == replays + 4       # (the failed one not counted)
        w2 = _dev(dg.randn(4, 1, dtype=dg.float64))          # the "parameter" moved
        check(f, x, w2, _dev(rows))
        assert cb.STATS["graph_captures"] == captures + 2

        # an index that stays put is a "parameter": a bad one in its place makes a recapture,
        # whose uncaptured run rejects it on the host; the graph in hand stays
        g = dg.compile(fn, backend="cuda", mode="reduce-overhead")
        i = _dev(rows)
        for _ in range(4):
            check(g, dg.randn(4, 6, dtype=dg.float64), w, i)
        captured = cb.STATS["graph_captures"]
        with pytest.raises(RuntimeError, match=r"gather\(\): index 6 is out of bounds"):
            g(_dev(x), w, _dev(bad))
        assert cb.STATS["graph_captures"] == captured
        assert "CUDA graph: captured (" in str(g.explain()), g.explain()
        replayed = cb.STATS["graph_replays"]
        check(g, x, w, i)
        assert cb.STATS["graph_replays"] == replayed + 1


def test_row_kernels_keep_the_faster_form_timed_on_first_launch(monkeypatch):
    """Large row kernels time their register-cached and re-reading forms once per layout (with
    CUDA events; here a stand-in clock that makes one form faster) and launch the faster from
    then on; explain() says which was kept."""
    import types

    import runtime.cuda_backend as cb
    launched = []
    slow_tag = {"value": "c16"}         # which layout the stand-in clock makes slow

    class Module:
        def get_function(self, name):
            def fn(grid, block, args):
                launched.append(name)
                clock["t"] += 5.0 if name.endswith(slow_tag["value"]) else 1.0
            return fn
    clock = {"t": 0.0}

    class Event:
        def record(self):
            self.t = clock["t"]

        def synchronize(self):
            pass
    with fc.installed(monkeypatch) as fake:
        monkeypatch.setattr(cb, "_cp", lambda: fake)
        monkeypatch.setattr(cb, "available", lambda: True)
        monkeypatch.setattr(cb, "module_for", lambda src: Module())
        monkeypatch.setattr(fc.FakeArray, "data", property(
            lambda self: types.SimpleNamespace(ptr=self.ctypes.data)), raising=False)
        fake.cuda.Event = Event
        fake.cuda.get_elapsed_time = lambda a, b: b.t - a.t
        monkeypatch.setattr(cb, "AUTOTUNE_ELEMS", 1 << 12)
        x = _dev(dg.randn(8, 4096))
        for slow, kept in (("c16", "_r256"), ("_r256", "_r256c16")):
            slow_tag["value"] = slow
            f = dg.compile(lambda x: dg.softmax(x, -1) * 2.0, backend="cuda")
            f(x)
            f(x)
            launched.clear()
            f(x)
            f(x)
            assert launched and all(n.endswith(kept) for n in launched), launched
            assert f"kept row tpr=256 vec=1 cache={16 if slow == '_r256' else 0}" in \
                str(f.explain()), f.explain()
