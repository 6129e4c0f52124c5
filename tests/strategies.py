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


# --------------------------------------------------------------------------- engine
# minicompress.engine: shapes for every op's gradient check (broadcast batch dimensions, 1-D
# operands, size-1 dimensions, any reduction axis, convolution and pooling geometries well
# beyond LeNet's). Values come from a seeded generator, not from hypothesis, so they stay away
# from the kinks (relu, abs, max ties) where central differences are not a gradient.
def float64_array(shape, seed, positive=False):
    """A float64 array of ``shape`` (standard normal; ``positive``: in [0.5, 2.5))."""
    rng = np.random.default_rng(seed)
    if positive:
        return rng.random(shape) * 2.0 + 0.5
    return rng.standard_normal(shape)


seeds = st.integers(0, 2**32 - 1)
small_shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


@st.composite
def broadcast_pairs(draw, max_dims=4):
    """Two shapes that broadcast together (size-1 and missing leading dimensions included)."""
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims,
                                                    min_side=1, max_side=4))
    return shapes.input_shapes


@st.composite
def matmul_shapes(draw):
    """(shape_a, shape_b) for ``a @ b``: 1-D operands, and batch dimensions broadcast either way."""
    shapes = draw(hnp.mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=3,
                                                    min_side=1, max_side=4))
    return shapes.input_shapes


@st.composite
def shape_and_axis(draw, min_dims=0, allow_none=True, allow_tuple=True):
    """(shape, axis): axis None, an int (negative too) or a tuple of distinct axes."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    options = []
    if allow_none:
        options.append(st.none())
    if ndim:
        options.append(st.integers(-ndim, ndim - 1))
        if allow_tuple:
            options.append(hnp.valid_tuple_axes(ndim, min_size=1))
    return shape, draw(st.one_of(options))


@st.composite
def shape_and_index(draw):
    """(shape, index): basic indices (slices with steps, ints, None, ...) or a fancy index with repeats."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    if draw(st.booleans()):
        return shape, draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    index = draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=6))
    return shape, np.array(index)


@st.composite
def conv_geometries(draw, max_kernel=5, max_stride=4, max_padding=3):
    """(x_shape, w_shape, stride, padding) with the padded input at least the kernel's size."""
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel))
    stride, padding = draw(st.integers(1, max_stride)), draw(st.integers(0, max_padding))
    h = draw(st.integers(max(1, kh - 2 * padding), kh + 5))
    w = draw(st.integers(max(1, kw - 2 * padding), kw + 5))
    return (n, c, h, w), (f, c, kh, kw), stride, padding


@st.composite
def pool_geometries(draw, max_kernel=4, max_stride=4):
    """(x_shape, kernel_size, stride): stride None (= kernel), smaller (overlapping) or larger."""
    k = draw(st.integers(1, max_kernel))
    stride = draw(st.one_of(st.none(), st.integers(1, max_stride)))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(k, k + 6)), draw(st.integers(k, k + 6))
    return (n, c, h, w), k, stride


# --------------------------------------------------------------------------- public-API fuzz
# Values a careless or hostile caller passes: NaN/inf, empty, complex, object, strings, ragged
# lists, wrong shapes (arrays), and numbers of every kind and range (arguments).
weird_values = st.one_of(
    st.integers(-3, 12), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.none(), st.booleans(), st.text(max_size=3), st.lists(st.integers(-2, 5), max_size=3),
    st.complex_numbers(max_magnitude=5), st.sampled_from([np.nan, np.inf, -np.inf, 1e308, -0.0, np.float32(0.5),
                                                          np.int64(2), (), (1, 2), {"a": 1}, b"x", object()]),
)


@st.composite
def fuzz_arrays(draw, max_dims=4, max_side=4):
    """An array (or array-like) of a random shape and kind: special floats, empty, int, bool,
    complex, object, strings, a ragged list, a scalar."""
    kind = draw(st.sampled_from(["float", "special", "empty", "int", "bool", "complex", "object", "str",
                                 "ragged", "scalar", "list"]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=1, max_side=max_side))
    if kind == "float":
        return draw(hnp.arrays(draw(st.sampled_from([np.float16, np.float32, np.float64])), shape,
                               elements=st.floats(-1e3, 1e3, width=16)))
    if kind == "special":
        return draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -0.0,
                                                                             1e308, -1e308, 5e-324, 1.0])))
    if kind == "empty":
        dims = list(shape) or [0]
        dims[draw(st.integers(0, len(dims) - 1))] = 0
        return np.zeros(dims, dtype=draw(st.sampled_from([np.float32, np.float64, np.int64])))
    if kind == "int":
        return draw(hnp.arrays(np.int64, shape, elements=st.integers(-(2**40), 2**40)))
    if kind == "bool":
        return draw(hnp.arrays(np.bool_, shape))
    if kind == "complex":
        return draw(hnp.arrays(np.complex128, shape, elements=st.complex_numbers(max_magnitude=10)))
    if kind == "object":
        return np.full(shape, None, dtype=object)
    if kind == "str":
        return np.full(shape, "a")
    if kind == "ragged":
        return [[1.0, 2.0], [3.0]]
    if kind == "scalar":
        return draw(st.sampled_from([0.5, np.nan, np.float64(np.inf), 3, True]))
    return draw(st.lists(st.floats(-5, 5), min_size=0, max_size=4))
