"""The integer model (:func:`~minicompress.compress.quantization.to_integer`) as ONNX integer operators.

Each integer layer becomes ``MatMulInteger`` / ``ConvInteger`` (uint8 activations with their
zero point, int8 weights, exact int32 accumulator), then an explicit requantization in
float64, which is exactly the arithmetic of minicompress's kernels::

    acc  = MatMulInteger(x_q, W_q, z_x)          # Σ (x_q − z_x) w_q, int32, exact
    v    = Cast<double>(acc + b_q)               # b_q = rint(b / (s_x s_w)), int32
    y_q  = Cast<uint8>(Clip(Round(v · M) + z_y, lo, q_max))   # M = s_x s_w / s_y, float64
    # lo = z_y with the fused ReLU, else 0; the last layer returns Cast<float>(v · s_x s_w)

``Round`` rounds half to even, as ``np.rint`` does, and every product is the same IEEE
float64 product the kernel computes, so **the integers are identical**, layer by layer,
not just close. The input is quantized the same way, ``Clip(Round(Cast<double>(x) / s_x) + z_x)``,
because :func:`~minicompress.compress.quantization.quantize` divides in float64.

Why not ``QLinearMatMul`` / ``QLinearConv``? They fuse the requantization, but
(1) ``QLinearMatMul`` has no bias input, so the bias would have to be added after rounding,
which is not our arithmetic; (2) their multiplier is a float32 ``s_x s_w / s_y`` (ONNX
Runtime's MLAS requantizes in float32), so wherever ``v · M`` lies within float32's
rounding error of a half-step the result can differ by one from our float64 ``rint``.
``MatMulInteger`` / ``ConvInteger`` plus explicit float64 requantization has neither
difference, so ONNX Runtime checks our integer kernels bit for bit. ``MaxPool`` and
``Flatten`` run on the uint8 tensors directly, as in :class:`~minicompress.compress.quantization.IntegerModel`.
"""

from __future__ import annotations

import numpy as np

from minicompress.errors import InputError


def _requantize(g, acc: str, layer, hint: str, channel_shape: tuple) -> str:
    """int32 accumulator → uint8 (or float32 logits for the last layer), as the kernels do."""
    scale = np.asarray(layer.scale, dtype=np.float64)
    if scale.ndim:
        scale = scale.reshape(channel_shape)
    v = g.node("Add", [acc, g.const(f"{hint}_bias_q", np.asarray(layer.bias_q, np.int32).reshape(channel_shape))],
               f"{hint}_acc_bias")
    v = g.node("Cast", [v], f"{hint}_acc_double", to=g.onnx.TensorProto.DOUBLE)
    y = g.node("Mul", [v, g.const(f"{hint}_multiplier", scale)], f"{hint}_scaled")
    if np.dtype(layer.out_dtype) == np.float32:
        if layer.relu:
            y = g.node("Relu", [y], f"{hint}_relu")
        return g.node("Cast", [y], f"{hint}_logits", to=g.onnx.TensorProto.FLOAT)
    if np.dtype(layer.out_dtype) != np.uint8:
        raise InputError(f"{hint}: the integer export handles uint8 or float32 layer outputs, got {layer.out_dtype}")
    y = g.node("Round", [y], f"{hint}_rounded")
    zero = float(layer.out_zero)
    y = g.node("Add", [y, g.const(f"{hint}_out_zero_point", np.float64(zero))], f"{hint}_shifted")
    lo = zero if layer.relu else 0.0  # the fused ReLU clamps at the integer that means 0.0
    y = g.node("Clip", [y, g.const(f"{hint}_lo", np.float64(lo)),
                        g.const(f"{hint}_hi", np.float64(layer.out_qmax))], f"{hint}_clipped")
    return g.node("Cast", [y], f"{hint}_out_q", to=g.onnx.TensorProto.UINT8)


def _quantize_input(g, x: str, qp) -> str:
    if qp.axis is not None or qp.scheme != "affine" or qp.bits > 8:
        raise InputError("the integer export needs a per-tensor affine input quantizer of at most 8 bits")
    xd = g.node("Cast", [x], "input_double", to=g.onnx.TensorProto.DOUBLE)
    y = g.node("Div", [xd, g.const("input_scale", np.float64(qp.scale))], "input_scaled")
    y = g.node("Round", [y], "input_rounded")
    y = g.node("Add", [y, g.const("input_zero_point", np.float64(qp.zero_point))], "input_shifted")
    y = g.node("Clip", [y, g.const("input_qmin", np.float64(qp.qmin)), g.const("input_qmax", np.float64(qp.qmax))],
               "input_clipped")
    return g.node("Cast", [y], "input_q", to=g.onnx.TensorProto.UINT8)


def emit_integer(g, x: str, model) -> str:
    """Append the nodes of an ``IntegerModel`` to ``g`` (``x``: the float input); return the logits' name."""
    from minicompress.compress.quantization.integer import IntegerConv2d, IntegerLinear

    h = _quantize_input(g, x, model.input_qparams)
    for i, (kind, step) in enumerate(model.steps):
        hint = f"s{i}"
        if kind == "layer" and isinstance(step, IntegerLinear):
            w = g.const(f"{hint}_weight_q", np.ascontiguousarray(np.asarray(step.w_q, np.int8).T))
            acc = g.node("MatMulInteger", [h, w, g.const(f"{hint}_in_zero_point", np.uint8(step.in_zero))],
                         f"{hint}_acc")
            h = _requantize(g, acc, step, hint, (-1,))
        elif kind == "layer" and isinstance(step, IntegerConv2d):
            k, s, p = step.kernel_size, step.stride, step.padding
            w = g.const(f"{hint}_weight_q", np.asarray(step.w_q, np.int8))
            # ConvInteger pads with the input zero point, the integer that means 0.0, as im2col does here
            acc = g.node("ConvInteger", [h, w, g.const(f"{hint}_in_zero_point", np.uint8(step.in_zero))],
                         f"{hint}_acc", kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])
            h = _requantize(g, acc, step, hint, (-1, 1, 1))
        elif kind == "pool":
            k, s = step
            h = g.node("MaxPool", [h], f"{hint}_maxpool", kernel_shape=[k, k], strides=[s, s])
        elif kind == "flatten":
            h = g.node("Flatten", [h], f"{hint}_flatten", axis=1)
        else:
            raise InputError(f"integer step {i} ({kind}, {type(step).__name__}) has no ONNX export; "
                             "supported: IntegerLinear, IntegerConv2d, pool, flatten")
    return h
