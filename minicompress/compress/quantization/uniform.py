"""Uniform quantization: the scaled integer grid practice uses (Jacob et al. 2018).

A real value x is stored as an integer q and a pair (scale s, zero point z):

.. math:: q = \\operatorname{clamp}(\\operatorname{rint}(x / s) + z,\\ q_{min},\\ q_{max}),
          \\qquad \\hat x = (q - z)\\, s

* **symmetric**: z = 0, signed q in [−2^(b−1), 2^(b−1)−1], s = max|x| / (2^(b−1)−1)
  (FORMULAS.md, the note under E2); needs b >= 2.
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
