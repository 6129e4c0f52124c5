"""int8 GEMM with int32 accumulation and fused requantization: the public functions.

The pieces, one idea per file:

* :mod:`.packing`: the packed weight layout (``pack_weights``, ``PackedWeights``);
* :mod:`.gemm_tiles`: the zero-point fold, the requantization epilogue, the task split;
* :mod:`.gemm_vnni`: the AVX-512 VNNI path (micro-kernel in :mod:`._vnni`);
* :mod:`.gemm_portable`: the same tiles in plain Numba for other CPUs;
* :func:`~minicompress.kernels.gemm_reference` and friends (:mod:`.reference`): the oracles.

This file validates the arguments and picks the kernel: VNNI when the CPU has it (serial under
``SERIAL_MAX_WORK`` multiply-adds, parallel above), the portable one otherwise.

Measured (``python benchmarks/kernels.py``, 2 threads): GOP/s next to NumPy's float32 sgemm
and PyTorch's fbgemm; see also the tutorial ``tutorials/09_kernels.py``.
"""

import numpy as np
from numba import config

from minicompress.errors import InputError, InputTypeError

from ._checks import MAX_K, as_1d, as_2d, scale_vector, zero_point
from ._vnni import HAS_VNNI
from .gemm_tiles import (
    MODE_FLOAT,
    MODE_INT32,
    MODE_QUANT,
    ROW_BLOCK,
    SERIAL_MAX_WORK,
    _qgemm_par,
    _qgemm_ser,
    _requantize_range,
    _requantize_rows,
)
from .packing import NR, PackedWeights, pack_weights

_FLIP, _NO_FLIP = np.uint8(0x80), np.uint8(0)
_QRANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}
_OUT_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.float32))


def _zp(v, dtype, name):
    return zero_point(v, dtype, name)


_DUMMY = (np.empty((1, 1), np.uint8), np.empty((1, 1), np.int32), np.empty((1, 1), np.float32))


def _outputs(shape, dt):
    """(result array, the (uint8, int32, float32) triple the kernels write into)."""
    if dt == np.int32 or dt == np.float32:
        out = np.empty(shape, dtype=dt)
        if dt == np.int32:
            return out, (_DUMMY[0], out, _DUMMY[2])
        return out, (_DUMMY[0], _DUMMY[1], out)
    raw = np.empty(shape, dtype=np.uint8)
    return raw.view(dt), (raw, _DUMMY[1], _DUMMY[2])


def _schedule(m, n_panels):
    """(row_block, panels_per_task): whole rows of panels per task when there are at least two
    row blocks per thread, else one panel per task so that every thread gets similar work
    (prange hands each thread one contiguous run of tasks)."""
    threads = config.NUMBA_NUM_THREADS  # get_num_threads() costs ~1 us a call
    n_row_blocks = -(-m // ROW_BLOCK)
    return ROW_BLOCK, (n_panels if n_row_blocks >= 2 * threads else 1)


def _activation(a, k, name):
    """Validate an activation; return (C-contiguous uint8 view, flip byte, zero-point offset)."""
    if not isinstance(a, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.int8 and a.dtype != np.uint8:
        raise InputTypeError(f"{name} must have dtype int8 or uint8; got {a.dtype.name}")
    if a.ndim != 2 or a.shape[0] == 0:
        raise InputError(f"{name} must be a non-empty 2-D array (M, K); got shape {a.shape}")
    if a.shape[1] != k:
        raise InputError(f"inner dimensions differ: {name} is (M, {a.shape[1]}) but b is ({k}, N)")
    if a.dtype == np.int8:
        # int8 -> uint8 by flipping the sign bit maps -128..127 to 0..255: it adds 128 exactly
        return np.ascontiguousarray(a).view(np.uint8), _FLIP, 128
    return np.ascontiguousarray(a), _NO_FLIP, 0


def _weights(b, b_zero_point=0):
    if isinstance(b, PackedWeights):
        if b_zero_point not in (0, b.zero_point):
            raise InputError("b_zero_point conflicts with the PackedWeights' own zero_point")
        return b
    return pack_weights(b, b_zero_point)


def _out_dtype(out_dtype):
    try:
        dt = np.dtype(out_dtype)
    except TypeError as e:
        raise InputTypeError(f"out_dtype must be int8, uint8 or float32; got {out_dtype!r}") from e
    if dt not in _OUT_DTYPES:
        raise InputTypeError(f"out_dtype must be int8, uint8 or float32; got {dt.name}")
    return dt


def _scale(scale, n):
    if isinstance(scale, np.ndarray) and scale.ndim == 1:
        if scale.shape[0] != n:
            raise InputError(f"scale must be a scalar or have shape ({n},) (one per output column); "
                             f"got {scale.shape}")
        return np.ascontiguousarray(scale, dtype=np.float64)
    return scale_vector(scale, n)


def _run(a, b, a_zero_point, b_zero_point, bias, scale, out_zero_point, out_dtype, relu, mode,
         use_vnni=None):
    """Validate, then one fused kernel call: the shared body of the public GEMM functions."""
    pw = _weights(b, b_zero_point)
    au8, flip, offset = _activation(a, pw.k, "a")
    za = zero_point(a_zero_point, a.dtype, "a_zero_point") + offset
    n = pw.n
    if bias is None:
        bias = np.zeros(n, dtype=np.int32)
    else:
        bias = as_1d(bias, "bias", (np.dtype(np.int32),), length=n)
    if mode == MODE_INT32:
        dt, zp, lo, hi, s = np.dtype(np.int32), 0, 0, 0, np.ones(n)
    else:
        dt = _out_dtype(out_dtype)
        s = _scale(scale, n)
        if dt == np.float32:
            mode = MODE_FLOAT
            if out_zero_point != 0:
                raise InputError("out_zero_point must be 0 for a float32 (dequantized) output")
            zp, lo, hi = 0, 0, 0
        else:
            zp = zero_point(out_zero_point, dt, "out_zero_point")
            lo, hi = _QRANGE[dt]
            if relu:
                lo = max(lo, zp)  # ReLU in the quantized domain: nothing below real 0
    m = au8.shape[0]
    out, outs = _outputs((m, n), dt)
    row_block, ppt = _schedule(m, pw.npad // NR)
    vnni = HAS_VNNI if use_vnni is None else bool(use_vnni)
    kernel = _qgemm_ser if m * pw.kpad * pw.npad < SERIAL_MAX_WORK else _qgemm_par
    ok = kernel(vnni, au8, flip, pw.data, pw.kpad, pw.col_sums, pw.k, za, pw.zero_point, bias, s, zp,
                lo, hi, bool(relu), mode, outs, row_block, ppt)
    if not ok:
        raise InputError("scale must be finite and > 0")
    return out


def gemm_s8s8s32(a, b):
    """int8 x int8 -> int32 matrix product, exact.

    Parameters
    ----------
    a : ndarray, shape (M, K), int8
    b : ndarray, shape (K, N), int8, or PackedWeights
        ``K <= MAX_K`` (32768) keeps the int32 accumulator exact.

    Returns
    -------
    ndarray, shape (M, N), int32
        ``C[i, j] = sum_k a[i, k] * b[k, j]``.
    """
    if isinstance(a, np.ndarray) and a.dtype != np.int8:
        raise InputTypeError(f"a must have dtype int8 (use gemm_u8s8s32 for uint8); got {a.dtype.name}")
    return _run(a, b, 0, 0, None, None, 0, None, False, MODE_INT32)


def gemm_u8s8s32(a, b, a_zero_point, b_zero_point=0):
    """Affine-activation GEMM: ``(a - a_zp) @ (b - b_zp)`` exactly in int32.

    Parameters
    ----------
    a : ndarray, shape (M, K), uint8 (or int8)
        Quantized activations.
    b : ndarray, shape (K, N), int8, or PackedWeights
    a_zero_point : int
        In the range of ``a``'s dtype.
    b_zero_point : int in [-128, 127]
        Ignored (must be 0 or equal) when ``b`` is PackedWeights, which carries its own.

    Returns
    -------
    ndarray, shape (M, N), int32
        ``C[i, j] = sum_k (a[i, k] - a_zp) * (b[k, j] - b_zp)``, exact for K <= MAX_K.
    """
    return _run(a, b, a_zero_point, b_zero_point, None, None, 0, None, False, MODE_INT32)


def requantize(acc, scale, zero_point, out_dtype, bias=None, relu=False):
    """Requantize an int32 accumulator to int8/uint8 (or dequantize to float32).

    ``q = clip(rint((acc + bias) * scale) + zero_point, qmin, qmax)``, computed in float64 with
    ``np.rint`` (round half to even); ReLU clamps below at ``zero_point`` (real value 0);
    saturates to [-128, 127] (int8) or [0, 255] (uint8). For ``out_dtype=float32`` it returns
    ``float32((acc + bias) * scale)`` and ``zero_point`` must be 0.

    Parameters
    ----------
    acc : ndarray, shape (M, N), int32
    scale : float or ndarray, shape (N,)
        ``s_in * s_w / s_out``; one per output column for per-channel weight scales. > 0.
    zero_point : int
        Output zero point, in range of ``out_dtype``.
    out_dtype : {np.int8, np.uint8, np.float32}
    bias : ndarray, shape (N,), int32, optional
        In accumulator units (``bias_real / (s_in * s_w)``).
    relu : bool

    Returns
    -------
    ndarray, shape (M, N), out_dtype
    """
    acc = as_2d(acc, "acc", (np.dtype(np.int32),))
    n = acc.shape[1]
    dt = _out_dtype(out_dtype)
    s = _scale(scale, n)
    col_term = np.zeros(n, np.int64) if bias is None else as_1d(
        bias, "bias", (np.dtype(np.int32),), length=n).astype(np.int64)
    if not np.all((s > 0) & (s < np.inf)):
        raise InputError("scale must be finite and > 0")
    if dt == np.float32:
        if zero_point != 0:
            raise InputError("zero_point must be 0 for a float32 (dequantized) output")
        mode, zp, lo, hi = MODE_FLOAT, 0, 0, 0
    else:
        mode, zp = MODE_QUANT, _zp(zero_point, dt, "zero_point")
        lo, hi = _QRANGE[dt]
        lo = max(lo, zp) if relu else lo
    out, outs = _outputs(acc.shape, dt)
    if acc.size * 64 < SERIAL_MAX_WORK:  # ~64 multiply-adds' worth of work per element
        _requantize_range(acc, 0, acc.shape[0], col_term, s, zp, lo, hi, bool(relu), mode, outs)
    else:
        _requantize_rows(acc, col_term, s, zp, lo, hi, bool(relu), mode, outs)
    return out


def qlinear(x_q, w, bias=None, x_zero_point=0, scale=1.0, out_zero_point=0, out_dtype=np.int8,
            relu=False):
    """Fused quantized linear layer: GEMM, zero-point correction, bias, requantize, ReLU.

    ``y_q = clip(rint(((x_q - x_zp) @ (w - w_zp) + bias) * scale) + out_zp)``

    Parameters
    ----------
    x_q : ndarray, shape (M, K), uint8 or int8
        Quantized input activations.
    w : PackedWeights (from ``pack_weights(W.T)``) or ndarray, shape (K, N), int8
        Pack once and reuse: an unpacked array is packed on every call.
    bias : ndarray, shape (N,), int32, optional
        ``round(b_real / (s_x * s_w))``.
    x_zero_point : int
        Input zero point (in the range of ``x_q``'s dtype).
    scale : float or ndarray, shape (N,)
        ``s_x * s_w / s_y`` (per output channel if weights are per-channel).
        For float32 output, ``s_x * s_w`` (dequantizes).
    out_zero_point : int
    out_dtype : {np.int8, np.uint8, np.float32}
    relu : bool

    Returns
    -------
    ndarray, shape (M, N), out_dtype
    """
    return _run(x_q, w, x_zero_point, 0, bias, scale, out_zero_point, out_dtype, relu, MODE_QUANT)


__all__ = ["MAX_K", "PackedWeights", "gemm_s8s8s32", "gemm_u8s8s32", "pack_weights", "qlinear",
           "requantize"]
