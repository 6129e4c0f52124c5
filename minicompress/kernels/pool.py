"""Max pooling forward (keeping the argmax) and backward, one pass over memory each.

The engine's readable max pool (:class:`minicompress.engine.conv.MaxPool2d`) makes k*k strided
passes over the input for the maximum and k*k more for the argmax, and k*k masked passes for the
gradient. Here each window is read once: forward keeps the running maximum and the offset
``i * k + j`` of its *first* occurrence, the same rule as the engine's, so both return the same
values and offsets; backward adds each output gradient to the input pixel its offset names.

NaN: as ``np.maximum``, a NaN anywhere in a window makes the maximum NaN; its offset is then
``k * k - 1`` (the engine's, where no element equals NaN).

Both loops run on the calling thread: split over the engine's threads (:mod:`.threads`) they
gained nothing on LeNet-5's shapes in our trials (handing a slice to a sleeping thread costs
about what the 2 x 2 loop does), and ``prange`` is ruled out for the reason given in :mod:`.conv`.

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


@njit(cache=True, inline="always")
def _nan_max(a, b):
    """``np.maximum(a, b)`` of two floats: a NaN on either side wins; of two equal values, the
    second (which gives -0.0 and 0.0 the sign NumPy gave them in 3,000 random windows)."""
    return a if (a > b or a != a) else b


@njit(cache=True)
def _forward_2x2(x, out, arg):
    """:func:`_forward` for 2 x 2 windows at stride 2 (LeNet's, and most CNNs' pooling), written so
    that LLVM vectorizes it: the stride is a constant (a runtime stride kept the loop scalar), the
    maximum is taken first, branch-free, then the offset is the first of the four equal to it
    (none is, for a NaN: offset 3, as in :func:`_forward`). 0.076 ms against 0.27 ms for the
    running-maximum loop on LeNet-5's (64, 6, 28, 28), on the 2-core machine."""
    nc, oh, ow = out.shape
    for t in range(nc):
        for y in range(oh):
            r0, r1, o, ag = x[t, 2 * y], x[t, 2 * y + 1], out[t, y], arg[t, y]
            for xo in range(ow):
                a0, a1, b0, b1 = r0[2 * xo], r0[2 * xo + 1], r1[2 * xo], r1[2 * xo + 1]
                m = _nan_max(_nan_max(a0, a1), _nan_max(b0, b1))
                o[xo] = m
                ag[xo] = 0 if a0 == m else (1 if a1 == m else (2 if b0 == m else 3))


@njit(cache=True)
def _backward_2x2(g, arg, out):
    """:func:`_backward` for 2 x 2 windows at stride 2: the windows tile the input (no overlap, no
    sum), so every input pixel is written once, with its window's gradient or 0 (0.14 ms against
    0.22 ms on LeNet-5's first pooling)."""
    nc, oh, ow = g.shape
    for t in range(nc):
        for y in range(oh):
            o0, o1, gg, aa = out[t, 2 * y], out[t, 2 * y + 1], g[t, y], arg[t, y]
            for xo in range(ow):
                a, v = aa[xo], gg[xo]
                o0[2 * xo] = v if a == 0 else 0
                o0[2 * xo + 1] = v if a == 1 else 0
                o1[2 * xo] = v if a == 2 else 0
                o1[2 * xo + 1] = v if a == 3 else 0
        for y in range(2 * oh, out.shape[1]):  # an odd last row or column belongs to no window
            out[t, y] = 0
        out[t, :, 2 * ow:] = 0


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
    if k == 2 and s == 2:
        _forward_2x2(x3, out, arg)
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
    if k == 2 and s == 2:
        _backward_2x2(g3, a3, out)
    else:
        _backward(g3, a3, k, s, out)
    return out.reshape(n, c, h, w)


__all__ = ["argmax_dtype", "max_pool2d_backward", "max_pool2d_forward"]
