"""Seconds per training epoch on mnist10k: minicompress against PyTorch CPU, in the same run.

    python benchmarks/training.py [--json training.json] [--quick] [--seed 0] [--epochs 5] [--rounds 2]

One epoch = 8,000 images, batch 64, Adam lr 1e-3, the same architecture and the same data
order rule (a permutation from ``--seed``). Each time is the best of ``--epochs`` epochs (5)
after a warm-up epoch (Numba compilation, allocator), in each of ``--rounds`` processes (2) run
at different moments of the run, every configuration once per round: the machine's noise only
ever adds time, and on this virtual machine it came in spells of several seconds that slowed
every epoch of one process (either library's) by up to 2x.

Every configuration runs in its own child process, so that each sets its threads before NumPy
loads. Both libraries get the machine's cores (2 here), in the way that suits each network:

* ``lenet5``: minicompress as the command line runs it, BLAS on one thread and the engine's
  convolutions split over the cores (:mod:`minicompress.kernels.threads`);
* ``lenet-300-100``: BLAS on the cores (an MLP's time is all BLAS; the engine's threads would
  have nothing to split);
* PyTorch: ``torch.set_num_threads(cores)``, its default Adam ("foreach").

Rows marked ``(other threads)`` show each network under the other setting, for comparison, and
``lenet5 (numpy backend)`` the engine's readable NumPy back end; only the first two rows have a
target. Ours always uses ``Adam(fused=True)``, the fused Numba update, as PyTorch's default CPU
Adam is its multi-tensor one. PyTorch is timed only when installed (``pip install torch``).

``ratio`` = ours / PyTorch (below 1: faster than PyTorch); ``target`` is issue 13's bound on it.
About a minute and a half on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from _common import blas_line, machine, parser, status, table, write_json  # re-executes without BLAS overrides

TARGETS = {"lenet-300-100": 0.9, "lenet5": 1.3}
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def ours_epoch(name, epochs, seed, backend_name):
    """(best seconds, engine threads, BLAS threads) in this process."""
    from minicompress.data import load_mnist10k
    from minicompress.engine import backend
    from minicompress.kernels import get_num_threads
    from minicompress.models import build
    from minicompress.optim import Adam
    from minicompress.training import fit

    x, y, _, _ = load_mnist10k()
    with backend.using(backend_name):
        model = build(name, seed=seed)
        opt = Adam(model.parameters(), lr=1e-3, fused=True)
        fit(model, opt, x, y, epochs=1, seed=seed, progress=False)  # warm-up epoch
        times = [fit(model, opt, x, y, epochs=1, seed=seed + 1 + e, progress=False)[0]["seconds"]
                 for e in range(epochs)]
    return min(times), get_num_threads(), _blas_threads()


def _blas_threads():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return next((d["num_threads"] for d in threadpool_info() if d.get("user_api") == "blas"), None)


def torch_model(torch, name):
    nn = torch.nn
    if name == "lenet-300-100":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                             nn.Linear(100, 10))
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10))


def torch_epoch(name, epochs, seed):
    """(best seconds, threads, version), or None without PyTorch (runs in this process)."""
    try:
        import torch
    except ImportError:
        return None
    from minicompress.data import load_mnist10k

    torch.set_num_threads(cores())
    x, y, _, _ = load_mnist10k()
    xt, yt = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.asarray(y))
    torch.manual_seed(seed)
    model = torch_model(torch, name)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(s):
        perm = torch.from_numpy(np.random.default_rng(s).permutation(len(xt)))
        start = time.perf_counter()
        for i in range(0, len(xt), 64):
            idx = perm[i: i + 64]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    epoch(seed)  # warm-up
    return min(epoch(seed + 1 + e) for e in range(epochs)), torch.get_num_threads(), torch.__version__


def _best(a, b):
    """The faster of two results of one configuration (either may be None: no PyTorch)."""
    if a is None or b is None:
        return a or b
    return a if a["seconds"] <= b["seconds"] else b


def child(args) -> dict | None:
    """Run one configuration in a fresh process with ``blas`` BLAS threads (None: the default)."""
    env = dict(os.environ)
    for name in BLAS_THREADS:
        env.pop(name, None)
    env.pop("MINICOMPRESS_NUM_THREADS", None)
    if args["blas"] is not None:
        env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(args["blas"])
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(args)], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_child(spec: dict) -> None:
    if spec["library"] == "torch":
        result = torch_epoch(spec["model"], spec["epochs"], spec["seed"])
        print(json.dumps(None if result is None else
                         {"seconds": result[0], "threads": result[1], "version": result[2]}))
        return
    seconds, engine, blas = ours_epoch(spec["model"], spec["epochs"], spec["seed"], spec["backend"])
    print(json.dumps({"seconds": seconds, "engine_threads": engine, "blas_threads": blas}))


def main(argv=None):
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5, help="epochs timed per process (best is kept)")
    p.add_argument("--rounds", type=int, default=2,
                   help="times every configuration's process runs, spread over the run (best is kept)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        run_child(json.loads(args.child))
        return 0
    epochs = 1 if args.quick else args.epochs
    print(blas_line())
    n = cores()
    # (row label, model, BLAS threads for ours, back end, has a target)
    configs = [("lenet-300-100", "lenet-300-100", None, "numba", True),
               ("lenet5", "lenet5", 1, "numba", True),
               ("lenet-300-100 (other threads)", "lenet-300-100", 1, "numba", False),
               ("lenet5 (other threads)", "lenet5", None, "numba", False),
               ("lenet5 (numpy backend)", "lenet5", 1, "numpy", False)]
    theirs, ours_by_label = {}, {}
    for _ in range(1 if args.quick else args.rounds):  # each round runs everything once
        for m in TARGETS:
            t = child({"library": "torch", "model": m, "epochs": epochs, "seed": args.seed, "blas": None})
            theirs[m] = _best(theirs.get(m), t)
        for label, model, blas, backend_name, _ in configs:
            o = child({"library": "ours", "model": model, "epochs": epochs, "seed": args.seed, "blas": blas,
                       "backend": backend_name})
            ours_by_label[label] = _best(ours_by_label.get(label), o)
    results = []
    for label, model, _, backend_name, has_target in configs:
        ours = ours_by_label[label]
        t_torch = theirs[model]["seconds"] if theirs[model] else None
        ratio = ours["seconds"] / t_torch if t_torch else None
        target = TARGETS[model] if has_target else None
        results.append({"model": label, "seconds_per_epoch": ours["seconds"], "torch_seconds_per_epoch": t_torch,
                        "ratio": ratio, "target": target, "status": status(ratio, target),
                        "backend": backend_name, "engine_threads": ours["engine_threads"],
                        "blas_threads": ours["blas_threads"], "adam": "fused"})
    table(results, ["model", "seconds_per_epoch", "torch_seconds_per_epoch", "ratio", "target", "status",
                    "engine_threads", "blas_threads"])
    torch_version = next((t["version"] for t in theirs.values() if t), None)
    torch_threads = next((t["threads"] for t in theirs.values() if t), None)
    rounds = 1 if args.quick else args.rounds
    print(f"ours: Adam(fused=True); best of {epochs} epochs x {rounds} processes each; "
          f"PyTorch {torch_version or 'not installed'} CPU, {torch_threads or '-'} threads, default Adam "
          f"(foreach); {n} cores")
    write_json(args.json, {"results": results, "machine": machine(), "torch": torch_version,
                           "torch_threads": torch_threads, "epochs_timed": epochs, "rounds": rounds,
                           "seed": args.seed})
    return 0


if __name__ == "__main__":
    sys.exit(main())
