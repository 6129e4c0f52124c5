"""The documents' quantizers on whole models, beside the practice, through one interface.

``quantize_model(model, method, bits)`` returns a quantized copy of a trained model and
a small info dict, whatever the method, so a tutorial or the CLI can put E2 as written
next to int8 PTQ and measure both. The as-written methods call
:mod:`minicompress.equations` (they are not re-implemented here):

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

(doc 000 = ``000_aa1905e934bb7dd4.txt``, doc 001 = ``001_3806f2383fce931b.txt``.)
E2 as written has step 2^(b−1): at b = 8 every |w| < 64 becomes 0, and a trained
network's weights are all far below 64, so the model keeps only its biases.
"""

from __future__ import annotations

import numpy as np

from minicompress import equations
from minicompress.compress.quantization.ptq import quantize_weights, static_ptq
from minicompress.errors import InputError
from minicompress.io import copy_model
from minicompress.nn import Conv2d, Linear, Sequential

METHODS = ("e2", "e4", "e6", "fixed-point", "ptq", "int8-ptq", "static-ptq")


def _map_weights(model: Sequential, fn) -> tuple[Sequential, dict]:
    """A copy whose every Linear/Conv2d weight is ``fn(weight)``; info counts the zeroed weights."""
    out = copy_model(model)
    total = zeros = 0
    for _, layer in out.named_modules():
        if isinstance(layer, (Linear, Conv2d)):
            new = np.asarray(fn(layer.effective("weight").data), dtype=np.float64)
            layer.weight.data = new.astype(layer.weight.dtype)
            total += new.size
            zeros += int(np.count_nonzero(new == 0))
    return out, {"weights": total, "zero_weights": zeros, "zero_fraction": zeros / max(total, 1)}


def quantize_model(model: Sequential, method: str, bits: int = 8, *, ratio: float | None = None,
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
        qmodel, extra = _map_weights(model, lambda w: equations.quantize_pow2_step(w, bits))
        info["step"] = 2.0 ** (bits - 1)
    elif method == "fixed-point":
        qmodel, extra = _map_weights(model, lambda w: equations.quantize_fixed_point_reading(w, bits))
        info["step"] = 2.0 ** -(bits - 1)
    elif method == "e6":
        Q = 8.0 if ratio is None else ratio
        qmodel, extra = _map_weights(
            model, lambda w: equations.dequantize_by_ratio(equations.quantize_by_ratio(w, Q), Q))
        info.update(bits=None, ratio=Q, step=1.0 / Q)
    elif method == "e4":
        qmodel = equations.with_activation_quant(copy_model(model), bits)
        extra = {"activation_quantizers": sum(type(m).__name__ == "ActivationQuantE4" for m in qmodel)}
    elif method in ("ptq", "int8-ptq"):
        if method == "int8-ptq" and bits != 8:
            raise InputError(f"'int8-ptq' is 8-bit; got bits={bits} (use method 'ptq' for other widths)")
        qmodel, stored = quantize_weights(model, bits, "symmetric", per_channel)
        extra = {"weight_bytes": sum(q.nbytes for q in stored.values()), "per_channel": per_channel}
    else:  # static-ptq
        if calibration_batches is None:
            raise InputError("method 'static-ptq' needs calibration_batches (a few input batches)")
        qmodel = static_ptq(model, calibration_batches, bits, per_channel=per_channel)
        extra = {"per_channel": per_channel}
    info.update(extra)
    return qmodel, info
