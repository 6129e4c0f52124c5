"""One rule for randomness: every random choice takes a seed or a Generator."""

from __future__ import annotations

import numpy as np


def as_generator(seed=None) -> np.random.Generator:
    """A ``numpy.random.Generator`` from an int seed, a Generator (returned as is), or None (seed 0).

    ``None`` means seed 0, not "fresh entropy": the same call always gives the same numbers.
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng(0)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__}")
    return np.random.default_rng(int(seed))
