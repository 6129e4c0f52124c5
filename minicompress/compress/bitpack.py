"""Bit packing: small non-negative integers stored in ``bits`` bits each, one order everywhere.

Every packed stream in minicompress uses this module and this order: sub-byte quantized
integers (:class:`minicompress.compress.quantization.QuantizedTensor`), the relative
indices of :class:`minicompress.compress.relative_csr.RelativeCSR`, the fixed-width
sections of a ``.mcz`` file and its Huffman bit streams (:mod:`.huffman` packs its
stream as 1-bit integers).

The order is **least significant bit first**, as DEFLATE (RFC 1951 §3.1.1) and
``numpy.packbits(..., bitorder="little")``: bit ``j`` of the stream is bit ``j % 8`` of
byte ``j // 8``, and integer ``i`` occupies stream bits ``i*bits .. i*bits + bits - 1``,
its least significant bit first. Example: ``pack_bits([1, 2, 3], 2)`` is the single byte
``0b00111001`` (1 = ``01`` in bits 0-1, 2 = ``10`` in bits 2-3, 3 = ``11`` in bits 4-5);
unused high bits of the last byte are zero.
"""

from __future__ import annotations

import numbers

import numpy as np

from minicompress.errors import InputError, InputTypeError

MAX_BITS = 32


def check_bits(bits, name: str = "bits", low: int = 1, high: int = MAX_BITS) -> int:
    """``bits`` as an int; ``InputTypeError``/``InputError`` unless it is an integer in [low, high]."""
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer, got {type(bits).__name__}")
    if not low <= bits <= high:
        raise InputError(f"{name} must be in [{low}, {high}], got {bits}")
    return int(bits)


def packed_size(count: int, bits: int) -> int:
    """Bytes that ``count`` integers of ``bits`` bits take: ``ceil(count * bits / 8)``."""
    return -(-int(count) * int(bits) // 8)


def pack_bits(values, bits: int) -> np.ndarray:
    """Pack non-negative integers into ``bits`` bits each, least significant bit first.

    Parameters
    ----------
    values : array_like of int, shape (n,)
        Each in ``[0, 2**bits)``.
    bits : int, 1..32

    Returns
    -------
    numpy.ndarray of uint8, shape (ceil(n * bits / 8),)
        The layout of the module docstring.
    """
    bits = check_bits(bits)
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"values must be 1-D, got shape {arr.shape} (flatten them first)")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InputTypeError(f"values must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= 2**bits):
        raise InputError(f"every value must lie in [0, {2**bits - 1}] to fit {bits} bits; "
                         f"got range [{arr.min()}, {arr.max()}]")
    bit_matrix = ((arr[:, None] >> np.arange(bits)) & 1).astype(np.uint8)
    return np.packbits(bit_matrix.reshape(-1), bitorder="little")


def unpack_bits(buf, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: the first ``count`` integers of ``bits`` bits, as int64.

    Parameters
    ----------
    buf : bytes or uint8 ndarray
        At least ``packed_size(count, bits)`` bytes; further bytes are ignored.
    bits : int, 1..32
    count : int >= 0

    Returns
    -------
    numpy.ndarray of int64, shape (count,)
    """
    bits = check_bits(bits)
    if isinstance(count, (bool, np.bool_)) or not isinstance(count, numbers.Integral) or count < 0:
        raise InputError(f"count must be an integer >= 0, got {count!r}")
    buf = np.frombuffer(bytes(buf), dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf
    if buf.dtype != np.uint8:  # a float or complex array would be cast to bytes silently
        raise InputTypeError(f"buf must be bytes or a uint8 array, got dtype {buf.dtype}")
    buf = buf.reshape(-1)
    needed = packed_size(count, bits)
    if buf.size < needed:
        raise InputError(f"buf is too short: count={count} values of {bits} bits need {needed} bytes, "
                         f"got {buf.size}")
    stream = np.unpackbits(buf[:needed], bitorder="little")[: count * bits]
    return (stream.reshape(count, bits).astype(np.int64) << np.arange(bits)).sum(axis=1)


__all__ = ["MAX_BITS", "check_bits", "pack_bits", "packed_size", "unpack_bits"]
