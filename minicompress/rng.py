"""One rule for randomness, as in PyTorch: a seed or Generator wins, else the package generator.

``minicompress.manual_seed(s)`` reseeds the package generator, which every call with
``seed=None`` draws from and advances: two ``Linear(4, 4)`` layers get different weights,
two ``Dropout(0.5)`` layers different masks, and a script that calls ``manual_seed(s)``
first gets the same numbers on every run. Like PyTorch's default generator, it starts
from a fixed seed (:data:`DEFAULT_SEED`), so a script that never seeds is reproducible too.
An explicit ``seed=`` (an int or a ``numpy.random.Generator``) never touches it.
"""

from __future__ import annotations

import numbers

import numpy as np

from minicompress.errors import InputError, InputTypeError

__all__ = ["DEFAULT_SEED", "as_generator", "default_generator", "initial_seed", "manual_seed"]

DEFAULT_SEED = 0

_default = np.random.default_rng(DEFAULT_SEED)
_initial_seed = DEFAULT_SEED


def _check_seed(seed, name: str) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputTypeError(
            f"{name} must be an int >= 0, a numpy.random.Generator or None, got {type(seed).__name__}"
        )
    if seed < 0:
        raise InputError(f"{name} must be >= 0, got {seed}")
    return int(seed)


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the package generator (PyTorch's ``torch.manual_seed``) and return it.

    The generator is reseeded in place, so objects holding it (a ``Dropout`` built
    with ``seed=None``) follow the new seed too.
    """
    global _initial_seed
    _initial_seed = _check_seed(seed, "seed")
    _default.bit_generator.state = np.random.PCG64(_initial_seed).state
    return _default


def initial_seed() -> int:
    """The seed the package generator was last seeded with (PyTorch's ``torch.initial_seed``)."""
    return _initial_seed


def default_generator() -> np.random.Generator:
    """The package generator that ``seed=None`` draws from."""
    return _default


def as_generator(seed=None, *, name: str = "seed") -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed, a Generator, or None.

    Parameters
    ----------
    seed : int >= 0, numpy.random.Generator or None
        An int seeds a new PCG64 generator (same int, same numbers). A Generator is
        used as is (shared, so successive draws continue its stream). ``None`` is the
        package generator (see :func:`manual_seed`), which advances with every draw.
    name : str
        The argument's name, for the error message.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return _default
    return np.random.default_rng(_check_seed(seed, name))
