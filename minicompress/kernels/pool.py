"""Max pooling forward (keeping the argmax) and backward, one pass over memory each.

The engine's readable max pool (:class:`minicompress.engine.conv.MaxPool2d`) makes k*k strided
passes over the input for the maximum and k*k more for the argmax, and k*k masked passes for the
gradient. Here each window is read once: forward keeps the running maximum and the offset
``i * k + j`` of its *first* occurrence, the same rule as the engine's, so both return the same
values and offsets; backward adds each output gradient to the input pixel its offset names.

NaN: as ``np.maximum``, a NaN anywhere in a window makes the maximum NaN; its offset is then
``k * k - 1`` (the engine's, where no element equals NaN).

Both loops run on the calling thread, for the reason given in :mod:`.conv`.

The offsets fit ``argmax_dtype(k)``: int8 up to 11 x 11 windows, int32 beyond.
"""

import numpy as np
from numba import njit

from minicompress.errors import InputError

from ._checks import as_nd

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def argmax_dtype(k):
    """The smallest integer dtype of the offsets ``0 .. k*k - 1`` used by both back ends."""
    return np.dtype(np.int8) if k * k <= 127 else np.dtype(np.int32)


@njit(cache=True)
def _forward(x, k, s, out, arg):
    nc, oh, ow = out.shape
    last = k * k - 1
    for t in range(nc):
        for y in range(oh):
            for xo in range(ow):
                m = x[t, y * s, xo * s]
                a = 0
                for i in range(k):
                    row = x[t, y * s + i]
                    for j in range(k):
                        # strictly greater, so the first maximum keeps its offset
                        m, a = _take(row[xo * s + j], m, a, i * k + j)
                out[t, y, xo] = m
                arg[t, y, xo] = last if m != m else a


@njit(cache=True, inline="always")
def _take(v, m, a, idx):
    """One step of the running maximum: (new max, new offset). A strictly greater value, or a
    NaN, takes over; nothing is greater than NaN, so a NaN stays."""
    take = v > m or v != v
    return (v, idx) if take else (m, a)


@njit(cache=True)
def _forward_2x2(x, s, out, arg):
    """:func:`_forward` for k = 2 with the four reads written out: the general loop's inner loops
    of runtime length 2 do not unroll, and this ran 2-3x faster on LeNet-5's pooling in our
    trials (``benchmarks/kernels.py``, row "max_pool fwd", times it against the NumPy version)."""
    nc, oh, ow = out.shape
    for t in range(nc):
        for y in range(oh):
            r0, r1 = x[t, y * s], x[t, y * s + 1]
            for xo in range(ow):
                c = xo * s
                m, a = _take(r0[c + 1], r0[c], 0, 1)
                m, a = _take(r1[c], m, a, 2)
                m, a = _take(r1[c + 1], m, a, 3)
                out[t, y, xo] = m
                arg[t, y, xo] = 3 if m != m else a


@njit(cache=True)
def _backward(g, arg, k, s, out):
    nc, oh, ow = g.shape
    out[:] = 0
    for t in range(nc):
        for y in range(oh):
            for xo in range(ow):
                a = arg[t, y, xo]
                i = a // k
                out[t, y * s + i, xo * s + a - i * k] += g[t, y, xo]


def max_pool2d_forward(x, kernel_size, stride):
    """Max over k x k windows every ``stride`` pixels (no padding, floor mode).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    kernel_size, stride : int >= 1, with ``kernel_size <= min(H, W)``

    Returns
    -------
    out : ndarray, shape (N, C, OH, OW), dtype of x
        ``OH = (H - k) // s + 1``, ``OW`` likewise.
    arg : ndarray, shape (N, C, OH, OW), ``argmax_dtype(k)``
        Offset ``i * k + j`` of the first maximum in each window.
    """
    x = as_nd(x, "x", _FLOATS, 4, "(N, C, H, W)")
    k, s = int(kernel_size), int(stride)
    n, c, h, w = x.shape
    if k < 1 or s < 1 or h < k or w < k:
        raise InputError(f"max_pool2d: kernel {k} and stride {s} do not fit input of shape {x.shape}")
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    x3 = x.reshape(n * c, h, w)
    out = np.empty((n * c, oh, ow), dtype=x.dtype)
    arg = np.empty((n * c, oh, ow), dtype=argmax_dtype(k))
    if k == 2:
        _forward_2x2(x3, s, out, arg)
    else:
        _forward(x3, k, s, out, arg)
    return out.reshape(n, c, oh, ow), arg.reshape(n, c, oh, ow)


def max_pool2d_backward(grad, arg, x_shape, kernel_size, stride):
    """The input gradient: each ``grad[n, c, y, x]`` added to the pixel its ``arg`` names.

    Parameters
    ----------
    grad : ndarray, shape (N, C, OH, OW), float32 or float64
    arg : ndarray, shape (N, C, OH, OW), from :func:`max_pool2d_forward`
    x_shape : (N, C, H, W)
    kernel_size, stride : int

    Returns
    -------
    ndarray, shape x_shape, dtype of grad
        Overlapping windows (stride < kernel) add their gradients.
    """
    grad = as_nd(grad, "grad", _FLOATS, 4, "(N, C, H, W)")
    k, s = int(kernel_size), int(stride)
    n, c, h, w = (int(v) for v in x_shape)
    if not isinstance(arg, np.ndarray) or arg.shape != grad.shape or arg.dtype != argmax_dtype(k):
        raise InputError(f"arg must be the {argmax_dtype(k).name} offsets of shape {grad.shape} "
                         "returned by max_pool2d_forward")
    if k < 1 or s < 1 or grad.shape[:2] != (n, c) or grad.shape[2:] != ((h - k) // s + 1, (w - k) // s + 1):
        raise InputError(f"grad of shape {grad.shape} does not come from pooling {tuple(x_shape)} "
                         f"with kernel {k} and stride {s}")
    oh, ow = grad.shape[2:]
    g3, a3 = grad.reshape(n * c, oh, ow), np.ascontiguousarray(arg).reshape(n * c, oh, ow)
    out = np.empty((n * c, h, w), dtype=grad.dtype)
    _backward(g3, a3, k, s, out)
    return out.reshape(n, c, h, w)


__all__ = ["argmax_dtype", "max_pool2d_backward", "max_pool2d_forward"]
