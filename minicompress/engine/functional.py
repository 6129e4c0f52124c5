"""Functions on tensors that are not methods: softmax, convolution, dropout, ...

Everything here builds on the ``Function`` classes of ``ops`` and ``conv``.
"""

from __future__ import annotations

import numpy as np

from minicompress.engine import conv, ops
from minicompress.engine._checks import check_probability
from minicompress.engine.tensor import Tensor, _wrap
from minicompress.errors import InputError
from minicompress.rng import as_generator


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def concatenate(tensors, axis: int = 0) -> Tensor:
    """Join tensors along ``axis``; the gradient is split back."""
    tensors = [_tensor(t) for t in tensors]
    if not tensors:
        raise InputError("concatenate needs at least one tensor")
    return ops.Concatenate.apply(*tensors, axis)


def where(cond, a, b) -> Tensor:
    """``a`` where ``cond`` is true, else ``b``; ``cond`` is a constant boolean array."""
    cond = np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)
    like = a if isinstance(a, Tensor) else _tensor(b)
    return ops.Where.apply(_wrap(a, like), _wrap(b, like), cond)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """``log(softmax(x))`` computed stably (max-shifted)."""
    return ops.LogSoftmax.apply(_tensor(x), axis=axis)


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return ops.Softmax.apply(_tensor(x), axis=axis)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias``; x has shape (N, in), weight (out, in), bias (out,)."""
    return ops.Linear.apply(_tensor(x), weight, bias)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
           padding: int = 0) -> Tensor:
    """2-D convolution of x (N, C, H, W) with weight (F, C, kh, kw) -> (N, F, Ho, Wo)."""
    return conv.Conv2d.apply(_tensor(x), weight, bias, stride=stride, padding=padding)


def max_pool2d(x: Tensor, kernel_size: int = 2, stride: int | None = None) -> Tensor:
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

