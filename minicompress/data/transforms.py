"""Seedable transforms on NumPy image batches of shape (N, C, H, W).

The augmentation of doc 000 (its CIFAR-10 training set), in NumPy::

    Compose([RandomHorizontalFlip(0.5, seed=0),
             RandomCrop(32, padding=4, seed=1),
             Normalize(0.5, 0.5)])

Each random transform owns a ``numpy.random.Generator`` made from its ``seed``; the same seed
gives the same sequence of outputs. Pass one shared Generator to several transforms to drive
them from a single stream. Every transform returns a new array and never changes its input
(so it works on the read-only arrays of ``load_mnist10k``).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence

import numpy as np

from minicompress.errors import InputError, InputTypeError

from ._common import as_generator


def _check_batch(x, who: str) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise InputTypeError(f"{who} expects a numpy.ndarray, got {type(x).__name__}")
    if x.ndim != 4:
        raise InputError(
            f"{who} expects a batch of shape (N, C, H, W), got shape {x.shape} "
            "(for MNIST use load_mnist10k() without flatten=True)"
        )
    return x


class Normalize:
    """Per-channel standardisation: ``out[n, c] = (x[n, c] - mean[c]) / std[c]``.

    Parameters
    ----------
    mean, std : float or sequence of float (one per channel)
        ``std`` must be > 0. A scalar applies to every channel.

    Notes
    -----
    Float inputs keep their dtype; integer inputs become float32. Deterministic (no seed).
    With mean = std = 0.5 (doc 000), pixels in [0, 1] map to [-1, 1].
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]):
        for name, v in (("mean", mean), ("std", std)):
            kind = np.asarray(v).dtype.kind
            if kind not in "biuf":
                raise InputTypeError(f"{name} must be a real number or a sequence of them, got {v!r}")
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.ndim != 1 or not np.all(np.isfinite(v)):
                raise InputError(f"{name} must be a finite number or 1-D sequence, got {v}")
        if np.any(self.std <= 0):
            raise InputError(f"std must be > 0 for every channel, got {self.std.tolist()}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_batch(x, "Normalize")
        c = x.shape[1]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, c):
                raise InputError(f"{name} has {v.size} values but the batch has {c} channels")
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)
        mean = self.mean.astype(dtype).reshape(1, -1, 1, 1)
        std = self.std.astype(dtype).reshape(1, -1, 1, 1)
        return (x.astype(dtype, copy=False) - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``, independently per image.

    ``out[n, :, :, w] = x[n, :, :, W - 1 - w]`` if ``u[n] < p`` else ``x[n]``, with
    ``u ~ Uniform[0, 1)^N`` drawn from the generator (one draw of N numbers per call).

    Parameters
    ----------
    p : float in [0, 1]
    seed : int, numpy.random.Generator or None
    """

    def __init__(self, p: float = 0.5, seed: int | np.random.Generator | None = None):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise InputError(f"p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = as_generator(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_batch(x, "RandomHorizontalFlip")
        flip = self.rng.random(x.shape[0]) < self.p
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomCrop:
    """Pad each image by ``padding`` on all four sides, then cut a random ``size`` window.

    For image n with top-left corner (i_n, j_n), drawn uniformly from
    ``{0, ..., H + 2 pad - h} x {0, ..., W + 2 pad - w}``::

        out[n, c, a, b] = padded[n, c, i_n + a, j_n + b]

    Parameters
    ----------
    size : int or (int, int)
        Output height and width (h, w); an int means a square.
    padding : int >= 0
        Pixels of ``fill`` added on each side before cropping (doc 000: 32 with padding 4).
    seed : int, numpy.random.Generator or None
    fill : float
        The padding value (0, like torchvision's default).

    Notes
    -----
    Vectorised with one fancy-indexing gather for the whole batch (no loop over images).
    """

    def __init__(
        self,
        size: int | tuple[int, int],
        padding: int = 0,
        seed: int | np.random.Generator | None = None,
        fill: float = 0.0,
    ):
        hw = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
        if len(hw) != 2 or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in hw
        ):
            raise InputError(f"size must be an int >= 1 or a pair of them, got {size!r}")
        if isinstance(padding, bool) or not isinstance(padding, numbers.Integral) or padding < 0:
            raise InputError(f"padding must be an int >= 0, got {padding!r}")
        self.size = (int(hw[0]), int(hw[1]))
        self.padding = int(padding)
        self.fill = float(fill)
        self.rng = as_generator(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = _check_batch(x, "RandomCrop")
        n, c, hgt, wid = x.shape
        h, w = self.size
        p = self.padding
        if h > hgt + 2 * p or w > wid + 2 * p:
            raise InputError(
                f"crop size {self.size} is larger than the padded image "
                f"({hgt + 2 * p}, {wid + 2 * p}) (image {hgt}x{wid}, padding {p})"
            )
        if p:
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=self.fill)
        top = self.rng.integers(0, hgt + 2 * p - h + 1, size=n)
        left = self.rng.integers(0, wid + 2 * p - w + 1, size=n)
        rows = (top[:, None] + np.arange(h))[:, None, :, None]  # (N, 1, h, 1)
        cols = (left[:, None] + np.arange(w))[:, None, None, :]  # (N, 1, 1, w)
        return x[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding}, fill={self.fill})"


class Compose:
    """Apply transforms in order: ``Compose([f, g])(x) == g(f(x))``.

    Parameters
    ----------
    transforms : sequence of callables, each ndarray -> ndarray
        Each random transform keeps its own seed/Generator.
    """

    def __init__(self, transforms: Sequence[Callable[[np.ndarray], np.ndarray]]):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise InputTypeError(f"Compose needs callables, got {type(t).__name__}")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"
