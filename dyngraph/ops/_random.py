"""Random numbers: `Generator`s, the global seeding functions, and the `random` draw op.

Random draws are ops in the table (kind CREATION) that take their generator as an attribute, so a
trace records them with the generator whose state they advance. Every name here is also importable
from `dyngraph.ops.creation` (the same objects), where these lived before.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from .. import _dtype as D
from .._device import cupy_module, device
from .._tensor import Tensor, _wrap
from ._api import apply, state
from .creation import _dev, _out, _shape, _sizes, full_like
from .registry import OpKind, nondiff

__all__ = ["rand", "randn", "randint", "randperm", "normal", "rand_like", "randn_like",
           "randint_like", "manual_seed", "seed", "initial_seed", "Generator",
           "default_generator", "get_rng_state", "set_rng_state", "bernoulli", "multinomial"]


class Generator:
    """A random number generator (PCG64 on the CPU, cupy's generator on CUDA).

    On CUDA the state is (seed, number of draws) and each draw uses a cupy generator seeded from
    both, as PyTorch's Philox generator keeps (seed, offset): `get_state`/`set_state` restore it
    exactly, which cupy's own generators cannot do.

    Example:
        >>> g = dyngraph.Generator().manual_seed(0)
        >>> dyngraph.rand(2, generator=g).shape
        dyngraph.Size([2])
    """

    def __init__(self, device="cpu"):
        self.device = _dev(device)
        self._seed = 67280421310721
        self._reset()
        _GENERATORS.add(self)

    def _reset(self) -> None:
        self._draws = 0
        self._rng = (np.random.Generator(np.random.PCG64(self._seed))
                     if self.device.type == "cpu" else None)

    def _stream(self):
        """What the next draw samples from (on CUDA a fresh generator for draw number n)."""
        if self._rng is not None:
            return self._rng
        mixed = np.random.SeedSequence([self._seed, self._draws]).generate_state(2, np.uint64)
        self._draws += 1
        return cupy_module().random.RandomState(int(mixed[0]) % (2**63))

    def manual_seed(self, seed: int) -> "Generator":
        """Reset the generator to `seed` (returns self)."""
        self._seed = int(seed) % (2**64)
        self._reset()
        return self

    def seed(self) -> int:
        """Seed from fresh entropy and return the seed."""
        s = int(np.random.SeedSequence().entropy) % (2**63)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        """The generator state as a uint8 tensor (restore with `set_state`)."""
        import json
        st = json.dumps({"seed": self._seed, "state": self._rng.bit_generator.state}
                        if self._rng is not None else {"seed": self._seed, "draws": self._draws})
        return _wrap(np.frombuffer(st.encode(), dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> "Generator":
        import json
        st = json.loads(bytes(np.asarray(new_state._data, dtype=np.uint8)).decode())
        self._seed = st["seed"]
        self._reset()
        if "state" in st:
            self._rng.bit_generator.state = st["state"]
        self._draws = st.get("draws", 0)
        return self

    def __repr__(self) -> str:
        return f"<dyngraph.Generator object on {self.device}>"


_GENERATORS: "weakref.WeakSet[Generator]" = weakref.WeakSet()   # every live generator
default_generator = Generator()
_cuda_generators: dict[int, Generator] = {}


def _gen(generator, dev: device) -> Generator:
    if generator is not None:
        if generator.device.type != dev.type:
            raise RuntimeError(
                f"Expected a '{dev.type}' device type for generator but found "
                f"'{generator.device.type}'")
        return generator
    if dev.type == "cpu":
        return default_generator
    idx = dev.index or 0
    g = _cuda_generators.get(idx)
    if g is None:
        g = _cuda_generators[idx] = Generator(device(f"cuda:{idx}"))
        g.manual_seed(default_generator.initial_seed())
    return g


def manual_seed(seed: int) -> Generator:
    """Seed every default generator (CPU and CUDA); returns the CPU one."""
    default_generator.manual_seed(seed)
    for g in _cuda_generators.values():
        g.manual_seed(seed)
    return default_generator


def seed() -> int:
    return default_generator.seed()


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    default_generator.set_state(new_state)


def _draw(kind: str, rng, shape, npdt, **kw):
    if kind == "uniform":
        if isinstance(rng, np.random.Generator):
            if npdt in (np.float32, np.float64):
                return rng.random(shape, dtype=npdt)
            return rng.random(shape).astype(npdt)
        return rng.random_sample(shape).astype(npdt)
    if kind == "normal":
        if isinstance(rng, np.random.Generator) and npdt in (np.float32, np.float64):
            return rng.standard_normal(shape, dtype=npdt)
        return rng.standard_normal(shape).astype(npdt)
    if kind == "randint":
        return rng.integers(kw["low"], kw["high"], shape).astype(npdt) if isinstance(
            rng, np.random.Generator) else rng.randint(kw["low"], kw["high"], shape).astype(npdt)
    if kind == "randperm":
        return rng.permutation(kw["n"]).astype(npdt)
    raise ValueError(kind)


@nondiff("random", OpKind.CREATION, "a random draw has no gradient", dtype_rule="none")
def random_op(xp, *, kind, shape, dtype, device, generator, **kw):
    g = _gen(generator, device)
    return _draw(kind, g._stream(), shape, dtype.np, **kw)


def _random(kind, size, dtype, device, generator, requires_grad, **kw):
    dev = _dev(device)
    dt = D.to_dtype(dtype) if dtype is not None else D.get_default_dtype()
    t = apply(random_op, kind=kind, shape=_shape(size), dtype=dt, device=dev,
              generator=generator, **kw)
    if requires_grad:
        t.requires_grad_(True)
    return t


def rand(*sizes, size=None, generator=None, out=None, dtype=None, device=None,
         requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1) (sizes as in `zeros`)."""
    size = _sizes(sizes, size, "rand")
    dtype = out.dtype if out is not None and dtype is None else dtype
    return _out(_random("uniform", size, dtype, device, generator, requires_grad), out)


def randn(*sizes, size=None, generator=None, out=None, dtype=None, device=None,
          requires_grad=False) -> Tensor:
    """Standard normal samples (sizes as in `zeros`)."""
    size = _sizes(sizes, size, "randn")
    dtype = out.dtype if out is not None and dtype is None else dtype
    return _out(_random("normal", size, dtype, device, generator, requires_grad), out)


def randint(low, high=None, size=None, *, generator=None, out=None, dtype=None, device=None,
            requires_grad=False) -> Tensor:
    """Integers uniform in [low, high): `randint(high, size)` or `randint(low, high, size)`."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing required argument 'size' (a tuple)")
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} "
                           f">= to={high}")
    dtype = dtype or (out.dtype if out is not None else D.int64)
    return _out(_random("randint", (tuple(size),), dtype, device, generator, requires_grad,
                        low=int(low), high=int(high)), out)


def randperm(n: int, *, generator=None, out=None, dtype=None, device=None,
             requires_grad=False) -> Tensor:
    """A random permutation of 0..n-1."""
    dtype = dtype or (out.dtype if out is not None else D.int64)
    return _out(_random("randperm", ((n,),), dtype, device, generator, requires_grad, n=n), out)


def rand_like(input, *, generator=None, dtype=None, device=None, requires_grad=False,
              memory_format=None):
    """`rand` with the shape (and by default dtype and device) of `input`."""
    return rand(tuple(input.shape), generator=generator, dtype=dtype or input.dtype,
                device=device or input.device, requires_grad=requires_grad)


def randn_like(input, *, generator=None, dtype=None, device=None, requires_grad=False,
               memory_format=None):
    """`randn` with the shape (and by default dtype and device) of `input`."""
    return randn(tuple(input.shape), generator=generator, dtype=dtype or input.dtype,
                 device=device or input.device, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, generator=None, dtype=None, device=None,
                 requires_grad=False):
    """Integers uniform in [low, high) with `input`'s shape (and dtype/device by default)."""
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), generator=generator, dtype=dtype or input.dtype,
                   device=device or input.device, requires_grad=requires_grad)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False, out=None) -> Tensor:
    """Normal samples: tensors `mean`/`std` broadcast together, or numbers with `size`."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        shape = np.broadcast_shapes(tuple(getattr(mean, "shape", ())),
                                    tuple(getattr(std, "shape", ())))
        z = randn(shape, generator=generator, dtype=like.dtype, device=like.device)
        r = z * std + mean
        return _out(r, out)
    if size is None:
        raise TypeError("normal(): with float mean and std, `size` is required")
    z = randn(tuple(size), generator=generator, dtype=dtype, device=device)
    r = (z * std + mean).detach()
    if requires_grad:
        r.requires_grad_(True)
    return _out(r, out)


def bernoulli(input, p=None, *, generator=None) -> Tensor:
    """1 with probability `input` (or `p`), else 0, elementwise."""
    prob = input if p is None else full_like(input, p)
    u = rand(tuple(prob.shape), generator=generator, dtype=prob.dtype, device=prob.device)
    return (u < prob).to(prob.dtype)


def multinomial(input, num_samples: int, replacement: bool = False, *, generator=None):
    """Draw `num_samples` category indices per row of non-negative weights `input`.

    Written in dyngraph ops driven by dyngraph's generator, so `dyngraph.compile` captures it.
    With replacement: inverse CDF, each uniform draw scaled by the row's total and located
    among the cumulative weights (a stable sort counts the cumulative weights <= the draw).
    Without replacement: exponential races, the `num_samples` smallest of -log(1 - u) / w in
    order of arrival (the Gumbel-top-k trick), which is sequential sampling without
    replacement.

    Args:
        input: weights, shape (K,) or (R, K); non-negative, finite, with a positive sum per row.
        num_samples: samples per row (at most K without replacement; once a row's positive
            weights are used up, its zero-weight categories follow in index order, as in
            PyTorch).
        replacement: draw with replacement.
        generator: a `dyngraph.Generator` on the input's device (default: the global one).

    Returns:
        int64 indices of shape (num_samples,) or (R, num_samples), on the input's device.

    Example:
        >>> dyngraph.multinomial(dyngraph.tensor([0.0, 1.0, 3.0]), 4, replacement=True).shape
        dyngraph.Size([4])
    """
    import dyngraph as dg
    if input.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got {input.ndim} dims "
                           f"(shape {tuple(input.shape)})")
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples ({num_samples})")
    k = input.shape[-1]
    if not replacement and num_samples > k:
        raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples "
                           f"without replacement ({num_samples} > {k}); pass replacement=True")
    w = input.detach()
    squeeze = w.ndim == 1
    w = (w.unsqueeze(0) if squeeze else w).to(D.float64)
    _check_multinomial_weights(w)
    draws = num_samples if replacement else k          # (one arrival time per category)
    u = rand((w.shape[0], draws), generator=generator, dtype=D.float64, device=w.device)
    if replacement:
        c = w.cumsum(-1)
        order = dg.cat([c, u * c[:, -1:]], -1).argsort(-1, stable=True)   # ties: weights first
        below = (order < k).to(D.int64).cumsum(-1)      # cumulative weights <= each position
        out = below.gather(-1, order.argsort(-1)[:, k:]).clamp(max=k - 1)
    else:
        positive = w > 0
        race = (-(-u).log1p()) / dg.where(positive, w, 1.0)
        out = dg.where(positive, race, math.inf).topk(num_samples, -1, largest=False).indices
    return out[0] if squeeze else out


Tensor.multinomial = multinomial


def _check_multinomial_weights(w) -> None:
    """Raise multinomial's errors. Compiled, the error code is a graph break (a new code re-runs
    the call eagerly, which raises); under fullgraph=True only the traced call is checked."""
    import dyngraph as dg
    bad = ((w < 0) | ~w.isfinite()).any()
    code = dg.where(bad, 1, dg.where((w.sum(-1) <= 0).any(), 2, 0))
    if state.tracer is not None and getattr(state.tracer, "fullgraph", False):
        data = code._data
        value = int(data if type(data) is np.ndarray else data.get())
    else:
        value = code.item()
    if value == 1:
        raise RuntimeError("multinomial: probability tensor contains either inf, nan or "
                           "element < 0")
    if value == 2:
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of "
                           "probabilities <= 0)")
