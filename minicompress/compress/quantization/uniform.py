"""Uniform quantization: the scaled integer grid practice uses (Jacob et al. 2018).

A real value x is stored as an integer q and a pair (scale s, zero point z):

.. math:: q = \\operatorname{clamp}(\\operatorname{rint}(x / s) + z,\\ q_{min},\\ q_{max}),
          \\qquad \\hat x = (q - z)\\, s

* **symmetric**: z = 0, signed q in [−2^(b−1), 2^(b−1)−1], s = max|x| / (2^(b−1)−1)
  (``docs/documents.md#e2-weight-quantization``, the practice beside E2); needs b >= 2.
* **affine**: unsigned q in [0, 2^b−1], s = (max − min) / (2^b−1), z = rint(−min / s),
  with the range first widened to contain 0 so that 0.0 is exactly representable
  (zero padding and ReLU outputs stay exact).

*Per-tensor* uses one (s, z) for the whole array; *per-channel* one per slice along
``axis`` (axis 0, the output channel, for Linear and Conv2d weights).

Supported bit widths: 1-8 and 16 (1 bit only for affine). Integers are stored as
int8/uint8 (int16/uint16 at 16 bits); below 8 bits :func:`minicompress.compress.bitpack.pack_bits`
packs them densely (least significant bit first, the one order of every packed stream),
so :attr:`QuantizedTensor.nbytes` is the true storage of the integers.

Rounding is ``np.rint`` (half to even) as in the integer kernels' requantization, so a
fake-quantized model and the integer model round identically. The documents' E2/E4/E6
round half away from zero; they live in :mod:`minicompress.equations`.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from minicompress.compress.bitpack import pack_bits, unpack_bits
from minicompress.errors import InputError, InputTypeError

SUPPORTED_BITS = (1, 2, 3, 4, 5, 6, 7, 8, 16)
SCHEMES = ("symmetric", "affine")


def check_bits(bits, scheme: str = "affine") -> int:
    """Validate a bit width for ``scheme``; return it as an int."""
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, numbers.Integral):
        raise InputTypeError(f"bits must be an integer, one of {SUPPORTED_BITS}; got {bits!r}")
    bits = int(bits)
    if bits not in SUPPORTED_BITS:
        raise InputError(f"bits must be one of {SUPPORTED_BITS} (1-8 or 16); got {bits}")
    if scheme == "symmetric" and bits < 2:
        raise InputError("symmetric quantization needs bits >= 2 (its scale divides by 2^(b-1) - 1); "
                         "use scheme='affine' for 1 bit")
    return bits


def check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise InputError(f"scheme must be one of {SCHEMES}; got {scheme!r}")
    return scheme


def check_axis(axis, ndim: int):
    """``None`` (per-tensor) or a valid axis of an ``ndim``-D array, normalised to >= 0."""
    if axis is None:
        return None
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise InputTypeError(f"axis must be None (per-tensor) or an integer; got {axis!r}")
    if not -ndim <= axis < ndim:
        raise InputError(f"per-channel axis {axis} is out of range for a {ndim}-D array "
                         f"(allowed: {-ndim}..{ndim - 1}, or None for per-tensor)")
    return int(axis) % ndim


def qrange(bits: int, scheme: str) -> tuple[int, int]:
    """(q_min, q_max): signed [−2^(b−1), 2^(b−1)−1] if symmetric, else [0, 2^b−1]."""
    bits = check_bits(bits, check_scheme(scheme))
    if scheme == "symmetric":
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def storage_dtype(bits: int, scheme: str) -> np.dtype:
    """int8/uint8 up to 8 bits, int16/uint16 at 16 bits."""
    signed = scheme == "symmetric"
    if bits <= 8:
        return np.dtype(np.int8 if signed else np.uint8)
    return np.dtype(np.int16 if signed else np.uint16)


@dataclass
class QParams:
    """Scale and zero point of a quantizer.

    Attributes
    ----------
    scale : ndarray of float64, shape () or (C,)
        s > 0.
    zero_point : ndarray of int64, shape () or (C,)
        z (0 for symmetric).
    bits : int
    scheme : {"symmetric", "affine"}
    axis : int or None
        The channel axis for per-channel parameters, ``None`` for per-tensor.
    """

    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    scheme: str
    axis: int | None = None

    @property
    def qmin(self) -> int:
        return qrange(self.bits, self.scheme)[0]

    @property
    def qmax(self) -> int:
        return qrange(self.bits, self.scheme)[1]

    def broadcast(self, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        """(scale, zero_point) reshaped to broadcast against an ``ndim``-D array."""
        if self.axis is None:
            return self.scale, self.zero_point
        shape = [1] * ndim
        shape[self.axis] = -1
        return self.scale.reshape(shape), self.zero_point.reshape(shape)


def qparams_from_range(x_min, x_max, bits: int, scheme: str = "symmetric", axis=None) -> QParams:
    """The (s, z) that map the range [x_min, x_max] onto the integer grid.

    Parameters
    ----------
    x_min, x_max : float or ndarray, shape (C,)
        Observed range (one per channel for per-channel).
    bits : int
        One of 1-8, 16 (>= 2 for symmetric).
    scheme : {"symmetric", "affine"}
    axis : int or None
        Recorded in the result (the caller validated it against the array).

    Returns
    -------
    QParams
        A zero range (constant zero input) gets s = 1, so nothing divides by zero.
    """
    check_scheme(scheme)
    bits = check_bits(bits, scheme)
    qmin, qmax = qrange(bits, scheme)
    lo = np.minimum(_as_float(x_min, "x_min"), 0.0)
    hi = np.maximum(_as_float(x_max, "x_max"), 0.0)
    if np.any(lo > hi):
        raise InputError("x_min must be <= x_max")
    if scheme == "symmetric":
        scale = np.maximum(-lo, hi) / qmax
        scale = np.where(scale > 0, scale, 1.0)
        zero = np.zeros(scale.shape, dtype=np.int64)
    else:
        scale = (hi - lo) / (qmax - qmin)
        scale = np.where(scale > 0, scale, 1.0)
        zero = np.clip(np.rint(qmin - lo / scale), qmin, qmax).astype(np.int64)
    return QParams(scale.astype(np.float64), zero, bits, scheme, axis)


def choose_qparams(x, bits: int, scheme: str = "symmetric", axis=None) -> QParams:
    """Min-max (s, z) for the array ``x``, per-tensor (``axis=None``) or per-channel.

    Parameters
    ----------
    x : ndarray, any shape (non-empty, finite)
    axis : int or None
        Channel axis; out of range raises ``ValueError``.
    """
    x = _as_float(x)
    axis = check_axis(axis, x.ndim)
    if axis is None:
        lo, hi = x.min(), x.max()
    else:
        others = tuple(i for i in range(x.ndim) if i != axis)
        lo, hi = x.min(axis=others), x.max(axis=others)
    return qparams_from_range(lo, hi, bits, scheme, axis)


def _as_float(x, name: str = "x") -> np.ndarray:
    x = np.asarray(getattr(x, "data", x) if not isinstance(x, np.ndarray) else x)
    if x.dtype.kind not in "fiu":
        raise InputTypeError(f"{name} must be a real array, got dtype {x.dtype}")
    if x.size == 0:
        raise InputError(f"{name} is empty: cannot quantize an empty array")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{name} holds NaN or infinite values: cannot quantize them")
    return x


def quantize(x, qp: QParams) -> np.ndarray:
    """q = clamp(rint(x / s) + z, q_min, q_max), in the storage dtype (int8/uint8/int16/uint16)."""
    x = _as_float(x)
    if qp.axis is not None:
        check_axis(qp.axis, x.ndim)
    s, z = qp.broadcast(x.ndim)
    q = np.clip(np.rint(x / s) + z, qp.qmin, qp.qmax)
    return q.astype(storage_dtype(qp.bits, qp.scheme))


def dequantize(q, qp: QParams, dtype=np.float32) -> np.ndarray:
    """x̂ = (q − z) s, as ``dtype`` (float32 by default)."""
    q = np.asarray(q)
    if q.dtype.kind not in "biu":
        raise InputTypeError(f"q must hold the quantized integers (an integer dtype), got dtype {q.dtype}")
    s, z = qp.broadcast(q.ndim)
    return ((q.astype(np.int64) - z) * s).astype(dtype)


def fake_quantize_array(x, qp: QParams) -> np.ndarray:
    """dequantize(quantize(x)) in x's float dtype: the values the quantized model computes with."""
    x = _as_float(x)
    return dequantize(quantize(x, qp), qp, dtype=x.dtype if x.dtype.kind == "f" else np.float32)


# ------------------------------------------------------------------ a quantized array
@dataclass
class QuantizedTensor:
    """Integers plus their quantizer: the storage of one quantized array.

    Attributes
    ----------
    q : ndarray, the storage dtype, the original shape
    qparams : QParams
    """

    q: np.ndarray
    qparams: QParams

    @property
    def shape(self):
        return self.q.shape

    def dequantize(self, dtype=np.float32) -> np.ndarray:
        return dequantize(self.q, self.qparams, dtype)

    def packed(self) -> np.ndarray:
        """The integers as stored: offset by q_min and bit-packed below 8 bits, raw bytes otherwise."""
        b = self.qparams.bits
        if b in (8, 16):
            return np.frombuffer(np.ascontiguousarray(self.q).tobytes(), dtype=np.uint8)
        return pack_bits(self.q.astype(np.int64).reshape(-1) - self.qparams.qmin, b)

    @classmethod
    def from_packed(cls, data, qp: QParams, shape) -> QuantizedTensor:
        count = int(np.prod(shape))
        dt = storage_dtype(qp.bits, qp.scheme)
        if qp.bits in (8, 16):
            q = np.frombuffer(np.asarray(data, np.uint8).tobytes(), dtype=dt, count=count)
        else:
            q = (unpack_bits(data, qp.bits, count) + qp.qmin).astype(dt)
        return cls(q.reshape(shape).copy(), qp)

    @property
    def nbytes(self) -> int:
        """Bytes of the packed integers plus the float32 scales and int32 zero points."""
        n_params = self.qparams.scale.size
        extra = 4 * n_params + (4 * n_params if self.qparams.scheme == "affine" else 0)
        return int(self.packed().size + extra)


def quantize_tensor(x, bits: int = 8, scheme: str = "symmetric", axis=None) -> QuantizedTensor:
    """Min-max quantize ``x`` and keep the integers: ``quantize_tensor(w, 4, axis=0).dequantize()``.

    Parameters
    ----------
    x : ndarray, any shape
    bits : int
        1-8 or 16 (>= 2 for symmetric).
    scheme : {"symmetric", "affine"}
    axis : int or None
        ``None`` per-tensor, else the per-channel axis.
    """
    qp = choose_qparams(x, bits, scheme, axis)
    return QuantizedTensor(quantize(x, qp), qp)


# ------------------------------------------------------------------ integer-only helpers
def quantize_bias(bias, input_scale, weight_scale) -> np.ndarray:
    """A layer's bias in accumulator units: ``clip(rint(b / (s_in * s_w)), -2^31, 2^31 - 1)`` as int32.

    The int32 accumulator of ``x_q @ w_q`` counts in units of ``s_in * s_w``, so the bias is
    quantized with that scale and zero point 0 before it is added (Jacob et al. 2018, §2.4).

    Parameters
    ----------
    bias : ndarray, shape (C,), float
    input_scale : float > 0
    weight_scale : float or ndarray of C values (any shape with C elements: per output channel)

    Returns
    -------
    ndarray of int32, shape (C,); rounding half to even (``np.rint``), saturated to int32.
    """
    b = _as_float(bias).astype(np.float64)
    if b.ndim != 1:
        raise InputError(f"bias must be 1-D (C,), got shape {b.shape}")
    s_w = np.asarray(weight_scale, dtype=np.float64)
    if s_w.size not in (1, b.size):
        raise InputError(f"weight_scale has {s_w.size} values for a bias of {b.size}")
    s = float(input_scale) * s_w.reshape(-1)
    if not np.all((s > 0) & np.isfinite(s)):
        raise InputError("input_scale * weight_scale must be finite and > 0")
    q = np.clip(np.rint(b / s), -(2**31), 2**31 - 1)
    return q.astype(np.int32)


def quantize_multiplier(multiplier: float) -> tuple[int, int]:
    """A real requantization multiplier M > 0 as an integer ``M0`` and an exponent ``shift``.

    ``M = M0 * 2^(shift - 31)`` with ``M0`` in ``[2^30, 2^31)`` (a Q31 number in [0.5, 1)), the
    form integer-only inference multiplies by (gemmlowp / TFLite's ``QuantizeMultiplier``):
    ``frexp`` gives M = q * 2^shift with q in [0.5, 1); ``M0 = floor(q * 2^31 + 1/2)`` (round
    half up, C's ``std::round`` on a positive number); if that rounds up to 2^31, ``M0 = 2^30``
    and ``shift + 1``. ``shift`` is negative for M < 0.5 (a right shift) and positive for M >= 1.

    Returns
    -------
    (int, int)
        ``(M0, shift)``; ``ValueError`` unless M is finite and > 0.
    """
    m = float(multiplier)
    if not (np.isfinite(m) and m > 0):
        raise InputError(f"multiplier must be finite and > 0, got {multiplier!r}")
    q, shift = np.frexp(m)
    m0 = int(np.floor(float(q) * 2.0**31 + 0.5))
    if m0 == 2**31:
        m0, shift = 2**30, shift + 1
    return m0, int(shift)


def shift_bias(quantized_bias, quantized_weight, input_zero_point) -> np.ndarray:
    """Fold the input zero point into an int32 bias: ``b - Z_in * sum(w[c])`` for every output channel c.

    ``sum_k (x_k - Z_in) w_ck + b_c = sum_k x_k w_ck + (b_c - Z_in sum_k w_ck)``, so a layer can
    multiply the raw integers ``x`` and add this shifted bias instead of subtracting ``Z_in`` from
    every input (MIT 6.5940 lab 2's ``shift_quantized_linear_bias`` / ``shift_quantized_conv2d_bias``;
    a convolution must then pad its input with ``Z_in``). The sum runs over every axis of the
    weight but the first: (out, in) for Linear, (C_out, C_in, kh, kw) for Conv2d.

    Returns
    -------
    ndarray of int32, shape (C_out,)
    """
    b = np.asarray(quantized_bias)
    w = np.asarray(quantized_weight)
    if b.dtype.kind not in "iu" or w.dtype.kind not in "iu":
        raise InputTypeError(f"bias and weight must be integers, got {b.dtype} and {w.dtype}")
    if w.ndim < 2 or b.shape != (w.shape[0],):
        raise InputError(f"bias of shape {b.shape} does not match a weight of shape {w.shape} (C_out, ...)")
    col = w.reshape(w.shape[0], -1).astype(np.int64).sum(axis=1)
    shifted = b.astype(np.int64) - int(input_zero_point) * col
    if np.any(np.abs(shifted) >= 2**31):
        raise InputError("the shifted bias does not fit int32")
    return shifted.astype(np.int32)
