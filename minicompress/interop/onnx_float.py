"""Float and fake-quantized (QDQ) ``Sequential`` models as ONNX nodes.

One walk over the layers serves both:

=========================  ===============================================================
minicompress layer         ONNX
=========================  ===============================================================
``Linear``                 ``Gemm(x, W, b, transB=1)`` (``MatMul`` + ``Add`` on a >2-D input)
``Conv2d``                 ``Conv`` (``pads``, ``strides``)
``ReLU``                   ``Relu``
``MaxPool2d``              ``MaxPool`` (floor mode, no padding, as here)
``Flatten``                ``Flatten(axis=1)``
``Dropout``                nothing: the identity at inference
``QuantLinear/Conv2d``     the integer weight as an int8 (int16 at 16 bits) initializer,
                           ``DequantizeLinear`` (per-tensor, or per-channel with ``axis=0``),
                           then ``Gemm`` / ``Conv`` with the float bias
``ActivationFakeQuant``    (``Clip`` below 8 bits) → ``QuantizeLinear`` → ``DequantizeLinear``
=========================  ===============================================================

A pruning mask is baked in: the exported weight is ``layer.effective("weight")``, the
weight the forward pass sees, so masked weights are exact zeros in the file.

``QuantizeLinear`` computes ``saturate(round(x / y_scale) + y_zero_point)`` with round
half to even, in float32 with a float32 scale; :func:`~minicompress.compress.quantization.fake_quantize`
does the same (``np.rint`` in the activation's float32, the scale cast to float32), so the
QDQ graph, run as written (``onnx_session(..., optimize=False)``), and the fake-quantized
model differ only where ONNX Runtime's float sums (another summation order) land on the
other side of a rounding step. With its graph optimizations on (the default, how it is
deployed) ONNX Runtime goes further: it quantizes each float bias to int32 at scale
s_x·s_w (its ``WeightBiasQuantization`` pass, as :func:`~minicompress.compress.quantization.to_integer`
does) and fuses the pattern into its own int8 kernels. At 8 bits that changes a prediction
on at most 0.1 % of the mnist10k digits (tests/test_interop_onnx.py); at 2-4 bits a rounded
bias moves much more, about as much as it moves minicompress's own integer model away from
the fake-quantized one, so check low-bit exports with ``optimize=False``.
"""

from __future__ import annotations

import numpy as np

from minicompress.compress.quantization import ActivationFakeQuant, QParams, QuantConv2d, QuantLinear, quantize
from minicompress.engine import no_grad
from minicompress.errors import InputError
from minicompress.nn import Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU

SUPPORTED = ("Linear", "Conv2d", "ReLU", "MaxPool2d", "Flatten", "Dropout", "QuantLinear", "QuantConv2d",
             "ActivationFakeQuant")


def _onnx_int_dtype(qp: QParams):
    """The ONNX storage type of a quantizer's integers: (u)int8 up to 8 bits, (u)int16 at 16."""
    signed = qp.scheme == "symmetric"
    if qp.bits <= 8:
        return np.int8 if signed else np.uint8
    return np.int16 if signed else np.uint16


def _scale_and_zero(g, qp: QParams, hint: str) -> tuple[str, str]:
    """float32 scale and zero point in the integers' type: scalars per-tensor, (C,) per-channel."""
    shape = () if qp.axis is None else (-1,)
    scale = g.const(f"{hint}_scale", np.asarray(qp.scale, dtype=np.float32).reshape(shape))
    zero = g.const(f"{hint}_zero_point", np.asarray(qp.zero_point).astype(_onnx_int_dtype(qp)).reshape(shape))
    return scale, zero


def qdq(g, x: str, qp: QParams, hint: str) -> str:
    """``QuantizeLinear`` → ``DequantizeLinear`` of ``x`` (per-tensor; a float Clip first below 8 bits)."""
    info = np.iinfo(_onnx_int_dtype(qp))
    scale, zero = _scale_and_zero(g, qp, hint)
    if (qp.qmin, qp.qmax) != (info.min, info.max):  # e.g. 4-bit values stored in uint8
        # Clamp the float to the grid's ends, (q_min - z) s and (q_max - z) s, so QuantizeLinear
        # lands inside [q_min, q_max]. A Clip on the integers after QuantizeLinear would compute
        # the same, but would split the Q -> DQ pair that ONNX Runtime's QDQ fusions look for.
        s32, z = np.float32(qp.scale), int(qp.zero_point)
        x = g.node("Clip", [x, g.const(f"{hint}_lo", np.float32((qp.qmin - z) * s32)),
                            g.const(f"{hint}_hi", np.float32((qp.qmax - z) * s32))], f"{hint}_clip")
    q = g.node("QuantizeLinear", [x, scale, zero], f"{hint}_q")
    return g.node("DequantizeLinear", [q, scale, zero], f"{hint}_dq")


def _weight(g, layer, hint: str) -> str:
    """The layer's weight as a float32 initializer, or int8 integers + ``DequantizeLinear`` for a quantized layer."""
    with no_grad():
        w = layer.effective("weight").data
        if not isinstance(layer, (QuantLinear, QuantConv2d)):
            return g.const(f"{hint}_weight", w.astype(np.float32))
        qp = layer.weight_qparams()
    w_q = g.const(f"{hint}_weight_quantized", quantize(w, qp).astype(_onnx_int_dtype(qp)))
    scale, zero = _scale_and_zero(g, qp, f"{hint}_weight")
    kw = {} if qp.axis is None else {"axis": qp.axis}
    return g.node("DequantizeLinear", [w_q, scale, zero], f"{hint}_weight_dq", **kw)


def _bias(g, layer, hint: str) -> str:
    if layer.bias is None:
        return ""
    # as the forward passes do: Linear/Conv2d apply a bias mask, QuantLinear/QuantConv2d use the bias as is
    b = layer.bias if isinstance(layer, (QuantLinear, QuantConv2d)) else layer.effective("bias")
    return g.const(f"{hint}_bias", b.data.astype(np.float32))


def emit_sequential(g, x: str, model, rank: int) -> str:
    """Append the nodes of ``model`` (a Sequential) to ``g``; ``x`` has ``rank`` dims; return the output's name."""
    for i, layer in enumerate(model):
        hint = f"l{i}"
        if isinstance(layer, (Linear, QuantLinear)):
            w, b = _weight(g, layer, hint), _bias(g, layer, hint)
            if rank == 2:
                x = g.node("Gemm", [x, w, b] if b else [x, w], f"{hint}_gemm", transB=1)
            else:
                wt = g.node("Transpose", [w], f"{hint}_weight_t", perm=[1, 0])
                x = g.node("MatMul", [x, wt], f"{hint}_matmul")
                if b:
                    x = g.node("Add", [x, b], f"{hint}_add")
        elif isinstance(layer, (Conv2d, QuantConv2d)):
            k, s, p = layer.kernel_size, layer.stride, layer.padding
            w, b = _weight(g, layer, hint), _bias(g, layer, hint)
            x = g.node("Conv", [x, w, b] if b else [x, w], f"{hint}_conv", kernel_shape=[k, k], strides=[s, s],
                       pads=[p, p, p, p])
        elif isinstance(layer, ReLU):
            x = g.node("Relu", [x], f"{hint}_relu")
        elif isinstance(layer, MaxPool2d):
            k, s = layer.kernel_size, layer.stride or layer.kernel_size
            x = g.node("MaxPool", [x], f"{hint}_maxpool", kernel_shape=[k, k], strides=[s, s])
        elif isinstance(layer, Flatten):
            x, rank = g.node("Flatten", [x], f"{hint}_flatten", axis=1), 2
        elif isinstance(layer, Dropout):
            continue
        elif isinstance(layer, ActivationFakeQuant):
            qp = layer.qparams()
            if qp.axis is not None:
                raise InputError(f"layer {i} (ActivationFakeQuant) is per-channel; the ONNX export "
                                 "quantizes activations per-tensor only")
            x = qdq(g, x, qp, f"{hint}_act")
        else:
            raise InputError(f"layer {i} ({type(layer).__name__}) has no ONNX export; supported layers: "
                             f"{', '.join(SUPPORTED)}")
    return x
