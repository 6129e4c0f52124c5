"""Every quantization method by name, on a whole model: the documents' quantizers beside the practice.

``quantize_model(model, method, bits)`` returns a quantized copy of a trained model,
whatever the method, so a tutorial or the CLI can put E2 as written next to int8 PTQ
and measure both; ``quantize_model_with_info`` also returns what the method did (a small
info dict). The as-written methods call :mod:`minicompress.equations` (they are not
re-implemented here); :func:`integer_bytes` counts the storage of their integers.

===============  =========================================================  ======================
method           what it does to the model                                  source
===============  =========================================================  ======================
``e2``           every Linear/Conv2d weight: round(w / 2^(b−1)) × 2^(b−1)   doc 001 §3.2.3 (E2)
``e4``           after every ReLU: round(a / 2^(b−1)) × 2^(b−1)             doc 001 §3.4.3 (E4)
``e6``           every weight: round(w × Q) / Q (``ratio=Q``, default 8)    doc 000 §3.2 (E6)
``fixed-point``  every weight: round(w × 2^(b−1)) / 2^(b−1)                 E2 with the sign flipped
``ptq``          weight-only symmetric per-tensor (or per-channel) PTQ      practice (Jacob 2018)
``int8-ptq``     ``ptq`` at 8 bits
``static-ptq``   weights and activations, calibrated on a few batches       practice
===============  =========================================================  ======================

(doc 000 and doc 001: see ``docs/documents.md``.)
E2 as written has step 2^(b−1): at b = 8 every |w| < 64 becomes 0, and a trained
network's weights are all far below 64, so the model keeps only its biases.
"""

from __future__ import annotations

import numpy as np

from minicompress import equations
from minicompress.compress.quantization.ptq import quantize_weights_with_tensors, static_ptq
from minicompress.compress.weights import map_weights
from minicompress.errors import InputError
from minicompress.io import copy_model
from minicompress.nn import Conv2d, Linear, Sequential

METHODS = ("e2", "e4", "e6", "fixed-point", "ptq", "int8-ptq", "static-ptq")


def integer_bytes(ints: np.ndarray) -> int:
    """Bytes of integer-valued ``ints`` in the smallest signed NumPy integer type holding them.

    The storage of an as-written quantizer's integers (E2's round(w / 2^(b−1)), E6's
    round(W·Q)), which fix no bit width of their own.
    """
    ints = np.asarray(ints)
    lo, hi = (int(ints.min()), int(ints.max())) if ints.size else (0, 0)
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return int(ints.size * np.dtype(dtype).itemsize)
    raise InputError(f"integers in [{lo}, {hi}] do not fit in int64")


def _map_weights_with_info(model: Sequential, fn) -> tuple[Sequential, dict]:
    """:func:`map_weights`, and how many of the new weights are zero."""
    out = map_weights(model, fn)
    new = [layer.weight.data for _, layer in out.named_modules() if isinstance(layer, (Linear, Conv2d))]
    total = sum(w.size for w in new)
    zeros = sum(int(np.count_nonzero(w == 0)) for w in new)
    return out, {"weights": total, "zero_weights": zeros, "zero_fraction": zeros / max(total, 1)}


def quantize_model(model: Sequential, method: str, bits: int = 8, **options) -> Sequential:
    """A copy of ``model`` quantized with ``method`` (``model`` itself is untouched).

    The arguments are those of :func:`quantize_model_with_info`.
    """
    return quantize_model_with_info(model, method, bits, **options)[0]


def quantize_model_with_info(model: Sequential, method: str, bits: int = 8, *, ratio: float | None = None,
                             per_channel: bool = False, calibration_batches=None):
    """Quantize a copy of ``model`` with ``method``; ``model`` itself is untouched.

    Parameters
    ----------
    model : Sequential
    method : str
        One of :data:`METHODS`.
    bits : int
        Bit width b (E2/E4/fixed-point: 1-64 as the equations allow; PTQ: 1-8 or 16).
    ratio : float, optional
        E6's quantization ratio Q (> 0); default 8, the documents' example.
    per_channel : bool
        PTQ only: one scale per output channel.
    calibration_batches : iterable of ndarray
        ``static-ptq`` only (required there).

    Returns
    -------
    (Module, dict)
        The quantized model (evaluate it with ``minicompress.training.evaluate``) and info:
        ``method``, ``bits`` and method-specific counts.
    """
    if method not in METHODS:
        raise InputError(f"unknown quantization method {method!r}; choose one of {METHODS}")
    if ratio is not None and method != "e6":
        raise InputError("ratio (Q) applies only to method 'e6'")
    info = {"method": method, "bits": bits}
    if method == "e2":
        qmodel, extra = _map_weights_with_info(model, lambda w: equations.quantize_pow2_step(w, bits))
        info["step"] = 2.0 ** (bits - 1)
    elif method == "fixed-point":
        qmodel, extra = _map_weights_with_info(model, lambda w: equations.quantize_fixed_point_reading(w, bits))
        info["step"] = 2.0 ** -(bits - 1)
    elif method == "e6":
        Q = 8.0 if ratio is None else ratio
        qmodel, extra = _map_weights_with_info(
            model, lambda w: equations.dequantize_by_ratio(equations.quantize_by_ratio(w, Q), Q))
        info.update(bits=None, ratio=Q, step=1.0 / Q)
    elif method == "e4":
        qmodel = equations.with_activation_quant(copy_model(model), bits)
        extra = {"activation_quantizers": sum(type(m).__name__ == "ActivationQuantE4" for m in qmodel)}
    elif method in ("ptq", "int8-ptq"):
        if method == "int8-ptq" and bits != 8:
            raise InputError(f"'int8-ptq' is 8-bit; got bits={bits} (use method 'ptq' for other widths)")
        qmodel, stored = quantize_weights_with_tensors(model, bits, "symmetric", per_channel)
        extra = {"weight_bytes": sum(q.nbytes for q in stored.values()), "per_channel": per_channel}
    else:  # static-ptq
        if calibration_batches is None:
            raise InputError("method 'static-ptq' needs calibration_batches (a few input batches)")
        qmodel = static_ptq(model, calibration_batches, bits, per_channel=per_channel)
        extra = {"per_channel": per_channel}
    info.update(extra)
    return qmodel, info
