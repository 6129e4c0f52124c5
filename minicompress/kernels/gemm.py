"""int8 GEMM with int32 accumulation and fused requantization.

Everything reduces to one compute kernel: ``raw = a_u8 @ b_s8`` in int32, where an int8
activation is first shifted to uint8 by adding 128 (flip the sign bit). The zero points are
then folded in afterwards with the classic expansion

    sum_k (a - za)(b - zb) = raw - zb * rowsum(a)_i - za * colsum(b)_j + K * za * zb,

so the inner loop never sees a zero point (``za`` here includes the +128 shift).

Layout. ``pack_weights`` pads K to a multiple of 4 and N to a multiple of NR = 32 and stores
``b`` as column panels of 32 columns; inside a panel, for each group of four k, the 32 columns'
four bytes lie next to each other (``panel[q, j, t] = b[4q + t, j]``), which is exactly one
64-byte AVX-512 register per 16 columns. ``a`` is used in place when it is uint8, C-contiguous
and K % 4 == 0; otherwise each task copies its rows once into a (rows, Kpad) uint8 scratch.

Compute. With AVX-512 VNNI (see :mod:`._vnni`) a 4 x 32 register tile of int32 accumulators
advances by ``vpdpbusd`` (64 multiply-adds per instruction). ``prange`` runs over tasks =
(block of 64 rows, group of 32-column panels); each finished 64 x 32 int32 tile is
requantized (the epilogue) while it is still in L1, so the int32 matrix is never written out.
Products under ``SERIAL_MAX_WORK`` multiply-adds run on the calling thread. Without VNNI,
:func:`_portable_task` computes the same tiles in plain Numba.

Rounding: round half to even, as ``np.rint`` (the epilogue uses the exact float64 trick
``(y + 1.5 * 2**52) - 1.5 * 2**52``, which vectorizes where a libm ``rint`` call does not).

Measured (``python benchmarks/kernels.py``, 2 threads): see ``benchmarks/kernels.py`` and the
tutorial ``tutorials/09_kernels.py`` for GOP/s next to NumPy's float32 sgemm.
"""

import numpy as np
from numba import config, njit, prange

from minicompress.errors import InputError, InputTypeError

from ._checks import MAX_K, as_1d, as_2d, check_k, scale_vector, zero_point
from ._vnni import HAS_VNNI, LANES, make_microkernel

MR = 4  # rows of the register tile
NV = 2  # 16-column zmm vectors per tile row
NR = NV * LANES  # columns per packed panel (32)
ROW_BLOCK = 64  # rows of A per parallel task (a 64 x K uint8 block stays in L2)
#: below this many multiply-adds one thread is faster than waking the others (~2 us)
SERIAL_MAX_WORK = 1 << 18
_FLIP, _NO_FLIP = np.uint8(0x80), np.uint8(0)

_QRANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}
_OUT_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.float32))


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
    zb = _zp(zero_point, np.int8, "zero_point")  # the parameter shadows the checker's name
    col_sums = b.sum(axis=0, dtype=np.int64)
    return PackedWeights(k, n, zb, col_sums, _pack(np.ascontiguousarray(b)))


def _zp(v, dtype, name):
    return zero_point(v, dtype, name)


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


_MK = [make_microkernel(mr, NV) for mr in range(1, MR + 1)] if HAS_VNNI else [None] * MR
_mk1, _mk2, _mk3, _mk4 = _MK

MODE_INT32, MODE_QUANT, MODE_FLOAT = 0, 1, 2
#: 1.5 * 2**52: for |y| <= 2**51, (y + MAGIC) - MAGIC is y rounded half to even (the FPU's
#: default rounding), i.e. np.rint(y), in two vectorizable adds instead of a libm call.
MAGIC = 6755399441055744.0


@njit(cache=True, inline="always")
def _epilogue(src, i_lo, i_hi, j_lo, j_hi, row_term, col_term, scale, zp, lo, hi, relu, mode, outs):
    """out[i_lo:i_hi, j_lo:j_hi] from the int32 tile src (src[0, 0] is out[i_lo, j_lo]).

    v = src + row_term[i - i_lo] + col_term[j] (int64, exact), then
    MODE_INT32: out = v; MODE_FLOAT: out = v * scale[j] (ReLU: max with 0);
    MODE_QUANT: out = clip(rint(v * scale[j]) + zp, lo, hi), lo already raised to zp for ReLU.

    ``outs = (uint8 out, int32 out, float32 out)``: only the one for ``mode`` is real (the
    others are 1 x 1 dummies). One argument type for every output dtype means each kernel is
    compiled once, not once per dtype; an int8 result is stored as its two's-complement byte
    in the uint8 array, which the caller views as int8.
    """
    out_q, out_i, out_f = outs
    y_lo = np.float64(lo - zp - 1)  # clamping first keeps |y| < 2**51 and changes no result
    y_hi = np.float64(hi - zp + 1)
    for i in range(i_lo, i_hi):
        r = row_term[i - i_lo]
        for j in range(j_lo, j_hi):
            v = np.int64(src[i - i_lo, j - j_lo]) + r + col_term[j]
            if mode == MODE_INT32:
                out_i[i, j] = v
            elif mode == MODE_FLOAT:
                y = np.float64(v) * scale[j]
                out_f[i, j] = max(y, 0.0) if relu else y
            else:
                y = min(max(np.float64(v) * scale[j], y_lo), y_hi)
                q = (y + MAGIC) - MAGIC + zp
                out_q[i, j] = np.int64(min(max(q, lo), hi))  # int64 -> uint8 keeps the low byte


@njit(cache=True, inline="always")
def _column_terms(col_sums, k, za, zb, bias, scale, mode):
    """col_term[j] = bias[j] - za * colsum_j + K za zb; returns (col_term, scale_ok)."""
    n = col_sums.shape[0]
    col_term = np.empty(n, dtype=np.int64)
    ok = True
    for j in range(n):
        col_term[j] = np.int64(bias[j]) - za * col_sums[j] + k * za * zb
        if mode != MODE_INT32 and not (0.0 < scale[j] < np.inf):
            ok = False
    return col_term, ok


@njit(cache=True, inline="always")
def _task_setup(a, flip, kpad, zb, task, n_groups, row_block, n_panels, panels_per_task):
    """Bounds of one task, its uint8 A rows (shifted and padded if needed) and its row terms."""
    m, k = a.shape
    rb = task // n_groups
    g = task - rb * n_groups
    i_lo = rb * row_block
    i_hi = min(m, i_lo + row_block)
    p_lo = g * panels_per_task
    p_hi = min(n_panels, p_lo + panels_per_task)
    rows = i_hi - i_lo
    if flip == 0 and k == kpad:
        a_rows = a[i_lo:i_hi]  # already uint8 with K % 4 == 0: use in place
    else:  # shift int8 to uint8 (flip the sign bit) and zero-pad K to a multiple of 4
        a_rows = np.zeros((rows, kpad), dtype=np.uint8)
        for i in range(rows):
            for p in range(k):
                a_rows[i, p] = a[i_lo + i, p] ^ flip
    row_term = np.zeros(rows, dtype=np.int64)
    if zb != 0:
        for i in range(rows):
            s = np.int64(0)
            for p in range(k):
                s += a_rows[i, p]
            row_term[i] = -zb * s
    return i_lo, i_hi, p_lo, p_hi, a_rows, row_term


@njit(cache=True, inline="always")
def _panel_vnni(a_rows, b, off, tile):
    """tile[:rows, :NR] = a_rows (rows, Kpad) uint8 @ the packed panel at ``b[off:]``, in int32.

    4-row VNNI register tiles, then one 3-, 2- or 1-row tile for the rest; the panel
    (Kpad x 32 bytes) stays in L1 across them.
    """
    rows = a_rows.shape[0]
    i = 0
    while i + MR <= rows:
        _mk4(a_rows, i, b, off, tile, i, 0)
        i += MR
    if rows - i == 3:
        _mk3(a_rows, i, b, off, tile, i, 0)
    elif rows - i == 2:
        _mk2(a_rows, i, b, off, tile, i, 0)
    elif rows - i == 1:
        _mk1(a_rows, i, b, off, tile, i, 0)


@njit(cache=True, inline="always")
def _panel_portable(a_rows, b, off, tile):
    """Same contract as :func:`_panel_vnni` in plain Numba (CPUs without AVX-512 VNNI)."""
    rows, kpad = a_rows.shape
    for i in range(rows):
        for j in range(NR):
            tile[i, j] = 0
        for q in range(kpad // 4):
            base = off + q * NR * 4
            for t in range(4):
                av = np.int32(a_rows[i, 4 * q + t])
                for j in range(NR):
                    tile[i, j] += av * np.int32(b[base + 4 * j + t])


#: the panel product every fused kernel uses on this CPU
panel = _panel_vnni if HAS_VNNI else _panel_portable


@njit(cache=True)
def _vnni_task(task, a, flip, b, kpad, col_term, zb, scale, zp, lo, hi, relu, mode,
               outs, row_block, panels_per_task):
    """One (row block, panel group) task: VNNI tiles into an L1 scratch, then the epilogue.

    Each 32-column panel gives a (rows x 32) int32 tile that is requantized straight into
    ``outs`` while still in L1 -- the int32 result never goes to memory.
    """
    n = col_term.shape[0]
    n_panels = (n + NR - 1) // NR
    n_groups = (n_panels + panels_per_task - 1) // panels_per_task
    i_lo, i_hi, p_lo, p_hi, a_rows, row_term = _task_setup(
        a, flip, kpad, zb, task, n_groups, row_block, n_panels, panels_per_task)
    tile = np.empty((i_hi - i_lo, NR), dtype=np.int32)
    for p in range(p_lo, p_hi):
        _panel_vnni(a_rows, b, p * kpad * NR, tile)
        _epilogue(tile, i_lo, i_hi, p * NR, min(n, p * NR + NR), row_term, col_term,
                  scale, zp, lo, hi, relu, mode, outs)


@njit(cache=True)
def _portable_task(task, a, flip, b, kpad, col_term, zb, scale, zp, lo, hi, relu, mode,
                   outs, row_block, panels_per_task):
    """Same contract as :func:`_vnni_task` with the plain-Numba panel product."""
    n = col_term.shape[0]
    n_panels = (n + NR - 1) // NR
    n_groups = (n_panels + panels_per_task - 1) // panels_per_task
    i_lo, i_hi, p_lo, p_hi, a_rows, row_term = _task_setup(
        a, flip, kpad, zb, task, n_groups, row_block, n_panels, panels_per_task)
    tile = np.empty((i_hi - i_lo, NR), dtype=np.int32)
    for p in range(p_lo, p_hi):
        _panel_portable(a_rows, b, p * kpad * NR, tile)
        _epilogue(tile, i_lo, i_hi, p * NR, min(n, p * NR + NR), row_term, col_term,
                  scale, zp, lo, hi, relu, mode, outs)


@njit(cache=True, inline="always")
def _n_tasks(m, n, row_block, panels_per_task):
    n_panels = (n + NR - 1) // NR
    return ((m + row_block - 1) // row_block) * ((n_panels + panels_per_task - 1) // panels_per_task)


@njit(cache=True, parallel=True)
def _qgemm_vnni_par(a, flip, b, kpad, col_sums, k, za, zb, bias, scale, zp, lo, hi, relu, mode,
                    outs, row_block, panels_per_task):
    """out = epilogue((a ^ flip) @ unpack(b)), tasks spread over threads; False if bad scale."""
    col_term, ok = _column_terms(col_sums, k, za, zb, bias, scale, mode)
    if not ok:
        return False
    for task in prange(_n_tasks(a.shape[0], col_sums.shape[0], row_block, panels_per_task)):
        _vnni_task(task, a, flip, b, kpad, col_term, zb, scale, zp, lo, hi, relu, mode,
                   outs, row_block, panels_per_task)
    return True


@njit(cache=True)
def _qgemm_vnni_ser(a, flip, b, kpad, col_sums, k, za, zb, bias, scale, zp, lo, hi, relu, mode,
                    outs, row_block, panels_per_task):
    """As :func:`_qgemm_vnni_par` on the calling thread: small products skip thread wake-up."""
    col_term, ok = _column_terms(col_sums, k, za, zb, bias, scale, mode)
    if not ok:
        return False
    for task in range(_n_tasks(a.shape[0], col_sums.shape[0], row_block, panels_per_task)):
        _vnni_task(task, a, flip, b, kpad, col_term, zb, scale, zp, lo, hi, relu, mode,
                   outs, row_block, panels_per_task)
    return True


@njit(cache=True, parallel=True)
def _qgemm_portable(a, flip, b, kpad, col_sums, k, za, zb, bias, scale, zp, lo, hi, relu, mode,
                    outs, row_block, panels_per_task):
    """As :func:`_qgemm_vnni_par` with the plain-Numba tile."""
    col_term, ok = _column_terms(col_sums, k, za, zb, bias, scale, mode)
    if not ok:
        return False
    for task in prange(_n_tasks(a.shape[0], col_sums.shape[0], row_block, panels_per_task)):
        _portable_task(task, a, flip, b, kpad, col_term, zb, scale, zp, lo, hi, relu, mode,
                       outs, row_block, panels_per_task)
    return True


@njit(cache=True)
def _requantize_range(acc, r_lo, r_hi, col_term, scale, zp, lo, hi, relu, mode, outs):
    zero = np.zeros(1, dtype=np.int64)
    for i in range(r_lo, r_hi):
        _epilogue(acc[i:i + 1], i, i + 1, 0, col_term.shape[0], zero, col_term, scale, zp, lo, hi,
                  relu, mode, outs)


@njit(cache=True, parallel=True)
def _requantize_rows(acc, col_term, scale, zp, lo, hi, relu, mode, outs):
    m = acc.shape[0]
    chunk = 16
    for t in prange((m + chunk - 1) // chunk):
        _requantize_range(acc, t * chunk, min(m, (t + 1) * chunk), col_term, scale, zp, lo, hi,
                          relu, mode, outs)


_DUMMY = (np.empty((1, 1), np.uint8), np.empty((1, 1), np.int32), np.empty((1, 1), np.float32))


def _outputs(shape, dt):
    """(result array, the (uint8, int32, float32) triple the kernels write into)."""
    if dt == np.int32 or dt == np.float32:
        out = np.empty(shape, dtype=dt)
        if dt == np.int32:
            return out, (_DUMMY[0], out, _DUMMY[2])
        return out, (_DUMMY[0], _DUMMY[1], out)
    raw = np.empty(shape, dtype=np.uint8)
    return raw.view(dt), (raw, _DUMMY[1], _DUMMY[2])


def _schedule(m, n_panels):
    """(row_block, panels_per_task): whole rows of panels per task when there are at least two
    row blocks per thread, else one panel per task so that every thread gets similar work
    (prange hands each thread one contiguous run of tasks)."""
    threads = config.NUMBA_NUM_THREADS  # get_num_threads() costs ~1 us a call
    n_row_blocks = -(-m // ROW_BLOCK)
    return ROW_BLOCK, (n_panels if n_row_blocks >= 2 * threads else 1)


def _activation(a, k, name):
    """Validate an activation; return (C-contiguous uint8 view, flip byte, zero-point offset)."""
    if not isinstance(a, np.ndarray):
        raise InputTypeError(f"{name} must be a numpy.ndarray, got {type(a).__name__}")
    if a.dtype != np.int8 and a.dtype != np.uint8:
        raise InputTypeError(f"{name} must have dtype int8 or uint8; got {a.dtype.name}")
    if a.ndim != 2 or a.shape[0] == 0:
        raise InputError(f"{name} must be a non-empty 2-D array (M, K); got shape {a.shape}")
    if a.shape[1] != k:
        raise InputError(f"inner dimensions differ: {name} is (M, {a.shape[1]}) but b is ({k}, N)")
    if a.dtype == np.int8:
        # int8 -> uint8 by flipping the sign bit maps -128..127 to 0..255: it adds 128 exactly
        return np.ascontiguousarray(a).view(np.uint8), _FLIP, 128
    return np.ascontiguousarray(a), _NO_FLIP, 0


def _weights(b, b_zero_point=0):
    if isinstance(b, PackedWeights):
        if b_zero_point not in (0, b.zero_point):
            raise InputError("b_zero_point conflicts with the PackedWeights' own zero_point")
        return b
    return pack_weights(b, b_zero_point)


def _out_dtype(out_dtype):
    try:
        dt = np.dtype(out_dtype)
    except TypeError as e:
        raise InputTypeError(f"out_dtype must be int8, uint8 or float32; got {out_dtype!r}") from e
    if dt not in _OUT_DTYPES:
        raise InputTypeError(f"out_dtype must be int8, uint8 or float32; got {dt.name}")
    return dt


def _scale(scale, n):
    if isinstance(scale, np.ndarray) and scale.ndim == 1:
        if scale.shape[0] != n:
            raise InputError(f"scale must be a scalar or have shape ({n},) (one per output column); "
                             f"got {scale.shape}")
        return np.ascontiguousarray(scale, dtype=np.float64)
    return scale_vector(scale, n)


def _run(a, b, a_zero_point, b_zero_point, bias, scale, out_zero_point, out_dtype, relu, mode,
         use_vnni=None):
    """Validate, then one fused kernel call: the shared body of the public GEMM functions."""
    pw = _weights(b, b_zero_point)
    au8, flip, offset = _activation(a, pw.k, "a")
    za = zero_point(a_zero_point, a.dtype, "a_zero_point") + offset
    n = pw.n
    if bias is None:
        bias = np.zeros(n, dtype=np.int32)
    else:
        bias = as_1d(bias, "bias", (np.dtype(np.int32),), length=n)
    if mode == MODE_INT32:
        dt, zp, lo, hi, s = np.dtype(np.int32), 0, 0, 0, np.ones(n)
    else:
        dt = _out_dtype(out_dtype)
        s = _scale(scale, n)
        if dt == np.float32:
            mode = MODE_FLOAT
            if out_zero_point != 0:
                raise InputError("out_zero_point must be 0 for a float32 (dequantized) output")
            zp, lo, hi = 0, 0, 0
        else:
            zp = zero_point(out_zero_point, dt, "out_zero_point")
            lo, hi = _QRANGE[dt]
            if relu:
                lo = max(lo, zp)  # ReLU in the quantized domain: nothing below real 0
    m = au8.shape[0]
    out, outs = _outputs((m, n), dt)
    row_block, ppt = _schedule(m, pw.npad // NR)
    use_vnni = HAS_VNNI if use_vnni is None else use_vnni
    if not use_vnni:
        kernel = _qgemm_portable
    elif m * pw.kpad * pw.npad < SERIAL_MAX_WORK:
        kernel = _qgemm_vnni_ser
    else:
        kernel = _qgemm_vnni_par
    ok = kernel(au8, flip, pw.data, pw.kpad, pw.col_sums, pw.k, za, pw.zero_point, bias, s, zp,
                lo, hi, bool(relu), mode, outs, row_block, ppt)
    if not ok:
        raise InputError("scale must be finite and > 0")
    return out


def gemm_s8s8s32(a, b):
    """int8 x int8 -> int32 matrix product, exact.

    Parameters
    ----------
    a : ndarray, shape (M, K), int8
    b : ndarray, shape (K, N), int8, or PackedWeights
        ``K <= MAX_K`` (32768) keeps the int32 accumulator exact.

    Returns
    -------
    ndarray, shape (M, N), int32
        ``C[i, j] = sum_k a[i, k] * b[k, j]``.
    """
    if isinstance(a, np.ndarray) and a.dtype != np.int8:
        raise InputTypeError(f"a must have dtype int8 (use gemm_u8s8s32 for uint8); got {a.dtype.name}")
    return _run(a, b, 0, 0, None, None, 0, None, False, MODE_INT32)


def gemm_u8s8s32(a, b, a_zero_point, b_zero_point=0):
    """Affine-activation GEMM: ``(a - a_zp) @ (b - b_zp)`` exactly in int32.

    Parameters
    ----------
    a : ndarray, shape (M, K), uint8 (or int8)
        Quantized activations.
    b : ndarray, shape (K, N), int8, or PackedWeights
    a_zero_point : int
        In the range of ``a``'s dtype.
    b_zero_point : int in [-128, 127]
        Ignored (must be 0 or equal) when ``b`` is PackedWeights, which carries its own.

    Returns
    -------
    ndarray, shape (M, N), int32
        ``C[i, j] = sum_k (a[i, k] - a_zp) * (b[k, j] - b_zp)``, exact for K <= MAX_K.
    """
    return _run(a, b, a_zero_point, b_zero_point, None, None, 0, None, False, MODE_INT32)


def requantize(acc, scale, zero_point, out_dtype, bias=None, relu=False):
    """Requantize an int32 accumulator to int8/uint8 (or dequantize to float32).

    ``q = clip(rint((acc + bias) * scale) + zero_point, qmin, qmax)``, computed in float64 with
    ``np.rint`` (round half to even); ReLU clamps below at ``zero_point`` (real value 0);
    saturates to [-128, 127] (int8) or [0, 255] (uint8). For ``out_dtype=float32`` it returns
    ``float32((acc + bias) * scale)`` and ``zero_point`` must be 0.

    Parameters
    ----------
    acc : ndarray, shape (M, N), int32
    scale : float or ndarray, shape (N,)
        ``s_in * s_w / s_out``; one per output column for per-channel weight scales. > 0.
    zero_point : int
        Output zero point, in range of ``out_dtype``.
    out_dtype : {np.int8, np.uint8, np.float32}
    bias : ndarray, shape (N,), int32, optional
        In accumulator units (``bias_real / (s_in * s_w)``).
    relu : bool

    Returns
    -------
    ndarray, shape (M, N), out_dtype
    """
    acc = as_2d(acc, "acc", (np.dtype(np.int32),))
    n = acc.shape[1]
    dt = _out_dtype(out_dtype)
    s = _scale(scale, n)
    col_term = np.zeros(n, np.int64) if bias is None else as_1d(
        bias, "bias", (np.dtype(np.int32),), length=n).astype(np.int64)
    if not np.all((s > 0) & (s < np.inf)):
        raise InputError("scale must be finite and > 0")
    if dt == np.float32:
        if zero_point != 0:
            raise InputError("zero_point must be 0 for a float32 (dequantized) output")
        mode, zp, lo, hi = MODE_FLOAT, 0, 0, 0
    else:
        mode, zp = MODE_QUANT, _zp(zero_point, dt, "zero_point")
        lo, hi = _QRANGE[dt]
        lo = max(lo, zp) if relu else lo
    out, outs = _outputs(acc.shape, dt)
    if acc.size * 64 < SERIAL_MAX_WORK:  # ~64 multiply-adds' worth of work per element
        _requantize_range(acc, 0, acc.shape[0], col_term, s, zp, lo, hi, bool(relu), mode, outs)
    else:
        _requantize_rows(acc, col_term, s, zp, lo, hi, bool(relu), mode, outs)
    return out


def qlinear(x_q, w, bias=None, x_zero_point=0, scale=1.0, out_zero_point=0, out_dtype=np.int8,
            relu=False):
    """Fused quantized linear layer: GEMM, zero-point correction, bias, requantize, ReLU.

    ``y_q = clip(rint(((x_q - x_zp) @ (w - w_zp) + bias) * scale) + out_zp)``

    Parameters
    ----------
    x_q : ndarray, shape (M, K), uint8 or int8
        Quantized input activations.
    w : PackedWeights (from ``pack_weights(W.T)``) or ndarray, shape (K, N), int8
        Pack once and reuse: an unpacked array is packed on every call.
    bias : ndarray, shape (N,), int32, optional
        ``round(b_real / (s_x * s_w))``.
    x_zero_point : int
        Input zero point (in the range of ``x_q``'s dtype).
    scale : float or ndarray, shape (N,)
        ``s_x * s_w / s_y`` (per output channel if weights are per-channel).
        For float32 output, ``s_x * s_w`` (dequantizes).
    out_zero_point : int
    out_dtype : {np.int8, np.uint8, np.float32}
    relu : bool

    Returns
    -------
    ndarray, shape (M, N), out_dtype
    """
    return _run(x_q, w, x_zero_point, 0, bias, scale, out_zero_point, out_dtype, relu, MODE_QUANT)


__all__ = ["MAX_K", "PackedWeights", "gemm_s8s8s32", "gemm_u8s8s32", "pack_weights", "qlinear",
           "requantize"]
