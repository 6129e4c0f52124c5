"""The layers: Linear, Conv2d, MaxPool2d, ReLU, Flatten, Dropout, Sequential.

Weighted layers read their weights through ``self.effective("weight")`` so a
pruning mask (a ``weight_mask`` buffer), when present, applies in the forward
pass and to the gradient alike.
"""

from __future__ import annotations

import math

import numpy as np

import minicompress.engine.functional as F
from minicompress.engine import Tensor
from minicompress.engine._checks import check_int, check_probability
from minicompress.errors import InputError, InputTypeError
from minicompress.nn.init import INITIALIZERS, default_uniform, fans
from minicompress.nn.module import Module, Parameter
from minicompress.rng import as_generator


def _input(x, layer) -> Tensor:
    """The layer's input as a Tensor (a NumPy array is wrapped); anything else is refused."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    raise InputTypeError(f"{type(layer).__name__} takes a Tensor (or a NumPy array), got {type(x).__name__}")


def _init_weight(shape, init, rng, names: str):
    if not isinstance(init, str) or init not in INITIALIZERS:
        raise InputError(f"unknown init {init!r}; choose one of {sorted(INITIALIZERS)}")
    if math.prod(shape) > np.iinfo(np.intp).max // 8:
        raise InputError(f"a weight of shape {names} = {shape} has more elements than memory can hold")
    try:
        return INITIALIZERS[init](shape, rng)
    except (ValueError, OverflowError, MemoryError) as err:
        raise InputError(f"cannot make a weight of shape {names} = {shape}: {err}") from None


class Linear(Module):
    """``y = x @ W.T + b``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    init : str
        ``"default"`` (PyTorch's U(±1/sqrt(in))), ``"kaiming_uniform"``, ``"kaiming_normal"``,
        ``"xavier_uniform"`` or ``"xavier_normal"``; biases always use the default.
    seed : int or numpy.random.Generator

    Shapes: input (N, in_features) -> output (N, out_features); weight (out, in).
    """

    def __init__(self, in_features, out_features, bias=True, init="default", seed=None):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", low=1)
        self.out_features = check_int(out_features, "out_features", low=1)
        self.init = init
        rng = as_generator(seed)
        self.weight = Parameter(_init_weight((self.out_features, self.in_features), init, rng,
                                              "(out_features, in_features)"))
        self.bias = (
            Parameter(default_uniform((self.out_features,), rng, fan_in=self.in_features))
            if bias else None
        )

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, self)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise InputError(
                f"Linear({self.in_features}, {self.out_features}) expects input of shape "
                f"(N, {self.in_features}), got {tuple(x.shape)}"
            )
        # the bias goes through its mask too (a ``bias_mask`` buffer), so a pruned bias stays zero
        return F.linear(x, self.effective("weight"), self.effective("bias"))

    def spec(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None}

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-D convolution. Input (N, C_in, H, W) -> (N, C_out, Ho, Wo); weight (C_out, C_in, k, k)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 init="default", seed=None):
        super().__init__()
        self.in_channels = check_int(in_channels, "in_channels", low=1)
        self.out_channels = check_int(out_channels, "out_channels", low=1)
        self.kernel_size = check_int(kernel_size, "kernel_size", low=1)
        self.stride = check_int(stride, "stride", low=1)
        self.padding = check_int(padding, "padding", low=0)
        self.init = init
        rng = as_generator(seed)
        shape = (self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)
        self.weight = Parameter(_init_weight(shape, init, rng,
                                             "(out_channels, in_channels, kernel_size, kernel_size)"))
        self.bias = (
            Parameter(default_uniform((self.out_channels,), rng, fan_in=fans(shape)[0]))
            if bias else None
        )

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(_input(x, self), self.effective("weight"), self.effective("bias"), self.stride, self.padding)

    def spec(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "bias": self.bias is not None}

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class MaxPool2d(Module):
    def __init__(self, kernel_size=2, stride=None):
        super().__init__()
        self.kernel_size = check_int(kernel_size, "kernel_size", low=1)
        self.stride = None if stride is None else check_int(stride, "stride", low=1)

    def forward(self, x):
        return F.max_pool2d(_input(x, self), self.kernel_size, self.stride)

    def spec(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride}

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}"


class ReLU(Module):
    def forward(self, x):
        return _input(x, self).relu()

    def spec(self):
        return {}


class Flatten(Module):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""

    def forward(self, x):
        x = _input(x, self)
        if x.ndim == 0:
            raise InputError("Flatten expects input of shape (N, ...), got a 0-d tensor")
        # the size, not -1: an empty batch (0, ...) has no size for -1 to infer
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))

    def spec(self):
        return {}


class Dropout(Module):
    """Inverted dropout: active only in ``train()`` mode.

    ``seed``: an int or Generator for a stream of its own, or ``None`` (default) to draw from
    the package generator that ``minicompress.manual_seed`` sets, as PyTorch's dropout does.
    """

    def __init__(self, p=0.5, seed=None):
        super().__init__()
        self.p = check_probability(p, "p")
        # an int seed gives this layer its own stream; None shares the package generator
        self.rng = as_generator(seed)

    def forward(self, x):
        return F.dropout(_input(x, self), self.p, self.training, seed=self.rng)

    def spec(self):
        return {"p": self.p}


class Sequential(Module):
    """Layers applied in order; children are named "0", "1", ..."""

    def __init__(self, *layers: Module):
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise InputTypeError(f"Sequential takes Modules, got {type(layer).__name__} at position {i}")
            setattr(self, str(i), layer)

    def __getitem__(self, i) -> Module:
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for layer in self._modules.values():
            x = layer(x)
        return x


LAYER_TYPES = {cls.__name__: cls for cls in (Linear, Conv2d, MaxPool2d, ReLU, Flatten, Dropout)}
