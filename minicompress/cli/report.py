"""``minicompress report PATH``: print what a demo run or a model file holds.

PATH may be:

* a demo's ``report.json`` (or the demo's --out folder holding it): prints the demo's
  table again (``--details``: what each row's bytes count and its measured details);
  ``--plots DIR`` re-draws the four PNGs from the JSON alone, without running anything;
* a model ``.npz`` (from ``train``, ``prune``, ``quantize``, ``distill``): per parameter, its
  shape, nonzeros, sparsity, dense float32 bytes and relative-index CSR bytes, with totals
  over the weights and over all parameters;
* a packed ``.mcz`` file (from ``pack`` or the demo): the same, plus the file's size.

``--evaluate`` adds the model's test accuracy on the 2,000 mnist10k digits; ``--json``
writes the report as JSON.
"""

from __future__ import annotations

import argparse
import os

from minicompress.cli.common import add_json_option, check_outputs, load_model_arg, unpack_arg, write_json
from minicompress.cli.errors import UsageError

_NPZ, _MCZ = b"PK\x03\x04", b"MCPK"


def add_parser(subparsers):
    p = subparsers.add_parser(
        "report", help="print a demo's report.json, or the sparsity and bytes of a .npz/.mcz model",
        description=__doc__.replace("``", ""), formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  minicompress report ~/.cache/minicompress/demo/report.json --plots /tmp/plots\n"
               "  minicompress report pruned.npz --evaluate --json sparsity.json",
    )
    p.add_argument("path", metavar="PATH",
                   help="report.json from `minicompress demo` (or its folder), a .npz model or a .mcz file")
    p.add_argument("--details", action="store_true", help="report.json: also what each row's bytes count")
    p.add_argument("--plots", metavar="DIR", help="report.json: re-draw the four PNGs into DIR")
    p.add_argument("--evaluate", action="store_true", help="model: also its test accuracy on mnist10k")
    p.add_argument("--index-bits", type=int, default=5, metavar="B",
                   help="model: bits per relative index of the CSR byte count (default 5, Deep Compression's)")
    add_json_option(p)
    p.set_defaults(run=run)


def _kind(path) -> str:
    if not os.path.exists(path):
        raise UsageError(f"{path!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{path!r} is a folder without a report.json; give a report.json or a model file")
    with open(path, "rb") as f:
        head = f.read(4)
    if head == _NPZ:
        return "npz"
    if head == _MCZ:
        return "mcz"
    # Neither magic number: the file's name says what the user meant, so the error can say
    # what is wrong with it (a corrupt x.mcz is "not a packed model", not "not a JSON file").
    extension = os.path.splitext(path)[1].lower()
    return {".npz": "npz", ".mcz": "mcz"}.get(extension, "json")


def _demo_report(args) -> int:
    from minicompress.demo.report import format_details, format_table, read_report
    from minicompress.errors import InputError

    if args.evaluate:
        raise UsageError("--evaluate applies to a model file, not to a report.json")
    try:
        report = read_report(args.path)
    except InputError as err:
        raise UsageError(f"{err} (expected a report.json from `minicompress demo`, a .npz or a .mcz)") from None
    names = []
    if args.plots:
        from minicompress.cli.demo import prepare_out_dir
        from minicompress.demo.plots import draw_plots

        folder = prepare_out_dir(args.plots, "--plots")
        try:
            names = draw_plots(report, folder)
        except (KeyError, TypeError, ValueError) as err:  # the report is the user's file
            raise UsageError(f"{args.path!r} lacks the data of the plots ({err!r})") from None
    write_json(args.json, report)  # every file before the first line of output
    print(format_table(report))
    if args.details:
        print()
        print(format_details(report))
    if names:
        print(f"wrote {', '.join(names)} to {os.path.join(folder, '')}")
    return 0


def _model_report(args, kind) -> int:
    from minicompress.compress.pruning import format_report, sparsity_report

    if args.plots or args.details:
        raise UsageError("--plots and --details apply to a demo's report.json, not to a model file")
    if not 1 <= args.index_bits <= 32:
        raise UsageError(f"--index-bits must be in [1, 32], got {args.index_bits}")
    if kind == "npz":
        model = load_model_arg(args.path)
    else:
        model = unpack_arg(args.path)
    result = sparsity_report(model, index_bits=args.index_bits)
    result["file"] = {"path": args.path, "format": kind, "bytes": os.path.getsize(args.path)}
    if args.evaluate:
        from minicompress.data import load_mnist10k
        from minicompress.errors import InputError
        from minicompress.training import evaluate

        _, _, x_test, y_test = load_mnist10k()
        try:
            result["test_accuracy"] = float(evaluate(model, x_test, y_test)["accuracy"])
        except InputError as err:
            raise UsageError(f"{args.path} does not take 28x28 digits: {err}") from None
    write_json(args.json, result)  # every file before the first line of output
    print(format_report(result))
    print(f"{args.path}: {result['file']['bytes']:,} bytes on disk ({kind})")
    if args.evaluate:
        print(f"test accuracy on the 2,000 mnist10k test digits: {result['test_accuracy']:.4f}")
    return 0


def run(args) -> int:
    if os.path.isdir(args.path) and os.path.isfile(os.path.join(args.path, "report.json")):
        args.path = os.path.join(args.path, "report.json")  # the demo's --out folder
    check_outputs(json=args.json)
    kind = _kind(args.path)
    return _demo_report(args) if kind == "json" else _model_report(args, kind)
