"""``minicompress import``: PyTorch weights (a safetensors state dict) into a minicompress model file."""

from __future__ import annotations

import argparse

from minicompress.cli.common import add_json_option, check_writable_file, mnist10k_accuracy, write_json
from minicompress.cli.errors import UsageError

HELP = """\
The file is a PyTorch state dict saved with safetensors (never a pickled torch.save file):

  from safetensors.torch import save_file
  save_file(net.state_dict(), "weights.safetensors")

Names are translated for nn.Sequential models built like the zoo (0.weight, 3.bias, ...
are already minicompress's names) and for named layers as in PyTorch's LeNet tutorial
(the k-th Conv2d is conv{k}, the k-th Linear is fc{k}); a "module." prefix is dropped.
For anything else give --name-map map.json: {"name in the file": "minicompress name", ...}
(null skips a tensor). A missing, extra or wrongly shaped tensor is an error naming it.

example:
  minicompress import weights.safetensors --model lenet5 --out lenet5.npz
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from minicompress.models import MODEL_NAMES

    parser = subparsers.add_parser(
        "import", help="import PyTorch weights (.safetensors) into a zoo model",
        description="Load the state dict in WEIGHTS (.safetensors) into --model, report its accuracy on "
                    "mnist10k and save it as a minicompress .npz to --out.",
        epilog=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", help="a .safetensors file holding a PyTorch state dict")
    parser.add_argument("--model", choices=MODEL_NAMES, required=True, help="the zoo architecture of the weights")
    parser.add_argument("--name-map", default=None, metavar="JSON", help="JSON file {name in the file: our name}")
    parser.add_argument("--out", required=True, help="output model file (.npz)")
    add_json_option(parser)
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    from minicompress.interop import import_safetensors
    from minicompress.interop._optional import MissingDependencyError
    from minicompress.io import save_model

    check_writable_file(args.out)
    try:
        model = import_safetensors(args.weights, args.model, name_map=args.name_map)
    except MissingDependencyError as err:
        raise UsageError(str(err)) from None
    accuracy = mnist10k_accuracy(model)
    save_model(model, args.out, {"imported_from": args.weights})
    acc = "" if accuracy is None else f"; mnist10k test accuracy {accuracy:.4f}"
    print(f"imported {args.weights} into {args.model} ({model.num_parameters()} parameters){acc}")
    print(f"saved {args.out}")
    write_json(args.json, {"input": args.weights, "model": args.model, "output": args.out, "accuracy": accuracy})
    return 0
