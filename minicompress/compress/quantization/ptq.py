"""Post-training quantization (PTQ): quantize a trained model without training it again.

* **weight-only** (:func:`quantize_weights_with_tensors`): every Linear/Conv2d weight becomes
  integers q and a scale, w ≈ (q − z) s; activations stay float. The model runs on the
  dequantized weights, so its accuracy is exactly that of the stored integers; the
  integers themselves come back too, for the byte count.
* **static** (:func:`static_ptq`): weights *and* activations, with activation ranges
  calibrated on a few batches (:func:`.prepare.calibrate`). Its integer twin is
  :func:`.integer.to_integer`.
"""

from __future__ import annotations

from minicompress.compress.quantization.prepare import calibrate, prepare
from minicompress.compress.quantization.uniform import QuantizedTensor, check_scheme, quantize_tensor
from minicompress.errors import InputError
from minicompress.io import copy_model
from minicompress.nn import Conv2d, Linear, Sequential


def quantize_weights_with_tensors(model: Sequential, bits: int = 8, scheme: str = "symmetric",
                                  per_channel: bool = False, include_bias: bool = False):
    """Weight-only PTQ: a copy of ``model`` computing with quantized weights.

    Parameters
    ----------
    model : Sequential
    bits : int
        1-8 or 16 (>= 2 for symmetric).
    scheme : {"symmetric", "affine"}
    per_channel : bool
        One scale per output channel (axis 0 of each weight).
    include_bias : bool
        Quantize biases too (per-tensor); by default they stay float32, as in practice
        (a bias is few numbers and int32 in the integer kernels).

    Returns
    -------
    (Sequential, dict)
        The quantized copy and ``{"0.weight": QuantizedTensor, ...}``; a pruning mask is
        applied before quantizing, so masked weights store as exact zeros.
    """
    check_scheme(scheme)
    out = copy_model(model)
    stored: dict[str, QuantizedTensor] = {}
    for name, layer in out.named_modules():
        if not isinstance(layer, (Linear, Conv2d)):
            continue
        w = layer.effective("weight").data
        qt = quantize_tensor(w, bits, scheme, axis=0 if per_channel else None)
        layer.weight.data = qt.dequantize(w.dtype)
        stored[f"{name}.weight"] = qt
        if include_bias and layer.bias is not None:
            qb = quantize_tensor(layer.bias.data, bits, scheme)
            layer.bias.data = qb.dequantize(layer.bias.dtype)
            stored[f"{name}.bias"] = qb
    if not stored:
        raise InputError("the model has no Linear or Conv2d layer to quantize")
    return out, stored


def static_ptq(model: Sequential, calibration_batches, bits: int = 8, *, per_channel: bool = False,
               observer: str = "minmax", act_bits: int | None = None) -> Sequential:
    """Static PTQ: quantized weights and activations, ranges calibrated on ``calibration_batches``.

    Parameters
    ----------
    model : Sequential (Linear, Conv2d, ReLU, MaxPool2d, Flatten, Dropout)
    calibration_batches : iterable of ndarray inputs (at least one)
    bits, act_bits : int
        Weight bits (symmetric) and activation bits (affine, default = ``bits``).
    per_channel : bool
    observer : {"minmax", "moving_average", "percentile"}

    Returns
    -------
    Sequential
        The fake-quantized model (:func:`.prepare.prepare`), calibrated, in eval mode.
    """
    qmodel = prepare(model, bits, act_bits=act_bits, per_channel=per_channel, observer=observer)
    calibrate(qmodel, calibration_batches)
    return qmodel.eval()
