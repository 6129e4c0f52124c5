"""The int8 GEMM on AVX-512 VNNI: 4 x 32 register tiles advanced by ``vpdpbusd``.

With AVX-512 VNNI (the micro-kernel is emitted as LLVM IR in :mod:`._vnni`) a 4 x 32 tile of
int32 accumulators advances by ``vpdpbusd``, 64 multiply-adds per instruction. ``prange`` runs
over tasks = (block of 64 rows, group of 32-column panels); each finished 64 x 32 int32 tile is
requantized by the shared epilogue (:mod:`.gemm_tiles`) while still in L1. Products under
``SERIAL_MAX_WORK`` multiply-adds run on the calling thread (:func:`_qgemm_vnni_ser`).
:mod:`.gemm_portable` computes the same tiles in plain Numba on other CPUs, and
:func:`~minicompress.kernels.gemm_reference` is the oracle of both.
"""

import numpy as np
from numba import njit, prange

from ._vnni import HAS_VNNI, make_microkernel
from .gemm_tiles import _column_terms, _epilogue, _n_tasks, _task_setup
from .packing import MR, NR, NV

_MK = [make_microkernel(mr, NV) for mr in range(1, MR + 1)] if HAS_VNNI else [None] * MR
_mk1, _mk2, _mk3, _mk4 = _MK

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
