"""The int8 GEMM on AVX-512 VNNI: 4 x 32 register tiles advanced by ``vpdpbusd``.

With AVX-512 VNNI (the micro-kernel is emitted as LLVM IR in :mod:`._vnni`) a 4 x 32 tile of
int32 accumulators advances by ``vpdpbusd``, 64 multiply-adds per instruction. ``prange`` runs
over tasks = (block of 64 rows, group of 32-column panels) in :mod:`.gemm_tiles`, which calls
:func:`_panel_vnni` for each 32-column panel and either requantizes the finished tile while it is
still in L1 or, for an int32 result, has the tiles stored straight into the output.
:mod:`.gemm_portable` computes the same tiles in plain Numba on other CPUs (and stands in for
:func:`_panel_vnni` there), and :func:`~minicompress.kernels.gemm_reference` is the oracle of both.
"""

from numba import njit

from ._vnni import HAS_VNNI, make_microkernel
from .gemm_portable import _panel_portable
from .packing import MR, NV

if HAS_VNNI:
    _mk1, _mk2, _mk3, _mk4 = (make_microkernel(mr, NV) for mr in range(1, MR + 1))

    @njit(cache=True, inline="always")
    def _panel_vnni(a_rows, b, off, c, ci0, j0, row_init, col_init):
        """c[ci0 + i, j0 + j] = row_init[i] + col_init[j0 + j] + (a_rows @ panel)[i, j], int32.

        ``a_rows`` is (rows, Kpad) uint8, the panel the packed one at ``b[off:]``; ``c`` is
        either a (rows, NR) scratch tile (``ci0 = j0 = 0``) or the output itself (a full panel
        of columns ``j0 .. j0 + NR - 1``). 4-row VNNI register tiles, then one 3-, 2- or 1-row
        tile for the rest.
        """
        rows = a_rows.shape[0]
        i = 0
        while i + MR <= rows:
            _mk4(a_rows, i, b, off, c, ci0 + i, j0, row_init, col_init)
            i += MR
        if rows - i == 3:
            _mk3(a_rows, i, b, off, c, ci0 + i, j0, row_init, col_init)
        elif rows - i == 2:
            _mk2(a_rows, i, b, off, c, ci0 + i, j0, row_init, col_init)
        elif rows - i == 1:
            _mk1(a_rows, i, b, off, c, ci0 + i, j0, row_init, col_init)
else:  # no VNNI instruction to emit: the plain-Numba panel (same results)
    _panel_vnni = _panel_portable
