"""mnist10k: the built-in offline dataset (the 10,000-image MNIST test set, shipped in the package).

The split is a fixed seeded permutation, never by position (the first 5,000 MNIST test images
are cleaner than the last 5,000)::

    perm = numpy.random.default_rng(0).permutation(10000)
    train = perm[:8000]      test = perm[8000:]

The decoded arrays are cached in memory and returned **read-only** (``flags.writeable`` is False)
so that no caller can change what the next caller gets. Copy before modifying in place:
``x = x_train.copy()``; anything that makes a new array (``x * 2``, ``x[idx]``) is already a copy.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from minicompress.errors import InputError, InputTypeError

from ._common import read_maybe_gzip
from .idx import MNIST_IMAGES_MAGIC, MNIST_LABELS_MAGIC, mnist_arrays, parse_idx

MNIST10K_DIR = Path(__file__).resolve().parent / "mnist10k"
MNIST10K_FILES = {
    "t10k-images-idx3-ubyte.gz": "9fe7630f90c0e670227960a294637bc2e78a29d724810e24204eb342c9f033a1",
    "t10k-labels-idx1-ubyte.gz": "2c54c993d38068b3c3adb720a5cdee07065a066a7b36e7d1df720548d6359eba",
}
MNIST10K_SPLIT_SEED = 0
MNIST10K_N_TRAIN = 8000
MNIST10K_CREDIT = (
    "mnist10k is the 10,000-image test set of the MNIST database of handwritten digits, "
    "by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, made available under the "
    "Creative Commons Attribution-Share Alike 3.0 licence (CC BY-SA 3.0)."
)


def _verified_bytes(path: Path, sha256: str) -> bytes:
    """Return the decompressed content of ``path`` after checking its sha256."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise InputError(
            f"{path}: sha256 is {digest}, expected {sha256}; the shipped mnist10k file is "
            "corrupt or was replaced (reinstall minicompress)"
        )
    return read_maybe_gzip(path)


def _read_all(directory: Path = MNIST10K_DIR, flatten: bool = False):
    """Decode and check the two shipped files: x float32 (10000, 1, 28, 28), y int64 (10000,)."""
    names = list(MNIST10K_FILES)
    images = parse_idx(
        _verified_bytes(directory / names[0], MNIST10K_FILES[names[0]]),
        str(directory / names[0]),
        MNIST_IMAGES_MAGIC,
    )
    labels = parse_idx(
        _verified_bytes(directory / names[1], MNIST10K_FILES[names[1]]),
        str(directory / names[1]),
        MNIST_LABELS_MAGIC,
    )
    return mnist_arrays(images, labels, names[0], names[1], flatten)


def mnist10k_split() -> tuple[np.ndarray, np.ndarray]:
    """The split rule: (train_indices (8000,), test_indices (2000,)), int64, into the 10,000 images.

    ``perm = numpy.random.default_rng(0).permutation(10000)``; train = perm[:8000],
    test = perm[8000:].
    """
    perm = np.random.default_rng(MNIST10K_SPLIT_SEED).permutation(10000)
    return perm[:MNIST10K_N_TRAIN], perm[MNIST10K_N_TRAIN:]


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=2)
def _cached(flatten: bool):
    x, y = _read_all(MNIST10K_DIR, flatten)
    train, test = mnist10k_split()
    return tuple(_read_only(a) for a in (x[train], y[train], x[test], y[test]))


def load_mnist10k(
    flatten: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load the built-in mnist10k dataset: 8,000 training and 2,000 test images of digits.

    Parameters
    ----------
    flatten : bool
        False: images as (N, 1, 28, 28) (for convolutions). True: (N, 784) (for MLPs),
        row-major, so ``x_flat == x.reshape(N, 784)``.

    Returns
    -------
    x_train : numpy.ndarray, float32, (8000, 1, 28, 28) or (8000, 784), values in [0, 1]
    y_train : numpy.ndarray, int64, (8000,), digits 0-9
    x_test : numpy.ndarray, float32, (2000, 1, 28, 28) or (2000, 784)
    y_test : numpy.ndarray, int64, (2000,)

    Notes
    -----
    Pixels are x = uint8 / 255. The split is :func:`mnist10k_split`. The first call reads the
    shipped files (checking their sha256) and caches the result; every call returns the same
    **read-only** arrays, so copy them (``x.copy()``) before modifying in place.
    Credit: see ``MNIST10K_CREDIT`` (CC BY-SA 3.0).

    Raises
    ------
    ValueError
        If a shipped file is corrupt (its sha256 does not match); the message names the file.
    """
    if not isinstance(flatten, (bool, np.bool_)):
        raise InputTypeError(f"flatten must be a bool, got {type(flatten).__name__}")
    return _cached(bool(flatten))
