"""Single-step recurrent cells (RNNCell, LSTMCell, GRUCell) and the step arithmetic shared with
the multi-layer layers in `rnn.py`.

Steps in float32/float64 run as one `rnn_layer` / `lstm_layer` / `gru_layer` op
(dyngraph/ops/rnn_ops.py: all gates of a step in one eager rule, one autograd node); other
dtypes and LSTM projections (proj_size) compose the step from elementwise dyngraph ops
(`_rnn_step`, `_lstm_step`, `_gru_step`). Both give PyTorch's equations, gate orders and results.
"""

from __future__ import annotations

import math

from ... import _dtype
from ... import ops as _ops
from ..._dispatch import apply
from ..._tensor import Tensor
from ...ops.rnn_ops import gru_layer_op, lstm_layer_op, rnn_layer_op
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _reset_parameters(self) -> None:
    """Draw every weight and bias from uniform(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
    stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
    for weight in self.parameters():
        init.uniform_(weight, -stdv, stdv)


# ----------------------------------------------------------------------------------------------
# One time step of each cell, composed of dyngraph ops (used where the fused ops do not apply).
# `gi` is the input contribution x @ W_ih^T + b_ih, already computed.
# ----------------------------------------------------------------------------------------------

def _rnn_step(gi, h, w_hh, b_hh, relu: bool):
    pre = gi + F.linear(h, w_hh, b_hh)
    return pre.relu() if relu else pre.tanh()


def _lstm_step(gi, h, c, w_hh, b_hh, w_hr=None):
    gates = gi + F.linear(h, w_hh, b_hh)
    H = c.shape[-1]
    i = gates[..., :H].sigmoid()
    f = gates[..., H:2 * H].sigmoid()
    g = gates[..., 2 * H:3 * H].tanh()
    o = gates[..., 3 * H:].sigmoid()
    c = f * c + i * g
    h = o * c.tanh()
    if w_hr is not None:
        h = F.linear(h, w_hr)
    return h, c


def _gru_step(gi, h, w_hh, b_hh):
    gh = F.linear(h, w_hh, b_hh)
    H = h.shape[-1]
    r = (gi[..., :H] + gh[..., :H]).sigmoid()
    z = (gi[..., H:2 * H] + gh[..., H:2 * H]).sigmoid()
    n = (gi[..., 2 * H:] + r * gh[..., 2 * H:]).tanh()
    return n + z * (h - n)  # (1 - z) * n + z * h


# ----------------------------------------------------------------------------------------------
# Fused LSTM / GRU over a whole sequence (one op per layer and direction)
# ----------------------------------------------------------------------------------------------

def _fusable(x: Tensor) -> bool:
    """Whether the fused ops serve this input (they compute in float32 or float64)."""
    return x.dtype in (_dtype.float32, _dtype.float64)


def _input_projection(x: Tensor, w_ih: Tensor, bias) -> Tensor:
    """x @ w_ih^T + bias for every step at once, as one 2-D matmul: F.linear on (L, N, H_in)
    runs L batched products forwards and sums L weight gradients backwards."""
    if x.ndim == 2:
        return F.linear(x, w_ih, bias)
    L, N = x.shape[0], x.shape[1]
    return F.linear(x.reshape(L * N, x.shape[2]), w_ih, bias).reshape(L, N, w_ih.shape[0])


def _lstm_workspace(x: Tensor, h0: Tensor, c0: Tensor, w_ih, w_hh, b_ih, b_hh, *,
                    reverse: bool = False, batch_sizes=None) -> Tensor:
    """Slabs h, c, i, f, g, o of every step of one LSTM direction over x ((L, N, H_in) padded,
    or packed data (T, H_in) with `batch_sizes`): one input-projection matmul, one lstm_layer
    op. The result is (6, L, N, H) (or (6, T, H))."""
    bias = b_ih + b_hh if b_ih is not None else None
    gi = _input_projection(x, w_ih, bias)
    return apply(lstm_layer_op, gi, h0, c0, w_hh, reverse=reverse, batch_sizes=batch_sizes)


def _rnn_outputs(x: Tensor, h0: Tensor, w_ih, w_hh, b_ih, b_hh, *, relu: bool,
                 reverse: bool = False, batch_sizes=None) -> Tensor:
    """h of every step of one Elman RNN direction (shaped like x with H features)."""
    bias = b_ih + b_hh if b_ih is not None else None
    gi = _input_projection(x, w_ih, bias)
    return apply(rnn_layer_op, gi, h0, w_hh, nonlinearity="relu" if relu else "tanh",
                 reverse=reverse, batch_sizes=batch_sizes)


def _gru_workspace(x: Tensor, h0: Tensor, w_ih, w_hh, b_ih, b_hh, *, reverse: bool = False,
                   batch_sizes=None) -> Tensor:
    """Slabs h, r, z, n, W_hn h + b_hn of every step of one GRU direction (5, ...), as
    `_lstm_workspace`."""
    gi = _input_projection(x, w_ih, b_ih)
    if b_hh is None:
        b_hh = _ops.zeros(w_hh.shape[0], dtype=gi.dtype, device=gi.device)
    return apply(gru_layer_op, gi, h0, w_hh, b_hh, reverse=reverse, batch_sizes=batch_sizes)


# ----------------------------------------------------------------------------------------------
# Cells
# ----------------------------------------------------------------------------------------------

class RNNCellBase(Module):
    """Parameters and checks shared by RNNCell, LSTMCell and GRUCell."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        kw = {"device": device, "dtype": dtype}
        self.weight_ih = Parameter(_ops.empty(num_chunks * hidden_size, input_size, **kw))
        self.weight_hh = Parameter(_ops.empty(num_chunks * hidden_size, hidden_size, **kw))
        if bias:
            self.bias_ih = Parameter(_ops.empty(num_chunks * hidden_size, **kw))
            self.bias_hh = Parameter(_ops.empty(num_chunks * hidden_size, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    reset_parameters = _reset_parameters

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"
        return s

    def _prepare(self, input: Tensor, hx, name: str):
        """Check ranks/sizes; return (batched input, [batched states], is_batched)."""
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.ndim}D instead "
                             f"(shape {tuple(input.shape)})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{name}: input has inconsistent input_size: got "
                               f"{input.shape[-1]} expected {self.input_size} (input shape "
                               f"{tuple(input.shape)})")
        is_batched = input.ndim == 2
        if not is_batched:
            input = input.unsqueeze(0)
        n = input.shape[0]
        states = []
        for h in hx:
            if h is None:
                h = _ops.zeros(n, self.hidden_size, dtype=input.dtype, device=input.device)
            else:
                if h.ndim != (2 if is_batched else 1):
                    raise RuntimeError(f"{name}: Expected hidden to be {2 if is_batched else 1}D "
                                       f"for {2 if is_batched else 1}D input, got {h.ndim}D "
                                       "instead")
                if not is_batched:
                    h = h.unsqueeze(0)
                if tuple(h.shape) != (n, self.hidden_size):
                    raise RuntimeError(f"{name}: hidden has shape {tuple(h.shape)}, expected "
                                       f"{(n, self.hidden_size)} (batch {n}, hidden_size "
                                       f"{self.hidden_size})")
            states.append(h)
        return input, states, is_batched


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    Example:
        >>> cell = nn.RNNCell(10, 20)
        >>> h = cell(dyngraph.randn(3, 10))
        >>> h.shape
        dyngraph.Size([3, 20])
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One step: returns h' of shape (N, hidden_size) (or (hidden_size) unbatched)."""
        x, (h,), batched = self._prepare(input, (hx,), "RNNCell")
        if _fusable(x):
            h = _rnn_outputs(x.unsqueeze(0), h, self.weight_ih, self.weight_hh, self.bias_ih,
                             self.bias_hh, relu=self.nonlinearity == "relu")[0]
        else:
            gi = F.linear(x, self.weight_ih, self.bias_ih)
            h = _rnn_step(gi, h, self.weight_hh, self.bias_hh, self.nonlinearity == "relu")
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    """One LSTM step; hx is (h, c) and the result is (h', c')."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input: Tensor, hx: tuple | None = None):
        """One step: returns (h', c')."""
        h0, c0 = hx if hx is not None else (None, None)
        x, (h, c), batched = self._prepare(input, (h0, c0), "LSTMCell")
        if _fusable(x):
            ws = _lstm_workspace(x.unsqueeze(0), h, c, self.weight_ih, self.weight_hh,
                                 self.bias_ih, self.bias_hh)
            h, c = ws[0, 0], ws[1, 0]
        else:
            gi = F.linear(x, self.weight_ih, self.bias_ih)
            h, c = _lstm_step(gi, h, c, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n as in PyTorch)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """One step: returns h'."""
        x, (h,), batched = self._prepare(input, (hx,), "GRUCell")
        if _fusable(x):
            h = _gru_workspace(x.unsqueeze(0), h, self.weight_ih, self.weight_hh, self.bias_ih,
                               self.bias_hh)[0, 0]
        else:
            gi = F.linear(x, self.weight_ih, self.bias_ih)
            h = _gru_step(gi, h, self.weight_hh, self.bias_hh)
        return h if batched else h.squeeze(0)
