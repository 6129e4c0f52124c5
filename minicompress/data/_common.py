"""Small helpers shared by the data layer: seeds, and reading a possibly gzipped file."""

from __future__ import annotations

import gzip
import os
import zlib

from minicompress.errors import InputError, InputTypeError
from minicompress.rng import as_generator  # noqa: F401  (re-exported for the data layer)

GZIP_MAGIC = b"\x1f\x8b"


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
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise InputTypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__}")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        # EOFError: stream cut short; BadGzipFile (an OSError), zlib.error: bad header/CRC/data.
        raise InputError(
            f"{os.fspath(path)}: starts with the gzip magic 1f 8b but is not a complete gzip "
            f"stream ({type(exc).__name__}: {exc}); the file is truncated or corrupt"
        ) from exc
