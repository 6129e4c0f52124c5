"""``minicompress evaluate``: test accuracy of a saved model on mnist10k."""

from __future__ import annotations

import time

from minicompress.cli.common import add_json_option, check_outputs, load_model_arg, write_json


def add_parser(subparsers):
    p = subparsers.add_parser(
        "evaluate", help="test accuracy of a saved .npz model on mnist10k",
        description="Evaluate a saved model on the 2,000 mnist10k test digits.",
    )
    p.add_argument("model", help="a .npz model written by minicompress")
    add_json_option(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from minicompress.cli.errors import UsageError
    from minicompress.data import load_mnist10k
    from minicompress.errors import InputError
    from minicompress.training import evaluate

    check_outputs(json=args.json)
    start = time.perf_counter()
    model = load_model_arg(args.model)
    _, _, x_test, y_test = load_mnist10k()
    try:
        metrics = evaluate(model, x_test, y_test)
    except InputError as err:
        raise UsageError(f"{args.model} does not take 28x28 digits: {err}") from None
    info = model.metadata.get("info")
    name = info.get("model", "custom") if isinstance(info, dict) else "custom"
    result = {"model": name, "test_accuracy": metrics["accuracy"], "loss": metrics["loss"],
              "parameters": model.num_parameters(), "seconds": time.perf_counter() - start}
    write_json(args.json, result)
    print(f"{args.model}: test accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}, "
          f"{result['parameters']:,} parameters")
    return 0
