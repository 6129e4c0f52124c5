"""The library's one error type for bad user input (layer 0: imports nothing).

Every check of an argument, an array or a file that a user gave raises :class:`InputError`
(a ``ValueError``) or :class:`InputTypeError` (both a ``TypeError`` and an ``InputError``),
with a message saying what was wrong and what is allowed. ``except ValueError`` and
``except TypeError`` still catch them, as they would in NumPy or PyTorch code; the command
line turns exactly these (and file-system errors) into one line and exit code 2, so that any
other exception is a bug in minicompress and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["InputError", "InputTypeError"]


class InputError(ValueError):
    """A value the user gave is not allowed: the message says what was wrong and what is."""


class InputTypeError(InputError, TypeError):
    """An argument the user gave has the wrong type (a ``TypeError`` and an :class:`InputError`)."""
