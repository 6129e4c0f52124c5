"""Pruning LeNet-300-100 on mnist10k: magnitude vs random, and the documents' E3 and E5.

Starting point: the trained LeNet-300-100 of ``minicompress.pretrained`` (Adam, 15 epochs).

1. **Magnitude (Han et al. 2015 recipe)**: gradual pruning with the AGP schedule (Zhu & Gupta
   2017) from 0 to per-layer final sparsities ``--sparsity`` (default 0.93 0.90 0.70 for the
   784x300, 300x100 and 100x10 weights: 7.42 % of the weights kept; the small output layer
   is the sensitive one, see the sensitivity scan of ``tutorials/05_pruning.py``; Han et al.
   used 92 %, 91 %, 74 %), while training with Adam lr 1e-3; then fine-tuning at lr 1e-4.
   Biases are never pruned.
2. **Random**: the same schedule and budget, but the pruned weights are chosen at random.
3. **Dense, same budget**: the unpruned model trained for the same epochs, to show the
   fine-tuning itself is not what the pruned model gains from.
4. **E3 as written** (doc 001 §3.3.3) at r = the kept fraction: every weight and bias times
   (1 − r), nothing removed; beside it E3's keep-ratio reading, one-shot magnitude pruning
   keeping the fraction r, without fine-tuning.
5. **E5 as written** (doc 000 §3.1): candidates p = 0.5, removal band k = 1σ, no fine-tuning.

``kept_fraction`` counts nonzero *weights* over all weights (biases excluded, as in Han et
al.); ``kept_fraction_with_biases`` counts biases too. Accuracy is on mnist10k's 2,000 test
digits.

Usage::

    python benchmarks/pruning.py [--json PATH] [--quick] [--sparsity 0.93 0.90 0.70]

BLAS runs single-threaded unless ``OPENBLAS_NUM_THREADS`` (etc.) is already set: on a shared
2-core machine, spinning BLAS threads make small-batch training several times slower.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

if __name__ == "__main__":
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

from _common import blas_line, write_json  # noqa: E402

import minicompress.compress.pruning as P
from minicompress.data import load_mnist10k
from minicompress.io import copy_model
from minicompress.optim import Adam
from minicompress.pretrained import trained_model
from minicompress.training import evaluate, fit


def gradual(base, data, sparsity, importance, agp_epochs, tune_epochs, seed):
    """AGP pruning during ``agp_epochs`` at lr 1e-3, then ``tune_epochs`` at lr 1e-4."""
    x_train, y_train, _, _ = data
    model = copy_model(base)
    steps = -(-len(x_train) // 64)
    dt = max(steps // 4, 1)  # prune four times an epoch
    n = max((agp_epochs * steps - steps // 2) // dt, 1)  # reach s_f half an epoch before the end
    if max(sparsity) > 0:
        agp = P.AGPPruner(model, sparsity=sparsity, n=n, dt=dt, importance=importance, seed=seed)
        callbacks = [agp]
    else:
        callbacks = []
    fit(model, Adam(model.parameters(), lr=1e-3), x_train, y_train, epochs=agp_epochs,
        seed=seed, callbacks=callbacks, progress=False)
    fit(model, Adam(model.parameters(), lr=1e-4), x_train, y_train, epochs=tune_epochs,
        seed=seed + 1, progress=False)
    return model


def kept(model):
    rep = P.sparsity_report(model)
    return rep["weights"]["kept_fraction"], rep["all"]["kept_fraction"], rep


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument("--quick", action="store_true",
                        help="fewer epochs (3 AGP + 1 fine-tune instead of 4 + 2)")
    parser.add_argument("--sparsity", type=float, nargs="+", default=[0.93, 0.90, 0.70],
                        help="final weight sparsity: one for every layer, or one per layer "
                             "(default 0.93 0.90 0.70: 7.42%% of the weights kept)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(blas_line())
    if len(args.sparsity) not in (1, 3) or not all(0.0 <= v < 1.0 for v in args.sparsity):
        parser.error(f"--sparsity takes 1 or 3 values in [0, 1), got {args.sparsity}")
    targets = args.sparsity * 3 if len(args.sparsity) == 1 else args.sparsity
    agp_epochs, tune_epochs = (3, 1) if args.quick else (4, 2)
    start = time.perf_counter()

    data = load_mnist10k()
    x_test, y_test = data[2], data[3]
    base, info = trained_model("lenet-300-100")
    dense_acc = evaluate(base, x_test, y_test)["accuracy"]

    pruned = gradual(base, data, targets, "l1", agp_epochs, tune_epochs, args.seed)
    pruned_acc = evaluate(pruned, x_test, y_test)["accuracy"]
    kept_w, kept_all, _ = kept(pruned)
    report = P.sparsity_report(pruned, requested=dict(zip(("1.weight", "3.weight", "5.weight"),
                                                          targets)))

    rand = gradual(base, data, targets, "random", agp_epochs, tune_epochs, args.seed)
    rand_acc = evaluate(rand, x_test, y_test)["accuracy"]

    dense_tuned = gradual(base, data, [0.0], "l1", agp_epochs, tune_epochs, args.seed)
    dense_tuned_acc = evaluate(dense_tuned, x_test, y_test)["accuracy"]

    e3_rows = []
    for r in sorted({round(kept_w, 4), 0.5}):
        as_written = P.e3_scale_by_retention(copy_model(base), r)
        keep = P.e3_keep_ratio(copy_model(base), r)
        e3_rows.append({"r": r,
                        "as_written_accuracy": evaluate(as_written, x_test, y_test)["accuracy"],
                        "as_written_kept_fraction": kept(as_written)[0],
                        "keep_ratio_accuracy": evaluate(keep, x_test, y_test)["accuracy"],
                        "keep_ratio_kept_fraction": kept(keep)[0]})
    e3 = e3_rows[0]

    e5_model = copy_model(base)
    P.e5_random_candidate_model_report(e5_model, 0.5, seed=args.seed, k=1.0)
    e5_acc = evaluate(e5_model, x_test, y_test)["accuracy"]

    seconds = time.perf_counter() - start
    result = {
        "benchmark": "pruning", "model": "lenet-300-100", "dataset": "mnist10k (2,000 test)",
        "dense_accuracy": dense_acc,
        "pruned_accuracy": pruned_acc,
        "loss_points": 100 * (dense_acc - pruned_acc),
        "kept_fraction": kept_w,
        "kept_fraction_with_biases": kept_all,
        "compression_weights": 1.0 / kept_w,
        "random_accuracy": rand_acc,
        "random_kept_fraction": kept(rand)[0],
        "dense_same_budget_accuracy": dense_tuned_acc,
        "e3_r": e3["r"],
        "e3_accuracy": e3["as_written_accuracy"],
        "e3_kept_fraction": e3["as_written_kept_fraction"],
        "e3_keep_ratio_accuracy": e3["keep_ratio_accuracy"],
        "e3_keep_ratio_kept_fraction": e3["keep_ratio_kept_fraction"],
        "e3_table": e3_rows,
        "e5_accuracy": e5_acc,
        "e5_kept_fraction": kept(e5_model)[0],
        "e5_settings": {"p": 0.5, "k": 1.0, "fine_tuning": "none"},
        "per_layer": [{k: row[k] for k in ("name", "params", "nonzero", "sparsity")}
                      for row in report["layers"]],
        "bytes": {"dense": report["all"]["dense_bytes"], "csr_5bit": report["all"]["csr_bytes"]},
        "recipe": {"sparsity": targets, "schedule": "AGP, 4 pruning steps per epoch",
                   "agp_epochs_lr_1e-3": agp_epochs, "fine_tune_epochs_lr_1e-4": tune_epochs,
                   "optimizer": "Adam", "batch_size": 64, "biases": "not pruned",
                   "seed": args.seed, "base_model": info},
        "seconds": seconds,
    }

    print(f"LeNet-300-100 on mnist10k, {agp_epochs} AGP + {tune_epochs} fine-tune epochs "
          f"({seconds:.0f} s)")
    print(f"{'model':<44}{'kept (weights)':>15}{'accuracy':>10}")
    rows = [("dense (trained, 15 epochs)", 1.0, dense_acc),
            ("dense, same extra training budget", 1.0, dense_tuned_acc),
            ("magnitude, AGP + fine-tune", kept_w, pruned_acc),
            ("random, AGP + fine-tune (same budget)", result["random_kept_fraction"], rand_acc)]
    for row in e3_rows:
        rows.append((f"E3 as written, r={row['r']} (x(1-r), no removal)",
                     row["as_written_kept_fraction"], row["as_written_accuracy"]))
        rows.append((f"E3 keep-ratio reading, r={row['r']}, one-shot",
                     row["keep_ratio_kept_fraction"], row["keep_ratio_accuracy"]))
    rows.append(("E5 as written, p=0.5, k=1, no fine-tune", result["e5_kept_fraction"], e5_acc))
    for name, k, acc in rows:
        print(f"{name:<44}{k:>15.4f}{acc:>10.4f}")
    print(f"magnitude pruning: {1 / kept_w:.1f}x fewer weights (kept {kept_w:.4f} of weights, "
          f"{kept_all:.4f} with biases), {result['loss_points']:+.2f} points lost")
    print(P.format_report(report))
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
