"""Gather-based sampling for `dyngraph.nn.functional`: affine_grid, grid_sample and embedding_bag.

All three are composites: the integer part (which pixels or rows to read) is computed with
non-differentiable index ops, the rows are read with one advanced-indexing gather, and the
result is a weighted sum of those rows. Gradients therefore reach the input (through the
gather's scatter-add backward), the sampling grid or per-sample weights (through the weights),
and double backward and the compiler work as for any other composite.
"""

from __future__ import annotations

import math
import warnings

from .. import _dtype
from .. import ops as _ops
from ..ops._api import Tensor
from ..ops.registry import composite
from ._functional_args import _shape_str

__all__ = ["affine_grid", "grid_sample", "embedding_bag"]

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to "
                  "align_corners=False since 1.3.0. Please specify align_corners=True if the old "
                  "behavior is desired. See the documentation of grid_sample for details.")


def _traced() -> bool:
    from .._dispatch import state
    return state.tracer is not None


def _zero_grad_like(t: Tensor, value: float) -> Tensor:
    """A tensor equal to `value`, shaped like `t`, whose gradient reaches `t` as zeros (so that
    t.grad is a zero tensor, as in PyTorch, rather than None)."""
    return _ops.where(_ops.zeros(t.shape, dtype=_dtype.bool_, device=t.device), t, value)


# ----------------------------------------------------------------------------------------------
# affine_grid
# ----------------------------------------------------------------------------------------------

def _linspace_from_neg_one(n: int, align_corners: bool, theta: Tensor) -> Tensor:
    """n points over [-1, 1] (pixel corners) or shrunk by (n-1)/n (pixel centres), as ATen."""
    if n <= 1:
        return _ops.zeros(max(n, 1), dtype=theta.dtype, device=theta.device)[:n]
    grid = _ops.linspace(-1.0, 1.0, n, dtype=theta.dtype, device=theta.device)
    return grid if align_corners else grid * (n - 1) / n


@composite("affine_grid", "linspace, stack, matmul")
def affine_grid(theta: Tensor, size, align_corners: bool | None = None) -> Tensor:
    """The sampling grid of a batch of affine maps, for `grid_sample` (Spatial Transformers).

    Args:
        theta: (N, 2, 3) affine matrices for a 2-D output, or (N, 3, 4) for a 3-D one.
        size: the output size (N, C, H, W) or (N, C, D, H, W).
        align_corners: -1 and 1 name the centres (True) or the outer corners (False) of the
            corner pixels; use the same value in grid_sample. None means False, with a warning.

    Returns:
        The grid (N, H, W, 2) or (N, D, H, W, 3) of normalised (x, y[, z]) source coordinates.

    Example:
        >>> theta = dyngraph.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
        >>> F.affine_grid(theta, (1, 1, 2, 3), align_corners=False).shape
        dyngraph.Size([1, 2, 3, 2])
    """
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    if not theta.dtype.is_floating_point:
        raise ValueError(f"Expected theta to have floating point type, but got {theta.dtype}")
    size = tuple(int(s) for s in size)
    if len(size) not in (4, 5):
        raise NotImplementedError("affine_grid only supports 4D and 5D sizes, for 2D and 3D "
                                  f"affine transforms, respectively. Got size {size}.")
    nd = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (nd, nd + 1):
        raise ValueError(f"Expected a batch of {nd}D affine matrices of shape Nx{nd}x{nd + 1} "
                         f"for size {size}. Got {_shape_str(theta)}.")
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size grids "
                      "when align_corners=True. This is not an intended use case of affine_grid. "
                      "See the documentation of affine_grid for details.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != size[0]:
        raise RuntimeError(f"affine_grid: theta holds {theta.shape[0]} matrices "
                           f"({_shape_str(theta)}) but size asks for a batch of {size[0]}")
    # base[..., :] = (x, y[, z], 1) at every output position; x runs along the last dim
    axes = [_linspace_from_neg_one(n, align_corners, theta) for n in reversed(spatial)]
    mesh = _ops.meshgrid(*reversed(axes), indexing="ij")        # each (D,) H, W
    ones = _ops.ones(spatial, dtype=theta.dtype, device=theta.device)
    base = _ops.stack(list(reversed(mesh)) + [ones], dim=-1).reshape(1, -1, nd + 1)
    grid = base @ theta.transpose(1, 2)                         # (N, prod(spatial), nd)
    return grid.reshape(size[0], *spatial, nd)


# ----------------------------------------------------------------------------------------------
# grid_sample
# ----------------------------------------------------------------------------------------------

_MODES = ("bilinear", "nearest", "bicubic")
_PADDING = ("zeros", "border", "reflection")
_CUBIC_A = -0.75


def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    """[-1, 1] -> [0, size - 1] (corner pixel centres) or [-0.5, size - 0.5] (outer corners)."""
    if align_corners:
        return (coord + 1) * ((size - 1) / 2)
    return (coord + 1) * (size / 2) - 0.5


def _clip(x: Tensor, size: int) -> Tensor:
    """Clamp to [0, size - 1]; like PyTorch, the gradient is 0 at and beyond both borders."""
    inside = (x > 0) & (x < size - 1)
    return _ops.where(inside, x, x.detach().clamp(0, size - 1))


def _reflect(x: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """Reflect x about the bounds (given doubled, to stay integral) until it lies between them."""
    if twice_low == twice_high:
        return _zero_grad_like(x, 0.0)
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    t = (x - low).abs()
    extra = _ops.fmod(t, span)
    odd = _ops.fmod(_ops.floor(t.detach() / span), 2) == 1
    return _ops.where(odd, (span + low) - extra, extra + low)


def _pad_coord(x: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """Map a pixel coordinate into the input as the padding mode says ('zeros' leaves it)."""
    if padding_mode == "border":
        return _clip(x, size)
    if padding_mode == "reflection":
        if align_corners:
            x = _reflect(x, 0, 2 * (size - 1))
        else:
            x = _reflect(x, -1, 2 * size - 1)
        return _clip(x, size)
    return x


def _cubic_weights(t: Tensor) -> list[Tensor]:
    """Keys' cubic convolution weights (A = -0.75) of the taps at -1, 0, 1, 2 for offset t."""
    a = _CUBIC_A

    def near(x):      # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):       # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _taps(coord: Tensor, size: int, mode: str, padding_mode: str, align_corners: bool):
    """The source positions (float, integral values) and weights along one spatial dim, each
    (N, T, *out) for T taps; weights are None for nearest."""
    x = _unnormalize(coord, size, align_corners)
    if mode == "bicubic":      # PyTorch pads each tap's position, not the sampling point
        base = _ops.floor(x.detach())
        t = x - base
        pos = [_pad_coord(base + k, size, padding_mode, align_corners).trunc()
               for k in (-1, 0, 1, 2)]
        return _ops.stack(pos, 1), _ops.stack(_cubic_weights(t), 1)
    x = _pad_coord(x, size, padding_mode, align_corners)
    if mode == "nearest":
        return _ops.round(x.detach()).unsqueeze(1), None
    lo = _ops.floor(x.detach())
    hi = lo + 1
    return _ops.stack([lo, hi], 1), _ops.stack([hi - x, x - lo], 1)


@composite("grid_sample", "floor, where, getitem (gather of channel rows), mul, sum")
def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear", padding_mode: str = "zeros",
                align_corners: bool | None = None) -> Tensor:
    """Sample `input` at the normalised positions in `grid`, as torch.nn.functional.grid_sample.

    Args:
        input: (N, C, H, W) or (N, C, D, H, W).
        grid: (N, H_out, W_out, 2) or (N, D_out, H_out, W_out, 3) positions (x, y[, z]) in
            [-1, 1] (x indexes W); values outside are handled by `padding_mode`.
        mode: 'bilinear' (trilinear for 5-D input), 'nearest' or 'bicubic' (4-D input only).
        padding_mode: 'zeros', 'border' (clamp to the edge) or 'reflection'.
        align_corners: -1 and 1 name the centres (True) or the outer corners (False) of the
            corner pixels. None means False, with a warning.

    Returns:
        (N, C, H_out, W_out) or (N, C, D_out, H_out, W_out). Differentiable in input and grid
        (the gradient w.r.t. grid is zero for 'nearest').

    Example:
        >>> img = dyngraph.arange(16.0).reshape(1, 1, 4, 4)
        >>> grid = dyngraph.zeros(1, 1, 1, 2)              # the image centre
        >>> F.grid_sample(img, grid, align_corners=False)
        tensor([[[[7.5000]]]])
    """
    if mode not in _MODES:
        raise ValueError("nn.functional.grid_sample(): expected mode to be 'bilinear', "
                         f"'nearest' or 'bicubic', but got: '{mode}'")
    if padding_mode not in _PADDING:
        raise ValueError("nn.functional.grid_sample(): expected padding_mode to be 'zeros', "
                         f"'border', or 'reflection', but got: '{padding_mode}'")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, stacklevel=2)
        align_corners = False
    _check_grid_sample(input, grid, mode)
    return _sample(input, grid, mode, padding_mode, align_corners)


def _check_grid_sample(input: Tensor, grid: Tensor, mode: str) -> None:
    op = "grid_sampler()"
    sizes = f"input with sizes {_shape_str(input)} and grid with sizes {_shape_str(grid)}"
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(f"{op}: expected 4D or 5D input and grid with same number of "
                           f"dimensions, but got {sizes}")
    nd = input.ndim - 2
    if grid.shape[0] != input.shape[0]:
        raise RuntimeError(f"{op}: expected grid and input to have same batch size, but got "
                           f"{sizes}")
    if grid.shape[-1] != nd:
        raise RuntimeError(f"{op}: expected grid to have size {nd} in last dimension, but got "
                           f"grid with sizes {_shape_str(grid)}")
    for d in range(2, input.ndim):
        if input.shape[d] == 0:
            raise RuntimeError(f"{op}: expected input to have non-empty spatial dimensions, but "
                               f"input has sizes {_shape_str(input)} with dimension {d} being "
                               "empty")
    if mode == "bicubic" and nd != 2:
        raise RuntimeError(f"{op}: bicubic interpolation only supports 4D input")
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f"grid_sample: input must be a floating-point tensor, got "
                                  f"{input.dtype.name}; convert it with .float()")
    if grid.dtype is not input.dtype:
        raise RuntimeError(f"grid_sample: expected input and grid to have the same dtype, but "
                           f"input is {input.dtype.name} and grid is {grid.dtype.name}; cast "
                           "one with .to(dtype)")


def _sample(input: Tensor, grid: Tensor, mode: str, padding_mode: str,
            align_corners: bool) -> Tensor:
    """Gather every tap of every output position in one indexing op; sum the weighted taps."""
    nd = input.ndim - 2
    n, c = input.shape[:2]
    in_sizes = tuple(input.shape[2:])
    out_sizes = tuple(grid.shape[1:-1])
    # grid[..., 0] indexes the last dim (W), grid[..., 1] the one before, ...
    dims = [(in_sizes[nd - 1 - k],) + _taps(grid[..., k], in_sizes[nd - 1 - k], mode,
                                            padding_mode, align_corners) for k in range(nd)]
    dims.reverse()                                  # now in input order: (D,) H, W
    # one tap axis per spatial dim: positions/weights of dim j get shape (N, 1.., T, 1.., *out)
    numel = math.prod(in_sizes)
    batch = _ops.arange(n, device=input.device).reshape((n,) + (1,) * (nd + len(out_sizes)))
    flat = batch * numel
    inside = None
    weights = []
    stride = numel
    for j, (size, pos, w) in enumerate(dims):
        view = (n,) + (1,) * j + (pos.shape[1],) + (1,) * (nd - 1 - j) + out_sizes
        pos = pos.reshape(view)
        ok = (pos >= 0) & (pos < size)
        inside = ok if inside is None else inside & ok
        stride //= size
        flat = flat + _ops.where(ok, pos, 0).long() * stride
        if w is not None:
            weights.append(w.reshape(view))
    rows = input.movedim(1, -1).reshape(n * numel, c)[flat]      # (N, taps.., *out, C)
    rows = _ops.where(inside.unsqueeze(-1), rows, 0.0)
    if not weights:     # nearest: one tap; keep grid in the graph for a zero gradient
        link = _zero_grad_like(grid[..., 0], 1.0).unsqueeze(-1)
        out = rows.reshape((n,) + out_sizes + (c,)) * link
    else:
        weight = weights[-1]          # x * y (* z), PyTorch's order of the factors
        for w in reversed(weights[:-1]):
            weight = weight * w
        out = (rows * weight.unsqueeze(-1)).sum(tuple(range(1, nd + 1)))
    return out.movedim(-1, 1).contiguous()


# ----------------------------------------------------------------------------------------------
# embedding_bag
# ----------------------------------------------------------------------------------------------

def _bag_checks(input, weight, offsets, mode, per_sample_weights, scale_grad_by_freq, sparse):
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"embedding_bag(): argument '{name}' must be Tensor, not "
                            f"{type(t).__name__}")
    if input.dtype.is_floating_point or input.dtype is _dtype.bool_:
        raise RuntimeError(f"embedding_bag: expected indices of an integer dtype (Long or Int), "
                           f"got {input.dtype}; convert them with .long()")
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"embedding_bag: If per_sample_weights ({_shape_str(per_sample_weights)}"
                         f") is not None, then it must have the same shape as the input "
                         f"({_shape_str(input)})")
    if weight.ndim != 2:
        raise ValueError(f"weight has to be a 2D Tensor, but got Tensor of dimension "
                         f"{weight.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError("mode has to be one of sum, mean or max")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("max mode does not support scaling the gradient by the frequency")
    if mode == "max" and sparse:
        raise ValueError("max mode does not support sparse weights")
    if sparse:
        raise NotImplementedError("embedding_bag: sparse=True is not supported (dyngraph has no "
                                  "sparse tensors); use sparse=False")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
            "GitHub.")
    if offsets is not None and (offsets.dtype.is_floating_point or offsets.dtype is _dtype.bool_):
        raise RuntimeError(f"embedding_bag: expected offsets of an integer dtype (Long or Int), "
                           f"got {offsets.dtype}")


def _zeros_linked(shape, t: Tensor) -> Tensor:
    """Zeros of `shape` whose gradient reaches `t` as zeros (empty bags still give weight a
    zero gradient, as in PyTorch)."""
    return _ops.where(_ops.zeros(shape, dtype=_dtype.bool_, device=t.device), t.sum(), 0.0)


def _check_values(input: Tensor, offsets: Tensor, num: int) -> None:
    """Eager-only checks of index and offset values (a trace cannot read them)."""
    if input.numel():
        lo, hi = int(input.min().item()), int(input.max().item())
        if lo < 0 or hi >= num:
            bad = lo if lo < 0 else hi
            pos = int(((input == bad).long().argmax()).item())
            raise RuntimeError(f"embedding_bag: index {pos} of input takes value {bad} which is "
                               f"not in the valid range [0, {num})")
    if offsets.numel():
        first, last = int(offsets[0].item()), int(offsets[-1].item())
        if first != 0:
            raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the "
                               "mini-batch has to start from position 0. However, got "
                               f"{first}")
        if last > input.numel():
            raise RuntimeError(f"offsets[-1] can not be greater than input's length "
                               f"{input.numel()} but got offsets[-1] of {last}")
        if offsets.numel() > 1 and bool((offsets[1:] < offsets[:-1]).any().item()):
            raise RuntimeError(f"embedding_bag: offsets must be non-decreasing, got "
                               f"{offsets.tolist()}")


def _bag_max(rows: Tensor, starts: Tensor, ends: Tensor, keep: Tensor) -> Tensor:
    """Per-bag elementwise max of `rows` (n, D) over bags [starts, ends), padding excluded; empty
    bags give 0. Bags are laid out as a padded (B, L, D) block (L = the longest bag) and the
    gradient reaches, per bag and column, the first row holding the maximum (as in PyTorch)."""
    lens = ends - starts
    b, d = starts.shape[0], rows.shape[1]
    longest = int(lens.max().item()) if b else 0
    if b == 0 or longest == 0 or rows.shape[0] == 0:
        return _zeros_linked((b, d), rows)
    step = _ops.arange(longest, device=rows.device).reshape(1, longest)
    pos = starts.reshape(b, 1) + step
    valid = (step < lens.reshape(b, 1))
    pos = _ops.where(valid, pos, 0)
    valid = valid & keep[pos]
    block = _ops.where(valid.unsqueeze(-1), rows[pos], float("-inf"))
    best = block.max(dim=1).values
    return _ops.where(valid.any(1).unsqueeze(-1), best, 0.0)


@composite("embedding_bag", "getitem, searchsorted, index_add, div (sum/mean); max over a "
           "padded block (max)")
def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None,
                  max_norm: float | None = None, norm_type: float = 2,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sum, mean or max of bags of rows of `weight`, without materialising each bag's rows.

    Args:
        input: (B, L) indices (B bags of L each; offsets must be None), or 1-D indices split
            into bags by `offsets`.
        weight: the (num_embeddings, embedding_dim) table.
        offsets: with 1-D input, the start of each bag in `input` (non-decreasing, first 0).
        max_norm, norm_type: rows looked up are renormalised in place to norm <= max_norm.
        scale_grad_by_freq: scale each row's gradient by 1 / (its count in input).
        mode: 'sum', 'mean' (default) or 'max'; empty bags give zeros.
        sparse: not supported (dyngraph has no sparse tensors).
        per_sample_weights: weights of each index, same shape as input ('sum' mode only).
        include_last_offset: offsets has B + 1 entries, the last being the end of the last bag.
        padding_idx: entries equal to it are left out of their bag (and of its mean's count).

    Returns:
        (B, embedding_dim).

    Example:
        >>> w = dyngraph.arange(6.0).reshape(3, 2)
        >>> F.embedding_bag(dyngraph.tensor([0, 2, 1]), w, dyngraph.tensor([0, 2]), mode="sum")
        tensor([[4., 6.],
                [2., 3.]])
    """
    _bag_checks(input, weight, offsets, mode, per_sample_weights, scale_grad_by_freq, sparse)
    num = weight.shape[0]
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise RuntimeError(f"padding_idx must be within the number of embeddings, -{num} "
                               f"through {num - 1}, but got {padding_idx}")
        padding_idx %= num
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated "
                             "is a mini-batch of fixed length sequences. However, found offsets "
                             f"of type {type(offsets)}")
        bags, length = input.shape
        offsets = _ops.arange(bags, device=input.device) * length
        include_last_offset = False
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ValueError("offsets has to be a 1D Tensor")
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension "
                         f"{input.ndim}")
    input, offsets = input.long(), offsets.long()
    if not _traced():
        _check_values(input, offsets, num)
    if max_norm is not None:
        from ..autograd import no_grad
        from .functional import _renorm_rows_
        with no_grad():
            _renorm_rows_(weight, input, max_norm, norm_type)
    n = input.shape[0]
    if include_last_offset:
        starts, ends = offsets[:-1], offsets[1:]
    else:
        starts = offsets
        ends = _ops.cat([offsets[1:], _ops.full((1,), n, dtype=_dtype.int64,
                                                device=input.device)])
    bags = starts.shape[0]

    rows = weight[input]                                         # (n, D)
    if scale_grad_by_freq and weight.requires_grad:
        counts = _ops.zeros(num, dtype=weight.dtype, device=weight.device).index_add(
            0, input, _ops.ones(n, dtype=weight.dtype, device=weight.device))
        scale = (1.0 / counts[input]).unsqueeze(-1)
        rows = rows.detach() + (rows - rows.detach()) * scale      # same value, scaled gradient
    keep = input != padding_idx if padding_idx is not None else \
        _ops.ones(n, dtype=_dtype.bool_, device=input.device)
    if mode == "max":
        return _bag_max(rows, starts, ends, keep)
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.unsqueeze(-1)
    if padding_idx is not None:
        rows = _ops.where(keep.unsqueeze(-1), rows, 0.0)
    # bag of each index: the last start <= its position (empty bags own no index)
    bag = _ops.searchsorted(starts, _ops.arange(n, device=input.device), right=True) - 1
    if include_last_offset:          # indices past the last end belong to no bag
        inside = _ops.arange(n, device=input.device) < (ends[-1] if bags else 0)
        rows = _ops.where(inside.unsqueeze(-1), rows, 0.0)
        keep = keep & inside
        bag = bag.clamp(0, max(bags - 1, 0))
    if n == 0 or bags == 0:
        return _zeros_linked((bags, weight.shape[1]), rows)
    out = _ops.zeros(bags, weight.shape[1], dtype=rows.dtype, device=weight.device)
    out = out.index_add(0, bag, rows)
    if mode == "mean":
        count = _ops.zeros(bags, dtype=rows.dtype, device=weight.device).index_add(
            0, bag, keep.to(rows.dtype))
        out = out / count.clamp(min=1).unsqueeze(-1)
    return out
