"""One BLAS thread for the command line and the tests, set before NumPy loads.

The engine's matrices are small (64 x 784 x 300), and OpenBLAS's extra threads mostly
spin-wait on them. Measured on the 2-core machine while shared (load 5): `minicompress demo
--quick` 27 s wall / 21 s CPU with the default, 10 s / 5.6 s with one thread; in the tests a
1 s fixture took 11-99 s with the default. One thread also makes results reproducible across
runs on one machine: OpenBLAS sums in another order with another thread count. A value the
user set in the environment is kept.
"""

from __future__ import annotations

import os


def use_one_blas_thread() -> None:
    """Set ``OPENBLAS_NUM_THREADS`` and ``OMP_NUM_THREADS`` to 1 unless already set.

    Has an effect only before NumPy is first imported: call it first thing.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
