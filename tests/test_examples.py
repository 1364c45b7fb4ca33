"""The examples run and learn (short versions here; the full runs are marked slow)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))


def test_polynomial_fit_learns():
    import polynomial_fit as pf
    import dyngraph as dg
    dg.manual_seed(0)
    first, _ = pf.with_autograd(steps=1)
    loss, _ = pf.with_autograd(steps=300)
    assert loss < first
    loss_t, _ = pf.with_tensors(steps=300)
    loss_opt, _ = pf.with_optim(steps=300)
    assert loss_t < first and loss_opt < first


def test_lstm_tagger_learns():
    import lstm_tagger
    acc = lstm_tagger.main(epochs=2)
    assert acc > 0.9


def test_tiny_gpt_loss_falls():
    import tiny_gpt
    first, last = tiny_gpt.main(["--steps", "6", "--seconds", "120", "--ctx", "32",
                                 "--batch", "16"])
    assert last < first


@pytest.mark.slow
def test_train_digits_reaches_target_accuracy(tmp_path):
    pytest.importorskip("sklearn")
    pytest.importorskip("tqdm")
    pytest.importorskip("matplotlib")
    import train_digits
    hist = train_digits.main(["--out", str(tmp_path)])
    assert hist["MLP"]["acc"][-1] >= 0.95
    assert hist["CNN"]["acc"][-1] >= 0.97
    assert (tmp_path / "digits_training.png").exists()
