"""Hypothesis strategies shared by the compression chapters' tasks.

Values are drawn on a dyadic grid (integers times a power of two) so that exact ties
(x / s = k + 1/2) really occur and the float arithmetic of two correct implementations
agrees to the last bit; extreme and degenerate inputs (zeros, one element, a single sign)
come up as often as ordinary ones.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims=1, max_dims=2, min_side=1, max_side=5):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def grid_arrays(shape=None, lo=-64, hi=64, step=0.25, dtype=np.float64, **shape_kw):
    """Arrays of ``k * step`` with integer k in [lo, hi] (ties and zeros included)."""
    shape = shapes(**shape_kw) if shape is None else shape
    if isinstance(shape, tuple):
        shape = st.just(shape)
    return shape.flatmap(lambda s: hnp.arrays(np.int64, s, elements=st.integers(lo, hi))).map(
        lambda a: (a * step).astype(dtype))


def int_arrays(shape, lo, hi, dtype=np.int64):
    if isinstance(shape, tuple):
        shape = st.just(shape)
    return shape.flatmap(lambda s: hnp.arrays(dtype, s, elements=st.integers(lo, hi)))


def powers_of_two(lo=-4, hi=2):
    """2**k as a Python float, k in [lo, hi]."""
    return st.integers(lo, hi).map(lambda k: float(2.0**k))


def distinct_values(n_min, n_max, lo=-64, hi=64, step=0.125):
    """1-D float64 array of n distinct grid values, shuffled."""
    return st.lists(st.integers(lo, hi), min_size=n_min, max_size=n_max, unique=True).map(
        lambda v: np.array(v, dtype=np.float64) * step)


def distinct_magnitudes(shape, exponents=False):
    """Arrays of ``shape`` whose |values| are all different (random signs, zero allowed once).

    For rankings whose tie order is a convention nobody agrees on (``torch.topk`` leaves it
    unspecified, NumPy's default ``argsort`` is not stable): without ties every correct
    implementation gives the same answer. With ``exponents`` the magnitudes are distinct
    powers of two, so sums of powers of disjoint sets (channel norms) differ too.
    """
    if isinstance(shape, tuple):
        shape = st.just(shape)

    def fill(s):
        n = int(np.prod(s))
        mags = (st.lists(st.integers(-20, 20), min_size=n, max_size=n, unique=True).map(
            lambda k: 2.0 ** np.array(k, dtype=np.float64)) if exponents else
            st.lists(st.integers(0, 4 * n + 8), min_size=n, max_size=n, unique=True).map(
            lambda k: np.array(k, dtype=np.float64) / 4))
        signs = st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n).map(np.array)
        return st.tuples(mags, signs).map(lambda ms: (ms[0] * ms[1]).reshape(s))
    return shape.flatmap(fill)
