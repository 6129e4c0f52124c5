"""E1, threshold clipping, exactly as doc 001 writes it.

Source: doc 001 §3.1.3 (``docs/documents.md#e1-threshold-clipping``; the document calls it 权重裁剪,
"weight clipping"). Every weight whose magnitude exceeds the threshold becomes one
"specific value" t, whatever its sign; the practice (``np.clip`` to ±T, or magnitude
thresholding to zero) is shown next to it in ``tutorials/03_threshold_clipping.py``.
"""

from __future__ import annotations

import numpy as np

from minicompress.engine._checks import check_number
from minicompress.equations._checks import as_real_array
from minicompress.errors import InputError


def threshold_clip(w, T, t):
    """E1: replace every weight with ``|w| > T`` by the one value ``t``.

    .. math:: \\tilde w_{ij} = \\begin{cases} t & |w_{ij}| > T \\\\
              w_{ij} & \\text{otherwise} \\end{cases}

    (doc 001 §3.1.3). Note what "as written" means: a weight
    of +3 and one of -3 both become ``t``; the sign is lost.

    Choices the document leaves open, made here:

    * the comparison ``|w| > T`` is made on the exact real values (in float64, which
      holds every float32 exactly), so ``T = 0.1`` is the decimal 0.1 rounded to
      float64, not to the weights' dtype;
    * ``t`` is stored in the weights' dtype, so "exactly t" means ``w.dtype.type(t)``;
    * ``T`` must be ``>= 0`` (a negative threshold would replace every weight).

    Parameters
    ----------
    w : array_like, any shape
        Finite weights; float32/float64 keep their dtype, integers become float64.
    T : float
        Threshold, finite, ``T >= 0``.
    t : float
        The specific value, finite and representable in ``w``'s dtype.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``w`` (a new array).

    Raises
    ------
    TypeError, ValueError
        Non-real or non-finite input, ``T < 0``, or ``t`` overflowing the dtype.
    """
    arr = as_real_array(w, "w")
    T = check_number(T, "T", low=0.0)
    t = check_number(t, "t")
    with np.errstate(over="ignore"):
        t_cast = arr.dtype.type(t)
    if not np.isfinite(t_cast):
        raise InputError(f"t={t} overflows the weights' dtype {arr.dtype}; use a smaller value")
    large = np.abs(arr.astype(np.float64)) > T
    return np.where(large, t_cast, arr).astype(arr.dtype, copy=False)
