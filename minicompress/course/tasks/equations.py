"""Chapter equations: the documents' equations E1-E8 exactly as written (docs/documents.md).

The references are ``minicompress.equations``' functions. Generated inputs are checked by
the equations' property tests (``minicompress.course.equation_properties``: element by
element against an exact ``fractions`` oracle, plus each equation's invariants), which
accept any implementation of the equation, including E5's random choice made another way.
A learner's file may name each function by its E-id (``E2``, ``E6_inverse``, ``E8_copy``:
the E-id with "." written "_"), as the earlier template did.
"""

from __future__ import annotations

import math

import numpy as np

from minicompress.course.equation_properties import PROPERTIES, function_name
from minicompress.course.registry import register
from minicompress.course.task import Example, Task, Variant
from minicompress.equations import (
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
    scale_by_retention,
    soft_cross_entropy,
    threshold_clip,
)

_DOCS = "The documents and their equations are described in docs/documents.md."


def _property_check(eid):
    prop = PROPERTIES[eid]
    extras_done: dict = {}  # id(function) -> (function, the extras' failure or None): a re-run agrees

    def check(fn, kwargs):
        prop.check(fn, kwargs)
        if not prop.extras:
            return
        learner = getattr(fn, "__wrapped__", fn)
        done = extras_done.get(id(learner))
        if done is None or done[0] is not learner:  # the extras (E5's fraction over 100 seeds): once per function
            failure = None
            try:
                for extra in prop.extras:
                    extra(fn)
            except AssertionError as err:
                failure = err
            done = extras_done[id(learner)] = (learner, failure)
        if done[1] is not None:
            raise done[1]

    return check


def _equation(eid, name, signature, reference, doc, examples, variants):
    register(Task(
        id=f"equations.{name}", chapter="equations", name=name, signature=signature,
        doc=doc.rstrip() + "\n\n" + _DOCS + "\n", reference=reference, inputs=PROPERTIES[eid].cases,
        examples=examples, variants=variants, aliases=((function_name(eid), "the documents' id " + eid),),
        check=_property_check(eid), timeout=20.0))


def _half_even_pow2(w, bits):
    step = 2.0 ** (bits - 1)
    return np.round(np.asarray(w) / step) * step


def _floor_half_pow2(w, bits):
    step = 2.0 ** (bits - 1)
    return np.floor(np.asarray(w) / step + 0.5) * step


_ROUND_EVEN = ("your result rounds half to even (np.round); this task rounds half away from zero "
               "(round(·) is 四舍五入: 0.5 -> 1, -2.5 -> -3)")
_ROUND_FLOOR = ("your rounding is floor(x + 0.5): negative ties go up (-0.5 -> 0) and x + 0.5 itself can "
                "round (0.49999999999999994 -> 1); round half away from zero on |x| and restore the sign")

_equation(
    "E1", "threshold_clip", "threshold_clip(w, T, t)",
    lambda w, T, t: threshold_clip(w, T, t),
    """E1, threshold clipping (doc 001 §3.1.3): w̃ = t if |w| > T, otherwise w.

The test is strict: a weight with |w| equal to T is kept. Every large weight becomes
exactly t (its sign is not kept).

Parameters
----------
w : float ndarray, any shape (float32 or float64; keep the dtype)
T : float >= 0
t : float

Returns
-------
ndarray shaped like w.
""",
    (Example({"w": np.array([-3.0, -1.0, 0.5, 1.0, 2.0]), "T": 1.0, "t": 0.25},
             np.array([0.25, -1.0, 0.5, 1.0, 0.25]), "|w| = T is kept; -3 becomes +0.25"),),
    (Variant("ties_clipped", lambda w, T, t: np.where(np.abs(w) >= T, t, w).astype(np.asarray(w).dtype),
             "you replace weights with |w| = T too; E1's test is strict: |w| > T"),
     Variant("sign_kept", lambda w, T, t: np.where(np.abs(w) > T, np.sign(w) * t, w).astype(np.asarray(w).dtype),
             "your clip keeps the sign (sign(w)·t); as written E1 sets every large weight to t")),
)

_equation(
    "E2", "quantize_pow2_step", "quantize_pow2_step(w, bits)",
    lambda w, bits: quantize_pow2_step(w, bits),
    """E2 (doc 001 §3.2.3): w̃ = round(w / 2^(b-1)) · 2^(b-1), round half AWAY from zero.

As written the step is 2^(b-1) (not 2^-(b-1)): with 8 bits, weights below 64 in magnitude
become 0. round(·) is 四舍五入: round(0.5) = 1, round(-2.5) = -3 (np.round gives 0 and -2).

Parameters
----------
w : float ndarray, any shape (keep the dtype)
bits : int >= 1

Returns
-------
ndarray shaped like w, multiples of 2^(b-1).
""",
    (Example({"w": np.array([0.5, 1.5, -0.5, 2.5, 0.25]), "bits": 1}, np.array([1.0, 2.0, -1.0, 3.0, 0.0]),
             "bits = 1: the step is 1; .5 rounds away from zero"),),
    (Variant("round_half_even", _half_even_pow2, _ROUND_EVEN),
     Variant("floor_plus_half", _floor_half_pow2, _ROUND_FLOOR),
     Variant("fixed_point_reading", lambda w, bits: quantize_fixed_point_reading(w, bits),
             "you read E2 as fixed point (step 2^-(b-1)); as written the step is 2^(b-1)")),
)

_equation(
    "E3", "scale_by_retention", "scale_by_retention(theta, r)",
    lambda theta, r: scale_by_retention(theta, r),
    """E3 (doc 001 §3.3.3): Θ̃ = (1 - r) · Θ, every parameter scaled by the retention 1 - r.

Parameters
----------
theta : dict of name -> float ndarray
r : float in [0, 1]

Returns
-------
dict with the same names; each array scaled by (1 - r), dtype kept. theta is not changed.
""",
    (Example({"theta": {"0.weight": np.array([2.0, -4.0]), "0.bias": np.array([1.0])}, "r": 0.25},
             {"0.weight": np.array([1.5, -3.0]), "0.bias": np.array([0.75])}),),
    (Variant("scales_by_r", lambda theta, r: {k: v * v.dtype.type(r) for k, v in theta.items()},
             "you scale by r; E3 scales by the retention (1 - r)"),),
)

_equation(
    "E4", "quantize_activations_pow2_step", "quantize_activations_pow2_step(a, bits)",
    lambda a, bits: quantize_activations_pow2_step(a, bits),
    """E4 (doc 001 §3.4.3): ã = round(a / 2^(b-1)) · 2^(b-1) on activations, half away from zero.

The same rule as E2, applied to a layer's outputs.

Parameters
----------
a : float ndarray, any shape (keep the dtype)
bits : int >= 1

Returns
-------
ndarray shaped like a.
""",
    (Example({"a": np.array([2.0, 3.0, -2.0, 5.0]), "bits": 2}, np.array([2.0, 4.0, -2.0, 6.0]),
             "bits = 2: the step is 2; 3/2 = 1.5 rounds to 2"),),
    (Variant("round_half_even", lambda a, bits: _half_even_pow2(a, bits), _ROUND_EVEN),),
)


def _e5_not_subtracted(w, p, seed):
    pruned, removed, cand = random_candidate_pruning(w, p, seed)
    return np.array(w, dtype=pruned.dtype), removed, cand


_equation(
    "E5", "random_candidate_pruning", "random_candidate_pruning(w, p, seed)",
    lambda w, p, seed: random_candidate_pruning(w, p, seed),
    """E5 (doc 000 §3.1): W_pruned = W_original - W_removed, removing among random candidates.

1. Choose each weight as a candidate with probability p (on average a fraction p of them),
   from a generator seeded with ``seed`` (the same seed gives the same result).
2. μ, σ: the mean and standard deviation of the candidates.
3. Remove candidates close to μ (the reference removes |w - μ| <= σ; the document leaves
   the rule open, so any rule that removes only candidates is accepted).
4. W_removed holds the removed weights in place, zeros elsewhere; W_pruned = W - W_removed.

Returns
-------
(w_pruned, w_removed, candidates) : arrays shaped like w (candidates: a boolean mask).
""",
    (Example({"w": np.array([1.0, -2.0, 3.0]), "p": 0.0, "seed": 0},
             (np.array([1.0, -2.0, 3.0]), np.zeros(3), np.zeros(3, dtype=bool)), "p = 0: no candidate"),),
    (Variant("not_subtracted", _e5_not_subtracted,
             "your W_pruned still holds the removed weights: W_pruned = W_original - W_removed"),),
)

_equation(
    "E6", "quantize_by_ratio", "quantize_by_ratio(w, Q)",
    lambda w, Q: quantize_by_ratio(w, Q),
    """E6 (doc 000 §3.2): W_quantized = round(W · Q), round half away from zero.

Parameters
----------
w : float ndarray, any shape
Q : float > 0 (the quantization ratio)

Returns
-------
ndarray shaped like w of integer values (an integer or float dtype).
""",
    (Example({"w": np.array([0.0625, -0.0625, 0.1, 1.0]), "Q": 8.0}, np.array([1.0, -1.0, 1.0, 8.0]),
             "0.0625 · 8 = 0.5 rounds away from zero to 1"),),
    (Variant("round_half_even", lambda w, Q: np.round(np.asarray(w, dtype=np.float64) * Q), _ROUND_EVEN),
     Variant("truncates", lambda w, Q: np.trunc(np.asarray(w, dtype=np.float64) * Q),
             "your quantization truncates toward zero (astype(int)); round(·) rounds to the nearest integer")),
)

_equation(
    "E6.inverse", "dequantize_by_ratio", "dequantize_by_ratio(w_quantized, Q)",
    lambda w_quantized, Q: dequantize_by_ratio(w_quantized, Q),
    """E6's inverse (doc 000 §3.2): W = W_quantized / Q.

Parameters
----------
w_quantized : ndarray of integer values, any shape
Q : float > 0

Returns
-------
float ndarray shaped like w_quantized.
""",
    (Example({"w_quantized": np.array([1.0, -12.0]), "Q": 8.0}, np.array([0.125, -1.5])),),
    (Variant("multiplies", lambda w_quantized, Q: np.asarray(w_quantized, dtype=np.float64) * Q,
             "you multiply by Q; the inverse of E6 divides: W_quantized / Q"),),
)


def _e7_sum(y_hat, y):
    return distillation_bce_as_written(y_hat, y) * np.asarray(y).size


_equation(
    "E7", "distillation_bce_as_written", "distillation_bce_as_written(y_hat, y)",
    lambda y_hat, y: distillation_bce_as_written(y_hat, y),
    """E7 (doc 000 §3.3): L = -(1/N) Σ [y log ŷ + (1 - y) log(1 - ŷ)], binary cross-entropy.

N is the number of elements. Clip ŷ to [1e-7, 1 - 1e-7] before the logs, so ŷ = y = 1
gives a small finite loss, not NaN.

Parameters
----------
y_hat : float ndarray (N,), predictions in [0, 1]
y : float ndarray (N,), labels 0 or 1

Returns
-------
float
""",
    (Example({"y_hat": np.array([0.5, 0.5]), "y": np.array([1.0, 0.0])}, math.log(2), "-log(1/2) for each"),),
    (Variant("sum_not_mean", _e7_sum, "your loss sums over the batch; E7 divides by N (the mean)"),),
)


def _soft_ce_sum(p_teacher, p_student):
    return soft_cross_entropy(p_teacher, p_student) * np.asarray(p_teacher).shape[0]


_equation(
    "E8.soft_cross_entropy", "soft_cross_entropy", "soft_cross_entropy(p_teacher, p_student)",
    lambda p_teacher, p_student: soft_cross_entropy(p_teacher, p_student),
    """E8, soft cross-entropy (doc 002 §3): L = -(1/N) Σ_i Σ_k p_T[i, k] · log p_S[i, k].

Parameters
----------
p_teacher, p_student : float ndarray (N, C), rows are probability distributions

Returns
-------
float: the batch mean.
""",
    (Example({"p_teacher": np.array([[1.0, 0.0]]), "p_student": np.array([[0.5, 0.5]])}, math.log(2),
             "-1 · log(1/2)"),),
    (Variant("sum_not_mean", _soft_ce_sum, "your soft cross-entropy sums over the batch; E8 takes the mean over N"),
     Variant("swapped", lambda p_teacher, p_student: soft_cross_entropy(p_student, p_teacher),
             "your soft cross-entropy has the arguments swapped: -Σ p_T · log p_S, the teacher's probabilities "
             "weight the student's logs")),
)

_equation(
    "E8.output_distance", "output_distance", "output_distance(out_a, out_b)",
    lambda out_a, out_b: output_distance(out_a, out_b),
    """E8, output distance (doc 002 §3): (1/N) Σ_i ‖a_i - b_i‖², the mean over the first axis.

Parameters
----------
out_a, out_b : float ndarray (N, ...) of the same shape

Returns
-------
float
""",
    (Example({"out_a": np.array([[1.0, 2.0], [0.0, 0.0]]), "out_b": np.array([[0.0, 2.0], [0.0, 2.0]])}, 2.5,
             "(1 + 4) / 2 rows"),),
    (Variant("mean_of_all", lambda out_a, out_b: float(np.mean((np.asarray(out_a) - np.asarray(out_b)) ** 2)),
             "you average over every element; E8's distance is the mean over the first axis of each row's "
             "squared norm"),
     Variant("not_squared", lambda out_a, out_b: float(np.mean(np.sqrt(np.sum(
         (np.asarray(out_a) - np.asarray(out_b)).reshape(len(out_a), -1) ** 2, axis=1)))),
             "your distance is not squared (the norm ‖a_i - b_i‖); E8 uses its square")),
)

_equation(
    "E8.parameter_distance", "parameter_distance", "parameter_distance(params_a, params_b)",
    lambda params_a, params_b: parameter_distance(params_a, params_b),
    """E8, parameter distance (doc 002 §3): Σ over names ‖θ_a - θ_b‖² (a sum, no mean).

Parameters are matched by name; a missing or extra name or a shape mismatch raises
ValueError naming the parameter.

Parameters
----------
params_a, params_b : dict of name -> float ndarray

Returns
-------
float
""",
    (Example({"params_a": {"w": np.array([1.0, 2.0]), "b": np.array([0.0])},
              "params_b": {"w": np.array([0.0, 0.0]), "b": np.array([3.0])}}, 14.0, "1 + 4 + 9"),),
    (Variant("not_squared", lambda params_a, params_b: math.sqrt(parameter_distance(params_a, params_b)),
             "your parameter distance is the norm (square root); E8 sums the squared differences"),),
)


def _copy_unchecked(teacher, student):
    return {k: np.array(v, copy=True) for k, v in teacher.items()}


_equation(
    "E8.copy", "copy_parameters", "copy_parameters(teacher, student)",
    lambda teacher, student: copy_parameters(teacher, student),
    """E8, parameter transfer (doc 002 §3): θ_S ← θ_T, matched by name.

Return a new dict with the student's names holding copies of the teacher's arrays.
A missing or extra name, or a shape mismatch, raises ValueError naming the parameter
(the document's zip over two parameter lists silently truncates).

Parameters
----------
teacher, student : dict of name -> float ndarray

Returns
-------
dict
""",
    (Example({"teacher": {"w": np.array([1.0, 2.0])}, "student": {"w": np.array([0.0, 0.0])}},
             {"w": np.array([1.0, 2.0])}),),
    (Variant("no_mismatch_check", _copy_unchecked,
             "your copy accepts a student with other names or shapes; refuse the mismatch with a ValueError "
             "naming the parameter"),),
)
