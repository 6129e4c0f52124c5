"""Seconds per training epoch on mnist10k: minicompress against PyTorch CPU, in the same run.

    python benchmarks/training.py --json training.json [--quick]

One epoch = 8,000 images, batch 64, Adam lr 1e-3, same architecture and data
order rule. PyTorch is timed only when it is installed (``pip install torch``);
``ratio`` = ours / PyTorch (below 1 means we are faster).
"""

from __future__ import annotations

import time

import numpy as np
from _common import machine, parser, table, torch_or_none, write_json

from minicompress.data import load_mnist10k
from minicompress.models import build
from minicompress.optim import Adam
from minicompress.training import fit


def ours_epoch(name, x, y, epochs):
    model = build(name, seed=0)
    opt = Adam(model.parameters(), lr=1e-3)
    fit(model, opt, x, y, epochs=1, seed=0, progress=False)  # warm-up epoch (caches, allocator)
    times = [fit(model, opt, x, y, epochs=1, seed=e, progress=False)[0]["seconds"] for e in range(epochs)]
    return min(times)


def torch_model(torch, name):
    nn = torch.nn
    if name == "lenet-300-100":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                             nn.Linear(100, 10))
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def torch_epoch(torch, name, x, y, epochs):
    torch.manual_seed(0)
    model = torch_model(torch, name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.asarray(y))
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(seed):
        perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
        start = time.perf_counter()
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    epoch(0)
    return min(epoch(e) for e in range(epochs))


def main():
    args = parser(__doc__.splitlines()[0]).parse_args()
    x, y, _, _ = load_mnist10k()
    epochs = 1 if args.quick else 3
    torch = torch_or_none()
    if torch is not None:
        torch.set_num_threads(2)
    results = []
    for name in ("lenet-300-100", "lenet5"):
        ours = ours_epoch(name, x, y, epochs)
        theirs = torch_epoch(torch, name, x, y, epochs) if torch is not None else None
        results.append({"model": name, "seconds_per_epoch": ours, "torch_seconds_per_epoch": theirs,
                        "ratio": ours / theirs if theirs else None})
    table(results, ["model", "seconds_per_epoch", "torch_seconds_per_epoch", "ratio"])
    write_json(args.json, {"results": results, "machine": machine(),
                           "torch": torch.__version__ if torch is not None else None})


if __name__ == "__main__":
    main()
