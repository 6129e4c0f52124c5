"""``minicompress prune``: prune a saved model and write the pruned model and its sparsity report."""

from __future__ import annotations

import argparse

from minicompress.cli.common import check_outputs, finite_float, load_model_arg, write_json
from minicompress.cli.errors import UsageError

METHODS = ("l1", "random", "ln-structured", "global", "e3", "e5")

HELP = """\
methods (how --amount is read for each):
  l1             magnitude pruning, layer by layer: every Linear/Conv2d weight loses the
                 fraction --amount of its smallest-|w| entries (biases are kept)
  random         like l1, but the pruned entries are chosen at random (--seed)
  ln-structured  removes whole neurons/filters: the fraction --amount of each hidden
                 layer's rows (output channels) with the smallest L2 norm; the output
                 layer is left whole (use `--shrink` to make the model physically smaller)
  global         one magnitude ranking across all weights: --amount of them in total
  e3             doc 001 §3.3 E3 as written: every weight and bias times (1 - r) with
                 r = --amount; nothing is removed (the report shows sparsity 0)
  e5             doc 000 §3.1 E5: --amount is the candidate proportion p; candidates within
                 --k standard deviations of their mean are removed
--amount is a fraction in [0, 1] of each tensor's (or all tensors') weights.
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
    parser.add_argument("--method", choices=METHODS, default="l1",
                        help="pruning method (default l1); see below")
    parser.add_argument("--amount", type=finite_float, default=0.5,
                        help="fraction in [0, 1] to prune (E3: the retention ratio r; "
                             "E5: the candidate proportion p); default 0.5")
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


def _prune(model, args):
    import minicompress.compress.pruning as P
    from minicompress.nn import Conv2d, Linear

    params = P.prunable_parameters(model)
    if not params:
        raise UsageError("the model has no Linear or Conv2d layer to prune")
    if args.method == "l1":
        for mod, name in params:
            P.l1_unstructured(mod, name, args.amount)
    elif args.method == "random":
        for i, (mod, name) in enumerate(params):
            P.random_unstructured(mod, name, args.amount, seed=args.seed + i)
    elif args.method == "ln-structured":
        for mod, name in params[:-1]:
            P.ln_structured(mod, name, args.amount, n=2, dim=0)
    elif args.method == "global":
        P.global_unstructured(params, args.amount)
    elif args.method == "e3":
        P.e3_scale_by_retention(model, args.amount)
    else:
        P.e5_random_candidate_model(model, args.amount, seed=args.seed, k=args.k)
    requested = {}
    if args.method in ("l1", "random", "global"):
        names = {id(m): n for n, m in model.named_modules() if isinstance(m, (Linear, Conv2d))}
        requested = {f"{names[id(m)]}.{n}": args.amount for m, n in params}
    if args.shrink:
        if args.method != "ln-structured":
            raise UsageError("--shrink needs --method ln-structured")
        model = P.shrink(model)
    return model, requested


def run(args) -> int:
    import minicompress.compress.pruning as P
    from minicompress.io import save_model

    if not 0.0 <= args.amount <= 1.0:
        raise UsageError(f"--amount must be in [0, 1], got {args.amount}")
    if not 1 <= args.index_bits <= 32:
        raise UsageError(f"--index-bits must be in [1, 32], got {args.index_bits}")
    check_outputs(out=args.out, json=args.json)
    model = load_model_arg(args.model)
    dense_params = model.num_parameters()
    model, requested = _prune(model, args)
    report = P.sparsity_report(model, requested=requested, index_bits=args.index_bits)
    report.update(method=args.method, amount=args.amount, input=args.model, output=args.out,
                  parameters_before=dense_params, parameters_after=model.num_parameters())
    save_model(model, args.out, {"pruning": {"method": args.method, "amount": args.amount}})
    write_json(args.json, report)  # every file before the first line of output
    print(P.format_report(report))
    print(f"method {args.method}, amount {args.amount}: weights sparsity "
          f"{report['weights']['sparsity']:.4f}; saved {args.out}")
    return 0
