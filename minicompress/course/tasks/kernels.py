"""Kernel tasks: the integer GEMMs, requantization, CSR storage and product, im2col.

The references are ``minicompress.kernels``' own Numba kernels (which agree bit for bit with
their NumPy oracles); a learner writes the plain NumPy version.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from minicompress import kernels
from minicompress.course.task import Example, Variant
from minicompress.course.tasks._common import round_half_away, task_registrar
from minicompress.course.tasks._draw import grid_arrays, int_arrays

CHAPTER = "kernels"


_task = task_registrar(CHAPTER)


DIMS = st.integers(1, 6)


@st.composite
def _int8_pair(draw, a_unsigned=False):
    m, k, n = draw(DIMS), draw(DIMS), draw(DIMS)
    extreme = draw(st.booleans())  # all-extreme operands: where narrow accumulators overflow
    lo, hi = (0, 255) if a_unsigned else (-128, 127)
    if extreme:
        a = draw(int_arrays((m, k), 0, 1)) * (hi - lo) + lo
        b = draw(int_arrays((k, n), 0, 1)) * 255 - 128
    else:
        a, b = draw(int_arrays((m, k), lo, hi)), draw(int_arrays((k, n), -128, 127))
    return a.astype(np.uint8 if a_unsigned else np.int8), b.astype(np.int8)


# ------------------------------------------------------------------ int8 GEMM


_task(
    "gemm_s8s8s32", "gemm_s8s8s32(a, b)",
    """int8 x int8 -> int32 matrix product: ``C = a @ b``, exact.

    Widen before multiplying (``a.astype(np.int32) @ b.astype(np.int32)``): an int8 product of
    -128 * -128 = 16384 does not fit int8, and a sum of two does not fit int16.

    Parameters
    ----------
    a : ndarray of int8, shape (M, K)
    b : ndarray of int8, shape (K, N)

    Returns
    -------
    ndarray of int32, shape (M, N)
    """,
    lambda a, b: kernels.gemm_s8s8s32(a, b),
    _int8_pair().map(lambda ab: {"a": ab[0], "b": ab[1]}),
    [Example({"a": np.array([[-128, 127], [1, -1]], dtype=np.int8),
              "b": np.array([[-128], [-128]], dtype=np.int8)}, np.array([[128], [0]], dtype=np.int32),
             "16384 - 16256 = 128; -128 + 128 = 0")],
    [Variant("int8_accumulator", lambda a, b: (a @ b).astype(np.int32),
             "you multiply and sum in int8, which wraps around; widen to int32 first (a.astype(np.int32))"),
     Variant("int16_accumulator", lambda a, b: (a.astype(np.int16) @ b.astype(np.int16)).astype(np.int32),
             "you accumulate in int16, which overflows (-128 * -128 * 2 = 32768); accumulate in int32")],
)


def _u8_inputs():
    @st.composite
    def draw(d):
        a, b = d(_int8_pair(a_unsigned=True))
        return {"a": a, "b": b, "a_zero_point": d(st.integers(0, 255)), "b_zero_point": d(st.integers(-128, 127))}
    return draw()


def _u8_variant(how):
    def fn(a, b, a_zero_point, b_zero_point=0):
        if how == "ignores_zero_points":
            return (a.astype(np.int64) @ b.astype(np.int64)).astype(np.int32)
        if how == "uint8_subtraction":
            return ((a - np.uint8(a_zero_point)).astype(np.int64) @ (b.astype(np.int64) - b_zero_point)).astype(
                np.int32)
        if how == "adds_zero_points":
            return ((a.astype(np.int64) + a_zero_point) @ (b.astype(np.int64) + b_zero_point)).astype(np.int32)
        raise AssertionError(how)
    return fn


_task(
    "gemm_u8s8s32", "gemm_u8s8s32(a, b, a_zero_point, b_zero_point=0)",
    """Quantized GEMM with zero points: ``C = (a - a_zp) @ (b - b_zp)``, exact in int32.

    Parameters
    ----------
    a : ndarray of uint8, shape (M, K) (activations)
    b : ndarray of int8, shape (K, N) (weights)
    a_zero_point : int in [0, 255];  b_zero_point : int in [-128, 127]

    Returns
    -------
    ndarray of int32, shape (M, N). Subtract the zero points in a wide type: ``uint8(3) - 5``
    wraps to 254.
    """,
    lambda a, b, a_zero_point, b_zero_point=0: kernels.gemm_u8s8s32(a, b, a_zero_point, b_zero_point),
    _u8_inputs(),
    [Example({"a": np.array([[3, 200]], dtype=np.uint8), "b": np.array([[2], [-1]], dtype=np.int8),
              "a_zero_point": 5, "b_zero_point": 1}, np.array([[-392]], dtype=np.int32),
             "(3 - 5)(2 - 1) + (200 - 5)(-1 - 1) = -2 - 390")],
    [Variant("ignores_zero_points", _u8_variant("ignores_zero_points"),
             "you ignore the zero points; the product is (a - a_zp) @ (b - b_zp)"),
     Variant("uint8_subtraction", _u8_variant("uint8_subtraction"),
             "you subtract the zero point in uint8, which wraps around below 0; widen a first"),
     Variant("adds_zero_points", _u8_variant("adds_zero_points"), "you add the zero points; subtract them")],
)

# ------------------------------------------------------------------ requantization


def _rq_variant(how):
    def fn(acc, scale, zero_point, out_dtype, bias=None, relu=False):
        v = acc.astype(np.int64) + (0 if bias is None else bias.astype(np.int64)[None, :])
        s = np.asarray(scale, dtype=np.float64)
        if how == "bias_after_scale":
            y = np.rint(acc.astype(np.int64) * s + (0 if bias is None else bias[None, :])) + zero_point
        else:
            y = (round_half_away if how == "half_away" else np.rint)(v * s) + zero_point
        lo, hi = (-128, 127) if np.dtype(out_dtype) == np.int8 else (0, 255)
        if relu:
            y = np.maximum(y, 0 if how == "relu_at_zero" else zero_point)
        if how == "no_saturation":
            return y.astype(np.int64).astype(out_dtype)
        return np.clip(y, lo, hi).astype(out_dtype)
    return fn


@st.composite
def _rq_inputs(draw):
    m, n = draw(DIMS), draw(DIMS)
    out_dtype = draw(st.sampled_from([np.int8, np.uint8]))
    # even zero points: adding Z before or after rounding half to even then agrees (both orders are in use)
    zp = 2 * draw(st.integers(-64, 63) if out_dtype is np.int8 else st.integers(0, 127))
    scale = draw(st.one_of(st.integers(-8, 0).map(lambda k: 2.0**k),
                           st.lists(st.integers(-8, 0).map(lambda k: 2.0**k), min_size=n, max_size=n).map(np.array)))
    bias = draw(st.one_of(st.none(), int_arrays((n,), -2000, 2000, np.int32)))
    return {"acc": draw(int_arrays((m, n), -40000, 40000, np.int32)), "scale": scale, "zero_point": zp,
            "out_dtype": out_dtype, "bias": bias, "relu": draw(st.booleans())}


_task(
    "requantize", "requantize(acc, scale, zero_point, out_dtype, bias=None, relu=False)",
    """Requantize an int32 accumulator to int8 / uint8: ``q = clip(rint((acc + bias) * scale) + zero_point)``.

    float64 math; ``rint`` rounds half to even; ``bias`` (int32, per output column) is added
    BEFORE scaling (it is in accumulator units); ``scale`` is a scalar or one per column;
    ``relu`` clamps below at ``zero_point`` (the integer that means 0.0); the result saturates
    to [-128, 127] (int8) or [0, 255] (uint8). (The generated zero points are even, so adding
    the zero point before rounding, as some kernels do, gives the same result.)

    Parameters
    ----------
    acc : ndarray of int32, shape (M, N)
    scale : float or ndarray (N,), > 0 (``s_in * s_w / s_out``)
    zero_point : int (in the output type's range)
    out_dtype : ``np.int8`` or ``np.uint8``
    bias : ndarray of int32, shape (N,), or None
    relu : bool

    Returns
    -------
    ndarray of ``out_dtype``, shape (M, N)
    """,
    lambda acc, scale, zero_point, out_dtype, bias=None, relu=False: kernels.requantize(
        acc, scale, zero_point, out_dtype, bias, relu),
    _rq_inputs(),
    [Example({"acc": np.array([[5, 7, -300, 1000]], dtype=np.int32), "scale": 0.5, "zero_point": 10,
              "out_dtype": np.int8, "bias": np.array([0, 0, 0, 0], dtype=np.int32), "relu": True},
             np.array([[12, 14, 10, 127]], dtype=np.int8),
             "2.5 -> 2, 3.5 -> 4 (half to even) + 10; -150 + 10 clamped at the zero point 10; 510 saturates")],
    [Variant("half_away", _rq_variant("half_away"),
             "your result rounds half away from zero; this task rounds half to even (np.rint), like the kernels"),
     Variant("no_saturation", _rq_variant("no_saturation"),
             "you do not saturate: values beyond the output type's range must clip to [-128, 127] / [0, 255], "
             "not wrap around"),
     Variant("relu_at_zero", _rq_variant("relu_at_zero"),
             "your ReLU clamps at the integer 0; in the quantized domain the real 0.0 is the zero point, so "
             "clamp at zero_point"),
     Variant("bias_after_scale", _rq_variant("bias_after_scale"),
             "you add the bias after scaling; it is in accumulator units and is added before: (acc + bias) * scale")],
)

# ------------------------------------------------------------------ CSR


def _csr_variant(how):
    def fn(dense):
        d = dense.T if how == "csc" else dense
        rows, cols = np.nonzero(d)
        indptr = np.zeros(d.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=d.shape[0]), out=indptr[1:])
        if how == "no_leading_zero":
            indptr = indptr[1:]
        return indptr, cols.astype(np.int64), d[rows, cols]
    return fn


def _sparse(shape):
    return st.lists(st.sampled_from([0.0] * 5 + [-1.5, -0.25, 0.5, 2.0, 3.0]), min_size=shape[0] * shape[1],
                    max_size=shape[0] * shape[1]).map(lambda v: np.array(v).reshape(shape))


_task(
    "to_csr", "to_csr(dense)",
    """Compressed sparse row (CSR) form of a 2-D array.

    Returns
    -------
    indptr : ndarray of int, shape (M + 1,), ``indptr[0] = 0``; row r's nonzeros are
        ``indptr[r]:indptr[r + 1]``
    indices : ndarray of int, shape (nnz,): the column of each nonzero, increasing within a row
    values : ndarray, shape (nnz,): the nonzeros in row-major order (dtype of ``dense``)
    """,
    lambda dense: kernels.to_csr(dense),
    st.tuples(DIMS, DIMS).flatmap(_sparse).map(lambda d: {"dense": d}),
    [Example({"dense": np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 3.0]])},
             (np.array([0, 1, 1, 3]), np.array([1, 0, 2]), np.array([2.0, 1.0, 3.0])), "an empty middle row")],
    [Variant("csc", _csr_variant("csc"),
             "you stored columns (CSC: indptr over columns, indices are rows); CSR's indptr runs over rows and "
             "indices are columns"),
     Variant("no_leading_zero", _csr_variant("no_leading_zero"),
             "your indptr lacks its leading 0: it has M + 1 entries, indptr[0] = 0 and indptr[M] = nnz")],
)


def _csr_matmul_variant(how):
    def fn(indptr, indices, values, dense):
        m = indptr.size - 1
        out = np.zeros((m, dense.shape[1]))
        if how == "csc":  # indptr read as columns, indices as rows
            for c in range(min(m, dense.shape[0])):
                for p in range(indptr[c], indptr[c + 1]):
                    if indices[p] < m:
                        out[indices[p]] += values[p] * dense[c]
            return out
        for r in range(m):
            for p in range(indptr[r], indptr[r + 1]):
                out[r] += values[p] * dense[indices[p]]
        return np.maximum(out, 0) if how == "relu" else out
    return fn


@st.composite
def _csr_mm_inputs(draw):
    m, k, n = draw(DIMS), draw(DIMS), draw(DIMS)
    a = draw(_sparse((m, k)))
    indptr, indices, values = kernels.to_csr(a)
    return {"indptr": indptr, "indices": indices, "values": values,
            "dense": draw(grid_arrays((k, n), lo=-16, hi=16, step=0.25))}


_task(
    "csr_matmul", "csr_matmul(indptr, indices, values, dense)",
    """``A @ dense`` with A (M, K) given in CSR form (``indptr`` (M + 1,), ``indices``, ``values``).

    ``out[r] = sum over p in indptr[r]:indptr[r+1] of values[p] * dense[indices[p]]``; only the
    nonzeros are visited (M = len(indptr) - 1).

    Returns
    -------
    ndarray of float, shape (M, N)
    """,
    lambda indptr, indices, values, dense: kernels.csr_matmul(indptr, indices, values, dense),
    _csr_mm_inputs(),
    [Example({"indptr": np.array([0, 1, 1, 3]), "indices": np.array([1, 0, 2], dtype=np.int32),
              "values": np.array([2.0, 1.0, 3.0]), "dense": np.array([[1.0], [10.0], [100.0]])},
             np.array([[20.0], [0.0], [301.0]]), "row 0: 2 * 10; row 1 empty; row 2: 1 * 1 + 3 * 100")],
    [Variant("csc", _csr_matmul_variant("csc"),
             "you read indptr as running over columns and indices as rows (CSC); in CSR indptr runs over rows "
             "and indices are columns"),
     Variant("relu", _csr_matmul_variant("relu"),
             "you apply a ReLU; this task is the plain product A @ dense")],
)

# ------------------------------------------------------------------ im2col


def _im2col_variant(how):
    def fn(x, kernel_size, stride=1, padding=0, pad_value=0):
        pv = 0 if how == "pads_with_zero" else pad_value
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), constant_values=pv)
        n, c, h, w = xp.shape
        k = kernel_size
        oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
        cols = np.empty((n, oh, ow, c, k, k), dtype=x.dtype)
        for i in range(oh):
            for j in range(ow):
                cols[:, i, j] = xp[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
        if how == "channels_last":
            cols = cols.transpose(0, 1, 2, 4, 5, 3)
        out = cols.reshape(n * oh * ow, c * k * k)
        return out.T.copy() if how == "transposed" else out
    return fn


@st.composite
def _im2col_inputs(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    k, s, p = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 2))
    h, w = draw(st.integers(max(k - 2 * p, 1), 5)), draw(st.integers(max(k - 2 * p, 1), 5))
    return {"x": draw(grid_arrays((n, c, h, w), lo=-16, hi=16, step=0.5)), "kernel_size": k, "stride": s,
            "padding": p, "pad_value": draw(st.sampled_from([0.0, 0.0, -1.0, 3.5]))}


_task(
    "im2col", "im2col(x, kernel_size, stride=1, padding=0, pad_value=0)",
    """Unfold NCHW patches into rows so that a convolution becomes one matrix product.

    ``x`` (N, C, H, W) is padded by ``padding`` on every side with ``pad_value`` (the input's zero
    point for quantized activations); ``OH = (H + 2 padding - k) // stride + 1`` (same for OW).
    Row ``(n, oh, ow)`` (in that order) holds the patch; column ``c * k * k + ki * k + kj``
    holds ``x_pad[n, c, oh * stride + ki, ow * stride + kj]``: channel-major (c, ki, kj) order,
    which matches ``weight.reshape(C_out, -1)``.

    Returns
    -------
    ndarray, shape (N * OH * OW, C * k * k), dtype of ``x``
    """,
    lambda x, kernel_size, stride=1, padding=0, pad_value=0: kernels.im2col(x, kernel_size, stride, padding,
                                                                            pad_value),
    _im2col_inputs(),
    [Example({"x": np.arange(8.0).reshape(1, 2, 2, 2), "kernel_size": 2, "stride": 1, "padding": 0, "pad_value": 0},
             np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]]), "one patch: channel 0's 2x2, then channel 1's"),
     Example({"x": np.array([[[[1.0, 2.0]]]]), "kernel_size": 2, "stride": 1, "padding": 1, "pad_value": 9.0},
             np.array([[9.0, 9.0, 9.0, 1.0], [9.0, 9.0, 1.0, 2.0], [9.0, 9.0, 2.0, 9.0],
                       [9.0, 1.0, 9.0, 9.0], [1.0, 2.0, 9.0, 9.0], [2.0, 9.0, 9.0, 9.0]]),
             "padded 3x4 with 9s: OH = 2, OW = 3")],
    [Variant("channels_last", _im2col_variant("channels_last"),
             "your columns are in (ki, kj, c) order (channels last); this task's are (c, ki, kj), matching "
             "weight.reshape(C_out, -1)"),
     Variant("transposed", _im2col_variant("transposed"),
             "you return (C*k*k, N*OH*OW) (Caffe's layout); this task's rows are the output positions"),
     Variant("pads_with_zero", _im2col_variant("pads_with_zero"),
             "you pad with 0; pad with pad_value (the zero point of quantized activations)")],
)

__all__ = ["CHAPTER"]
