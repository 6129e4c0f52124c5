"""The int8 GEMM in plain Numba, for CPUs without AVX-512 VNNI: same tiles, same epilogue.

Same contract and results as :mod:`.gemm_vnni`, one (rows x 32) int32 tile per packed panel,
summed by scalar loops (LLVM's own vectorization of them is what ``_vnni.py`` explains and
improves on). :func:`~minicompress.kernels.gemm_reference` is the oracle of both.
"""

import numpy as np
from numba import njit, prange

from .gemm_tiles import _column_terms, _epilogue, _n_tasks, _task_setup
from .packing import NR


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
