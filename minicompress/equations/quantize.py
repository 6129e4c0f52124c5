"""E2, E4 and E6: the documents' quantization formulas, exactly as written.

* E2, weight quantization, doc 001 §3.2.3 (``docs/documents.md#e2-weight-quantization``):
  w̃ = round(w / 2^(b−1)) × 2^(b−1).
* E4, activation quantization, doc 001 §3.4.3 (``docs/documents.md#e4-activation-quantization``): the same formula
  on activations, ã = round(a / 2^(b−1)) × 2^(b−1).
* E6, quantization by ratio, doc 000 §3.2 (``docs/documents.md#e6-quantization-by-ratio``):
  W_quantized = round(W_original × Q), mapped back by W_quantized / Q.

round(·) is 四舍五入, half away from zero (:func:`round_half_away`).

The step of E2/E4 is 2^(b−1), so the larger the bit width, the *coarser* the grid:
with b = 8 every |w| < 64 becomes 0. :func:`quantize_fixed_point_reading` is the
other reading of the exponent's sign, round(w·2^(b−1)) / 2^(b−1) (b-bit fixed point);
it is *not* what the document writes and is kept out of ``EQUATIONS``.
"""

from __future__ import annotations

import numpy as np

from minicompress.engine._checks import check_number
from minicompress.equations._checks import as_real_array, check_bits
from minicompress.equations.rounding import round_half_away
from minicompress.errors import InputError


def _pow2_step_quantize(x, bits, name):
    arr = as_real_array(x, name)
    b = check_bits(bits)
    step = arr.dtype.type(2.0 ** (b - 1))
    # x / 2^(b-1) and k * 2^(b-1) are exact (a power-of-two scaling) except where x/step
    # underflows, and there |x/step| < 1/2 so the rounded result is 0 either way.
    return (round_half_away(arr / step) * step).astype(arr.dtype, copy=False)


def quantize_pow2_step(w, bits):
    """E2: weight quantization with step 2^(b−1), as written.

    .. math:: \\tilde w_{ij} = \\operatorname{round}\\!\\left(\\frac{w_{ij}}{2^{b-1}}\\right)
              \\times 2^{b-1}

    (doc 001 §3.2.3, round = 四舍五入, half away from zero).
    Every result is a multiple of 2^(b−1) within 2^(b−2) of the input; with b = 8,
    every |w| < 64 becomes 0, so a trained network's weights are wiped out.

    Choices the document leaves open: b must be an integer in [1, 64] (bool is not an
    integer); the computation is exact in the input's dtype (float32/float64 kept,
    float16 promoted to float32, integers to float64).

    Parameters
    ----------
    w : array_like, any shape
        Finite weights.
    bits : int
        Bit width b, ``1 <= b <= 64``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``w``; values are integer multiples of 2^(b−1).
    """
    return _pow2_step_quantize(w, bits, "w")


def quantize_activations_pow2_step(a, bits):
    """E4: activation quantization with step 2^(b−1), as written.

    .. math:: \\tilde a_{ij} = \\operatorname{round}\\!\\left(\\frac{a_{ij}}{2^{b-1}}\\right)
              \\times 2^{b-1}

    (doc 001 §3.4.3). The same formula as E2, applied to a
    layer's outputs A (any shape) instead of its weights; the same choices apply
    (b an integer in [1, 64], exact in the input's dtype). To apply it to a layer's
    output at inference, put :class:`ActivationQuantE4` after that layer.

    Parameters
    ----------
    a : array_like, any shape
        Finite activations (an engine ``Tensor`` is read through ``.data``).
    bits : int
        Bit width b, ``1 <= b <= 64``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``a``; values are integer multiples of 2^(b−1).
    """
    return _pow2_step_quantize(a, bits, "a")


def quantize_fixed_point_reading(w, bits):
    """The *other* reading of E2 (not the document's equation): b-bit fixed point.

    .. math:: \\tilde w = \\operatorname{round}(w \\cdot 2^{b-1}) / 2^{b-1}

    Results are multiples of 2^−(b−1) within 2^−b of ``w``. Kept beside E2 so the
    tutorials can show what flipping the exponent's sign changes; it has no clamp, so
    it is not the scaled integer quantizer practice uses (see
    ``minicompress.compress.quantization``).

    Parameters
    ----------
    w : array_like, any shape
    bits : int
        ``1 <= bits <= 64``.

    Returns
    -------
    numpy.ndarray
        Same shape and dtype as ``w``.
    """
    arr = as_real_array(w, "w")
    b = check_bits(bits)
    scale = arr.dtype.type(2.0 ** (b - 1))
    with np.errstate(over="ignore"):
        scaled = arr * scale
    # Where w * 2^(b-1) overflows, |w| is far above 2^(p-1), so w is already a multiple
    # of 2^-(b-1) and is its own rounding.
    out = np.where(np.isfinite(scaled), round_half_away(scaled) / scale, arr)
    return out.astype(arr.dtype, copy=False)


def _check_ratio(Q):
    return check_number(Q, "Q (the quantization ratio)", low=0.0, low_open=True)


def quantize_by_ratio(w, Q):
    """E6: quantization by ratio, as written: ``round(W × Q)``.

    .. math:: W_{quantized} = \\operatorname{round}(W_{original} \\times Q)

    (doc 000 §3.2; the document suggests Q = 2, 4, 8, ... chosen from the weights'
    distribution after taking their min and max, but the
    formula uses neither, so neither is used here).

    Choices the document leaves open: Q is any finite real > 0; the product is formed
    in float64 (exact for float32 weights and power-of-two Q) and rounded half away
    from zero; the integers are returned as a float64 array (integer-valued), since
    round(W × Q) can exceed the int64 range for large weights.
    :func:`dequantize_by_ratio` maps them back; for power-of-two Q,
    ``|dequantize_by_ratio(quantize_by_ratio(W, Q), Q) - W| <= 1/(2Q)``.

    Parameters
    ----------
    w : array_like, any shape
        Finite weights.
    Q : float
        Quantization ratio, ``Q > 0``.

    Returns
    -------
    numpy.ndarray of float64
        Same shape as ``w``, integer-valued.
    """
    arr = as_real_array(w, "w").astype(np.float64)
    Q = _check_ratio(Q)
    with np.errstate(over="ignore"):
        product = arr * Q
    if not np.all(np.isfinite(product)):
        raise InputError(f"W x Q overflows float64 for Q={Q}; use a smaller Q or smaller weights")
    return round_half_away(product)


def dequantize_by_ratio(w_quantized, Q):
    """E6, inverse: ``W_quantized / Q`` (ours: doc 000 §3.2 gives no inverse).

    Parameters
    ----------
    w_quantized : array_like, any shape
        The integers from :func:`quantize_by_ratio` (any finite reals are accepted).
    Q : float
        The same ratio, ``Q > 0``.

    Returns
    -------
    numpy.ndarray of float64
        Same shape, ``w_quantized / Q``.
    """
    arr = as_real_array(w_quantized, "w_quantized").astype(np.float64)
    return arr / _check_ratio(Q)
