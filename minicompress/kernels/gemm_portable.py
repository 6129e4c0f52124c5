"""The int8 GEMM in plain Numba, for CPUs without AVX-512 VNNI: same tiles, same epilogue.

Same contract and results as :mod:`.gemm_vnni`, one (rows x 32) int32 tile per packed panel,
summed by scalar loops (LLVM's own vectorization of them is what ``_vnni.py`` explains and
improves on). :func:`~minicompress.kernels.gemm_reference` is the oracle of both.
"""

import numpy as np
from numba import njit

from .packing import NR


@njit(cache=True, inline="always")
def _panel_portable(a_rows, b, off, c, ci0, j0, row_init, col_init):
    """Same contract as :func:`_panel_vnni` in plain Numba (CPUs without AVX-512 VNNI)."""
    rows, kpad = a_rows.shape
    for i in range(rows):
        for j in range(NR):
            c[ci0 + i, j0 + j] = row_init[i] + col_init[j0 + j]
        for q in range(kpad // 4):
            base = off + q * NR * 4
            for t in range(4):
                av = np.int32(a_rows[i, 4 * q + t])
                for j in range(NR):
                    c[ci0 + i, j0 + j] += av * np.int32(b[base + 4 * j + t])
