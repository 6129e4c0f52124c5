"""The Numba kernels against their plain NumPy oracles, bit for bit (chapter 9)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicompress.kernels import (
    MAX_K,
    PackedWeights,
    csr_linear,
    csr_matmul,
    csr_matmul_reference,
    gemm,
    gemm_reference,
    gemm_s8s8s32,
    gemm_u8s8s32,
    im2col,
    im2col_reference,
    pack_weights,
    qlinear,
    qlinear_reference,
    quantize,
    quantize_reference,
    requantize,
    requantize_reference,
    sparse,
    to_csr,
    to_csr_reference,
)
from tests.strategies import csr_operands, gemm_operands, maybe_strided

pytestmark = pytest.mark.kernels


# --- integer GEMM ----------------------------------------------------------------------------


@given(gemm_operands(a_dtype=np.int8))
def test_gemm_s8s8s32_matches_oracle(ops):
    a, b, _, _ = ops
    out = gemm_s8s8s32(a, b)
    assert out.dtype == np.int32 and out.shape == (a.shape[0], b.shape[1])
    np.testing.assert_array_equal(out, gemm_reference(a, b))


@given(gemm_operands())
def test_gemm_u8s8s32_with_zero_points_matches_oracle(ops):
    a, b, a_zp, b_zp = ops
    out = gemm_u8s8s32(a, b, a_zp, b_zp)
    np.testing.assert_array_equal(out, gemm_reference(a, b, a_zp, b_zp))


@given(gemm_operands(), st.data())
def test_qlinear_matches_oracle(ops, data):
    a, b, a_zp, b_zp = ops
    n = b.shape[1]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    out_dtype = data.draw(st.sampled_from([np.int8, np.uint8, np.float32]))
    per_channel = data.draw(st.booleans())
    # scales around 1/(K * 128) put the outputs across the whole int8 range, saturation included
    base = 1.0 / (a.shape[1] * 64.0)
    scale = rng.uniform(0.2, 5.0, n) * base if per_channel else data.draw(st.floats(base / 5, base * 5))
    bias = rng.integers(-(2**20), 2**20, n).astype(np.int32) if data.draw(st.booleans()) else None
    relu = data.draw(st.booleans())
    out_zp = 0 if out_dtype == np.float32 else int(rng.integers(*(
        (-128, 128) if out_dtype == np.int8 else (0, 256))))
    w = pack_weights(b, b_zp)
    got = qlinear(a, w, bias, a_zp, scale, out_zp, out_dtype, relu)
    want = qlinear_reference(a, b, bias, a_zp, scale, out_zp, out_dtype, relu, w_zero_point=b_zp)
    assert got.dtype == np.dtype(out_dtype)
    np.testing.assert_array_equal(got, want)


@given(st.integers(0, 2**32 - 1))
def test_requantize_matches_oracle(seed):
    rng = np.random.default_rng(seed)
    acc = rng.integers(-(2**31), 2**31 - 1, (6, 9), dtype=np.int64).astype(np.int32)
    acc[0, :3] = [-(2**31), 2**31 - 1, 0]
    scale = rng.uniform(1e-9, 1e-6, 9)
    bias = rng.integers(-(2**31), 2**31 - 1, 9, dtype=np.int64).astype(np.int32)
    for dt, zp in [(np.int8, -3), (np.uint8, 128), (np.float32, 0)]:
        for relu in (False, True):
            np.testing.assert_array_equal(
                requantize(acc, scale, zp, dt, bias, relu),
                requantize_reference(acc, scale, zp, dt, bias, relu),
            )


def test_requantize_rounds_half_to_even_and_saturates():
    acc = np.array([[1, 3, 5, -1, -3, -5, 1000, -1000]], dtype=np.int32)
    out = requantize(acc, 0.5, 0, np.int8)  # 0.5, 1.5, 2.5, ... -> nearest even
    np.testing.assert_array_equal(out, [[0, 2, 2, 0, -2, -2, 127, -128]])
    out_u8 = requantize(acc, 0.5, 10, np.uint8)
    np.testing.assert_array_equal(out_u8, [[10, 12, 12, 10, 8, 8, 255, 0]])
    relu = requantize(acc, 0.5, 10, np.uint8, relu=True)
    np.testing.assert_array_equal(relu, [[10, 12, 12, 10, 10, 10, 255, 10]])


@pytest.mark.parametrize("shape", [(1, 1, 1), (1, 784, 300), (256, 784, 300), (67, 1000, 131), (5, 3, 1)])
def test_gemm_shapes_beyond_every_tile(shape):
    m, k, n = shape
    rng = np.random.default_rng(m * k + n)
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    w = pack_weights(b)
    np.testing.assert_array_equal(gemm_u8s8s32(a, w, 131), gemm_reference(a, b, 131))
    s8 = (a.astype(np.int16) - 128).astype(np.int8)
    np.testing.assert_array_equal(gemm_s8s8s32(s8, w), gemm_reference(s8, b))


def test_gemm_exact_at_max_k_extremes():
    k = MAX_K
    a = np.full((2, k), -128, dtype=np.int8)
    b = np.full((k, 3), -128, dtype=np.int8)
    assert np.all(gemm_s8s8s32(a, b) == k * 128 * 128)
    # worst case for the corrected uint8 product: (255 - 0) * (-128 - 127) per term
    au = np.full((1, k), 255, dtype=np.uint8)
    out = gemm_u8s8s32(au, b, 0, 127)
    assert out[0, 0] == -k * 255 * 255
    with pytest.raises(ValueError, match="MAX_K"):
        gemm_s8s8s32(np.zeros((1, k + 1), np.int8), np.zeros((k + 1, 1), np.int8))


@pytest.mark.parametrize("a_val, a_zp, b_val, b_zp", [
    (255, 0, -128, 127), (0, 255, -128, 127), (255, 255, 127, -128), (255, 0, 127, -128), (0, 0, 127, 0),
])
def test_gemm_int32_straight_to_output_exact_at_max_k(a_val, a_zp, b_val, b_zp):
    """A whole 32-column panel of int32 output is stored from the registers, which start at the
    zero-point terms and add in wrapping int32: still exact where results and terms come within
    1% of 2**31."""
    k, n = MAX_K, 40  # one whole panel (straight to the output) and a partial one (through the tile)
    rng = np.random.default_rng(a_val * 1000 + a_zp + b_val + 128)
    a = np.full((5, k), a_val, dtype=np.uint8)  # 5 rows: a 4-row register tile and a 1-row one
    a[1] = rng.integers(0, 256, k)
    b = np.full((k, n), b_val, dtype=np.int8)
    b[:, 3] = rng.integers(-128, 128, k)
    np.testing.assert_array_equal(gemm_u8s8s32(a, b, a_zp, b_zp), gemm_reference(a, b, a_zp, b_zp))
    s8 = (a.astype(np.int16) - 128).astype(np.int8)
    np.testing.assert_array_equal(gemm_s8s8s32(s8, b), gemm_reference(s8, b))


def test_packed_weights_roundtrip_and_reuse():
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, (40, 300), dtype=np.int8)  # Linear weight (out, in)
    pw = pack_weights(w.T, zero_point=-7)  # strided view is fine
    assert isinstance(pw, PackedWeights) and pw.shape == (300, 40)
    np.testing.assert_array_equal(pw.unpack(), w.T)
    x = rng.integers(0, 256, (9, 300), dtype=np.uint8)
    first = gemm_u8s8s32(x, pw, 5)
    np.testing.assert_array_equal(first, gemm_u8s8s32(x, pw, 5))
    np.testing.assert_array_equal(first, gemm_reference(x, w.T, 5, -7))


def test_gemm_rejects_bad_input():
    a = np.zeros((3, 4), np.int8)
    b = np.zeros((4, 2), np.int8)
    with pytest.raises(TypeError, match="int8"):
        gemm_s8s8s32(a.astype(np.int16), b)
    with pytest.raises(TypeError, match="int8"):
        gemm_s8s8s32(a, b.astype(np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        gemm_s8s8s32(np.zeros((3, 4), np.uint8), b)
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm_s8s8s32(a, np.zeros((5, 2), np.int8))
    with pytest.raises(ValueError, match="2-D"):
        gemm_s8s8s32(a.ravel(), b)
    with pytest.raises(ValueError, match="a_zero_point"):
        gemm_u8s8s32(np.zeros((3, 4), np.uint8), b, 256)
    with pytest.raises(TypeError, match="a_zero_point"):
        gemm_u8s8s32(np.zeros((3, 4), np.uint8), b, 1.5)
    with pytest.raises(ValueError, match="scale"):
        qlinear(a, b, scale=-1.0)
    with pytest.raises(ValueError, match="scale"):
        qlinear(a, b, scale=np.ones(3))
    with pytest.raises(TypeError, match="bias"):
        qlinear(a, b, bias=np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="out_dtype"):
        qlinear(a, b, out_dtype=np.int16)
    with pytest.raises(ValueError, match="out_zero_point"):
        qlinear(a, b, out_zero_point=300, out_dtype=np.uint8)


@given(gemm_operands(max_m=9, max_k=40, max_n=40))
def test_portable_fallback_matches_oracle(ops):
    """The plain-Numba kernel used on CPUs without AVX-512 VNNI, run here explicitly."""
    a, b, a_zp, b_zp = ops
    got = gemm._run(a, b, a_zp, b_zp, None, None, 0, None, False, gemm.MODE_INT32, use_vnni=False)
    np.testing.assert_array_equal(got, gemm_reference(a, b, a_zp, b_zp))
    scale = 1.0 / (a.shape[1] * 64.0)
    got_q = gemm._run(a, b, a_zp, b_zp, None, scale, 3, np.int8, True, gemm.MODE_QUANT, use_vnni=False)
    np.testing.assert_array_equal(got_q, qlinear_reference(a, b, None, a_zp, scale, 3, np.int8, True, b_zp))


@given(st.integers(0, 2**32 - 1), st.sampled_from([np.int8, np.uint8]))
def test_quantize_matches_oracle(seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((7, 33)).astype(np.float32) * 3
    x[0, :5] = [np.inf, -np.inf, 0.25, 0.75, -0.25]  # saturation and exact ties at scale 0.5
    zp = int(rng.integers(-128, 128)) if dtype == np.int8 else int(rng.integers(0, 256))
    for scale in (0.5, float(rng.uniform(0.001, 0.1))):
        np.testing.assert_array_equal(quantize(x, scale, zp, dtype), quantize_reference(x, scale, zp, dtype))
        np.testing.assert_array_equal(quantize(x.T, scale, zp, dtype), quantize_reference(x.T, scale, zp, dtype))


def test_parallel_paths_match_oracles():
    """Inputs above the serial thresholds take the prange kernels; same results."""
    rng = np.random.default_rng(5)
    acc = rng.integers(-(2**20), 2**20, (300, 400)).astype(np.int32)
    scale = rng.uniform(1e-5, 1e-3, 400)
    np.testing.assert_array_equal(requantize(acc, scale, 7, np.int8, relu=True),
                                  requantize_reference(acc, scale, 7, np.int8, relu=True))
    x = rng.standard_normal((64, 784)).astype(np.float32)
    np.testing.assert_array_equal(quantize(x, 0.02, -5, np.int8), quantize_reference(x, 0.02, -5, np.int8))
    xi = rng.integers(0, 256, (4, 3, 20, 20), dtype=np.uint8)
    np.testing.assert_array_equal(im2col(xi, 3, 1, 1, 17), im2col_reference(xi, 3, 1, 1, 17))


def test_quantize_rejects_bad_input():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="NaN"):
        quantize(np.array([0.0, np.nan]), 0.1, 0)
    with pytest.raises(ValueError, match="scale"):
        quantize(x, 0.0, 0)
    with pytest.raises(TypeError, match="float32"):
        quantize(x.astype(np.int32), 0.1, 0)
    with pytest.raises(ValueError, match="zero_point"):
        quantize(x, 0.1, -1, np.uint8)


# --- sparse ------------------------------------------------------------------------------------


@given(csr_operands())
def test_to_csr_matches_reference(ops):
    dense, _ = ops
    for got, want in zip(to_csr(dense), to_csr_reference(dense)):
        np.testing.assert_array_equal(got, want)


@given(csr_operands())
def test_csr_matmul_matches_oracle(ops):
    a, d = ops
    indptr, indices, values = to_csr(a)
    got = csr_matmul(indptr, indices, values, d)
    np.testing.assert_array_equal(got, csr_matmul_reference(indptr, indices, values, d))
    np.testing.assert_allclose(got, a.astype(np.float64) @ d.astype(np.float64), rtol=1e-4, atol=1e-4)


@given(csr_operands(max_n=1, dtype=np.float64), st.booleans(), st.booleans())
def test_csr_linear_batch1_matches_oracle(ops, with_bias, relu):
    w, xt = ops  # w (out, in), x = xt.T (batch 1, in)
    x = np.ascontiguousarray(xt.T)
    bias = np.linspace(-1, 1, w.shape[0]) if with_bias else None
    ip, ix, v = to_csr_reference(w)  # int64 indices this time
    got = csr_linear(x, ip, ix, v, bias, relu)
    np.testing.assert_array_equal(got, csr_matmul_reference(ip, ix, v, xt, bias, relu).T)
    np.testing.assert_allclose(got, np.maximum(x @ w.T + (0 if bias is None else bias), 0) if relu
                               else x @ w.T + (0 if bias is None else bias), rtol=1e-9, atol=1e-9)


@given(csr_operands(), st.booleans())
def test_csr_linear_batched_with_bias_relu_matches_oracle(ops, relu):
    w, xt = ops
    x = xt.T  # a strided (batch, in) view: csr_linear copies what it needs
    bias = np.linspace(-1, 1, w.shape[0]).astype(np.float32)
    ip, ix, v = to_csr(w)
    got = csr_linear(x, ip, ix, v, bias, relu)
    np.testing.assert_array_equal(got, csr_matmul_reference(ip, ix, v, np.ascontiguousarray(xt), bias, relu).T)


def test_csr_large_batch_uses_parallel_path_and_agrees():
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((300, 784)) * (rng.random((300, 784)) < 0.1)).astype(np.float32)
    x = rng.standard_normal((256, 784)).astype(np.float32)
    ip, ix, v = to_csr(w)
    got = csr_linear(x, ip, ix, v)
    np.testing.assert_array_equal(got, csr_matmul_reference(ip, ix, v, x.T.copy()).T)


def test_csr_batch1_parallel_paths_match_oracle():
    """A layer with more nonzeros than PARALLEL_MIN_NNZ_BATCH1 spreads its rows over threads."""
    rng = np.random.default_rng(4)
    w = (rng.standard_normal((200, 4000)) * (rng.random((200, 4000)) < 0.1)).astype(np.float32)
    x = rng.standard_normal((4000, 1)).astype(np.float32)
    bias = rng.standard_normal(200).astype(np.float32)
    ip, ix, v = to_csr(w)
    assert v.shape[0] >= sparse.PARALLEL_MIN_NNZ_BATCH1
    np.testing.assert_array_equal(csr_matmul(ip, ix, v, x, bias, True),
                                  csr_matmul_reference(ip, ix, v, x, bias, True))
    w64, x64, ix64 = w.astype(np.float64), x.astype(np.float64), ix.astype(np.int64)
    v64 = v.astype(np.float64)
    np.testing.assert_array_equal(csr_matmul(ip, ix64, v64, x64), csr_matmul_reference(ip, ix64, v64, x64))
    np.testing.assert_allclose(csr_matmul(ip, ix64, v64, x64), w64 @ x64, rtol=1e-9, atol=1e-9)


def test_csr_rejects_malformed_input():
    d = np.ones((3, 2), np.float32)
    ip = np.array([0, 1, 2], np.int64)
    ix = np.array([0, 3], np.int32)
    v = np.ones(2, np.float32)
    with pytest.raises(ValueError, match="indices must lie"):
        csr_matmul(ip, ix, v, d)
    with pytest.raises(ValueError, match="non-decreasing"):
        csr_matmul(np.array([0, 2, 1, 2]), np.array([0, 1], np.int32), v, d)
    with pytest.raises(ValueError, match="indptr must start at 0"):
        csr_matmul(np.array([0, 1, 1]), ix, v, d)
    with pytest.raises(TypeError, match="share a dtype"):
        csr_matmul(ip, np.array([0, 1], np.int32), v.astype(np.float64), d)
    with pytest.raises(TypeError, match="indices"):
        csr_matmul(ip, ix.astype(np.float32), v, d)


# --- im2col ------------------------------------------------------------------------------------


@given(
    st.integers(1, 3), st.integers(1, 4), st.integers(1, 9), st.integers(1, 9),
    st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
    st.integers(0, 2), st.integers(0, 2), st.sampled_from([np.float32, np.uint8]),
    st.integers(0, 2**32 - 1), st.data(),
)
def test_im2col_matches_oracle(n, c, h, w, kh, kw, sh, sw, ph, pw, dtype, seed, data):
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return  # covered by test_im2col_rejects_bad_input
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, c, h, w)).astype(dtype)
    x = data.draw(maybe_strided(x))
    pad_value = 0 if dtype == np.float32 else int(rng.integers(0, 256))
    got = im2col(x, (kh, kw), (sh, sw), (ph, pw), pad_value)
    want = im2col_reference(x, (kh, kw), (sh, sw), (ph, pw), pad_value)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, want)


def test_im2col_turns_convolution_into_a_matmul():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    cols = im2col(x, 3, stride=1, padding=1)
    y = (cols @ w.reshape(4, -1).T).reshape(2, 6, 5, 4).transpose(0, 3, 1, 2)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    direct = np.zeros((2, 4, 6, 5))
    for i in range(6):
        for j in range(5):
            direct[:, :, i, j] = np.einsum("nckl,ockl->no", xp[:, :, i:i + 3, j:j + 3].astype(np.float64), w)
    np.testing.assert_allclose(y, direct, rtol=1e-5, atol=1e-5)


def test_im2col_rejects_bad_input():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(ValueError, match="larger than the padded input"):
        im2col(x, 5)
    with pytest.raises(ValueError, match="4-D"):
        im2col(x[0], 3)
    with pytest.raises(TypeError, match="dtype"):
        im2col(x.astype(np.int32), 3)
    with pytest.raises(ValueError, match="stride"):
        im2col(x, 3, stride=0)
    with pytest.raises(TypeError, match="kernel_size"):
        im2col(x, 2.5)
    with pytest.raises(ValueError, match="pad_value"):
        im2col(x.astype(np.uint8), 3, padding=1, pad_value=300)


# --- float convolution and pooling: the engine's fast back end ----------------------------------
# Oracles: the engine's readable NumPy im2col / col2im / MaxPool2d (minicompress.engine.conv).

from minicompress.engine import Context, Tensor, backend, gradcheck  # noqa: E402
from minicompress.engine import conv as np_conv  # noqa: E402
from minicompress.engine import functional as F  # noqa: E402
from minicompress.kernels import fold, max_pool2d_backward, max_pool2d_forward, unfold  # noqa: E402


@st.composite
def conv_geometry(draw, max_side=9):
    """(N, C, H, W, KH, KW, SH, SW, PH, PW) with the kernel fitting the padded input."""
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    ph, pw = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), max_side))
    w = draw(st.integers(max(1, kw - 2 * pw), max_side))
    return n, c, h, w, kh, kw, draw(st.integers(1, 4)), draw(st.integers(1, 4)), ph, pw


@given(conv_geometry(), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1), st.data())
def test_unfold_matches_oracles(geo, dtype, seed, data):
    n, c, h, w, kh, kw, sh, sw, ph, pw = geo
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)
    x = data.draw(maybe_strided(x))
    got = unfold(x, (kh, kw), (sh, sw), (ph, pw))
    rows = im2col_reference(x, (kh, kw), (sh, sw), (ph, pw))  # (N*OH*OW, C*KH*KW)
    np.testing.assert_array_equal(got, rows.reshape(n, -1, rows.shape[1]).transpose(0, 2, 1))
    if kh == kw and sh == sw and ph == pw:  # the engine's NumPy im2col takes square geometry
        np.testing.assert_array_equal(got, np_conv.im2col(x, kh, kw, sh, ph))


@given(conv_geometry(), st.sampled_from([np.float32, np.float64]), st.integers(0, 2**32 - 1))
def test_fold_matches_col2im_bit_for_bit_and_is_unfolds_adjoint(geo, dtype, seed):
    n, c, h, w, kh, kw, sh, sw, ph, pw = geo
    rng = np.random.default_rng(seed)
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    cols = rng.standard_normal((n, c * kh * kw, oh * ow)).astype(dtype)
    got = fold(cols, (h, w), (kh, kw), (sh, sw), (ph, pw))
    assert got.shape == (n, c, h, w) and got.dtype == dtype
    if kh == kw and sh == sw and ph == pw:
        np.testing.assert_array_equal(got, np_conv.col2im(cols, (n, c, h, w), kh, kw, sh, ph, (oh, ow)))
    x = rng.standard_normal((n, c, h, w))
    lhs = np.vdot(unfold(x, (kh, kw), (sh, sw), (ph, pw)), cols.astype(np.float64))
    rhs = np.vdot(x, fold(cols.astype(np.float64), (h, w), (kh, kw), (sh, sw), (ph, pw)))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10, atol=1e-10)


@st.composite
def pool_case(draw):
    k, s = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(k, 9)), draw(st.integers(k, 9)))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # few distinct values so windows hold ties; sometimes a NaN or an infinity
    x = rng.integers(-3, 4, shape).astype(draw(st.sampled_from([np.float32, np.float64])))
    for special in draw(st.lists(st.sampled_from([np.nan, np.inf, -np.inf, -0.0]), max_size=3)):
        x[tuple(rng.integers(0, d) for d in shape)] = special
    return x, k, s


@given(pool_case())
def test_max_pool_forward_matches_numpy_backend_bit_for_bit(case):
    x, k, s = case
    out, arg = max_pool2d_forward(x, k, s)
    with backend.using("numpy"):
        ctx = Context()
        want = np_conv.MaxPool2d.forward(ctx, x, k, s)
    np.testing.assert_array_equal(out, want)  # NaN == NaN here
    np.testing.assert_array_equal(arg, ctx.saved_tensors[0])


@given(pool_case(), st.integers(0, 2**32 - 1))
def test_max_pool_backward_matches_numpy_backend(case, seed):
    x, k, s = case
    _, arg = max_pool2d_forward(x, k, s)
    grad = np.random.default_rng(seed).standard_normal(arg.shape).astype(x.dtype)
    got = max_pool2d_backward(grad, arg, x.shape, k, s)
    ctx = Context()
    ctx.saved_tensors, ctx.meta, ctx.fast = (arg,), (x.shape, x.dtype, k, s), False
    want = np_conv.MaxPool2d.backward(ctx, grad)[0]
    assert got.dtype == want.dtype
    # overlapping windows (s < k) may add a pixel's gradients in another order
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    if s >= k:
        np.testing.assert_array_equal(got, want)


@pytest.mark.engine
@pytest.mark.parametrize("name", backend.BACKENDS)
@given(conv_geometry(max_side=7), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_conv2d_gradcheck_under_each_backend(name, geo, f, seed):
    n, c, h, w, k, _, s, _, p, _ = geo
    if h + 2 * p < k or w + 2 * p < k:
        return
    rng = np.random.default_rng(seed)
    x, wt, b = (Tensor(rng.standard_normal(shape)) for shape in ((n, c, h, w), (f, c, k, k), (f,)))
    with backend.using(name):
        gradcheck(lambda x, wt, b: F.conv2d(x, wt, b, s, p), [x, wt, b])
        gradcheck(lambda x, wt: F.conv2d(x, wt, None, s, p), [x, wt])


@pytest.mark.engine
@pytest.mark.parametrize("name", backend.BACKENDS)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 2**32 - 1), st.data())
def test_max_pool2d_gradcheck_under_each_backend(name, k, s, seed, data):
    shape = (data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3)), data.draw(st.integers(k, 8)),
             data.draw(st.integers(k, 8)))
    x = Tensor(np.random.default_rng(seed).standard_normal(shape))  # distinct values: no ties
    with backend.using(name):
        gradcheck(lambda x: F.max_pool2d(x, k, s), [x])


def test_backends_agree_on_a_lenet_step():
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 1, 28, 28)), rng.standard_normal((6, 1, 5, 5)), rng.standard_normal(6)
    results = {}
    for name in backend.BACKENDS:
        with backend.using(name):
            tx, tw = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
            y = F.max_pool2d(F.conv2d(tx, tw, Tensor(b), 1, 2).relu(), 2)
            y.sum().backward()
            results[name] = (y.data, tx.grad, tw.grad)
    for a, bb in zip(results["numpy"], results["numba"]):
        np.testing.assert_array_equal(a, bb)


def test_backend_selection():
    assert backend.current() == "numba"
    with backend.using("numpy"):
        assert backend.current() == "numpy"
        with pytest.raises(RuntimeError), backend.using("numba"):
            raise RuntimeError
        assert backend.current() == "numpy"
    assert backend.current() == "numba"
    with pytest.raises(ValueError, match="backend must be one of"):
        backend.use("cuda")


def test_float_conv_pool_kernels_reject_bad_input():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(TypeError, match="dtype float32, float64"):
        unfold(x.astype(np.int32), 3)
    with pytest.raises(ValueError, match="4-D"):
        unfold(x[0], 3)
    with pytest.raises(ValueError, match="larger than the padded input"):
        unfold(x, 5)
    with pytest.raises(ValueError, match="stride"):
        unfold(x, 3, stride=0)
    with pytest.raises(ValueError, match="cols must have shape"):
        fold(np.zeros((1, 9, 5), np.float32), (4, 4), 3)
    with pytest.raises(ValueError, match="do not fit"):
        max_pool2d_forward(x, 5, 1)
    out, arg = max_pool2d_forward(x, 2, 2)
    with pytest.raises(ValueError, match="arg must be"):
        max_pool2d_backward(out, arg.astype(np.int32), x.shape, 2, 2)
    with pytest.raises(ValueError, match="does not come from"):
        max_pool2d_backward(out, arg, (1, 1, 9, 9), 2, 2)


# --- whole-network integer inference --------------------------------------------------------------

from minicompress.kernels import (  # noqa: E402
    integer_network_forward,
    integer_network_reference,
    pack_integer_network,
)


@st.composite
def integer_networks(draw):
    """A random int8 MLP: widths not multiples of 4 or 32, per-tensor or per-channel scales,
    zero points, ReLU or not, narrower activations, and a batch on either side of 64 rows."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dims = [draw(st.integers(1, 70)) for _ in range(draw(st.integers(2, 4)))]
    weights, biases, scales = [], [], []
    zps = [int(rng.integers(0, 256)) for _ in dims]
    qmax = []
    for i, (k, n) in enumerate(zip(dims[:-1], dims[1:])):
        w = rng.integers(-127, 128, (k, n)).astype(np.int8)
        weights.append(pack_weights(w))
        biases.append(rng.integers(-5000, 5000, n).astype(np.int32))
        s = rng.uniform(0.2, 2.0, n) / (k * 60.0)
        scales.append(s if draw(st.booleans()) else float(s[0]))
        qmax.append(int(rng.integers(zps[i + 1], 256)) if draw(st.booleans()) else 255)
    relus = [draw(st.booleans()) for _ in weights]
    net = pack_integer_network(weights, biases, scales, zps, float(rng.uniform(0.001, 0.1)), relus, qmax)
    batch = draw(st.sampled_from([1, 2, 7, 64, 65, 130]))
    x = (rng.standard_normal((batch, dims[0])) * 3).astype(draw(st.sampled_from([np.float32, np.float64])))
    x[rng.random(x.shape) < 0.05] = np.inf
    return net, x


@given(integer_networks())
def test_integer_network_matches_its_oracle_bit_for_bit(case):
    net, x = case
    got = integer_network_forward(net, x)
    assert got.dtype == np.float32 and got.shape == (len(x), net.n_out)
    np.testing.assert_array_equal(got, integer_network_reference(net, x))


def test_integer_network_equals_the_qlinear_chain():
    rng = np.random.default_rng(1)
    dims = [784, 300, 100, 10]
    ws = [rng.integers(-127, 128, (k, n)).astype(np.int8) for k, n in zip(dims[:-1], dims[1:])]
    bs = [rng.integers(-3000, 3000, n).astype(np.int32) for n in dims[1:]]
    ss = [rng.uniform(0.5, 1.5, n) / (k * 40.0) for k, n in zip(dims[:-1], dims[1:])]
    zps = [3, 0, 0, 0]
    pws = [pack_weights(w) for w in ws]
    net = pack_integer_network(pws, bs, ss, zps, 0.01)
    x = rng.random((200, 784), dtype=np.float32)
    h = quantize(x, 0.01, 3, np.uint8)
    for i, (pw, b, s) in enumerate(zip(pws, bs, ss)):
        last = i == 2
        h = qlinear(h, pw, b, zps[i], s, 0, np.float32 if last else np.uint8, relu=not last)
    for batch in (1, 64, 200):
        np.testing.assert_array_equal(integer_network_forward(net, x[:batch]), h[:batch])


def test_integer_network_rejects_bad_input():
    pw = pack_weights(np.ones((4, 3), np.int8))
    net = pack_integer_network([pw], [np.zeros(3, np.int32)], [0.1], [0, 0], 0.5)
    with pytest.raises(ValueError, match="NaN"):
        integer_network_forward(net, np.array([[1.0, np.nan, 0, 0]], np.float32))
    with pytest.raises(ValueError, match="shape"):
        integer_network_forward(net, np.zeros((2, 5), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        integer_network_forward(net, np.zeros((2, 4), np.int32))
    with pytest.raises(ValueError, match="one entry per layer"):
        pack_integer_network([pw], [np.zeros(3, np.int32)], [0.1], [0], 0.5)
    with pytest.raises(ValueError, match="layer 1 takes 4 inputs but layer 0 gives 3"):
        pack_integer_network([pw, pack_weights(np.ones((4, 3), np.int8))], [np.zeros(3, np.int32)] * 2,
                             [0.1, 0.1], [0, 0, 0], 0.5)
    with pytest.raises(TypeError, match="zero point 0"):
        pack_integer_network([pack_weights(np.ones((4, 3), np.int8), 2)], [np.zeros(3, np.int32)], [0.1],
                             [0, 0], 0.5)
    with pytest.raises(ValueError, match="scales"):
        pack_integer_network([pw], [np.zeros(3, np.int32)], [0.0], [0, 0], 0.5)


@pytest.mark.quantization
def test_integer_model_runs_an_mlp_as_one_network_with_the_same_logits():
    from minicompress.compress.quantization import static_ptq, to_integer
    from minicompress.models import build

    rng = np.random.default_rng(0)
    model = build("lenet-300-100", seed=0)
    x = rng.random((130, 784), dtype=np.float32)
    integer = to_integer(static_ptq(model, [x[:64]], 8))
    assert integer.network is not None
    fused = integer.forward_int(x)
    network, integer.network = integer.network, None
    steps = integer.forward_int(x)
    integer.network = network
    np.testing.assert_array_equal(fused, steps)
    np.testing.assert_array_equal(integer.forward_int(x[:1]), steps[:1])


def test_numba_cache_of_a_kernel_sees_edits_to_every_kernel_file(tmp_path, monkeypatch):
    """The cached GEMM is compiled from gemm_tiles.py, gemm_vnni.py AND _vnni.py: its cache stamp must change
    when _vnni.py does (Numba's default stamp covers only the defining file)."""
    from pathlib import Path

    from numba.core.caching import CompileResultCacheImpl as CacheImpl

    from minicompress.kernels import _cache, gemm_tiles

    impl = CacheImpl(gemm_tiles._qgemm_ser.py_func)
    locator = impl._locator
    assert isinstance(locator, (_cache.InTreeLocator, _cache.UserProvidedLocator))
    stamp = dict(locator.get_source_stamp())
    assert {"_vnni.py", "_gather.py", "gemm_vnni.py", "gemm_tiles.py"} <= set(stamp)
    # an edit to _vnni.py changes the stamp: point the package folder at an edited copy
    for name in stamp:
        (tmp_path / name).write_bytes((Path(_cache._DIR) / name).read_bytes())
    monkeypatch.setattr(_cache, "_DIR", str(tmp_path))
    assert dict(_cache.package_stamp()) == stamp
    (tmp_path / "_vnni.py").write_text((tmp_path / "_vnni.py").read_text() + "\n# edited\n")
    assert dict(_cache.package_stamp())["_vnni.py"] != stamp["_vnni.py"]
