"""Train an MLP and a small CNN on scikit-learn's bundled 8x8 digits (no download).

The README's main command. It shows the PyTorch-style workflow end to end: a Dataset and
DataLoader, nn modules, cross-entropy, Adam, a tqdm progress bar, evaluation, a checkpoint saved and
reloaded (safetensors, no pickle), a loss/accuracy plot written as PNG, and the MLP trained again
with `dyngraph.compile` to print the compiled speedup.

Run: python examples/train_digits.py [--epochs N] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import dyngraph as dg
import dyngraph.nn as nn
import dyngraph.nn.functional as F
from dyngraph.utils.data import DataLoader, TensorDataset


class MLP(nn.Module):
    """64 -> 128 -> 64 -> 10 with ReLU and dropout."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return self.net(x)


class SmallCNN(nn.Module):
    """Two 3x3 convolutions with batch norm, a max pool and a linear classifier."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(32 * 4 * 4, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def load_data(seed: int = 0):
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]  # (N, 1, 8, 8) in [0, 1]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    mean, std = x_tr.mean(), x_tr.std()
    x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    return (TensorDataset(dg.from_numpy(x_tr), dg.from_numpy(y_tr)),
            TensorDataset(dg.from_numpy(x_te), dg.from_numpy(y_te)))


@dg.no_grad()
def evaluate(model, loader) -> float:
    model.eval()
    correct = total = 0
    for xb, yb in loader:
        pred = model(xb).argmax(dim=1)
        correct += int((pred == yb).sum())
        total += len(yb)
    return correct / total


def train(name, model, train_set, test_set, epochs, lr, seed, compiled=False):
    """Train with Adam and a cosine schedule; `compiled=True` runs each step through
    `dyngraph.compile` (forward, backward and the optimizer update in one captured graph)."""
    g = dg.Generator().manual_seed(seed)
    loader = DataLoader(train_set, batch_size=64, shuffle=True, generator=g)
    test_loader = DataLoader(test_set, batch_size=256)
    opt = dg.optim.Adam(model.parameters(), lr=lr)
    sched = dg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)

    def step(xb, yb):
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step_fn = dg.compile(step) if compiled else step
    history = {"loss": [], "acc": [], "epoch_s": []}
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        total, n = 0.0, 0
        t_epoch = time.perf_counter()
        bar = tqdm(loader, desc=f"{name} epoch {epoch + 1}/{epochs}", leave=False)
        for xb, yb in bar:
            loss = step_fn(xb, yb)
            total += loss.item() * len(yb)
            n += len(yb)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        history["epoch_s"].append(time.perf_counter() - t_epoch)
        sched.step()
        history["loss"].append(total / n)
        history["acc"].append(evaluate(model, test_loader))
    elapsed = time.perf_counter() - t0
    print(f"{name}: test accuracy {history['acc'][-1]:.4f} after {epochs} epochs "
          f"({elapsed:.1f} s, final train loss {history['loss'][-1]:.4f})")
    return history


def save_plot(histories, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    for name, h in histories.items():
        ax1.plot(range(1, len(h["loss"]) + 1), h["loss"], marker="o", label=name)
        ax2.plot(range(1, len(h["acc"]) + 1), h["acc"], marker="o", label=name)
    ax1.set(title="training loss", xlabel="epoch")
    ax2.set(title="test accuracy", xlabel="epoch")
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    dg.manual_seed(args.seed)
    train_set, test_set = load_data(args.seed)
    print(f"digits: {len(train_set)} training and {len(test_set)} test images of 8x8 pixels")

    histories = {}
    mlp = MLP()
    histories["MLP"] = train("MLP", mlp, train_set, test_set, args.epochs, 3e-3, args.seed)
    cnn = SmallCNN()
    histories["CNN"] = train("CNN", cnn, train_set, test_set, args.epochs, 3e-3, args.seed)

    # The same MLP training, compiled: the first epoch includes tracing and compiling.
    dg.manual_seed(args.seed)
    histories["MLP (compiled)"] = train("MLP (compiled)", MLP(), train_set, test_set, args.epochs,
                                        3e-3, args.seed, compiled=True)
    eager_s = sorted(histories["MLP"]["epoch_s"][1:] or histories["MLP"]["epoch_s"])
    comp_s = sorted(histories["MLP (compiled)"]["epoch_s"][1:]
                    or histories["MLP (compiled)"]["epoch_s"])
    med_e, med_c = eager_s[len(eager_s) // 2], comp_s[len(comp_s) // 2]
    print(f"compiled MLP training: {med_c:.3f} s per epoch vs {med_e:.3f} s eager "
          f"({med_e / med_c:.2f}x; first compiled epoch, with compilation: "
          f"{histories['MLP (compiled)']['epoch_s'][0]:.2f} s)")

    # Checkpoint: save, reload into a fresh model, check it predicts the same.
    ckpt = os.path.join(args.out, "cnn.safetensors")
    dg.save({"model": cnn.state_dict(), "epochs": args.epochs}, ckpt)
    restored = SmallCNN()
    state = dg.load(ckpt)
    restored.load_state_dict(state["model"])
    test_loader = DataLoader(test_set, batch_size=256)
    acc = evaluate(restored, test_loader)
    print(f"checkpoint {ckpt} ({os.path.getsize(ckpt) / 1024:.0f} KiB) reloaded: test accuracy "
          f"{acc:.4f}")

    plot = os.path.join(args.out, "digits_training.png")
    save_plot(histories, plot)
    print(f"plot written to {plot}")
    return histories


if __name__ == "__main__":
    main()
