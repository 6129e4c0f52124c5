"""``minicompress train``: train a model from the zoo on mnist10k and save it."""

from __future__ import annotations

import time

from minicompress.cli.common import add_json_option, check_outputs, positive_float, write_json


def add_parser(subparsers):
    from minicompress.models import MODEL_NAMES

    p = subparsers.add_parser(
        "train",
        help="train a model on the built-in mnist10k digits",
        description="Train a model on mnist10k (8,000 training / 2,000 test digits) with Adam "
        "and save it as .npz. doc000-cnn and doc002-mlp take other inputs (CIFAR-10, 10-d points) "
        "and are trained by their tutorials instead.",
    )
    p.add_argument("--model", required=True, choices=MODEL_NAMES, help="architecture to train")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (default: 15 for lenet-300-100 and lenet5, 10 for doc001-mlp)")
    p.add_argument("--seed", type=int, default=0, help="seed for initial weights and shuffling (default 0)")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--batch-size", type=int, default=64, help="mini-batch size (default 64)")
    p.add_argument("--out", default="model.npz", help="where to save the trained model (default model.npz)")
    add_json_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from minicompress.cli.errors import UsageError
    from minicompress.io import save_model
    from minicompress.pretrained import train_model

    if args.epochs is not None and args.epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {args.epochs}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {args.batch_size}")
    check_outputs(out=args.out, json=args.json)
    start = time.perf_counter()
    model, info = train_model(args.model, args.epochs, args.seed, lr=args.lr, batch_size=args.batch_size)
    save_model(model, args.out, {"info": info})
    result = {"model": args.model, "test_accuracy": info["test_accuracy"],
              "parameters": model.num_parameters(), "epochs": info["epochs"], "seed": args.seed,
              "seconds": time.perf_counter() - start, "out": args.out}
    write_json(args.json, result)  # every file before the first line of output
    print(f"{args.model}: test accuracy {result['test_accuracy']:.4f} after {info['epochs']} epochs, "
          f"{result['parameters']:,} parameters, {result['seconds']:.1f} s -> {args.out}")
    return 0
