"""The ``minicompress`` command: one subcommand per module in this package.

Each subcommand module defines ``add_parser(subparsers)`` and ``run(args) -> int``.

Exit codes and what reaches stderr:

* 0: done. A reader that closes our stdout early (``minicompress demo | head``) is not an
  error: every file is written before anything is printed, so nothing is lost.
* 2: the user's mistake, in one line ``minicompress: error: ...`` and no traceback: a
  ``UsageError`` from a subcommand, an ``InputError`` from the library (bad input) or a
  file-system error on a path the user named.
* 1: anything else is a bug in minicompress: its traceback, then one line asking for a report.
* 130: interrupted (Ctrl-C).
"""

from __future__ import annotations

from minicompress.cli.blas import use_one_blas_thread

use_one_blas_thread()  # before NumPy loads

import argparse  # noqa: E402
import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

from minicompress.cli.errors import UsageError  # noqa: E402
from minicompress.errors import InputError  # noqa: E402

COMMANDS = [
    "demo", "train", "evaluate", "check", "exercises", "prune", "quantize", "distill", "pack", "report",
    "export", "import",
]
MODULES = {"import": "import_weights"}  # "import" is a Python keyword, so not a module name
BUG_REPORT = ("minicompress: this is a bug in minicompress, not a mistake of yours; please report it "
              "with the command you ran and the traceback above")


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


def _stdout_closed() -> int:
    # The reader went away: point stdout at /dev/null so that the interpreter's final flush
    # does not complain either, and end normally (every file was written before printing).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (pytest's capture)
        pass
    return 0


def _os_error_line(err: OSError) -> str:
    where = f"{err.filename!r}: " if err.filename is not None else ""
    return f"{where}{err.strerror or err}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Warnings (NumPy's "overflow encountered" on the way to a diverged training, say) are held
    # back: a user's mistake ends in its one line, which says what went wrong; after a success
    # or a bug they are shown, as they may matter there.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        code = _run(args)
    if code != 2:
        for w in caught:
            text = warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line)
            print(text.rstrip(), file=sys.stderr)
    return code


def _run(args) -> int:
    """Run the subcommand; map what it raises to an exit code and at most one line (or a traceback)."""
    try:
        if isinstance(getattr(args, "seed", None), int) and args.seed >= 0:
            from minicompress import manual_seed  # loads NumPy: after the BLAS setting above

            manual_seed(args.seed)  # draws that name no seed follow --seed too
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a closed stdout shows here, not at exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except (UsageError, InputError) as err:
        message = str(err).strip().replace("\n", " ")
    except OSError as err:
        if err.filename is None:  # not about a path the user named
            traceback.print_exc()
            print(BUG_REPORT, file=sys.stderr)
            return 1
        message = _os_error_line(err)
    except KeyboardInterrupt:
        print("minicompress: interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(BUG_REPORT, file=sys.stderr)
        return 1
    print(f"minicompress: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
