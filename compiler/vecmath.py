"""Vectorisable float32 math as LLVM IR: exp, log, tanh, sigmoid, erf and their friends.

LLVM lowers its `llvm.exp`/`llvm.log` intrinsics to scalar libm calls, which stops the loop
vectoriser; a fused kernel with one `exp` then runs at a tenth of memory speed. Each function here
is branch-free straight-line code (selects, `llvm.fma`, `llvm.rint`, integer bit tricks) defined as
an `alwaysinline` internal function, so after inlining the vectoriser widens it to 16 lanes.

Accuracy (float32, tested against numpy float64 over the whole range incl. inf/nan/denormals in
tests/llvm/test_vecmath.py): exp, exp2, log, log2, log10, tanh, sigmoid and erf within 3 ulp;
expm1 and log1p use the identities expm1(x) = exp(x) - 1 with a polynomial near 0 and
log1p(x) = log(u) * x / (u - 1) with u = 1 + x.
Algorithms: Cody-Waite range reduction plus minimax polynomials (Cephes' coefficients for
log/tanh; exp's degree-4 P was fitted for this file by iteratively reweighted least squares on
the relative error); erf uses x * P(x^2) on |x| < 1 and 1 - exp(-x^2) * Q(1/x) above, with x^2
split exactly by an FMA; both polynomials were fitted for this file (Chebyshev, then monomial).
exp's n = rint(x log2 e) is the integer in the low bits of x log2 e + 1.5 * 2^23 (no rounding
instruction, no float-to-int conversion, and a NaN flows through without a select); sigmoid,
tanh and erf use `_exp_nonpos`, an exp for arguments <= 0 with one scaling. Counting
instructions and the length of the dependency chain both matter here: the fused
gelu_tanh(x*w+b)*sigmoid(x) kernel is compute-bound on AVX2 (2.95 -> 1.68 ns per element on one
core over session 3's changes), and the out-of-order window holds only a few of its ~90-cycle
chains (exp's polynomial in Estrin's form: ~10% faster than Horner's, with more instructions).
"""

from __future__ import annotations

import math
import struct

__all__ = ["Fn", "fconst", "definitions", "FUNCTIONS"]


def fconst(v: float, ty: str = "float") -> str:
    """An LLVM float literal: `float` constants are written as the double of their f32 value."""
    if ty == "float":
        v = struct.unpack("f", struct.pack("f", v))[0]
    return "0x%016X" % struct.unpack("<Q", struct.pack("<d", v))[0]


class Fn:
    """A straight-line LLVM IR function body: each call appends `%vN = <text>` and returns %vN."""

    def __init__(self, prefix: str = "v"):
        self.lines: list[str] = []
        self.n = 0
        self.prefix = prefix

    def __call__(self, text: str) -> str:
        name = f"%{self.prefix}{self.n}"
        self.n += 1
        self.lines.append(f"  {name} = {text}")
        return name

    # float32 helpers -----------------------------------------------------------------------
    def fma(self, a, b, c, ty="float"):
        sfx = "f32" if ty == "float" else "f64"
        return self(f"call {ty} @llvm.fma.{sfx}({ty} {a}, {ty} {b}, {ty} {c})")

    def poly(self, x, coeffs, ty="float"):
        """Horner's rule with FMAs; coeffs from the highest degree down."""
        acc = fconst(coeffs[0], ty)
        for c in coeffs[1:]:
            acc = self.fma(acc, x, fconst(c, ty), ty)
        return acc

    def sel(self, cond, a, b, ty="float"):
        return self(f"select i1 {cond}, {ty} {a}, {ty} {b}")

    def isnan(self, x, ty="float"):
        return self(f"fcmp uno {ty} {x}, {x}")


_LOG2E = 1.44269504088896341
_MAGIC = 12582912.0                       # 1.5 * 2^23: x + _MAGIC rounds x to an integer
_MAGIC_BITS = struct.unpack("<i", struct.pack("<f", _MAGIC))[0]
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4
# e^r = 1 + r + r^2 P(r) on |r| <= ln2/2: P of degree 4, a minimax fit made for this file
# (relative error 3.8e-9 with these float32 coefficients; Cephes' degree-5 P is 30x closer than
# float32 needs, for one more FMA per exp)
_EXP_POLY = [1.3814595e-3, 8.3687166e-3, 4.1668389e-2, 1.6666521e-1, 4.9999994e-1]
_LOG_POLY = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1,
             1.4249322787e-1, -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1,
             3.3333331174e-1]
_TANH_POLY = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1,
              -3.33332819422e-1]
_ERF_SMALL = [7.878984624725647e-05, -0.0008014560760047701, 0.005188381508350467,
              -0.026853538420324122, 0.11283567997980484, -0.37612622536794216,
              1.128379164205655]
_ERFCX_LARGE = [-0.018029917379784016, 0.12172544487472235, -0.3565343968851132,
                0.5784000047164005, -0.507548830470975, 0.05157875728429821,
                0.5576347997098213, 0.00035778597137964274]


def _exp_reduced(f: Fn, xc: str, one_early: bool = False) -> tuple[str, str]:
    """(p, bits) for a clamped x: n = rint(x log2 e) is the integer in the low bits of
    x log2 e + 1.5 * 2^23 (`bits`, that float's bits, are n + _MAGIC_BITS), and p = e^r for
    r = x - n ln2 (Cody-Waite: ln 2 in two parts) by a polynomial: exp(x) = p * 2^n.

    p = 1 + r + r^2 P(r) with P of degree 4 (`_EXP_POLY`; Cephes' degree 5 until session 7:
    the gelu chain kernel 2-4% faster, exp and sigmoid within the same ulp) in Estrin's form
    (two independent FMAs, then two with r^2), not Horner's: a dependency chain several cycles
    shorter, which matters because the fused kernels that call this are bound by latency (an
    out-of-order window full of one long chain), not by the FMA units. `one_early` adds the
    1 to r beside the polynomial (3 cycles off the chain, a rounding more: <= 2.4 ulp in
    sigmoid instead of 2.1; exp keeps the late form for its 2-ulp bound)."""
    shifted = f.fma(xc, fconst(_LOG2E), fconst(_MAGIC))
    n = f(f"fsub float {shifted}, {fconst(_MAGIC)}")
    r = f.fma(n, fconst(-_LN2_HI), xc)
    r = f.fma(n, fconst(-_LN2_LO), r)
    c = [fconst(v) for v in _EXP_POLY]         # r^4 .. r^0 coefficients of P
    r2 = f(f"fmul float {r}, {r}")
    lo = f.fma(r, c[3], c[4])
    mid = f.fma(r, c[1], c[2])
    p = f.fma(f.fma(c[0], r2, mid), r2, lo)
    if one_early:
        p = f.fma(p, r2, f(f"fadd float {r}, {fconst(1.0)}"))
    else:
        p = f(f"fadd float {f.fma(p, r2, r)}, {fconst(1.0)}")
    return p, f(f"bitcast float {shifted} to i32")


def _expf(f: Fn, x: str) -> str:
    """exp(x) over the whole range: x clamped to [-104, 89] (`olt`/`ogt` selects keep a NaN),
    n = rint(x log2 e) by the 1.5 * 2^23 addition (see _exp_nonpos: a NaN flows through as NaN
    with no float-to-int conversion), p(r) for r = x - n ln2, then two scalings by 2^(n/2) that
    keep each factor normal, so an overflow is inf and a denormal result is rounded once."""
    lo = f(f"fcmp olt float {x}, {fconst(-104.0)}")
    xc = f.sel(lo, fconst(-104.0), x)
    hi = f(f"fcmp ogt float {xc}, {fconst(89.0)}")
    xc = f.sel(hi, fconst(89.0), xc)
    p, bits = _exp_reduced(f, xc)
    return _scale2(f, p, f(f"sub i32 {bits}, {_MAGIC_BITS}"))


def _scale2(f: Fn, p: str, ni: str) -> str:
    """p * 2^ni (ni an i32 in [-151, 129]) as two scalings by 2^(ni/2): each factor is normal,
    so an overflow is inf and a denormal result is rounded once."""
    n1 = f(f"ashr i32 {ni}, 1")
    n2 = f(f"sub i32 {ni}, {n1}")
    out = p
    for k in (n1, n2):
        e = f(f"shl i32 {f(f'add i32 {k}, 127')}, 23")
        out = f(f"fmul float {out}, {f(f'bitcast i32 {e} to float')}")
    return out


def _exp2f(f: Fn, x: str) -> str:
    # 2^x = 2^n * e^(r ln2) with n = rint(x): exact reduction, then the exp polynomial.
    nan = f.isnan(x)
    lo = f(f"fcmp olt float {x}, {fconst(-151.0)}")
    xc = f.sel(lo, fconst(-151.0), x)
    hi = f(f"fcmp ogt float {xc}, {fconst(129.0)}")
    xc = f.sel(hi, fconst(129.0), xc)
    xc = f.sel(nan, fconst(0.0), xc)
    n = f(f"call float @llvm.rint.f32(float {xc})")
    r = f(f"fsub float {xc}, {n}")
    # e^(r ln2) with r in [-0.5, 0.5]: the exp polynomial on y = r * ln2, split in two.
    y = f(f"fmul float {r}, {fconst(0.693147180559945)}")
    err = f.fma(r, fconst(0.693147180559945), f(f"fneg float {y}"))
    err = f.fma(r, fconst(-1.9046542999577e-09), err)   # ln2 - float(ln2)
    p = f.poly(y, _EXP_POLY)
    y2 = f(f"fmul float {y}, {y}")
    p = f.fma(p, y2, y)
    p = f(f"fadd float {p}, {err}")
    p = f(f"fadd float {p}, {fconst(1.0)}")
    return f.sel(nan, x, _scale2(f, p, f(f"fptosi float {n} to i32")))


def _logf(f: Fn, x: str, scale: float | None = None) -> str:
    """log(x) (times `scale`, for log2/log10, folded into the final sum)."""
    tiny = f(f"fcmp olt float {x}, {fconst(1.1754943508222875e-38)}")
    xs = f(f"fmul float {x}, {fconst(8388608.0)}")        # denormals: scale by 2^23 first
    xs = f.sel(tiny, xs, x)
    adj = f(f"select i1 {tiny}, i32 -23, i32 0")
    bits = f(f"bitcast float {xs} to i32")
    e = f(f"lshr i32 {bits}, 23")
    e = f(f"sub i32 {e}, 127")
    e = f(f"add i32 {e}, {adj}")
    mb = f(f"and i32 {bits}, 8388607")
    mb = f(f"or i32 {mb}, 1065353216")
    m = f(f"bitcast i32 {mb} to float")
    big = f(f"fcmp ogt float {m}, {fconst(1.41421356237)}")
    mh = f(f"fmul float {m}, {fconst(0.5)}")
    m = f.sel(big, mh, m)
    e1 = f(f"add i32 {e}, 1")
    e = f(f"select i1 {big}, i32 {e1}, i32 {e}")
    ef = f(f"sitofp i32 {e} to float")
    xm = f(f"fsub float {m}, {fconst(1.0)}")
    z = f(f"fmul float {xm}, {xm}")
    y = f.poly(xm, _LOG_POLY)
    y = f(f"fmul float {y}, {xm}")
    y = f(f"fmul float {y}, {z}")
    if scale is None:
        y = f.fma(ef, fconst(_LN2_LO), y)
        y = f.fma(z, fconst(-0.5), y)
        r = f(f"fadd float {xm}, {y}")
        r = f.fma(ef, fconst(_LN2_HI), r)
    else:   # log_b(x) = log(m) * scale + e * log_b(2)
        y = f.fma(z, fconst(-0.5), y)
        s = f(f"fadd float {xm}, {y}")
        r = f.fma(s, fconst(scale), f(f"fmul float {ef}, {fconst(0.693147180559945 * scale)}"))
    # specials: x < 0 or nan -> nan, 0 -> -inf, +inf -> +inf
    r = f.sel(f(f"fcmp oeq float {x}, {fconst(float('inf'))}"), fconst(float("inf")), r)
    r = f.sel(f(f"fcmp oeq float {x}, {fconst(0.0)}"), fconst(float("-inf")), r)
    r = f.sel(f(f"fcmp ult float {x}, {fconst(0.0)}"), fconst(float("nan")), r)
    return r


def _exp_nonpos(f: Fn, m: str, lo: float | str = -104.0) -> str:
    """exp(max(m, lo)) for m <= 0, the cheap form sigmoid, tanh and erf use: no overflow side to
    clamp, and one variable scaling. Above lo = -87 the result is normal and the scale is 2^n;
    below, the scale is 2^(n+64) (normal for every n in [-150, 0]) times 2^-64: 2^n exactly, a
    subnormal power of two for n < -126 (0 for n = -150, where the result is under 0.71 *
    2^-149: one subnormal ulp off at most), formed beside the polynomial, so p is multiplied
    and a subnormal result rounded once. Callers that do not need tiny results pass a higher
    `lo`: denormal arithmetic costs a microcode assist per element (a computed `lo`, an SSA
    value, takes the denormal-safe scaling). n = rint(m log2 e) comes from adding 1.5 * 2^23
    (its integer is then the float's low bits: no float-to-int conversion), so a NaN m flows
    through as NaN, with no poison value on the way, and callers need no NaN select of their
    own."""
    lo_v = lo if isinstance(lo, str) else fconst(lo)
    small = f(f"fcmp olt float {m}, {lo_v}")            # false for NaN: m stays NaN
    mc = f.sel(small, lo_v, m)
    p, bits = _exp_reduced(f, mc, one_early=True)
    bias = 127 if not isinstance(lo, str) and lo >= -87.0 else 191
    e = f(f"shl i32 {f(f'add i32 {bits}, {bias - _MAGIC_BITS}')}, 23")
    scale = f(f"bitcast i32 {e} to float")
    if bias != 127:     # 2^(n+64) * 2^-64 = 2^n exactly, a subnormal power of two below -126
        scale = f(f"fmul float {scale}, {fconst(2.0 ** -64)}")
    return f(f"fmul float {p}, {scale}")     # one rounding, off the polynomial's chain


def _tanhf(f: Fn, x: str) -> str:
    # |x| < 0.625: x + x^3 P(x^2) (Cephes); above: (1 - e) / (1 + e) with e = exp(-2|x|) <= 0.29,
    # so 1 - e loses nothing; e below 2^-57 (|x| > 20) rounds the quotient to 1 all the same, so
    # the exponent stops at -40 (no denormals). A NaN takes the polynomial side (`ult`).
    ax = f(f"call float @llvm.fabs.f32(float {x})")
    z = f(f"fmul float {x}, {x}")
    p = f.poly(z, _TANH_POLY)
    p = f(f"fmul float {p}, {z}")
    small = f.fma(p, x, x)
    e = _exp_nonpos(f, f(f"fmul float {ax}, {fconst(-2.0)}"), -40.0)
    num = f(f"fsub float {fconst(1.0)}, {e}")
    den = f(f"fadd float {e}, {fconst(1.0)}")
    t = f(f"fdiv float {num}, {den}")
    big = f(f"call float @llvm.copysign.f32(float {t}, float {x})")
    is_small = f(f"fcmp ult float {ax}, {fconst(0.625)}")
    return f.sel(is_small, small, big)


def _sigmoidf(f: Fn, x: str) -> str:
    # e = exp(-|x|) in (0, 1]: 1 / (1 + e) for x >= 0, e / (1 + e) below (no cancellation, no
    # overflow); one division either way. For x >= 0 an e below 2^-57 leaves 1 / (1 + e) = 1, so
    # the exponent stops at -40 there (no denormal arithmetic for large positive x).
    ax = f(f"call float @llvm.fabs.f32(float {x})")
    pos = f(f"fcmp oge float {x}, {fconst(0.0)}")
    e = _exp_nonpos(f, f(f"fneg float {ax}"), f.sel(pos, fconst(-40.0), fconst(-104.0)))
    num = f.sel(pos, fconst(1.0), e)
    return f(f"fdiv float {num}, {f(f'fadd float {e}, {fconst(1.0)}')}")     # NaN: e is NaN


def _erff(f: Fn, x: str) -> str:
    ax = f(f"call float @llvm.fabs.f32(float {x})")
    t = f(f"fmul float {x}, {x}")
    small = f(f"fmul float {x}, {f.poly(t, _ERF_SMALL)}")
    xc = f(f"call float @llvm.minnum.f32(float {ax}, float {fconst(4.0)})")
    xc = f(f"call float @llvm.maxnum.f32(float {xc}, float {fconst(1.0)})")
    u = f(f"fdiv float {fconst(1.0)}, {xc}")
    q = f.poly(u, _ERFCX_LARGE)
    hi = f(f"fmul float {xc}, {xc}")
    lo = f.fma(xc, xc, f(f"fneg float {hi}"))
    e = _exp_nonpos(f, f(f"fneg float {hi}"), -16.0)
    e = f(f"fmul float {e}, {f(f'fsub float {fconst(1.0)}, {lo}')}")
    big = f(f"fsub float {fconst(1.0)}, {f(f'fmul float {e}, {q}')}")
    big = f(f"call float @llvm.copysign.f32(float {big}, float {x})")
    is_small = f(f"fcmp olt float {ax}, {fconst(1.0)}")
    r = f.sel(is_small, small, big)
    return f.sel(f.isnan(x), x, r)


def _expm1f(f: Fn, x: str) -> str:
    # Near 0 (|x| < 1) the Taylor series to x^12 is exact to float32; elsewhere exp(x) - 1
    # loses at most a bit to the subtraction.
    e = _expf(f, x)
    big = f(f"fsub float {e}, {fconst(1.0)}")
    coeffs = [1 / math.factorial(k) for k in range(12, 1, -1)]
    p = f.poly(x, coeffs)
    x2 = f(f"fmul float {x}, {x}")
    small = f.fma(p, x2, x)
    ax = f(f"call float @llvm.fabs.f32(float {x})")
    return f.sel(f(f"fcmp olt float {ax}, {fconst(1.0)}"), small, big)


def _log1pf(f: Fn, x: str) -> str:
    # log1p(x) = log(u) * x / (u - 1) with u = 1 + x: the division undoes u's rounding error.
    u = f(f"fadd float {x}, {fconst(1.0)}")
    lu = _logf(f, u)
    d = f(f"fsub float {u}, {fconst(1.0)}")
    corr = f(f"fdiv float {x}, {d}")
    r = f(f"fmul float {lu}, {corr}")
    exact = f(f"fcmp oeq float {d}, {fconst(0.0)}")        # u == 1: log1p(x) = x
    r = f.sel(exact, x, r)
    inf = f(f"fcmp oeq float {x}, {fconst(float('inf'))}")
    return f.sel(inf, x, r)


_BODIES = {
    "exp": _expf,
    "exp2": _exp2f,
    "expm1": _expm1f,
    "log": _logf,
    "log2": lambda f, x: _logf(f, x, 1.4426950408889634),
    "log10": lambda f, x: _logf(f, x, 0.4342944819032518),
    "log1p": _log1pf,
    "tanh": _tanhf,
    "sigmoid": _sigmoidf,
    "erf": _erff,
}

# op name -> the float32 function's symbol
FUNCTIONS = {name: f"dg_{name}f" for name in _BODIES}


def definitions(names) -> str:
    """LLVM IR definitions of the float32 functions for `names` (op names from FUNCTIONS)."""
    out = []
    for name in sorted(set(names)):
        f = Fn()
        r = _BODIES[name](f, "%x")
        out.append(f"define internal float @{FUNCTIONS[name]}(float %x) alwaysinline {{\n"
                   + "\n".join(f.lines) + f"\n  ret float {r}\n}}\n")
    return "\n".join(out)


INTRINSICS = """declare float @llvm.fma.f32(float, float, float)
declare float @llvm.rint.f32(float)
declare float @llvm.fabs.f32(float)
declare float @llvm.copysign.f32(float, float)
declare float @llvm.minnum.f32(float, float)
declare float @llvm.maxnum.f32(float, float)
"""
