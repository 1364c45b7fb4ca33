"""PyTorch's tensor repr: `tensor([[0.1000, 0.2000]], requires_grad=True)`."""

from __future__ import annotations

import numpy as np

from . import _dtype as D

_PRINT = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None,
                     profile=None, sci_mode=None) -> None:
    """Set how tensors print (same options as PyTorch's)."""
    if profile == "default":
        _PRINT.update(precision=4, threshold=1000, edgeitems=3, linewidth=80)
    elif profile == "short":
        _PRINT.update(precision=2, threshold=1000, edgeitems=2, linewidth=80)
    elif profile == "full":
        _PRINT.update(precision=4, threshold=float("inf"), edgeitems=3, linewidth=80)
    for k, v in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                 ("linewidth", linewidth)):
        if v is not None:
            _PRINT[k] = v
    _PRINT["sci_mode"] = sci_mode


class _Formatter:
    """Chooses integer, fixed or scientific notation from the values, as PyTorch does."""

    def __init__(self, values: np.ndarray, is_float: bool):
        self.is_float = is_float
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        prec = _PRINT["precision"]
        if values.size == 0:
            return
        if not is_float:
            self.width = max(len(str(v)) for v in values.tolist())
            return
        finite = values[np.isfinite(values)]
        strs_nonfinite = [self._nonfinite(v) for v in values[~np.isfinite(values)].tolist()]
        if finite.size == 0:
            self.width = max(len(s) for s in strs_nonfinite)
            return
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        nz = np.abs(finite[finite != 0])
        if self.int_mode:
            if nz.size and nz.max() > 1e8:
                self.sci_mode = True
        elif nz.size:
            mx, mn = float(nz.max()), float(nz.min())
            if mx / mn > 1000.0 or mx > 1e8 or mn < 1e-4:
                self.sci_mode = True
        if _PRINT["sci_mode"] is not None:
            self.sci_mode = _PRINT["sci_mode"]
        if self.sci_mode:
            strs = [f"{v:.{prec}e}" for v in finite.tolist()]
        elif self.int_mode:
            strs = [f"{v:.0f}." for v in finite.tolist()]
        else:
            strs = [f"{v:.{prec}f}" for v in finite.tolist()]
        self.width = max(len(s) for s in strs + strs_nonfinite)

    @staticmethod
    def _nonfinite(v) -> str:
        return "nan" if v != v else ("inf" if v > 0 else "-inf")

    def format(self, v) -> str:
        prec = _PRINT["precision"]
        if not self.is_float:
            s = str(v)
        elif not np.isfinite(v):
            s = self._nonfinite(v)
        elif self.sci_mode:
            s = f"{v:.{prec}e}"
        elif self.int_mode:
            s = f"{v:.0f}."
        else:
            s = f"{v:.{prec}f}"
        return s.rjust(self.width)


def _summarize(a: np.ndarray, edge: int) -> np.ndarray:
    """The elements that will be shown (for the formatter's width)."""
    if a.ndim == 0:
        return a.reshape(1)
    if a.shape[0] > 2 * edge:
        parts = [a[:edge], a[-edge:]]
    else:
        parts = [a]
    return np.concatenate([_summarize(p_i, edge) for p in parts for p_i in p] or [np.zeros(0)])


def _fmt(a: np.ndarray, f: _Formatter, indent: int, summarize: bool) -> str:
    edge = _PRINT["edgeitems"]
    if a.ndim == 0:
        return f.format(a.item())
    if a.ndim == 1:
        if summarize and a.shape[0] > 2 * edge:
            items = [f.format(v) for v in a[:edge].tolist()] + ["..."] + \
                [f.format(v) for v in a[-edge:].tolist()]
        else:
            items = [f.format(v) for v in a.tolist()]
        per_line = max(1, (_PRINT["linewidth"] - indent) // (f.width + 2))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    if summarize and a.shape[0] > 2 * edge:
        rows = [_fmt(r, f, indent + 1, summarize) for r in a[:edge]] + ["..."] + \
            [_fmt(r, f, indent + 1, summarize) for r in a[-edge:]]
    else:
        rows = [_fmt(r, f, indent + 1, summarize) for r in a]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(rows) + "]"


def tensor_repr(t, prefix: str = "tensor(") -> str:
    a = t._data
    if type(a) is not np.ndarray:
        a = a.get()
    dt = t.dtype
    if dt is D.bfloat16 or dt is D.float16:
        vals = a.astype(np.float32)
    else:
        vals = a
    summarize = a.size > _PRINT["threshold"]
    shown = _summarize(vals, _PRINT["edgeitems"]) if summarize else vals.reshape(-1)
    is_float = dt.is_floating_point
    if dt is D.bool_:
        f = _Formatter(np.array([], dtype=object), False)
        f.width = 5 if shown.size and not shown.all() else 4
        body = _fmt(vals.astype(object), f, len(prefix), summarize) if vals.size else "[]"
    else:
        f = _Formatter(shown, is_float)
        body = _fmt(vals, f, len(prefix), summarize) if vals.size else "[]"
    suffix = []
    if t.device.type != "cpu":
        suffix.append(f"device='{t.device}'")
    if vals.size == 0 and vals.ndim != 1:
        suffix.append(f"size={tuple(vals.shape)}")
    default_dtypes = (D.get_default_dtype(), D.int64, D.bool_)
    if dt not in default_dtypes or (vals.size == 0 and dt is not D.get_default_dtype()):
        suffix.append(f"dtype=dyngraph.{dt.name}")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t._rg:
        suffix.append("requires_grad=True")
    s = prefix + body
    if suffix:
        s += ", " + ", ".join(suffix)
    return s + ")"
