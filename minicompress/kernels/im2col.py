"""im2col: unfold convolution patches into rows so a convolution becomes one GEMM.

For an input ``x`` of shape (N, C, H, W) and a KH x KW kernel, every output position
``(n, oh, ow)`` becomes one row holding its receptive field in ``(c, ki, kj)`` order:

    cols[(n * OH + oh) * OW + ow, (c * KH + ki) * KW + kj] = x_pad[n, c, oh * SH + ki, ow * SW + kj]

so that ``conv(x, w) = cols @ w.reshape(C_out, C * KH * KW).T``, reshaped to (N, OH, OW, C_out).
This row layout is exactly the ``a`` operand of :func:`~minicompress.kernels.qlinear`
(with ``pack_weights(w.reshape(C_out, -1).T)``), so a quantized Conv2d is im2col + qlinear.

Padding is filled with ``pad_value``: 0 for float inputs, but the *zero point* for affine
quantized inputs, because the real value 0 is stored as the zero point.
"""

import numpy as np
from numba import njit, prange

from minicompress.errors import InputError

from ._checks import as_nd, pair

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int8), np.dtype(np.uint8))


@njit(cache=True)
def _im2col_rows(x, t_lo, t_hi, kh, kw, sh, sw, ph, pw, pad_value, out):
    """Rows of ``out`` for (image, output row) pairs t_lo..t_hi (t = image * OH + oh)."""
    n, c, h, w = x.shape
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    for t in range(t_lo, t_hi):
        b = t // oh
        y = t - b * oh
        for xo in range(ow):
            row = t * ow + xo
            col = 0
            for ch in range(c):
                for ki in range(kh):
                    yi = y * sh + ki - ph
                    inside_y = 0 <= yi < h
                    for kj in range(kw):
                        xi = xo * sw + kj - pw
                        if inside_y and 0 <= xi < w:
                            out[row, col] = x[b, ch, yi, xi]
                        else:
                            out[row, col] = pad_value
                        col += 1


@njit(cache=True, parallel=True)
def _im2col(x, kh, kw, sh, sw, ph, pw, pad_value, out):
    n, c, h, w = x.shape
    oh = (h + 2 * ph - kh) // sh + 1
    # one (image, output row) pair per parallel task: enough tasks for 2+ cores even at batch 1
    for t in prange(n * oh):
        _im2col_rows(x, t, t + 1, kh, kw, sh, sw, ph, pw, pad_value, out)


#: below this many output elements the calling thread does it alone
SERIAL_MAX = 1 << 14


def im2col(x, kernel_size, stride=1, padding=0, pad_value=0):
    """Unfold (N, C, H, W) into convolution patches, one output position per row.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32, float64, int8 or uint8
        Copied to C order if strided.
    kernel_size : int or (KH, KW)
    stride : int or (SH, SW), >= 1
    padding : int or (PH, PW), >= 0
    pad_value : scalar
        Fill of the padded border; pass the zero point for quantized activations.
        Must be representable in ``x.dtype``.

    Returns
    -------
    ndarray, shape (N * OH * OW, C * KH * KW), dtype of x
        With ``OH = (H + 2 PH - KH) // SH + 1``, ``OW`` likewise; see the module docstring.
    """
    x = as_nd(x, "x", _DTYPES, 4, "(N, C, H, W)")
    kh, kw = pair(kernel_size, "kernel_size", 1)
    sh, sw = pair(stride, "stride", 1)
    ph, pw = pair(padding, "padding", 0)
    n, c, h, w = x.shape
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise InputError(
            f"kernel_size {kh}x{kw} is larger than the padded input {h + 2 * ph}x{w + 2 * pw}"
        )
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        if not (float(pad_value) == int(pad_value) and info.min <= int(pad_value) <= info.max):
            raise InputError(f"pad_value={pad_value} is not representable in {x.dtype.name}")
    pad = x.dtype.type(pad_value)
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    out = np.empty((n * oh * ow, c * kh * kw), dtype=x.dtype)
    x = np.ascontiguousarray(x)
    if out.size < SERIAL_MAX:
        _im2col_rows(x, 0, n * oh, kh, kw, sh, sw, ph, pw, pad, out)
    else:
        _im2col(x, kh, kw, sh, sw, ph, pw, pad, out)
    return out


__all__ = ["im2col"]
