"""Layers, modules, initializers and losses on top of the engine."""

from minicompress.nn import init, losses
from minicompress.nn.layers import (
    LAYER_TYPES,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
)
from minicompress.nn.module import Module, Parameter

__all__ = [
    "LAYER_TYPES", "Conv2d", "Dropout", "Flatten", "Linear", "MaxPool2d", "Module", "Parameter",
    "ReLU", "Sequential", "init", "losses",
]
