"""Sparse storage with relative indices, and sparse inference for pruned Linear layers.

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
    gaps     ceil(n_stored * index_bits / 8) bytes, bit-packed LSB first
    values   n_stored x itemsize (float32: 4 bytes)

Rows are ``shape[0]``; any further dimensions are flattened into columns, so a Conv2d weight
(C_out, C_in, k, k) is stored as (C_out, C_in*k*k) and comes back in its own shape.

Sparse inference (:class:`SparseInference`) runs a model of Flatten / Linear / ReLU / Dropout
layers on NumPy arrays on the nonzero weights only: a small batch as one fused Numba call
that also skips zero activations (:mod:`minicompress.kernels.sparse_network`, after EIE), a
large batch through the parallel CSR kernel :func:`minicompress.kernels.csr_linear` layer by
layer. :class:`DenseInference` is the same model through NumPy's dense ``x @ W.T + b``, the
baseline ``benchmarks/sparse.py`` compares against.

Public API (stable; the Deep Compression packer builds on it)::

    RelativeCSR.from_dense(w, index_bits=5) -> RelativeCSR
    r.to_dense(), r.to_csr() -> (indptr, indices, values) without fillers
    r.shape, r.index_bits, r.indptr, r.gaps, r.values, r.nnz, r.n_stored, r.n_fillers
    r.nbytes() (exact), r.nbytes_breakdown(), r.to_bytes(), RelativeCSR.from_bytes(buf)
    pack_bits(ints, bits) -> uint8 array;  unpack_bits(buf, bits, count) -> int64 array
    SparseInference.from_model(model, fused_max_batch=FUSED_MAX_BATCH), .path(batch), .network
    DenseInference.from_model(model)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from minicompress.errors import InputError, InputTypeError
from minicompress.kernels import check_network_input, csr_linear, pack_sparse_network, run_network_unchecked, to_csr
from minicompress.nn import Dropout, Flatten, Linear, Module, ReLU, Sequential

_MAGIC = b"RCSR"
_VERSION = 1
_DTYPES = {1: np.dtype(np.float32), 2: np.dtype(np.float64), 3: np.dtype(np.float16)}
_CODES = {dt: code for code, dt in _DTYPES.items()}
_HEADER = struct.Struct("<4sBBBBI")  # magic, version, index_bits, dtype code, ndim, n_stored


def _check_bits(bits, name="index_bits", low=1, high=32):
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, (int, np.integer)):
        raise InputTypeError(f"{name} must be an integer, got {type(bits).__name__}")
    if not low <= bits <= high:
        raise InputError(f"{name} must be in [{low}, {high}], got {bits}")
    return int(bits)


def pack_bits(ints, bits: int) -> np.ndarray:
    """Pack non-negative integers into ``bits`` bits each, least significant bit first.

    Parameters
    ----------
    ints : array_like of int, shape (n,)
        Each in ``[0, 2**bits)``.
    bits : int, 1..32

    Returns
    -------
    numpy.ndarray of uint8, shape (ceil(n * bits / 8),)
        Integer ``i`` occupies bits ``i*bits .. i*bits + bits - 1`` of the stream (bit ``j``
        of the stream is bit ``j % 8`` of byte ``j // 8``); unused high bits of the last
        byte are zero.
    """
    bits = _check_bits(bits, "bits")
    arr = np.asarray(ints)
    if arr.ndim != 1:
        raise InputError(f"ints must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InputTypeError(f"ints must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= 2**bits):
        raise InputError(f"every value must lie in [0, {2**bits - 1}] to fit {bits} bits; "
                         f"got range [{arr.min()}, {arr.max()}]")
    bit_matrix = ((arr[:, None] >> np.arange(bits)) & 1).astype(np.uint8)
    return np.packbits(bit_matrix.reshape(-1), bitorder="little")


def unpack_bits(buf, bits: int, count: int) -> np.ndarray:
    """Inverse of :func:`pack_bits`: the first ``count`` integers of ``bits`` bits, as int64."""
    bits = _check_bits(bits, "bits")
    buf = np.frombuffer(bytes(buf), dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf
    needed = -(-count * bits // 8)
    if buf.size < needed:
        raise InputError(f"{count} values of {bits} bits need {needed} bytes, got {buf.size}")
    stream = np.unpackbits(buf[:needed], bitorder="little")[: count * bits]
    return (stream.reshape(count, bits).astype(np.int64) << np.arange(bits)).sum(axis=1)


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
        index_bits = _check_bits(index_bits, high=16)
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
            "gaps": -(-self.n_stored * self.index_bits // 8),
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
        sizes = [4 * (shape[0] + 1), -(-n_stored * bits // 8), n_stored * dtype.itemsize]
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


# --------------------------------------------------------------- inference
def _plan(model: Module):
    if not isinstance(model, Sequential):
        raise InputTypeError(f"inference plans take a Sequential model, got {type(model).__name__}")
    steps = []
    for i, layer in enumerate(model):
        if isinstance(layer, Linear):
            w = layer.effective("weight").data
            b = None if layer.bias is None else layer.bias.data
            steps.append(("linear", w, b))
        elif isinstance(layer, ReLU):
            steps.append(("relu",))
        elif isinstance(layer, Flatten):
            steps.append(("flatten",))
        elif isinstance(layer, Dropout):
            continue  # identity at inference
        else:
            raise InputTypeError(f"layer {i} is {type(layer).__name__}; sparse inference handles "
                            "Linear, ReLU, Flatten and Dropout only")
    return steps


class DenseInference:
    """The model's forward pass in plain NumPy: ``x @ W.T + b`` per Linear (the baseline)."""

    def __init__(self, steps):
        self.steps = [(s[0], np.ascontiguousarray(s[1]), s[2]) if s[0] == "linear" else s
                      for s in steps]

    @classmethod
    def from_model(cls, model: Module) -> DenseInference:
        return cls(_plan(model))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) float32 -> logits (N, out)."""
        for step in self.steps:
            if step[0] == "linear":
                x = x @ step[1].T
                if step[2] is not None:
                    x = x + step[2]
            elif step[0] == "relu":
                x = np.maximum(x, 0)
            else:
                x = x.reshape(x.shape[0], -1)
        return x


#: Batches up to this size run the fused network (one serial Numba call, zero inputs skipped);
#: larger batches run the row-parallel CSR kernel layer by layer. Measured with
#: ``python benchmarks/sparse.py --sparsities 0.9 --batches 1 64 256 1024 4096`` on 2 shared
#: cores: the fused path was faster than the CSR path at every batch up to 1024 with one
#: thread (1024: 2.7 vs 3.7 ms) and tied with the 2-thread CSR path at 1024. Beyond that the
#: CSR path is kept because it is the one that can use more cores.
FUSED_MAX_BATCH = 1024


def _chain(steps):
    """``(weights, biases, relus, flatten_first)`` if ``steps`` is a Linear/ReLU chain, else None.

    A Flatten before the first Linear flattens the input; one after it is the identity (the
    activations are already (N, features)); a ReLU right after a ReLU changes nothing.
    """
    weights, biases, relus, flatten_first = [], [], [], False
    for step in steps:
        if step[0] == "linear":
            weights.append(step[1])
            biases.append(step[2])
            relus.append(False)
        elif step[0] == "relu":
            if not weights:
                return None
            relus[-1] = True
        elif not weights:
            flatten_first = True
    return (weights, biases, relus, flatten_first) if weights else None


class SparseInference:
    """The model's forward pass on the nonzero weights only, by one of two Numba paths.

    * **small batches** (``N <= fused_max_batch``): the whole network as ONE call of
      :func:`minicompress.kernels.sparse_network_forward`. The first layer is stored column
      by column (CSC) and a column is visited only when its input is nonzero, as in EIE
      (Han et al. 2016): ~80% of MNIST pixels are zero, so a batch-1 LeNet-300-100 at 90%
      sparsity does ~4,300 multiply-adds in its first layer instead of 23,520 (CSR) or
      235,200 (dense); the hidden layers use a padded row layout that vectorizes. One serial
      call also avoids per-layer dispatch and thread wake-up, which at batch 1 cost more
      than the arithmetic.
    * **large batches**: each Linear as :func:`minicompress.kernels.csr_linear`, parallel over
      output rows, vectorized over the batch (one multiply-add per nonzero and batch item).

    Both are converted once here; fillers are never stored (they only matter for the byte
    count of :class:`RelativeCSR`). A model that is not a plain Linear/ReLU chain (for
    example a ReLU before the first Linear) always takes the CSR path.

    Parameters
    ----------
    steps : list
        From ``_plan(model)``; use :meth:`from_model`.
    fused_max_batch : int >= 0
        Largest batch run by the fused path (0: always CSR). Default :data:`FUSED_MAX_BATCH`.
    """

    def __init__(self, steps, fused_max_batch: int = FUSED_MAX_BATCH):
        if isinstance(fused_max_batch, (bool, np.bool_)) or not isinstance(fused_max_batch, (int, np.integer)):
            raise InputTypeError(f"fused_max_batch must be an integer, got {type(fused_max_batch).__name__}")
        if fused_max_batch < 0:
            raise InputError(f"fused_max_batch must be >= 0, got {fused_max_batch}")
        self.fused_max_batch = int(fused_max_batch)
        self.steps = []
        for s in steps:
            if s[0] == "linear":
                w, b = s[1], s[2]
                indptr, indices, values = to_csr(np.ascontiguousarray(w))
                self.steps.append(("linear", (indptr, indices, values), b))
            else:
                self.steps.append(s)
        chain = _chain(steps)
        self.network = None
        if chain is not None:
            weights, biases, relus, self._flatten_first = chain
            # validated once here, so the per-call cost is one input check and one Numba call
            self.network = pack_sparse_network([np.ascontiguousarray(w) for w in weights], biases, relus)
        self._dtype = next(s[1][2].dtype for s in self.steps if s[0] == "linear")

    @classmethod
    def from_model(cls, model: Module, fused_max_batch: int = FUSED_MAX_BATCH) -> SparseInference:
        return cls(_plan(model), fused_max_batch)

    def nnz(self) -> int:
        return int(sum(s[1][2].size for s in self.steps if s[0] == "linear"))

    def path(self, batch: int) -> str:
        """``"fused"`` or ``"csr"``: the path a batch of this size takes."""
        return "fused" if self.network is not None and batch <= self.fused_max_batch else "csr"

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x (N, ...) float -> logits (N, out); equal to ``DenseInference`` up to rounding."""
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise InputTypeError(f"x must be a numpy.ndarray of shape (N, ...), got {type(x).__name__} "
                            f"{getattr(x, 'shape', '')}")
        net = self.network
        if net is not None and len(x) <= self.fused_max_batch:
            # at batch 1 the whole call is ~5 us, so each avoidable NumPy call here matters
            if self._flatten_first and x.ndim != 2:
                x = x.reshape(len(x), -1)
            if x.dtype != self._dtype:
                x = x.astype(self._dtype)
            return run_network_unchecked(net, check_network_input(net, x))
        return self._csr(x)

    def _csr(self, x):
        """One CSR kernel call per Linear; a Linear followed by a ReLU is one fused call."""
        steps, i = self.steps, 0
        while i < len(steps):
            step = steps[i]
            if step[0] == "linear":
                indptr, indices, values = step[1]
                relu = i + 1 < len(steps) and steps[i + 1][0] == "relu"
                x = csr_linear(np.ascontiguousarray(x, dtype=values.dtype), indptr, indices,
                               values, step[2], relu=relu)
                i += 2 if relu else 1
                continue
            x = np.maximum(x, 0) if step[0] == "relu" else x.reshape(x.shape[0], -1)
            i += 1
        return x


__all__ = ["FUSED_MAX_BATCH", "DenseInference", "RelativeCSR", "SparseInference", "pack_bits", "unpack_bits"]
