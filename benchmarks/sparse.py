"""Sparse (CSR, Numba) against dense (NumPy) inference of a pruned LeNet-300-100.

The trained LeNet-300-100 (``minicompress.pretrained``) is magnitude-pruned layer by layer
to each sparsity, then the same pruned model runs two ways on mnist10k test digits:

* dense:  ``x @ W.T + b`` per layer in NumPy (BLAS), zeros and all;
* sparse: every layer through ``minicompress.kernels.csr_linear`` (one multiply-add per
  nonzero weight).

Each timing is the per-call time of a loop of calls; the loop is repeated and the *median*
is reported (``*_ms``), with the minimum beside it (``*_ms_min``), because the machine may be
shared. Outputs are checked to agree (max abs difference printed).

Both run single-threaded by default (``--threads 1`` sets the BLAS/OpenMP/Numba thread
counts before NumPy is imported): on a shared 2-core machine, multithreaded BLAS spinning
against other processes makes dense timings meaningless, and one thread is the fair
comparison of the two algorithms.

Usage::

    python benchmarks/sparse.py [--json PATH] [--sparsities 0.9 0.95 0.98] [--quick]
                                [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time


def _threads_from_argv(argv) -> int:
    """``--threads N`` must take effect before NumPy/Numba load, so it is read here first."""
    argv = sys.argv[1:] if argv is None else argv
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


if __name__ == "__main__":
    _n = str(_threads_from_argv(None))
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(_var, _n)

import numpy as np  # noqa: E402

import minicompress.compress.pruning as P  # noqa: E402
from minicompress.compress.sparse import DenseInference, SparseInference  # noqa: E402
from minicompress.data import load_mnist10k  # noqa: E402
from minicompress.io import copy_model  # noqa: E402
from minicompress.pretrained import trained_model  # noqa: E402


def per_call_ms(fn, x, min_seconds, repeats):
    """Median and minimum over ``repeats`` loops of the time per call, in milliseconds."""
    fn(x)
    n = 1
    while True:  # size the loop so one repeat lasts about min_seconds
        t = time.perf_counter()
        for _ in range(n):
            fn(x)
        if time.perf_counter() - t >= min_seconds or n >= 1 << 20:
            break
        n *= 2
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(n):
            fn(x)
        times.append((time.perf_counter() - t) / n * 1e3)
    return float(np.median(times)), float(np.min(times))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.95, 0.98],
                        help="weight sparsities to time (default 0.9 0.95 0.98)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64],
                        help="batch sizes (default 1 64)")
    parser.add_argument("--quick", action="store_true", help="shorter timing loops")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS/OpenMP/Numba threads, set before NumPy loads (default 1)")
    args = parser.parse_args(argv)
    min_seconds, repeats = (0.02, 3) if args.quick else (0.1, 7)

    _, _, x_test, _ = load_mnist10k()
    base, _ = trained_model("lenet-300-100")
    x_all = x_test.reshape(len(x_test), -1)
    results = []
    for s in args.sparsities:
        model = copy_model(base)
        for mod, name in P.prunable_parameters(model):
            P.l1_unstructured_to_sparsity(mod, name, s)
        dense, sparse = DenseInference.from_model(model), SparseInference.from_model(model)
        for b in args.batches:
            x = np.ascontiguousarray(x_all[:b])
            err = float(np.abs(dense(x) - sparse(x)).max())
            d_med, d_min = per_call_ms(dense, x, min_seconds, repeats)
            s_med, s_min = per_call_ms(sparse, x, min_seconds, repeats)
            results.append({"batch": b, "sparsity": s, "nnz": sparse.nnz(),
                            "dense_ms": d_med, "sparse_ms": s_med, "speedup": d_med / s_med,
                            "dense_ms_min": d_min, "sparse_ms_min": s_min,
                            "speedup_min": d_min / s_min, "max_abs_diff": err})

    print(f"LeNet-300-100, magnitude-pruned per layer; median of {repeats} loops "
          f"(min in brackets)")
    print(f"{'batch':>5} {'sparsity':>8} {'nnz':>7} {'dense ms':>16} {'sparse ms':>16} "
          f"{'speedup':>14} {'max|diff|':>10}")
    for r in results:
        print(f"{r['batch']:>5} {r['sparsity']:>8.2f} {r['nnz']:>7} "
              f"{r['dense_ms']:>8.4f} ({r['dense_ms_min']:.4f}) "
              f"{r['sparse_ms']:>8.4f} ({r['sparse_ms_min']:.4f}) "
              f"{r['speedup']:>6.2f}x ({r['speedup_min']:.2f}x) {r['max_abs_diff']:>10.2e}")
    if args.json:
        payload = {"benchmark": "sparse", "model": "lenet-300-100", "results": results,
                   "python": sys.version.split()[0], "numpy": np.__version__,
                   "machine": platform.machine(), "cpus": os.cpu_count(),
                   "threads": {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS",
                                                              "NUMBA_NUM_THREADS")},
                   "timing": {"statistic": "median", "repeats": repeats,
                              "min_seconds_per_repeat": min_seconds}}
        folder = os.path.dirname(os.path.abspath(args.json))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=2)
        os.replace(tmp, args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
