"""The ``minicompress`` command: one subcommand per module in this package.

Each subcommand module defines ``add_parser(subparsers)`` and ``run(args) -> int``.
A ``UsageError`` (or a ``ValueError``/``TypeError``/``OSError`` from the library, which
means bad input) becomes a one-line message and exit code 2; nothing prints a traceback
for a user's mistake.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Before NumPy loads: the engine's matrices are small (64 x 784 x 300), and OpenBLAS's extra
# threads mostly spin-wait on them. Measured on the 2-core machine while shared (load 5):
# `minicompress demo --quick` 27 s wall / 21 s CPU with the default, 10 s / 5.6 s with one
# thread. A value the user set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from minicompress.cli.errors import UsageError

COMMANDS = [
    "demo", "train", "evaluate", "check", "prune", "quantize", "distill", "pack", "report", "export", "import",
]
MODULES = {"import": "import_weights"}  # "import" is a Python keyword, so not a module name


def _modules():
    # Each subcommand module imports its heavy dependencies inside run(), so --help stays fast.
    for name in COMMANDS:
        yield importlib.import_module(f"minicompress.cli.{MODULES.get(name, name)}")


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage mistake is one line, not the usage block and the error."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="minicompress",
        description="Model compression, from the documents' equations to the practice, on a NumPy engine.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _modules():
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if isinstance(getattr(args, "seed", None), int) and args.seed >= 0:
        from minicompress import manual_seed  # loads NumPy: after the BLAS setting above

        manual_seed(args.seed)  # draws that name no seed follow --seed too
    try:
        return int(args.run(args) or 0)
    except UsageError as err:
        print(f"minicompress: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as err:
        print(f"minicompress: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("minicompress: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (minicompress demo | head): not an error of ours. Point stdout at
        # /dev/null so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
