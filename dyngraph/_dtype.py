"""dtypes with PyTorch's names and type-promotion rules.

A `dtype` wraps a numpy dtype. bfloat16 comes from ml_dtypes, imported only when first used so
that `import dyngraph` stays fast.
"""

from __future__ import annotations

import builtins

import numpy as np

__all__ = ["dtype", "promote_types", "result_type", "get_default_dtype", "set_default_dtype"]

# Promotion categories, lowest first: bool < integer < floating.
_BOOL, _INT, _FLOAT = 0, 1, 2


class dtype:
    """A tensor element type (`dyngraph.float32`, `dyngraph.long`, ...)."""

    __slots__ = ("name", "_np", "itemsize", "is_floating_point", "is_signed", "_category", "_rank")

    def __init__(self, name: str, np_dtype, itemsize: int, category: int, rank: int,
                 is_signed: bool):
        self.name = name
        self._np = np_dtype            # numpy dtype, or None until resolved (bfloat16)
        self.itemsize = itemsize
        self.is_floating_point = category == _FLOAT
        self.is_signed = is_signed
        self._category = category
        self._rank = rank              # order inside the category, for promotion

    @property
    def np(self) -> np.dtype:
        """The numpy dtype that stores this dtype."""
        if self._np is None:  # bfloat16: import ml_dtypes on first use
            import ml_dtypes

            self._np = np.dtype(ml_dtypes.bfloat16)
            _FROM_NP[self._np] = self
        return self._np

    @property
    def is_complex(self) -> bool:
        """Always False: dyngraph has no complex dtypes."""
        return False

    def to_real(self) -> "dtype":
        """The real dtype of this one (itself, as there are no complex dtypes)."""
        return self

    def __repr__(self) -> str:
        return f"dyngraph.{self.name}"

    def __reduce__(self):
        return (_dtype_by_name, (self.name,))


def _dtype_by_name(name: str) -> dtype:
    return _BY_NAME[name]


bool_ = dtype("bool", np.dtype(np.bool_), 1, _BOOL, 0, False)
uint8 = dtype("uint8", np.dtype(np.uint8), 1, _INT, 1, False)
int8 = dtype("int8", np.dtype(np.int8), 1, _INT, 1, True)
int16 = dtype("int16", np.dtype(np.int16), 2, _INT, 2, True)
int32 = dtype("int32", np.dtype(np.int32), 4, _INT, 3, True)
int64 = dtype("int64", np.dtype(np.int64), 8, _INT, 4, True)
float16 = dtype("float16", np.dtype(np.float16), 2, _FLOAT, 1, True)
bfloat16 = dtype("bfloat16", None, 2, _FLOAT, 1, True)
float32 = dtype("float32", np.dtype(np.float32), 4, _FLOAT, 2, True)
float64 = dtype("float64", np.dtype(np.float64), 8, _FLOAT, 3, True)

ALL_DTYPES = (bool_, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_FROM_NP = {d._np: d for d in ALL_DTYPES if d._np is not None}

_default_float = float32


def get_default_dtype() -> dtype:
    """The dtype of float tensors made from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype (float32 or float64, as PyTorch allows)."""
    global _default_float
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point dtypes are allowed, got {d}")
    _default_float = d
    # The dispatcher memoises promotion results, and scalar promotion depends on this default.
    from . import _dispatch
    _dispatch._PROMOTE_CACHE.clear()


def from_numpy_dtype(npd) -> dtype:
    """Map a numpy dtype to a dyngraph dtype, with a clear error for unsupported ones."""
    npd = np.dtype(npd)
    d = _FROM_NP.get(npd)
    if d is not None:
        return d
    if npd.name == "bfloat16":
        bfloat16.np  # noqa: B018 - registers the mapping
        return bfloat16
    if npd.kind == "u" or npd.kind == "i":
        raise TypeError(f"unsupported dtype {npd}: dyngraph supports uint8 and int8/16/32/64")
    raise TypeError(
        f"unsupported dtype {npd}: dyngraph supports bool, uint8, int8/16/32/64, float16, "
        "bfloat16, float32 and float64")


def to_dtype(d) -> dtype:
    """Accept a dyngraph dtype, a numpy dtype, a Python type or a dtype name."""
    if isinstance(d, dtype):
        return d
    if d is builtins.float:
        return _default_float
    if d is builtins.int:
        return int64
    if d is builtins.bool:
        return bool_
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    try:
        return from_numpy_dtype(d)
    except TypeError:
        raise
    except Exception:
        raise TypeError(f"cannot interpret {d!r} as a dyngraph dtype") from None


_PROMOTE_CACHE: dict[tuple[dtype, dtype], dtype] = {}


def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's `promote_types`: the smallest dtype both `a` and `b` convert to safely."""
    key = (a, b)
    r = _PROMOTE_CACHE.get(key)
    if r is not None:
        return r
    if a is b:
        r = a
    elif a._category != b._category:
        r = a if a._category > b._category else b
    elif a._category == _FLOAT:
        if {a, b} == {float16, bfloat16}:
            r = float32
        else:
            r = a if a._rank > b._rank else b
    elif a._category == _INT:
        if a is uint8 or b is uint8:
            other = b if a is uint8 else a
            r = int16 if other is int8 else other
        else:
            r = a if a._rank > b._rank else b
    else:
        r = a
    _PROMOTE_CACHE[key] = r
    return r


def scalar_category(x) -> int:
    """The promotion category of a Python scalar: bool < int < float."""
    if isinstance(x, builtins.bool):
        return _BOOL
    if isinstance(x, builtins.int):
        return _INT
    return _FLOAT


def result_type(*operands) -> dtype:
    """PyTorch's type promotion over tensors (by dtype) and Python scalars (by kind only).

    Tensors of any shape take part by dtype (PyTorch also ranks 0-d tensors below dimensioned
    ones; we follow that rule). A Python scalar raises the category (bool < int < float) but never
    the width: `int8_tensor + 1000` stays int8, `int_tensor * 2.5` is the default float dtype.
    """
    dim_dt = None     # promoted dtype of tensors with ndim > 0
    zero_dt = None    # promoted dtype of 0-d tensors
    scalar_cat = -1
    for x in operands:
        d = getattr(x, "dtype", None)
        if isinstance(d, dtype):
            if x.ndim:
                dim_dt = d if dim_dt is None else promote_types(dim_dt, d)
            else:
                zero_dt = d if zero_dt is None else promote_types(zero_dt, d)
        elif x is not None:
            c = scalar_category(x)
            if c > scalar_cat:
                scalar_cat = c
    out = dim_dt
    if zero_dt is not None:
        if out is None:
            out = zero_dt
        elif zero_dt._category > out._category:
            out = zero_dt
    if out is None:
        return {_BOOL: bool_, _INT: int64, _FLOAT: _default_float}[scalar_cat]
    if scalar_cat > out._category:
        out = int64 if scalar_cat == _INT else _default_float
    return out
