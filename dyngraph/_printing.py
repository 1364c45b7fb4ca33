"""PyTorch's tensor repr: `tensor([[0.1000, 0.2000]], requires_grad=True)`.

A port of `torch/_tensor_str.py` working on the numpy array behind a tensor: one `_Formatter`
picks integer, fixed or scientific notation and a column width from the (summarised) values, then
the nested lists are laid out with the same line breaks, `...` summaries and suffixes
(`dtype=`, `device=`, `grad_fn=`/`requires_grad=`) as PyTorch prints them.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np

from . import _dtype as D

__all__ = ["set_printoptions", "get_printoptions", "printoptions", "tensor_repr"]

_DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80,
             "sci_mode": None}
_PRINT = dict(_DEFAULTS)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None) -> None:
    """Set how tensors print (PyTorch's options and semantics).

    Args:
        precision: digits after the decimal point (default 4).
        threshold: element count above which the repr is summarised with `...` (default 1000).
        edgeitems: items shown at each end of a summarised dimension (default 3).
        linewidth: characters per line before wrapping (default 80).
        profile: "default", "short" or "full" presets; the other arguments override them.
        sci_mode: force scientific notation on (True) or off (False); None chooses per tensor.
            As in PyTorch, every call resets it to this argument.

    Example:
        >>> dyngraph.set_printoptions(precision=2)
        >>> dyngraph.tensor([1.12345])
        tensor([1.12])
        >>> dyngraph.set_printoptions(profile="default")
    """
    if profile == "default":
        _PRINT.update(precision=4, threshold=1000, edgeitems=3, linewidth=80)
    elif profile == "short":
        _PRINT.update(precision=2, threshold=1000, edgeitems=2, linewidth=80)
    elif profile == "full":
        _PRINT.update(precision=4, threshold=math.inf, edgeitems=3, linewidth=80)
    for k, v in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                 ("linewidth", linewidth)):
        if v is not None:
            _PRINT[k] = v
    _PRINT["sci_mode"] = sci_mode


def get_printoptions() -> dict:
    """The current print options, as keyword arguments for `set_printoptions`."""
    return dict(_PRINT)


@contextlib.contextmanager
def printoptions(**kwargs):
    """Context manager that sets print options (as `set_printoptions`) and restores them."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


class _Formatter:
    """Chooses integer, fixed or scientific notation and one width for all values shown."""

    def __init__(self, values: np.ndarray, is_float: bool):
        self.is_float = is_float
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        prec = _PRINT["precision"]
        if not is_float:
            for v in values.tolist():
                self.width = max(self.width, len(str(v)))
            return
        vals = values[np.isfinite(values) & (values != 0)]
        if vals.size == 0:  # only zeros, inf and nan: the width stays 1, as in PyTorch
            return
        absv = np.abs(vals.astype(np.float64))
        mn, mx = float(absv.min()), float(absv.max())
        self.int_mode = bool(np.all(vals == np.ceil(vals)))
        if _PRINT["sci_mode"] is None:
            self.sci_mode = mx / mn > 1000.0 or mx > 1.0e8 or mn < 1.0e-4
        else:
            self.sci_mode = bool(_PRINT["sci_mode"])
        pyvals = vals.tolist()
        if self.sci_mode:
            self.width = max(len(f"{v:.{prec}e}") for v in pyvals)
        elif self.int_mode:
            self.width = max(len(f"{v:.0f}") + 1 for v in pyvals)
        else:
            self.width = max(len(f"{v:.{prec}f}") for v in pyvals)
        self.width = max(self.width, 1)

    def format(self, v) -> str:
        """One value as text, right-aligned to the common width."""
        prec = _PRINT["precision"]
        if not self.is_float:
            s = str(v)
        elif self.sci_mode:
            s = f"{v:{self.width}.{prec}e}"
        elif self.int_mode:
            s = f"{v:.0f}"
            if not (math.isinf(v) or math.isnan(v)):
                s += "."
        else:
            s = f"{v:.{prec}f}"
        return (self.width - len(s)) * " " + s


def _summarized(a: np.ndarray) -> np.ndarray:
    """The elements a summarised repr shows (PyTorch's `get_summarized_data`)."""
    edge = _PRINT["edgeitems"]
    if a.ndim == 0:
        return a
    if a.ndim == 1:
        return np.concatenate((a[:edge], a[-edge:])) if a.shape[0] > 2 * edge else a
    if not edge:
        return np.empty((0,) * a.ndim, dtype=a.dtype)
    rows = list(range(edge)) + list(range(a.shape[0] - edge, a.shape[0])) \
        if a.shape[0] > 2 * edge else range(a.shape[0])
    return np.stack([_summarized(a[i]) for i in rows])


def _vector_str(a: np.ndarray, indent: int, summarize: bool, f: _Formatter) -> str:
    edge = _PRINT["edgeitems"]
    per_line = max(1, math.floor((_PRINT["linewidth"] - indent) / (f.width + 2)))
    if summarize and not edge:
        data = ["..."]
    elif summarize and a.shape[0] > 2 * edge:
        data = [f.format(v) for v in a[:edge].tolist()] + [" ..."] + \
            [f.format(v) for v in a[-edge:].tolist()]
    else:
        data = [f.format(v) for v in a.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _tensor_str(a: np.ndarray, indent: int, summarize: bool, f: _Formatter) -> str:
    if a.ndim == 0:
        return f.format(a.item())
    if a.ndim == 1:
        return _vector_str(a, indent, summarize, f)
    edge = _PRINT["edgeitems"]
    if summarize and a.shape[0] > 2 * edge:
        slices = [_tensor_str(a[i], indent + 1, summarize, f) for i in range(edge)] + ["..."] + \
            [_tensor_str(a[i], indent + 1, summarize, f)
             for i in range(a.shape[0] - edge, a.shape[0])]
    else:
        slices = [_tensor_str(a[i], indent + 1, summarize, f) for i in range(a.shape[0])]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    """Append `, suffix` items, starting a new line when one would pass the line width."""
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > _PRINT["linewidth"]:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def _host_values(t) -> np.ndarray:
    """The tensor's values as a numpy array on the host (half precision widened to float32)."""
    a = t._data
    if type(a) is not np.ndarray:
        a = a.get()
    if a.dtype.name == "bfloat16" or a.dtype == np.float16:
        a = a.astype(np.float32)
    return a


def tensor_str(t) -> str:
    """The bracketed values of `t` alone, without `tensor(` and suffixes."""
    return _values_str(_host_values(t), t.dtype, len("tensor("))


def _values_str(a: np.ndarray, dt: D.dtype, indent: int) -> str:
    if a.size == 0:
        return "[]"
    summarize = a.size > _PRINT["threshold"]
    f = _Formatter((_summarized(a) if summarize else a).reshape(-1), dt.is_floating_point)
    return _tensor_str(a, indent, summarize, f)


def tensor_repr(t, prefix: str = "tensor(") -> str:
    """PyTorch's repr of a tensor (`prefix` lets subclasses print their own name)."""
    a = _host_values(t)
    dt = t.dtype
    indent = len(prefix)
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    if a.size == 0:
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        if dt is not D.get_default_dtype():
            suffixes.append(f"dtype=dyngraph.{dt.name}")
        body = "[]"
    else:
        if not _PRINT["edgeitems"]:
            suffixes.append(f"size={tuple(a.shape)}")
        if dt not in (D.get_default_dtype(), D.int64, D.bool_):
            suffixes.append(f"dtype=dyngraph.{dt.name}")
        body = _values_str(a, dt, indent)
    if t.grad_fn is not None:
        suffixes.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._rg:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
