"""Shared hypothesis strategies for the test suite.

Each chapter appends its own section below; do not rewrite the others' parts.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# --------------------------------------------------------------------------- equations
# The equations' strategies live in the package, because ``minicompress check`` runs the
# same property tests on a learner's file; they are re-exported here for the tests.
from minicompress.course.strategies import (  # noqa: F401
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
# minicompress.kernels: integer GEMM operands (extremes, zero points, non-contiguous), CSR
# matrices of several densities, arrays in C, strided and Fortran layouts.
_INT_RANGE = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}


def _int_elements(dtype):
    lo, hi = _INT_RANGE[np.dtype(dtype)]
    # the range ends are where overflow, sign and zero-point handling break: draw them often
    return st.one_of(st.sampled_from([lo, hi, 0 if lo < 0 else lo]), st.integers(lo, hi))


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


@st.composite
def gemm_operands(draw, max_m=37, max_k=70, max_n=45, a_dtype=None):
    """(a, b, a_zero_point, b_zero_point): a (M, K) int8/uint8, b (K, N) int8, any layout.

    Sizes include 1 and values that are multiples of no tile size (the kernel tiles 4 rows,
    32 columns, 4 k); elements and zero points are pushed to the ends of their ranges.
    """
    m = draw(st.integers(1, max_m))
    k = draw(st.integers(1, max_k))
    n = draw(st.integers(1, max_n))
    a_dtype = a_dtype or draw(st.sampled_from([np.int8, np.uint8]))
    a = draw(maybe_strided(draw(hnp.arrays(a_dtype, (m, k), elements=_int_elements(a_dtype)))))
    b = draw(maybe_strided(draw(hnp.arrays(np.int8, (k, n), elements=_int_elements(np.int8)))))
    a_zp = draw(_int_elements(a_dtype))
    b_zp = draw(st.one_of(st.just(0), _int_elements(np.int8)))
    return a, b, int(a_zp), int(b_zp)


@st.composite
def csr_operands(draw, max_m=30, max_k=40, max_n=9, dtype=np.float32):
    """(w, d): a sparse-ish (M, K) matrix (density 0 to 1) and a dense (K, N) operand."""
    m = draw(st.integers(1, max_m))
    k = draw(st.integers(1, max_k))
    n = draw(st.integers(1, max_n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.0, 0.05, 0.1, 0.5, 1.0]))
    w = (rng.standard_normal((m, k)) * (rng.random((m, k)) < density)).astype(dtype)
    d = rng.standard_normal((k, n)).astype(dtype)
    return w, draw(maybe_strided(d))


# --------------------------------------------------------------------------- sparse network
# minicompress.kernels.sparse_network: chains of 1-3 pruned Linear layers (density 0 to 1,
# widths down to 1, optional bias and ReLU) and inputs with many exact zeros.
@st.composite
def sparse_networks(draw, max_width=24, max_batch=9):
    """(weights, biases, relus, formats, x): a pruned Linear chain and a (B, in) input."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    dims = draw(st.lists(st.integers(1, max_width), min_size=2, max_size=4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights, biases, relus, formats = [], [], [], []
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        density = draw(st.sampled_from([0.0, 0.1, 0.3, 1.0]))
        w = rng.standard_normal((n_out, n_in)) * (rng.random((n_out, n_in)) < density)
        weights.append(w.astype(dtype))
        biases.append(rng.standard_normal(n_out).astype(dtype) if draw(st.booleans()) else None)
        relus.append(draw(st.booleans()))
        formats.append(draw(st.sampled_from(["auto", "columns", "rows"])))
    batch = draw(st.integers(0, max_batch))
    zeros = draw(st.sampled_from([0.0, 0.5, 0.8, 1.0]))  # fraction of exact-zero inputs
    x = rng.standard_normal((batch, dims[0])) * (rng.random((batch, dims[0])) >= zeros)
    return weights, biases, relus, formats, x.astype(dtype)
