"""The small library functions the course's compression tasks needed (each one's own test)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minicompress.compress.kmeans import kmeans_1d, update_centroids, weight_sharing_compression_rate
from minicompress.compress.pruning import channel_importance, magnitude_threshold_mask, num_channels_to_keep
from minicompress.compress.quantization import quantize_bias, quantize_multiplier, shift_bias
from minicompress.errors import InputError

FAST = settings(max_examples=60, deadline=None)


# ------------------------------------------------------------------ quantization
@pytest.mark.quantization
def test_quantize_bias_by_hand():
    q = quantize_bias(np.array([0.3, -1.0, 0.0, 0.0625]), 0.5, np.array([0.1, 0.25, 1.0, 0.25]))
    assert q.dtype == np.int32
    np.testing.assert_array_equal(q, [6, -8, 0, 0])  # 0.0625 / 0.125 = 0.5 -> 0 (half to even)
    assert quantize_bias(np.array([1e12]), 1.0, 1e-3)[0] == 2**31 - 1  # saturates


@pytest.mark.quantization
def test_quantize_bias_refuses_bad_input():
    with pytest.raises(InputError):
        quantize_bias(np.ones((2, 2)), 1.0, 1.0)
    with pytest.raises(InputError):
        quantize_bias(np.ones(3), 1.0, np.ones(2))
    with pytest.raises(InputError):
        quantize_bias(np.ones(3), 0.0, 1.0)


@pytest.mark.quantization
@FAST
@given(st.floats(1e-9, 1e6, allow_nan=False))
def test_quantize_multiplier_represents_the_multiplier(m):
    m0, shift = quantize_multiplier(m)
    assert 2**30 <= m0 < 2**31
    assert math.isclose(m0 * 2.0 ** (shift - 31), m, rel_tol=2.0**-30)


@pytest.mark.quantization
def test_quantize_multiplier_by_hand():
    assert quantize_multiplier(0.75) == (3 * 2**29, 0)
    assert quantize_multiplier(2.0) == (2**30, 2)
    assert quantize_multiplier(1 - 2.0**-33) == (2**30, 1)  # rounds up to 2^31: renormalised
    assert quantize_multiplier((2**30 + 0.5) * 2.0**-31) == (2**30 + 1, 0)  # half up, not to even
    with pytest.raises(InputError):
        quantize_multiplier(0.0)


@pytest.mark.quantization
@FAST
@given(st.integers(1, 4), st.integers(1, 5), st.integers(-128, 127), st.integers(0, 2**31 - 1))
def test_shift_bias_folds_the_input_zero_point(c_out, c_in, zp, seed):
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, (c_out, c_in, 2, 2)).astype(np.int8)
    b = rng.integers(-1000, 1000, c_out).astype(np.int32)
    x = rng.integers(-128, 128, (c_in, 2, 2))
    direct = ((x - zp)[None] * w.astype(np.int64)).sum(axis=(1, 2, 3)) + b  # one output position
    shifted = (x[None] * w.astype(np.int64)).sum(axis=(1, 2, 3)) + shift_bias(b, w, zp)
    np.testing.assert_array_equal(direct, shifted)


@pytest.mark.quantization
def test_shift_bias_by_hand_and_bad_input():
    np.testing.assert_array_equal(shift_bias(np.array([4, -2], np.int32), np.array([[2, 4], [-1, 1]], np.int8), 1),
                                  [-2, -2])
    with pytest.raises(InputError):
        shift_bias(np.array([1, 2], np.int32), np.ones((3, 2), np.int8), 1)


# ------------------------------------------------------------------ pruning
@pytest.mark.pruning
def test_magnitude_threshold_mask_prunes_ties():
    w = np.array([2.0, -1.0, 1.0, 3.0])
    np.testing.assert_array_equal(magnitude_threshold_mask(w, 0.25), [True, False, False, True])
    np.testing.assert_array_equal(magnitude_threshold_mask(w, 0.1), [True] * 4)  # k = round(0.4) = 0
    np.testing.assert_array_equal(magnitude_threshold_mask(w, 1.0), [False] * 4)


@pytest.mark.pruning
@FAST
@given(st.lists(st.integers(-4, 4), min_size=1, max_size=20), st.floats(0, 1))
def test_magnitude_threshold_mask_prunes_at_least_k_and_only_the_smallest(values, sparsity):
    w = np.array(values, dtype=np.float64)
    mask = magnitude_threshold_mask(w, sparsity)
    k = round(sparsity * w.size)
    assert (~mask).sum() >= k
    if mask.any() and (~mask).any():
        assert np.abs(w[mask]).min() > np.abs(w[~mask]).max()


@pytest.mark.pruning
def test_channel_importance_and_channels_to_keep():
    w = np.array([[3.0, 1.0, 0.0], [4.0, -1.0, 0.0]])
    np.testing.assert_allclose(channel_importance(w), [5.0, np.sqrt(2.0), 0.0])
    np.testing.assert_allclose(channel_importance(w, dim=0, n=1), [4.0, 5.0])
    assert num_channels_to_keep(5, 0.5) == 2  # round(2.5), half to even
    assert num_channels_to_keep(64, 0.3) == 45
    with pytest.raises(InputError):
        num_channels_to_keep(8, 1.5)
    with pytest.raises(InputError):
        channel_importance(np.ones(3))


# ------------------------------------------------------------------ Deep Compression
@pytest.mark.deep_compression
def test_update_centroids_means_and_empty_clusters():
    new = update_centroids(np.array([1.0, 3.0, 10.0, 2.0]), np.array([0, 0, 1, 0]), np.array([0.0, 0.0, 5.0]))
    np.testing.assert_allclose(new, [2.0, 10.0, 5.0])
    with pytest.raises(InputError):
        update_centroids(np.ones(3), np.array([0, 1]), np.zeros(2))


@pytest.mark.deep_compression
@FAST
@given(st.lists(st.integers(-50, 50), min_size=1, max_size=30), st.integers(1, 6))
def test_update_centroids_is_a_fixed_point_of_converged_kmeans(values, k):
    v = np.array(values, dtype=np.float64) / 4
    c, labels = kmeans_1d(v, k)
    np.testing.assert_allclose(update_centroids(v, labels, c), c, atol=1e-9)


@pytest.mark.deep_compression
def test_weight_sharing_compression_rate():
    assert weight_sharing_compression_rate(16, 4, 32) == pytest.approx(3.2)  # the paper's 4x4 example
    assert weight_sharing_compression_rate(1000, 3) == pytest.approx(32000 / (1000 * math.log2(3) + 96))
    with pytest.raises(InputError):
        weight_sharing_compression_rate(0, 4)
