"""The model zoo: the classic compression benchmarks and the documents' own models.

| name | layers | input | from |
|---|---|---|---|
| ``lenet-300-100`` | 784-300-100-10, ReLU | (N, 1, 28, 28) | LeCun et al. 1998; Han et al. 2015 |
| ``lenet5`` | conv 1→6 5×5 pad 2, pool 2, conv 6→16 5×5, pool 2, 400-120-84-10 | (N, 1, 28, 28) | LeCun et al. 1998 |
| ``doc001-mlp`` | flatten, dense 128 ReLU, dense 10 | (N, 1, 28, 28) | doc 001 §4 (Keras) |
| ``doc000-cnn`` | conv 3→16, pool, conv 16→32, pool, 2048-128-10 | (N, 3, 32, 32) | doc 000 §4 (CIFAR-10) |
| ``doc002-mlp`` | 10-5-2, ReLU | (N, 10) | doc 002 §4 |

All are ``Sequential`` and output logits (doc 001's final softmax is folded
into the cross-entropy loss, as Keras's ``from_logits`` would).
"""

from __future__ import annotations

import numbers

from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicompress.rng import as_generator


def mlp(sizes, seed=None, flatten: bool = True) -> Sequential:
    """A ReLU MLP with the given layer sizes, e.g. ``mlp([784, 300, 100, 10])``."""
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise InputTypeError(f"sizes must be a list of layer widths, got {type(sizes).__name__}")
    if len(sizes) < 2:
        raise InputError(f"sizes: an MLP needs at least an input and an output size, got {sizes}")
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise InputError(f"sizes must be positive integers, got {list(sizes)}")
    rng = as_generator(seed)
    layers = [Flatten()] if flatten else []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        try:
            layers.append(Linear(n_in, n_out, seed=rng))
        except InputError as err:
            raise InputError(f"sizes {list(sizes)}: {err}") from None
        if i < len(sizes) - 2:
            layers.append(ReLU())
    return Sequential(*layers)


def lenet_300_100(seed=None) -> Sequential:
    return mlp([784, 300, 100, 10], seed)


def lenet5(seed=None) -> Sequential:
    rng = as_generator(seed)
    return Sequential(
        Conv2d(1, 6, 5, padding=2, seed=rng), ReLU(), MaxPool2d(2),
        Conv2d(6, 16, 5, seed=rng), ReLU(), MaxPool2d(2),
        Flatten(),
        Linear(400, 120, seed=rng), ReLU(),
        Linear(120, 84, seed=rng), ReLU(),
        Linear(84, 10, seed=rng),
    )


def doc001_mlp(seed=None) -> Sequential:
    return mlp([784, 128, 10], seed)


def doc000_cnn(seed=None) -> Sequential:
    rng = as_generator(seed)
    return Sequential(
        Conv2d(3, 16, 3, padding=1, seed=rng), ReLU(), MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1, seed=rng), ReLU(), MaxPool2d(2),
        Flatten(),
        Linear(2048, 128, seed=rng), ReLU(),
        Linear(128, 10, seed=rng),
    )


def doc002_mlp(seed=None) -> Sequential:
    return mlp([10, 5, 2], seed, flatten=False)


MODELS = {
    "lenet-300-100": lenet_300_100,
    "lenet5": lenet5,
    "doc000-cnn": doc000_cnn,
    "doc001-mlp": doc001_mlp,
    "doc002-mlp": doc002_mlp,
}
MODEL_NAMES = tuple(MODELS)

INPUT_SHAPES = {
    "lenet-300-100": (1, 28, 28), "lenet5": (1, 28, 28), "doc001-mlp": (1, 28, 28),
    "doc000-cnn": (3, 32, 32), "doc002-mlp": (10,),
}


def build(name: str, seed=None) -> Sequential:
    """Build a model by name (see ``MODEL_NAMES``) with seeded initial weights."""
    if not isinstance(name, str) or name not in MODELS:
        raise InputError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return MODELS[name](seed)
