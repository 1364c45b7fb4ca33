"""Compile overhead: time to the first compiled call and to a cached call, for an MLP forward, an
MLP training step (forward + loss.backward()) and a whole Adam step (zero_grad, forward, backward,
optimizer.step()), and the per-call overhead of a compiled function
(guard checking) against the eager function, with torch.compile beside it where installed.

It also times the first compile of the MLP 784-512-512-10 SGD training step (issue 5's target:
< 1 s cold, < 0.1 s cached) in fresh processes: one with an empty object cache, then one reading
the cache the first filled (benchmarks/mlp_compiled.py's child mode: three calls, minus three
eager numpy steps), and, in a third fresh process, what that includes: the imports a cold
process pays (dyngraph.nn, networkx, llvmlite), each measured alone.

Run: python benchmarks/compile_overhead.py [--torch] [--fresh-rounds N]
"""

from __future__ import annotations

import argparse
import sys
import time

sys.path.insert(0, __file__.rsplit("/benchmarks/", 1)[0])

import dyngraph as dg  # noqa: E402


def _timeit(fn, n):
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def bench_dyngraph():
    nn = dg.nn
    dg.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    x, t = dg.randn(64, 784), dg.randint(0, 10, (64,))

    def forward(x):
        return model(x)

    def step(x, t):
        loss = nn.functional.cross_entropy(model(x), t)
        loss.backward()
        return loss

    opt = dg.optim.Adam(model.parameters(), lr=1e-3)

    def adam_step(x, t):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        return loss

    rows = []
    for name, fn, args in (("MLP forward", forward, (x,)), ("MLP train step", step, (x, t)),
                           ("MLP Adam step", adam_step, (x, t))):
        dg.reset()
        cf = dg.compile(fn)
        if fn is adam_step:     # the first step creates the optimizer state (its own trace)
            cf(*args)
        t0 = time.perf_counter()
        cf(*args)                                   # trace (the call itself runs eagerly)
        t1 = time.perf_counter()
        cf(*args)                                   # first compiled run: passes + interpreter
        t2 = time.perf_counter()
        cached = _timeit(lambda cf=cf, args=args: cf(*args), 20)
        eager = _timeit(lambda fn=fn, args=args: fn(*args), 20)
        rows.append((name, t1 - t0, t2 - t1, cached, eager))
        for p in model.parameters():
            p.grad = None

    tiny = dg.randn(4)
    plain = lambda x: x  # noqa: E731
    cf = dg.compile(lambda x: x + 1)
    cf(tiny)
    cf(tiny)
    entry = cf._cf.entries[0]
    guard = _timeit(lambda: entry.guards.check((tiny,), {}), 20000)
    call = _timeit(lambda: cf(tiny), 5000)
    eager = _timeit(lambda: tiny + 1, 5000)
    base = _timeit(lambda: plain(tiny), 20000)
    return rows, guard, call, eager, base


def bench_torch():
    import torch
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    x, t = torch.randn(64, 784), torch.randint(0, 10, (64,))

    def step(x, t):
        loss = torch.nn.functional.cross_entropy(model(x), t)
        loss.backward()
        return loss

    cf = torch.compile(step)
    t0 = time.perf_counter()
    cf(x, t)
    first = time.perf_counter() - t0
    cached = _timeit(lambda: cf(x, t), 20)
    return first, cached


def import_costs() -> str:
    """Seconds of the imports a fresh process pays on its first compile, measured in a child."""
    import subprocess
    code = ("import time\nfor m in ('numpy', 'dyngraph', 'dyngraph.nn', 'networkx', "
            "'llvmlite.binding'):\n    t = time.perf_counter(); __import__(m)\n"
            "    print(f'{m} {time.perf_counter() - t:.3f} s', end='; ')\n")
    root = __file__.rsplit("/benchmarks/", 1)[0]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    return r.stdout.strip()


def fresh_compiles(rounds: int) -> list:
    """[(cold s, modules compiled, cached s, disk hits)] of the MLP step's first compile."""
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from mlp_compiled import first_compile
    out = []
    for _ in range(rounds):
        (cold, c1, _), (warm, _, h2) = first_compile()
        out.append((cold, c1, warm, h2))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--torch", action="store_true", help="also time torch.compile (slow, ~10 s)")
    ap.add_argument("--fresh-rounds", type=int, default=3,
                    help="fresh-process first compiles of the MLP step (0: skip)")
    args = ap.parse_args()
    if args.fresh_rounds:
        runs = fresh_compiles(args.fresh_rounds)
        for cold, c1, warm, h2 in runs:
            print(f"MLP 784-512-512-10 SGD step, first compile in a fresh process: cold "
                  f"{cold:.3f} s ({c1} LLVM modules), cached {warm:.3f} s ({h2} disk hits)")
        colds, warms = sorted(r[0] for r in runs), sorted(r[2] for r in runs)
        print(f"  medians: cold {colds[len(colds) // 2]:.3f} s, cached "
              f"{warms[len(warms) // 2]:.3f} s")
        print(f"  imports a fresh process pays (each alone, cumulative): {import_costs()}")
    rows, guard, call, eager, base = bench_dyngraph()
    print(f"{'case':<16}{'trace (1st call)':>18}{'compile+run (2nd)':>19}{'cached call':>13}"
          f"{'eager call':>12}")
    for name, tr, comp, cached, eg in rows:
        print(f"{name:<16}{tr * 1e3:>15.1f} ms{comp * 1e3:>16.1f} ms{cached * 1e3:>10.2f} ms"
              f"{eg * 1e3:>9.2f} ms")
    print(f"guard check (one tensor input): {guard * 1e6:.2f} us")
    print(f"compiled x+1 call: {call * 1e6:.1f} us, eager x+1: {eager * 1e6:.1f} us, "
          f"python call: {base * 1e6:.2f} us")
    if args.torch:
        try:
            first, cached = bench_torch()
            print(f"torch.compile MLP train step: first call {first:.2f} s, cached "
                  f"{cached * 1e3:.2f} ms")
        except Exception as e:  # noqa: BLE001 - report, do not fail the benchmark
            print(f"torch.compile unavailable: {e}")


if __name__ == "__main__":
    main()
