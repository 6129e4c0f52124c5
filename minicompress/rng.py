"""One rule for randomness: every random choice takes a seed or a Generator."""

from __future__ import annotations

import numbers

import numpy as np

from minicompress.errors import InputError, InputTypeError


def as_generator(seed=None, *, name: str = "seed") -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed, a Generator, or None.

    Parameters
    ----------
    seed : int >= 0, numpy.random.Generator or None
        An int seeds a new PCG64 generator (same int, same numbers). A Generator is
        used as is (shared, so successive draws continue its stream). ``None`` means
        seed 0, not fresh entropy: a call that names no seed is still reproducible.
    name : str
        The argument's name, for the error message.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng(0)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputTypeError(f"{name} must be an int >= 0, a numpy.random.Generator or None, got {type(seed).__name__}")
    if seed < 0:
        raise InputError(f"{name} must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))
