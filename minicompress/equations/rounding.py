"""round(·) as the documents define it: 四舍五入, round half away from zero.

doc 001 §3.2.3 (``docs/documents.md#rounding-half-away-from-zero``) writes round(·) and calls it 四舍五入
("four down, five up"): round(0.5) = 1, round(2.5) = 3, round(-2.5) = -3.
NumPy's ``np.round`` rounds half to *even* (``np.round(0.5) == 0``,
``np.round(2.5) == 2``), so every as-written equation uses :func:`round_half_away`.
"""

from __future__ import annotations

import numpy as np

from minicompress.errors import InputTypeError


def round_half_away(x):
    """Round to the nearest integer, ties away from zero, exactly.

    .. math:: \\operatorname{round}(x) = \\operatorname{sign}(x)\\,\\lfloor |x| + 1/2 \\rfloor

    computed without ever forming ``|x| + 1/2`` (which rounds wrongly in floating
    point: ``0.49999999999999994 + 0.5 == 1.0`` in float64, and above 2^52 adding 0.5
    is not exact). Instead the integer part ``r = trunc(x)`` and the fraction
    ``f = x - r`` are taken; ``x - trunc(x)`` is exact for every binary float, so the
    test ``|f| >= 0.5`` is exact, and ``r ± 1`` is exact because ``|r| < 2^(p-1)``
    whenever ``f != 0`` (p = 24 for float32, 53 for float64).

    Parameters
    ----------
    x : array_like
        Any shape. Float dtypes (float16/32/64) are kept; integer and bool input is
        returned as an integer-valued copy of the same dtype. NaN and ±inf pass
        through unchanged.

    Returns
    -------
    numpy.ndarray or numpy scalar
        Same shape and dtype as ``x`` (a scalar for scalar input).

    Examples
    --------
    >>> round_half_away([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999999999999994])
    array([ 1.,  2.,  3., -1., -3.,  0.])
    """
    arr = np.asarray(x)
    if arr.dtype.kind in "biu":
        out = arr.copy()
    elif arr.dtype.kind == "f":
        with np.errstate(invalid="ignore"):  # inf - trunc(inf) is NaN; the where keeps inf
            whole = np.trunc(arr)
            frac = arr - whole
            out = np.where(np.abs(frac) >= 0.5, whole + np.sign(arr), whole).astype(arr.dtype)
    else:
        raise InputTypeError(f"round_half_away: x must be a real-valued array, got dtype {arr.dtype}")
    return out[()] if out.ndim == 0 else out
