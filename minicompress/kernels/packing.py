"""The packed int8 weight layout every integer GEMM reads: column panels of 32, k in groups of 4.

``pack_weights`` pads K to a multiple of 4 and N to a multiple of NR = 32 and stores ``b`` as
column panels of 32 columns; inside a panel, for each group of four k, the 32 columns' four
bytes lie next to each other (``panel[q, j, t] = b[4q + t, j]``), which is exactly one 64-byte
AVX-512 register per 16 columns (see :mod:`.gemm_vnni`). The portable kernel
(:mod:`.gemm_portable`) reads the same layout.
"""

import numpy as np

from minicompress.errors import InputError, InputTypeError

from ._checks import check_k
from ._checks import zero_point as _check_zp

MR = 4  # rows of the register tile
NV = 2  # 16-column zmm vectors per tile row
NR = NV * 16  # columns per packed panel (32): two 16-lane int32 registers


class PackedWeights:
    """An int8 weight matrix ``b`` of shape (K, N) packed once for :func:`qlinear`.

    Attributes
    ----------
    k, n : int
        Reduction length and number of output columns.
    zero_point : int
        Weight zero point ``zb`` (0 for symmetric weights).
    col_sums : ndarray, shape (N,), int64
        ``sum_k b[k, j]``, used to fold the activation zero point in after the GEMM.
    data : ndarray
        The packed layout (private; see :func:`pack_weights`).
    """

    __slots__ = ("k", "n", "kpad", "npad", "zero_point", "col_sums", "data")

    def __init__(self, k, n, zero_point, col_sums, data):
        self.k, self.n, self.zero_point = k, n, zero_point
        self.kpad, self.npad = _round_up(k, 4), _round_up(n, NR)
        self.col_sums, self.data = col_sums, data

    @property
    def shape(self):
        return (self.k, self.n)

    def unpack(self):
        """Return the original (K, N) int8 matrix."""
        panels = self.data.reshape(self.npad // NR, self.kpad // 4, NR, 4)
        return panels.transpose(1, 3, 0, 2).reshape(self.kpad, self.npad)[: self.k, : self.n].copy()

    def __repr__(self):
        return f"PackedWeights(k={self.k}, n={self.n}, zero_point={self.zero_point})"


def pack_weights(b, zero_point=0):
    """Pack an int8 weight matrix once so every later :func:`qlinear` call reuses it.

    Parameters
    ----------
    b : ndarray, shape (K, N), int8
        The right-hand operand. For a Linear layer's weight ``W`` of shape (out, in) pass
        ``W.T`` (a strided view is fine; packing copies anyway).
    zero_point : int in [-128, 127]
        Weight zero point (0 for symmetric quantization).

    Returns
    -------
    PackedWeights
    """
    if not isinstance(b, np.ndarray):
        raise InputTypeError(f"b must be a numpy.ndarray, got {type(b).__name__}")
    if b.dtype != np.int8:
        raise InputTypeError(f"b must have dtype int8; got {b.dtype.name}")
    if b.ndim != 2:
        raise InputError(f"b must be 2-D (K, N); got shape {b.shape}")
    k, n = b.shape
    if k == 0 or n == 0:
        raise InputError(f"b must be non-empty; got shape {b.shape}")
    check_k(k)
    zb = _check_zp(zero_point, np.int8, "zero_point")  # the parameter shadows the checker's name
    col_sums = b.sum(axis=0, dtype=np.int64)
    return PackedWeights(k, n, zb, col_sums, _pack(np.ascontiguousarray(b)))


def _round_up(x, m):
    return (x + m - 1) // m * m


def _pack(b):
    """(K, N) int8 -> flat panels: ``data[((p * Kpad/4 + q) * NR + j) * 4 + t] = b[4q + t, p*NR + j]``."""
    k, n = b.shape
    kpad, npad = _round_up(k, 4), _round_up(n, NR)
    padded = np.zeros((kpad, npad), dtype=np.int8)
    padded[:k, :n] = b
    panels = padded.reshape(kpad // 4, 4, npad // NR, NR).transpose(2, 0, 3, 1)
    return np.ascontiguousarray(panels).ravel()


__all__ = ["MR", "NR", "NV", "PackedWeights", "pack_weights"]
