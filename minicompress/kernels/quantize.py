"""Quantize float activations to int8/uint8 in one parallel pass: the entry to an integer model.

``q = clip(rint(x / scale) + zero_point, qmin, qmax)`` with the division done in float64 and
``np.rint`` (round half to even), the same rule as :func:`~minicompress.kernels.requantize`.
NumPy needs five passes over the array for this (divide, rint, add, clip, astype); at batch 256
of MNIST those passes cost about as much as the whole int8 GEMM that follows.
"""

import numpy as np
from numba import njit, prange

from minicompress.errors import InputError, InputTypeError

from ._checks import zero_point as _check_zero_point

_QRANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


@njit(cache=True)
def _quantize_range(x, i_lo, i_hi, scale, zp, lo, hi, out):
    """out[i_lo:i_hi]; returns the number of NaNs seen (their outputs are unspecified)."""
    bad = 0
    for i in range(i_lo, i_hi):
        q = np.rint(np.float64(x[i]) / scale) + zp
        bad += q != q
        q = min(max(q, lo), hi)
        # out is uint8 for both dtypes (one compiled kernel); int64 -> uint8 keeps the low
        # byte, the two's complement of an int8 result, and the caller views it as int8
        out[i] = np.int64(q) if q == q else np.int64(lo)
    return bad


@njit(cache=True, parallel=True)
def _quantize(x, scale, zp, lo, hi, out):
    n = x.shape[0]
    chunk = 4096  # contiguous chunks per task: vectorizable inner loop, few scheduler rounds
    n_chunks = (n + chunk - 1) // chunk
    nans = np.zeros(n_chunks, dtype=np.int64)
    for c in prange(n_chunks):
        nans[c] = _quantize_range(x, c * chunk, min(n, (c + 1) * chunk), scale, zp, lo, hi, out)
    return nans.sum()


#: below this many elements the calling thread does it alone (waking threads costs more)
SERIAL_MAX = 1 << 14


def quantize(x, scale, zero_point, out_dtype=np.uint8):
    """Affine quantization of a float array (per-tensor scale).

    Parameters
    ----------
    x : ndarray, float32 or float64, any shape
        Copied to C order if strided.
    scale : float > 0
    zero_point : int in the range of ``out_dtype``
    out_dtype : {np.uint8, np.int8}

    Returns
    -------
    ndarray, same shape as x, out_dtype
        ``clip(rint(x / scale) + zero_point, qmin, qmax)``; +-inf saturate, NaN raises.
    """
    if not isinstance(x, np.ndarray):
        raise InputTypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise InputTypeError(f"x must have dtype float32 or float64; got {x.dtype.name}")
    try:
        dt = np.dtype(out_dtype)
    except TypeError as e:
        raise InputTypeError(f"out_dtype must be int8 or uint8; got {out_dtype!r}") from e
    if dt not in _QRANGE:
        raise InputTypeError(f"out_dtype must be int8 or uint8; got {dt.name}")
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise InputTypeError(f"scale must be a real number > 0; got {scale!r}")
    scale = float(scale)
    if not np.isfinite(scale) or scale <= 0:
        raise InputError(f"scale must be finite and > 0; got {scale}")
    zp = _check_zero_point(zero_point, dt, "zero_point")
    lo, hi = _QRANGE[dt]
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.shape[0], dtype=np.uint8)
    if flat.shape[0] < SERIAL_MAX:
        nans = _quantize_range(flat, 0, flat.shape[0], scale, zp, lo, hi, out)
    else:
        nans = _quantize(flat, scale, zp, lo, hi, out)
    if nans:
        raise InputError("x contains NaN, which has no quantized value")
    return out.view(dt).reshape(x.shape)


__all__ = ["quantize"]
