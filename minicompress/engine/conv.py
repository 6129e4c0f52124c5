"""Convolution and max pooling on NCHW arrays, by im2col.

im2col turns every receptive field into a row, so a convolution becomes one
matrix product (which BLAS does fast) and its backward pass two more. The
windows come from ``sliding_window_view``: a view, no copy, until the single
``reshape`` that lays the rows out for the product.

These NumPy functions are the readable back end and the oracle of the Numba kernels
(:mod:`minicompress.kernels.conv`, :mod:`minicompress.kernels.pool`), which run instead when
:mod:`minicompress.engine.backend` says ``"numba"`` (the default): the same layout and
arithmetic, in one pass over memory each.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minicompress import kernels
from minicompress.engine import backend
from minicompress.engine.tensor import Function
from minicompress.errors import InputError


def _check_conv_args(x, w, stride, padding):
    if x.ndim != 4:
        raise InputError(f"conv2d expects input of shape (N, C, H, W), got {x.shape}")
    if w.ndim != 4:
        raise InputError(f"conv2d expects a weight of shape (F, C, kh, kw), got {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise InputError(
            f"conv2d: input has {x.shape[1]} channels but the weight expects {w.shape[1]} "
            f"(input {x.shape}, weight {w.shape})"
        )
    if stride < 1 or padding < 0:
        raise InputError(f"conv2d needs stride >= 1 and padding >= 0, got {stride}, {padding}")
    h, wd = x.shape[2] + 2 * padding, x.shape[3] + 2 * padding
    if h < w.shape[2] or wd < w.shape[3]:
        raise InputError(
            f"conv2d: the padded input ({h}x{wd}) is smaller than the kernel {w.shape[2:]}"
        )


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Receptive fields as columns, one matrix per image.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)

    Returns
    -------
    ndarray, shape (N, C*kh*kw, Ho*Wo)
        Column ``p`` of image ``n`` holds the C×kh×kw field under output pixel ``p``.
        This layout (rather than one row per field) keeps the copy out of the
        strided window view running along image rows, and lets ``W @ cols``
        produce NCHW output with no transpose.
    """
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    n, c, ho, wo = windows.shape[:4]
    return np.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3)).reshape(n, c * kh * kw, ho * wo)


def col2im(cols: np.ndarray, x_shape, kh: int, kw: int, stride: int, padding: int,
           out_hw: tuple[int, int]) -> np.ndarray:
    """The adjoint of ``im2col``: add each column back onto the pixels it came from.

    ``cols`` has shape (N, C*kh*kw, Ho*Wo); the result has ``x_shape``.
    """
    n, c, h, w = x_shape
    ho, wo = out_hw
    out = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    cols = cols.reshape(n, c, kh, kw, ho, wo)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += cols[:, :, i, j]
    if padding:
        out = out[:, :, padding:-padding, padding:-padding]
    return out


def _fast(*arrays) -> bool:
    """The Numba kernels run when selected and the arrays share one dtype, float32 or float64
    (the dtypes they are compiled for); others (float16, or a float32 weight on float64 data,
    which NumPy promotes) take the NumPy code, as under ``"numpy"``."""
    dtypes = {a.dtype for a in arrays if a is not None}
    return backend.current() == "numba" and len(dtypes) == 1 and dtypes <= set(_KERNEL_DTYPES)


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class Conv2d(Function):
    """2-D cross-correlation: ``y[n,f] = sum_c x[n,c] * w[f,c] + b[f]``, as ``W @ cols`` per image.

    im2col and col2im come from the back end selected when the forward pass runs
    (:mod:`minicompress.engine.backend`); the backward pass uses the same one.
    """

    @staticmethod
    def forward(ctx, x, w, b=None, stride=1, padding=0):
        _check_conv_args(x, w, stride, padding)
        f, c, kh, kw = w.shape
        n = x.shape[0]
        ho = (x.shape[2] + 2 * padding - kh) // stride + 1
        wo = (x.shape[3] + 2 * padding - kw) // stride + 1
        ctx.fast = _fast(x, w, b)
        ctx.meta = (x.shape, stride, padding, ho, wo, b is not None)
        if ctx.fast:  # the same products, the batch split over threads (kernels.conv)
            ctx.save_for_backward(x, w)  # the kernels make the columns again in backward
            return kernels.conv2d_forward(x, w, b, stride, padding)
        cols = im2col(x, kh, kw, stride, padding)   # (N, C*kh*kw, Ho*Wo)
        out = np.matmul(w.reshape(f, -1), cols)     # (N, F, Ho*Wo): already NCHW
        if b is not None:
            out += b[:, None]
        ctx.save_for_backward(cols, w)
        return out.reshape(n, f, ho, wo)

    @staticmethod
    def backward(ctx, grad):
        saved, w = ctx.saved_tensors  # the input x on the fast back end, its columns on NumPy's
        x_shape, stride, padding, ho, wo, has_bias = ctx.meta
        f, c, kh, kw = w.shape
        g3 = np.ascontiguousarray(grad).reshape(grad.shape[0], f, ho * wo)
        needs = ctx.needs_input_grad
        gb = None
        if ctx.fast:  # the same products, the batch split over threads (kernels.conv)
            gx, gw = kernels.conv2d_backward(grad, saved, w, stride, padding, needs[0], needs[1])
        else:
            cols = saved
            gx = col2im(np.matmul(w.reshape(f, -1).T, g3), x_shape, kh, kw, stride, padding,
                        (ho, wo)) if needs[0] else None
            # sum_n cols[n] @ g3[n].T, (C*kh*kw, F) per image, transposed at the end: BLAS ran
            # this shape faster than sum_n g3[n] @ cols[n].T in our trials on LeNet-5's conv2
            gw = np.matmul(cols, g3.transpose(0, 2, 1)).sum(axis=0).T.reshape(w.shape) if needs[1] else None
        if has_bias:
            gb = g3.sum(axis=(0, 2)) if needs[2] else None
            return gx, gw, gb
        return gx, gw


class MaxPool2d(Function):
    """Max over k×k windows (floor mode); the gradient goes to the first maximum of each window.

    The window offsets are visited one by one as strided slices (k² elementwise
    passes), which is faster than materialising the windows for ``argmax``.
    """

    @staticmethod
    def forward(ctx, x, kernel_size=2, stride=None):
        if x.ndim != 4:
            raise InputError(f"max_pool2d expects input of shape (N, C, H, W), got {x.shape}")
        k = kernel_size
        s = stride or k
        if k < 1 or s < 1 or x.shape[2] < k or x.shape[3] < k:
            raise InputError(
                f"max_pool2d: kernel {k} and stride {s} do not fit input of shape {x.shape}"
            )
        ctx.meta = (x.shape, x.dtype, k, s)
        ctx.fast = _fast(x)
        if ctx.fast:
            out, arg = kernels.max_pool2d_forward(x, k, s)
            ctx.save_for_backward(arg)
            return out
        ho, wo = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
        offsets = [(i, j) for i in range(k) for j in range(k)]
        views = [x[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s] for i, j in offsets]
        out = views[0].copy()
        for v in views[1:]:
            np.maximum(out, v, out=out)
        arg = np.full(out.shape, len(offsets) - 1, dtype=kernels.argmax_dtype(k))
        for idx in range(len(offsets) - 2, -1, -1):  # backwards, so the first maximum wins
            arg[views[idx] == out] = idx
        ctx.save_for_backward(arg)
        return out

    @staticmethod
    def backward(ctx, grad):
        (arg,) = ctx.saved_tensors
        x_shape, dtype, k, s = ctx.meta
        if ctx.fast:
            return (kernels.max_pool2d_backward(grad, arg, x_shape, k, s),)
        ho, wo = grad.shape[2:]
        out = np.zeros(x_shape, dtype=dtype)
        for idx in range(k * k):
            i, j = divmod(idx, k)
            out[:, :, i : i + s * (ho - 1) + 1 : s, j : j + s * (wo - 1) + 1 : s] += np.where(arg == idx, grad, 0)
        return (out,)
