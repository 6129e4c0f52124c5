"""Tensor's operators and differentiable methods: each one is one op of ``ops.py``.

``tensor.py`` holds the graph (``Tensor``, ``Function``, ``backward``) and ``ops.py`` the ops,
forward and backward on plain arrays; ``ops.py`` imports ``tensor.py`` for ``Function``.
This module joins the two in one place, once, when ``minicompress.engine`` is imported
(``engine/__init__.py`` imports it), so that no file imports one that imports it back:
``x + y`` is ``ops.Add.apply(x, y)``, ``x.sum(axis)`` is ``ops.Sum.apply(x, axis=axis)``.
"""

from __future__ import annotations

import math
import numbers

from minicompress.engine import ops
from minicompress.engine.tensor import Tensor, _wrap
from minicompress.errors import InputTypeError


def __add__(self, other):
    return ops.Add.apply(self, _wrap(other, self))


def __sub__(self, other):
    return ops.Sub.apply(self, _wrap(other, self))


def __rsub__(self, other):
    return ops.Sub.apply(_wrap(other, self), self)


def __mul__(self, other):
    return ops.Mul.apply(self, _wrap(other, self))


def __truediv__(self, other):
    return ops.Div.apply(self, _wrap(other, self))


def __rtruediv__(self, other):
    return ops.Div.apply(_wrap(other, self), self)


def __neg__(self):
    return ops.Neg.apply(self)


def __pow__(self, exponent):
    if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real):
        raise InputTypeError(f"the exponent of Tensor ** p must be a real number, got {type(exponent).__name__}")
    return ops.Pow.apply(self, float(exponent))


def __matmul__(self, other):
    return ops.MatMul.apply(self, _wrap(other, self))


def __rmatmul__(self, other):
    return ops.MatMul.apply(_wrap(other, self), self)


def __getitem__(self, index):
    if isinstance(index, Tensor):
        index = index.data
    return ops.Index.apply(self, index)


def exp(self):
    return ops.Exp.apply(self)


def log(self):
    return ops.Log.apply(self)


def relu(self):
    return ops.ReLU.apply(self)


def sigmoid(self):
    return ops.Sigmoid.apply(self)


def tanh(self):
    return ops.Tanh.apply(self)


def abs_(self):
    return ops.Abs.apply(self)


def sum_(self, axis=None, keepdims=False):
    return ops.Sum.apply(self, axis=axis, keepdims=keepdims)


def mean(self, axis=None, keepdims=False):
    return ops.Mean.apply(self, axis=axis, keepdims=keepdims)


def max_(self, axis=None, keepdims=False):
    return ops.Max.apply(self, axis=axis, keepdims=keepdims)


def reshape(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return ops.Reshape.apply(self, shape=shape)


def transpose(self, *axes):
    """``t.transpose()`` (or ``(None)``) reverses the axes, as in NumPy; else a permutation of them."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    elif not axes or (len(axes) == 1 and axes[0] is None):
        axes = None
    return ops.Transpose.apply(self, axes=axes)


def clip(self, low=None, high=None):
    for name, bound in (("low", low), ("high", high)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, numbers.Real)
                                  or math.isnan(bound)):
            raise InputTypeError(f"clip: {name} must be a real number or None, got {bound!r}")
    return ops.Clip.apply(self, low=low, high=high)


METHODS = {
    "__add__": __add__, "__radd__": __add__, "__sub__": __sub__, "__rsub__": __rsub__,
    "__mul__": __mul__, "__rmul__": __mul__, "__truediv__": __truediv__, "__rtruediv__": __rtruediv__,
    "__neg__": __neg__, "__pow__": __pow__, "__matmul__": __matmul__, "__rmatmul__": __rmatmul__,
    "__getitem__": __getitem__,
    # builtins-named methods are defined with a trailing underscore so this file keeps sum/max/abs
    "exp": exp, "log": log, "relu": relu, "sigmoid": sigmoid, "tanh": tanh, "abs": abs_,
    "sum": sum_, "mean": mean, "max": max_, "reshape": reshape, "transpose": transpose, "clip": clip,
}

for _name, _method in METHODS.items():
    setattr(Tensor, _name, _method)
