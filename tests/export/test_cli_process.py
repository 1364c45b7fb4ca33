"""The `dyngraph` command end to end, and a saved file run in a fresh process without the model."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dyngraph as dg
from tests.export import models

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT      # the repository root: dyngraph, compiler, runtime
    return env


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "runtime.cli", *map(str, args)],
                          capture_output=True, text=True, env=_env(), cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    dg.manual_seed(4)
    m = models.mlp()
    d = tmp_path_factory.mktemp("cli")
    ep = dg.export(m, (dg.randn(4, 8),), dynamic_shapes=({0: dg.Dim("batch", max=512)},))
    ep.save(d / "mlp.dgraph")
    return m, d


def test_help_on_every_subcommand():
    for sub in ([], ["inspect"], ["run"], ["bench"], ["dot"]):
        r = _cli(*sub, "--help")
        assert r.returncode == 0 and "usage: dyngraph" in r.stdout, (sub, r.stderr)
    assert _cli().returncode == 2


def test_inspect(saved):
    m, d = saved
    r = _cli("inspect", d / "mlp.dgraph")
    assert r.returncode == 0, r.stderr
    assert "input: f32[batch,8]" in r.stdout and "batch: 1..512" in r.stdout
    n_params = sum(p.numel() for p in m.parameters())
    assert f"parameters: {n_params} in 4 tensors, {n_params * 4} bytes" in r.stdout
    assert "matmul 2" in r.stdout and "= relu" in r.stdout
    r = _cli("inspect", d / "mlp.dgraph", "--json", "--no-graph")
    s = json.loads(r.stdout)
    assert s["parameters"] == n_params and s["op_counts"]["permute"] == 2
    assert s["format_version"] == 1 and s["opset_version"] == 1


def test_run_npy_and_npz(saved, tmp_path):
    m, d = saved
    x = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    r = _cli("run", d / "mlp.dgraph", "--input", tmp_path / "x.npy", "--output",
             tmp_path / "y.npy", "--backend", "interpreter")
    assert r.returncode == 0, r.stderr
    ref = m(dg.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ref, rtol=1e-5, atol=1e-6)
    np.savez(tmp_path / "in.npz", input=x)
    r = _cli("run", d / "mlp.dgraph", "-i", tmp_path / "in.npz", "-o", tmp_path / "o.npz",
             "--backend", "interpreter")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose(np.load(tmp_path / "o.npz")["output0"], ref, rtol=1e-5,
                               atol=1e-6)


def test_exit_codes(saved, tmp_path):
    _, d = saved
    np.save(tmp_path / "bad.npy", np.zeros((5, 9), np.float32))
    r = _cli("run", d / "mlp.dgraph", "-i", tmp_path / "bad.npy", "-o", tmp_path / "y.npy")
    assert r.returncode == 4 and "dim 1 must be 8" in r.stderr
    (tmp_path / "broken.dgraph").write_bytes((d / "mlp.dgraph").read_bytes()[:200])
    r = _cli("inspect", tmp_path / "broken.dgraph")
    assert r.returncode == 3 and "truncated" in r.stderr
    assert _cli("inspect", tmp_path / "missing.dgraph").returncode == 5
    r = _cli("run", d / "mlp.dgraph", "-i", tmp_path / "bad.npy", "-o", tmp_path / "y.txt")
    assert r.returncode in (2, 4)


def test_bench_and_dot(saved, tmp_path):
    _, d = saved
    r = _cli("bench", d / "mlp.dgraph", "--dim", "batch=16", "--iters", "3",
             "--backend", "interpreter")
    assert r.returncode == 0, r.stderr
    assert "input[16, 8]" in r.stdout and "median" in r.stdout
    assert _cli("bench", d / "mlp.dgraph", "--dim", "nope=3").returncode == 2
    r = _cli("dot", d / "mlp.dgraph", "-o", tmp_path / "g.svg")
    assert r.returncode == 0, r.stderr
    produced = tmp_path / "g.svg" if (tmp_path / "g.svg").exists() else tmp_path / "g.dot"
    text = produced.read_text()
    assert "<svg" in text or text.startswith("digraph G {")


def test_fresh_process_runs_the_file_without_the_model_code(saved, tmp_path):
    m, d = saved
    x = np.random.default_rng(2).standard_normal((7, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = textwrap.dedent(f"""
        import sys
        class Block:                     # the model's module (tests.*) must not be importable
            def find_spec(self, name, path=None, target=None):
                if name == "tests" or name.startswith("tests."):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import numpy as np
        import dyngraph
        run = dyngraph.load_graph({str(d / 'mlp.dgraph')!r})
        y = run(dyngraph.from_numpy(np.load({str(tmp_path / 'x.npy')!r})))
        np.save({str(tmp_path / 'y.npy')!r}, y.numpy())
        bad = [k for k in sys.modules if k.startswith(("tests", "dyngraph.nn"))]
        print("imported:", bad)
        assert not bad, bad
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       env=_env(), cwd=tmp_path, timeout=120)
    assert r.returncode == 0, r.stderr
    ref = m(dg.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ref, rtol=1e-4, atol=1e-5)
