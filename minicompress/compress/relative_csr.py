"""Sparse storage with relative indices (Deep Compression §2): :class:`RelativeCSR`.

A pruned weight matrix is mostly zeros. Deep Compression (Han et al. 2016, §2) stores only
the nonzeros, in CSR order, and instead of each one's column stores the *gap* to the
previous stored entry of the same row in a small fixed number of bits (``index_bits``, 5 for
fully connected layers in the paper). A gap too large for ``index_bits`` is bridged with
*filler zeros*: an explicit zero value stored ``2**index_bits`` positions further on.

Encoding used here, per row (the row's first entry counts from column -1)::

    gap   = column - previous_column - 1        # zeros skipped, 0 <= gap
    fills = gap // 2**index_bits                # filler zeros inserted before the entry
    each filler has gap 2**index_bits - 1 and value 0; the entry keeps gap % 2**index_bits

Example (index_bits = 2, so gaps 0..3; row ``[0, 5, 0, 0, 0, 0, 0, 0, 7]``): the 5 is at
column 1, gap 1; the 7 is at column 8, gap 6 = one filler (gap 3, lands on column 5) then
gap 2. Stored: ``gaps = [1, 3, 2]``, ``values = [5, 0, 7]``.

The byte count is exact: :meth:`RelativeCSR.nbytes` equals ``len(RelativeCSR.to_bytes())``,
and :meth:`RelativeCSR.from_bytes` reads it back. Layout (little-endian)::

    header   b"RCSR", u8 version, u8 index_bits, u8 value-dtype code, u8 ndim,
             u32 n_stored, ndim x u32 shape                      (12 + 4*ndim bytes)
    indptr   (rows + 1) x u32: stored entries (fillers included) before each row
    gaps     ceil(n_stored * index_bits / 8) bytes, packed by :mod:`.bitpack` (LSB first)
    values   n_stored x itemsize (float32: 4 bytes)

Rows are ``shape[0]``; any further dimensions are flattened into columns, so a Conv2d weight
(C_out, C_in, k, k) is stored as (C_out, C_in*k*k) and comes back in its own shape.

Running a pruned model on its nonzeros is :mod:`.sparse_inference`.

Public API (stable; the Deep Compression packer builds on it)::

    RelativeCSR.from_dense(w, index_bits=5) -> RelativeCSR
    r.to_dense(), r.to_csr() -> (indptr, indices, values) without fillers
    r.shape, r.index_bits, r.indptr, r.gaps, r.values, r.nnz, r.n_stored, r.n_fillers
    r.nbytes() (exact), r.nbytes_breakdown(), r.to_bytes(), RelativeCSR.from_bytes(buf)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from minicompress.compress.bitpack import check_bits, pack_bits, packed_size, unpack_bits
from minicompress.errors import InputError, InputTypeError
from minicompress.kernels import to_csr

_MAGIC = b"RCSR"
_VERSION = 1
_DTYPES = {1: np.dtype(np.float32), 2: np.dtype(np.float64), 3: np.dtype(np.float16)}
_CODES = {dt: code for code, dt in _DTYPES.items()}
_HEADER = struct.Struct("<4sBBBBI")  # magic, version, index_bits, dtype code, ndim, n_stored


@dataclass(frozen=True)
class RelativeCSR:
    """A sparse matrix as rows of (gap, value) pairs with gaps in ``index_bits`` bits.

    Attributes
    ----------
    shape : tuple of int
        The dense shape (``ndim >= 2``; rows are ``shape[0]``).
    index_bits : int
        Bits per stored gap; gaps lie in ``[0, 2**index_bits - 1]``.
    indptr : ndarray of int64, shape (rows + 1,)
        Row ``r``'s stored entries are ``indptr[r]:indptr[r + 1]`` (fillers included).
    gaps : ndarray of int64, shape (n_stored,)
        Zeros skipped before each stored entry, counted within its row.
    values : ndarray, shape (n_stored,)
        The stored values: every nonzero, plus 0.0 for each filler.
    """

    shape: tuple
    index_bits: int
    indptr: np.ndarray
    gaps: np.ndarray
    values: np.ndarray

    # ----------------------------------------------------------- building
    @classmethod
    def from_dense(cls, w, index_bits: int = 5) -> RelativeCSR:
        """Encode the nonzeros of ``w`` (shape (rows, ...), float16/32/64).

        Parameters
        ----------
        w : numpy.ndarray, ndim >= 2
        index_bits : int, 1..16
            5 is Deep Compression's choice for fully connected layers, 8 for convolutions.
        """
        if not isinstance(w, np.ndarray):
            raise InputTypeError(f"w must be a numpy.ndarray, got {type(w).__name__}")
        if w.ndim < 2:
            raise InputError(f"w must have at least 2 dimensions (rows, columns), got shape {w.shape}")
        if w.dtype not in _CODES:
            raise InputTypeError(f"w must be float16, float32 or float64, got {w.dtype}")
        if not np.all(np.isfinite(w)):
            raise InputError("w must be finite (no NaN or inf)")
        index_bits = check_bits(index_bits, "index_bits", high=16)
        rows = w.shape[0]
        flat = w.reshape(rows, int(np.prod(w.shape[1:])))
        r, c = np.nonzero(flat)  # row-major: columns increase within a row
        prev = np.full(c.shape, -1, dtype=np.int64)
        same_row = np.zeros(c.shape, dtype=bool)
        same_row[1:] = r[1:] == r[:-1]
        prev[1:][same_row[1:]] = c[:-1][same_row[1:]]
        gap = c.astype(np.int64) - prev - 1
        span = 2**index_bits
        fills = gap // span
        per_entry = fills + 1  # stored slots per nonzero: its fillers, then itself
        n_stored = int(per_entry.sum())
        # slot k of entry i: fillers for k < fills[i], the entry itself at k == fills[i]
        owner = np.repeat(np.arange(c.size), per_entry)
        first_slot = np.cumsum(per_entry) - per_entry
        k = np.arange(n_stored) - first_slot[owner]
        is_entry = k == fills[owner]
        gaps = np.where(is_entry, gap[owner] % span, span - 1).astype(np.int64)
        values = np.where(is_entry, flat[r[owner], c[owner]], 0).astype(w.dtype)
        counts = np.bincount(r[owner], minlength=rows) if n_stored else np.zeros(rows, np.int64)
        indptr = np.zeros(rows + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(tuple(int(s) for s in w.shape), index_bits, indptr, gaps, values)

    # ----------------------------------------------------------- reading
    def _columns(self) -> np.ndarray:
        """Column of every stored entry: running sum of (gap + 1) within the row, minus 1."""
        steps = self.gaps + 1
        run = np.cumsum(steps)
        row_of = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        before_row = np.concatenate([[0], run])[self.indptr[:-1]]
        return run - before_row[row_of] - 1, row_of

    def to_dense(self) -> np.ndarray:
        """The dense array, in the original shape and dtype."""
        rows = self.shape[0]
        cols = int(np.prod(self.shape[1:]))
        out = np.zeros((rows, cols), dtype=self.values.dtype)
        c, r = self._columns()
        out[r, c] = self.values
        return out.reshape(self.shape)

    def to_csr(self):
        """Absolute-index CSR without fillers: ``(indptr int64, indices int32, values)``.

        This is the form :func:`minicompress.kernels.csr_linear` takes.
        """
        return to_csr(self.to_dense().reshape(self.shape[0], int(np.prod(self.shape[1:]))))

    @property
    def n_stored(self) -> int:
        """Stored entries, fillers included."""
        return int(self.values.size)

    @property
    def nnz(self) -> int:
        """True nonzeros (stored entries that are not fillers)."""
        return int(np.count_nonzero(self.values))

    @property
    def n_fillers(self) -> int:
        return self.n_stored - self.nnz

    # ----------------------------------------------------------- bytes
    def nbytes_breakdown(self) -> dict:
        """Bytes of each part of :meth:`to_bytes`: header, indptr, gaps, values and total."""
        parts = {
            "header": _HEADER.size + 4 * len(self.shape),
            "indptr": 4 * self.indptr.size,
            "gaps": packed_size(self.n_stored, self.index_bits),
            "values": self.n_stored * self.values.dtype.itemsize,
        }
        parts["total"] = sum(parts.values())
        return parts

    def nbytes(self) -> int:
        """Exact size in bytes of :meth:`to_bytes` (header, row pointers, packed gaps, values)."""
        return self.nbytes_breakdown()["total"]

    def dense_nbytes(self) -> int:
        """Bytes of the same matrix stored densely (``prod(shape) * itemsize``)."""
        return int(np.prod(self.shape)) * self.values.dtype.itemsize

    def to_bytes(self) -> bytes:
        """The layout described in the module docstring; ``len(...) == nbytes()``."""
        if self.indptr[-1] >= 2**32:
            raise InputError("too many stored entries for u32 row pointers")
        head = _HEADER.pack(_MAGIC, _VERSION, self.index_bits, _CODES[self.values.dtype],
                            len(self.shape), self.n_stored)
        head += struct.pack(f"<{len(self.shape)}I", *self.shape)
        return b"".join([
            head,
            self.indptr.astype("<u4").tobytes(),
            pack_bits(self.gaps, self.index_bits).tobytes(),
            self.values.astype(self.values.dtype.newbyteorder("<")).tobytes(),
        ])

    @classmethod
    def from_bytes(cls, buf: bytes) -> RelativeCSR:
        """Read what :meth:`to_bytes` wrote; ``ValueError`` if ``buf`` is not such a record."""
        buf = bytes(buf)
        if len(buf) < _HEADER.size:
            raise InputError(f"buffer of {len(buf)} bytes is too short for a RelativeCSR header")
        magic, version, bits, code, ndim, n_stored = _HEADER.unpack_from(buf)
        if magic != _MAGIC or version != _VERSION:
            raise InputError(f"not a RelativeCSR v{_VERSION} record (magic {magic!r}, version {version})")
        if code not in _DTYPES:
            raise InputError(f"unknown value dtype code {code}")
        pos = _HEADER.size
        shape = struct.unpack_from(f"<{ndim}I", buf, pos)
        pos += 4 * ndim
        dtype = _DTYPES[code]
        sizes = [4 * (shape[0] + 1), packed_size(n_stored, bits), n_stored * dtype.itemsize]
        if len(buf) != pos + sum(sizes):
            raise InputError(f"RelativeCSR record should be {pos + sum(sizes)} bytes, got {len(buf)}")
        indptr = np.frombuffer(buf, "<u4", shape[0] + 1, pos).astype(np.int64)
        pos += sizes[0]
        gaps = unpack_bits(np.frombuffer(buf, np.uint8, sizes[1], pos), bits, n_stored)
        pos += sizes[1]
        values = np.frombuffer(buf, dtype.newbyteorder("<"), n_stored, pos).astype(dtype)
        return cls(tuple(shape), bits, indptr, gaps, values)

    def __eq__(self, other):
        if not isinstance(other, RelativeCSR):
            return NotImplemented
        return (self.shape == other.shape and self.index_bits == other.index_bits
                and np.array_equal(self.indptr, other.indptr)
                and np.array_equal(self.gaps, other.gaps)
                and np.array_equal(self.values, other.values))

    __hash__ = None


__all__ = ["RelativeCSR"]
