"""Seconds per training epoch on mnist10k: minicompress against PyTorch CPU, in the same run.

    python benchmarks/training.py [--json training.json] [--quick] [--seed 0]

One epoch = 8,000 images, batch 64, Adam lr 1e-3, the same architecture and the same data
order rule (a permutation from ``--seed``). Each time is the best of 3 epochs after a warm-up
epoch (Numba compilation, allocator). Ours: the engine's default back end (``numba``: the
convolution and pooling kernels of ``minicompress.kernels``) and ``Adam(fused=True)``, the fused
Numba update, as PyTorch's default CPU Adam is its multi-tensor ("foreach") update; the row
``lenet5 (numpy backend)`` shows the readable back end for comparison. PyTorch runs in a child
process with 2 threads (its OpenMP threads, spinning after each op, would otherwise take the
cores from our BLAS), only when it is installed (``pip install torch``).

``ratio`` = ours / PyTorch (below 1: faster than PyTorch); ``target`` is issue 13's bound on it.
Runs in well under 3 minutes on an idle 2-core machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
from _common import blas_line, machine, parser, status, table, write_json  # re-executes without BLAS overrides

TARGETS = {"lenet-300-100": 0.9, "lenet5": 1.3}
EPOCHS = 3


def ours_epoch(name, x, y, epochs, seed, backend_name="numba"):
    from minicompress.engine import backend
    from minicompress.models import build
    from minicompress.optim import Adam
    from minicompress.training import fit

    with backend.using(backend_name):
        model = build(name, seed=seed)
        opt = Adam(model.parameters(), lr=1e-3, fused=True)
        fit(model, opt, x, y, epochs=1, seed=seed, progress=False)  # warm-up epoch
        times = [fit(model, opt, x, y, epochs=1, seed=seed + 1 + e, progress=False)[0]["seconds"]
                 for e in range(epochs)]
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


def torch_epochs(names, epochs, seed):
    """{name: seconds} and torch's version, or (None, None) without PyTorch (run in this process)."""
    try:
        import torch
    except ImportError:
        return None, None
    from minicompress.data import load_mnist10k

    torch.set_num_threads(2)
    x, y, _, _ = load_mnist10k()
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.asarray(y))
    out = {}
    for name in names:
        torch.manual_seed(seed)
        model = torch_model(torch, name)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        _torch_epoch(torch, model, opt, loss_fn, xt, yt, seed)  # warm-up
        out[name] = min(_torch_epoch(torch, model, opt, loss_fn, xt, yt, seed + 1 + e) for e in range(epochs))
    return out, torch.__version__


def _torch_epoch(torch, model, opt, loss_fn, xt, yt, seed):
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(xt)))
    start = time.perf_counter()
    for i in range(0, len(xt), 64):
        idx = perm[i: i + 64]
        opt.zero_grad()
        loss = loss_fn(model(xt[idx]), yt[idx])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--torch-child", action="store_true", help=argparse_suppress())
    args = p.parse_args(argv)
    epochs = 1 if args.quick else EPOCHS
    names = list(TARGETS)
    if args.torch_child:
        print(json.dumps(torch_epochs(names, epochs, args.seed)))
        return 0
    print(blas_line())
    from minicompress.data import load_mnist10k

    x, y, _, _ = load_mnist10k()
    ours = {name: ours_epoch(name, x, y, epochs, args.seed) for name in names}
    ours_numpy = ours_epoch("lenet5", x, y, epochs, args.seed, "numpy")
    child = subprocess.run([sys.executable, __file__, "--torch-child", "--seed", str(args.seed)]
                           + (["--quick"] if args.quick else []), capture_output=True, text=True, check=True)
    theirs, torch_version = json.loads(child.stdout.strip().splitlines()[-1])
    results = []
    for name in names:
        t_ours = ours[name]
        t_torch = theirs[name] if theirs else None
        ratio = t_ours / t_torch if t_torch else None
        results.append({"model": name, "seconds_per_epoch": t_ours, "torch_seconds_per_epoch": t_torch,
                        "ratio": ratio, "target": TARGETS[name], "status": status(ratio, TARGETS[name]),
                        "backend": "numba", "adam": "fused"})
    t_torch = theirs["lenet5"] if theirs else None
    results.append({"model": "lenet5 (numpy backend)", "seconds_per_epoch": ours_numpy,
                    "torch_seconds_per_epoch": t_torch, "ratio": ours_numpy / t_torch if t_torch else None,
                    "target": None, "status": "-", "backend": "numpy", "adam": "fused"})
    table(results, ["model", "seconds_per_epoch", "torch_seconds_per_epoch", "ratio", "target", "status"])
    print(f"ours: engine backend 'numba' unless named, Adam(fused=True); "
          f"PyTorch {torch_version or 'not installed'} CPU, 2 threads, default Adam (foreach)")
    write_json(args.json, {"results": results, "machine": machine(), "torch": torch_version,
                           "epochs_timed": epochs, "seed": args.seed})
    return 0


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
