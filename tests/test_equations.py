"""The documents' equations E1-E8 as written: property tests and the reference's edge cases.

``test_equation_holds`` runs the equations' property tests (minicompress/course/
equation_properties.py, which the course's equations tasks also use on a learner's
function) against the reference. The other tests pin down the reference: rounding, bad
input, Modules and Tensors. A learner's own file: ``pytest -m equations --candidate PATH``
(tests/test_course.py).
"""

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicompress import nn
from minicompress.course.equation_properties import (
    PROPERTIES,
    PropertyFailure,
    round_half_away_exact,
    run_property,
)
from minicompress.engine import Tensor, gradcheck
from minicompress.equations import (
    EQUATIONS,
    LOG_EPS,
    ActivationQuantE4,
    copy_parameters,
    dequantize_by_ratio,
    distillation_bce_as_written,
    output_distance,
    parameter_distance,
    quantize_activations_pow2_step,
    quantize_by_ratio,
    quantize_fixed_point_reading,
    quantize_pow2_step,
    random_candidate_pruning,
    round_half_away,
    scale_by_retention,
    soft_cross_entropy,
    threshold_clip,
    with_activation_quant,
)
from tests.strategies import float_arrays

pytestmark = pytest.mark.equations


# --------------------------------------------------------------------------- the properties


@pytest.mark.parametrize("eid", list(PROPERTIES))
def test_equation_holds(eid):
    """The reference passes its equation's properties (exact .5 ties, zeros, negatives, empty and
    1-element arrays, float32 and float64), the same ones a learner's function is checked with."""
    run_property(eid, EQUATIONS[eid])


def test_registry_covers_every_property_and_is_exported():
    assert list(EQUATIONS) == list(PROPERTIES)
    import minicompress.equations as eq

    for fn in EQUATIONS.values():
        assert fn.__name__ in eq.__all__ and getattr(eq, fn.__name__) is fn
        assert re.search(r"doc 00[012] §\d", fn.__doc__)  # names its document and section (docs/documents.md)


def test_a_failure_names_inputs_expected_and_got():
    with pytest.raises(PropertyFailure) as info:
        run_property("E2", lambda w, b: np.round(w / 2 ** (b - 1)) * 2 ** (b - 1),
                     derandomize=True, quiet=True)
    msg = str(info.value)
    assert "inputs: w=array([0.5]), bits=1" in msg
    assert "expected: array([1.])" in msg and "got: array([0.])" in msg
    assert "half away from zero" in msg


# --------------------------------------------------------------------------- rounding


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_half_away_on_exact_halves(dtype):
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1023.5, -4194303.5], dtype=dtype)
    want = np.array([1, 2, 3, -1, -2, -3, 1024, -4194304], dtype=dtype)
    got = round_half_away(x)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    assert not np.array_equal(np.round(x), want)  # NumPy rounds half to even


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_half_away_on_neighbours_of_half(dtype):
    half = dtype(0.5)
    below, above = np.nextafter(half, dtype(0)), np.nextafter(half, dtype(1))
    x = np.array([below, above, -below, -above, np.nextafter(dtype(2.5), dtype(0))], dtype=dtype)
    np.testing.assert_array_equal(round_half_away(x), np.array([0, 1, -0.0, -1, 2], dtype=dtype))
    assert np.floor(below + dtype(0.5)) == 1  # why floor(x + 0.5) is wrong: the sum rounds up


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_half_away_leaves_huge_values_alone(dtype):
    p = np.finfo(dtype).nmant + 1
    big = [2.0 ** (p - 1) + 1, -(2.0 ** (p - 1) + 1), 2.0**p, float(np.finfo(dtype).max), -1e30]
    x = np.array(big, dtype=dtype)
    np.testing.assert_array_equal(round_half_away(x), x)
    assert not np.array_equal(np.floor(x + dtype(0.5)), x)  # the naive formula fails here


def test_round_half_away_shapes_signs_and_types():
    assert round_half_away(np.array([], dtype=np.float32)).shape == (0,)
    assert round_half_away(np.zeros((2, 0))).shape == (2, 0)
    assert round_half_away(np.array([2.5])).tolist() == [3.0]
    assert round_half_away(-2.5) == -3.0 and np.ndim(round_half_away(0.5)) == 0
    assert np.signbit(round_half_away(np.array([-0.0, -0.3]))).all()
    ints = np.array([3, -4], dtype=np.int16)
    assert round_half_away(ints).dtype == np.int16 and round_half_away(ints).tolist() == [3, -4]
    out = round_half_away(np.array([np.nan, np.inf, -np.inf]))
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == -np.inf
    with pytest.raises(TypeError, match="real-valued"):
        round_half_away(np.array([1 + 1j]))


@given(float_arrays())
def test_round_half_away_matches_exact_rational_rounding(x):
    want = [float(round_half_away_exact(Fraction(float(v)))) for v in x.flat]
    np.testing.assert_array_equal(round_half_away(x).ravel(), np.array(want, dtype=x.dtype))


# --------------------------------------------------------------------------- the as-written flaws


def test_e1_loses_the_sign_of_large_weights():
    got = threshold_clip(np.array([3.0, -3.0, 0.2, -0.5]), T=0.5, t=0.5)
    np.testing.assert_array_equal(got, [0.5, 0.5, 0.2, -0.5])  # |-0.5| > 0.5 is false: kept


def test_e1_compares_exact_values_and_keeps_dtype():
    w = np.array([0.1, 0.2], dtype=np.float32)  # float32(0.1) is a little above 0.1
    got = threshold_clip(w, 0.1, 7.0)
    assert got.dtype == np.float32 and got.tolist() == [7.0, 7.0]


def test_e2_with_8_bits_wipes_out_typical_weights_but_the_fixed_point_reading_does_not():
    w = np.random.default_rng(0).normal(0, 0.1, 1000).astype(np.float32)
    assert np.all(quantize_pow2_step(w, 8) == 0)
    fixed = quantize_fixed_point_reading(w, 8)
    assert fixed.dtype == np.float32
    assert np.max(np.abs(fixed - w)) <= 2.0**-8
    assert np.all(np.abs(fixed * 2**7 - np.round(fixed * 2**7)) == 0)  # multiples of 2^-7
    assert quantize_pow2_step(np.array([-64.0, 63.9, 64.0, 96.0]), 8).tolist() == [-128, 0, 128, 128]


@given(float_arrays(), st.integers(1, 64))
def test_fixed_point_reading_grid_and_error(w, bits):
    got = quantize_fixed_point_reading(w, bits)
    scale = Fraction(2) ** (bits - 1)
    for g, x in zip(got.flat, w.flat):
        assert (Fraction(float(g)) * scale).denominator == 1
        assert abs(Fraction(float(g)) - Fraction(float(x))) <= 1 / (2 * scale)


def test_e4_matches_e2_and_runs_after_a_layer_at_inference():
    a = np.array([[0.4, 3.0, -5.0]], dtype=np.float32)
    np.testing.assert_array_equal(quantize_activations_pow2_step(a, 2), quantize_pow2_step(a, 2))
    layer = ActivationQuantE4(bits=2)
    x = Tensor(a, requires_grad=True)
    out = layer(x)
    np.testing.assert_array_equal(out.data, [[0.0, 4.0, -6.0]])
    assert out.dtype == np.float32 and not out.requires_grad  # cut from the graph
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    quant = with_activation_quant(model, bits=1)
    assert [type(m).__name__ for m in quant] == ["Linear", "ReLU", "ActivationQuantE4", "Linear"]
    assert quant[0] is model[0]
    hidden = model[1](model[0](Tensor(a))).data
    np.testing.assert_allclose(quant(Tensor(a)).data,
                               model[2](Tensor(round_half_away(hidden))).data, rtol=1e-6)
    with pytest.raises(TypeError, match="bits"):
        ActivationQuantE4(2.0)


def test_e3_scales_every_parameter_of_a_module_and_no_buffer():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    mask = np.array([[1, 0, 1], [0, 1, 1]], dtype=np.float32)
    model[0].register_buffer("weight_mask", mask)
    before = model.state_dict()
    state = scale_by_retention(model, 0.25)
    assert set(state) == set(before)
    for name, _ in model.named_parameters():
        np.testing.assert_allclose(state[name], 0.75 * before[name], rtol=1e-7)
        assert state[name].dtype == before[name].dtype
    np.testing.assert_array_equal(state["0.weight_mask"], mask)
    for name, value in model.state_dict().items():  # the module is untouched
        np.testing.assert_array_equal(value, before[name])
    model.load_state_dict(scale_by_retention(model, 1.0))  # "keep everything" deletes everything
    assert all(np.all(p.data == 0) for p in model.parameters())


def test_e3_on_one_array_and_on_a_dict():
    w = np.array([2.0, -4.0], dtype=np.float32)
    np.testing.assert_array_equal(scale_by_retention(w, 0.5), [1.0, -2.0])
    out = scale_by_retention({"a": w, "b": np.ones(1)}, 0.0)
    np.testing.assert_array_equal(out["a"], w)
    assert out["a"] is not w


def test_e5_applies_the_documented_mean_and_variance_rule():
    rng = np.random.default_rng(1)
    w = rng.normal(0.3, 1.0, (20, 30))
    for k in (0.0, 0.5, 1.0, 2.0):
        pruned, removed, cand = random_candidate_pruning(w, 0.4, seed=7, k=k)
        assert cand.sum() == round(0.4 * w.size)
        mu, sigma = w[cand].mean(), w[cand].std()
        rule = cand & (np.abs(w - mu) <= k * sigma)
        np.testing.assert_array_equal(removed != 0, rule)
        np.testing.assert_array_equal(pruned + removed, w)
    assert 0.55 < rule.sum() / cand.sum() < 0.99  # k = 2: about 95 % of normal candidates go


def test_e5_edge_cases_and_seeds():
    w = np.arange(1.0, 11.0)
    pruned, removed, cand = random_candidate_pruning(w, 0.0, seed=0)
    assert not cand.any() and np.array_equal(pruned, w)
    _, _, cand = random_candidate_pruning(w, 1.0, seed=0)
    assert cand.all()
    _, removed, cand = random_candidate_pruning(w, 0.1, seed=3)  # one candidate: sigma = 0
    assert cand.sum() == 1 and np.array_equal(removed != 0, cand)
    a = random_candidate_pruning(w, 0.5, seed=np.random.default_rng(5))
    b = random_candidate_pruning(w, 0.5, seed=np.random.default_rng(5))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    empty = random_candidate_pruning(np.zeros((0, 3), np.float32), 0.5, seed=0)
    assert [x.shape for x in empty] == [(0, 3)] * 3 and empty[0].dtype == np.float32


def test_e6_round_trip_and_ties():
    w = np.array([0.0625, -0.0625, 0.3, 1.0], dtype=np.float32)
    q = quantize_by_ratio(w, 8)
    np.testing.assert_array_equal(q, [1.0, -1.0, 2.0, 8.0])  # 0.5 -> 1, -0.5 -> -1, 2.4 -> 2
    assert np.all(np.abs(dequantize_by_ratio(q, 8) - w) <= 1 / 16)
    assert quantize_by_ratio([0.25], 3).tolist() == [1.0]  # any Q > 0 is allowed


# --------------------------------------------------------------------------- distillation (Tensors)


def test_e7_equals_mean_bce_and_clips_the_logs():
    y_hat, y = np.array([0.9, 0.2, 0.5]), np.array([1.0, 0.0, 1.0])
    want = -np.mean([math.log(0.9), math.log(0.8), math.log(0.5)])
    assert distillation_bce_as_written(y_hat, y) == pytest.approx(want, rel=1e-12)
    assert distillation_bce_as_written([0.0, 1.0], [0.0, 1.0]) == pytest.approx(-math.log(1 - LOG_EPS))
    assert distillation_bce_as_written([0.0], [1.0]) == pytest.approx(-math.log(LOG_EPS))
    assert distillation_bce_as_written([0.0], [1.0], eps=1e-3) == pytest.approx(-math.log(1e-3))
    t = distillation_bce_as_written(Tensor(y_hat), y)
    assert isinstance(t, Tensor) and t.item() == pytest.approx(want, rel=1e-12)


def test_e7_gradient_matches_central_differences():
    y = np.array([1.0, 0.0, 1.0, 0.0])
    y_hat = Tensor(np.array([0.9, 0.3, 0.2, 0.6]))
    gradcheck(lambda p: distillation_bce_as_written(p, y), [y_hat])


def test_e8_soft_cross_entropy_tensors_and_gradient():
    rng = np.random.default_rng(0)
    logits_t, logits_s = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    p_t = np.exp(logits_t) / np.exp(logits_t).sum(1, keepdims=True)
    p_s = np.exp(logits_s) / np.exp(logits_s).sum(1, keepdims=True)
    value = soft_cross_entropy(p_t, p_s)
    assert value == pytest.approx(-np.mean(np.sum(p_t * np.log(p_s), axis=1)), rel=1e-12)
    assert soft_cross_entropy(Tensor(p_t), Tensor(p_s)).item() == pytest.approx(value, rel=1e-12)
    assert soft_cross_entropy(p_t[0], p_s[0]) == pytest.approx(-np.sum(p_t[0] * np.log(p_s[0])))
    gradcheck(lambda a, b: soft_cross_entropy(a, b), [Tensor(p_t), Tensor(p_s)])
    # the document's student learns from the teacher's softmax through this loss
    z = Tensor(logits_s, requires_grad=True)
    import minicompress.engine.functional as F

    soft_cross_entropy(p_t, F.softmax(z, axis=1)).backward()
    np.testing.assert_allclose(z.grad, (p_s - p_t) / 4, atol=1e-10)


def test_e8_output_and_parameter_distance_are_differentiable():
    a, b = np.arange(6.0).reshape(3, 2), np.ones((3, 2))
    assert output_distance(a, b) == pytest.approx(np.sum((a - b) ** 2) / 3)
    gradcheck(lambda x, y: output_distance(x, y), [Tensor(a), Tensor(b)])
    teacher = nn.Sequential(nn.Linear(3, 2, seed=0))
    student = nn.Sequential(nn.Linear(3, 2, seed=1))
    d = parameter_distance(teacher, student)
    want = sum(np.sum((p.data.astype(np.float64) - q.data) ** 2)
               for p, q in zip(teacher.parameters(), student.parameters()))
    assert want > 0.1 and isinstance(d, Tensor) and d.item() == pytest.approx(want, rel=1e-5)
    d.backward()
    s_w = student[0].weight
    np.testing.assert_allclose(s_w.grad, 2 * (s_w.data - teacher[0].weight.data), rtol=1e-5)


def test_e8_copy_into_a_module_makes_the_distance_zero():
    teacher = nn.Sequential(nn.Linear(3, 4, seed=0), nn.ReLU(), nn.Linear(4, 2, seed=1))
    student = nn.Sequential(nn.Linear(3, 4, seed=2), nn.ReLU(), nn.Linear(4, 2, seed=3))
    assert parameter_distance(teacher, student).item() > 0
    assert copy_parameters(teacher, student) is student
    assert parameter_distance(teacher, student).item() == 0
    student[0].weight.data[0, 0] += 1  # a copy, not shared storage
    assert teacher[0].weight.data[0, 0] != student[0].weight.data[0, 0]


def test_e8_copy_names_every_mismatched_parameter():
    teacher = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 2))
    student = nn.Sequential(nn.Linear(10, 3), nn.ReLU(), nn.Linear(3, 2))
    with pytest.raises(ValueError) as info:
        copy_parameters(teacher, student)
    msg = str(info.value)
    for name in ("0.weight", "0.bias", "2.weight"):
        assert repr(name) in msg
    assert "'2.bias'" not in msg  # (2,) matches
    with pytest.raises(ValueError, match=r"'extra' is in the student but not in the teacher"):
        copy_parameters({"w": np.ones(2)}, {"w": np.ones(2), "extra": np.ones(1)})
    with pytest.raises(ValueError, match=r"'w' is in the teacher but not in the student"):
        copy_parameters({"w": np.ones(2)}, {})


# --------------------------------------------------------------------------- bad input

W = np.array([0.5, -1.0])
P = np.array([[0.5, 0.5]])

BAD_INPUT = [
    (lambda: quantize_pow2_step(W, 0), ValueError, r"bits must be an integer in \[1, 64\], got 0"),
    (lambda: quantize_pow2_step(W, 65), ValueError, "bits"),
    (lambda: quantize_pow2_step(W, 2.0), TypeError, "bits must be an integer"),
    (lambda: quantize_pow2_step(W, True), TypeError, "bits must be an integer"),
    (lambda: quantize_activations_pow2_step(W, -3), ValueError, "bits"),
    (lambda: quantize_fixed_point_reading(W, 0), ValueError, "bits"),
    (lambda: quantize_pow2_step(np.array([np.nan]), 2), ValueError, "NaN or infinite"),
    (lambda: quantize_pow2_step(np.array([1j]), 2), TypeError, "real-valued"),
    (lambda: quantize_pow2_step("abc", 2), TypeError, "real-valued"),
    (lambda: threshold_clip(W, -1.0, 0.0), ValueError, r"T must be a finite number in \[0, inf\), got -1"),
    (lambda: threshold_clip(W, float("nan"), 0.0), ValueError, "finite"),
    (lambda: threshold_clip(np.array([np.inf]), 1.0, 0.0), ValueError, "NaN or infinite"),
    (lambda: threshold_clip(W.astype(np.float32), 1.0, 1e39), ValueError, "overflows"),
    (lambda: scale_by_retention(W, -0.1), ValueError, r"r \(the retention ratio\) must be a finite number in \[0, 1\], got -0.1"),
    (lambda: scale_by_retention(W, 1.5), ValueError, "retention ratio"),
    (lambda: scale_by_retention(W, True), TypeError, "real number"),
    (lambda: scale_by_retention({"a": np.array([np.nan])}, 0.5), ValueError, "a contains"),
    (lambda: random_candidate_pruning(W, 1.2, 0), ValueError, "p \\(the candidate proportion\\)"),
    (lambda: random_candidate_pruning(W, 0.5, None), TypeError, "seed"),
    (lambda: random_candidate_pruning(W, 0.5, -1), TypeError, "seed"),
    (lambda: random_candidate_pruning(W, 0.5, 0, k=-1), ValueError, r"k must be a finite number in \[0, inf\), got -1"),
    (lambda: quantize_by_ratio(W, 0), ValueError, r"Q \(the quantization ratio\) must be a finite number in \(0, inf\), got 0"),
    (lambda: quantize_by_ratio(W, -8), ValueError, "quantization ratio"),
    (lambda: quantize_by_ratio(W, float("inf")), ValueError, "finite"),
    (lambda: quantize_by_ratio(np.array([1e308]), 8), ValueError, "overflows"),
    (lambda: dequantize_by_ratio(W, 0), ValueError, "quantization ratio"),
    (lambda: distillation_bce_as_written([1.2], [1.0]), ValueError, r"y_hat must be probabilities in \[0, 1\]"),
    (lambda: distillation_bce_as_written([0.5], [2.0]), ValueError, "y must be probabilities"),
    (lambda: distillation_bce_as_written([0.5, 0.5], [[1.0], [0.0]]), ValueError, r"shape \(2,\) but y has shape \(2, 1\)"),
    (lambda: distillation_bce_as_written([], []), ValueError, "empty batch"),
    (lambda: distillation_bce_as_written([np.nan], [1.0]), ValueError, "NaN or inf"),
    (lambda: distillation_bce_as_written([0.5], [1.0], eps=0), ValueError, "eps"),
    (lambda: soft_cross_entropy(P, np.array([[0.7, 0.7]])), ValueError, "must sum to 1"),
    (lambda: soft_cross_entropy(P, np.array([[2.0, -1.0]])), ValueError, "not logits"),
    (lambda: soft_cross_entropy(P, np.array([[0.2, 0.3, 0.5]])), ValueError, "shape"),
    (lambda: output_distance(np.ones((2, 3)), np.ones((3, 2))), ValueError, "must match"),
    (lambda: parameter_distance({"w": np.ones(2)}, {"w": np.ones(3)}), ValueError, "'w' has shape"),
    (lambda: parameter_distance([1.0], {"w": np.ones(3)}), TypeError, "Module or a dict"),
]


@pytest.mark.parametrize("call,exc,match", BAD_INPUT)
def test_bad_input_says_what_is_wrong(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_integer_bit_widths_of_numpy_types_are_accepted():
    assert quantize_pow2_step(np.array([3.0]), np.int64(2)).tolist() == [4.0]
