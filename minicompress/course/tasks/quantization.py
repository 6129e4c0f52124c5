"""Quantization tasks: ranges, scale and zero point, (de)quantize, per-channel weights, biases,
integer layers, the requantization multiplier, fake quantization, int4 packing, observers.

The names and signatures are MIT 6.5940 lab 2's (translated from torch to NumPy), PyTorch's
and TinyTorch's where they have one. Every reference is the library's own function
(``minicompress.compress.quantization``, ``minicompress.kernels``) behind a thin adapter.
Rounding everywhere is half to even (``np.rint``, like ``torch.round``), the library's rule.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from minicompress import kernels
from minicompress.compress.quantization import (
    MinMaxObserver,
    MovingAverageObserver,
    QParams,
    QuantizedTensor,
    choose_qparams,
    dequantize,
    fake_quantize,
    qparams_from_range,
    qrange,
    quantize,
    quantize_bias,
    quantize_multiplier,
    shift_bias,
)
from minicompress.course.task import Example, Variant
from minicompress.course.tasks._common import round_half_away, task_registrar
from minicompress.course.tasks._draw import grid_arrays, int_arrays, powers_of_two, shapes
from minicompress.engine import Tensor
from minicompress.errors import InputError

CHAPTER = "quantization"


_task = task_registrar(CHAPTER)


def _qp(scale, zero_point, bits, signed=True):
    """QParams for an explicit scale and zero point (signed range = the library's 'symmetric' grid)."""
    return QParams(np.asarray(scale, dtype=np.float64), np.asarray(zero_point, dtype=np.int64), int(bits),
                   "symmetric" if signed else "affine")


HALF_AWAY = ("round_half_away", "your result rounds half away from zero (Python 2's / C's round); this task "
             "rounds half to even (np.rint, torch.round): 0.5 -> 0, 1.5 -> 2, 2.5 -> 2")
HALF_UP = ("round_half_up", "your result rounds half up (np.floor(x + 0.5)); this task rounds half to even "
           "(np.rint, torch.round): -0.5 -> 0, 0.5 -> 0, 2.5 -> 2")
BITS = st.sampled_from([2, 3, 4, 5, 6, 7, 8])


def EVEN(lo, hi):  # noqa: N802
    """Even integers in [lo, hi]: a zero point added before or after rounding half to even gives the
    same result only when it is even, and both orders are in use (PyTorch's fake_quantize and MIT's
    lab add it before, TFLite and these references after), so the generated zero points are even."""
    return st.integers(-(-lo // 2), hi // 2).map(lambda v: 2 * v)


ZP_ORDER = """
    The zero point is added after rounding; adding it before (as PyTorch's kernels and MIT's
    lab do) differs only on a tie with an odd zero point, which the generated inputs avoid.
    """

# ------------------------------------------------------------------ ranges


def _get_quantized_range(bitwidth):
    lo, hi = qrange(bitwidth, "symmetric")
    return int(lo), int(hi)


_task(
    "get_quantized_range", "get_quantized_range(bitwidth)",
    """The signed integer range of a ``bitwidth``-bit quantizer.

    Returns
    -------
    (int, int)
        ``(q_min, q_max) = (-2^(b-1), 2^(b-1) - 1)``: two's complement, one more negative
        value than positive (8 bits: [-128, 127]). ``bitwidth`` in 2..8 or 16.
    """,
    _get_quantized_range,
    st.fixed_dictionaries({"bitwidth": st.sampled_from([2, 3, 4, 5, 6, 7, 8, 16])}),
    [Example({"bitwidth": 8}, (-128, 127), "two's complement int8"),
     Example({"bitwidth": 4}, (-8, 7), "int4: -2^3 .. 2^3 - 1")],
    [Variant("narrow_range", lambda bitwidth: (-(2 ** (bitwidth - 1) - 1), 2 ** (bitwidth - 1) - 1),
             "your range is [-(2^(b-1) - 1), 2^(b-1) - 1], e.g. [-127, 127] (TFLite's symmetric weights); this "
             "task uses the full two's complement range [-2^(b-1), 2^(b-1) - 1] = [-128, 127]"),
     Variant("unsigned", lambda bitwidth: (0, 2**bitwidth - 1),
             "your range is unsigned [0, 2^b - 1]; this task's integers are signed [-2^(b-1), 2^(b-1) - 1]")],
)

# ------------------------------------------------------------------ linear quantize / dequantize


def _linear_quantize(fp_tensor, bitwidth, scale, zero_point):
    return quantize(fp_tensor, _qp(scale, zero_point, bitwidth))


def _lq_variant(rounder=np.rint, clamp=True, sign=1):
    def fn(fp_tensor, bitwidth, scale, zero_point):
        q = rounder(np.asarray(fp_tensor, dtype=np.float64) / scale) + sign * zero_point
        if clamp:
            q = np.clip(q, -(2 ** (bitwidth - 1)), 2 ** (bitwidth - 1) - 1)
        return q.astype(np.int64)
    return fn


def _lq_int8_first(fp_tensor, bitwidth, scale, zero_point):
    def wrap(v):
        return (v + 128) % 256 - 128
    q = wrap(wrap(np.rint(np.asarray(fp_tensor, dtype=np.float64) / scale).astype(np.int64)) + zero_point)
    return np.clip(q, -(2 ** (bitwidth - 1)), 2 ** (bitwidth - 1) - 1).astype(np.int8)


@st.composite
def _lq_inputs(draw):
    bits = draw(BITS)
    scale = draw(powers_of_two(-3, 1))
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    z = draw(st.integers(qmin, qmax))
    # multiples of scale/2 reach every tie; the range overshoots [q_min, q_max] to test the clamp
    x = draw(grid_arrays(lo=2 * (qmin - z) - 12, hi=2 * (qmax - z) + 12, step=scale / 2, max_dims=3))
    return {"fp_tensor": x, "bitwidth": bits, "scale": scale, "zero_point": z}


_task(
    "linear_quantize", "linear_quantize(fp_tensor, bitwidth, scale, zero_point)",
    """Quantize a float array onto a signed ``bitwidth``-bit grid: ``q = clamp(rint(r / S) + Z, q_min, q_max)``.

    Parameters
    ----------
    fp_tensor : ndarray of float, any shape
    bitwidth : int in 2..8
    scale : float > 0 (or an array broadcasting against ``fp_tensor``)
    zero_point : int in [q_min, q_max]

    Returns
    -------
    ndarray of integers (int8 at <= 8 bits), the shape of ``fp_tensor``.
        ``rint`` rounds half to even (``np.rint``, like ``torch.round``): 0.5 -> 0, 1.5 -> 2,
        -0.5 -> 0; the zero point is added after rounding; the result saturates to
        ``[-2^(b-1), 2^(b-1) - 1]``. The input is not changed.
    """,
    _linear_quantize, _lq_inputs(),
    [Example({"fp_tensor": np.array([-1.0, -0.25, 0.25, 0.75, 1.25, 100.0]), "bitwidth": 8, "scale": 0.5,
              "zero_point": 3},
             np.array([1, 3, 3, 5, 5, 127], dtype=np.int8),
             "r/S = -2, -0.5, 0.5, 1.5, 2.5, 200 -> rint -2, 0, 0, 2, 2, 200 -> +3 -> clamp at 127"),
     Example({"fp_tensor": np.array([[-9.0, 6.5], [7.5, -8.5]]), "bitwidth": 4, "scale": 1.0, "zero_point": 0},
             np.array([[-8, 6], [7, -8]], dtype=np.int8), "4 bits: [-8, 7]; 6.5 -> 6, 7.5 -> 8 -> 7")],
    [Variant(*HALF_AWAY[:1], _lq_variant(round_half_away), HALF_AWAY[1]),
     Variant(*HALF_UP[:1], _lq_variant(lambda v: np.floor(v + 0.5)), HALF_UP[1]),
     Variant("no_clamp", _lq_variant(clamp=False),
             "you do not clamp to [q_min, q_max] = [-2^(b-1), 2^(b-1) - 1]; values beyond the range must saturate"),
     Variant("minus_zero_point", _lq_variant(sign=-1),
             "you subtract the zero point; quantization adds it: q = rint(r / S) + Z"),
     Variant("int8_before_zero_point", _lq_int8_first,
             "you cast rint(r / S) to int8 before adding the zero point and clamping, so the sum wraps around "
             "(MIT's lab code does this); add Z and clamp in a wide type, then cast")],
)


def _linear_dequantize(quantized_tensor, scale, zero_point):
    q = np.asarray(quantized_tensor)
    qp = QParams(np.asarray(scale, dtype=np.float64), np.asarray(zero_point, dtype=np.int64), 8, "symmetric")
    return dequantize(q, qp, dtype=np.float64)


@st.composite
def _dq_inputs(draw):
    q = draw(int_arrays(shapes(max_dims=3), -128, 127))
    return {"quantized_tensor": q.astype(np.int8), "scale": draw(powers_of_two(-4, 2)),
            "zero_point": draw(st.integers(-128, 127))}


_task(
    "linear_dequantize", "linear_dequantize(quantized_tensor, scale, zero_point)",
    """The real values an integer grid stands for: ``r = S (q - Z)``.

    Parameters
    ----------
    quantized_tensor : ndarray of integers (int8), any shape
    scale : float > 0
    zero_point : int

    Returns
    -------
    ndarray of float (float64 is fine), the shape of ``quantized_tensor``. Compute ``q - Z``
    in a wide integer or float type: ``int8(-128) - 127`` overflows int8.
    """,
    _linear_dequantize, _dq_inputs(),
    [Example({"quantized_tensor": np.array([0, 3, 5, -128], dtype=np.int8), "scale": 0.5, "zero_point": 3},
             np.array([-1.5, 0.0, 1.0, -65.5]), "0.5 * (q - 3)")],
    [Variant("plus_zero_point", lambda quantized_tensor, scale, zero_point:
             (quantized_tensor.astype(np.float64) + zero_point) * scale,
             "you add the zero point; dequantization subtracts it: r = S (q - Z)"),
     Variant("zero_point_after_scale", lambda quantized_tensor, scale, zero_point:
             quantized_tensor.astype(np.float64) * scale - zero_point,
             "you subtract the zero point after scaling (S q - Z); it is subtracted first: S (q - Z)"),
     Variant("int8_overflow", lambda quantized_tensor, scale, zero_point:
             (quantized_tensor - np.int8(zero_point)).astype(np.float64) * scale,
             "your q - Z is computed in int8 and wraps around; widen q first (q.astype(np.int32) - Z)")],
    aliases=(("dequantize_int8", "TinyTorch"),),
)

# ------------------------------------------------------------------ scale and zero point


def _scale_and_zero_point(fp_tensor, bitwidth):
    x = np.asarray(fp_tensor, dtype=np.float64)
    qp = qparams_from_range(x.min(), x.max(), bitwidth, "affine")
    # the library's affine grid is unsigned [0, 2^b - 1]; the signed one is the same grid shifted by 2^(b-1)
    return float(qp.scale), int(qp.zero_point) - 2 ** (bitwidth - 1)


def _szp_variant(widen=True, denom_full=False, unsigned=False, rounder=np.rint):
    def fn(fp_tensor, bitwidth):
        lo, hi = float(np.min(fp_tensor)), float(np.max(fp_tensor))
        if widen:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        qmin, qmax = (0, 2**bitwidth - 1) if unsigned else (-(2 ** (bitwidth - 1)), 2 ** (bitwidth - 1) - 1)
        s = (hi - lo) / (2**bitwidth if denom_full else qmax - qmin)
        s = s if s > 0 else 1.0
        return s, int(np.clip(rounder(qmin - lo / s), qmin, qmax))
    return fn


@st.composite
def _szp_inputs(draw):
    kind = draw(st.sampled_from(["mixed", "positive", "negative", "zero", "constant"]))
    if kind == "constant":  # every element the same nonzero value
        c = draw(st.sampled_from([-600.0, -3.0, -0.5, 0.25, 2.0, 500.0]))
        return {"fp_tensor": np.full(draw(st.sampled_from([(1,), (2, 2), (3,)])), c), "bitwidth": draw(BITS)}
    lo, hi = {"mixed": (-64, 64), "positive": (1, 64), "negative": (-64, -1), "zero": (0, 0)}[kind]
    return {"fp_tensor": draw(grid_arrays(lo=lo, hi=hi, step=0.125, max_dims=3)), "bitwidth": draw(BITS)}


_SZP_DOC = """Affine (asymmetric) scale and zero point mapping the tensor's range onto signed ``bitwidth`` bits.

    With ``r_min = min(min(x), 0)`` and ``r_max = max(max(x), 0)`` (the range is first widened to
    contain 0, so that 0.0 is exactly representable, as PyTorch's observers do):

    ``S = (r_max - r_min) / (q_max - q_min)``,
    ``Z = clamp(rint(q_min - r_min / S), q_min, q_max)`` with ``[q_min, q_max] = [-2^(b-1), 2^(b-1) - 1]``.

    ``rint`` rounds half to even (Python's ``round``). An all-zero tensor gets ``S = 1`` and
    ``Z = q_min = -2^(b-1)`` (the same formula with S = 1).

    Returns
    -------
    (float, int)
        ``(scale, zero_point)``.
    """

_task(
    "get_quantization_scale_and_zero_point", "get_quantization_scale_and_zero_point(fp_tensor, bitwidth)",
    _SZP_DOC, _scale_and_zero_point, _szp_inputs(),
    [Example({"fp_tensor": np.array([-1.0, 0.0, 2.0, 4.0]), "bitwidth": 8}, (5 / 255, -77),
             "S = (4 - (-1)) / 255 = 1/51; Z = rint(-128 + 1 * 51) = -77"),
     Example({"fp_tensor": np.array([1.0, 3.0]), "bitwidth": 8}, (3 / 255, -128),
             "all positive: the range widens to [0, 3]; Z = rint(-128 - 0) = -128")],
    [Variant("no_zero_in_range", _szp_variant(widen=False),
             "you use the tensor's own [min, max]; this task first widens the range to contain 0 "
             "([min(x_min, 0), max(x_max, 0)], as PyTorch's observers do) so that 0.0 is exactly representable; "
             "MIT's lab skips this, which only matters when every value has the same sign"),
     Variant("unsigned_zero_point", _szp_variant(unsigned=True),
             "your zero point is for the unsigned range [0, 2^b - 1]; this task's integers are signed "
             "[-2^(b-1), 2^(b-1) - 1], so Z is 2^(b-1) lower"),
     Variant("divides_by_2_pow_b", _szp_variant(denom_full=True),
             "your scale divides the range by 2^b; there are 2^b - 1 steps between q_min and q_max"),
     Variant("truncated_zero_point", _szp_variant(rounder=np.trunc),
             "you truncate the zero point toward zero (int()); this task rounds it half to even (round())")],
)


def _linear_quantize_feature(fp_tensor, bitwidth):
    s, z = _scale_and_zero_point(fp_tensor, bitwidth)
    return _linear_quantize(fp_tensor, bitwidth, s, z), s, z


def _lqf_variant(widen):
    szp = _szp_variant(widen=widen)

    def fn(fp_tensor, bitwidth):
        s, z = szp(fp_tensor, bitwidth)
        return _linear_quantize(fp_tensor, bitwidth, s, z), s, z
    return fn


_task(
    "linear_quantize_feature", "linear_quantize_feature(fp_tensor, bitwidth)",
    """Quantize an activation tensor with its own affine scale and zero point (MIT lab 2).

    ``S, Z = get_quantization_scale_and_zero_point(fp_tensor, bitwidth)`` (range widened to
    contain 0), then ``q = linear_quantize(fp_tensor, bitwidth, S, Z)`` (round half to even,
    saturate to ``[-2^(b-1), 2^(b-1) - 1]``).

    Returns
    -------
    (ndarray of int8, float, int)
        ``(q, scale, zero_point)``.
    """,
    _linear_quantize_feature, _szp_inputs(),
    [Example({"fp_tensor": np.array([-1.0, 0.0, 4.0]), "bitwidth": 2}, (np.array([-2, -1, 1], dtype=np.int8),
                                                                        5 / 3, -1),
             "S = 5/3, Z = rint(-2 + 0.6) = -1; q = rint([-0.6, 0, 2.4]) - 1 = [-2, -1, 1]")],
    [Variant("no_zero_in_range", _lqf_variant(False),
             "you use the tensor's own [min, max]; this task widens the range to contain 0 first")],
)


def _quantize_int8(tensor):
    return _linear_quantize_feature(tensor, 8)


def _tinytorch_constant(tensor):
    lo, hi = float(np.min(tensor)), float(np.max(tensor))
    if lo != hi:
        return _quantize_int8(tensor)
    scale, zero_point = (1.0, 0) if lo == 0 else (abs(lo), -1 if lo > 0 else 1)
    return np.zeros(np.shape(tensor), dtype=np.int8), scale, zero_point


_task(
    "quantize_int8", "quantize_int8(tensor)",
    """Affine int8 quantization of a float array with its own min-max range.

    ``S = (r_max - r_min) / 255`` over the range widened to contain 0, ``Z = clamp(rint(-128 - r_min / S),
    -128, 127)``, ``q = clamp(rint(x / S) + Z, -128, 127)``; rounding half to even. TinyTorch's
    name and signature (module 17); unlike its hint, a constant tensor gets no special case: c > 0
    gives S = c / 255, Z = -128 and every code 127; an all-zero tensor gets S = 1, Z = -128.

    Returns
    -------
    (ndarray of int8, float, int)
        ``(q, scale, zero_point)``; dequantize with ``S (q - Z)``.
    """,
    _quantize_int8, st.fixed_dictionaries({"tensor": _szp_inputs().map(lambda d: d["fp_tensor"])}),
    [Example({"tensor": np.array([0.0, 1.0, 2.55])}, (np.array([-128, -28, 127], dtype=np.int8), 0.01, -128),
             "S = 2.55 / 255 = 0.01, Z = -128; 1.0 / 0.01 = 100 -> -28")],
    [Variant("symmetric", lambda tensor: (_linear_quantize(tensor, 8, *_sym_scale_zp(tensor)),
                                          *_sym_scale_zp(tensor)),
             "you quantize symmetrically (S = max|x| / 127, Z = 0); this task is affine: S = (max - min) / 255 "
             "with its own zero point"),
     Variant("constant_special_case", _tinytorch_constant,
             "your constant tensor gets a special case (codes 0, S = |c|, Z = -1 or +1; TinyTorch's hint); this "
             "task applies the general formula to the range widened to contain 0: a constant c > 0 gives "
             "S = c / 255, Z = -128, every code 127 (c = 0: S = 1, Z = -128)")],
)



def _sym_scale_zp(x):
    m = float(np.max(np.abs(x)))
    return (m / 127 if m > 0 else 1.0), 0


def _scale_for_weight(weight, bitwidth):
    w = np.asarray(weight, dtype=np.float64)
    return float(qparams_from_range(w.min(), w.max(), bitwidth, "symmetric").scale)


def _sfw_variant(how):
    def fn(weight, bitwidth):
        w = np.asarray(weight, dtype=np.float64)
        if how == "floor":
            return max(float(np.abs(w).max()), 5e-7) / (2 ** (bitwidth - 1) - 1)
        if how == "pow2":
            m = float(np.abs(w).max()) / 2 ** (bitwidth - 1)
        elif how == "max":
            m = max(float(w.max()), 0.0) / (2 ** (bitwidth - 1) - 1)
        return m if m > 0 else 1.0
    return fn


@st.composite
def _w_inputs(draw, max_dims=4):
    kind = draw(st.sampled_from(["mixed", "mixed", "negative", "zero"]))
    lo, hi = {"mixed": (-64, 64), "negative": (-64, -1), "zero": (0, 0)}[kind]
    return {"weight": draw(grid_arrays(lo=lo, hi=hi, step=0.125, max_dims=max_dims)), "bitwidth": draw(BITS)}


_task(
    "get_quantization_scale_for_weight", "get_quantization_scale_for_weight(weight, bitwidth)",
    """Symmetric scale of a weight tensor: ``S = max|w| / q_max`` with ``q_max = 2^(b-1) - 1``.

    Zero point 0; the grid is ``[-(2^(b-1) - 1), 2^(b-1) - 1]`` times S, so +-max|w| are exact.
    An all-zero tensor gets ``S = 1`` (MIT's lab floors max|w| at 5e-7 instead).

    Returns
    -------
    float
    """,
    _scale_for_weight, _w_inputs(),
    [Example({"weight": np.array([[0.5, -2.54], [1.0, 0.0]]), "bitwidth": 8}, 0.02, "2.54 / 127"),
     Example({"weight": np.zeros((2, 2)), "bitwidth": 4}, 1.0, "all zero: S = 1")],
    [Variant("divides_by_2_pow_b_minus_1", _sfw_variant("pow2"),
             "you divide max|w| by 2^(b-1) (128 at 8 bits); the symmetric scale divides by q_max = 2^(b-1) - 1"),
     Variant("max_not_abs", _sfw_variant("max"),
             "you use max(w); the symmetric scale uses max|w| so that the most negative weight fits too"),
     Variant("tiny_floor", _sfw_variant("floor"),
             "an all-zero tensor gets a tiny scale from a 5e-7 floor (MIT's lab); this task uses S = 1 for it")],
)


def _per_channel(tensor, bitwidth):
    qp = choose_qparams(tensor, bitwidth, "symmetric", axis=0)
    scale = qp.scale.reshape((-1,) + (1,) * (np.ndim(tensor) - 1))
    return quantize(tensor, qp), scale, 0


def _pc_variant(how):
    def fn(tensor, bitwidth):
        t = np.asarray(tensor, dtype=np.float64)
        qmax = 2 ** (bitwidth - 1) - 1
        if how == "per_tensor":
            m = np.full(t.shape[0], np.abs(t).max())
        else:
            m = np.abs(t).reshape(t.shape[0], -1).max(axis=1)
        s = np.maximum(m, 5e-7) / qmax if how == "tiny_floor" else np.where(m > 0, m / qmax, 1.0)
        shaped = s.reshape((-1,) + (1,) * (t.ndim - 1))
        q = np.clip(np.rint(t / shaped), -qmax - 1, qmax).astype(np.int8)
        return q, (s if how == "flat_scale" else shaped), 0
    return fn


_task(
    "linear_quantize_weight_per_channel", "linear_quantize_weight_per_channel(tensor, bitwidth)",
    """Symmetric per-output-channel weight quantization (MIT lab 2).

    For each output channel ``c = tensor[c]`` (axis 0): ``S_c = max|tensor[c]| / (2^(b-1) - 1)`` (1 if the
    channel is all zero), ``q = clamp(rint(tensor / S_c), -2^(b-1), 2^(b-1) - 1)``, zero point 0;
    rounding half to even.

    Parameters
    ----------
    tensor : ndarray of float, shape (C_out, ...) (Linear (out, in), Conv2d (C_out, C_in, kh, kw))
    bitwidth : int in 2..8

    Returns
    -------
    (ndarray of int8 like ``tensor``, ndarray of float of shape (C_out, 1, ..., 1), int)
        ``(q, scale, 0)``: the scale is shaped to broadcast against ``tensor``.
    """,
    _per_channel,
    _w_inputs(max_dims=4).map(lambda d: {"tensor": d["weight"], "bitwidth": d["bitwidth"]}),
    [Example({"tensor": np.array([[1.0, -0.5], [0.0, 0.0], [3.0, 2.0]]), "bitwidth": 3},
             (np.array([[3, -2], [0, 0], [3, 2]], dtype=np.int8), np.array([[1 / 3], [1.0], [1.0]]), 0),
             "q_max = 3: S = 1/3, 1 (zero row), 1; -0.5 / (1/3) = -1.5 -> -2 (half to even)")],
    [Variant("per_tensor", _pc_variant("per_tensor"),
             "you use one scale for the whole tensor; per-channel uses one per output channel (axis 0)"),
     Variant("flat_scale", _pc_variant("flat_scale"),
             "your scale has shape (C_out,); this task returns it shaped (C_out, 1, ..., 1) so that it "
             "broadcasts against the weight (as MIT's lab does)"),
     Variant("tiny_floor", _pc_variant("tiny_floor"),
             "an all-zero channel gets a tiny scale from a 5e-7 floor (MIT's lab); this task uses S = 1 for it")],
)

# ------------------------------------------------------------------ bias


def _bias(bias, weight_scale, input_scale):
    s = np.asarray(weight_scale, dtype=np.float64).reshape(-1) * input_scale
    return quantize_bias(bias, input_scale, weight_scale), s, 0


def _bias_variant(how):
    def fn(bias, weight_scale, input_scale):
        s = np.asarray(weight_scale, dtype=np.float64).reshape(-1) * input_scale
        if how == "no_input_scale":
            q = np.rint(bias / np.asarray(weight_scale, dtype=np.float64).reshape(-1))
        elif how == "int8":
            q = np.clip(np.rint(bias / s), -128, 127)
        else:
            q = np.trunc(bias / s)
        return np.clip(q, -(2**31), 2**31 - 1).astype(np.int32), s, 0
    return fn


@st.composite
def _bias_inputs(draw):
    c = draw(st.integers(1, 5))
    ws = np.array(draw(st.lists(powers_of_two(-6, 0), min_size=c, max_size=c)))
    if draw(st.booleans()):
        ws = ws.reshape(c, 1, 1, 1)
    return {"bias": draw(grid_arrays((c,), lo=-200, hi=200, step=1 / 16)), "weight_scale": ws,
            "input_scale": draw(powers_of_two(-5, 0))}


_task(
    "linear_quantize_bias_per_output_channel", "linear_quantize_bias_per_output_channel(bias, weight_scale, "
    "input_scale)",
    """A bias as int32 in accumulator units: ``q_b = clamp(rint(b / (S_in S_w)), -2^31, 2^31 - 1)`` (MIT lab 2).

    The accumulator ``sum q_x q_w`` counts in units of ``S_in S_w[c]``, so the bias of channel
    c uses that scale and zero point 0. Rounding half to even.

    Parameters
    ----------
    bias : ndarray of float, shape (C,)
    weight_scale : ndarray of float with C values (shape (C,) or (C, 1, ...))
    input_scale : float

    Returns
    -------
    (ndarray of int32 (C,), ndarray of float (C,), int)
        ``(q_b, S_in * S_w (flattened), 0)``.
    """,
    _bias, _bias_inputs(),
    [Example({"bias": np.array([0.3, -1.0, 0.0]), "weight_scale": np.array([0.1, 0.25, 1.0]),
              "input_scale": 0.5},
             (np.array([6, -8, 0], dtype=np.int32), np.array([0.05, 0.125, 0.5]), 0),
             "0.3 / 0.05 = 6; -1 / 0.125 = -8")],
    [Variant("no_input_scale", _bias_variant("no_input_scale"),
             "you divide the bias by S_w only; its scale is S_in * S_w, the unit of the int32 accumulator"),
     Variant("int8_bias", _bias_variant("int8"),
             "you clamp the bias to 8 bits; a bias is int32 (it is added to the int32 accumulator)"),
     Variant("truncates", _bias_variant("trunc"),
             "you truncate b / (S_in S_w) toward zero; this task rounds half to even (np.rint)")],
)

# ------------------------------------------------------------------ integer layers (MIT lab 2)


def _shift_variant(how):
    def fn(quantized_bias, quantized_weight, input_zero_point):
        w = quantized_weight.astype(np.int64)
        col = w.reshape(w.shape[0], -1).sum(axis=1) if how != "wrong_axis" else w.sum(axis=0).reshape(-1)
        sign = 1 if how == "adds" else -1
        return (quantized_bias.astype(np.int64) + sign * input_zero_point * col).astype(np.int32)
    return fn


@st.composite
def _shift_inputs(draw, conv):
    co, ci = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    shape = (co, ci, draw(st.integers(1, 3)), draw(st.integers(1, 3))) if conv else (co, ci)
    return {"quantized_bias": draw(int_arrays((co,), -5000, 5000, np.int32)),
            "quantized_weight": draw(int_arrays(shape, -127, 127, np.int8)),
            "input_zero_point": draw(st.integers(-128, 127))}


_SHIFT_DOC = """Fold the input zero point into the int32 bias (MIT lab 2): ``b - Z_in * sum(w[c])`` per output channel.

    ``sum_k (x_k - Z_in) w_ck + b_c = sum_k x_k w_ck + (b_c - Z_in sum_k w_ck)``: with this shifted
    bias the layer multiplies the raw integers. The sum runs over every axis but the first
    ({axes}). Compute it in a wide type (int32 or int64).

    Parameters
    ----------
    quantized_bias : ndarray of int32, shape (C_out,)
    quantized_weight : ndarray of int8, shape {shape}
    input_zero_point : int

    Returns
    -------
    ndarray of int32, shape (C_out,)
    """

_SHIFT_VARIANTS = (
    ("adds", "you add Z_in * sum(w); the shift subtracts it: b - Z_in * sum(w)"),
    ("wrong_axis", "you sum the weight over the output axis (axis 0); each output channel's sum runs over its own "
                   "weights, w[c].sum()"),
)

_task(
    "shift_quantized_linear_bias", "shift_quantized_linear_bias(quantized_bias, quantized_weight, input_zero_point)",
    _SHIFT_DOC.format(axes="(out, in): sum over in", shape="(out, in)"),
    lambda quantized_bias, quantized_weight, input_zero_point: shift_bias(quantized_bias, quantized_weight,
                                                                          input_zero_point),
    _shift_inputs(conv=False),
    [Example({"quantized_bias": np.array([4, -2], dtype=np.int32),
              "quantized_weight": np.array([[2, 4], [-1, 1]], dtype=np.int8), "input_zero_point": 1},
             np.array([-2, -2], dtype=np.int32), "4 - 1 * (2 + 4) = -2; -2 - 1 * (-1 + 1) = -2")],
    [Variant(name, _shift_variant(name), diag) for name, diag in _SHIFT_VARIANTS],
)

_task(
    "shift_quantized_conv2d_bias", "shift_quantized_conv2d_bias(quantized_bias, quantized_weight, input_zero_point)",
    _SHIFT_DOC.format(axes="(C_out, C_in, kh, kw): sum over C_in, kh, kw", shape="(C_out, C_in, kh, kw)"),
    lambda quantized_bias, quantized_weight, input_zero_point: shift_bias(quantized_bias, quantized_weight,
                                                                          input_zero_point),
    _shift_inputs(conv=True),
    [Example({"quantized_bias": np.array([3], dtype=np.int32),
              "quantized_weight": np.array([[[[1, 2]]]], dtype=np.int8), "input_zero_point": 5},
             np.array([-12], dtype=np.int32), "3 - 5 * (1 + 2) = -12")],
    [Variant(name, _shift_variant(name), diag) for name, diag in _SHIFT_VARIANTS],
)


def _requant_scale(input_scale, weight_scale, output_scale, n):
    s = input_scale * np.asarray(weight_scale, dtype=np.float64).reshape(-1) / output_scale
    return np.broadcast_to(s, (n,)).copy()


def _unshifted(bias, weight, input_zero_point):
    """The plain int32 bias behind MIT's shifted one (the library's kernels subtract Z_in themselves)."""
    b = np.zeros(weight.shape[0], np.int32) if bias is None else np.asarray(bias, np.int32)
    return shift_bias(b, np.asarray(weight), -int(input_zero_point))


def _quantized_linear(input, weight, bias, feature_bitwidth, weight_bitwidth, input_zero_point,  # noqa: A002
                      output_zero_point, input_scale, weight_scale, output_scale):
    w = np.ascontiguousarray(np.asarray(weight, dtype=np.int8).T)
    x = np.ascontiguousarray(np.asarray(input, dtype=np.int8))
    scale = _requant_scale(input_scale, weight_scale, output_scale, w.shape[1])
    y = kernels.qlinear(x, w, _unshifted(bias, weight, input_zero_point), int(input_zero_point), scale,
                        int(output_zero_point), np.int8)
    lo, hi = qrange(feature_bitwidth, "symmetric")
    return np.clip(y, lo, hi).astype(np.int8)


def _ql_variant(subtract_zp=False, add_out_zp=True, rounder=np.rint, clamp=True, bias_after=False):
    def fn(input, weight, bias, feature_bitwidth, weight_bitwidth, input_zero_point,  # noqa: A002
           output_zero_point, input_scale, weight_scale, output_scale):
        x = input.astype(np.int64) - (input_zero_point if subtract_zp else 0)
        acc = x @ weight.astype(np.int64).T
        b = np.zeros(weight.shape[0], np.int64) if bias is None else bias.astype(np.int64)
        m = _requant_scale(input_scale, weight_scale, output_scale, weight.shape[0])
        y = rounder(acc * m + b) if bias_after else rounder((acc + b) * m)
        y = y + (output_zero_point if add_out_zp else 0)
        if clamp:
            y = np.clip(y, -(2 ** (feature_bitwidth - 1)), 2 ** (feature_bitwidth - 1) - 1)
        return y.astype(np.int64)
    return fn


def _int_layer_ranges(draw):
    """Full int8 ranges, or small integers and a multiplier of 1/2 or 1/4 so that outputs land exactly
    on .5 (rounding ties) without saturating."""
    if draw(st.booleans()):
        return dict(v=8, zp=8, bias=20, s_in=(-1, -1), s_w=(-1, 0), s_out=(0, 0))
    return dict(v=128, zp=128, bias=3000, s_in=(-3, 0), s_w=(-9, -3), s_out=(-3, 1))


@st.composite
def _ql_inputs(draw):
    n, k, c = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    r = _int_layer_ranges(draw)
    bias = draw(st.one_of(st.none(), int_arrays((c,), -r["bias"], r["bias"], np.int32)))
    return {"input": draw(int_arrays((n, k), -r["v"], r["v"] - 1, np.int8)),
            "weight": draw(int_arrays((c, k), -r["v"] + 1, r["v"] - 1, np.int8)),
            "bias": bias, "feature_bitwidth": 8, "weight_bitwidth": 8,
            "input_zero_point": draw(st.integers(-r["zp"], r["zp"] - 1)),
            "output_zero_point": draw(EVEN(-r["zp"], r["zp"] - 1)),
            "input_scale": draw(powers_of_two(*r["s_in"])),
            "weight_scale": np.array(draw(st.lists(powers_of_two(*r["s_w"]), min_size=c, max_size=c))),
            "output_scale": draw(powers_of_two(*r["s_out"]))}


_QL_SIG = ("(input, weight, bias, feature_bitwidth, weight_bitwidth, input_zero_point, output_zero_point, "
           "input_scale, weight_scale, output_scale")
_DOUBLE_ZP = ("subtracts_zero_point_twice",
              "you subtract the input zero point, but the bias you are given is already shifted "
              "(shift_quantized_*_bias folded -Z_in * sum(w) into it): Z_in is counted twice; multiply the raw "
              "integers")

_task(
    "quantized_linear", "quantized_linear" + _QL_SIG + ")",
    """An integer fully connected layer: int8 in, int8 out, int32 accumulation (MIT 6.5940 lab 2).

    ``acc = input @ weight.T + bias`` exactly in int32 (or wider), then
    ``y = clamp(rint(acc * S_in S_w[c] / S_out) + Z_out, -2^(f-1), 2^(f-1) - 1)`` with f = feature_bitwidth.
    As in MIT's lab, ``bias`` is the SHIFTED bias (``shift_quantized_linear_bias``: the input zero
    point is already folded into it), so the raw integers are multiplied; ``bias=None`` means no
    bias and then ``input_zero_point`` plays no part.

    Parameters
    ----------
    input : ndarray of int8, shape (N, in)
    weight : ndarray of int8, shape (out, in) (symmetric: zero point 0)
    bias : ndarray of int32, shape (out,), shifted, or None
    feature_bitwidth, weight_bitwidth : int (8)
    input_zero_point, output_zero_point : int
    input_scale, output_scale : float
    weight_scale : ndarray of float with ``out`` values (per output channel)

    Returns
    -------
    ndarray of int8, shape (N, out). Rounding half to even (``torch.round``, ``np.rint``).
    """ + ZP_ORDER,
    _quantized_linear, _ql_inputs(),
    [Example({"input": np.array([[3, -1]], dtype=np.int8), "weight": np.array([[2, 4], [-1, 1]], dtype=np.int8),
              "bias": np.array([-2, -2], dtype=np.int32), "feature_bitwidth": 8, "weight_bitwidth": 8,
              "input_zero_point": 1, "output_zero_point": -5, "input_scale": 0.5,
              "weight_scale": np.array([0.25, 0.5]), "output_scale": 0.125},
             np.array([[-5, -17]], dtype=np.int8),
             "x @ W.T = [6 - 4, -3 - 1] = [2, -4]; + shifted bias [-2, -2] = [0, -6]; M = 0.5 * [0.25, 0.5] / "
             "0.125 = [1, 2]; rint([0, -12]) - 5 = [-5, -17]")],
    [Variant(_DOUBLE_ZP[0], _ql_variant(subtract_zp=True), _DOUBLE_ZP[1]),
     Variant("no_output_zero_point", _ql_variant(add_out_zp=False),
             "you do not add the output zero point Z_out after rescaling"),
     Variant(*HALF_AWAY[:1], _ql_variant(rounder=round_half_away), HALF_AWAY[1]),
     Variant("no_saturation", _ql_variant(clamp=False),
             "you do not saturate the output to [-2^(f-1), 2^(f-1) - 1]"),
     Variant("bias_after_scale", _ql_variant(bias_after=True),
             "you add the bias after rescaling; the int32 bias is in accumulator units and is added before")],
)


def _pads(stride, padding, dilation, groups):
    if groups != 1 or tuple(np.broadcast_to(dilation, (2,))) != (1, 1):
        raise InputError("this task supports groups=1 and dilation=1 only")
    sh, sw = np.broadcast_to(stride, (2,))
    if np.ndim(padding) == 0:
        ph = pw = int(padding)
    else:
        left, right, top, bottom = padding
        if left != right or top != bottom:
            raise InputError("padding must be symmetric: (left, right, top, bottom) with left == right, "
                             "top == bottom")
        ph, pw = int(top), int(left)
    return (int(sh), int(sw)), (ph, pw)


def _quantized_conv2d(input, weight, bias, feature_bitwidth, weight_bitwidth, input_zero_point,  # noqa: A002
                      output_zero_point, input_scale, weight_scale, output_scale, stride=1, padding=0,
                      dilation=1, groups=1):
    (sh, sw), (ph, pw) = _pads(stride, padding, dilation, groups)
    x = np.asarray(input, dtype=np.int8)
    w = np.asarray(weight, dtype=np.int8)
    n, (co, _, kh, kw) = x.shape[0], w.shape
    cols = kernels.im2col(x, (kh, kw), (sh, sw), (ph, pw), pad_value=int(input_zero_point))
    y = _quantized_linear(cols, w.reshape(co, -1), bias, feature_bitwidth, weight_bitwidth, input_zero_point,
                          output_zero_point, input_scale, weight_scale, output_scale)
    oh = (x.shape[2] + 2 * ph - kh) // sh + 1
    ow = (x.shape[3] + 2 * pw - kw) // sw + 1
    return np.ascontiguousarray(y.reshape(n, oh, ow, co).transpose(0, 3, 1, 2))


def _qc_variant(pad_value=None, subtract_zp=False, rounder=np.rint):
    def fn(input, weight, bias, feature_bitwidth, weight_bitwidth, input_zero_point,  # noqa: A002
           output_zero_point, input_scale, weight_scale, output_scale, stride=1, padding=0, dilation=1,
           groups=1):
        (sh, sw), (ph, pw) = _pads(stride, padding, dilation, groups)
        zp = input_zero_point if pad_value is None else pad_value
        x = np.pad(input.astype(np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=zp)
        x = x - (input_zero_point if subtract_zp else 0)
        co, _, kh, kw = weight.shape
        oh, ow = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
        acc = np.zeros((x.shape[0], co, oh, ow), np.int64)
        for i in range(oh):
            for j in range(ow):
                patch = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                acc[:, :, i, j] = np.tensordot(patch, weight.astype(np.int64), axes=([1, 2, 3], [1, 2, 3]))
        if bias is not None:
            acc = acc + bias.astype(np.int64)[None, :, None, None]
        m = _requant_scale(input_scale, weight_scale, output_scale, co)[None, :, None, None]
        y = rounder(acc * m) + output_zero_point
        return np.clip(y, -(2 ** (feature_bitwidth - 1)), 2 ** (feature_bitwidth - 1) - 1).astype(np.int64)
    return fn


@st.composite
def _qc_inputs(draw):
    n, ci, co = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s, ph, pw = draw(st.integers(1, 2)), draw(st.integers(0, 1)), draw(st.integers(0, 1))
    h, w = draw(st.integers(max(kh - 2 * ph, 1), 5)), draw(st.integers(max(kw - 2 * pw, 1), 5))
    r = _int_layer_ranges(draw)
    bias = draw(st.one_of(st.none(), int_arrays((co,), -r["bias"], r["bias"], np.int32)))
    return {"input": draw(int_arrays((n, ci, h, w), -r["v"], r["v"] - 1, np.int8)),
            "weight": draw(int_arrays((co, ci, kh, kw), -r["v"] + 1, r["v"] - 1, np.int8)),
            "bias": bias, "feature_bitwidth": 8, "weight_bitwidth": 8,
            "input_zero_point": draw(st.integers(-r["zp"], r["zp"] - 1)),
            "output_zero_point": draw(EVEN(-r["zp"], r["zp"] - 1)),
            "input_scale": draw(powers_of_two(*r["s_in"])),
            "weight_scale": np.array(draw(st.lists(powers_of_two(*r["s_w"]), min_size=co, max_size=co))),
            "output_scale": draw(powers_of_two(*r["s_out"])), "stride": (s, s), "padding": (pw, pw, ph, ph),
            "dilation": (1, 1), "groups": 1}


_task(
    "quantized_conv2d", "quantized_conv2d" + _QL_SIG + ", stride, padding, dilation, groups)",
    """An integer 2-D convolution: int8 in, int8 out, int32 accumulation (MIT 6.5940 lab 2).

    The input is padded with ``Z_in`` (the integer that means 0.0: the shifted bias assumes every
    input, padding included, carries Z_in), then for every output position
    ``acc = sum x * w + bias[c]`` exactly on the raw integers, and
    ``y = clamp(rint(acc * S_in S_w[c] / S_out) + Z_out, -2^(f-1), 2^(f-1) - 1)``.

    Parameters
    ----------
    input : ndarray of int8, shape (N, C_in, H, W)
    weight : ndarray of int8, shape (C_out, C_in, kh, kw)
    bias : ndarray of int32, shape (C_out,), SHIFTED (``shift_quantized_conv2d_bias``), or None
    stride : (int, int)
    padding : (left, right, top, bottom) as ``torch.nn.functional.pad`` takes it (symmetric here)
    dilation : (1, 1);  groups : 1
    other parameters as in ``quantized_linear``.

    Returns
    -------
    ndarray of int8, shape (N, C_out, OH, OW), OH = (H + top + bottom - kh) // stride + 1.
    Rounding half to even.
    """ + ZP_ORDER,
    _quantized_conv2d, _qc_inputs(),
    [Example({"input": np.array([[[[5, 7]]]], dtype=np.int8), "weight": np.array([[[[1, 2]]]], dtype=np.int8),
              "bias": np.array([-12], dtype=np.int32), "feature_bitwidth": 8, "weight_bitwidth": 8,
              "input_zero_point": 5, "output_zero_point": 2, "input_scale": 1.0,
              "weight_scale": np.array([0.5]), "output_scale": 1.0, "stride": (1, 1), "padding": (1, 1, 0, 0),
              "dilation": (1, 1), "groups": 1},
             np.array([[[[4, 6, 4]]]], dtype=np.int8),
             "padded with Z_in: [5, 5, 7, 5]; windows . [1, 2] = [15, 19, 17]; + shifted bias -12 = [3, 7, 5]; "
             "* 0.5 = [1.5, 3.5, 2.5] -> rint [2, 4, 2] -> + Z_out 2 = [4, 6, 4]")],
    [Variant("pads_with_zero", _qc_variant(pad_value=0),
             "you pad the input with 0; pad with the input zero point Z_in, the integer that means 0.0 (the "
             "shifted bias counts Z_in for every input position, padding included)"),
     Variant(_DOUBLE_ZP[0], _qc_variant(subtract_zp=True), _DOUBLE_ZP[1]),
     Variant(*HALF_AWAY[:1], _qc_variant(rounder=round_half_away), HALF_AWAY[1])],
)

# ------------------------------------------------------------------ requantization multiplier


def _qm_variant(how):
    def fn(multiplier):
        q, shift = np.frexp(float(multiplier))
        if how == "rint":
            m0 = int(np.rint(q * 2.0**31))
        else:
            m0 = int(np.floor(q * 2.0**31 + 0.5))
        if m0 == 2**31 and how != "no_renormalize":
            m0, shift = 2**30, shift + 1
        if how == "negated_shift":
            return m0, -int(shift)
        return m0, int(shift)
    return fn


_task(
    "quantize_multiplier", "quantize_multiplier(multiplier)",
    """A requantization multiplier M > 0 as an int32 mantissa and a power-of-two exponent (TFLite).

    ``M ~= M0 * 2^(shift - 31)`` with ``M0`` in ``[2^30, 2^31)``: ``M = q * 2^shift`` with q in
    [0.5, 1) (``math.frexp``), ``M0 = floor(q * 2^31 + 1/2)`` (round half up: C's ``std::round``
    of a positive number), and if that gives 2^31, ``M0 = 2^30`` and ``shift + 1``. ``shift`` is
    negative for M < 0.5 (a right shift), positive for M >= 1.

    Returns
    -------
    (int, int)
        ``(M0, shift)``.
    """,
    lambda multiplier: quantize_multiplier(multiplier),
    st.fixed_dictionaries({"multiplier": st.one_of(
        st.floats(1e-6, 1e3, allow_nan=False, allow_infinity=False),
        powers_of_two(-20, 8),
        st.integers(0, 2**20 - 1).map(lambda k: (2**31 - 0.5 + k * 2.0**-21) / 2**31),  # rounds up to 2^31
        st.integers(2**30, 2**31 - 1).map(lambda m: (m + 0.5) * 2.0**-40))}),
    [Example({"multiplier": 0.75}, (3 * 2**29, 0), "0.75 = 0.75 * 2^0; 0.75 * 2^31 = 1610612736"),
     Example({"multiplier": 0.1875}, (3 * 2**29, -2), "0.1875 = 0.75 * 2^-2"),
     Example({"multiplier": 2.0}, (2**30, 2), "2 = 0.5 * 2^2")],
    [Variant("negated_shift", _qm_variant("negated_shift"),
             "your shift has the opposite sign: this task returns the exponent with M = M0 * 2^(shift - 31) "
             "(negative = shift right), as TFLite's QuantizeMultiplier"),
     Variant("no_renormalize", _qm_variant("no_renormalize"),
             "q * 2^31 rounded up to 2^31, which does not fit int32: halve it to 2^30 and add 1 to the shift"),
     Variant("round_half_even", _qm_variant("rint"),
             "you round q * 2^31 half to even (np.rint); this task rounds half up (std::round), as TFLite")],
)

# ------------------------------------------------------------------ fake quantization


def _fake_quantize(input, scale, zero_point, quant_min, quant_max):  # noqa: A002
    x = Tensor(np.asarray(input, dtype=np.float64))
    return fake_quantize(x, scale=scale, zero_point=zero_point, qmin=quant_min, qmax=quant_max).data


def _fq_variant(rounder=np.rint, clamp=True, subtract=True):
    def fn(input, scale, zero_point, quant_min, quant_max):  # noqa: A002
        q = rounder(input / scale) + zero_point
        if clamp:
            q = np.clip(q, quant_min, quant_max)
        return (q - (zero_point if subtract else 0)) * scale
    return fn


@st.composite
def _fq_inputs(draw, grad=False):
    qmin, qmax = draw(st.sampled_from([(-128, 127), (0, 255), (-8, 7), (0, 15), (-1, 1)]))
    scale = draw(powers_of_two(-3, 1))
    z = draw(EVEN(qmin, qmax))
    x = draw(grid_arrays(lo=4 * (qmin - z) - 9, hi=4 * (qmax - z) + 9, step=scale / 4, max_dims=3))
    d = {"input": x, "scale": scale, "zero_point": z, "quant_min": qmin, "quant_max": qmax}
    if grad:
        d = {"input": x, "grad_output": draw(grid_arrays(x.shape, lo=-8, hi=8, step=0.5)), "scale": scale,
             "zero_point": z, "quant_min": qmin, "quant_max": qmax}
    return d


_task(
    "fake_quantize", "fake_quantize(input, scale, zero_point, quant_min, quant_max)",
    """Quantize and dequantize in one step (the forward pass of QAT):
    ``y = (clamp(rint(x / S) + Z, quant_min, quant_max) - Z) * S``.

    Same arguments as ``torch.fake_quantize_per_tensor_affine``. Rounding half to even
    (``np.rint``, as PyTorch's ``nearbyint``). Returns a float array shaped like ``input``.
    """ + ZP_ORDER,
    _fake_quantize, _fq_inputs(),
    [Example({"input": np.array([-3.0, 0.25, 0.75, 1.0, 9.0]), "scale": 0.5, "zero_point": 2, "quant_min": 0,
              "quant_max": 15}, np.array([-1.0, 0.0, 1.0, 1.0, 6.5]),
             "x/S = -6, 0.5, 1.5, 2, 18 -> rint -6, 0, 2, 2, 18 -> +2 clamp [0, 15] -> 0, 2, 4, 4, 15 -> "
             "(q - 2) * 0.5")],
    [Variant("no_clamp", _fq_variant(clamp=False),
             "you do not clamp q to [quant_min, quant_max]: values outside the range must saturate"),
     Variant(*HALF_AWAY[:1], _fq_variant(rounder=round_half_away), HALF_AWAY[1]),
     Variant("zero_point_kept", _fq_variant(subtract=False),
             "you multiply q (with its zero point) by S; dequantize with (q - Z) * S")],
    aliases=(("fake_quantize_per_tensor_affine", "PyTorch"),),
)


def _fake_quantize_backward(input, grad_output, scale, zero_point, quant_min, quant_max):  # noqa: A002
    x = Tensor(np.asarray(input, dtype=np.float64), requires_grad=True)
    y = fake_quantize(x, scale=scale, zero_point=zero_point, qmin=quant_min, qmax=quant_max)
    y.backward(np.asarray(grad_output, dtype=np.float64))
    return x.grad


def _fqb_variant(how):
    def fn(input, grad_output, scale, zero_point, quant_min, quant_max):  # noqa: A002
        if how == "identity":
            return grad_output.astype(np.float64)
        if how == "zero":
            return np.zeros_like(grad_output, dtype=np.float64)
        v = input / scale + zero_point
        return np.where((v >= quant_min) & (v <= quant_max), grad_output, 0.0)
    return fn


_task(
    "fake_quantize_backward", "fake_quantize_backward(input, grad_output, scale, zero_point, quant_min, quant_max)",
    """The straight-through estimator: the gradient of ``fake_quantize`` with respect to ``input``.

    ``grad_input = grad_output`` where ``quant_min <= rint(x / S) + Z <= quant_max`` and 0 where the value
    was clamped (rint has derivative 0 almost everywhere; the STE treats it as the identity).
    The test is on the ROUNDED value (as PyTorch's ``fake_quantize_per_tensor_affine`` backward).

    Returns
    -------
    ndarray of float, shape of ``input``.
    """,
    _fake_quantize_backward, _fq_inputs(grad=True),
    [Example({"input": np.array([-1.25, -1.0, 0.0, 3.5, 3.75]), "grad_output": np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
              "scale": 0.5, "zero_point": 2, "quant_min": 0, "quant_max": 9},
             np.array([1.0, 2.0, 3.0, 4.0, 0.0]),
             "x/S = -2.5, -2, 0, 7, 7.5 -> rint -2, -2, 0, 7, 8 -> + Z = 0, 0, 2, 9, 10: only the last is "
             "outside [0, 9] (before rounding, -0.5 would have been outside too)")],
    [Variant("identity", _fqb_variant("identity"),
             "your gradient passes everywhere; the straight-through estimator is 0 where the value was clamped"),
     Variant("zero", _fqb_variant("zero"),
             "your gradient is the true derivative of rint (0 almost everywhere); the straight-through estimator "
             "passes grad_output unchanged inside the range"),
     Variant("mask_before_rounding", _fqb_variant("unrounded"),
             "you test x / S + Z against the range before rounding; this task tests the rounded value "
             "rint(x / S) + Z (PyTorch), so q_max + 0.4 still passes the gradient")],
)

# ------------------------------------------------------------------ int4 packing


def _int4_qp():
    return _qp(1.0, 0, 4)


def _pack_int4(values):
    q = np.asarray(values).astype(np.int8).reshape(-1)
    return QuantizedTensor(q, _int4_qp()).packed()


def _unpack_int4(packed, count):
    return QuantizedTensor.from_packed(packed, _int4_qp(), (int(count),)).q


def _nibbles(values, twos, high_first):
    v = np.asarray(values, dtype=np.int64).reshape(-1)
    v = (v & 0xF) if twos else v + 8
    if v.size % 2:
        v = np.append(v, 0)
    a, b = v[0::2], v[1::2]
    return ((a << 4 | b) if high_first else (b << 4 | a)).astype(np.uint8)


def _un_nibbles(packed, count, twos, high_first):
    p = np.asarray(packed, dtype=np.int64)
    hi, lo = p >> 4, p & 0xF
    v = np.stack([hi, lo] if high_first else [lo, hi], axis=1).reshape(-1)[:count]
    return np.where(v >= 8, v - 16, v) if twos else v - 8


_task(
    "pack_int4", "pack_int4(values)",
    """Pack signed 4-bit integers two per byte.

    Each value v in [-8, 7] is stored as the nibble ``v + 8`` (offset binary: -8 -> 0x0, 0 -> 0x8,
    7 -> 0xF); the first value of each pair goes in the LOW nibble (bits 0-3, least significant
    bit first, the order of ONNX's int4 and PyTorch's quint4x2); an odd count is padded with a 0
    nibble. This is how minicompress stores 4-bit weights (``QuantizedTensor.packed``).

    Parameters
    ----------
    values : ndarray of integers in [-8, 7], any shape (read in C order)

    Returns
    -------
    ndarray of uint8, shape (ceil(n / 2),)
    """,
    _pack_int4, st.fixed_dictionaries({"values": int_arrays(shapes(max_dims=2, min_side=0, max_side=7), -8, 7)}),
    [Example({"values": np.array([-8, 7, 0])}, np.array([0xF0, 0x08], dtype=np.uint8),
             "-8 -> 0x0 (low), 7 -> 0xF (high) -> 0xF0; 0 -> 0x8 (low), pad 0 (high) -> 0x08")],
    [Variant("twos_complement", lambda values: _nibbles(values, True, False),
             "you store two's complement nibbles (v & 0xF: -1 -> 0xF, ONNX's int4); this task stores v + 8 "
             "(offset binary: -8 -> 0x0)"),
     Variant("high_nibble_first", lambda values: _nibbles(values, False, True),
             "you put the first value in the HIGH nibble; this task puts it in the low nibble (least significant "
             "bits first, as ONNX and PyTorch's quint4x2)")],
)

_task(
    "unpack_int4", "unpack_int4(packed, count)",
    """Inverse of ``pack_int4``: the first ``count`` signed 4-bit values from the packed bytes.

    Nibble ``n`` means ``n - 8``; the LOW nibble of each byte comes first.

    Returns
    -------
    ndarray of integers in [-8, 7], shape (count,)
    """,
    _unpack_int4,
    int_arrays(shapes(max_dims=1, min_side=0, max_side=6), 0, 255, np.uint8).flatmap(
        lambda p: st.integers(max(2 * p.size - 1, 0), 2 * p.size).map(lambda c: {"packed": p, "count": c})),
    [Example({"packed": np.array([0xF0, 0x08], dtype=np.uint8), "count": 3}, np.array([-8, 7, 0]),
             "0xF0: low 0x0 -> -8, high 0xF -> 7; 0x08: low 0x8 -> 0 (the high pad nibble is not read)")],
    [Variant("twos_complement", lambda packed, count: _un_nibbles(packed, count, True, False),
             "you read two's complement nibbles (0xF -> -1); this task's nibbles are offset binary (n - 8)"),
     Variant("high_nibble_first", lambda packed, count: _un_nibbles(packed, count, False, True),
             "you read the HIGH nibble first; this task stores the first value in the low nibble")],
)

# ------------------------------------------------------------------ observers


def _observe(observer, batches):
    for b in batches:
        observer.observe(b)
    return float(observer.min), float(observer.max)


_BATCHES = st.lists(grid_arrays(lo=-64, hi=64, step=0.25, max_dims=2), min_size=1, max_size=4)

_task(
    "minmax_observer", "minmax_observer(batches)",
    """The range a min-max observer records over calibration batches: (smallest value, largest value) seen.

    Parameters
    ----------
    batches : list of ndarray (each non-empty, any shape)

    Returns
    -------
    (float, float)
        ``(min over all batches, max over all batches)``, not widened to contain 0 (the
        quantization parameters do that later). Like ``torch.ao.quantization.MinMaxObserver``.
    """,
    lambda batches: _observe(MinMaxObserver(), batches),
    st.fixed_dictionaries({"batches": _BATCHES}),
    [Example({"batches": [np.array([1.0, 3.0]), np.array([-2.0, 0.5])]}, (-2.0, 3.0))],
    [Variant("last_batch", lambda batches: (float(np.min(batches[-1])), float(np.max(batches[-1]))),
             "you keep only the last batch's range; a min-max observer keeps the extremes of every batch"),
     Variant("mean_of_batches", lambda batches: (float(np.mean([np.min(b) for b in batches])),
                                                 float(np.mean([np.max(b) for b in batches]))),
             "you average the batches' ranges; a min-max observer keeps the extremes")],
)


def _ma_variant(how):
    def fn(batches, averaging_constant=0.01):
        c = averaging_constant
        w_old, w_new = (c, 1 - c) if how == "swapped" else (1 - c, c)
        lo = hi = 0.0 if how == "from_zero" else None
        for b in batches:
            bl, bh = float(np.min(b)), float(np.max(b))
            if lo is None:
                lo, hi = bl, bh
            else:
                lo, hi = w_old * lo + w_new * bl, w_old * hi + w_new * bh
        return lo, hi
    return fn


_task(
    "moving_average_observer", "moving_average_observer(batches, averaging_constant=0.01)",
    """The range a moving-average observer records: an exponential moving average of each batch's min and max.

    The first batch's (min, max) is taken as is; each later batch updates
    ``r <- r + c (r_batch - r) = (1 - c) r + c r_batch`` with c = ``averaging_constant``, the
    weight of the NEW batch, as PyTorch's ``MovingAverageMinMaxObserver`` (default 0.01).

    Returns
    -------
    (float, float)
    """,
    lambda batches, averaging_constant=0.01: _observe(MovingAverageObserver(averaging_constant=averaging_constant),
                                                      batches),
    st.fixed_dictionaries({"batches": _BATCHES,
                           "averaging_constant": st.sampled_from([0.01, 0.1, 0.25, 0.5, 1.0])}),
    [Example({"batches": [np.array([-1.0, 2.0]), np.array([-3.0, 6.0])], "averaging_constant": 0.25}, (-1.5, 3.0),
             "min: -1 + 0.25 * (-3 - -1) = -1.5; max: 2 + 0.25 * (6 - 2) = 3")],
    [Variant("swapped_weights", _ma_variant("swapped"),
             "you weight the running range by c; c (averaging_constant) is the weight of the NEW batch: "
             "r <- r + c (r_batch - r), as PyTorch"),
     Variant("starts_from_zero", _ma_variant("from_zero"),
             "you start the average at 0; the first batch's range is taken as is")],
)

__all__ = ["CHAPTER"]
