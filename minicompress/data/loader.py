"""DataLoader: cut (x, y) into mini-batches, optionally shuffled with a seeded generator."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator

import numpy as np

from minicompress.errors import InputError, InputTypeError

from ._common import as_generator


class DataLoader:
    """Iterate over ``(xb, yb)`` mini-batches of NumPy arrays.

    Each ``for`` loop over the loader is one epoch: every sample appears exactly once
    (or, with ``drop_last=True``, all but the ``len(x) % batch_size`` left over).
    With ``shuffle=True`` each epoch draws a new permutation from the same generator, so
    epoch 1 and epoch 2 differ, but the whole sequence of epochs is fixed by ``seed``.

    Parameters
    ----------
    x : numpy.ndarray, shape (N, ...)
        Inputs; batches are ``x[idx]`` (fancy indexing, so each batch is a fresh copy).
    y : numpy.ndarray, shape (N, ...)
        Targets (labels, or soft targets for distillation), indexed the same way.
    batch_size : int >= 1
    shuffle : bool
        False: batches in order 0..N-1. True: a new seeded permutation per epoch.
    seed : int, numpy.random.Generator or None
        Drives the shuffling. An int makes the run reproducible; a Generator is shared
        (its stream advances); None draws from the package generator
        (``minicompress.manual_seed``). Unused when ``shuffle=False``.
    drop_last : bool
        Drop the last, smaller batch (so every batch has exactly ``batch_size`` samples).
    transform : callable or None
        Applied to each input batch, ``xb = transform(xb)`` (e.g. :class:`Compose` of the
        augmentations in ``minicompress.data.transforms``). Targets are not transformed.

    Examples
    --------
    >>> import numpy as np
    >>> loader = DataLoader(np.arange(5), np.arange(5), batch_size=2)
    >>> [xb.tolist() for xb, _ in loader], len(loader)
    ([[0, 1], [2, 3], [4]], 3)
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle: bool = False,
        seed: int | np.random.Generator | None = None,
        drop_last: bool = False,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        for name, a in (("x", x), ("y", y)):
            if not isinstance(a, np.ndarray):
                raise InputTypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
            if a.ndim == 0:
                raise InputError(f"{name} must have a sample axis (ndim >= 1), got a 0-d array")
            if a.dtype.kind not in "biuf":
                raise InputTypeError(f"{name} must hold real numbers (float, int or bool), got dtype {a.dtype}")
        if len(x) != len(y):
            raise InputError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise InputTypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        if transform is not None and not callable(transform):
            raise InputTypeError(f"transform must be callable or None, got {type(transform).__name__}")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        # Made once: every epoch continues the same stream, hence a new permutation per epoch.
        self.rng = as_generator(seed) if self.shuffle else None

    def __len__(self) -> int:
        """Number of batches per epoch: floor(N / B) with drop_last, else ceil(N / B)."""
        n, b = len(self.x), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        n = len(self.x)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for k in range(len(self)):
            idx = order[k * self.batch_size : (k + 1) * self.batch_size]
            xb = self.x[idx]
            if self.transform is not None:
                xb = self.transform(xb)
            yield xb, self.y[idx]
