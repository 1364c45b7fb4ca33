"""OpInfo cases for dyngraph/ops/numeric_extra.py (frexp, nextafter, Bessel i0/i0e/i1/i1e,
igamma/igammac, erfcx, ndtri, xlog1py and the composites mvlgamma, log_ndtr, entr)."""

from __future__ import annotations

import numpy as np
import scipy.special as sps

import dyngraph as dg
from tests.conftest import torch
from tests.opinfo import OpCase, positive, rand

CASES = [
    OpCase("frexp", lambda x: dg.frexp(x).mantissa, [rand(3, 4, low=-50, high=50, seed=600)],
           ref=lambda x: np.frexp(x)[0], torch_fn=lambda x: torch.frexp(x).mantissa),
    OpCase("frexp_exponent", lambda x: dg.frexp(x).exponent, [rand(5, seed=601)],
           ref=lambda x: np.frexp(x)[1], grad=False),
    OpCase("nextafter", dg.nextafter, [rand(2, 3, seed=602), rand(3, seed=603)],
           ref=np.nextafter, torch_fn=torch.nextafter, dtypes=("float64",)),
    OpCase("i0", dg.i0, [rand(2, 3, low=-4, high=4, seed=604)], ref=np.i0,
           torch_fn=torch.i0),
    OpCase("i0e", dg.special.i0e, [rand(7, low=-6, high=6, seed=605)], ref=sps.i0e,
           torch_fn=torch.special.i0e),
    OpCase("i1", dg.special.i1, [rand(7, low=-4, high=4, seed=606)], ref=sps.i1,
           torch_fn=torch.special.i1),
    OpCase("i1e", dg.special.i1e, [rand(7, low=-6, high=6, seed=607)], ref=sps.i1e,
           torch_fn=torch.special.i1e),
    OpCase("igamma", dg.igamma, [positive(2, 3, seed=608), positive(3, seed=609)],
           ref=sps.gammainc, grad=False, torch_fn=torch.igamma, name="forward"),
    OpCase("igamma",
           lambda x: dg.igamma(dg.tensor([0.7, 1.5, 3.0], dtype=x.dtype, device=x.device), x),
           [positive(3, seed=610)], ref=lambda x: sps.gammainc([0.7, 1.5, 3.0], x),
           torch_fn=lambda x: torch.igamma(torch.tensor([0.7, 1.5, 3.0], dtype=x.dtype), x),
           name="grad_x"),
    OpCase("igammac", lambda x: dg.special.gammaincc(dg.tensor([0.7, 1.5, 3.0], dtype=x.dtype,
                                                               device=x.device), x),
           [positive(3, seed=611)], ref=lambda x: sps.gammaincc([0.7, 1.5, 3.0], x),
           torch_fn=lambda x: torch.special.gammaincc(torch.tensor([0.7, 1.5, 3.0],
                                                                   dtype=x.dtype), x)),
    OpCase("erfcx", dg.special.erfcx, [rand(6, low=-3, high=10, seed=612)], ref=sps.erfcx,
           torch_fn=torch.special.erfcx),
    OpCase("ndtri", dg.special.ndtri, [rand(6, low=0.01, high=0.99, seed=613)], ref=sps.ndtri,
           torch_fn=torch.special.ndtri),
    OpCase("xlog1py", dg.special.xlog1py, [rand(2, 3, seed=614), positive(3, seed=615)],
           ref=lambda x, y: x * np.log1p(y), torch_fn=torch.special.xlog1py),
    # ----- composites -----
    OpCase("mvlgamma", lambda x: dg.mvlgamma(x, 3), [positive(2, 3, seed=616) + 1.0],
           ref=np.vectorize(lambda v: sps.multigammaln(v, 3)),
           torch_fn=lambda x: torch.mvlgamma(x, 3), composite=True),
    OpCase("special.log_ndtr", dg.special.log_ndtr, [rand(8, low=-30, high=6, seed=617)],
           ref=sps.log_ndtr, torch_fn=torch.special.log_ndtr, composite=True),
    OpCase("special.entr", dg.special.entr, [positive(2, 4, seed=618)], ref=sps.entr,
           torch_fn=torch.special.entr, composite=True),
]
