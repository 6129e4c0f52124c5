"""Small pieces every subcommand shares: checking outputs first, JSON output, reading a model file."""

from __future__ import annotations

import math
import os
import tempfile

from minicompress.cli.errors import UsageError


def add_json_option(parser) -> None:
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")


def finite_float(text: str) -> float:
    """An argparse ``type``: a finite float (``nan`` and ``inf`` are refused at parsing, exit 2)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type``: a finite float > 0 (a learning rate)."""
    import argparse

    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def write_json(path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically; nothing when ``path`` is empty."""
    from minicompress.io import write_json as write

    if path:
        write(path, payload)


def check_outputs(**options) -> None:
    """Fail early, before any work, when an output file cannot be written.

    ``options`` maps each option's name (``out``, ``json``) to the path the user gave, or None.
    Each path must name a file (not a folder, device or pipe) in an existing folder in which a
    file can be created; two options may not name the same file. The messages name the option
    and the user's path.
    """
    seen = {}
    for option, path in options.items():
        if not path:
            continue
        flag = f"--{option.replace('_', '-')}"
        path = os.fspath(path)
        target = os.path.realpath(path)  # written through a symlink (minicompress.io.atomic_write)
        if target in seen:
            raise UsageError(f"{seen[target]} and {flag} name the same file {path!r}")
        seen[target] = flag
        if os.path.isdir(target):
            raise UsageError(f"cannot write {flag} {path!r}: it is a folder; give a file name")
        if os.path.exists(target) and not os.path.isfile(target):
            raise UsageError(f"cannot write {flag} {path!r}: it exists and is not a regular file")
        folder = os.path.dirname(target)
        if not os.path.isdir(folder):
            raise UsageError(f"cannot write {flag} {path!r}: folder {os.path.dirname(path) or '.'!r} "
                             "does not exist")
        try:
            probe_writable(folder)
        except OSError as err:
            raise UsageError(f"cannot write {flag} {path!r}: {err.strerror or err}") from None


def probe_writable(folder) -> None:
    """Create and remove a file in ``folder``: ``OSError`` if that is not possible.

    ``os.access`` is not enough (root ignores permissions, a read-only mount does not).
    """
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
        pass


def check_writable_file(path, option: str = "out") -> None:
    """:func:`check_outputs` for one path."""
    check_outputs(**{option: path})


def load_model_arg(path, option: str | None = None):
    """Load a model file named on the command line, or a one-line UsageError."""
    from minicompress.io import load_model

    what = f"{option} " if option else ""
    if not os.path.exists(path):
        raise UsageError(f"{what}model file {path!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{what}{path!r} is a folder; give a model file (.npz)")
    return load_model(path)


def unpack_arg(path):
    """Read a packed .mcz file named on the command line; errors name the file."""
    from minicompress.compress.packing import unpack
    from minicompress.errors import InputError

    if not os.path.exists(path):
        raise UsageError(f"packed file {path!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{path!r} is a folder; give a packed .mcz file")
    try:
        return unpack(path)
    except InputError as err:
        raise UsageError(f"{path!r}: {err}") from None


def mnist10k_accuracy(model) -> float | None:
    """Test accuracy on the 2,000 mnist10k test digits, or None for a model that does not take them."""
    from minicompress.data import load_mnist10k
    from minicompress.errors import InputError
    from minicompress.training import evaluate

    _, _, x_test, y_test = load_mnist10k()
    try:
        return evaluate(model, x_test, y_test)["accuracy"]
    except InputError:
        return None  # the model does not take 28x28 digits
