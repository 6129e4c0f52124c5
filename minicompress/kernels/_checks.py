"""Input checks shared by the kernels: dtypes, shapes, contiguity; messages say what is allowed.

Every public kernel calls these before entering Numba, so a wrong dtype raises a readable
``TypeError`` here instead of a Numba typing error deep inside the compiler, and a
non-contiguous array is copied once (``np.ascontiguousarray``) rather than walked with strides.
"""

import numpy as np

from minicompress.errors import InputError, InputTypeError

#: Largest reduction length K for which every integer kernel is exact in int32.
#: Worst case is the zero-point-corrected uint8 x int8 sum: |a - a_zp| <= 255 and
#: |b - b_zp| <= 255, so |sum| <= 255 * 255 * K = 65025 * 32768 = 2_130_739_200 < 2**31 - 1.
#: (int8 x int8 alone would allow K up to 2**31 / 128**2 = 131072.)
MAX_K = 32768


def as_nd(x, name, dtypes, ndim, axes):
    """Return ``x`` as a C-contiguous ``ndim``-D array of one of ``dtypes`` (copied only if
    strided); ``axes`` names the dimensions in the message, e.g. ``"(N, C, H, W)"``."""
    if not isinstance(x, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in dtypes:
        allowed = ", ".join(np.dtype(d).name for d in dtypes)
        raise InputTypeError(f"{name} must have dtype {allowed}; got {x.dtype.name}")
    if x.ndim != ndim:
        raise InputError(f"{name} must be {ndim}-D {axes}; got shape {x.shape}")
    return np.ascontiguousarray(x)


def as_2d(x, name, dtypes):
    """Return ``x`` as a C-contiguous 2-D array of one of ``dtypes`` (copied only if strided)."""
    if not isinstance(x, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in dtypes:
        allowed = ", ".join(np.dtype(d).name for d in dtypes)
        raise InputTypeError(f"{name} must have dtype {allowed}; got {x.dtype.name}")
    if x.ndim != 2:
        raise InputError(f"{name} must be 2-D (rows, cols); got shape {x.shape}")
    return np.ascontiguousarray(x)


def as_1d(x, name, dtypes, length=None):
    """Return ``x`` as a C-contiguous 1-D array of one of ``dtypes`` (of ``length`` if given)."""
    if not isinstance(x, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in dtypes:
        allowed = ", ".join(np.dtype(d).name for d in dtypes)
        raise InputTypeError(f"{name} must have dtype {allowed}; got {x.dtype.name}")
    if x.ndim != 1:
        raise InputError(f"{name} must be 1-D; got shape {x.shape}")
    if length is not None and x.shape[0] != length:
        raise InputError(f"{name} must have length {length}; got {x.shape[0]}")
    return np.ascontiguousarray(x)


def check_k(k):
    if k > MAX_K:
        raise InputError(
            f"reduction length K={k} exceeds MAX_K={MAX_K}, beyond which int32 accumulation "
            "could overflow; split K and add the int32 partial sums in int64"
        )


_RANGES = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


def zero_point(zp, dtype, name):
    """Check an integer zero point lies in the range of ``dtype`` and return it as a Python int."""
    if isinstance(zp, (bool, np.bool_)) or not isinstance(zp, (int, np.integer)):
        raise InputTypeError(f"{name} must be an integer, got {type(zp).__name__}")
    lo, hi = _RANGES.get(dtype) or _RANGES[np.dtype(dtype)]
    if lo <= zp <= hi:
        return int(zp)
    info = np.iinfo(dtype)
    if not info.min <= int(zp) <= info.max:
        raise InputError(
            f"{name}={zp} must lie in [{info.min}, {info.max}] for {np.dtype(dtype).name}"
        )
    return int(zp)


def scale_vector(scale, n):
    """Return the requantization scale as a float64 vector of length ``n`` (scalar broadcast)."""
    s = np.asarray(scale, dtype=np.float64)
    if s.ndim == 0:
        s = np.full(n, float(s), dtype=np.float64)
    elif s.ndim != 1 or s.shape[0] != n:
        raise InputError(
            f"scale must be a scalar or have shape ({n},) (one per output column); got {s.shape}"
        )
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise InputError("scale must be finite and > 0")
    return np.ascontiguousarray(s)


def pair(v, name, minimum):
    """``(int, int)`` from an int or a pair of ints, each >= ``minimum``."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        v = (int(v), int(v))
    elif isinstance(v, (tuple, list)) and len(v) == 2 and all(
        isinstance(e, (int, np.integer)) and not isinstance(e, (bool, np.bool_)) for e in v
    ):
        v = (int(v[0]), int(v[1]))
    else:
        raise InputTypeError(f"{name} must be an int or a pair of ints; got {v!r}")
    if min(v) < minimum:
        raise InputError(f"{name} must be >= {minimum}; got {v}")
    return v
