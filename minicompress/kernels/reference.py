"""Plain NumPy oracles for every kernel: slow, obviously correct, the definition tests check.

Each Numba kernel in this package must agree with its oracle here bit for bit.
The integer oracles compute in int64 (no overflow possible at any K a test uses), then
requantize in float64 with the same rounding rule as the kernels (``np.rint``: round half
to even), so "bit-exact" means the very same integers.
"""

import numpy as np

_QRANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


def quantize_reference(x, scale, zero_point, out_dtype=np.uint8):
    """``clip(rint(float64(x) / scale) + zero_point, qmin, qmax)`` (round half to even)."""
    lo, hi = _QRANGE[np.dtype(out_dtype)]
    q = np.rint(x.astype(np.float64) / scale) + zero_point
    return np.clip(q, lo, hi).astype(out_dtype)


def gemm_reference(a, b, a_zero_point=0, b_zero_point=0):
    """``(a - a_zp) @ (b - b_zp)`` in exact int64, returned as int32.

    Parameters
    ----------
    a : ndarray, shape (M, K), int8 or uint8
    b : ndarray, shape (K, N), int8
    a_zero_point, b_zero_point : int

    Returns
    -------
    ndarray, shape (M, N), int32
        ``C[i, j] = sum_k (a[i, k] - a_zp) * (b[k, j] - b_zp)``.
    """
    c = (a.astype(np.int64) - a_zero_point) @ (b.astype(np.int64) - b_zero_point)
    assert np.all(np.abs(c) < 2**31), "oracle result does not fit int32"
    return c.astype(np.int32)


def requantize_reference(acc, scale, zero_point, out_dtype, bias=None, relu=False):
    """Requantize an int32 accumulator: ``clip(rint((acc + bias) * scale) + zp)``.

    Parameters
    ----------
    acc : ndarray, shape (M, N), integer
    scale : float or ndarray, shape (N,)
        Combined multiplier ``s_in * s_w[j] / s_out`` (per column for per-channel weights).
    zero_point : int
        Output zero point (must be 0 for a float32 output).
    out_dtype : int8, uint8 or float32
    bias : ndarray, shape (N,), int32, optional
    relu : bool
        Clamp below at the zero point (real value 0).

    Returns
    -------
    ndarray, shape (M, N), out_dtype
        For float32 out: ``float32((acc + bias) * scale)`` (a dequantized result, e.g. logits).
    """
    v = acc.astype(np.int64)
    if bias is not None:
        v = v + bias.astype(np.int64)[None, :]
    y = v.astype(np.float64) * np.asarray(scale, dtype=np.float64)
    out_dtype = np.dtype(out_dtype)
    if out_dtype == np.float32:
        if relu:
            y = np.maximum(y, 0.0)
        return y.astype(np.float32)
    lo, hi = _QRANGE[out_dtype]
    q = np.rint(y) + zero_point
    if relu:
        q = np.maximum(q, zero_point)
    return np.clip(q, lo, hi).astype(out_dtype)


def qlinear_reference(x_q, w_q, bias=None, x_zero_point=0, scale=1.0, out_zero_point=0,
                      out_dtype=np.int8, relu=False, w_zero_point=0):
    """Quantized linear ``y_q = requant((x_q - x_zp) @ (w_q - w_zp) + bias)``; w_q is (K, N)."""
    acc = gemm_reference(x_q, w_q, x_zero_point, w_zero_point)
    return requantize_reference(acc, scale, out_zero_point, out_dtype, bias, relu)


def to_csr_reference(dense):
    """CSR of a 2-D array by a Python loop over rows: ``(indptr, indices, values)``."""
    indptr, indices, values = [0], [], []
    for row in dense:
        nz = np.flatnonzero(row)
        indices.extend(nz.tolist())
        values.extend(row[nz].tolist())
        indptr.append(len(indices))
    return (np.array(indptr, dtype=np.int64), np.array(indices, dtype=np.int64),
            np.array(values, dtype=dense.dtype))


def csr_matmul_reference(indptr, indices, values, dense, bias=None, relu=False):
    """``A @ dense (+ bias[:, None], ReLU)`` with A in CSR, in the kernel's summation order.

    Float addition is not associative, so "bit-exact" needs the same order of additions as
    the kernel: for N > 1 the nonzeros of a row are added one after another in storage order;
    for N == 1 the nonzero at offset o of its row goes to partial sum o % 16 (16 SIMD lanes)
    and the 16 sums are added pairwise, adjacent ones first. A BLAS product of the densified
    matrix would differ in the last bits. The bias is added after the sum, the ReLU last.
    """
    m = indptr.shape[0] - 1
    n = dense.shape[1]
    out = np.zeros((m, n), dtype=dense.dtype)
    for r in range(m):
        lo, hi = indptr[r], indptr[r + 1]
        if n == 1:
            parts = [dense.dtype.type(0)] * 16
            for p in range(lo, hi):
                parts[(p - lo) % 16] += values[p] * dense[indices[p], 0]
            while len(parts) > 1:
                parts = [parts[i] + parts[i + 1] for i in range(0, len(parts), 2)]
            out[r, 0] = parts[0]
        else:
            for p in range(lo, hi):
                out[r] += values[p] * dense[indices[p]]
    if bias is not None:
        out += bias[:, None]
    if relu:
        out = np.maximum(out, 0)
    return out


def im2col_reference(x, kernel_size, stride=1, padding=0, pad_value=0):
    """im2col by slicing: rows are output positions, columns ``(c, ki, kj)``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size, stride, padding : int or (int, int)
    pad_value : scalar
        Value of the padded border (the input zero point for quantized activations).

    Returns
    -------
    ndarray, shape (N * OH * OW, C * KH * KW), dtype of x
        Row ``(n, oh, ow)``; column ``c * KH * KW + ki * KW + kj`` holds
        ``x_pad[n, c, oh * SH + ki, ow * SW + kj]``, with
        ``OH = (H + 2 PH - KH) // SH + 1`` and likewise OW.
    """
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    n, c, h, w = x.shape
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), pad_value, dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    cols = np.empty((n, oh, ow, c, kh, kw), dtype=x.dtype)
    for ki in range(kh):
        for kj in range(kw):
            patch = xp[:, :, ki:ki + sh * (oh - 1) + 1:sh, kj:kj + sw * (ow - 1) + 1:sw]
            cols[:, :, :, :, ki, kj] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, c * kh * kw)


def _pair(v):
    return (v, v) if np.isscalar(v) else tuple(v)
