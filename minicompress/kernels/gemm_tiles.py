"""What every integer GEMM kernel shares: the epilogue (zero points, bias, requantization), the
task split over rows and panels, and the plain requantization loops.

Everything reduces to one compute kernel, ``raw = a_u8 @ b_s8`` in int32 (:mod:`.gemm_vnni` or
:mod:`.gemm_portable`), where an int8 activation is first shifted to uint8 by adding 128 (flip
the sign bit). The zero points are then folded in afterwards with the classic expansion

    sum_k (a - za)(b - zb) = raw - zb * rowsum(a)_i - za * colsum(b)_j + K * za * zb,

so the inner loop never sees a zero point (``za`` here includes the +128 shift). For a
requantized or float output each finished (rows x 32) int32 tile goes through :func:`_epilogue`
while it is still in L1, so the int32 matrix is never written out; for an int32 output the
accumulators start at the zero-point terms instead and are stored straight into the result
(:func:`_task` says why and what it gained). :func:`_qgemm_par` / :func:`_qgemm_ser` run the
tasks (block of 64 rows, group of 32-column panels) on the threads or on the calling thread.

Rounding: round half to even, as ``np.rint`` (the epilogue uses the exact float64 trick
``(y + 1.5 * 2**52) - 1.5 * 2**52``, which vectorizes where a libm ``rint`` call does not).
"""

import numpy as np
from numba import njit, prange

from .gemm_portable import _panel_portable
from .gemm_vnni import _panel_vnni
from .packing import NR

ROW_BLOCK = 64  # rows of A per parallel task (a 64 x K uint8 block stays in L2)
#: below this many multiply-adds one thread is faster than waking the others (~2 us)
SERIAL_MAX_WORK = 1 << 18

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
    # one loop nest per mode (the tests hoisted out of the element loop, so LLVM vectorizes it)
    if mode == MODE_INT32:
        for i in range(i_lo, i_hi):
            r = row_term[i - i_lo]
            for j in range(j_lo, j_hi):
                out_i[i, j] = np.int64(src[i - i_lo, j - j_lo]) + r + col_term[j]
    elif mode == MODE_FLOAT:
        floor = 0.0 if relu else -np.inf
        for i in range(i_lo, i_hi):
            r = row_term[i - i_lo]
            for j in range(j_lo, j_hi):
                y = np.float64(np.int64(src[i - i_lo, j - j_lo]) + r + col_term[j]) * scale[j]
                out_f[i, j] = max(y, floor)
    else:
        for i in range(i_lo, i_hi):
            r = row_term[i - i_lo]
            for j in range(j_lo, j_hi):
                v = np.int64(src[i - i_lo, j - j_lo]) + r + col_term[j]
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
def _n_tasks(m, n, row_block, panels_per_task):
    n_panels = (n + NR - 1) // NR
    return ((m + row_block - 1) // row_block) * ((n_panels + panels_per_task - 1) // panels_per_task)


@njit(cache=True, inline="always")
def _panel(vnni, a_rows, b, off, c, ci0, j0, row_init, col_init):
    """:func:`_panel_vnni` or, on CPUs without it, :func:`_panel_portable` (same contract)."""
    if vnni:
        _panel_vnni(a_rows, b, off, c, ci0, j0, row_init, col_init)
    else:
        _panel_portable(a_rows, b, off, c, ci0, j0, row_init, col_init)


@njit(cache=True)
def _task(task, vnni, a, flip, b, kpad, col_term, col_init, zb, scale, zp, lo, hi, relu, mode, outs,
          row_block, panels_per_task):
    """One (row block, panel group) task.

    Requantized or float output: for each 32-column panel, the int32 tile into an L1 scratch,
    then the epilogue into ``outs``. int32 output: the accumulators start at the zero-point
    terms (``row_term[i] + col_init[j]``, int32) and each whole panel's results go from the
    registers straight to the output, with no tile and no second pass over it; only a last,
    partial panel takes the tile. Both are exact: the sum wraps modulo 2**32, and the true
    result fits in int32 (``|sum_k (a - za)(b - zb)| <= 255 * 255 * MAX_K < 2**31``).
    ``gemm_s8s8s32`` at 1024^3 on one thread (``NUMBA_NUM_THREADS=1``): 280-290 GOP/s through
    the tile and the epilogue, 400-410 straight to the output, 460 for the register tiles
    alone writing nothing (the micro-kernel's peak here).
    """
    n = col_term.shape[0]
    n_panels = (n + NR - 1) // NR
    n_groups = (n_panels + panels_per_task - 1) // panels_per_task
    i_lo, i_hi, p_lo, p_hi, a_rows, row_term = _task_setup(
        a, flip, kpad, zb, task, n_groups, row_block, n_panels, panels_per_task)
    rows = i_hi - i_lo
    tile = np.empty((rows, NR), dtype=np.int32)
    zero_rows, zero_cols = np.zeros(rows, dtype=np.int32), np.zeros(NR, dtype=np.int32)
    row_init = row_term.astype(np.int32)  # wraps modulo 2**32, as the accumulators do
    for p in range(p_lo, p_hi):
        j_lo, j_hi = p * NR, min(n, p * NR + NR)
        if mode == MODE_INT32 and j_hi - j_lo == NR:
            _panel(vnni, a_rows, b, p * kpad * NR, outs[1], i_lo, j_lo, row_init, col_init)
        else:
            _panel(vnni, a_rows, b, p * kpad * NR, tile, 0, 0, zero_rows, zero_cols)
            _epilogue(tile, i_lo, i_hi, j_lo, j_hi, row_term, col_term, scale, zp, lo, hi, relu, mode, outs)


@njit(cache=True, parallel=True)
def _qgemm_par(vnni, a, flip, b, kpad, col_sums, k, za, zb, bias, scale, zp, lo, hi, relu, mode,
               outs, row_block, panels_per_task):
    """out = epilogue((a ^ flip) @ unpack(b)), tasks spread over threads; False if bad scale."""
    col_term, ok = _column_terms(col_sums, k, za, zb, bias, scale, mode)
    col_init = col_term.astype(np.int32)
    if ok:
        for task in prange(_n_tasks(a.shape[0], col_sums.shape[0], row_block, panels_per_task)):
            _task(task, vnni, a, flip, b, kpad, col_term, col_init, zb, scale, zp, lo, hi, relu, mode, outs,
                  row_block, panels_per_task)
    return ok


@njit(cache=True)
def _qgemm_ser(vnni, a, flip, b, kpad, col_sums, k, za, zb, bias, scale, zp, lo, hi, relu, mode,
               outs, row_block, panels_per_task):
    """:func:`_qgemm_par` on the calling thread: small products skip waking the threads."""
    col_term, ok = _column_terms(col_sums, k, za, zb, bias, scale, mode)
    col_init = col_term.astype(np.int32)
    for task in range(_n_tasks(a.shape[0], col_sums.shape[0], row_block, panels_per_task) if ok else 0):
        _task(task, vnni, a, flip, b, kpad, col_term, col_init, zb, scale, zp, lo, hi, relu, mode, outs,
              row_block, panels_per_task)
    return ok


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
