"""F.affine_grid and F.grid_sample against PyTorch: outputs and gradients (input, grid, theta) for
every mode, padding mode and align_corners, 2-D and 3-D, edge cases, errors, finite differences
and compiled mode."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

import dyngraph as dg
import dyngraph.nn.functional as F
from dyngraph.autograd import gradcheck, gradgradcheck
from tests.conftest import assert_close, requires_torch, to_np, torch

if torch is not None:
    import torch.nn.functional as TF

RNG = np.random.default_rng(5)
TOLS = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-5)}


def _sample_both(x, g, tol, **kw):
    """Run grid_sample in both frameworks; compare output and the gradients of input and grid
    under a random upstream gradient."""
    tx, tg = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
    dx, dgr = dg.tensor(x, requires_grad=True), dg.tensor(g, requires_grad=True)
    tout, dout = TF.grid_sample(tx, tg, **kw), F.grid_sample(dx, dgr, **kw)
    assert tuple(dout.shape) == tuple(tout.shape)
    assert_close(dout, tout, **tol)
    w = RNG.standard_normal(tuple(tout.shape)).astype(x.dtype)
    (tout * torch.tensor(w)).sum().backward()
    (dout * dg.tensor(w)).sum().backward()
    assert_close(dx.grad, tx.grad, **tol)
    assert dgr.grad is not None
    assert_close(dgr.grad, tg.grad, **tol)


def _grid(*shape, spread=1.3, dtype="float64"):
    """Positions mostly inside [-1, 1], some outside (padding modes matter)."""
    return (RNG.uniform(-spread, spread, shape)).astype(dtype)


@requires_torch
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_2d_matches_torch(mode, padding_mode, align_corners):
    x = RNG.standard_normal((2, 3, 5, 6))
    g = _grid(2, 4, 7, 2, spread=1.6)
    _sample_both(x, g, TOLS["float64"], mode=mode, padding_mode=padding_mode,
                 align_corners=align_corners)


@requires_torch
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_3d_matches_torch(mode, padding_mode, align_corners):
    x = RNG.standard_normal((2, 2, 4, 5, 3))
    g = _grid(2, 3, 2, 4, 3, spread=1.5)
    _sample_both(x, g, TOLS["float64"], mode=mode, padding_mode=padding_mode,
                 align_corners=align_corners)


@requires_torch
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_float32(mode):
    x = RNG.standard_normal((1, 4, 8, 9)).astype("float32")
    g = _grid(1, 5, 5, 2, dtype="float32")
    _sample_both(x, g, dict(rtol=1e-4, atol=1e-4), mode=mode, padding_mode="reflection",
                 align_corners=False)


@requires_torch
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_on_pixel_centres_and_borders(padding_mode, align_corners):
    """Positions exactly on pixels and on the borders (where clamping has a kink): PyTorch
    treats the borders as outside for the gradient; so must we."""
    x = RNG.standard_normal((1, 2, 4, 5))
    n = 5
    lin = np.linspace(-1, 1, n) if align_corners else (np.arange(n) * 2 + 1) / n - 1
    lin = np.concatenate([lin, [-1.0, 1.0, -1.5, 1.5]])
    gx, gy = np.meshgrid(lin, lin[::-1])
    g = np.stack([gx, gy], -1)[None]
    _sample_both(x, g, TOLS["float64"], mode="bilinear", padding_mode=padding_mode,
                 align_corners=align_corners)


@requires_torch
@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_size_one_input(mode, padding_mode, align_corners):
    x = RNG.standard_normal((2, 2, 1, 1))
    g = _grid(2, 3, 3, 2)
    _sample_both(x, g, TOLS["float64"], mode=mode, padding_mode=padding_mode,
                 align_corners=align_corners)


@requires_torch
def test_grid_sample_empty_shapes():
    x, g = RNG.standard_normal((2, 3, 4, 5)), _grid(2, 6, 7, 2)
    for xs, gs in ((x[:0], g[:0]), (x[:, :0], g), (x, g[:, :0])):
        want = TF.grid_sample(torch.tensor(xs), torch.tensor(gs), align_corners=False)
        got = F.grid_sample(dg.tensor(xs), dg.tensor(gs), align_corners=False)
        assert tuple(got.shape) == tuple(want.shape)


def test_grid_sample_nearest_grid_gradient_is_zero_tensor():
    x = dg.randn(1, 1, 3, 3, dtype=dg.float64, requires_grad=True)
    g = dg.tensor(_grid(1, 2, 2, 2), requires_grad=True)
    F.grid_sample(x, g, mode="nearest", align_corners=True).sum().backward()
    assert g.grad is not None and not to_np(g.grad).any()


def test_grid_sample_gradcheck():
    x = dg.tensor(RNG.standard_normal((1, 2, 4, 4)), requires_grad=True)
    g = dg.tensor(_grid(1, 3, 2, 2, spread=0.9), requires_grad=True)
    for mode in ("bilinear", "bicubic"):
        for pad in ("zeros", "reflection"):
            assert gradcheck(lambda a, b, m=mode, p=pad: F.grid_sample(
                a, b, mode=m, padding_mode=p, align_corners=False), (x, g))
        assert gradgradcheck(lambda a, b, m=mode: F.grid_sample(
            a, b, mode=m, padding_mode="reflection", align_corners=False), (x, g))
    x3 = dg.tensor(RNG.standard_normal((1, 1, 3, 3, 3)), requires_grad=True)
    g3 = dg.tensor(_grid(1, 2, 2, 1, 3, spread=0.9), requires_grad=True)
    assert gradcheck(lambda a, b: F.grid_sample(a, b, padding_mode="border",
                                                align_corners=True), (x3, g3))


def test_grid_sample_identity_resamples_exactly():
    x = dg.tensor(RNG.standard_normal((2, 3, 5, 7)))
    theta = dg.tensor(np.tile(np.eye(2, 3), (2, 1, 1)))
    for ac in (False, True):
        grid = F.affine_grid(theta, (2, 3, 5, 7), align_corners=ac)
        for mode in ("bilinear", "nearest", "bicubic"):
            assert_close(F.grid_sample(x, grid, mode=mode, align_corners=ac), x, atol=1e-12)


def test_grid_sample_errors():
    x, g = dg.randn(2, 3, 4, 5), dg.zeros(2, 6, 7, 2)
    with pytest.raises(ValueError, match="expected mode to be 'bilinear', 'nearest' or "
                                         "'bicubic', but got: 'area'"):
        F.grid_sample(x, g, mode="area", align_corners=False)
    with pytest.raises(ValueError, match="padding_mode"):
        F.grid_sample(x, g, padding_mode="wrap", align_corners=False)
    with pytest.raises(RuntimeError, match="same batch size"):
        F.grid_sample(x, g[:1], align_corners=False)
    with pytest.raises(RuntimeError, match="size 2 in last dimension"):
        F.grid_sample(x, g[..., :1], align_corners=False)
    with pytest.raises(RuntimeError, match="non-empty spatial dimensions"):
        F.grid_sample(x[:, :, :0], g, align_corners=False)
    with pytest.raises(RuntimeError, match="4D or 5D input"):
        F.grid_sample(x[0], g[0], align_corners=False)
    with pytest.raises(RuntimeError, match="bicubic interpolation only supports 4D"):
        F.grid_sample(x.unsqueeze(2), dg.zeros(2, 1, 6, 7, 3), mode="bicubic",
                      align_corners=False)
    with pytest.raises(RuntimeError, match="float32 and grid is float64"):
        F.grid_sample(x, g.double(), align_corners=False)
    with pytest.raises(NotImplementedError, match="floating-point"):
        F.grid_sample(x.long(), g, align_corners=False)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.grid_sample(x, g)


# ----------------------------------------------------------------------------------------------
# affine_grid
# ----------------------------------------------------------------------------------------------

@requires_torch
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (2, 3, 3, 4, 5), (2, 1, 2, 1, 3)])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_affine_grid_matches_torch(size, align_corners, dtype):
    nd = len(size) - 2
    theta = RNG.standard_normal((2, nd, nd + 1)).astype(dtype)
    tt, dt = torch.tensor(theta, requires_grad=True), dg.tensor(theta, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # the unit-size warning, raised by both
        tout = TF.affine_grid(tt, size, align_corners=align_corners)
        dout = F.affine_grid(dt, size, align_corners=align_corners)
    assert tuple(dout.shape) == tuple(tout.shape)
    assert dout.dtype.name == dtype
    assert_close(dout, tout, **TOLS[dtype])
    w = RNG.standard_normal(tuple(tout.shape)).astype(dtype)
    (tout * torch.tensor(w)).sum().backward()
    (dout * dg.tensor(w)).sum().backward()
    assert_close(dt.grad, tt.grad, rtol=1e-5 if dtype == "float32" else 1e-10, atol=1e-5)


@requires_torch
def test_spatial_transformer_end_to_end_gradients():
    """affine_grid -> grid_sample, differentiated w.r.t. theta and the image."""
    x = RNG.standard_normal((2, 3, 6, 6))
    theta = np.tile(np.eye(2, 3), (2, 1, 1)) + 0.1 * RNG.standard_normal((2, 2, 3))
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(theta, requires_grad=True)
    dx, dt = dg.tensor(x, requires_grad=True), dg.tensor(theta, requires_grad=True)
    tout = TF.grid_sample(tx, TF.affine_grid(tt, (2, 3, 4, 5), align_corners=False),
                          align_corners=False, padding_mode="border")
    dout = F.grid_sample(dx, F.affine_grid(dt, (2, 3, 4, 5), align_corners=False),
                         align_corners=False, padding_mode="border")
    assert_close(dout, tout, **TOLS["float64"])
    (tout ** 2).sum().backward()
    (dout ** 2).sum().backward()
    assert_close(dx.grad, tx.grad, **TOLS["float64"])
    assert_close(dt.grad, tt.grad, rtol=1e-9, atol=1e-10)


def test_affine_grid_errors():
    theta = dg.randn(3, 2, 3)
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(dg.randn(3, 3, 4), (3, 1, 4, 5), align_corners=False)
    with pytest.raises(ValueError, match="floating point"):
        F.affine_grid(theta.long(), (3, 1, 4, 5), align_corners=False)
    with pytest.raises(NotImplementedError, match="only supports 4D and 5D"):
        F.affine_grid(theta, (3, 4, 5), align_corners=False)
    with pytest.raises(ValueError, match="non-zero, positive output size"):
        F.affine_grid(theta, (3, 1, 0, 5), align_corners=False)
    with pytest.raises(RuntimeError, match="theta holds 3 matrices"):
        F.affine_grid(theta, (2, 1, 4, 5), align_corners=False)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(theta, (3, 1, 4, 5))


# ----------------------------------------------------------------------------------------------
# compiled mode and speed
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_grid_sample_compiled_matches_eager(mode):
    def fn(x, theta):
        grid = F.affine_grid(theta, (2, 3, 5, 6), align_corners=False)
        return F.grid_sample(x, grid, mode=mode, padding_mode="reflection",
                             align_corners=False)

    x = dg.tensor(RNG.standard_normal((2, 3, 7, 8)).astype("float32"))
    theta = dg.tensor((np.tile(np.eye(2, 3), (2, 1, 1)) * 1.3).astype("float32"))
    compiled = dg.compile(fn, backend="llvm")
    want = fn(x, theta)
    for _ in range(2):      # the first call traces, the second runs the compiled code
        assert_close(compiled(x, theta), want, rtol=1e-5, atol=1e-5)


def test_grid_sample_is_vectorised():
    """A 128x128 warp of a 3-channel image, forward and backward, stays well under a second
    (a Python loop over pixels would take many)."""
    x = dg.randn(2, 3, 128, 128, requires_grad=True)
    g = dg.tensor(_grid(2, 128, 128, 2, dtype="float32"), requires_grad=True)
    start = time.perf_counter()
    F.grid_sample(x, g, align_corners=False).sum().backward()
    assert time.perf_counter() - start < 3.0
