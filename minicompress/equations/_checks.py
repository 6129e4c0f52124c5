"""Input checks shared by the as-written equations.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind,
wrong value) with a message that says what was given and what is allowed.
"""

from __future__ import annotations

import numbers

import numpy as np

from minicompress.engine._checks import check_number
from minicompress.errors import InputError, InputTypeError

MAX_BITS = 64


def as_real_array(x, name: str = "w") -> np.ndarray:
    """Return ``x`` as a finite real ndarray.

    float32 and float64 are kept; float16 becomes float32 (2^(b-1) overflows float16
    for b > 16); integer and bool input becomes float64. An engine ``Tensor`` is read
    through its ``.data``.

    Raises
    ------
    TypeError
        For complex, object, string or other non-numeric input.
    ValueError
        For NaN or infinite entries.
    """
    if hasattr(x, "data") and hasattr(x, "requires_grad") and not isinstance(x, np.ndarray):
        x = x.data  # an engine Tensor: the as-written equations act on its values
    try:
        arr = np.asarray(x)
    except Exception as err:  # ragged lists and the like
        raise InputTypeError(f"{name} must be a real-valued array, got {type(x).__name__}: {err}") from err
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype.kind != "f":
        raise InputTypeError(
            f"{name} must be a real-valued array (float, int or bool), got dtype {arr.dtype}"
        )
    if arr.size and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise InputError(f"{name} contains {bad} NaN or infinite value(s); only finite values are allowed")
    return arr


def check_bits(bits) -> int:
    """Bit width ``b``: an integer (not a bool) in ``[1, MAX_BITS]``."""
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, numbers.Integral):
        raise InputTypeError(
            f"bits must be an integer in [1, {MAX_BITS}], got {bits!r} of type {type(bits).__name__}"
        )
    bits = int(bits)
    if not 1 <= bits <= MAX_BITS:
        raise InputError(f"bits must be an integer in [1, {MAX_BITS}], got {bits}")
    return bits


def check_probability(value, name: str) -> float:
    """A probability or ratio: a finite real number in ``[0, 1]``."""
    return check_number(value, name, low=0.0, high=1.0)
