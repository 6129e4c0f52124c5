"""Functions on tensors that are not methods: softmax, convolution, dropout, ...

Everything here builds on the ``Function`` classes of ``ops`` and ``conv``.
"""

from __future__ import annotations

import numpy as np

from minicompress.engine import conv, ops
from minicompress.engine._checks import check_int, check_probability
from minicompress.engine.tensor import Tensor, _wrap
from minicompress.errors import InputError, InputTypeError
from minicompress.rng import as_generator


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along ``axis``; the gradient is split back."""
    if isinstance(tensors, (Tensor, np.ndarray)) or not hasattr(tensors, "__iter__"):
        raise InputTypeError(f"concatenate takes a list of tensors, got {type(tensors).__name__}")
    tensors = [_tensor(t) for t in tensors]
    if not tensors:
        raise InputError("concatenate needs at least one tensor")
    axis = check_int(axis, "axis")
    return ops.Concatenate.apply(*tensors, axis)


def where(cond, a, b) -> Tensor:
    """``a`` where ``cond`` is true, else ``b``; ``cond`` is a constant boolean array."""
    try:
        cond = np.asarray(cond.data if isinstance(cond, Tensor) else cond)
    except (ValueError, TypeError) as err:
        raise InputTypeError(f"where: cond must be a boolean array: {err}") from None
    if cond.dtype.kind not in "biuf":
        raise InputTypeError(f"where: cond must be a boolean array, got dtype {cond.dtype}")
    cond = cond.astype(bool, copy=False)
    like = a if isinstance(a, Tensor) else _tensor(b)
    return ops.Where.apply(_wrap(a, like), _wrap(b, like), cond)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``log(softmax(x))`` computed stably (max-shifted)."""
    return ops.LogSoftmax.apply(_tensor(x), axis=check_int(axis, "axis"))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return ops.Softmax.apply(_tensor(x), axis=check_int(axis, "axis"))


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias``; x has shape (N, in), weight (out, in), bias (out,)."""
    return ops.Linear.apply(_tensor(x), _tensor(weight), None if bias is None else _tensor(bias))


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
           padding: int = 0) -> Tensor:
    """2-D convolution of x (N, C, H, W) with weight (F, C, kh, kw) -> (N, F, Ho, Wo)."""
    stride, padding = check_int(stride, "stride", low=1), check_int(padding, "padding", low=0)
    x, weight = _tensor(x), _tensor(weight)
    bias = None if bias is None else _tensor(bias)
    if bias is not None and (weight.ndim != 4 or bias.shape != weight.shape[:1]):
        raise InputError(f"conv2d: the bias must have shape (F,) for a weight (F, C, kh, kw), "
                         f"got bias {bias.shape} and weight {weight.shape}")
    return conv.Conv2d.apply(x, weight, bias, stride=stride, padding=padding)


def max_pool2d(x: Tensor, kernel_size: int = 2, stride: int | None = None) -> Tensor:
    """Max over kernel_size x kernel_size windows (floor mode); ``stride`` defaults to the kernel size."""
    kernel_size = check_int(kernel_size, "kernel_size", low=1)
    stride = None if stride is None else check_int(stride, "stride", low=1)
    return conv.MaxPool2d.apply(_tensor(x), kernel_size=kernel_size, stride=stride)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, seed=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p) (inverted dropout).

    PyTorch's ``F.dropout(x, p=0.5, training=True)``, plus the library's ``seed``: an int,
    a ``numpy.random.Generator`` (its stream continues), or ``None`` for the package
    generator (``minicompress.manual_seed``).
    """
    check_probability(p, "p")
    x = _tensor(x)
    if not training or p == 0.0:
        return x
    keep = (as_generator(seed).random(x.shape) >= p).astype(x.dtype) / (1.0 - p)
    return x * keep

