"""Float convolution kernels for training: ``unfold`` (im2col) and its adjoint ``fold`` (col2im).

Same layout as PyTorch's ``torch.nn.functional.unfold`` / ``fold`` and as the engine's readable
NumPy versions (:func:`minicompress.engine.conv.im2col` / :func:`~minicompress.engine.conv.col2im`),
which are the oracles these kernels are tested against (``tests/test_kernels.py``):

    cols[n, (c * KH + ki) * KW + kj, oh * OW + ow] = x_pad[n, c, oh * SH + ki, ow * SW + kj]

so that a convolution is the batched product ``W.reshape(F, -1) @ cols`` (already NCHW).
``fold`` adds each column entry back onto the pixel it came from, in the kernel-offset order
``(ki, kj)`` of the engine's ``col2im``: the two agree bit for bit on the same columns.

Why these are faster than the NumPy versions: ``unfold`` writes the columns in one pass,
where NumPy builds a strided window view and copies it; ``fold`` makes one pass per kernel
offset over each image while it is in cache, where NumPy's ``col2im`` makes KH*KW strided
passes over the whole batch. Both work on a zero-padded copy of the image so that the inner
loops have no bounds tests (a loop with a test per pixel did not vectorize and ran several
times slower in our trials). ``python benchmarks/kernels.py`` times both back ends on LeNet-5's
shapes (table "op (engine backend)").

Threads: these loops run on the calling thread. They sit between BLAS calls in every training
step; on 2 cores, Numba's OpenMP threads and OpenBLAS's threads, each spinning for a while
after its own call, made LeNet-5 training several times slower when both were parallel (in our
trials on the shared machine). The matrix products keep BLAS's threads.
"""

import numpy as np
from numba import njit

from minicompress.errors import InputError

from ._checks import as_nd, pair

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@njit(cache=True)
def _patches(xp, cols, kh, kw, sh, sw, oh, ow, adjoint):
    """Walk the index map ``cols[b, (c*kh + ki)*kw + kj, y*ow + xo] <-> xp[b, c, y*sh + ki, xo*sw + kj]``
    (``xp`` padded) in (ki, kj) order: copy ``xp`` into ``cols`` (unfold), or, with ``adjoint``,
    add ``cols`` onto ``xp`` (fold; ``xp`` must start at zero)."""
    n, c = xp.shape[0], xp.shape[1]
    for b in range(n):
        for ch in range(c):
            for ki in range(kh):
                for kj in range(kw):
                    r = (ch * kh + ki) * kw + kj
                    for y in range(oh):
                        img, col = xp[b, ch, y * sh + ki], cols[b, r, y * ow: y * ow + ow]
                        # stride 1 gets its own loops: contiguous, which LLVM vectorizes
                        if adjoint and sw == 1:
                            for xo in range(ow):
                                img[xo + kj] += col[xo]
                        elif adjoint:
                            for xo in range(ow):
                                img[xo * sw + kj] += col[xo]
                        elif sw == 1:
                            for xo in range(ow):
                                col[xo] = img[xo + kj]
                        else:
                            for xo in range(ow):
                                col[xo] = img[xo * sw + kj]


def _geometry(h, w, kernel_size, stride, padding):
    (kh, kw), (sh, sw), (ph, pw) = (pair(kernel_size, "kernel_size", 1), pair(stride, "stride", 1),
                                    pair(padding, "padding", 0))
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise InputError(f"kernel {kh}x{kw} is larger than the padded input {h + 2 * ph}x{w + 2 * pw}")
    return kh, kw, sh, sw, ph, pw, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def unfold(x, kernel_size, stride=1, padding=0):
    """im2col of a float batch: (N, C, H, W) -> (N, C*KH*KW, OH*OW), zero padding.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    kernel_size : int or (KH, KW)
    stride : int or (SH, SW), >= 1
    padding : int or (PH, PW), >= 0

    Returns
    -------
    ndarray, shape (N, C*KH*KW, OH*OW), dtype of x
        ``OH = (H + 2 PH - KH) // SH + 1``, ``OW`` likewise; index formula in the module docstring.
    """
    x = as_nd(x, "x", _FLOATS, 4, "(N, C, H, W)")
    n, c, h, w = x.shape
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry(h, w, kernel_size, stride, padding)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.empty((n, c * kh * kw, oh * ow), dtype=x.dtype)
    _patches(x, out, kh, kw, sh, sw, oh, ow, False)
    return out


def fold(cols, output_size, kernel_size, stride=1, padding=0):
    """col2im, the adjoint of :func:`unfold`: (N, C*KH*KW, OH*OW) -> (N, C, H, W), overlaps added.

    Parameters
    ----------
    cols : ndarray, shape (N, C*KH*KW, OH*OW), float32 or float64
    output_size : (H, W)
        Spatial size of the unfolded input.
    kernel_size, stride, padding : int or pair, as for :func:`unfold`

    Returns
    -------
    ndarray, shape (N, C, H, W), dtype of cols
        Each pixel gets the sum, over kernel offsets ``(ki, kj)`` in that order, of the column
        entries :func:`unfold` read from it; the padding's entries are dropped.
    """
    cols = as_nd(cols, "cols", _FLOATS, 3, "(N, C*KH*KW, OH*OW)")
    h, w = (int(v) for v in output_size)
    kh, kw, sh, sw, ph, pw, oh, ow = _geometry(h, w, kernel_size, stride, padding)
    n, rows, length = cols.shape
    if rows % (kh * kw) or length != oh * ow:
        raise InputError(f"cols must have shape (N, C*{kh * kw}, {oh * ow}) for output_size {(h, w)}; "
                         f"got {cols.shape}")
    out = np.zeros((n, rows // (kh * kw), h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    _patches(out, cols, kh, kw, sh, sw, oh, ow, True)
    if ph or pw:
        out = np.ascontiguousarray(out[:, :, ph:ph + h, pw:pw + w])
    return out


__all__ = ["fold", "unfold"]
