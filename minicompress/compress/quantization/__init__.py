"""Quantization: uniform quantizers, observers, fake quantization, PTQ, QAT, the integer model.

=====================  ==========================================================
module                 what it holds
=====================  ==========================================================
``uniform``            symmetric/affine quantizers, per-tensor/per-channel, ``QuantizedTensor``
``observers``          min-max, moving-average and percentile activation ranges
``fake_quant``         the fake-quantize op with its straight-through estimator
``prepare``            the fake-quantized model static PTQ and QAT share: ``prepare`` /
                       ``prepare_qat`` / ``calibrate`` / ``convert``, QuantLinear, QuantConv2d,
                       and its storage, ``quantized_bytes``
``ptq``                weight-only and static post-training quantization
``integer``            int8 x int8 -> int32 layers on the kernels: ``to_integer``
``methods``            every method by name (E2, E4, E6 as written, fixed point, PTQ) through
                       ``quantize_model_with_info``; ``integer_bytes`` of as-written integers
=====================  ==========================================================

Integers below 8 bits are packed by :mod:`minicompress.compress.bitpack` (least
significant bit first, the one bit order of the package).
"""

from minicompress.compress.quantization.fake_quant import FakeQuantize, fake_quantize
from minicompress.compress.quantization.integer import IntegerModel, to_integer
from minicompress.compress.quantization.methods import METHODS, integer_bytes, quantize_model, quantize_model_with_info
from minicompress.compress.quantization.observers import (
    MinMaxObserver,
    MovingAverageObserver,
    PercentileObserver,
    make_observer,
)
from minicompress.compress.quantization.prepare import (
    ActivationFakeQuant,
    QuantConv2d,
    QuantLinear,
    calibrate,
    convert,
    prepare,
    prepare_qat,
    quantized_bytes,
    weight_qparams,
)
from minicompress.compress.quantization.ptq import quantize_weights_with_tensors, static_ptq
from minicompress.compress.quantization.uniform import (
    SUPPORTED_BITS,
    QParams,
    QuantizedTensor,
    choose_qparams,
    dequantize,
    fake_quantize_array,
    qparams_from_range,
    qrange,
    quantize,
    quantize_tensor,
)

__all__ = [
    "METHODS", "SUPPORTED_BITS", "ActivationFakeQuant", "FakeQuantize", "IntegerModel", "MinMaxObserver",
    "MovingAverageObserver", "PercentileObserver", "QParams", "QuantConv2d", "QuantLinear", "QuantizedTensor",
    "calibrate", "choose_qparams", "convert", "dequantize", "fake_quantize", "fake_quantize_array",
    "integer_bytes", "make_observer", "prepare", "prepare_qat", "qparams_from_range", "qrange", "quantize",
    "quantize_model", "quantize_model_with_info", "quantize_tensor", "quantize_weights_with_tensors",
    "quantized_bytes", "static_ptq", "to_integer", "weight_qparams",
]
