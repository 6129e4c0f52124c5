"""Quantization-aware training: a model that computes with quantized values and still trains.

:func:`prepare` turns a float ``Sequential`` (Linear, Conv2d, ReLU, MaxPool2d, Flatten,
Dropout) into a fake-quantized one, placing quantizers where the integer model
(:mod:`.integer`) has integers:

* an :class:`ActivationFakeQuant` on the model's input;
* every Linear/Conv2d becomes a :class:`QuantLinear`/:class:`QuantConv2d` whose weight
  goes through :func:`.fake_quant.fake_quantize` (symmetric, per-tensor or per-channel)
  on every forward pass, so training sees the rounded weights and updates the float ones
  (straight-through estimator);
* an :class:`ActivationFakeQuant` after each weighted layer's output, or after the ReLU
  that follows it (the integer kernel fuses the ReLU); the last weighted layer's output
  stays float (the logits are dequantized).

The same prepared model serves static PTQ (:func:`calibrate` it on a few batches, then
evaluate) and QAT (train it with ``minicompress.training.fit``; the activation ranges
follow a moving average of the training batches). :func:`convert` gives back a plain
float model holding the quantized weight values; :func:`.integer.to_integer` gives the
integer model.
"""

from __future__ import annotations

import numpy as np

import minicompress.engine.functional as F
from minicompress.compress.quantization.fake_quant import fake_quantize
from minicompress.compress.quantization.observers import make_observer
from minicompress.compress.quantization.uniform import (
    QParams,
    QuantizedTensor,
    check_bits,
    check_scheme,
    choose_qparams,
    fake_quantize_array,
    qparams_from_range,
    quantize,
)
from minicompress.engine import Tensor, no_grad
from minicompress.errors import InputError, InputTypeError
from minicompress.io import copy_model
from minicompress.nn import Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, Parameter, ReLU, Sequential

WEIGHT_RANGES = ("minmax", "mse")

ACT_AVERAGING_CONSTANT = 0.1
"""The moving-average observers of a prepared model weight each new batch by 0.1, not by
PyTorch's default 0.01: static PTQ calibrates on a few batches (the demo on 4), which 0.01
would hardly move away from the first batch. (0.1 is what every measured figure used.)"""


def mse_clip_ratio(w: np.ndarray, bits: int, per_channel: bool) -> np.ndarray:
    """The clipping ratio α (one per channel, or one) minimising ||w − fq(w)||².

    Tries α in {1, 0.95, ..., 0.2} with the range ±α·max|w|: at 2-4 bits, clipping a few
    large weights buys a finer step for all the others.

    Returns
    -------
    ndarray, shape (C,) per-channel or (1,)
    """
    w64 = np.asarray(w, dtype=np.float64)
    flat = w64.reshape(w64.shape[0], -1) if per_channel else w64.reshape(1, -1)
    top = np.abs(flat).max(axis=1)
    best_err, best_alpha = np.full(top.shape, np.inf), np.ones(top.shape)
    for alpha in np.linspace(1.0, 0.2, 17):
        qp = qparams_from_range(-alpha * top, alpha * top, bits, "symmetric", 0)
        err = ((fake_quantize_array(flat, qp) - flat) ** 2).sum(axis=1)
        better = err < best_err
        best_err[better], best_alpha[better] = err[better], alpha
    return best_alpha


def weight_qparams(w: np.ndarray, bits: int, per_channel: bool, clip_ratio=None) -> QParams:
    """Symmetric weight quantizer for ``w`` (axis 0 = output channel when per-channel).

    s = α·max|w| / (2^(b−1) − 1), with α = 1 (min-max) unless ``clip_ratio`` gives it
    (see :func:`mse_clip_ratio`).
    """
    axis = 0 if per_channel else None
    if clip_ratio is None:
        return choose_qparams(w, bits, "symmetric", axis)
    w = np.asarray(w)
    top = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) if per_channel else np.abs(w).max()
    top = top * (clip_ratio if per_channel else clip_ratio[0])
    return qparams_from_range(-top, top, bits, "symmetric", axis)


class ActivationFakeQuant(Module):
    """Fake-quantize activations with a range chosen by an observer.

    Parameters
    ----------
    bits : int
        1-8 or 16.
    scheme : {"affine", "symmetric"}
        Affine (uint8 at 8 bits) by default: activations after ReLU are >= 0.
    observer : {"minmax", "moving_average", "percentile"}

    Flags (set by :func:`calibrate` and :func:`prepare`): ``calibrating`` (observe,
    do not quantize), ``observe_in_training`` (QAT: observe every training batch).
    In eval mode the range is frozen.

    Shapes: any input -> same shape.
    """

    def __init__(self, bits: int = 8, scheme: str = "affine", observer: str = "moving_average"):
        super().__init__()
        self.scheme = check_scheme(scheme)
        self.bits = check_bits(bits, scheme)
        self.observer = make_observer(observer, **(
            {"averaging_constant": ACT_AVERAGING_CONSTANT} if observer == "moving_average" else {}))
        self.calibrating = False
        self.observe_in_training = True

    def qparams(self) -> QParams:
        return self.observer.qparams(self.bits, self.scheme)

    def forward(self, x: Tensor) -> Tensor:
        if self.calibrating or (self.training and self.observe_in_training):
            self.observer.observe(x.data)
        if self.calibrating:
            return x
        return fake_quantize(x, self.qparams())

    def extra_repr(self):
        return f"bits={self.bits}, scheme={self.scheme}, observer={type(self.observer).__name__}"


class _QuantWeighted(Module):
    """Shared part of QuantLinear / QuantConv2d: the float layer's parameters, a weight quantizer."""

    def _take(self, layer, bits, per_channel, weight_range):
        self.bits = check_bits(bits, "symmetric")
        self.per_channel = bool(per_channel)
        if weight_range not in WEIGHT_RANGES:
            raise InputError(f"weight_range must be one of {WEIGHT_RANGES}; got {weight_range!r}")
        self.weight_range = weight_range
        self.weight = Parameter(layer.weight.data.copy())
        self.bias = None if layer.bias is None else Parameter(layer.bias.data.copy())
        for name, buf in layer._buffers.items():  # a pruning mask stays in force
            self.register_buffer(name, np.array(buf, copy=True))

        # The MSE clipping ratio is searched once, on the weights the layer starts from,
        # and then held: searching it on every training step would cost more than the step.
        self.clip_ratio = (mse_clip_ratio(self.effective("weight").data, self.bits, self.per_channel)
                           if weight_range == "mse" else None)

    def weight_qparams(self) -> QParams:
        return weight_qparams(self.effective("weight").data, self.bits, self.per_channel, self.clip_ratio)

    def quantized_weight(self) -> Tensor:
        w = self.effective("weight")
        return fake_quantize(w, self.weight_qparams())


class QuantLinear(_QuantWeighted):
    """Linear with a fake-quantized weight. (N, in) -> (N, out)."""

    def __init__(self, layer: Linear, bits: int = 8, per_channel: bool = False, weight_range: str = "minmax"):
        super().__init__()
        self.in_features, self.out_features = layer.in_features, layer.out_features
        self._take(layer, bits, per_channel, weight_range)

    def forward(self, x):
        return F.linear(x, self.quantized_weight(), self.bias)

    def to_float(self) -> Linear:
        out = Linear(self.in_features, self.out_features, bias=self.bias is not None)
        return _fill(out, self)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, bits={self.bits}, per_channel={self.per_channel}"


class QuantConv2d(_QuantWeighted):
    """Conv2d with a fake-quantized weight. (N, C_in, H, W) -> (N, C_out, Ho, Wo)."""

    def __init__(self, layer: Conv2d, bits: int = 8, per_channel: bool = False, weight_range: str = "minmax"):
        super().__init__()
        self.in_channels, self.out_channels = layer.in_channels, layer.out_channels
        self.kernel_size, self.stride, self.padding = layer.kernel_size, layer.stride, layer.padding
        self._take(layer, bits, per_channel, weight_range)

    def forward(self, x):
        return F.conv2d(x, self.quantized_weight(), self.bias, self.stride, self.padding)

    def to_float(self) -> Conv2d:
        out = Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
                     bias=self.bias is not None)
        return _fill(out, self)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"bits={self.bits}, per_channel={self.per_channel}")


def _fill(out, qlayer):
    with no_grad():
        out.weight.data = qlayer.quantized_weight().data.astype(np.float32)
    if qlayer.bias is not None:
        out.bias.data = qlayer.bias.data.copy()
    mask = qlayer._buffers.get("weight_mask")
    if mask is not None:
        out.register_buffer("weight_mask", np.array(mask, copy=True))
    return out


_PASS_THROUGH = (ReLU, MaxPool2d, Flatten, Dropout)


def prepare(model: Sequential, bits: int = 8, *, act_bits: int | None = None, per_channel: bool = False,
            observer: str = "moving_average", weight_range: str = "minmax") -> Sequential:
    """A fake-quantized copy of ``model`` for static PTQ or QAT (``model`` is not changed).

    Parameters
    ----------
    model : Sequential of Linear, Conv2d, ReLU, MaxPool2d, Flatten, Dropout
    bits : int
        Weight bits (symmetric, 2-8 or 16).
    act_bits : int, optional
        Activation bits (affine, 1-8 or 16); defaults to ``bits``.
    per_channel : bool
        One weight scale per output channel.
    observer : {"moving_average", "minmax", "percentile"}
        Activation range observer.
    weight_range : {"minmax", "mse"}
        How the weight scale is chosen (see :func:`mse_clip_ratio`).

    Returns
    -------
    Sequential
        Input quantizer, then the layers with quantized weights and activation quantizers.
    """
    if not isinstance(model, Sequential):
        raise InputTypeError(f"prepare needs a Sequential model, got {type(model).__name__}")
    check_bits(bits, "symmetric")
    act_bits = bits if act_bits is None else check_bits(act_bits, "affine")
    layers = list(copy_model(model))
    weighted = [i for i, layer in enumerate(layers) if isinstance(layer, (Linear, Conv2d))]
    if not weighted:
        raise InputError("the model has no Linear or Conv2d layer to quantize")
    for i, layer in enumerate(layers):
        if not isinstance(layer, (Linear, Conv2d, *_PASS_THROUGH)):
            raise InputTypeError(f"layer {i} ({type(layer).__name__}) cannot be quantized; "
                            "allowed: Linear, Conv2d, ReLU, MaxPool2d, Flatten, Dropout")
    out = [ActivationFakeQuant(act_bits, "affine", observer)]
    for i, layer in enumerate(layers):
        if isinstance(layer, Linear):
            out.append(QuantLinear(layer, bits, per_channel, weight_range))
        elif isinstance(layer, Conv2d):
            out.append(QuantConv2d(layer, bits, per_channel, weight_range))
        else:
            out.append(layer)
        if i >= weighted[-1]:
            continue
        # the output quantizer goes after the weighted layer, or after the ReLU fused with it
        fused_relu = isinstance(layer, ReLU) and i - 1 in weighted
        if fused_relu or (i in weighted and not isinstance(layers[i + 1], ReLU)):
            out.append(ActivationFakeQuant(act_bits, "affine", observer))
    return Sequential(*out)


def activation_quantizers(qmodel: Module) -> list[ActivationFakeQuant]:
    return [m for _, m in qmodel.named_modules() if isinstance(m, ActivationFakeQuant)]


def calibrate(qmodel: Module, batches, observer_reset: bool = True) -> Module:
    """Run ``batches`` through a prepared model to set every activation range; returns ``qmodel``.

    Parameters
    ----------
    qmodel : the output of :func:`prepare`
    batches : iterable of ndarray (N, ...) inputs
        A few batches suffice (e.g. 4 x 128 images). An empty iterable raises ``ValueError``.
    """
    quantizers = activation_quantizers(qmodel)
    if not quantizers:
        raise InputError("calibrate needs a model from prepare(): it has no ActivationFakeQuant")
    if observer_reset:
        for q in quantizers:
            q.observer = type(q.observer)(**_observer_kwargs(q.observer))
    batches = [np.asarray(b) for b in batches]
    if not batches:
        raise InputError("calibration got no batches; pass at least one batch of inputs")
    was_training = qmodel.training
    qmodel.eval()
    # Every quantizer observes the float activations at once (one pass per batch), as
    # in PyTorch's static quantization.
    for q in quantizers:
        q.calibrating = True
    try:
        with no_grad():
            for b in batches:
                qmodel(Tensor(b))
    finally:
        for q in quantizers:
            q.calibrating = False
        qmodel.train(was_training)
    return qmodel


def _observer_kwargs(obs) -> dict:
    kwargs = {"axis": obs.axis}
    if hasattr(obs, "averaging_constant"):
        kwargs["averaging_constant"] = obs.averaging_constant
    if hasattr(obs, "percentile"):
        kwargs["percentile"] = obs.percentile
    return kwargs


def prepare_qat(model: Sequential, bits: int = 4, *, act_bits: int | None = None, per_channel: bool = True,
                weight_range: str = "mse", calibration_batches=None) -> Sequential:
    """:func:`prepare` with QAT defaults (per-channel, MSE weight range, moving-average observers).

    ``calibration_batches`` (optional) initialises the activation ranges before training.
    """
    qmodel = prepare(model, bits, act_bits=act_bits, per_channel=per_channel, observer="moving_average",
                     weight_range=weight_range)
    if calibration_batches is not None:
        calibrate(qmodel, calibration_batches)
    return qmodel


def quantized_bytes(qmodel: Module) -> int:
    """Storage of a prepared (fake-quantized) model as its integer form would hold it.

    Per :class:`QuantLinear`/:class:`QuantConv2d`: the b-bit weights packed
    (``QuantizedTensor.nbytes``: packed integers plus float32 scales), and float32 biases;
    per :class:`ActivationFakeQuant`: one float32 scale and one int32 zero point (8 bytes).
    """
    total = 0
    for _, layer in qmodel.named_modules():
        if isinstance(layer, _QuantWeighted):
            qp = layer.weight_qparams()
            total += QuantizedTensor(quantize(layer.effective("weight").data, qp), qp).nbytes
            total += 0 if layer.bias is None else 4 * layer.bias.data.size
        elif isinstance(layer, ActivationFakeQuant):
            total += 8
    return int(total)


def convert(qmodel: Sequential) -> Sequential:
    """A plain float ``Sequential`` holding the fake-quantized weight values (activation quantizers dropped).

    Useful to save or prune a QAT result; the integer model is :func:`.integer.to_integer`.
    """
    layers = []
    for layer in qmodel:
        if isinstance(layer, ActivationFakeQuant):
            continue
        layers.append(layer.to_float() if isinstance(layer, _QuantWeighted) else layer)
    return copy_model(Sequential(*layers))
