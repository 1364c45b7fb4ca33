"""Models the export tests trace (the fresh-process test checks none of this is imported)."""

import dyngraph as dg
from dyngraph import nn


def mlp():
    """MLP 8-16-3."""
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def cnn():
    """Conv2d + pooling + linear head (eval mode)."""
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(4 * 4 * 4, 5))
    return m.eval()


class Tagger(nn.Module):
    """Embedding + LSTM + linear over each position (examples/lstm_tagger.py's shape)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.lstm = nn.LSTM(6, 5, batch_first=True)
        self.out = nn.Linear(5, 4)

    def forward(self, tokens):
        h, _ = self.lstm(self.emb(tokens))
        return self.out(h).log_softmax(-1)


def two_inputs(x, y, *, scale):
    """Nested outputs, a keyword input, a shared dim and a batch*feature reshape."""
    z = (x * scale["a"] + y).tanh()
    return {"flat": z.reshape(-1), "pair": (z.sum(1), dg.cond(z.sum() > 0, lambda t: t * 2,
                                                               lambda t: t - 1, (z,)))}
