"""Quantization: uniform quantizers, observers, fake quantization, PTQ, QAT, the integer model.

=====================  ==========================================================
module                 what it holds
=====================  ==========================================================
``uniform``            symmetric/affine quantizers, per-tensor/per-channel, bit packing
``observers``          min-max, moving-average and percentile activation ranges
``fake_quant``         the fake-quantize op with its straight-through estimator
``qat``                ``prepare`` / ``calibrate`` / ``convert``, QuantLinear, QuantConv2d
``ptq``                weight-only and static post-training quantization
``integer``            int8 x int8 -> int32 layers on the kernels: ``to_integer``
``documents``          E2, E4, E6 as written, on whole models, through ``quantize_model``
=====================  ==========================================================
"""

from minicompress.compress.quantization.documents import METHODS, quantize_model
from minicompress.compress.quantization.fake_quant import FakeQuantize, fake_quantize
from minicompress.compress.quantization.integer import IntegerModel, to_integer
from minicompress.compress.quantization.observers import (
    MinMaxObserver,
    MovingAverageObserver,
    PercentileObserver,
    make_observer,
)
from minicompress.compress.quantization.ptq import quantize_weights, static_ptq
from minicompress.compress.quantization.qat import (
    ActivationFakeQuant,
    QuantConv2d,
    QuantLinear,
    calibrate,
    convert,
    prepare,
    prepare_qat,
    weight_qparams,
)
from minicompress.compress.quantization.uniform import (
    SUPPORTED_BITS,
    QParams,
    QuantizedTensor,
    choose_qparams,
    dequantize,
    fake_quantize_array,
    pack_bits,
    qparams_from_range,
    qrange,
    quantize,
    quantize_bias,
    quantize_multiplier,
    quantize_tensor,
    shift_bias,
    unpack_bits,
)

__all__ = [
    "METHODS", "SUPPORTED_BITS", "ActivationFakeQuant", "FakeQuantize", "IntegerModel", "MinMaxObserver",
    "MovingAverageObserver", "PercentileObserver", "QParams", "QuantConv2d", "QuantLinear", "QuantizedTensor",
    "calibrate", "choose_qparams", "convert", "dequantize", "fake_quantize", "fake_quantize_array",
    "make_observer", "pack_bits", "prepare", "prepare_qat", "qparams_from_range", "qrange", "quantize",
    "quantize_model", "quantize_tensor", "quantize_weights", "static_ptq", "to_integer", "unpack_bits",
    "weight_qparams",
    "quantize_bias", "quantize_multiplier", "shift_bias",
]
