"""The rest of torch's top-level namespace (dyngraph/ops/toplevel_extra.py, toplevel_nn.py,
toplevel_numeric.py) and the settings (dyngraph/_settings.py, _memory_format.py), against
torch 2.13."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dyngraph as dg
from dyngraph.ops import toplevel_extra as TE
from tests.conftest import assert_close, requires_torch, to_np, torch


def _pair(a, dtype="float64", rg=False):
    a = np.asarray(a, dtype=dtype)
    return (dg.tensor(a, requires_grad=rg),
            torch.tensor(a, requires_grad=rg) if torch is not None else None)


# ----------------------------------------------------------------------------------------------
# in-place functions and view copies
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("name", TE._INPLACE)
def test_inplace_function_matches_torch(name):
    assert hasattr(torch, name) and hasattr(dg, name)
    if name == "detach_":
        d, t = _pair([0.5, 1.5])
        assert dg.detach_(d) is d and not d.requires_grad
        return
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 0.9, (2, 3))
    ints = {"gcd_", "lcm_"}
    args = {"clamp_": (0.2, 0.6), "clamp_max_": (0.5,), "clamp_min_": (0.5,), "clip_": (0.2, 0.6),
            "gcd_": (), "lcm_": (), "ldexp_": (), "xlogy_": (), "addmv_": (), "logit_": (0.1,)}
    extra = {"gcd_": [[4, 6, 8], [3, 9, 27]], "lcm_": [[4, 6, 8], [3, 9, 27]],
             "ldexp_": [[1, 2, 3], [0, -1, 2]], "xlogy_": base + 1}
    if name in ints:
        d, t = _pair([[12, 18, 5], [6, 4, 81]], "int64")
    else:
        d, t = _pair(base)
    if name == "addmv_":
        d, t = _pair(base[0, :2])
        m, v = rng.uniform(size=(2, 3)), rng.uniform(size=3)
        rd, rt = getattr(dg, name)(d, dg.tensor(m), dg.tensor(v)), \
            getattr(torch, name)(t, torch.tensor(m), torch.tensor(v))
    elif name in extra:
        o = np.asarray(extra[name], dtype="int64" if name in ints | {"ldexp_"} else "float64")
        rd = getattr(dg, name)(d, dg.tensor(o))
        rt = getattr(torch, name)(t, torch.tensor(o))
    else:
        rd, rt = getattr(dg, name)(d, *args.get(name, ())), \
            getattr(torch, name)(t, *args.get(name, ()))
    assert rd is d
    assert_close(d, t.numpy())
    assert_close(rd, rt)


def test_inplace_function_rejects_non_tensor():
    with pytest.raises(TypeError, match=r"abs_\(\): argument 'input' \(position 1\)"):
        dg.abs_(3)


_COPY_CALLS = [
    ("alias_copy", ()), ("detach_copy", ()), ("t_copy", ()), ("permute_copy", ((1, 0, 2),)),
    ("transpose_copy", (0, 2)), ("expand_copy", ((2, 2, 3, 4),)), ("view_copy", ((6, 4),)),
    ("squeeze_copy", ()), ("unsqueeze_copy", (1,)), ("select_copy", (1, 2)),
    ("slice_copy", (2, 1, 4, 2)), ("diagonal_copy", (0, 1, 2)), ("unfold_copy", (2, 2, 1)),
    ("as_strided_copy", ((2, 2), (1, 2), 1)), ("split_copy", (1, 1)),
    ("split_with_sizes_copy", ([1, 2], 1)), ("unbind_copy", (2,)),
]


@requires_torch
@pytest.mark.parametrize("name,args", _COPY_CALLS, ids=[c[0] for c in _COPY_CALLS])
def test_view_copies_match_torch_and_own_their_memory(name, args):
    a = np.arange(24.0).reshape(2, 3, 4)
    if name == "t_copy":
        a = a[0]
    if name == "squeeze_copy":
        a = a.reshape(2, 1, 12)
    d, t = _pair(a, rg=True)
    rd, rt = getattr(dg, name)(d, *args), getattr(torch, name)(t, *args)
    many = isinstance(rt, (tuple, list))
    rd, rt = (rd, rt) if many else ((rd,), (rt,))
    for x, y in zip(rd, rt):
        assert_close(x, y)
        assert x.is_contiguous()
        assert not np.shares_memory(x._data, d._data)
    if name == "detach_copy":
        assert not rd[0].requires_grad
        return
    sum(x.sum() * (i + 1) for i, x in enumerate(rd)).backward()
    sum(y.sum() * (i + 1) for i, y in enumerate(rt)).backward()
    assert_close(d.grad, t.grad)


def test_view_copy_out_and_slice_errors():
    x = dg.arange(6.0).reshape(2, 3)
    out = dg.empty(3, 2)
    assert dg.t_copy(x, out=out) is out
    assert_close(out, np.arange(6.0).reshape(2, 3).T)
    with pytest.raises(RuntimeError, match="step must be positive"):
        dg.slice_copy(x, 1, 0, 3, 0)


# ----------------------------------------------------------------------------------------------
# small top-level functions
# ----------------------------------------------------------------------------------------------

@requires_torch
def test_detach_fill_unravel_index_like_torch():
    d, t = _pair([[1.0, 2.0], [3.0, 4.0]], rg=True)
    assert not dg.detach(d).requires_grad and np.shares_memory(dg.detach(d)._data, d._data)
    assert_close(dg.fill(d, 2.5), torch.fill(t, 2.5))
    ai, ti = dg.arange(3), torch.arange(3)
    assert dg.fill(ai, 2.7).dtype == dg.int64
    assert_close(dg.fill(ai, 2.7), torch.fill(ti, 2.7))
    v = dg.tensor(3.0, requires_grad=True)
    dg.fill(d, v).sum().backward()
    assert float(v.grad) == 4.0
    with pytest.raises(RuntimeError, match="fill_ only supports 0-dimension value tensor"):
        dg.fill(d, dg.ones(2))
    for idx, shape in (([4, -1, 0, 6, 100], (2, 3)), ([5], 6), ([7, 3], (2, 2, 2))):
        got = dg.unravel_index(dg.tensor(idx), shape)
        want = torch.unravel_index(torch.tensor(idx), shape)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.dtype == dg.int64
            assert_close(g, w)
    with pytest.raises(TypeError, match="expected 'indices' to be integer dtype"):
        dg.unravel_index(dg.tensor([1.0]), (2, 3))


@requires_torch
def test_frombuffer_empty_strided_empty_permuted_typename_is_storage():
    buf = bytearray(np.arange(6, dtype=np.int32).tobytes())
    d = dg.frombuffer(buf, dtype=dg.int32, count=3, offset=4)
    t = torch.frombuffer(bytearray(buf), dtype=torch.int32, count=3, offset=4)
    assert_close(d, t)
    d[0] = 42       # shares the buffer, as in PyTorch
    assert np.frombuffer(buf, dtype=np.int32)[1] == 42
    with pytest.raises(ValueError):
        dg.frombuffer(bytearray(4), dtype=dg.int32, offset=4)
    assert dg.empty_strided((2, 3), (1, 2)).stride() == torch.empty_strided((2, 3), (1, 2)).stride()
    assert dg.empty_strided((0, 3), (3, 1)).shape == (0, 3)
    e = dg.empty_permuted((2, 3, 5, 7), (0, 2, 3, 1), dtype=dg.float64, requires_grad=True)
    assert e.stride() == torch.empty_permuted((2, 3, 5, 7), (0, 2, 3, 1)).stride()
    assert e.shape == (2, 3, 5, 7) and e.requires_grad and e.dtype == dg.float64
    with pytest.raises(RuntimeError, match="permutation"):
        dg.empty_permuted((2, 3), (0, 0))
    assert dg.typename(dg.ones(2)) == "dyngraph.FloatTensor"
    assert dg.typename(1) == torch.typename(1) == "int"
    assert dg.typename(dg.nn.Linear) == "dyngraph.nn.modules.linear.Linear"
    assert dg.is_storage(dg.ones(2).untyped_storage()) and not dg.is_storage(dg.ones(2))


def test_binomial_draws_from_dyngraph_generator():
    count, prob = dg.tensor([5.0, 0.0, 7.0, 10.0]), dg.tensor([1.0, 0.5, 0.0, 0.5])
    r = dg.binomial(count, prob)
    assert r.dtype == dg.float32 and r.shape == (4,)
    assert to_np(r)[:3].tolist() == [5.0, 0.0, 0.0] and 0 <= float(r[3]) <= 10
    g1, g2 = dg.Generator().manual_seed(3), dg.Generator().manual_seed(3)
    big = dg.full((1000,), 20.0)
    a, b = dg.binomial(big, big * 0 + 0.3, generator=g1), dg.binomial(big, big * 0 + 0.3,
                                                                       generator=g2)
    assert_close(a, b)
    assert abs(float(a.mean()) - 6.0) < 0.5
    with pytest.raises(RuntimeError, match="binomial_cpu"):
        dg.binomial(dg.tensor([1]), dg.tensor([0.5]))
    with pytest.raises(RuntimeError, match=r"prob must be in \[0, 1\]"):
        dg.binomial(dg.tensor([1.0]), dg.tensor([1.5]))


@requires_torch
def test_nuclear_and_frobenius_norm():
    a = np.random.default_rng(1).normal(size=(2, 3, 4))
    d, t = _pair(a, rg=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_close(dg.nuclear_norm(d[0]), torch.nuclear_norm(t[0]))
        assert_close(dg.nuclear_norm(d, (1, 2), True), torch.nuclear_norm(t, (1, 2), True))
        assert_close(dg.nuclear_norm(d[0], True), torch.nuclear_norm(t[0], True))
        fd, ft = dg.frobenius_norm(d, (0, 2)), torch.frobenius_norm(t, (0, 2))
    assert_close(fd, ft)
    fd.sum().backward()
    ft.sum().backward()
    assert_close(d.grad, t.grad)
    with pytest.raises(RuntimeError, match="Expected at most 2 dimensions"):
        dg.frobenius_norm(d, (0, 1, 2))


# ----------------------------------------------------------------------------------------------
# windows, gradient, histogramdd
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("name,kw", [("hann_window", {}), ("hamming_window", {}),
                                     ("hamming_window", {"alpha": 0.5, "beta": 0.3}),
                                     ("blackman_window", {}), ("bartlett_window", {}),
                                     ("kaiser_window", {}), ("kaiser_window", {"beta": 3.5})])
@pytest.mark.parametrize("n", [0, 1, 2, 5, 8])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows_match_torch(name, kw, n, periodic):
    for dt, tdt in ((dg.float64, torch.float64), (dg.float32, torch.float32)):
        if kw:  # torch binds alpha/beta only after a positional periodic
            d = getattr(dg, name)(n, periodic, *kw.values(), dtype=dt)
            t = getattr(torch, name)(n, periodic, *kw.values(), dtype=tdt)
        else:
            d, t = getattr(dg, name)(n, periodic, dtype=dt), getattr(torch, name)(n, periodic,
                                                                                 dtype=tdt)
        assert d.dtype == dt and d.shape == tuple(t.shape)
        assert_close(d, t, dt.name, atol=1e-6 if dt == dg.float32 else 1e-12)
    assert_close(getattr(dg, name)(6), getattr(torch, name)(6), "float32")


def test_window_arguments_and_errors():
    w = dg.hann_window(4, requires_grad=True)
    assert w.requires_grad and w.is_leaf and w.dtype == dg.float32
    with pytest.raises(RuntimeError, match="hann_window expects floating point dtypes"):
        dg.hann_window(4, dtype=dg.int64)
    with pytest.raises(RuntimeError, match="requires non-negative window_length"):
        dg.blackman_window(-1)


@requires_torch
@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_matches_torch(edge_order):
    a = np.random.default_rng(2).normal(size=(4, 5))
    d, t = _pair(a, rg=True)
    cases = [dict(), dict(spacing=2.0), dict(spacing=[0.5, 3.0]), dict(dim=1),
             dict(dim=(0, -1), spacing=[1.5, 2.0])]
    coords = np.cumsum(np.random.default_rng(3).uniform(0.2, 1.0, 5))
    cases.append(dict(spacing=(dg.tensor(coords),), dim=1))
    for kw in cases:
        tkw = dict(kw)
        if "spacing" in kw and isinstance(kw["spacing"], tuple):
            tkw["spacing"] = (torch.tensor(coords),)
        gd = dg.gradient(d, edge_order=edge_order, **kw)
        gt = torch.gradient(t, edge_order=edge_order, **tkw)
        assert len(gd) == len(gt)
        for x, y in zip(gd, gt):
            assert_close(x, y)
        sum((x * (i + 2)).sum() for i, x in enumerate(gd)).backward()
        sum((y * (i + 2)).sum() for i, y in enumerate(gt)).backward()
        assert_close(d.grad, t.grad)
        d.grad, t.grad = None, None
    assert_close(dg.gradient(dg.tensor([1, 4, 9, 16]))[0], torch.gradient(
        torch.tensor([1, 4, 9, 16]))[0], "float32")
    np.testing.assert_allclose(to_np(dg.gradient(d, spacing=(dg.tensor(coords),), dim=1,
                                                 edge_order=edge_order)[0]),
                               np.gradient(a, coords, axis=1, edge_order=edge_order))


def test_gradient_errors_and_gradcheck():
    with pytest.raises(RuntimeError, match="at least edge_order\\+1"):
        dg.gradient(dg.ones(2), edge_order=2)
    with pytest.raises(RuntimeError, match="edge_order=1 and edge_order=2"):
        dg.gradient(dg.ones(5), edge_order=3)
    x = dg.tensor(np.random.default_rng(4).normal(size=(3, 4)), requires_grad=True)
    assert dg.autograd.gradcheck(lambda x: dg.gradient(x, edge_order=2, spacing=0.7), (x,))


@requires_torch
def test_histogramdd_matches_torch():
    pts = np.random.default_rng(5).normal(size=(50, 2))
    w = np.random.default_rng(6).uniform(size=50)
    d, t = _pair(pts)
    for kw in (dict(bins=4), dict(bins=[2, 3], range=[-1.0, 1.0, -2.0, 2.0]),
               dict(bins=3, density=True), dict(bins=[3, 2], weight=w),
               dict(bins=[dg.tensor([-3.0, 0.0, 3.0], dtype=dg.float64),
                         dg.tensor([-1.0, 0.0, 0.5, 4.0], dtype=dg.float64)])):
        tkw = dict(kw)
        if "weight" in kw:
            kw = dict(kw, weight=dg.tensor(w))
            tkw["weight"] = torch.tensor(w)
        if isinstance(kw["bins"], list) and isinstance(kw["bins"][0], dg.Tensor):
            tkw["bins"] = [torch.tensor(to_np(b)) for b in kw["bins"]]
        rd, rt = dg.histogramdd(d, **kw), torch.histogramdd(t, **tkw)
        assert_close(rd.hist, rt.hist)
        for ed, et in zip(rd.bin_edges, rt.bin_edges):
            assert_close(ed, et)
    rd = dg.histogramdd(dg.tensor([[1.0, 1.0], [1.0, 1.0]]), bins=2)
    rt = torch.histogramdd(torch.tensor([[1.0, 1.0], [1.0, 1.0]]), bins=2)
    assert_close(rd.hist, rt.hist, "float32")
    with pytest.raises(RuntimeError, match="should have the same dtype"):
        dg.histogramdd(d, bins=[dg.tensor([0.0, 1.0]), dg.tensor([0.0, 1.0])])
    with pytest.raises(RuntimeError, match="range should have 4 elements"):
        dg.histogramdd(d, bins=2, range=[0.0, 1.0])


def test_compiled_window_gradient_and_copy_match_eager():
    x = dg.randn(4, 6)

    def fn(x):
        g = dg.gradient(x, spacing=0.5, dim=1)[0]
        return dg.permute_copy(g, (1, 0)) * dg.hann_window(4) + dg.t_copy(x).relu()

    cfn = dg.compile(fn, backend="llvm")
    eager = fn(x)
    cfn(x)
    assert_close(cfn(x), eager, "float32")
