"""``export_onnx(model, path)``: a minicompress model as an ONNX file that ONNX Runtime runs.

Three kinds of model, one function:

* a float ``Sequential`` (every model of the zoo; a pruned one with its masks baked in):
  ``Gemm`` / ``Conv`` / ``Relu`` / ``MaxPool`` / ``Flatten`` (:mod:`.onnx_float`);
* a fake-quantized ``Sequential`` from :func:`~minicompress.compress.quantization.prepare`
  (static PTQ or QAT): the same graph with ``QuantizeLinear`` / ``DequantizeLinear`` pairs
  around the weights (per-tensor or per-channel) and the activations, the "QDQ" format
  ONNX Runtime turns into integer kernels itself;
* an :class:`~minicompress.compress.quantization.IntegerModel`: ``MatMulInteger`` /
  ``ConvInteger`` with explicit float64 requantization, bit-identical to ours
  (:mod:`.onnx_integer` says why not ``QLinearMatMul``).

Every graph has input ``"input"`` of shape ``(N, *input_shape)`` with a symbolic batch
dimension ``N`` and output ``"logits"`` (float32), and passes ``onnx.checker`` (full check,
with shape inference) before it is written. The file is written to a temporary file and
renamed (:func:`minicompress.io.atomic_write`).
"""

from __future__ import annotations

import numpy as np

from minicompress.compress.quantization import ActivationFakeQuant, IntegerModel, QuantConv2d, QuantLinear
from minicompress.engine import Tensor, no_grad
from minicompress.errors import InputError, InputTypeError
from minicompress.interop._optional import require
from minicompress.interop.onnx_float import emit_sequential
from minicompress.interop.onnx_graph import GraphBuilder
from minicompress.interop.onnx_integer import emit_integer
from minicompress.io import atomic_write
from minicompress.models import INPUT_SHAPES, MODEL_NAMES, build
from minicompress.nn import Conv2d, Flatten, Linear, MaxPool2d, Sequential


def model_kind(model) -> str:
    """``"float"``, ``"qdq"`` (fake-quantized Sequential) or ``"integer"`` (IntegerModel)."""
    if isinstance(model, IntegerModel):
        return "integer"
    if not isinstance(model, Sequential):
        raise InputTypeError(f"export_onnx takes a Sequential or an IntegerModel, got {type(model).__name__}")
    quant = (ActivationFakeQuant, QuantLinear, QuantConv2d)
    return "qdq" if any(isinstance(m, quant) for m in model) else "float"


def _signature(model) -> list[tuple]:
    """The shape-determining layers, in order: enough to recognise a zoo architecture."""
    from minicompress.compress.quantization.integer import IntegerConv2d, IntegerLinear

    sig = []
    if isinstance(model, IntegerModel):
        for kind, step in model.steps:
            if isinstance(step, IntegerLinear):
                sig.append(("linear", *reversed(step.w_q.shape)))
            elif isinstance(step, IntegerConv2d):
                sig.append(("conv", step.w_q.shape[1], step.w_q.shape[0], step.kernel_size, step.stride,
                            step.padding))
            elif kind == "pool":
                sig.append(("pool", step[0], step[1]))
            else:
                sig.append(("flatten",))
        return sig
    for layer in model:
        if isinstance(layer, (Linear, QuantLinear)):
            sig.append(("linear", layer.in_features, layer.out_features))
        elif isinstance(layer, (Conv2d, QuantConv2d)):
            sig.append(("conv", layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                        layer.padding))
        elif isinstance(layer, MaxPool2d):
            sig.append(("pool", layer.kernel_size, layer.stride or layer.kernel_size))
        elif isinstance(layer, Flatten):
            sig.append(("flatten",))
    return sig


def zoo_input_shape(model) -> tuple | None:
    """The per-sample input shape of the zoo model with ``model``'s architecture, or ``None``."""
    sig = _signature(model)
    for name in MODEL_NAMES:
        if _signature(build(name, seed=0)) == sig:
            return INPUT_SHAPES[name]
    return None


def _check_input_shape(model, input_shape) -> tuple:
    if input_shape is None:
        input_shape = zoo_input_shape(model)
        if input_shape is None:
            raise InputError("this model is not one of the zoo's architectures, so its input shape is unknown; "
                             "pass input_shape=(C, H, W) or (features,) (without the batch dimension)")
    try:
        input_shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise InputTypeError(f"input_shape must be a tuple of positive integers, got {input_shape!r}") from None
    if not input_shape or min(input_shape) < 1:
        raise InputError(f"input_shape must be a non-empty tuple of positive integers, got {input_shape}")
    return input_shape


def _reference_output(model, input_shape) -> np.ndarray:
    """minicompress's own output for one zero sample: checks the input shape, gives the output's."""
    x = np.zeros((1, *input_shape), dtype=np.float32)
    try:
        if isinstance(model, IntegerModel):
            return model.forward_int(x)
        modes = [(m, m.training) for _, m in model.named_modules()]
        model.eval()  # an ActivationFakeQuant in training mode would observe the zeros
        try:
            with no_grad():
                return model(Tensor(x)).data
        finally:
            for m, mode in modes:  # each module's own mode back, not the container's
                object.__setattr__(m, "training", mode)
    except (ValueError, TypeError, IndexError) as err:
        raise InputError(f"input_shape {input_shape} does not fit the model: {err}") from None


def to_onnx(model, input_shape=None):
    """The ``onnx.ModelProto`` of ``model``, checked by ``onnx.checker`` (see :func:`export_onnx`)."""
    onnx = require("onnx")
    kind = model_kind(model)
    input_shape = _check_input_shape(model, input_shape)
    out_shape = _reference_output(model, input_shape).shape[1:]
    g = GraphBuilder()
    x = g.fresh_name("input")
    if kind == "integer":
        y = emit_integer(g, x, model)
    else:
        y = emit_sequential(g, x, model, rank=1 + len(input_shape))
    y = g.node("Identity", [y], "logits")
    doc = f"minicompress {kind} model" + (" (int8 weights and activations)" if kind != "float" else "")
    proto = g.model(x, input_shape, onnx.TensorProto.FLOAT, y, out_shape, onnx.TensorProto.FLOAT, doc)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model, path, *, input_shape=None) -> int:
    """Write ``model`` to ``path`` as an ONNX file; return its size in bytes.

    Parameters
    ----------
    model : Sequential or IntegerModel
        A float model (pruning masks are baked in), a fake-quantized model from
        ``prepare``/``static_ptq``/QAT (exported as QuantizeLinear/DequantizeLinear pairs),
        or an integer model from ``to_integer`` (MatMulInteger/ConvInteger).
    path : str or os.PathLike
        Written atomically (temporary file, then rename).
    input_shape : tuple of int, optional
        One sample's shape, e.g. ``(1, 28, 28)``; found automatically for the zoo's architectures.

    Returns
    -------
    int
        The file's size in bytes.

    Raises
    ------
    InputError
        A layer the exporter does not cover (the message names it), or an unknown input shape.
    MissingDependencyError
        ``onnx`` is not installed (``pip install 'minicompress[onnx]'``).
    """
    data = to_onnx(model, input_shape).SerializeToString()
    atomic_write(path, lambda f: f.write(data))
    return len(data)
