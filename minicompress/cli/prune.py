"""``minicompress prune``: prune a saved model and write the pruned model and its sparsity report."""

from __future__ import annotations

import argparse

from minicompress.cli.common import check_outputs, finite_float, load_model_arg, write_json
from minicompress.cli.errors import UsageError

HELP = """\
methods:
  l1             magnitude pruning, layer by layer: each Linear/Conv2d weight tensor loses its
                 smallest-|w| entries (biases are kept)
  random         like l1, but the pruned entries are chosen at random (--seed)
  ln-structured  removes whole neurons/filters: each hidden layer's rows (output channels)
                 with the smallest L2 norm; the output layer is left whole (use `--shrink`
                 to make the model physically smaller)
  global         one magnitude ranking across all weights
  e3             doc 001 §3.3 E3 as written: every weight and bias times (1 - r), r = --r;
                 nothing is removed (the report shows sparsity 0)
  e5             doc 000 §3.1 E5: a proportion --p of each weight's entries are candidates;
                 those within --k standard deviations of the candidates' mean are removed
how much (l1, random, ln-structured, global; give one):
  --sparsity S   absolute: afterwards the fraction S of each tensor's weights (global: of all
                 weights; ln-structured: of each hidden layer's channels) is pruned; a model
                 already that sparse is left as it is. The default, 0.5.
  --amount A     PyTorch's (torch.nn.utils.prune): prune the fraction A of the weights still
                 unpruned, so re-pruning a 50 %-sparse model with 0.5 leaves it 75 % sparse.
The report shows the sparsity before and after.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "prune",
        help="prune a saved model (magnitude, random, structured, global, E3, E5)",
        description="Prune the model in MODEL (a minicompress .npz) and save the pruned model "
                    "with its masks to --out; print the sparsity report (per layer and total, "
                    "weights only and including biases, dense and CSR bytes).",
        epilog=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="input model file (.npz written by minicompress)")
    from minicompress.compress.pruning import METHODS

    parser.add_argument("--method", choices=METHODS, default="l1",
                        help="pruning method (default l1); see below")
    parser.add_argument("--sparsity", type=finite_float, default=None,
                        help="absolute target in [0, 1]: the fraction of the weights pruned afterwards "
                             "(default 0.5 when neither --sparsity nor --amount is given)")
    parser.add_argument("--amount", type=finite_float, default=None,
                        help="PyTorch's amount in [0, 1]: the fraction of the still-unpruned weights to prune")
    parser.add_argument("--r", type=finite_float, default=None, help="E3's retention ratio r in [0, 1] (--method e3)")
    parser.add_argument("--p", type=finite_float, default=None,
                        help="E5's candidate proportion p in [0, 1] (--method e5)")
    parser.add_argument("--out", required=True, help="where to write the pruned model (.npz)")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write the sparsity report as JSON to PATH")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for --method random and e5 (default 0)")
    parser.add_argument("--k", type=finite_float, default=1.0,
                        help="E5's removal band in standard deviations (default 1.0)")
    parser.add_argument("--shrink", action="store_true",
                        help="after ln-structured pruning, remove the pruned neurons/filters "
                             "so the saved model is a smaller dense model")
    parser.add_argument("--index-bits", type=int, default=5,
                        help="bits per relative index in the CSR byte count (default 5)")
    parser.set_defaults(run=run)
    return parser


def _how_much(args) -> dict:
    """The one quantity the method takes, from the options given (a UsageError otherwise)."""
    given = {n: getattr(args, n) for n in ("sparsity", "amount", "r", "p") if getattr(args, n) is not None}
    wanted = {"e3": ("r",), "e5": ("p",)}.get(args.method, ("sparsity", "amount"))
    wrong = [n for n in given if n not in wanted]
    if wrong:
        raise UsageError(f"--method {args.method} takes {' or '.join('--' + n for n in wanted)}, "
                         f"not --{wrong[0]}")
    if len(given) > 1:
        raise UsageError(f"give one of {', '.join('--' + n for n in given)}, not both")
    if not given:
        if args.method in ("e3", "e5"):
            raise UsageError(f"--method {args.method} needs --{wanted[0]}")
        given = {"sparsity": 0.5}
    for name, value in given.items():
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"--{name} must be in [0, 1], got {value}")
    return given


def _prune(model, args, how):
    import minicompress.compress.pruning as P
    from minicompress.nn import Conv2d, Linear

    params = P.prunable_parameters(model)
    if not params:
        raise UsageError("the model has no Linear or Conv2d layer to prune")
    before = {f"{n}.weight": 1.0 - float(P.get_mask(m, "weight").mean())
              for n, m in model.named_modules() if isinstance(m, (Linear, Conv2d))}
    P.prune_model(model, args.method, k=args.k, seed=args.seed, **how)
    # the absolute sparsity each tensor was asked for (global asks for a total, not per tensor)
    requested = {}
    if args.method in ("l1", "random"):
        requested = {name: how["sparsity"] if "sparsity" in how else 1.0 - (1.0 - s) * (1.0 - how["amount"])
                     for name, s in before.items()}
    if args.shrink:
        if args.method != "ln-structured":
            raise UsageError("--shrink needs --method ln-structured")
        model = P.shrink(model)
    return model, requested


def run(args) -> int:
    import minicompress.compress.pruning as P
    from minicompress.io import save_model

    how = _how_much(args)
    if not 1 <= args.index_bits <= 32:
        raise UsageError(f"--index-bits must be in [1, 32], got {args.index_bits}")
    check_outputs(out=args.out, json=args.json)
    model = load_model_arg(args.model)
    dense_params = model.num_parameters()
    sparsity_before = P.sparsity_report(model)["weights"]["sparsity"]
    model, requested = _prune(model, args, how)
    report = P.sparsity_report(model, requested=requested, index_bits=args.index_bits)
    report.update(method=args.method, **how, input=args.model, output=args.out,
                  weights_sparsity_before=sparsity_before,
                  parameters_before=dense_params, parameters_after=model.num_parameters())
    save_model(model, args.out, {"pruning": {"method": args.method, **how}})
    write_json(args.json, report)  # every file before the first line of output
    print(P.format_report(report))
    (what, value), = how.items()
    meaning = {"sparsity": "absolute", "amount": "of the remaining weights"}.get(what)
    print(f"method {args.method}, {what} {value:g}{f' ({meaning})' if meaning else ''}: weights sparsity "
          f"{sparsity_before:.4f} before, {report['weights']['sparsity']:.4f} after; saved {args.out}")
    return 0
