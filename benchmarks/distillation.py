"""Distillation on mnist10k: a 784-64-10 student with only 500 labels, with and without a teacher.

    python benchmarks/distillation.py [--quick] [--json PATH]

Setting (issue 7; PyTorch in the same setting: 86.7% -> 93.7%):

* teacher: LeNet-5 trained on all 8,000 training images (``trained_model("lenet5")``,
  Adam, 15 epochs, cached);
* student: MLP 784-64-10, Adam lr 1e-3, batch 64, a fresh initialisation per seed;
* labeled set: 500 training images drawn per seed;
* **ce_only**: cross-entropy on the 500 labeled images (50 epochs; more does not help);
* **kd**: Hinton KD, T = 4, alpha = 0.9, on the 8,000 training images as an unlabeled
  transfer set plus the 500 labeled ones (10 epochs);
* **e7** (doc 000 §3.3, as written): binary cross-entropy of the student's softmax outputs
  against one-hot labels, one-vs-rest over the 10 classes
  (``minicompress.compress.distill.e7_one_vs_rest``). The teacher appears nowhere in E7, so
  it can only use the 500 labeled images (50 epochs, like ce_only);
* **e8** (doc 002 §3, as written): ``equations.soft_cross_entropy(p_T, p_S)`` between the
  teacher's and the student's softmax outputs at temperature 1, on the 8,000 transfer
  images, no labels (10 epochs).

Accuracies are on the 2,000 test images, averaged over seeds 0, 1, 2.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import blas_line, write_json  # noqa: E402

import minicompress.engine.functional as F
from minicompress.compress.distill import distill, e7_one_vs_rest, soft_targets
from minicompress.data import load_mnist10k
from minicompress.equations.distillation import soft_cross_entropy
from minicompress.models import mlp
from minicompress.optim import Adam
from minicompress.pretrained import trained_model
from minicompress.training import evaluate, fit

N_LABELED = 500
STUDENT = [784, 64, 10]


def run(seeds, quick: bool, T: float, alpha: float) -> dict:
    x_train, y_train, x_test, y_test = load_mnist10k()
    teacher, info = trained_model("lenet5", epochs=2 if quick else None, progress=False)
    # trained_model reuses a cached teacher only if it was trained on today's split (its data fingerprint)
    teacher_accuracy = evaluate(teacher, x_test, y_test)["accuracy"]
    label_epochs, transfer_epochs = (10, 2) if quick else (50, 10)
    start = time.perf_counter()
    q_T = soft_targets(teacher, x_train, T)  # the teacher runs once; every seed reuses its targets
    q_1 = soft_targets(teacher, x_train, 1.0)
    teacher_seconds = time.perf_counter() - start

    rows = {"ce_only": [], "kd": [], "e7": [], "e8": []}
    seconds = {k: 0.0 for k in rows}
    for seed in seeds:
        idx = np.random.default_rng(seed).choice(len(x_train), N_LABELED, replace=False)
        xl, yl = x_train[idx], y_train[idx]

        trainers = {
            "ce_only": lambda s, seed, xl, yl: fit(s, Adam(s.parameters(), lr=1e-3), xl, yl, epochs=label_epochs,
                                                   seed=seed, progress=False),
            "e7": lambda s, seed, xl, yl: fit(s, Adam(s.parameters(), lr=1e-3), xl, yl, epochs=label_epochs,
                                              seed=seed, loss_fn=e7_one_vs_rest, progress=False),
            "kd": lambda s, seed, xl, yl: distill(teacher, s, x_train, x_labeled=xl, y_labeled=yl, T=T, alpha=alpha,
                                                  epochs=transfer_epochs, seed=seed, transfer_targets=q_T,
                                                  progress=False),
            "e8": lambda s, seed, xl, yl: fit(s, Adam(s.parameters(), lr=1e-3), x_train, q_1, epochs=transfer_epochs,
                                              seed=seed, progress=False,
                                              loss_fn=lambda z, qb: soft_cross_entropy(qb, F.softmax(z, axis=1))),
        }
        for name, train in trainers.items():
            t0 = time.perf_counter()
            student = mlp(STUDENT, seed=seed)
            train(student, seed, xl, yl)
            seconds[name] += time.perf_counter() - t0
            rows[name].append(evaluate(student, x_test, y_test)["accuracy"])
    result = {f"{k}_accuracy": float(np.mean(v)) for k, v in rows.items()}
    result.update({
        "per_seed": {k: v for k, v in rows.items()}, "seeds": list(seeds), "T": T, "alpha": alpha,
        "n_labeled": N_LABELED, "n_transfer": len(x_train), "student": "-".join(map(str, STUDENT)),
        "student_parameters": mlp(STUDENT).num_parameters(), "teacher": "lenet5",
        "teacher_accuracy": teacher_accuracy, "teacher_parameters": teacher.num_parameters(),
        "label_epochs": label_epochs, "transfer_epochs": transfer_epochs, "quick": quick,
        "seconds": {**{k: v / len(seeds) for k, v in seconds.items()}, "teacher_targets": teacher_seconds},
        "kd_minus_ce_points": 100 * (np.mean(rows["kd"]) - np.mean(rows["ce_only"])),
    })
    return result


def print_table(r: dict) -> None:
    print(f"teacher: LeNet-5, {r['teacher_parameters']:,} parameters, test accuracy {r['teacher_accuracy']:.4f}")
    print(f"student: MLP {r['student']}, {r['student_parameters']:,} parameters; seeds {r['seeds']}\n")
    data = {"ce_only": f"{r['n_labeled']} labels",
            "e7": f"{r['n_labeled']} labels (no teacher in E7)",
            "kd": f"{r['n_transfer']} unlabeled + {r['n_labeled']} labels, T={r['T']:g}, alpha={r['alpha']:g}",
            "e8": f"{r['n_transfer']} unlabeled, T=1"}
    print(f"{'method':<9}{'data':<44}{'accuracy':>9}  {'per seed':<24}{'s/seed':>7}")
    for k in ("ce_only", "e7", "kd", "e8"):
        per = " ".join(f"{a:.4f}" for a in r["per_seed"][k])
        print(f"{k:<9}{data[k]:<44}{r[k + '_accuracy']:>9.4f}  {per:<24}{r['seconds'][k]:>7.1f}")
    print(f"\nKD - CE: {r['kd_minus_ce_points']:+.1f} points (PyTorch, same setting: 86.7% -> 93.7%)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a 2-epoch teacher and fewer student epochs (a smoke run)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--seed", type=int, help="run seeds SEED, SEED+1, SEED+2 (instead of --seeds)")
    p.add_argument("-T", "--temperature", dest="T", type=float, default=4.0)
    p.add_argument("--alpha", type=float, default=0.9)
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = p.parse_args(argv)
    seeds = args.seeds if args.seed is None else [args.seed + i for i in range(3)]
    print(blas_line())
    r = run(seeds, args.quick, args.T, args.alpha)
    print_table(r)
    write_json(args.json, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
