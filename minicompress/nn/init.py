"""Seeded weight initializers (Kaiming/He 2015, Xavier/Glorot 2010).

Each takes a shape and a ``numpy.random.Generator`` and returns a float32 array.
``fan_in`` is the number of inputs one output sees: ``in_features`` for a
Linear weight (out, in), ``C * kh * kw`` for a Conv2d weight (F, C, kh, kw).
"""

from __future__ import annotations

import math

import numpy as np


def fans(shape) -> tuple[int, int]:
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def kaiming_uniform(shape, rng: np.random.Generator, gain: float = math.sqrt(2.0)) -> np.ndarray:
    bound = gain * math.sqrt(3.0 / fans(shape)[0])
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def kaiming_normal(shape, rng: np.random.Generator, gain: float = math.sqrt(2.0)) -> np.ndarray:
    return (rng.standard_normal(shape) * gain / math.sqrt(fans(shape)[0])).astype(np.float32)


def xavier_uniform(shape, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    fan_in, fan_out = fans(shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def xavier_normal(shape, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    fan_in, fan_out = fans(shape)
    return (rng.standard_normal(shape) * gain * math.sqrt(2.0 / (fan_in + fan_out))).astype(np.float32)


def default_uniform(shape, rng: np.random.Generator, fan_in: int | None = None) -> np.ndarray:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear/Conv weights and biases."""
    bound = 1.0 / math.sqrt(fan_in if fan_in is not None else fans(shape)[0])
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


INITIALIZERS = {
    "default": default_uniform,
    "kaiming_uniform": kaiming_uniform,
    "kaiming_normal": kaiming_normal,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
}

