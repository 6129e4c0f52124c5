"""CSR sparse x dense products for pruned Linear layers.

A pruned weight ``W`` of shape (out, in) keeps only its nonzeros in CSR form:
``values[indptr[r]:indptr[r + 1]]`` are row ``r``'s nonzeros, in columns
``indices[indptr[r]:indptr[r + 1]]``. Two products are provided:

* :func:`csr_matmul` -- ``A @ D`` with ``A`` in CSR (M, K) and ``D`` dense (K, N);
* :func:`csr_linear` -- ``x @ W.T (+ bias)`` with ``W`` in CSR (out, in), the Linear layer's form.

Both parallelise over the rows of the sparse matrix (``prange``): every output row is
written by exactly one thread, so no atomics are needed. Small problems run a serial copy of
the same loop, because waking the thread pool costs microseconds that a batch-1 layer with a
few thousand nonzeros cannot afford.
"""

import numpy as np
from numba import njit, prange

from minicompress.errors import InputError, InputTypeError

from ._checks import as_1d, as_2d
from ._gather import HAS_AVX512, LANES, sparse_dot16

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INDEX = (np.dtype(np.int32), np.dtype(np.int64))
#: below this many multiply-adds the serial kernel is used (thread wake-up would dominate)
PARALLEL_MIN_WORK = 16_384
#: waking a second thread costs microseconds, more than the batch-1 gather kernel spends on a
#: 300 x 784 layer at 10% density (23.5k nonzeros), so only big layers go parallel
PARALLEL_MIN_NNZ_BATCH1 = 65_536
_ZERO = {np.dtype(np.float32): np.float32(0), np.dtype(np.float64): np.float64(0)}


def to_csr(dense):
    """Compressed-sparse-row form of a 2-D array (plain NumPy).

    Parameters
    ----------
    dense : ndarray, shape (M, K)

    Returns
    -------
    indptr : ndarray, shape (M + 1,), int64
        Row ``r``'s nonzeros are positions ``indptr[r]:indptr[r + 1]``.
    indices : ndarray, shape (nnz,), int32
        Column of each nonzero, increasing within a row.
    values : ndarray, shape (nnz,), dtype of ``dense``
    """
    if not isinstance(dense, np.ndarray):
        raise InputTypeError(f"dense must be a numpy.ndarray, got {type(dense).__name__}")
    if dense.ndim != 2:
        raise InputError(f"dense must be 2-D; got shape {dense.shape}")
    if dense.dtype.kind not in "biuf":
        raise InputTypeError(f"dense must hold real numbers (float, int or bool); got dtype {dense.dtype}")
    if dense.shape[1] >= 2**31:
        raise InputError("dense has too many columns for int32 column indices")
    rows, cols = np.nonzero(dense)  # row-major order, so columns increase within each row
    indptr = np.zeros(dense.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
    return indptr, cols.astype(np.int32), dense[rows, cols]


def _check_csr(indptr, indices, values):
    """O(1) checks here; per-entry checks (indptr order, index range) run inside the kernel."""
    indptr = as_1d(indptr, "indptr", _INDEX)
    indices = as_1d(indices, "indices", _INDEX)
    values = as_1d(values, "values", _FLOATS)
    if indptr.shape[0] < 1:
        raise InputError("indptr must have length rows + 1 >= 1")
    nnz = indices.shape[0]
    if values.shape[0] != nnz:
        raise InputError(
            f"indices and values must have the same length; got {nnz} and {values.shape[0]}"
        )
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise InputError(
            f"indptr must start at 0 and end at len(indices)={nnz}; "
            f"got {indptr[0]}..{indptr[-1]}"
        )
    return indptr, indices, values


@njit(cache=True)
def _rows(indptr, indices, values, dense, out, bias, relu, zero, r_lo, r_hi):
    """Rows r_lo..r_hi of ``A @ dense (+ bias, ReLU)`` for N > 1; 0, 1 (bad indptr) or 2 (bad index).

    Each nonzero streams over a contiguous row of ``dense`` (the batch), vectorized over j.
    An index is checked with one unsigned compare (a negative int wraps to a huge value) and
    clamped for the load, so a malformed CSR is reported instead of reading out of bounds
    (an early ``return`` inside the inner loop was markedly slower in our trials).
    """
    n_cols = dense.shape[0]
    nc = np.uint64(n_cols)
    last = np.uint64(n_cols - 1)
    nnz = indices.shape[0]
    n = dense.shape[1]
    bad = False
    for r in range(r_lo, r_hi):
        start = indptr[r]
        end = indptr[r + 1]
        if start > end or start < 0 or end > nnz:
            return 1
        for j in range(n):
            out[r, j] = zero
        for p in range(start, end):
            v = values[p]
            c = np.uint64(indices[p])
            bad |= c >= nc
            c = min(c, last)
            for j in range(n):
                out[r, j] += v * dense[c, j]
        for j in range(n):
            y = out[r, j] + bias[r]
            out[r, j] = max(y, zero) if relu else y
    return 2 if bad else 0


@njit(cache=True, inline="always")
def _tree16(acc):
    """Pairwise sum of 16 partial sums, adjacent lanes first: the order of ``_gather``."""
    a = (acc[0] + acc[1]) + (acc[2] + acc[3])
    b = (acc[4] + acc[5]) + (acc[6] + acc[7])
    c = (acc[8] + acc[9]) + (acc[10] + acc[11])
    d = (acc[12] + acc[13]) + (acc[14] + acc[15])
    return (a + b) + (c + d)


@njit(cache=True)
def _rows_b1_lanes(indptr, indices, values, x, out, bias, relu, zero, r_lo, r_hi):
    """Batch 1 (x and out 1-D) in plain Numba, in the same 16-lane order as the gather kernel.

    Used for float64 values, int64 indices or CPUs without AVX-512; slower, same results.
    """
    n_cols = x.shape[0]
    nc = np.uint64(n_cols)
    last = np.uint64(n_cols - 1)
    nnz = indices.shape[0]
    acc = np.empty(LANES, dtype=x.dtype)
    bad = False
    for r in range(r_lo, r_hi):
        start = indptr[r]
        end = indptr[r + 1]
        if start > end or start < 0 or end > nnz:
            return 1
        for t in range(LANES):
            acc[t] = zero
        for p in range(start, end):
            c = np.uint64(indices[p])
            bad |= c >= nc
            acc[(p - start) % LANES] += values[p] * x[min(c, last)]
        y = _tree16(acc) + bias[r]
        out[r] = max(y, zero) if relu else y
    return 2 if bad else 0


@njit(cache=True)
def _rows_b1_gather(indptr, indices, values, x, out, bias, relu, zero, r_lo, r_hi):
    """Batch 1 with the AVX-512 gather intrinsic (float32 values, int32 indices)."""
    nnz = indices.shape[0]
    bad = 0
    for r in range(r_lo, r_hi):
        start = indptr[r]
        end = indptr[r + 1]
        if start > end or start < 0 or end > nnz:
            return 1
        dot, n_bad = sparse_dot16(values, indices, x, start, end)
        bad |= n_bad
        y = dot + bias[r]
        out[r] = max(y, zero) if relu else y
    return 2 if bad else 0


CHUNK = 16  # rows per parallel task: enough work to amortize a task, enough tasks to balance


@njit(cache=True, parallel=True)
def _rows_parallel(indptr, indices, values, dense, out, bias, relu, zero):
    m = indptr.shape[0] - 1
    n_chunks = (m + CHUNK - 1) // CHUNK
    status = np.zeros(max(n_chunks, 1), dtype=np.int64)
    for t in prange(n_chunks):
        status[t] = _rows(indptr, indices, values, dense, out, bias, relu, zero,
                          t * CHUNK, min(m, (t + 1) * CHUNK))
    return status.max()


@njit(cache=True, parallel=True)
def _b1_lanes_parallel(indptr, indices, values, x, out, bias, relu, zero):
    m = indptr.shape[0] - 1
    n_chunks = (m + CHUNK - 1) // CHUNK
    status = np.zeros(max(n_chunks, 1), dtype=np.int64)
    for t in prange(n_chunks):
        status[t] = _rows_b1_lanes(indptr, indices, values, x, out, bias, relu, zero,
                                   t * CHUNK, min(m, (t + 1) * CHUNK))
    return status.max()


@njit(cache=True, parallel=True)
def _b1_gather_parallel(indptr, indices, values, x, out, bias, relu, zero):
    m = indptr.shape[0] - 1
    n_chunks = (m + CHUNK - 1) // CHUNK
    status = np.zeros(max(n_chunks, 1), dtype=np.int64)
    for t in prange(n_chunks):
        status[t] = _rows_b1_gather(indptr, indices, values, x, out, bias, relu, zero,
                                    t * CHUNK, min(m, (t + 1) * CHUNK))
    return status.max()


def _run(indptr, indices, values, dense, out, bias, relu, zero):
    """Pick the kernel: batch 1 or not, gather intrinsic or plain, parallel or serial."""
    m = indptr.shape[0] - 1
    if dense.shape[1] != 1:
        if values.shape[0] * dense.shape[1] >= PARALLEL_MIN_WORK:
            return _rows_parallel(indptr, indices, values, dense, out, bias, relu, zero)
        return _rows(indptr, indices, values, dense, out, bias, relu, zero, 0, m)
    x, y = dense.reshape(-1), out.reshape(-1)
    parallel = values.shape[0] >= PARALLEL_MIN_NNZ_BATCH1
    if HAS_AVX512 and values.dtype.char == "f" and indices.dtype.char == "i":  # float32, int32
        if parallel:
            return _b1_gather_parallel(indptr, indices, values, x, y, bias, relu, zero)
        return _rows_b1_gather(indptr, indices, values, x, y, bias, relu, zero, 0, m)
    if parallel:
        return _b1_lanes_parallel(indptr, indices, values, x, y, bias, relu, zero)
    return _rows_b1_lanes(indptr, indices, values, x, y, bias, relu, zero, 0, m)


def csr_matmul(indptr, indices, values, dense, bias=None, relu=False):
    """Sparse (CSR) times dense: ``A @ dense`` (optionally ``+ bias[:, None]``, then ReLU).

    Parameters
    ----------
    indptr : ndarray, shape (M + 1,), int32 or int64
    indices : ndarray, shape (nnz,), int32 or int64
    values : ndarray, shape (nnz,), float32 or float64
    dense : ndarray, shape (K, N), same dtype as ``values``
        Copied to C order if strided.
    bias : ndarray, shape (M,), same dtype, optional
        Added to every entry of output row r (after the whole sum).
    relu : bool
        ``max(., 0)`` after the bias.

    Returns
    -------
    ndarray, shape (M, N), dtype of ``values``
        ``out[r, j] = sum_{p in row r} values[p] * dense[indices[p], j] (+ bias[r])``. For N > 1
        each row is summed in storage order; for N == 1 (a batch-1 layer) the nonzero at offset
        o of its row goes to partial sum o % 16 and the 16 sums are added pairwise (see
        ``_gather.py``). The oracle follows both orders bit for bit.
    """
    dense = as_2d(dense, "dense", _FLOATS)
    if dense.shape[0] == 0:
        raise InputError("dense must have at least one row (K >= 1)")
    indptr, indices, values = _check_csr(indptr, indices, values)
    if values.dtype != dense.dtype:
        raise InputTypeError(
            f"values ({values.dtype.name}) and dense ({dense.dtype.name}) must share a dtype"
        )
    m = indptr.shape[0] - 1
    if bias is None:
        bias = np.zeros(max(m, 1), dtype=dense.dtype)
    else:
        bias = as_1d(bias, "bias", (dense.dtype,), length=m)
        if m == 0:
            bias = np.zeros(1, dtype=dense.dtype)
    out = np.empty((m, dense.shape[1]), dtype=dense.dtype)
    # zero is passed typed: a literal 0 mixed with float32 would promote the sums to float64
    zero = _ZERO[dense.dtype]
    status = _run(indptr, indices, values, dense, out, bias, bool(relu), zero)
    if status == 1:
        raise InputError("malformed CSR: indptr must be non-decreasing")
    if status == 2:
        raise InputError(
            f"malformed CSR: indices must lie in [0, {dense.shape[0]}) (the dense operand's rows)"
        )
    return out


def csr_linear(x, indptr, indices, values, bias=None, relu=False):
    """Pruned Linear layer: ``x @ W.T + bias`` (then optional ReLU) with ``W`` (out, in) in CSR.

    Computed as ``(W @ x.T).T`` so each nonzero ``W[r, c]`` streams over the contiguous row
    ``x.T[c, :]`` of all batch items at once; at batch 1 neither transpose copies anything.

    Parameters
    ----------
    x : ndarray, shape (B, in), float32 or float64 (same dtype as values)
    indptr : ndarray, shape (out + 1,), int32 or int64
    indices : ndarray, shape (nnz,), int32 or int64, each in [0, in)
    values : ndarray, shape (nnz,)
    bias : ndarray, shape (out,), optional
    relu : bool

    Returns
    -------
    ndarray, shape (B, out), dtype of ``x``
    """
    x = as_2d(x, "x", _FLOATS)
    yt = csr_matmul(indptr, indices, values, np.ascontiguousarray(x.T), bias, relu)
    return np.ascontiguousarray(yt.T)


__all__ = ["csr_linear", "csr_matmul", "to_csr"]
