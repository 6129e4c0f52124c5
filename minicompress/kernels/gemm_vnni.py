"""The int8 GEMM on AVX-512 VNNI: 4 x 32 register tiles advanced by ``vpdpbusd``.

With AVX-512 VNNI (the micro-kernel is emitted as LLVM IR in :mod:`._vnni`) a 4 x 32 tile of
int32 accumulators advances by ``vpdpbusd``, 64 multiply-adds per instruction. ``prange`` runs
over tasks = (block of 64 rows, group of 32-column panels) in :mod:`.gemm_tiles`, which calls
:func:`_panel_vnni` for each 32-column panel and requantizes the finished tile while it is still
in L1. :mod:`.gemm_portable` computes the same tiles in plain Numba on other CPUs (and stands in
for :func:`_panel_vnni` there), and :func:`~minicompress.kernels.gemm_reference` is the oracle
of both.
"""

from numba import njit

from ._vnni import HAS_VNNI, make_microkernel
from .gemm_portable import _panel_portable
from .packing import MR, NV

if HAS_VNNI:
    _mk1, _mk2, _mk3, _mk4 = (make_microkernel(mr, NV) for mr in range(1, MR + 1))

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
else:  # no VNNI instruction to emit: the plain-Numba panel (same results)
    _panel_vnni = _panel_portable
