"""`dyngraph.special`: PyTorch's torch.special namespace, as thin aliases of dyngraph's ops.

Each function has torch.special's signature; the work is done by the op it names
(`gammaln` is `lgamma`, `psi` is `digamma`, `expit` is `sigmoid`, ...).

Example:
    >>> import dyngraph
    >>> dyngraph.special.gammaln(dyngraph.tensor([4.0]))  # log(3!)
    tensor([1.7918])
"""

from __future__ import annotations

from . import ops as _ops
from .ops import numeric_extra as _nx
from ._tensor import Tensor

__all__ = ["erf", "erfc", "erfinv", "expit", "logit", "xlogy", "gammaln", "digamma", "psi",
           "polygamma", "ndtr", "log1p", "expm1", "exp2", "sinc", "logsumexp", "softmax",
           "log_softmax", "round", "i0", "i0e", "i1", "i1e", "gammainc", "gammaincc",
           "multigammaln", "log_ndtr", "ndtri", "erfcx", "entr", "xlog1py"]


def erf(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The error function, elementwise (as dyngraph.erf)."""
    return _ops.erf(input, out=out)


def erfc(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The complementary error function 1 - erf(input), accurate for large input."""
    return _ops.erfc(input, out=out)


def erfinv(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The inverse error function on [-1, 1] (as dyngraph.erfinv)."""
    return _ops.erfinv(input, out=out)


def expit(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The logistic sigmoid 1 / (1 + exp(-input)) (as dyngraph.sigmoid)."""
    return _ops.sigmoid(input, out=out)


def logit(input: Tensor, eps: float | None = None, *, out: Tensor | None = None) -> Tensor:
    """log(p / (1 - p)), with p clamped to [eps, 1 - eps] when eps is given."""
    return _ops.logit(input, eps, out=out)


def xlogy(input, other, *, out: Tensor | None = None) -> Tensor:
    """input * log(other), 0 where input == 0 unless other is NaN."""
    return _ops.xlogy(input, other, out=out)


def gammaln(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """log |gamma(input)| (as dyngraph.lgamma)."""
    return _ops.lgamma(input, out=out)


def digamma(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The digamma function, the derivative of gammaln."""
    return _ops.digamma(input, out=out)


def psi(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The digamma function (scipy's name)."""
    return _ops.digamma(input, out=out)


def polygamma(n: int, input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The n-th derivative of the digamma function."""
    return _ops.polygamma(n, input, out=out)


def ndtr(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The standard normal CDF."""
    return _ops.ndtr(input, out=out)


def log1p(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """log(1 + input), accurate near 0."""
    return _ops.log1p(input, out=out)


def expm1(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """exp(input) - 1, accurate near 0."""
    return _ops.expm1(input, out=out)


def exp2(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """2 ** input, elementwise."""
    return _ops.exp2(input, out=out)


def sinc(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The normalized sinc sin(pi x) / (pi x), 1 at 0."""
    return _ops.sinc(input, out=out)


def logsumexp(input: Tensor, dim, keepdim: bool = False, *, out: Tensor | None = None) -> Tensor:
    """log(sum(exp(input), dim)), computed stably."""
    return _ops.logsumexp(input, dim, keepdim, out=out)


def softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Softmax along `dim` (input cast to `dtype` first when given)."""
    return _ops.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Log-softmax along `dim` (input cast to `dtype` first when given)."""
    return _ops.log_softmax(input, dim, dtype=dtype)


def round(input: Tensor, *, decimals: int = 0,  # noqa: A001 - PyTorch's name
          out: Tensor | None = None) -> Tensor:
    """Round half to even, elementwise (torch.special.round also takes `decimals`)."""
    return _ops.round(input, decimals=decimals, out=out)


def i0(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The modified Bessel function of the first kind of order 0 (as dyngraph.i0)."""
    return _ops.i0(input, out=out)


def i0e(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The exponentially scaled i0: exp(-|input|) * i0(input)."""
    return _nx.i0e(input, out=out)


def i1(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The modified Bessel function of the first kind of order 1."""
    return _nx.i1(input, out=out)


def i1e(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The exponentially scaled i1: exp(-|input|) * i1(input)."""
    return _nx.i1e(input, out=out)


def gammainc(input, other, *, out: Tensor | None = None) -> Tensor:
    """The regularized lower incomplete gamma function P(input, other) (as dyngraph.igamma)."""
    return _ops.igamma(input, other, out=out)


def gammaincc(input, other, *, out: Tensor | None = None) -> Tensor:
    """The regularized upper incomplete gamma function Q(input, other) (as dyngraph.igammac)."""
    return _ops.igammac(input, other, out=out)


def multigammaln(input: Tensor, p: int, *, out: Tensor | None = None) -> Tensor:
    """The multivariate log-gamma function of dimension p (as dyngraph.mvlgamma)."""
    return _ops.mvlgamma(input, p, out=out)


def log_ndtr(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """log of the standard normal CDF, accurate in both tails."""
    return _nx.log_ndtr(input, out=out)


def ndtri(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The inverse of the standard normal CDF."""
    return _nx.ndtri(input, out=out)


def erfcx(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The scaled complementary error function exp(input**2) * erfc(input)."""
    return _nx.erfcx(input, out=out)


def entr(input: Tensor, *, out: Tensor | None = None) -> Tensor:
    """The entropy term -input * log(input) (0 at 0, -inf below)."""
    return _nx.entr(input, out=out)


def xlog1py(input, other, *, out: Tensor | None = None) -> Tensor:
    """input * log1p(other), 0 where input == 0 unless other is NaN."""
    return _nx.xlog1py(input, other, out=out)
