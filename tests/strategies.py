"""Shared hypothesis strategies for the test suite.

Each chapter appends its own section below; do not rewrite the others' parts.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# --------------------------------------------------------------------------- equations
# The equations' strategies live in the package, because ``minicompress check`` runs the
# same property tests on a learner's file; they are re-exported here for the tests.
from minicompress.equations.strategies import (  # noqa: F401
    FLOAT_DTYPES,
    array_shapes,
    bit_widths,
    finite_floats,
    float_arrays,
    float_dtypes,
    float_elements,
    half_multiples,
    large_floats,
    near_ties,
    param_dicts,
    pow2_ratios,
    probability_rows,
    ratios,
)

# --------------------------------------------------------------------------- kernels
# NOTE: reconstructed by the equations engineer from tests/test_kernels.py after this file
# was accidentally overwritten; the kernels engineer may replace this section with theirs.
_INT_RANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


def _int_elements(dtype):
    lo, hi = _INT_RANGE[np.dtype(dtype)]
    # the range ends are where sign/zero-point handling breaks, so draw them often
    return st.one_of(st.sampled_from([lo, hi, 0 if lo < 0 else lo]), st.integers(lo, hi))


@st.composite
def gemm_operands(draw, a_dtype=np.uint8, max_m=8, max_k=40, max_n=20):
    """(a (M, K) a_dtype, b (K, N) int8, a_zero_point, b_zero_point), zero points in range."""
    m = draw(st.integers(1, max_m))
    k = draw(st.integers(1, max_k))
    n = draw(st.integers(1, max_n))
    a = draw(hnp.arrays(a_dtype, (m, k), elements=_int_elements(a_dtype)))
    b = draw(hnp.arrays(np.int8, (k, n), elements=_int_elements(np.int8)))
    a_zp = draw(_int_elements(a_dtype))
    b_zp = draw(_int_elements(np.int8))
    return a, b, int(a_zp), int(b_zp)


@st.composite
def csr_operands(draw, max_n=8, dtype=np.float32, max_rows=12, max_cols=12):
    """(a (M, K) mostly-zero dense matrix, d (K, N)) in ``dtype``, N in [1, max_n]."""
    m = draw(st.integers(1, max_rows))
    k = draw(st.integers(1, max_cols))
    n = draw(st.integers(1, max_n))
    width = 32 if np.dtype(dtype) == np.float32 else 64
    vals = st.floats(-8, 8, width=width, allow_nan=False, allow_infinity=False)
    a = draw(hnp.arrays(dtype, (m, k), elements=vals))
    keep = draw(hnp.arrays(np.bool_, (m, k), elements=st.booleans()))
    if draw(st.booleans()):
        keep &= draw(hnp.arrays(np.bool_, (m, k), elements=st.booleans()))  # sparser
    a = np.where(keep, a, 0).astype(dtype)
    d = draw(hnp.arrays(dtype, (k, n), elements=vals))
    return a, d


def maybe_strided(x):
    """``x`` itself, a Fortran-ordered copy, or a non-contiguous view with the same values."""
    def make(kind):
        if kind == "fortran":
            return np.asfortranarray(x)
        if kind == "strided":
            wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
            wide[..., ::2] = x
            return wide[..., ::2]
        return x
    return st.sampled_from(["contiguous", "strided", "fortran"]).map(make)
