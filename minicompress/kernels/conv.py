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

Threads: :func:`conv2d_forward` and :func:`conv2d_backward`, the engine's convolution, cut the
batch into one slice per thread (:mod:`.threads`) and run, per slice and :data:`CHUNK` images at
a time, the column kernel and the matrix products, which release the GIL (the kernels are
``nogil``). The loops themselves
have no ``prange``: Numba's OpenMP threads and OpenBLAS's threads, each spinning for a while
after its own call, made LeNet-5 training several times slower when both were parallel (in our
trials on the 2-core machine). The products are made image by image, as the single-threaded
``np.matmul`` of the whole batch makes them, so the results are the same at any thread count.
"""

import numpy as np
from numba import njit

from minicompress.errors import InputError

from ._checks import as_nd, pair
from .threads import parallel_for

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@njit(cache=True, nogil=True)
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


def _padded(x, ph, pw):
    """``x`` with a zero border of ``ph`` rows and ``pw`` columns (``x`` itself without one)."""
    if not (ph or pw):
        return x
    n, c, h, w = x.shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph:ph + h, pw:pw + w] = x
    return xp


def _unpadded(xp, ph, pw):
    """The inverse of :func:`_padded`: ``xp`` without its border, as a contiguous array."""
    if not (ph or pw):
        return xp
    return np.ascontiguousarray(xp[:, :, ph:xp.shape[2] - ph, pw:xp.shape[3] - pw])


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
    out = np.empty((n, c * kh * kw, oh * ow), dtype=x.dtype)
    _patches(_padded(x, ph, pw), out, kh, kw, sh, sw, oh, ow, False)
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
    _patches(out, cols, kh, kw, sh, sw, oh, ow, True)  # onto zeros, so the padding can be cut off
    return _unpadded(out, ph, pw)


#: Images unfolded at a time by :func:`conv2d_forward` / :func:`conv2d_backward`: 16 LeNet-5
#: images' columns (1.25 MB for conv1, 0.96 MB for conv2) stay near the core's 1 MB L2 between
#: the unfold and the product, where a whole batch's (5 MB) went to memory and back. LeNet-5
#: epochs took 0.45-0.47 s with chunks of 16 against 0.49-0.58 s with the whole batch unfolded
#: and kept for the backward pass (2 threads; 4 and 8 were in between), on the 2-core machine.
CHUNK = 16


def _conv_geometry(x, weight, stride, padding):
    f, c, kh, kw = weight.shape
    if x.shape[1] != c:
        raise InputError(f"x has {x.shape[1]} channels but the weight expects {c}")
    return _geometry(x.shape[2], x.shape[3], (kh, kw), stride, padding)


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """The engine's convolution: ``out[n] = W.reshape(F, -1) @ unfold(x)[n] + b``, image by image.

    The columns are made :data:`CHUNK` images at a time and used at once; none are kept (the
    backward pass makes them again from ``x``, as PyTorch's CPU convolution keeps only its input).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    weight : ndarray, shape (F, C, KH, KW), dtype of x
    bias : ndarray, shape (F,), dtype of x, optional
    stride, padding : int or pair, as for :func:`unfold`

    Returns
    -------
    ndarray, shape (N, F, OH, OW), dtype of x
    """
    x = as_nd(x, "x", _FLOATS, 4, "(N, C, H, W)")
    weight = as_nd(weight, "weight", (x.dtype,), 4, "(F, C, KH, KW)")
    f, c = weight.shape[:2]
    n = x.shape[0]
    kh, kw, sh, sw, ph, pw, oh, ow = _conv_geometry(x, weight, stride, padding)
    if bias is not None:
        bias = as_nd(bias, "bias", (x.dtype,), 1, "(F,)")
        if bias.shape != (f,):
            raise InputError(f"bias must have shape ({f},); got {bias.shape}")
    xp = _padded(x, ph, pw)
    w2 = weight.reshape(f, -1)
    out = np.empty((n, f, oh * ow), dtype=x.dtype)

    def images(lo, hi):  # checks done above: the slice holds the GIL as little as possible
        cols = np.empty((min(CHUNK, hi - lo), c * kh * kw, oh * ow), dtype=x.dtype)
        for a in range(lo, hi, CHUNK):
            b = min(hi, a + CHUNK)
            _patches(xp[a:b], cols[:b - a], kh, kw, sh, sw, oh, ow, False)
            np.matmul(w2, cols[:b - a], out=out[a:b])
            if bias is not None:
                out[a:b] += bias[:, None]

    parallel_for(images, n, n * c * kh * kw * oh * ow * (f + 1))
    return out.reshape(n, f, oh, ow)


def conv2d_backward(grad, x, weight, stride=1, padding=0, input_grad=True, weight_grad=True):
    """Gradients of :func:`conv2d_forward` with respect to its input and weight.

    Parameters
    ----------
    grad : ndarray, shape (N, F, OH, OW), float32 or float64
    x : ndarray, shape (N, C, H, W), dtype of grad
        The input given to :func:`conv2d_forward`.
    weight : ndarray, shape (F, C, KH, KW), dtype of grad
    stride, padding : as given to :func:`conv2d_forward`
    input_grad, weight_grad : bool
        Which gradients to compute (the other is returned as ``None``).

    Returns
    -------
    grad_x : ndarray, shape (N, C, H, W), or None
        ``fold(W.reshape(F, -1).T @ grad[n])`` per image.
    grad_w : ndarray, shape (F, C, KH, KW), or None
        ``sum_n unfold(x)[n] @ grad[n].T``, transposed: the products per image on the threads
        (columns made again, :data:`CHUNK` images at a time), then their sum in image order
        on the calling thread.
    """
    grad = as_nd(grad, "grad", _FLOATS, 4, "(N, F, OH, OW)")
    x = as_nd(x, "x", (grad.dtype,), 4, "(N, C, H, W)")
    weight = as_nd(weight, "weight", (grad.dtype,), 4, "(F, C, KH, KW)")
    f, c = weight.shape[:2]
    n, h, w = x.shape[0], x.shape[2], x.shape[3]
    kh, kw, sh, sw, ph, pw, oh, ow = _conv_geometry(x, weight, stride, padding)
    if grad.shape != (n, f, oh, ow):
        raise InputError(f"grad must have shape {(n, f, oh, ow)} (the output of this convolution); "
                         f"got {grad.shape}")
    xp = _padded(x, ph, pw) if weight_grad else None
    g3 = grad.reshape(n, f, oh * ow)
    w2t = weight.reshape(f, -1).T
    grad_xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=grad.dtype) if input_grad else None
    per_image = np.empty((n, c * kh * kw, f), dtype=grad.dtype) if weight_grad else None

    def images(lo, hi):
        cols = np.empty((min(CHUNK, hi - lo), c * kh * kw, oh * ow), dtype=grad.dtype)
        for a in range(lo, hi, CHUNK):
            b = min(hi, a + CHUNK)
            if input_grad:  # fold(W.T @ g) into the zero-padded gradient, as fold does
                _patches(grad_xp[a:b], np.matmul(w2t, g3[a:b]), kh, kw, sh, sw, oh, ow, True)
            if weight_grad:
                # cols[n] @ g3[n].T, (C*KH*KW, F): BLAS ran this shape faster than
                # g3[n] @ cols[n].T on LeNet-5's conv2 in our trials
                _patches(xp[a:b], cols[:b - a], kh, kw, sh, sw, oh, ow, False)
                np.matmul(cols[:b - a], g3[a:b].transpose(0, 2, 1), out=per_image[a:b])

    parallel_for(images, n, n * c * kh * kw * oh * ow * (f + 1) * (input_grad + weight_grad))
    grad_x = _unpadded(grad_xp, ph, pw) if input_grad else None
    grad_w = per_image.sum(axis=0).T.reshape(weight.shape) if weight_grad else None
    return grad_x, grad_w


__all__ = ["conv2d_backward", "conv2d_forward", "fold", "unfold"]
