"""``minicompress distill``: distill a saved teacher into a smaller student on mnist10k."""

from __future__ import annotations

import argparse
import time

from minicompress.cli.common import add_json_option, check_outputs, load_model_arg, positive_float, write_json
from minicompress.cli.errors import UsageError

DESCRIPTION = """\
Train a small student to imitate a saved teacher (Hinton et al. 2015 knowledge distillation)
on the built-in mnist10k digits, and save it.

The first --transfer training images are the transfer set: the student learns from the
teacher's outputs softened at temperature T, no labels needed. With --labeled N, N training
images (drawn with --seed) also keep their labels, and their loss is
alpha * T^2 * KL(teacher || student) + (1 - alpha) * cross-entropy. The teacher runs once,
without building a graph; only the student is trained (Adam).

examples:
  minicompress train --model lenet5 --out teacher.npz
  minicompress distill --teacher teacher.npz --student-arch 784-64-10 --out student.npz
  minicompress distill --teacher teacher.npz --student-arch 784-64-10 --labeled 500 -T 4 \\
      --alpha 0.9 --epochs 10 --out student.npz --json student.json
"""


def add_parser(subparsers):
    p = subparsers.add_parser(
        "distill",
        help="distill a teacher model into a smaller student (knowledge distillation)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--teacher", required=True, metavar="PATH.npz", help="the trained teacher (.npz, e.g. from "
                   "'minicompress train')")
    p.add_argument("--student-arch", required=True, metavar="ARCH",
                   help="the student: MLP layer sizes such as 784-64-10, or a zoo model name "
                   "(lenet-300-100, lenet5, doc001-mlp)")
    p.add_argument("-T", "--temperature", dest="T", type=float, default=4.0,
                   help="softmax temperature T > 0 (default 4)")
    p.add_argument("--alpha", type=float, default=0.9,
                   help="weight of the soft term on labeled images, in [0, 1] (default 0.9)")
    p.add_argument("--epochs", type=int, default=10, help="epochs over the transfer + labeled set (default 10)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default 64)")
    p.add_argument("--transfer", type=int, default=8000, metavar="N",
                   help="use the first N training images as the unlabeled transfer set, 1-8000 (default all 8000)")
    p.add_argument("--labeled", type=int, default=0, metavar="N",
                   help="also give the labels of N training images, drawn with --seed (default 0: none)")
    p.add_argument("--seed", type=int, default=0, help="seed for the student's weights, the labeled draw and "
                   "shuffling (default 0)")
    p.add_argument("--out", default="student.npz", metavar="PATH.npz",
                   help="where to save the student (default student.npz)")
    add_json_option(p)
    p.set_defaults(run=run)


def _student(arch: str, seed: int):
    from minicompress.models import INPUT_SHAPES, MODEL_NAMES, build, mlp

    if arch in MODEL_NAMES:
        if INPUT_SHAPES[arch] != (1, 28, 28):
            raise UsageError(f"{arch} does not take 28x28 digits; choose an MLP such as 784-64-10 or a "
                             "mnist10k model")
        return build(arch, seed=seed)
    try:
        sizes = [int(s) for s in arch.split("-")]
    except ValueError:
        sizes = []
    if len(sizes) < 2 or min(sizes) < 1:
        raise UsageError(f"--student-arch {arch!r} is neither layer sizes like 784-64-10 nor one of "
                         f"{', '.join(MODEL_NAMES)}")
    if sizes[0] != 784:
        raise UsageError(f"--student-arch must start with 784 inputs (28x28 digits), got {sizes[0]}")
    try:
        return mlp(sizes, seed=seed)
    except MemoryError:
        raise UsageError(f"--student-arch {arch!r} is too large to fit in memory") from None


def run(args) -> int:
    import numpy as np

    from minicompress.compress.distill import check_alpha, check_temperature, distill
    from minicompress.data import load_mnist10k
    from minicompress.io import save_model
    from minicompress.training import evaluate

    try:
        check_temperature(args.T)
        check_alpha(args.alpha)
    except ValueError as err:
        raise UsageError(str(err)) from None
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 1 <= args.transfer <= 8000:
        raise UsageError(f"--transfer must be between 1 and 8000 (mnist10k's training images), got {args.transfer}")
    if not 0 <= args.labeled <= 8000:
        raise UsageError(f"--labeled must be between 0 and 8000, got {args.labeled}")
    check_outputs(out=args.out, json=args.json)
    teacher = load_model_arg(args.teacher, "--teacher")
    student = _student(args.student_arch, args.seed)

    x_train, y_train, x_test, y_test = load_mnist10k()
    labeled = {}
    if args.labeled:
        idx = np.random.default_rng(args.seed).choice(len(x_train), args.labeled, replace=False)
        labeled = {"x_labeled": x_train[idx], "y_labeled": y_train[idx]}
    start = time.perf_counter()
    distill(teacher, student, x_train[: args.transfer], T=args.T, alpha=args.alpha, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, seed=args.seed, **labeled)
    seconds = time.perf_counter() - start
    result = {
        "teacher": args.teacher, "student_arch": args.student_arch, "T": args.T, "alpha": args.alpha,
        "epochs": args.epochs, "transfer": args.transfer, "labeled": args.labeled,
        "seed": args.seed, "teacher_accuracy": evaluate(teacher, x_test, y_test)["accuracy"],
        "student_accuracy": evaluate(student, x_test, y_test)["accuracy"],
        "teacher_parameters": teacher.num_parameters(), "student_parameters": student.num_parameters(),
        "seconds": seconds, "out": args.out,
    }
    save_model(student, args.out, {"distilled": {k: v for k, v in result.items() if k != "out"}})
    write_json(args.json, result)  # every file before the first line of output
    print(f"teacher: {result['teacher_accuracy']:.4f} test accuracy, {result['teacher_parameters']:,} parameters")
    print(f"student: {result['student_accuracy']:.4f} test accuracy, {result['student_parameters']:,} parameters "
          f"({result['teacher_parameters'] / result['student_parameters']:.1f}x fewer), T={args.T}, "
          f"alpha={args.alpha}, {args.epochs} epochs, {seconds:.1f} s -> {args.out}")
    return 0
