"""``minicompress check PATH.py``: run the equations' property tests on your own file.

Your file defines functions named by E-id (``E1`` ... ``E7``, ``E6_inverse``,
``E8_soft_cross_entropy``, ``E8_output_distance``, ``E8_parameter_distance``,
``E8_copy``); start from ``tutorials/exercises/template.py``. One line per equation:

    E2  pass
    E2  fail  <why>; inputs: ...; expected: ...; got: ...
    E2  not implemented

Exit code 0 only when at least one function is implemented and every implemented one
passes; 1 otherwise; 2 for a missing file or a syntax error.
"""

from __future__ import annotations

import argparse

from minicompress.cli.errors import UsageError
from minicompress.equations import EQUATIONS


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "check",
        help="check your own implementation of the documents' equations E1-E8",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH.py", help="your Python file (functions E1, E2, ...)")
    parser.add_argument("--only", action="append", metavar="EID", choices=list(EQUATIONS),
                        help="check only this equation (repeatable), e.g. --only E2")
    parser.add_argument("--max-examples", type=int, default=100, metavar="N",
                        help="hypothesis examples per equation (default 100)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed hypothesis's search (default: derandomized, the same every run)")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    # hypothesis is imported only when a check actually runs, not for every minicompress command
    from minicompress.equations.checker import check_file, exit_code, format_results

    if args.max_examples < 1:
        raise UsageError(f"--max-examples must be >= 1, got {args.max_examples}")
    try:
        results = check_file(args.path, only=args.only, max_examples=args.max_examples,
                             seed=args.seed)
    except FileNotFoundError as err:
        raise UsageError(str(err)) from err
    for line in format_results(results):
        print(line)
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "not implemented")}
    print(f"{counts['pass']} passed, {counts['fail']} failed, "
          f"{counts['not implemented']} not implemented")
    return exit_code(results)
