"""The integer model: int8 weights, uint8 activations, int32 accumulators, no float in between.

:func:`to_integer` turns a calibrated fake-quantized model (:func:`.prepare.prepare` +
:func:`.prepare.calibrate`, or a QAT result) into layers that run on the integer kernels of
:mod:`minicompress.kernels`:

* the input image is quantized once, x_q = clamp(rint(x / s_x) + z_x, 0, 255), by
  :func:`minicompress.kernels.quantize` (the kernel ``benchmarks/kernels.py`` times);
* each Linear runs ``qlinear``: acc = Σ (x_q − z_x) w_q in int32 (exact), then the
  requantization between layers

  .. math:: y_q = \\operatorname{clamp}(\\operatorname{rint}((acc + b_q)\\, M) + z_y,\\ 0,\\ 255),
            \\qquad M = s_x s_w / s_y,\\quad b_q = \\operatorname{rint}(b / (s_x s_w))

  with the ReLU fused as a clamp at z_y;
* each Conv2d is ``im2col`` of the uint8 input (padded with z_x, the integer that means
  0.0) followed by the same GEMM;
* MaxPool2d and Flatten act on the integers directly (max commutes with the monotone
  quantization);
* the last layer dequantizes its accumulator to float32 logits, (acc + b_q) s_x s_w.

A chain of Linear layers (an MLP such as LeNet-300-100, with 8-bit activations) also runs as
one :class:`~minicompress.kernels.IntegerNetwork`: the input quantization and every layer in a
single Numba call (:func:`~minicompress.kernels.integer_network_forward`), so that no layer
pays Python's overhead at batch 1. It gives the same logits, bit for bit, as the layer-by-layer
steps, which still run models with convolutions or pooling.

Its predictions match the fake-quantized model it came from on almost every image: both
round with rint, and they differ only where the float32 sum of the fake-quantized model
(and its float bias, which the integer model rounds to int32) lands on the other side of a
rounding step than the exact int32 sum.
"""

from __future__ import annotations

import numpy as np

from minicompress import kernels
from minicompress.compress.quantization.prepare import ActivationFakeQuant, QuantConv2d, QuantLinear
from minicompress.compress.quantization.uniform import QParams, quantize
from minicompress.engine import no_grad
from minicompress.errors import InputError
from minicompress.nn import Dropout, Flatten, MaxPool2d, ReLU, Sequential


class _IntegerWeighted:
    """Shared: int8 weights packed once, int32 bias, requantization multiplier."""

    def __init__(self, qlayer, in_qp: QParams, out_qp: QParams | None, relu: bool):
        if qlayer.bits > 8:
            raise InputError(f"the integer kernels take int8 weights; this layer has {qlayer.bits} bits")
        if in_qp.scheme != "affine" or in_qp.bits > 8 or in_qp.axis is not None:
            raise InputError("the integer model needs per-tensor affine activations of at most 8 bits")
        with no_grad():
            w = qlayer.effective("weight").data
            wqp = qlayer.weight_qparams()
        w_q = quantize(w, wqp)  # int8 symmetric, zero point 0
        self.w_q = w_q
        self.in_scale, self.in_zero = float(in_qp.scale), int(in_qp.zero_point)
        s_w = np.asarray(wqp.scale, dtype=np.float64).reshape(-1)  # () or (C_out,)
        acc_scale = self.in_scale * s_w
        self.packed = kernels.pack_weights(np.ascontiguousarray(w_q.reshape(w_q.shape[0], -1).T))
        b = np.zeros(w_q.shape[0]) if qlayer.bias is None else qlayer.bias.data.astype(np.float64)
        self.bias_q = np.rint(b / acc_scale).astype(np.int32)
        self.relu = relu
        self.out_qmax = 255
        if out_qp is None:  # last layer: float32 logits
            self.scale, self.out_zero, self.out_dtype = acc_scale, 0, np.float32
        else:
            if out_qp.scheme != "affine" or out_qp.bits > 8:
                raise InputError("the integer model needs affine activations of at most 8 bits")
            self.out_qmax = out_qp.qmax  # below 8 bits the uint8 holds a narrower range
            self.scale = acc_scale / float(out_qp.scale)
            self.out_zero, self.out_dtype = int(out_qp.zero_point), np.uint8
        self.scale = np.broadcast_to(self.scale, (w_q.shape[0],)).copy() if np.ndim(self.scale) else float(
            self.scale)

    def _gemm(self, cols):
        y = kernels.qlinear(cols, self.packed, self.bias_q, self.in_zero, self.scale, self.out_zero,
                            self.out_dtype, self.relu)
        if self.out_qmax < 255:  # saturating at 255 then at q_max is saturating at q_max
            np.minimum(y, self.out_qmax, out=y)
        return y

    @property
    def nbytes(self) -> int:
        """int8 weights + int32 bias + float32 scale(s)."""
        return int(self.w_q.size + 4 * self.bias_q.size + 4 * np.size(self.scale) + 8)


class IntegerLinear(_IntegerWeighted):
    """(N, in) uint8 -> (N, out) uint8 (or float32 logits for the last layer)."""

    def __call__(self, x_q):
        return self._gemm(x_q)


class IntegerConv2d(_IntegerWeighted):
    """(N, C_in, H, W) uint8 -> (N, C_out, Ho, Wo) uint8, by im2col and one GEMM."""

    def __init__(self, qlayer, in_qp, out_qp, relu):
        super().__init__(qlayer, in_qp, out_qp, relu)
        self.kernel_size, self.stride, self.padding = qlayer.kernel_size, qlayer.stride, qlayer.padding

    def __call__(self, x_q):
        n, _, h, w = x_q.shape
        k, s, p = self.kernel_size, self.stride, self.padding
        oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        cols = kernels.im2col(x_q, k, s, p, pad_value=self.in_zero)  # (N*oh*ow, C*k*k)
        y = self._gemm(cols)  # (N*oh*ow, C_out)
        return np.ascontiguousarray(y.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2))


def _max_pool_int(x, k, s):
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s]
    return windows[:, :, :oh, :ow].max(axis=(-2, -1))


class IntegerModel:
    """A model that runs on integers; ``predict(x)`` takes float images and returns float32 logits.

    Attributes
    ----------
    input_qparams : QParams
        How the float input is quantized to uint8.
    steps : list
        The integer layers and integer max-pool / flatten steps, in order.
    network : IntegerNetwork or None
        The same model packed as one whole-network kernel call
        (:func:`minicompress.kernels.pack_integer_network`) when it is a chain of Linear
        layers (after an optional flatten) with 8-bit input and float32 logits; ``None``
        otherwise. ``forward_int`` uses it when present: same logits, bit for bit.
    """

    def __init__(self, input_qparams: QParams, steps: list):
        self.input_qparams = input_qparams
        self.steps = steps
        self.network = _pack_network(input_qparams, steps)

    def forward_int(self, x):
        """The logits for a float batch ``x`` (N, ...), computed in integers after the first quantization."""
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float32)
        flattens = bool(self.steps) and self.steps[0][0] == "flatten"
        if self.network is not None and (flattens or x.ndim == 2):
            return kernels.integer_network_forward(self.network, x)
        qp = self.input_qparams
        h = kernels.quantize(x, float(qp.scale), int(qp.zero_point), np.uint8)
        if qp.qmax < 255:  # fewer than 8 bits: saturate at the narrower range
            np.minimum(h, qp.qmax, out=h)
        for kind, step in self.steps:
            if kind == "layer":
                h = step(h)
            elif kind == "pool":
                h = _max_pool_int(h, *step)
            else:  # flatten
                h = h.reshape(h.shape[0], -1)
        return h

    def predict(self, x, batch_size: int = 500) -> np.ndarray:
        """float32 logits, shape (N, n_classes)."""
        x = np.asarray(x)
        return np.concatenate([self.forward_int(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    @property
    def nbytes(self) -> int:
        return int(sum(step.nbytes for kind, step in self.steps if kind == "layer"))


def _pack_network(input_qparams: QParams, steps: list):
    """The whole-network kernel for an MLP of IntegerLinear layers, else None."""
    layers = [step for kind, step in (steps[1:] if steps and steps[0][0] == "flatten" else steps)]
    if not layers or any(kind not in ("layer", "flatten") for kind, _ in steps) or len(layers) != sum(
            kind == "layer" for kind, _ in steps):
        return None
    if not all(isinstance(layer, IntegerLinear) for layer in layers):
        return None
    if input_qparams.qmin != 0 or input_qparams.qmax != 255 or layers[-1].out_dtype is not np.float32:
        return None
    if any(layer.out_dtype is np.float32 for layer in layers[:-1]):
        return None
    return kernels.pack_integer_network(
        [layer.packed for layer in layers], [layer.bias_q for layer in layers], [layer.scale for layer in layers],
        [layer.in_zero for layer in layers] + [0], float(input_qparams.scale),
        relus=[layer.relu for layer in layers], out_qmax=[layer.out_qmax for layer in layers])


def to_integer(qmodel: Sequential) -> IntegerModel:
    """Convert a calibrated fake-quantized model (from :func:`.prepare.prepare`) into an :class:`IntegerModel`.

    Raises
    ------
    ValueError
        If the model was not prepared (no input quantizer), not calibrated, uses more than
        8 bits, or has a layer between quantizers the integer path cannot run.
    """
    layers = list(qmodel)
    if not layers or not isinstance(layers[0], ActivationFakeQuant):
        raise InputError("to_integer needs a model from prepare() whose first layer quantizes the input")
    in_qp = layers[0].qparams()
    current_qp = in_qp
    steps = []
    i = 1
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, (QuantLinear, QuantConv2d)):
            relu = i + 1 < len(layers) and isinstance(layers[i + 1], ReLU)
            j = i + 2 if relu else i + 1
            out_qp = None
            if j < len(layers) and isinstance(layers[j], ActivationFakeQuant):
                out_qp = layers[j].qparams()
                j += 1
            elif any(isinstance(m, (QuantLinear, QuantConv2d)) for m in layers[j:]):
                raise InputError(f"layer {i} feeds another weighted layer without an activation quantizer")
            cls = IntegerLinear if isinstance(layer, QuantLinear) else IntegerConv2d
            steps.append(("layer", cls(layer, current_qp, out_qp, relu)))
            current_qp = out_qp
            i = j
        elif isinstance(layer, MaxPool2d):
            steps.append(("pool", (layer.kernel_size, layer.stride or layer.kernel_size)))
            i += 1
        elif isinstance(layer, Flatten):
            steps.append(("flatten", None))
            i += 1
        elif isinstance(layer, (Dropout, ReLU)):
            i += 1  # dropout is the identity at inference; a ReLU on uint8 with z = 0 is too
        else:
            raise InputError(f"layer {i} ({type(layer).__name__}) has no integer version")
    return IntegerModel(in_qp, steps)
