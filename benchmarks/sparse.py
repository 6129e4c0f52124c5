"""Sparse (Numba) against dense (NumPy) inference of a pruned LeNet-300-100.

The trained LeNet-300-100 (``minicompress.pretrained``) is magnitude-pruned layer by layer
to each sparsity, then the same pruned model runs on mnist10k test digits:

* dense:  ``x @ W.T + b`` per layer in NumPy (BLAS), zeros and all (``DenseInference``);
* sparse: ``SparseInference`` as a user gets it: batches up to ``FUSED_MAX_BATCH`` through the
  fused whole-network kernel that skips zero weights and zero inputs
  (``minicompress.kernels.sparse_network_forward``), larger ones through the CSR kernel;
* both sparse paths are also timed on their own (``fused_ms``, ``csr_ms``), and the fused
  network with its hidden layers in the padded-row "rows" layout (``rows_ms``) instead of the
  default CSC "columns" layout, to show what that choice buys.

``first_layer_macs`` is the mean number of multiply-adds the fused path does in the first
layer (nonzero weights in the columns of nonzero pixels), beside ``first_layer_nnz``.

Each call gets the next of up to 100 different input batches (activation sparsity depends on
the digit, so no single lucky digit is timed). Each timing is the per-call time of a loop of
calls, repeated; the *median* is reported (``*_ms``) with the minimum beside it
(``*_ms_min``), because the machine may be shared. Outputs are checked to agree (max abs
difference printed).

The functions are timed one at a time, never interleaved, dense and sparse for every case
first and the other paths after them, with a 0.2 s pause before each: with default threads
on a 2-core machine, a loop alternating ``dense(x)`` and ``csr(x)`` (a threaded OpenBLAS
call, then a Numba ``parallel=True`` call on the OpenMP threading layer) at batch 1024 ran
about ten times slower than the two loops alone, and ``OMP_WAIT_POLICY=passive`` removed
the effect; timing blocks of one right after blocks of the other still hit such slow calls
now and then. An application alternating the two pays this too. The default sparse path below
``FUSED_MAX_BATCH`` is serial and does not start Numba's thread pool.

Threads: ``--threads default`` leaves NumPy's BLAS and Numba at their defaults (what a user
gets); ``--threads N`` sets the BLAS/OpenMP/Numba thread counts before NumPy is imported.
Several values (the default is ``default 1``) run one fresh process per value, since a
thread count cannot change after BLAS has loaded; each row records its ``threads``.

Usage::

    python benchmarks/sparse.py [--json PATH] [--sparsities 0.9 0.95 0.98] [--batches 1 64]
                                [--quick] [--threads default 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _threads_from_argv(argv) -> list:
    """The ``--threads`` values; a single number must take effect before NumPy/Numba load."""
    argv = sys.argv[1:] if argv is None else argv
    values = []
    for i, a in enumerate(argv):
        if a == "--threads":
            values = []
            for v in argv[i + 1:]:
                if v.startswith("-"):
                    break
                values.append(v)
        elif a.startswith("--threads="):
            values = [a.split("=", 1)[1]]
    return values or ["default", "1"]


if __name__ == "__main__":
    _t = _threads_from_argv(None)
    if len(_t) == 1 and _t[0] != "default":
        for _var in _THREAD_VARS:
            os.environ[_var] = _t[0]

import numpy as np  # noqa: E402
from _common import add_seed, blas_line, machine, write_json  # noqa: E402

import minicompress.compress.pruning as P  # noqa: E402
from minicompress.compress.sparse_inference import FUSED_MAX_BATCH, DenseInference, SparseInference  # noqa: E402
from minicompress.data import load_mnist10k  # noqa: E402
from minicompress.io import copy_model  # noqa: E402
from minicompress.kernels import pack_sparse_network, sparse_network_forward  # noqa: E402
from minicompress.pretrained import trained_model  # noqa: E402


def _loop_size(fn, inputs, min_seconds):
    """Calls per timed loop so one loop lasts about ``min_seconds``."""
    n = 1
    while True:
        t = time.perf_counter()
        for k in range(n):
            fn(inputs[k % len(inputs)])
        if time.perf_counter() - t >= min_seconds or n >= 1 << 20:
            return n
        n *= 2


def per_call_ms(fn, inputs, min_seconds, repeats):
    """(median, min) over ``repeats`` loops of the time per call of ``fn``, in ms."""
    n = _loop_size(fn, inputs, min_seconds)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for k in range(n):
            fn(inputs[k % len(inputs)])
        times.append((time.perf_counter() - t) / n * 1e3)
    return float(np.median(times)), float(np.min(times))


def _thread_counts():
    import numba

    return {"setting": os.environ.get("NUMBA_NUM_THREADS", "default"),
            "numba": numba.get_num_threads(),
            "env": {v: os.environ.get(v) for v in _THREAD_VARS}}


def run_children(argv, values) -> list:
    """Run this script once per ``--threads`` value in a fresh process; return all rows."""
    rows = []
    argv = sys.argv[1:] if argv is None else list(argv)
    keep, skip = [], False
    for a in argv:  # drop --threads and --json from the child's arguments
        if a in ("--threads", "--json"):
            skip = True
            continue
        if skip and not a.startswith("-"):
            continue
        skip = False
        if not a.startswith(("--threads=", "--json=")):
            keep.append(a)
    for v in values:
        fd, tmp = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        try:
            subprocess.run([sys.executable, os.path.abspath(__file__), *keep, "--threads", v,
                            "--json", tmp, "--no-table"], check=True)
            with open(tmp) as f:
                rows += json.load(f)["results"]
        finally:
            os.remove(tmp)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.95, 0.98],
                        help="weight sparsities to time (default 0.9 0.95 0.98)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64],
                        help="batch sizes (default 1 64)")
    parser.add_argument("--quick", action="store_true", help="shorter timing loops")
    parser.add_argument("--threads", nargs="+", default=["default", "1"],
                        help="'default' (library defaults) and/or thread counts; one fresh process "
                             "per value (default: default 1)")
    parser.add_argument("--no-table", action="store_true", help=argparse.SUPPRESS)
    add_seed(parser)  # the order in which the test digits are timed
    args = parser.parse_args(argv)
    for v in args.threads:
        if v != "default" and not (v.isdigit() and int(v) >= 1):
            parser.error(f"--threads takes 'default' or positive integers, got {v!r}")
    min_seconds, repeats = (0.02, 5) if args.quick else (0.1, 9)

    if not args.no_table:
        print(blas_line())
    if len(args.threads) > 1:
        results = run_children(argv, args.threads)
    else:
        results = measure(args, min_seconds, repeats)
    if not args.no_table:
        print_table(results, repeats)
    if args.json:
        payload = {"benchmark": "sparse", "model": "lenet-300-100", "results": results,
                   "fused_max_batch": FUSED_MAX_BATCH, "machine": machine(),
                   "timing": {"statistic": "median", "repeats": repeats,
                              "min_seconds_per_repeat": min_seconds}}
        if args.no_table:  # a child process: the parent prints
            with open(args.json, "w") as f:
                json.dump(payload, f)
        else:
            write_json(args.json, payload)
    return 0


def measure(args, min_seconds, repeats) -> list:
    _, _, x_test, _ = load_mnist10k()
    base, _ = trained_model("lenet-300-100")
    x_all = x_test.reshape(len(x_test), -1)[np.random.default_rng(args.seed).permutation(len(x_test))]
    threads = _thread_counts()
    cases = []
    for s in args.sparsities:
        model = copy_model(base)
        for mod, name in P.prunable_parameters(model):
            P.l1_unstructured_to_sparsity(mod, name, s)
        dense, sparse = DenseInference.from_model(model), SparseInference.from_model(model)
        fused = SparseInference.from_model(model, fused_max_batch=1 << 30)
        csr = SparseInference.from_model(model, fused_max_batch=0)
        layers = [st for st in dense.steps if st[0] == "linear"]
        rows_net = pack_sparse_network([st[1] for st in layers], [st[2] for st in layers],
                                       formats=["columns"] + ["rows"] * (len(layers) - 1))
        rows = lambda x, net=rows_net: sparse_network_forward(net, x)  # noqa: E731
        per_column = np.count_nonzero(layers[0][1], axis=0)
        first_macs = float(np.mean((x_all[:1000] != 0) @ per_column))
        for b in args.batches:
            n_inputs = max(1, min(100, len(x_all) // b))
            inputs = [np.ascontiguousarray(x_all[i * b:(i + 1) * b]) for i in range(n_inputs)]
            ref = np.concatenate([dense(x) for x in inputs])
            err = max(float(np.abs(np.concatenate([f(x) for x in inputs]) - ref).max())
                      for f in (sparse, fused, csr, rows))
            fns = {"dense": dense, "sparse": sparse, "fused": fused, "csr": csr, "rows": rows}
            cases.append(({"batch": b, "sparsity": s, "nnz": sparse.nnz(),
                           "threads": threads["setting"], "numba_threads": threads["numba"],
                           "path": sparse.path(b), "max_abs_diff": err, "inputs": n_inputs,
                           "first_layer_macs": first_macs,
                           "first_layer_nnz": int(per_column.sum())}, fns, inputs))
    # The comparison (dense, sparse) is timed first for every case, the other paths after it,
    # one function at a time with a pause before each: with default threads, NumPy's BLAS
    # threads and Numba's OpenMP threads keep spinning for a while after their calls, and
    # on 2 shared cores each pool then slows the other down (see the module docstring).
    for names in (("dense", "sparse"), ("fused", "csr", "rows")):
        for row, fns, inputs in cases:
            for name in names:
                time.sleep(0.2)
                med, low = per_call_ms(fns[name], inputs, min_seconds, repeats)
                row[f"{name}_ms"] = med
                if name in ("dense", "sparse"):
                    row[f"{name}_ms_min"] = low
    results = []
    for row, _, _ in cases:
        row["speedup"] = row["dense_ms"] / row["sparse_ms"]
        row["speedup_min"] = row["dense_ms_min"] / row["sparse_ms_min"]
        results.append(row)
    return results


def print_table(results, repeats):
    print(f"LeNet-300-100, magnitude-pruned per layer; median of {repeats} loops (min in brackets); "
          "sparse = SparseInference's default path")
    print(f"{'threads':>7} {'batch':>5} {'sparsity':>8} {'nnz':>6} {'path':>5} {'dense ms':>17} "
          f"{'sparse ms':>17} {'speedup':>14} {'fused ms':>9} {'csr ms':>8} {'rows ms':>8} {'max|diff|':>9}")
    for r in results:
        print(f"{r['threads']:>7} {r['batch']:>5} {r['sparsity']:>8.2f} {r['nnz']:>6} {r['path']:>5} "
              f"{r['dense_ms']:>8.4f} ({r['dense_ms_min']:.4f}) "
              f"{r['sparse_ms']:>8.4f} ({r['sparse_ms_min']:.4f}) "
              f"{r['speedup']:>6.2f}x ({r['speedup_min']:.2f}x) "
              f"{r['fused_ms']:>9.4f} {r['csr_ms']:>8.4f} {r['rows_ms']:>8.4f} {r['max_abs_diff']:>9.1e}")
    seen = set()
    for r in results:
        if r["sparsity"] not in seen:
            seen.add(r["sparsity"])
            print(f"sparsity {r['sparsity']:.2f}: first layer, fused path: {r['first_layer_macs']:.0f} "
                  f"multiply-adds per digit on average (of {r['first_layer_nnz']} nonzero weights)")
    for r in results:
        if r["batch"] == 1 and r["sparsity"] == 0.9:
            print(f"target (issue 13): 90%-sparse at batch 1 >= 3x dense, threads {r['threads']}: "
                  f"{r['speedup']:.2f}x, {'met' if r['speedup'] >= 3.0 else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
