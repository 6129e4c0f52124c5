"""Convolution and max pooling on NCHW arrays, by im2col.

im2col turns every receptive field into a row, so a convolution becomes one
matrix product (which BLAS does fast) and its backward pass two more. The
windows come from ``sliding_window_view``: a view, no copy, until the single
``reshape`` that lays the rows out for the product.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from minicompress.engine.tensor import Function


def _check_conv_args(x, w, stride, padding):
    if x.ndim != 4:
        raise ValueError(f"conv2d expects input of shape (N, C, H, W), got {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"conv2d expects a weight of shape (F, C, kh, kw), got {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"conv2d: input has {x.shape[1]} channels but the weight expects {w.shape[1]} "
            f"(input {x.shape}, weight {w.shape})"
        )
    if stride < 1 or padding < 0:
        raise ValueError(f"conv2d needs stride >= 1 and padding >= 0, got {stride}, {padding}")
    h, wd = x.shape[2] + 2 * padding, x.shape[3] + 2 * padding
    if h < w.shape[2] or wd < w.shape[3]:
        raise ValueError(
            f"conv2d: the padded input ({h}x{wd}) is smaller than the kernel {w.shape[2:]}"
        )


def im2col(x: np.ndarray, kh: int, kw: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Rows of receptive fields.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)

    Returns
    -------
    ndarray, shape (N, Ho, Wo, C, kh, kw)
        A view when ``padding == 0`` and ``stride == 1``; reshape it to
        ``(N*Ho*Wo, C*kh*kw)`` for the matrix product.
    """
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    return windows.transpose(0, 2, 3, 1, 4, 5)


def col2im(cols: np.ndarray, x_shape, kh: int, kw: int, stride: int, padding: int) -> np.ndarray:
    """The adjoint of ``im2col``: add each row back onto the pixels it came from.

    ``cols`` has shape (N, Ho, Wo, C, kh, kw); the result has ``x_shape``.
    """
    n, c, h, w = x_shape
    _, ho, wo = cols.shape[:3]
    out = np.zeros((n, c, h + 2 * padding, w + 2 * padding), dtype=cols.dtype)
    cols = cols.transpose(0, 3, 4, 5, 1, 2)  # N, C, kh, kw, Ho, Wo
    for i in range(kh):
        for j in range(kw):
            out[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += cols[:, :, i, j]
    if padding:
        out = out[:, :, padding:-padding, padding:-padding]
    return out


class Conv2d(Function):
    """2-D cross-correlation: ``y[n,f] = sum_c x[n,c] * w[f,c] + b[f]``."""

    @staticmethod
    def forward(ctx, x, w, b=None, stride=1, padding=0):
        _check_conv_args(x, w, stride, padding)
        f, c, kh, kw = w.shape
        cols = im2col(x, kh, kw, stride, padding)
        n, ho, wo = cols.shape[:3]
        cols2 = cols.reshape(n * ho * wo, c * kh * kw)
        out = cols2 @ w.reshape(f, -1).T
        if b is not None:
            out += b
        ctx.save_for_backward(cols2, w)
        ctx.meta = (x.shape, stride, padding, n, ho, wo, b is not None)
        return np.ascontiguousarray(out.reshape(n, ho, wo, f).transpose(0, 3, 1, 2))

    @staticmethod
    def backward(ctx, grad):
        cols2, w = ctx.saved_tensors
        x_shape, stride, padding, n, ho, wo, has_bias = ctx.meta
        f, c, kh, kw = w.shape
        g2 = grad.transpose(0, 2, 3, 1).reshape(-1, f)
        needs = ctx.needs_input_grad
        gx = gw = gb = None
        if needs[0]:
            dcols = (g2 @ w.reshape(f, -1)).reshape(n, ho, wo, c, kh, kw)
            gx = col2im(dcols, x_shape, kh, kw, stride, padding)
        if needs[1]:
            gw = (g2.T @ cols2).reshape(w.shape)
        if has_bias:
            gb = g2.sum(axis=0) if needs[2] else None
            return gx, gw, gb
        return gx, gw


class MaxPool2d(Function):
    """Max over k×k windows (floor mode); the gradient goes to the first maximum of each window."""

    @staticmethod
    def forward(ctx, x, kernel_size=2, stride=None):
        if x.ndim != 4:
            raise ValueError(f"max_pool2d expects input of shape (N, C, H, W), got {x.shape}")
        k = kernel_size
        s = stride or k
        if k < 1 or s < 1 or x.shape[2] < k or x.shape[3] < k:
            raise ValueError(
                f"max_pool2d: kernel {k} and stride {s} do not fit input of shape {x.shape}"
            )
        windows = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
        n, c, ho, wo = windows.shape[:4]
        flat = windows.reshape(n, c, ho, wo, k * k)
        arg = flat.argmax(axis=-1)
        ctx.save_for_backward(arg)
        ctx.meta = (x.shape, x.dtype, k, s)
        return np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]

    @staticmethod
    def backward(ctx, grad):
        (arg,) = ctx.saved_tensors
        x_shape, dtype, k, s = ctx.meta
        ho, wo = grad.shape[2:]
        out = np.zeros(x_shape, dtype=dtype)
        for idx in range(k * k):
            i, j = divmod(idx, k)
            out[:, :, i : i + s * ho : s, j : j + s * wo : s] += grad * (arg == idx)
        return (out,)
