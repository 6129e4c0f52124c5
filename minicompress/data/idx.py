"""Read IDX files: the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number, then one big-endian uint32 per dimension, then the data,
C order, big-endian::

    magic = 0x00 0x00 <type code> <number of dimensions>
    type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64

so an MNIST image file starts with 0x00000803 (uint8, 3 dimensions: N, 28, 28) and a label file
with 0x00000801 (uint8, 1 dimension: N). The files may be gzip-compressed (``.gz``); the reader
decides by the gzip magic bytes, not by the file name.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from minicompress.errors import InputError

from ._common import read_maybe_gzip

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MNIST_IMAGES_MAGIC = 0x00000803
MNIST_LABELS_MAGIC = 0x00000801


def parse_idx(data: bytes, name: str = "<bytes>", expected_magic: int | None = None) -> np.ndarray:
    """Decode the bytes of an (already decompressed) IDX file; see :func:`read_idx`.

    ``name`` is used only in error messages.
    """
    if len(data) < 4:
        raise InputError(f"{name}: {len(data)} bytes is too short for an IDX file (4-byte magic)")
    (magic,) = struct.unpack(">I", data[:4])
    if expected_magic is not None and magic != expected_magic:
        raise InputError(
            f"{name}: IDX magic number is 0x{magic:08X}, expected 0x{expected_magic:08X}"
        )
    type_code, ndim = data[2], data[3]
    if data[:2] != b"\x00\x00" or type_code not in IDX_DTYPES or ndim == 0:
        codes = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise InputError(
            f"{name}: 0x{magic:08X} is not an IDX magic number (expected 0x0000TTDD with "
            f"type code TT in {codes} and DD >= 1 dimensions)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise InputError(
            f"{name}: truncated IDX header: {ndim} dimensions need {header} header bytes, "
            f"the file has {len(data)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[type_code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise InputError(
            f"{name}: IDX file {what}: dimensions {tuple(shape)} of {dtype.name} need "
            f"{expected} bytes (header included), the file has {len(data)}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    # Native byte order and an array that owns its (writable) memory.
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw).

    Parameters
    ----------
    path : str or os.PathLike
        The file. Compression is detected from the first two bytes (gzip magic 1f 8b).
    expected_magic : int, optional
        If given, the magic number the file must have (e.g. 0x00000803 for MNIST images).

    Returns
    -------
    numpy.ndarray
        Shape as the header says (e.g. (N, 28, 28) for images, (N,) for labels), dtype from the
        type code in native byte order (uint8 for MNIST), writable.

    Raises
    ------
    ValueError
        Wrong magic, truncated header or data, trailing bytes, or a corrupt gzip stream;
        the message names the path and the expected/actual byte counts.
    """
    return parse_idx(read_maybe_gzip(path), os.fspath(path), expected_magic)


def _find(directory: Path, stems: list[str]) -> Path:
    candidates = [directory / (s + ext) for s in stems for ext in (".gz", "")]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(
        f"none of {[c.name for c in candidates]} found in {directory}"
    )


def load_mnist(
    directory: str | os.PathLike, kind: str = "train", flatten: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST or Fashion-MNIST from the standard IDX files in ``directory``.

    Looks for ``{kind}-images-idx3-ubyte[.gz]`` and ``{kind}-labels-idx1-ubyte[.gz]`` (also
    the ``{kind}-images.idx3-ubyte`` spelling some mirrors use).

    Parameters
    ----------
    directory : str or os.PathLike
    kind : {"train", "t10k"}
        The training (60,000 images) or test (10,000 images) files.
    flatten : bool
        If True, return images as (N, 784) instead of (N, 1, 28, 28).

    Returns
    -------
    x : numpy.ndarray, float32, shape (N, 1, rows, cols) or (N, rows * cols)
        Pixels scaled to [0, 1]: x = uint8 / 255.
    y : numpy.ndarray, int64, shape (N,)
        Labels 0-9.

    Raises
    ------
    FileNotFoundError
        If the files are not in ``directory``.
    ValueError
        Bad magic numbers, truncated files, image and label counts that differ, labels > 9.
    """
    if kind not in ("train", "t10k"):
        raise InputError(f"kind must be 'train' or 't10k', got {kind!r}")
    directory = Path(directory)
    img_path = _find(directory, [f"{kind}-images-idx3-ubyte", f"{kind}-images.idx3-ubyte"])
    lbl_path = _find(directory, [f"{kind}-labels-idx1-ubyte", f"{kind}-labels.idx1-ubyte"])
    images = read_idx(img_path, expected_magic=MNIST_IMAGES_MAGIC)
    labels = read_idx(lbl_path, expected_magic=MNIST_LABELS_MAGIC)
    return mnist_arrays(images, labels, str(img_path), str(lbl_path), flatten)


def mnist_arrays(
    images: np.ndarray, labels: np.ndarray, img_name: str, lbl_name: str, flatten: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Check decoded MNIST arrays and convert them: uint8 (N, H, W) -> float32 in [0, 1]."""
    if images.shape[0] != labels.shape[0]:
        raise InputError(
            f"image/label count mismatch: {img_name} holds {images.shape[0]} images, "
            f"{lbl_name} holds {labels.shape[0]} labels"
        )
    if labels.size and labels.max() > 9:
        raise InputError(f"{lbl_name}: labels must be 0-9, found {int(labels.max())}")
    n, rows, cols = images.shape
    x = images.astype(np.float32) / np.float32(255.0)
    x = x.reshape(n, rows * cols) if flatten else x.reshape(n, 1, rows, cols)
    return x, labels.astype(np.int64)
