"""Hypothesis strategies for the equations' property tests, shared in one place.

``tests/strategies.py`` re-exports these for the test suite; ``equation_properties.py``
builds its cases from them, so pytest (against the reference) and ``minicompress check``
(against a learner's file) draw from the same inputs.

Every strategy draws float32 and float64 arrays (float64 first, so a failure shrinks
to float64), shapes with a zero side (empty arrays) and one element, negative values,
exact ``.5`` multiples of a step (the ties that separate half-away-from-zero from
NumPy's half-to-even), and large magnitudes.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def float_dtypes():
    """float64 or float32 (shrinks to float64)."""
    return st.sampled_from(FLOAT_DTYPES)


def array_shapes(max_dims=2, max_side=6):
    """1-D or 2-D shapes, sides 0..max_side, so empty and 1-element arrays occur."""
    return hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=0, max_side=max_side)


def float_width(dtype):
    """32 or 64: the `width` hypothesis.strategies.floats needs for ``dtype``."""
    return 32 if np.dtype(dtype) == np.float32 else 64


def _bound(x, dtype):
    """The largest value of ``dtype`` whose magnitude is <= |x| (hypothesis wants exact bounds)."""
    v = np.dtype(dtype).type(x)
    if abs(float(v)) > abs(x):
        v = np.nextafter(v, np.dtype(dtype).type(0))
    return float(v)


def finite_floats(dtype, max_magnitude=1e30):
    """Finite floats exactly representable in ``dtype``, |x| <= max_magnitude."""
    m = _bound(max_magnitude, dtype)
    return st.floats(-m, m, width=float_width(dtype), allow_nan=False, allow_infinity=False)


def half_multiples(step, max_k=1000):
    """Exact multiples of ``step / 2`` (j·step/2, |j| <= 2·max_k): ties and grid points.

    ``step`` should be a power of two so every value is exact in float32 and float64.
    """
    return st.integers(-2 * max_k, 2 * max_k).map(lambda j: j * 0.5 * step)


def near_ties(step, dtype, max_k=1000):
    """A .5 multiple of ``step`` or its nearest ``dtype`` neighbour on either side.

    ``0.49999999999999994`` (the float64 just below 0.5) is the classic trap:
    ``floor(x + 0.5)`` gives 1 because the addition rounds up.
    """
    dt = np.dtype(dtype).type
    p = np.finfo(dtype).nmant + 1  # significand bits: 24 for float32, 53 for float64
    # integers in [2^(p-1), 2^p): where x + 0.5 is no longer exact, also a trap
    edge = st.integers(2 ** (p - 1), 2**p - 1).map(lambda k: k * step)
    base = st.one_of(st.sampled_from([0.5, -0.5, 1.5, -1.5]).map(lambda x: x * step),
                     half_multiples(step, max_k), edge, edge.map(lambda x: -x))

    def nudge(pair):
        x, direction = pair
        v = dt(x)
        return float(v if direction == 0 else np.nextafter(v, dt(direction * np.inf)))

    return st.tuples(base, st.sampled_from([0, -1, 1])).map(nudge)


def large_floats(dtype, low=2.0**20, high=1e30):
    """Magnitudes in [low, high], either sign: past the range where ``x + 0.5`` is exact."""
    low, high = _bound(low, dtype), _bound(high, dtype)
    mag = st.floats(low, high, width=float_width(dtype), allow_nan=False, allow_infinity=False)
    return st.tuples(mag, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])


def float_elements(dtype, step=1.0, max_magnitude=1e30):
    """One array element: a .5 multiple of ``step`` or its neighbour, a small float, a large
    one, or any finite float up to ``max_magnitude``."""
    small = 4.0 * step
    return st.one_of(
        half_multiples(step),
        near_ties(step, dtype),
        finite_floats(dtype, min(small, max_magnitude)),
        large_floats(dtype, low=min(2.0**20, max_magnitude), high=max_magnitude),
        finite_floats(dtype, max_magnitude),
    )


def float_arrays(dtype=None, shape=None, step=1.0, max_magnitude=1e30):
    """Arrays of ``float_elements``; dtype and shape are drawn unless given."""
    @st.composite
    def build(draw):
        dt = draw(float_dtypes()) if dtype is None else np.dtype(dtype)
        shp = draw(array_shapes()) if shape is None else shape
        return draw(hnp.arrays(dt, shp, elements=float_elements(dt, step, max_magnitude)))
    return build()


def bit_widths(max_bits=64):
    """Bit widths b >= 1, mostly small (shrinks to 1)."""
    return st.one_of(st.integers(1, 16), st.integers(1, max_bits))


def ratios():
    """Ratios in [0, 1] (r, p), with the endpoints and 1/2 drawn often."""
    return st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0))


def pow2_ratios(max_exp=10):
    """Quantization ratios Q = 2^0 .. 2^max_exp (the document's 2, 4, 8, ...)."""
    return st.integers(0, max_exp).map(lambda e: 2.0**e)


def probability_rows(max_rows=5, max_classes=6, logit_range=5.0):
    """(N, K) float64 rows of softmax probabilities, every entry >= e^-2L / K > 1e-7.

    Drawn as logits in [-L, L] so no entry is so small that a log clip matters.
    """
    @st.composite
    def build(draw):
        n = draw(st.integers(1, max_rows))
        k = draw(st.integers(2, max_classes))
        logits = draw(hnp.arrays(np.float64, (n, k),
                                 elements=st.floats(-logit_range, logit_range)))
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return build()


def param_names():
    """Dotted parameter names as ``named_parameters`` gives them."""
    return st.sampled_from(["0.weight", "0.bias", "2.weight", "2.bias", "fc.weight", "fc.bias"])


def param_dicts(dtype=None, max_tensors=3, max_magnitude=1e6):
    """A parameter set Θ: dict of 1..max_tensors names -> float arrays (small shapes)."""
    @st.composite
    def build(draw):
        dt = draw(float_dtypes()) if dtype is None else np.dtype(dtype)
        names = draw(st.lists(param_names(), min_size=1, max_size=max_tensors, unique=True))
        out = {}
        for name in names:
            shp = draw(array_shapes(max_side=4))
            out[name] = draw(hnp.arrays(dt, shp, elements=float_elements(dt, 1.0, max_magnitude)))
        return out
    return build()
