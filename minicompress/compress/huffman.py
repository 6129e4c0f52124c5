"""Huffman coding of small non-negative integers (Deep Compression §4).

After k-means the weight indices are far from uniform (most weights sit in the clusters
near zero), and so are the sparse-index gaps; a Huffman code gives frequent symbols
short codewords, so the average bits per symbol approach the entropy

.. math:: H = -\\sum_s p_s \\log_2 p_s \\le \\bar\\ell < H + 1 .

The code is **canonical**: only each symbol's code length is stored; codewords are then
assigned in order of (length, symbol), each the previous plus one, shifted left when the
length grows. The lengths come from the classic merge of the two least frequent nodes,
with ties broken deterministically by (frequency, smallest symbol in the subtree), so the
same data always gives the same code.

Each codeword is written to the bit stream most significant bit first (the order in which a
decoder walks the code); the stream is packed into bytes least significant bit first, as
every packed stream in minicompress (:mod:`.bitpack`, the order of DEFLATE, RFC 1951 §3.1.1).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from minicompress.compress.bitpack import pack_bits, unpack_bits
from minicompress.errors import InputError, InputTypeError

MAX_CODE_LENGTH = 32


def _check_symbols(symbols, alphabet_size: int | None = None) -> np.ndarray:
    s = np.asarray(symbols)
    if s.size and s.dtype.kind not in "iu":
        raise InputTypeError(f"symbols must be integers; got dtype {s.dtype}")
    s = s.reshape(-1).astype(np.int64)
    if s.size and s.min() < 0:
        raise InputError("symbols must be non-negative integers")
    if alphabet_size is not None:
        if isinstance(alphabet_size, bool) or not isinstance(alphabet_size, (int, np.integer)) or alphabet_size < 0:
            raise InputError(f"alphabet_size must be an integer >= 0 or None; got {alphabet_size!r}")
        if s.size and s.max() >= alphabet_size:
            raise InputError(f"symbol {s.max()} is outside the alphabet 0..{alphabet_size - 1} "
                             f"(alphabet_size={alphabet_size})")
    return s


def code_lengths(frequencies) -> np.ndarray:
    """Huffman code length of every symbol 0..n−1 (0 for symbols that never occur).

    Parameters
    ----------
    frequencies : array_like of non-negative integers, shape (n,)

    Returns
    -------
    ndarray of int64, shape (n,)
        A single used symbol gets length 1 (a code needs at least one bit).
    """
    f = np.asarray(frequencies)
    if f.size and f.dtype.kind not in "biu":
        raise InputTypeError(f"frequencies must be non-negative integers; got dtype {f.dtype}")
    f = f.astype(np.int64).reshape(-1)
    if f.size and f.min() < 0:
        raise InputError("frequencies must be >= 0")
    lengths = np.zeros(f.size, dtype=np.int64)
    used = np.flatnonzero(f)
    if used.size == 1:
        lengths[used] = 1
        return lengths
    # heap entries: (frequency, smallest symbol in the subtree, symbols in the subtree)
    heap = [(int(f[s]), int(s), [int(s)]) for s in used]
    heapq.heapify(heap)
    while len(heap) > 1:
        fa, ma, sa = heapq.heappop(heap)
        fb, mb, sb = heapq.heappop(heap)
        lengths[sa] += 1
        lengths[sb] += 1
        heapq.heappush(heap, (fa + fb, min(ma, mb), sa + sb))
    if lengths.max(initial=0) > MAX_CODE_LENGTH:
        raise InputError(f"a code length exceeds {MAX_CODE_LENGTH} bits; the frequencies are too skewed")
    return lengths


def canonical_codes(lengths) -> np.ndarray:
    """Canonical codewords (as integers) from code lengths; 0 for unused symbols."""
    lengths = np.asarray(lengths, dtype=np.int64)
    codes = np.zeros(lengths.size, dtype=np.int64)
    order = sorted((int(length), s) for s, length in enumerate(lengths) if length > 0)
    code, prev = 0, 0
    for i, (length, s) in enumerate(order):
        if i:
            code = (code + 1) << (length - prev)
        else:
            code = 0
        codes[s], prev = code, length
    if order and code >= 1 << order[-1][0]:
        raise InputError("these code lengths do not form a prefix code (Kraft sum > 1)")
    return codes


@dataclass
class HuffmanCode:
    """A canonical Huffman code over the alphabet 0..n−1.

    Attributes
    ----------
    lengths : ndarray of int64, shape (n,)
        Code length per symbol (0 = unused); the only thing a file needs to store.
    """

    lengths: np.ndarray

    def __post_init__(self):
        self.lengths = np.asarray(self.lengths, dtype=np.int64)
        self.codes = canonical_codes(self.lengths)

    @classmethod
    def fit(cls, symbols, alphabet_size: int | None = None) -> HuffmanCode:
        """Build the code from the symbols to be encoded (alphabet 0..max or 0..alphabet_size−1)."""
        s = _check_symbols(symbols, alphabet_size)
        n = alphabet_size if alphabet_size is not None else (int(s.max()) + 1 if s.size else 0)
        return cls(code_lengths(np.bincount(s, minlength=n)))

    @property
    def alphabet_size(self) -> int:
        return int(self.lengths.size)

    def encoded_bits(self, symbols) -> int:
        """Exact size in bits of ``encode(symbols)`` before padding to whole bytes."""
        s = _check_symbols(symbols, self.alphabet_size)
        return int(self.lengths[s].sum())

    def encode(self, symbols) -> tuple[np.ndarray, int]:
        """(bytes as uint8 array, number of bits); ``ValueError`` for a symbol without a codeword."""
        s = _check_symbols(symbols, self.alphabet_size)
        if s.size == 0:
            return np.zeros(0, dtype=np.uint8), 0
        lens = self.lengths[s]
        if np.any(lens == 0):
            raise InputError(f"symbol {int(s[lens == 0][0])} has no codeword in this code")
        width = int(lens.max())
        # each codeword left-aligned in `width` bits; keep its first `len` bits
        shifts = np.arange(width - 1, -1, -1)
        aligned = self.codes[s] << (width - lens)
        bits = ((aligned[:, None] >> shifts) & 1).astype(np.uint8)
        keep = np.arange(width)[None, :] < lens[:, None]
        stream = bits[keep]
        return pack_bits(stream, 1), int(stream.size)

    def decode(self, data, n_symbols: int, n_bits: int | None = None) -> np.ndarray:
        """Read ``n_symbols`` symbols back from ``data`` (uint8 bytes); int64 array.

        Raises ``ValueError`` if the bits run out or do not spell a codeword.
        """
        data = np.asarray(data, dtype=np.uint8)
        bits = unpack_bits(data, 1, data.size * 8)
        if n_bits is not None:
            if n_bits > bits.size:
                raise InputError(f"need {n_bits} bits, the data holds {bits.size}")
            bits = bits[:n_bits]
        # canonical decoding tables: per length, the first code and the symbols in order
        used = [(int(length), s) for s, length in enumerate(self.lengths) if length > 0]
        used.sort()
        max_len = used[-1][0] if used else 0
        first_code, first_index, count = {}, {}, {}
        symbols_in_order = [s for _, s in used]
        for idx, (length, s) in enumerate(used):
            if length not in count:
                first_code[length], first_index[length], count[length] = int(self.codes[s]), idx, 0
            count[length] += 1
        out = np.empty(n_symbols, dtype=np.int64)
        pos, total = 0, bits.size
        bitlist = bits.tolist()
        for i in range(n_symbols):
            code, length = 0, 0
            while True:
                if pos >= total or length >= max_len:
                    raise InputError(f"Huffman data ends or is corrupt at symbol {i} of {n_symbols}")
                code = (code << 1) | bitlist[pos]
                pos += 1
                length += 1
                if length in count and 0 <= code - first_code[length] < count[length]:
                    out[i] = symbols_in_order[first_index[length] + code - first_code[length]]
                    break
        return out


def huffman_encode(symbols, alphabet_size: int | None = None):
    """Encode in one call: returns ``(code, data uint8, n_bits)``."""
    code = HuffmanCode.fit(symbols, alphabet_size)
    data, n_bits = code.encode(symbols)
    return code, data, n_bits


def entropy_bits(symbols) -> float:
    """Shannon entropy of the empirical distribution, in bits per symbol (the lower bound)."""
    s = _check_symbols(symbols)
    if s.size == 0:
        return 0.0
    p = np.bincount(s) / s.size
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())
