"""Transfer learning on mnist10k (E9): digits 0-4 as the source task, 5-9 with 50 labels per class as the target.

    python benchmarks/transfer.py [--quick] [--arch lenet5|mlp] [--json PATH]

For each seed (0, 1, 2), ``minicompress.compress.transfer.transfer_experiment``:

* pretrains LeNet-5 on the ~4,000 training images of digits 0-4 (Adam lr 1e-3, 10 epochs, as the zoo trains LeNet-5);
* draws 50 training images of each digit 5-9 (250 labels) and trains on them alone, 30 epochs
  of Adam with batch 32:
  - **scratch**: a fresh LeNet-5 at lr 1e-3 (the recipe the source used), and the best of
    lr 1e-3 / 3e-3 picked on the test set (``scratch_best``, which can only favour scratch);
  - **head_only**: the source network with a new last layer, everything else frozen (lr 3e-3);
  - **classifier_only**: the convolutions frozen, the fully connected block 400-120-84-5
    re-initialized and trained (lr 3e-3);
  - **full_finetune**: a new last layer at lr 3e-3, every other layer at lr 1e-3;
* evaluates on the ~1,000 test images of digits 5-9.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import blas_line, write_json  # noqa: E402

from minicompress.compress.transfer import transfer_experiment

KEYS = ("scratch", "scratch_best", "head_only", "classifier_only", "full_finetune")


def run(seeds, quick: bool, arch: str) -> dict:
    epochs = {"source_epochs": 2, "target_epochs": 10} if quick else {"source_epochs": 10, "target_epochs": 30}
    per_seed, seconds = [], []
    for seed in seeds:
        start = time.perf_counter()
        per_seed.append(transfer_experiment(arch=arch, seed=seed, progress=False, **epochs))
        seconds.append(time.perf_counter() - start)
    result = {f"{k}_accuracy": float(np.mean([r[f"{k}_accuracy"] for r in per_seed])) for k in KEYS}
    result.update({
        "source_accuracy": float(np.mean([r["source_accuracy"] for r in per_seed])),
        "per_seed": per_seed, "seeds": list(seeds), "arch": arch, "quick": quick, **epochs,
        "labels_per_class": per_seed[0]["labels_per_class"], "n_target_test": per_seed[0]["n_target_test"],
        "seconds_per_seed": float(np.mean(seconds)),
        "full_finetune_minus_scratch_points": 100 * (result["full_finetune_accuracy"] - result["scratch_accuracy"]),
    })
    return result


def print_table(r: dict) -> None:
    print(f"{r['arch']}: source digits 0-4 (test accuracy {r['source_accuracy']:.4f}); target digits 5-9, "
          f"{r['labels_per_class']} labels per class, {r['n_target_test']} test images; seeds {r['seeds']}\n")
    print(f"{'variant':<18}{'accuracy':>9}  per seed")
    for k in KEYS:
        per = " ".join(f"{s[f'{k}_accuracy']:.4f}" for s in r["per_seed"])
        print(f"{k:<18}{r[f'{k}_accuracy']:>9.4f}  {per}")
    best = max(r["scratch_accuracy"], r["scratch_best_accuracy"])
    verdict = "beats" if r["full_finetune_accuracy"] > best else "does NOT beat"
    print(f"\nfull fine-tuning {verdict} the best scratch run: "
          f"{r['full_finetune_accuracy']:.4f} vs {best:.4f} ({r['seconds_per_seed']:.0f} s per seed)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="2 source and 10 target epochs (a smoke run)")
    p.add_argument("--arch", choices=("lenet5", "mlp"), default="lenet5")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--seed", type=int, help="run seeds SEED, SEED+1, SEED+2 (instead of --seeds)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = p.parse_args(argv)
    seeds = args.seeds if args.seed is None else [args.seed + i for i in range(3)]
    print(blas_line())
    r = run(seeds, args.quick, args.arch)
    print_table(r)
    write_json(args.json, r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
