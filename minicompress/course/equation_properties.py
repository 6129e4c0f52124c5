"""Property tests for E1-E8, written once, run against any implementation.

Each property takes the implementation under test as an argument, so the same checks
run against the reference (``tests/test_equations.py``) and, as the ``check`` of the
course's equations tasks (``minicompress/course/tasks/equations.py``), against a learner's
function in ``minicompress check PATH`` and ``pytest -m equations --candidate PATH``.

A property draws inputs with hypothesis (``strategies.py``), calls the implementation
on copies, and checks (a) the equation element by element against an independent
oracle written here with Python's exact ``fractions``/``math`` (never with the function
under test, nor NumPy's rounding), and (b) the invariants listed in issue 3. A failure
raises :class:`PropertyFailure` carrying the inputs, the expected value, what the
implementation returned and why it is wrong; hypothesis shrinks it to the smallest
such example.

Calling conventions (the same for the reference and for learners; see
``tutorials/exercises/equations.py``, where each function has a descriptive name and the
E-id is accepted too)::

    E1(w, T, t) -> array                       E2(w, bits) -> array
    E3(theta: dict, r) -> dict                 E4(a, bits) -> array
    E5(w, p, seed) -> (w_pruned, w_removed, candidates)
    E6(w, Q) -> array of integers              E6_inverse(w_quantized, Q) -> array
    E7(y_hat, y) -> float
    E8_soft_cross_entropy(p_teacher, p_student) -> float
    E8_output_distance(out_a, out_b) -> float
    E8_parameter_distance(params_a: dict, params_b: dict) -> float
    E8_copy(teacher: dict, student: dict) -> dict
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import Flaky
from hypothesis.extra import numpy as hnp

from minicompress.course import strategies as S
from minicompress.course.task import fmt

# --------------------------------------------------------------------------- failures


class PropertyFailure(AssertionError):
    """An implementation disagreed with the equation on ``inputs``."""

    def __init__(self, eid, inputs, expected, got, reason):
        self.eid, self.inputs, self.expected, self.got, self.reason = eid, inputs, expected, got, reason
        super().__init__(self.describe())

    def describe(self) -> str:
        args = ", ".join(f"{k}={fmt(v)}" for k, v in self.inputs.items())
        exp = self.expected if isinstance(self.expected, str) else fmt(self.expected)
        got = self.got if isinstance(self.got, str) else fmt(self.got)
        return f"{self.reason}; inputs: {args}; expected: {exp}; got: {got}"


@dataclass
class Property:
    """One equation's checks: a case strategy, a per-case check, extra fixed checks."""

    eid: str
    cases: st.SearchStrategy
    check: Callable  # check(impl, case: dict) -> None, raises PropertyFailure
    probe: Callable  # probe() -> dict: a small valid input, to see if impl is implemented
    extras: list = field(default_factory=list)  # extra(impl) -> None, fixed-input checks


def call(eid, impl, case: dict):
    """Call ``impl`` on deep copies of the case; any exception becomes a PropertyFailure."""
    args = copy.deepcopy(list(case.values()))
    try:
        return impl(*args)
    except PropertyFailure:
        raise
    except Exception as err:  # a crash is a failure, with the inputs that caused it
        raise PropertyFailure(eid, case, "a result", f"raised {type(err).__name__}: {err}",
                              "the implementation raised") from err


def as_array(eid, case, got, shape, expected):
    if hasattr(got, "data") and hasattr(got, "requires_grad"):
        got = got.data  # an engine Tensor
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise PropertyFailure(eid, case, expected, repr(got),
                              f"result is not a real array ({err})") from err
    if arr.shape != tuple(shape):
        raise PropertyFailure(eid, case, expected, got,
                              f"result has shape {arr.shape}, the input has shape {tuple(shape)}")
    if not np.all(np.isfinite(arr)):
        raise PropertyFailure(eid, case, expected, got, "result contains NaN or inf")
    return arr


def as_scalar(eid, case, got, expected):
    if hasattr(got, "data") and hasattr(got, "requires_grad"):
        got = got.data
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise PropertyFailure(eid, case, expected, repr(got),
                              f"result is not a number ({err})") from err
    if arr.size != 1:
        raise PropertyFailure(eid, case, expected, got, f"result should be one number, got shape {arr.shape}")
    return float(arr.reshape(()))


def first_mismatch(eid, case, expected, got, reason, equal=None):
    """Raise at the first index where ``got`` differs from ``expected`` (exact by default)."""
    exp = np.asarray(expected, dtype=np.float64)
    ok = (exp == got) if equal is None else equal(exp, got)
    if not np.all(ok):
        idx = tuple(int(i) for i in np.argwhere(~np.asarray(ok))[0])
        raise PropertyFailure(eid, case, expected, got,
                              f"{reason} at index {idx}: expected {fmt(exp[idx])}, got {fmt(got[idx])}")


def round_half_away_exact(q: Fraction) -> int:
    """四舍五入 on an exact rational: floor(|q| + 1/2) with q's sign."""
    n = math.floor(abs(q) + Fraction(1, 2))
    return n if q >= 0 else -n


# --------------------------------------------------------------------------- E1


@st.composite
def e1_cases(draw):
    dt = draw(S.float_dtypes())
    w = draw(S.float_arrays(dtype=dt))
    if w.size and draw(st.booleans()):  # T equal to some |w|: the strict ">" matters
        T = abs(float(w.flat[draw(st.integers(0, w.size - 1))]))
    else:
        T = draw(st.floats(0.0, 1e3, width=S.float_width(dt)))
    t = draw(S.finite_floats(dt, 1e3))
    return {"w": w, "T": T, "t": t}


def e1_check(impl, case):
    w, T, t = case["w"], case["T"], case["t"]
    got = as_array("E1", case, call("E1", impl, case), w.shape, "array like w")
    expected = np.array([t if abs(float(x)) > T else float(x) for x in w.flat]).reshape(w.shape)
    small = np.abs(w.astype(np.float64)) <= T
    first_mismatch("E1", case, np.where(small, w, got), got,
                   "a weight with |w| <= T was changed")
    first_mismatch("E1", case, np.where(small, got, t), got,
                   "a weight with |w| > T did not become exactly t")
    first_mismatch("E1", case, expected, got, "differs from the equation")


# --------------------------------------------------------------------------- E2, E4


def pow2_cases(arg):
    @st.composite
    def build(draw):
        bits = draw(S.bit_widths())
        w = draw(S.float_arrays(step=2.0 ** (bits - 1)))
        return {arg: w, "bits": bits}
    return build()


def pow2_check(eid, arg):
    def check(impl, case):
        w, bits = case[arg], case["bits"]
        step = 2 ** (bits - 1)
        got = as_array(eid, case, call(eid, impl, case), w.shape, f"array like {arg}")
        exact = [round_half_away_exact(Fraction(float(x)) / step) * step for x in w.flat]
        expected = np.array([float(v) for v in exact]).reshape(w.shape)
        for idx in np.ndindex(w.shape):
            g = float(got[idx])
            if not math.isfinite(g) or Fraction(g) % step != 0:
                raise PropertyFailure(eid, case, expected, got,
                                      f"index {idx}: {g!r} is not a multiple of 2^(b-1) = {step}")
            if abs(Fraction(g) - Fraction(float(w[idx]))) > Fraction(step, 2):
                raise PropertyFailure(eid, case, expected, got,
                                      f"index {idx}: {g!r} is more than 2^(b-2) = {step / 2} "
                                      f"from the input {float(w[idx])!r}")
        ties = [Fraction(float(x)) / step % 1 == Fraction(1, 2) for x in w.flat]
        hint = " (an exact tie: round(·) is 四舍五入, half away from zero)" if any(ties) else ""
        first_mismatch(eid, case, expected, got, "differs from round(w / 2^(b-1)) * 2^(b-1)" + hint)
    return check


# --------------------------------------------------------------------------- E3


@st.composite
def e3_cases(draw):
    return {"theta": draw(S.param_dicts(max_magnitude=1e30)), "r": draw(S.ratios())}


def _scaled_close(expected_exact, got, dtype):
    """|got - (1-r)w| within 4 ulps of the dtype (two roundings allowed) or tiny."""
    fi = np.finfo(dtype)
    tol = 4 * float(fi.eps) * np.abs(expected_exact) + 4 * float(fi.smallest_subnormal)
    return np.abs(got - expected_exact) <= tol


def e3_check(impl, case):
    theta, r = case["theta"], case["r"]
    got = call("E3", impl, case)
    if not isinstance(got, Mapping) or set(got) != set(theta):
        keys = sorted(got) if isinstance(got, Mapping) else type(got).__name__
        raise PropertyFailure("E3", case, "a dict with keys " + str(sorted(theta)), str(keys),
                              "E3 must return a dict with the same names as theta")
    factor = 1 - Fraction(r)
    for name, w in theta.items():
        exact = np.array([float(Fraction(float(x)) * factor) for x in w.flat]).reshape(w.shape)
        g = as_array("E3", case, got[name], w.shape, exact)
        first_mismatch("E3", case, exact, g, f"tensor {name!r} is not (1 - r) * it",
                       equal=lambda e, g_, dt=w.dtype: _scaled_close(e, g_, dt))
    # linear in Θ: scaling Θ by 2 (exact) scales the result by 2
    doubled = {"theta": {k: v * v.dtype.type(2) for k, v in theta.items()}, "r": r}
    got2 = call("E3", impl, doubled)
    for name, w in theta.items():
        twice = 2 * np.asarray(got[name], dtype=np.float64)
        g2 = as_array("E3", doubled, got2[name], w.shape, twice)
        first_mismatch("E3", doubled, twice, g2, f"not linear in Θ: E3(2Θ)[{name!r}] != 2·E3(Θ)",
                       equal=lambda e, g_, dt=w.dtype: _scaled_close(e, g_, dt))


# --------------------------------------------------------------------------- E5


@st.composite
def e5_cases(draw):
    w = draw(S.float_arrays(max_magnitude=1e6))
    return {"w": w, "p": draw(S.ratios()), "seed": draw(st.integers(0, 2**31 - 1))}


def _e5_outputs(case, got):
    w = case["w"]
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise PropertyFailure("E5", case, "(w_pruned, w_removed, candidates)", got,
                              "E5 must return three arrays")
    pruned = as_array("E5", case, got[0], w.shape, "w_pruned")
    removed = as_array("E5", case, got[1], w.shape, "w_removed")
    cand = as_array("E5", case, got[2], w.shape, "candidates")
    if not np.all((cand == 0) | (cand == 1)):
        raise PropertyFailure("E5", case, "a boolean mask", got[2], "candidates is not a 0/1 mask")
    return pruned, removed, cand.astype(bool)


def e5_check(impl, case):
    w = case["w"]
    pruned, removed, cand = _e5_outputs(case, call("E5", impl, case))
    w64 = w.astype(np.float64)
    # the equation element by element: W_pruned = W_original - W_removed, exactly
    first_mismatch("E5", case, w64, pruned + removed, "W_pruned + W_removed != W_original")
    first_mismatch("E5", case, np.zeros(w.shape), np.where(removed != 0, removed - w64, 0.0),
                   "W_removed holds a value that is not the original weight")
    both = (pruned != 0) & (removed != 0)
    first_mismatch("E5", case, np.zeros(w.shape, bool), both, "W_pruned and W_removed overlap")
    first_mismatch("E5", case, np.zeros(w.shape, bool), (removed != 0) & ~cand,
                   "a weight that was not a candidate was removed")
    again = _e5_outputs(case, call("E5", impl, case))
    for name, a, b in zip(("w_pruned", "w_removed", "candidates"), (pruned, removed, cand), again):
        first_mismatch("E5", case, a, b, f"the same seed gave a different {name}")


def e5_fraction(impl, draws=100, n=100, tol=0.025):
    """Over many seeds the candidate fraction averages to p (within tol)."""
    w = np.arange(1.0, n + 1.0)
    for p in (0.1, 0.5, 0.9):
        fractions = []
        for seed in range(draws):
            case = {"w": w, "p": p, "seed": seed}
            fractions.append(_e5_outputs(case, call("E5", impl, case))[2].mean())
        mean = float(np.mean(fractions))
        if abs(mean - p) > tol:
            raise PropertyFailure("E5", {"w": "np.arange(1.0, 101.0)", "p": p, "seed": f"0..{draws - 1}"},
                                  f"mean candidate fraction {p} ± {tol}", f"{mean:.4f}",
                                  f"the candidate fraction over {draws} seeds is not close to p")


# --------------------------------------------------------------------------- E6


@st.composite
def e6_cases(draw):
    Q = draw(S.pow2_ratios())
    return {"w": draw(S.float_arrays(step=1.0 / Q, max_magnitude=1e12)), "Q": Q}


def e6_check(impl, case):
    w, Q = case["w"], case["Q"]
    got = as_array("E6", case, call("E6", impl, case), w.shape, "integers")
    expected = np.array([float(round_half_away_exact(Fraction(float(x)) * Fraction(Q)))
                         for x in w.flat]).reshape(w.shape)
    first_mismatch("E6", case, np.trunc(got), got, "W_quantized is not integer-valued")
    bound = Fraction(1, 2) / Fraction(Q)
    too_far = np.array([abs(Fraction(float(g)) / Fraction(Q) - Fraction(float(x))) > bound
                        for g, x in zip(got.flat, w.flat)], dtype=bool).reshape(w.shape)
    first_mismatch("E6", case, np.zeros(w.shape, bool), too_far,
                   f"W_quantized / Q is more than 1/(2Q) = {float(bound)} from W")
    ties = any(Fraction(float(x)) * Fraction(Q) % 1 == Fraction(1, 2) for x in w.flat)
    hint = " (an exact tie: round(·) is 四舍五入, half away from zero)" if ties else ""
    first_mismatch("E6", case, expected, got, "differs from round(W * Q)" + hint)


@st.composite
def e6_inverse_cases(draw):
    shape = draw(S.array_shapes())
    wq = draw(hnp.arrays(np.float64, shape, elements=st.integers(-2**40, 2**40).map(float)))
    return {"w_quantized": wq, "Q": draw(S.pow2_ratios())}


def e6_inverse_check(impl, case):
    wq, Q = case["w_quantized"], case["Q"]
    got = as_array("E6.inverse", case, call("E6.inverse", impl, case), wq.shape, "W_quantized / Q")
    expected = np.array([float(Fraction(float(x)) / Fraction(Q)) for x in wq.flat]).reshape(wq.shape)
    first_mismatch("E6.inverse", case, expected, got, "differs from W_quantized / Q")


# --------------------------------------------------------------------------- E7

E7_LOW = 1e-3  # y_hat is drawn in [E7_LOW, 1 - E7_LOW], so no eps clip of the logs matters


def bce_oracle(y_hat, y):
    terms = [yi * math.log(pi) + (1 - yi) * math.log(1 - pi)
             for pi, yi in zip(y_hat.flat, y.flat)]
    return -math.fsum(terms) / len(terms)


@st.composite
def e7_cases(draw):
    n = draw(st.integers(1, 8))
    y_hat = draw(hnp.arrays(np.float64, (n,), elements=st.one_of(
        st.sampled_from([0.5, 0.25, 0.75]), st.floats(E7_LOW, 1 - E7_LOW))))
    y = draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([0.0, 1.0])))
    return {"y_hat": y_hat, "y": y}


def e7_check(impl, case):
    y_hat, y = case["y_hat"], case["y"]
    expected = bce_oracle(y_hat, y)
    got = as_scalar("E7", case, call("E7", impl, case), expected)
    if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
        raise PropertyFailure("E7", case, expected, got,
                              "differs from -(1/N) Σ [y log ŷ + (1 - y) log(1 - ŷ)]")
    if got < 0:
        raise PropertyFailure("E7", case, ">= 0", got, "binary cross-entropy is negative")
    at_y = {"y_hat": y.copy(), "y": y}
    best = as_scalar("E7", at_y, call("E7", impl, at_y), f"<= {got}")
    if not math.isfinite(best) or best > got + 1e-12:
        raise PropertyFailure("E7", at_y, f"a finite value <= {got} (the loss at {fmt(y_hat)})", best,
                              "the loss is not smallest at ŷ = y (clip ŷ to [eps, 1 - eps] "
                              "before the logs, eps = 1e-7)")
    # the gradient by central differences matches dL/dŷ = (1/N)(-y/ŷ + (1-y)/(1-ŷ))
    h = 1e-6
    analytic = (-y / y_hat + (1 - y) / (1 - y_hat)) / y.size
    for i in range(y.size):
        up, down = y_hat.copy(), y_hat.copy()
        up[i] += h
        down[i] -= h
        f_up = as_scalar("E7", case, call("E7", impl, {"y_hat": up, "y": y}), "a number")
        f_down = as_scalar("E7", case, call("E7", impl, {"y_hat": down, "y": y}), "a number")
        numeric = (f_up - f_down) / (2 * h)
        if not math.isclose(numeric, analytic[i], rel_tol=1e-4, abs_tol=1e-6):
            raise PropertyFailure("E7", case, f"dL/dŷ[{i}] = {analytic[i]!r}", f"{numeric!r}",
                                  "the central-difference gradient does not match the equation's")


# --------------------------------------------------------------------------- E8


def soft_ce_oracle(p_t, p_s):
    rows = [-math.fsum(a * math.log(b) for a, b in zip(rt, rs)) for rt, rs in zip(p_t, p_s)]
    return math.fsum(rows) / len(rows)


@st.composite
def e8_soft_ce_cases(draw):
    p_t = draw(S.probability_rows())
    p_s = p_t.copy() if draw(st.booleans()) else _rows_like(draw, p_t)
    return {"p_teacher": p_t, "p_student": p_s}


def _rows_like(draw, p):
    logits = draw(hnp.arrays(np.float64, p.shape, elements=st.floats(-5.0, 5.0)))
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def e8_soft_ce_check(impl, case):
    eid = "E8.soft_cross_entropy"
    p_t, p_s = case["p_teacher"], case["p_student"]
    expected = soft_ce_oracle(p_t, p_s)
    got = as_scalar(eid, case, call(eid, impl, case), expected)
    if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12):
        raise PropertyFailure(eid, case, expected, got,
                              "differs from the batch mean of -Σ_k p_T log p_S")
    self_case = {"p_teacher": p_t, "p_student": p_t.copy()}
    entropy = as_scalar(eid, self_case, call(eid, impl, self_case), soft_ce_oracle(p_t, p_t))
    if not math.isclose(entropy, soft_ce_oracle(p_t, p_t), rel_tol=1e-9, abs_tol=1e-12):
        raise PropertyFailure(eid, self_case, soft_ce_oracle(p_t, p_t), entropy,
                              "H(p_T, p_T) is not the teacher's entropy")
    # Gibbs with Pinsker's bound: H(p_T,p_S) - H(p_T) = KL >= ½‖p_T - p_S‖₁², so equality
    # holds only when the distributions match.
    pinsker = float(np.mean(0.5 * np.abs(p_t - p_s).sum(axis=1) ** 2))
    if got - entropy < pinsker - 1e-9:
        raise PropertyFailure(eid, case, f">= H(p_T) + {pinsker!r} = {entropy + pinsker!r}", got,
                              "soft cross-entropy is below the teacher's entropy plus the KL bound")


@st.composite
def e8_output_cases(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5))
    elems = st.floats(-1e3, 1e3)
    a = draw(hnp.arrays(np.float64, shape, elements=elems))
    b = a.copy() if draw(st.booleans()) else draw(hnp.arrays(np.float64, shape, elements=elems))
    return {"out_a": a, "out_b": b}


def output_distance_oracle(a, b):
    rows = [math.fsum((float(x) - float(y)) ** 2 for x, y in zip(np.ravel(ra), np.ravel(rb)))
            for ra, rb in zip(a, b)]
    return math.fsum(rows) / len(rows)


def e8_output_check(impl, case):
    eid = "E8.output_distance"
    a, b = case["out_a"], case["out_b"]
    expected = output_distance_oracle(a, b)
    got = as_scalar(eid, case, call(eid, impl, case), expected)
    if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9):
        raise PropertyFailure(eid, case, expected, got,
                              "differs from (1/N) Σ_i ‖a_i - b_i‖² (mean over the first axis)")
    swapped = {"out_a": b, "out_b": a}
    other = as_scalar(eid, swapped, call(eid, impl, swapped), got)
    if not math.isclose(other, got, rel_tol=1e-12, abs_tol=1e-12):
        raise PropertyFailure(eid, swapped, got, other, "the distance is not symmetric")


@st.composite
def e8_param_pair_cases(draw):
    theta = draw(S.param_dicts(dtype=np.float64, max_magnitude=1e3))
    other = {k: draw(hnp.arrays(np.float64, v.shape, elements=st.floats(-1e3, 1e3)))
             for k, v in theta.items()}
    if draw(st.booleans()):
        other = copy.deepcopy(theta)
    return theta, other


@st.composite
def e8_param_distance_cases(draw):
    a, b = draw(e8_param_pair_cases())
    return {"params_a": a, "params_b": b}


def e8_param_distance_check(impl, case):
    eid = "E8.parameter_distance"
    a, b = case["params_a"], case["params_b"]
    expected = math.fsum(float(np.sum((a[k] - b[k]) ** 2)) for k in a)
    got = as_scalar(eid, case, call(eid, impl, case), expected)
    if not math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-9):
        raise PropertyFailure(eid, case, expected, got, "differs from Σ over names ‖θ_a - θ_b‖²")
    _expect_mismatch_error(eid, impl, a, b, ("params_a", "params_b"))


def _mismatched(b):
    """A copy of ``b`` whose first parameter has one more row, and that parameter's name."""
    name = sorted(b)[0]
    bad = copy.deepcopy(b)
    bad[name] = np.zeros((b[name].shape[0] + 1,) + b[name].shape[1:])
    return bad, name


def _expect_mismatch_error(eid, impl, a, b, keys):
    bad, name = _mismatched(b)
    cases = [({keys[0]: a, keys[1]: bad}, name, "a shape mismatch")]
    extra = dict(copy.deepcopy(b), **{"head.weight": np.zeros((1,))})
    cases.append(({keys[0]: a, keys[1]: extra}, "head.weight", "an extra name"))
    for case, name, what in cases:
        args = copy.deepcopy(list(case.values()))
        try:
            result = impl(*args)
        except ValueError as err:
            if name not in str(err):
                raise PropertyFailure(eid, case, f"ValueError naming {name!r}", f"ValueError: {err}",
                                      f"the error for {what} does not name the parameter") from err
            continue
        except Exception as err:
            raise PropertyFailure(eid, case, f"ValueError naming {name!r}",
                                  f"{type(err).__name__}: {err}",
                                  f"{what} must raise ValueError") from err
        raise PropertyFailure(eid, case, f"ValueError naming {name!r}", result,
                              f"{what} was accepted")


@st.composite
def e8_copy_cases(draw):
    teacher, student = draw(e8_param_pair_cases())
    return {"teacher": teacher, "student": student}


def e8_copy_check(impl, case):
    eid = "E8.copy"
    teacher, student = case["teacher"], case["student"]
    got = call(eid, impl, case)
    if not isinstance(got, Mapping) or set(got) != set(student):
        raise PropertyFailure(eid, case, "a dict with the student's names", got,
                              "E8_copy must return a dict with the student's names")
    for name, value in teacher.items():
        g = as_array(eid, case, got[name], value.shape, value)
        first_mismatch(eid, case, value, g, f"parameter {name!r} was not copied from the teacher")
        if isinstance(got[name], np.ndarray) and np.shares_memory(got[name], value):
            raise PropertyFailure(eid, case, "a copy", "the teacher's own array",
                                  f"parameter {name!r} aliases the teacher's array")
    _expect_mismatch_error(eid, impl, teacher, student, ("teacher", "student"))


# --------------------------------------------------------------------------- registry

def _probe_array():
    return np.array([0.25, -1.5, 3.0])


PROPERTIES: dict[str, Property] = {
    "E1": Property("E1", e1_cases(), e1_check, lambda: {"w": _probe_array(), "T": 1.0, "t": 0.0}),
    "E2": Property("E2", pow2_cases("w"), pow2_check("E2", "w"),
                   lambda: {"w": _probe_array(), "bits": 2}),
    "E3": Property("E3", e3_cases(), e3_check,
                   lambda: {"theta": {"0.weight": _probe_array()}, "r": 0.5}),
    "E4": Property("E4", pow2_cases("a"), pow2_check("E4", "a"),
                   lambda: {"a": _probe_array(), "bits": 2}),
    "E5": Property("E5", e5_cases(), e5_check,
                   lambda: {"w": _probe_array(), "p": 0.5, "seed": 0}, extras=[e5_fraction]),
    "E6": Property("E6", e6_cases(), e6_check, lambda: {"w": _probe_array(), "Q": 8.0}),
    "E6.inverse": Property("E6.inverse", e6_inverse_cases(), e6_inverse_check,
                           lambda: {"w_quantized": np.array([2.0, -12.0]), "Q": 8.0}),
    "E7": Property("E7", e7_cases(), e7_check,
                   lambda: {"y_hat": np.array([0.9, 0.2]), "y": np.array([1.0, 0.0])}),
    "E8.soft_cross_entropy": Property(
        "E8.soft_cross_entropy", e8_soft_ce_cases(), e8_soft_ce_check,
        lambda: {"p_teacher": np.array([[0.7, 0.3]]), "p_student": np.array([[0.6, 0.4]])}),
    "E8.output_distance": Property(
        "E8.output_distance", e8_output_cases(), e8_output_check,
        lambda: {"out_a": np.array([[1.0, 2.0]]), "out_b": np.array([[0.0, 2.0]])}),
    "E8.parameter_distance": Property(
        "E8.parameter_distance", e8_param_distance_cases(), e8_param_distance_check,
        lambda: {"params_a": {"w": np.ones(2)}, "params_b": {"w": np.zeros(2)}}),
    "E8.copy": Property(
        "E8.copy", e8_copy_cases(), e8_copy_check,
        lambda: {"teacher": {"w": np.ones(2)}, "student": {"w": np.zeros(2)}}),
}


def function_name(eid: str) -> str:
    """The name a learner's file uses for an E-id: ``"E8.copy"`` -> ``"E8_copy"``."""
    return eid.replace(".", "_")


def run_property(eid: str, impl, *, max_examples: int | None = None,
                 derandomize: bool | None = None, seed: int | None = None,
                 quiet: bool = False) -> None:
    """Run every check of ``eid`` against ``impl``; raise :class:`PropertyFailure` if one fails.

    Parameters
    ----------
    eid : str
        A key of ``PROPERTIES`` (``"E1"`` ... ``"E8.copy"``).
    impl : callable
        The implementation under test, called with the convention in the module docstring.
    max_examples, derandomize : optional
        Override the active hypothesis profile (``minicompress check`` derandomizes so a
        run is reproducible); ``None`` keeps the profile's value.
    seed : int, optional
        Seed hypothesis's random generation (``hypothesis.seed``) instead.
    quiet : bool
        Silence hypothesis's own report (the caller prints the failure).
    """
    prop = PROPERTIES[eid]
    overrides = {"deadline": None, "database": None, "report_multiple_bugs": False,
                 "suppress_health_check": list(HealthCheck)}
    if max_examples is not None:
        overrides["max_examples"] = max_examples
    if derandomize is not None:
        overrides["derandomize"] = derandomize
    if quiet:
        overrides["verbosity"] = Verbosity.quiet

    @settings(**overrides)
    @given(prop.cases)
    def holds(case):
        try:
            prop.check(impl, case)
        except PropertyFailure:
            raise
        except Exception as err:  # e.g. a result of a type the checks cannot read
            raise PropertyFailure(eid, case, "a result the checks can read",
                                  f"{type(err).__name__}: {err}",
                                  "checking the result failed") from err

    if seed is not None:
        holds = hypothesis_seed(seed)(holds)

    try:
        holds()
    except Flaky as err:  # the implementation's answer changed between identical calls
        raise PropertyFailure(eid, {}, "the same result for the same input", str(err).splitlines()[0],
                              "the implementation is not deterministic") from err
    for extra in prop.extras:
        extra(impl)
