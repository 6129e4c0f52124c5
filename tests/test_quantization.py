"""Quantization (chapter 4): uniform quantizers, observers, fake quant + STE, PTQ, QAT, integer model,
and the documents' E2/E4/E6 through ``quantize_model``."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minicompress import equations
from minicompress.compress.bitpack import pack_bits, unpack_bits
from minicompress.compress.huffman import HuffmanCode
from minicompress.compress.quantization import (
    SUPPORTED_BITS,
    FakeQuantize,
    MinMaxObserver,
    MovingAverageObserver,
    PercentileObserver,
    QuantizedTensor,
    calibrate,
    choose_qparams,
    convert,
    dequantize,
    fake_quantize,
    fake_quantize_array,
    integer_bytes,
    prepare,
    prepare_qat,
    qrange,
    quantize,
    quantize_model,
    quantize_model_with_info,
    quantize_tensor,
    quantize_weights_with_tensors,
    quantized_bytes,
    static_ptq,
    to_integer,
)
from minicompress.engine import Tensor, gradcheck
from minicompress.io import copy_model
from minicompress.nn import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from minicompress.optim import Adam
from minicompress.training import evaluate, fit, predict

pytestmark = pytest.mark.quantization

weights = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=12),
                     elements=st.floats(-10, 10, width=32))


# --------------------------------------------------------------------------- uniform quantizers
@given(weights, st.sampled_from([2, 3, 4, 8, 16]))
def test_symmetric_round_trip_within_half_step(w, bits):
    qt = quantize_tensor(w, bits, "symmetric")
    qmin, qmax = qrange(bits, "symmetric")
    assert qt.q.dtype == (np.int8 if bits <= 8 else np.int16)
    assert qt.q.min() >= qmin and qt.q.max() <= qmax
    s = float(qt.qparams.scale)
    # min-max range: nothing is clamped, so every error is at most half a step
    assert np.all(np.abs(qt.dequantize(np.float64) - w) <= s / 2 * (1 + 1e-6) + 1e-12)


@given(weights, st.sampled_from([1, 2, 4, 8]))
def test_affine_represents_zero_exactly_and_stays_in_range(w, bits):
    qp = choose_qparams(w, bits, "affine")
    q = quantize(w, qp)
    assert q.dtype == np.uint8 and q.min() >= 0 and q.max() <= 2**bits - 1
    assert dequantize(quantize(np.zeros(3), qp), qp).tolist() == [0.0, 0.0, 0.0]
    assert np.all(np.abs(dequantize(q, qp, np.float64) - w) <= float(qp.scale) / 2 * (1 + 1e-6) + 1e-12)


def test_per_channel_uses_one_scale_per_output_channel(rng):
    w = rng.standard_normal((4, 6)).astype(np.float32) * np.array([[0.01], [0.1], [1.0], [10.0]], np.float32)
    qp = choose_qparams(w, 8, "symmetric", axis=0)
    np.testing.assert_allclose(qp.scale, np.abs(w).max(axis=1) / 127)
    per_tensor = np.abs(fake_quantize_array(w, choose_qparams(w, 8)) - w)[0].max()
    per_channel = np.abs(fake_quantize_array(w, qp) - w)[0].max()
    assert per_channel < per_tensor  # the small-weight channel keeps its precision
    conv_w = rng.standard_normal((3, 2, 5, 5))
    assert choose_qparams(conv_w, 4, axis=0).scale.shape == (3,)
    assert choose_qparams(conv_w, 4, axis=-4).axis == 0


@given(st.integers(1, 32), st.integers(0, 200), st.data())
def test_bit_packing_round_trip_and_size(bits, n, data):
    values = np.array(data.draw(st.lists(st.integers(0, 2**bits - 1), min_size=n, max_size=n)), dtype=np.int64)
    packed = pack_bits(values, bits)
    assert packed.dtype == np.uint8 and packed.size == -(-n * bits // 8)
    np.testing.assert_array_equal(unpack_bits(packed, bits, n), values)


def test_bit_packing_is_least_significant_bit_first():
    assert list(pack_bits(np.array([1, 2, 3]), 2)) == [0b111001]
    assert list(pack_bits(np.array([5, 1]), 5)) == [0b00100101, 0b00]
    assert list(pack_bits(np.array([0x3, 0xA]), 4)) == [0xA3]  # int4: the first value in the low nibble


def test_every_packed_stream_uses_the_one_bit_order(rng):
    # sub-byte quantized integers and Huffman streams are packed by minicompress.compress.bitpack
    qt = quantize_tensor(rng.standard_normal((5, 7)), 4)
    np.testing.assert_array_equal(qt.packed(), pack_bits(qt.q.reshape(-1).astype(np.int64) - qt.qparams.qmin, 4))
    symbols = rng.integers(0, 5, 50)
    code = HuffmanCode.fit(symbols, 5)
    data, n_bits = code.encode(symbols)
    first = [int(b) for length, c in zip(code.lengths[symbols[:3]], code.codes[symbols[:3]])
             for b in format(int(c), f"0{int(length)}b")]  # each codeword, most significant bit first
    np.testing.assert_array_equal(unpack_bits(data, 1, len(first)), first)
    np.testing.assert_array_equal(code.decode(data, symbols.size, n_bits), symbols)


@pytest.mark.parametrize("call, match", [
    (lambda: pack_bits(np.array([4]), 2), "fit 2 bits"),
    (lambda: pack_bits(np.array([1]), 33), r"\[1, 32\]"),
    (lambda: pack_bits(np.array([[1]]), 2), "1-D"),
    (lambda: unpack_bits(b"\x00", 4, 3), "need 2 bytes"),
    (lambda: unpack_bits(b"\x00", 4, -1), "count"),
])
def test_bit_packing_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("bits", [2, 3, 4, 8, 16])
def test_quantized_tensor_stores_bits_per_weight(bits, rng):
    w = rng.standard_normal((10, 7)).astype(np.float32)
    qt = quantize_tensor(w, bits)
    assert qt.packed().size == -(-70 * bits // 8)
    assert qt.nbytes == qt.packed().size + 4
    back = QuantizedTensor.from_packed(qt.packed(), qt.qparams, w.shape)
    np.testing.assert_array_equal(back.q, qt.q)


def test_bad_bits_raise():
    w = np.ones((2, 2))
    for bits in (0, 9, 12, 17, 32):
        with pytest.raises(ValueError, match="bits must be one of"):
            quantize_tensor(w, bits)
    with pytest.raises(ValueError, match="symmetric quantization needs bits >= 2"):
        quantize_tensor(w, 1, "symmetric")
    for bits in (True, 8.0, "8"):
        with pytest.raises(TypeError, match="bits must be an integer"):
            quantize_tensor(w, bits)
    with pytest.raises(ValueError, match="scheme"):
        quantize_tensor(w, 8, "asymmetric")
    assert SUPPORTED_BITS == (1, 2, 3, 4, 5, 6, 7, 8, 16)


def test_bad_axis_and_empty_input_raise():
    w = np.ones((2, 3))
    for axis in (2, -3, 5):
        with pytest.raises(ValueError, match="per-channel axis .* out of range"):
            quantize_tensor(w, 8, axis=axis)
    with pytest.raises(TypeError, match="axis must be None"):
        quantize_tensor(w, 8, axis=0.5)
    with pytest.raises(ValueError, match="empty"):
        quantize_tensor(np.zeros((0, 3)), 8)
    with pytest.raises(ValueError, match="NaN"):
        quantize_tensor(np.array([1.0, np.nan]), 8)


# --------------------------------------------------------------------------- observers
def test_moving_average_observer_follows_pytorch_averaging_constant():
    # torch.ao.quantization.MovingAverageMinMaxObserver: averaging_constant=0.01 weights the new batch
    ma = MovingAverageObserver()
    assert ma.averaging_constant == 0.01
    ma.observe(np.array([0.0, 1.0]))
    ma.observe(np.array([0.0, 101.0]))
    assert ma.max == pytest.approx(1.0 + 0.01 * 100.0)
    last_only = MovingAverageObserver(averaging_constant=1.0)
    for b in (np.array([0.0, 1.0]), np.array([-2.0, 3.0])):
        last_only.observe(b)
    assert (last_only.min, last_only.max) == (-2.0, 3.0)
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="averaging_constant"):
            MovingAverageObserver(averaging_constant=bad)
    with pytest.raises(TypeError, match="averaging_constant"):
        MovingAverageObserver(averaging_constant="0.1")
    with pytest.raises(TypeError):
        MovingAverageObserver(momentum=0.9)  # the old, reversed name is gone


def test_minmax_and_moving_average_observers():
    batches = [np.array([-1.0, 2.0]), np.array([-3.0, 1.0]), np.array([0.0, 5.0])]
    mm, ma = MinMaxObserver(), MovingAverageObserver(averaging_constant=0.25)
    for b in batches:
        mm.observe(b)
        ma.observe(b)
    assert (mm.min, mm.max) == (-3.0, 5.0)
    # PyTorch's rule: r <- r + c (r_batch - r), c weighting the NEW batch; first batch taken as is
    assert ma.min == pytest.approx(0.75 * (0.75 * -1 + 0.25 * -3) + 0.25 * 0.0)
    assert ma.max == pytest.approx(0.75 * (0.75 * 2 + 0.25 * 1) + 0.25 * 5.0)
    qp = mm.qparams(8, "affine")
    assert float(qp.scale) == pytest.approx(8 / 255)


def test_percentile_observer_ignores_an_outlier(rng):
    x = np.concatenate([rng.uniform(0, 1, 10_000), [1000.0]])
    p, m = PercentileObserver(percentile=99.9), MinMaxObserver()
    p.observe(x)
    m.observe(x)
    assert m.max == 1000.0 and p.max < 1.01


def test_per_channel_observer_and_calibration_errors(rng):
    obs = MinMaxObserver(axis=1)
    obs.observe(rng.standard_normal((5, 3)))
    assert obs.qparams(8, "symmetric").scale.shape == (3,)
    with pytest.raises(ValueError, match="observed no batches"):
        MinMaxObserver().qparams(8)
    with pytest.raises(ValueError, match="out of range"):
        MinMaxObserver(axis=3).observe(np.ones((2, 2)))
    qmodel = prepare(Sequential(Flatten(), Linear(4, 3, seed=0)), 8)
    with pytest.raises(ValueError, match="no batches"):
        calibrate(qmodel, [])
    with pytest.raises(ValueError, match="no batches"):
        static_ptq(Sequential(Linear(4, 3, seed=0)), iter(()))


# --------------------------------------------------------------------------- fake quant and the STE
def test_fake_quantize_forward_matches_the_quantizer(rng):
    x = rng.standard_normal((6, 5)).astype(np.float32) * 3
    qp = choose_qparams(x, 4, "symmetric", axis=0)
    out = fake_quantize(Tensor(x), qp)
    np.testing.assert_allclose(out.data, fake_quantize_array(x, qp), rtol=1e-6)


def test_straight_through_estimator_passes_inside_and_blocks_outside():
    # scale 0.5, signed 4-bit: integers -8..7, so representable range [-4, 3.5]
    x = Tensor(np.array([-10.0, -4.2, -3.9, -0.1, 0.0, 0.3, 3.4, 3.76, 9.0]), requires_grad=True)
    y = fake_quantize(x, scale=0.5, zero_point=0, qmin=-8, qmax=7)
    y.backward(np.arange(1.0, 10.0))
    # rint(x/s) = [-20, -8, -8, -0, 0, 1, 7, 8, 18]: inside where -8 <= . <= 7
    np.testing.assert_array_equal(x.grad, [0, 2, 3, 4, 5, 6, 7, 0, 0])
    np.testing.assert_array_equal(y.data, [-4, -4, -4, 0, 0, 0.5, 3.5, 3.5, 3.5])


@given(st.data(), hnp.array_shapes(min_dims=1, max_dims=4, max_side=5), st.sampled_from([2, 3, 4, 8]),
       st.sampled_from(["symmetric", "affine"]), st.booleans())
def test_straight_through_estimator_on_any_shape(data, shape, bits, scheme, per_channel):
    # the STE directly: dL/dx = dL/dy (gradient 1) where rint(x/s) + z lies in [qmin, qmax], 0 where clamped
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-50, 50)))
    g = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-3, 3)))
    qmin, qmax = qrange(bits, scheme)
    channels = shape[0] if per_channel else 1
    scale = np.array(data.draw(st.lists(st.floats(0.05, 4), min_size=channels, max_size=channels)))
    zero = np.array(data.draw(st.lists(st.integers(qmin, qmax), min_size=channels, max_size=channels)))
    if scheme == "symmetric":
        zero[:] = 0
    b = (-1,) + (1,) * (len(shape) - 1)
    s, z = (scale.reshape(b), zero.reshape(b)) if per_channel else (scale[0], zero[0])
    xt = Tensor(x, requires_grad=True)
    y = fake_quantize(xt, scale=s, zero_point=z, qmin=qmin, qmax=qmax)
    y.backward(g)
    unclamped = np.rint(x / s) + z
    inside = (unclamped >= qmin) & (unclamped <= qmax)
    np.testing.assert_array_equal(xt.grad, np.where(inside, g, 0.0))
    np.testing.assert_allclose(y.data, (np.clip(unclamped, qmin, qmax) - z) * s, rtol=1e-12, atol=1e-12)


def test_fake_quantize_gradcheck_away_from_rounding_steps():
    rng = np.random.default_rng(1)
    # x/s lands at least 0.1 away from every half-integer rounding step and well inside the
    # range, so within ±eps the integer is fixed and dy/ds = q - z exactly
    k = rng.integers(-6, 6, size=(3, 4)).astype(np.float64)
    x = (k + rng.uniform(-0.4, 0.4, size=k.shape)) * 0.25
    s = Tensor(np.array(0.25))
    gradcheck(lambda scale: fake_quantize(Tensor(x), scale=scale, zero_point=0, qmin=-8, qmax=7), [s])
    # per-channel scale, summed over its channel by the engine
    sc = Tensor(np.array([[0.25], [0.25], [0.25]]))
    gradcheck(lambda scale: fake_quantize(Tensor(x), scale=scale, zero_point=0, qmin=-8, qmax=7), [sc])
    # in the clamped region the forward is flat in x, and so is the STE: both gradients are 0
    far = Tensor(np.array([[5.0, -7.0], [9.0, -6.0]]))
    gradcheck(lambda t: fake_quantize(t, scale=0.25, zero_point=0, qmin=-8, qmax=7), [far])
    assert issubclass(FakeQuantize, object)


# --------------------------------------------------------------------------- the documents vs practice
def test_e2_as_written_wipes_out_a_trained_network(trained_lenet300, mnist10k):
    _, _, x_test, y_test = mnist10k
    qmodel, info = quantize_model_with_info(trained_lenet300, "e2", 8)
    assert info["zero_fraction"] == 1.0  # every |w| < 64 rounds to 0 with step 2^7
    for (_, before), (_, after) in zip(trained_lenet300.named_parameters(), qmodel.named_parameters()):
        if before.ndim == 2:  # computed by the equations package, not re-implemented
            np.testing.assert_array_equal(after.data, equations.quantize_pow2_step(before.data, 8))
        else:
            np.testing.assert_array_equal(after.data, before.data)  # biases untouched
    assert evaluate(qmodel, x_test, y_test)["accuracy"] < 0.2  # near chance
    assert evaluate(trained_lenet300, x_test, y_test)["accuracy"] > 0.9  # the original is unchanged


def test_int8_ptq_stays_within_0_3_points_of_float(trained_lenet300, mnist10k):
    _, _, x_test, y_test = mnist10k
    float_acc = evaluate(trained_lenet300, x_test, y_test)["accuracy"]
    qmodel, info = quantize_model_with_info(trained_lenet300, "int8-ptq", 8)
    assert abs(evaluate(qmodel, x_test, y_test)["accuracy"] - float_acc) <= 0.003
    assert info["weight_bytes"] == 266_200 + 3 * 4  # one byte per weight + a float32 scale per layer


def test_e4_and_e6_go_through_the_equations(trained_lenet300, rng):
    x = rng.uniform(0, 1, (4, 1, 28, 28)).astype(np.float32)
    e4, info = quantize_model_with_info(trained_lenet300, "e4", 3)
    assert info["activation_quantizers"] == 2
    hidden = Tensor(x)
    for layer in list(e4)[:3]:  # Flatten, Linear, ReLU, then E4 at index 3
        hidden = layer(hidden)
    hidden = hidden.data
    np.testing.assert_array_equal(e4[3](Tensor(hidden)).data, equations.quantize_activations_pow2_step(hidden, 3))
    e6, info = quantize_model_with_info(trained_lenet300, "e6", ratio=4.0)
    w = trained_lenet300[1].weight.data
    expected = equations.dequantize_by_ratio(equations.quantize_by_ratio(w, 4.0), 4.0)
    np.testing.assert_array_equal(e6[1].weight.data, expected.astype(np.float32))
    with pytest.raises(ValueError, match="unknown quantization method"):
        quantize_model(trained_lenet300, "e5")
    with pytest.raises(ValueError, match="int8-ptq"):
        quantize_model(trained_lenet300, "int8-ptq", 4)


def test_quantize_model_returns_the_model_and_with_info_the_pair(trained_lenet300):
    # the return rule (minicompress.compress): a technique returns a model; *_with_info also its info
    plain = quantize_model(trained_lenet300, "e6", ratio=4.0)
    pair = quantize_model_with_info(trained_lenet300, "e6", ratio=4.0)
    assert isinstance(plain, Sequential) and isinstance(pair, tuple) and isinstance(pair[1], dict)
    for a, b in zip(plain.parameters(), pair[0].parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_integer_and_quantized_bytes():
    assert integer_bytes(np.array([-128, 127])) == 2
    assert integer_bytes(np.array([-129, 0, 5])) == 6
    assert integer_bytes(np.array([2**31])) == 8
    model = Sequential(Flatten(), Linear(6, 5, seed=0), ReLU(), Linear(5, 3, seed=1))
    q = prepare_qat(model, 4, calibration_batches=[np.random.default_rng(0).random((4, 6))])
    # 4-bit weights packed (30 and 15 weights -> 15 and 8 bytes) + a float32 scale per row, float32 biases,
    # and 8 bytes (scale, zero point) per activation quantizer (input, after the hidden ReLU)
    assert quantized_bytes(q) == (15 + 4 * 5 + 4 * 5) + (8 + 4 * 3 + 4 * 3) + 2 * 8


def test_weight_only_ptq_keeps_pruning_masks(trained_lenet300):
    model = copy_model(trained_lenet300)
    mask = np.zeros_like(model[1].weight.data)
    mask[:, ::2] = 1
    model[1].register_buffer("weight_mask", mask)
    qmodel, stored = quantize_weights_with_tensors(model, 4, per_channel=True)
    assert np.all(stored["1.weight"].q[mask == 0] == 0)
    assert stored["1.weight"].qparams.scale.shape == (300,)


# --------------------------------------------------------------------------- static PTQ and the integer model
def _requantize_oracle(x_q, zx, w_q, bias_q, scale, zy, relu):
    """Plain int64 NumPy: the integer layer as the module docstring writes it."""
    acc = (x_q.astype(np.int64) - zx) @ w_q.astype(np.int64).T + bias_q
    y = np.rint(acc * scale) + zy
    lo = zy if relu else 0
    return np.clip(y, lo, 255).astype(np.uint8)


def test_integer_linear_matches_an_int64_oracle(trained_lenet300, mnist10k):
    x_train, _, x_test, _ = mnist10k
    q = static_ptq(trained_lenet300, [x_train[:256]], 8)
    integer = to_integer(q)
    x_q = quantize(x_test[:50].reshape(50, -1), integer.input_qparams)
    layer = integer.steps[1][1]  # steps: flatten, Linear+ReLU, Linear+ReLU, Linear
    got = layer(x_q)
    want = _requantize_oracle(x_q, layer.in_zero, layer.w_q, layer.bias_q, layer.scale, layer.out_zero, True)
    np.testing.assert_array_equal(got, want)
    assert layer.w_q.dtype == np.int8 and layer.bias_q.dtype == np.int32


def test_integer_mlp_agrees_with_fake_quantized_model(trained_lenet300, mnist10k):
    x_train, y_train, x_test, y_test = mnist10k
    q = static_ptq(trained_lenet300, [x_train[i * 256:(i + 1) * 256] for i in range(2)], 8)
    fake = predict(q, x_test).argmax(1)
    integer = to_integer(q).predict(x_test).argmax(1)
    assert np.mean(integer == fake) >= 0.995
    float_acc = evaluate(trained_lenet300, x_test, y_test)["accuracy"]
    assert np.mean(integer == y_test) >= float_acc - 0.005


def test_integer_conv_model_agrees_with_fake_quantized_model(mnist10k):
    x_train, y_train, x_test, _ = mnist10k
    model = Sequential(Conv2d(1, 4, 5, stride=2, padding=2, seed=0), ReLU(), MaxPool2d(2), Flatten(),
                       Linear(4 * 7 * 7, 10, seed=1))
    fit(model, Adam(model.parameters(), lr=3e-3), x_train[:2000], y_train[:2000], epochs=1, seed=0,
        progress=False)
    for per_channel in (False, True):
        q = static_ptq(model, [x_train[:256]], 8, per_channel=per_channel)
        fake = predict(q, x_test[:1000]).argmax(1)
        integer = to_integer(q).predict(x_test[:1000]).argmax(1)
        assert np.mean(integer == fake) >= 0.995


def test_to_integer_rejects_unprepared_models(trained_lenet300):
    with pytest.raises(ValueError, match="prepare"):
        to_integer(trained_lenet300)


# --------------------------------------------------------------------------- QAT
def test_qat_4_bits_recovers_within_one_point(trained_lenet300, mnist10k):
    x_train, y_train, x_test, y_test = mnist10k
    float_acc = evaluate(trained_lenet300, x_test, y_test)["accuracy"]
    qat = prepare_qat(trained_lenet300, 4, calibration_batches=[x_train[:256]])
    before = evaluate(qat, x_test, y_test)["accuracy"]
    fit(qat, Adam(qat.parameters(), lr=1e-4), x_train, y_train, epochs=1, seed=0, progress=False)
    after = evaluate(qat, x_test, y_test)["accuracy"]
    assert after >= float_acc - 0.01
    assert after >= before - 0.002  # training through the STE did not hurt
    # convert: a plain float model whose weights sit on the 4-bit grid (at most 16 values per row)
    plain = convert(qat)
    assert all(len(np.unique(row)) <= 16 for row in plain[1].weight.data)
    assert type(plain[1]) is Linear
    # the QAT model's weights really moved (the STE passed gradients to them)
    assert not np.array_equal(qat[2].weight.data, trained_lenet300[1].weight.data)


# --------------------------------------------------------------------------- the command line
def test_cli_quantize_e2_and_ptq(trained_lenet300, tmp_path, capsys):
    import json

    from minicompress.cli.main import main
    from minicompress.io import load_model, save_model

    src = tmp_path / "m.npz"
    save_model(trained_lenet300, src)
    assert main(["quantize", str(src), "--method", "e2", "--bits", "8", "--out", str(tmp_path / "e2.npz"),
                 "--json", str(tmp_path / "e2.json")]) == 0
    report = json.loads((tmp_path / "e2.json").read_text())
    assert report["zero_fraction"] == 1.0 and report["quantized_accuracy"] < 0.2
    assert np.all(load_model(tmp_path / "e2.npz")[1].weight.data == 0)
    assert main(["quantize", str(src), "--method", "int8-ptq", "--json", str(tmp_path / "p.json")]) == 0
    report = json.loads((tmp_path / "p.json").read_text())
    assert abs(report["quantized_accuracy"] - report["float_accuracy"]) <= 0.003
    capsys.readouterr()
    assert main(["quantize", str(src), "--method", "ptq", "--bits", "12"]) == 2
    assert "bits must be one of" in capsys.readouterr().err
    assert main(["quantize", str(src), "--method", "e4", "--out", str(tmp_path / "x.npz")]) == 2
