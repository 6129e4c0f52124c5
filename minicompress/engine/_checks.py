"""Checks of scalar arguments (rates, probabilities, sizes) where they enter the library.

Each returns the value as a Python number or raises ``InputError``/``InputTypeError``
naming the argument and the allowed range, so that a NaN learning rate is refused at
``Adam(lr=nan)`` and not found later as a NaN weight (or a crash inside a kernel).
"""

from __future__ import annotations

import math
import numbers

from minicompress.errors import InputError, InputTypeError


def _interval(low, high, low_open, high_open) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    return f"{left}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{right}"


def check_number(value, name: str, *, low=None, high=None, low_open: bool = False,
                 high_open: bool = False) -> float:
    """``value`` as a finite float in the interval from ``low`` to ``high``.

    ``low_open``/``high_open`` exclude the end. ``None`` leaves that side unbounded
    (but the value must still be finite).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(
            f"{name} must be a real number in {_interval(low, high, low_open, high_open)}, "
            f"got {type(value).__name__}"
        )
    v = float(value)
    ok = math.isfinite(v)
    if ok and low is not None:
        ok = v > low if low_open else v >= low
    if ok and high is not None:
        ok = v < high if high_open else v <= high
    if not ok:
        raise InputError(f"{name} must be a finite number in {_interval(low, high, low_open, high_open)}, "
                         f"got {value!r}")
    return v


def check_int(value, name: str, *, low: int | None = None) -> int:
    """``value`` as an int (bools refused) that is at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        wanted = "a positive integer" if low == 1 else "an integer"
        raise InputTypeError(f"{name} must be {wanted}, got {type(value).__name__} {value!r:.40}")
    if low is not None and value < low:
        wanted = "a positive integer" if low == 1 else f"an integer >= {low}"
        raise InputError(f"{name} must be {wanted}, got {value}")
    return int(value)


def check_probability(p, name: str) -> float:
    """``p`` as a float in [0, 1) (a dropout probability)."""
    return check_number(p, name, low=0.0, high=1.0, high_open=True)
