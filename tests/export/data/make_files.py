"""Writes the checked-in graph files of each format version (run once per version bump).

    python tests/export/data/make_files.py

Each `<model>_v<k>.dgraph` is kept forever: tests load it with the current code (through the
upgraders) and compare its outputs with `<model>_v<k>_io.npz` (inputs and expected outputs).
"""

import os

import numpy as np

import dyngraph
from dyngraph import nn
from runtime.graph_file import FORMAT_VERSION

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> None:
    dyngraph.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3), nn.Softmax(dim=-1))
    batch = dyngraph.Dim("batch", min=1, max=1024)
    ep = dyngraph.export(model, (dyngraph.randn(4, 6),), dynamic_shapes=({0: batch},))
    ep.metadata["description"] = "MLP 6-8-3 with softmax, checked-in format test file"
    stem = os.path.join(HERE, f"mlp_v{FORMAT_VERSION}")
    ep.save(stem + ".dgraph")
    xs = {f"x{n}": np.random.default_rng(n).standard_normal((n, 6)).astype(np.float32)
          for n in (1, 3, 17)}
    ys = {f"y{k[1:]}": model(dyngraph.from_numpy(x)).detach().numpy() for k, x in xs.items()}
    np.savez(stem + "_io.npz", **xs, **ys)


if __name__ == "__main__":
    main()
