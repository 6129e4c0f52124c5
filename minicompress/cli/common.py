"""Small pieces every subcommand shares: JSON output and reading a model file."""

from __future__ import annotations

import json
import os

from minicompress.cli.errors import UsageError


def add_json_option(parser) -> None:
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")


def write_json(path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, then rename)."""
    from minicompress.io import atomic_write

    if not path:
        return
    try:
        atomic_write(path, lambda f: f.write((json.dumps(payload, indent=2) + "\n").encode()))
    except OSError as err:
        raise UsageError(f"cannot write JSON to {path!r}: {err.strerror or err}") from None


def load_model_arg(path):
    """Load a model file named on the command line, or a one-line UsageError."""
    from minicompress.io import load_model

    if not os.path.exists(path):
        raise UsageError(f"model file {path!r} does not exist")
    try:
        return load_model(path)
    except (ValueError, TypeError) as err:
        raise UsageError(str(err)) from None


def check_writable_file(path) -> None:
    """Fail early, before any work, when ``path`` cannot be written."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path!r}: folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write {path!r}: folder {folder!r} is not writable")


def mnist10k_accuracy(model) -> float | None:
    """Test accuracy on the 2,000 mnist10k test digits, or None for a model that does not take them."""
    from minicompress.data import load_mnist10k
    from minicompress.training import evaluate

    _, _, x_test, y_test = load_mnist10k()
    try:
        return evaluate(model, x_test, y_test)["accuracy"]
    except ValueError:
        return None  # the model does not take 28x28 digits
