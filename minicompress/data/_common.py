"""Small helpers shared by the data layer: seeds, and reading a possibly gzipped file."""

from __future__ import annotations

import gzip
import numbers
import os
import zlib

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"


def as_generator(seed, *, name: str = "seed") -> np.random.Generator:
    """Turn ``seed`` into a ``numpy.random.Generator``.

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
        An int (>= 0) seeds a new PCG64 generator, so the same int gives the same numbers.
        A Generator is used as is (shared, not copied), so successive draws continue its stream.
        None draws fresh entropy from the operating system (not reproducible).
    name : str
        The argument's name, for the error message.

    Returns
    -------
    numpy.random.Generator
    """
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"{name} must be an int >= 0, a numpy.random.Generator or None, "
            f"got {type(seed).__name__}"
        )
    if seed < 0:
        raise ValueError(f"{name} must be >= 0, got {seed}")
    return np.random.default_rng(int(seed))


def read_maybe_gzip(path: str | os.PathLike) -> bytes:
    """Return the bytes of ``path``, decompressed if it starts with the gzip magic 1f 8b.

    The file name is not trusted (``.gz`` or not): the first two bytes decide.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file looks gzipped but its compressed stream is truncated or corrupt.
    """
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        # EOFError: stream cut short; BadGzipFile (an OSError), zlib.error: bad header/CRC/data.
        raise ValueError(
            f"{os.fspath(path)}: starts with the gzip magic 1f 8b but is not a complete gzip "
            f"stream ({type(exc).__name__}: {exc}); the file is truncated or corrupt"
        ) from exc
