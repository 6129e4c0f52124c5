"""E4 at inference: a layer that quantizes its input with the document's formula.

Insert :class:`ActivationQuantE4` after a layer to quantize that layer's output,
ã = round(a / 2^(b−1)) × 2^(b−1) (doc 001 §3.4.3, ``docs/documents.md#e4-activation-quantization``).
"""

from __future__ import annotations

from minicompress.engine import Tensor
from minicompress.equations._checks import check_bits
from minicompress.equations.quantize import quantize_activations_pow2_step
from minicompress.errors import InputTypeError
from minicompress.nn import Module, Sequential


class ActivationQuantE4(Module):
    """Quantize activations with E4 as written; inference only.

    The output is a new Tensor cut from the graph: round(·) has zero derivative almost
    everywhere, so no gradient flows through this layer (training through a quantizer
    needs a straight-through estimator, see ``minicompress.compress.quantization``).

    Parameters
    ----------
    bits : int
        Bit width b, ``1 <= b <= 64``; the step is 2^(b−1).

    Shapes
    ------
    input: any; output: the same shape and dtype.
    """

    def __init__(self, bits: int):
        super().__init__()
        self.bits = check_bits(bits)

    def forward(self, x):
        data = x.data if isinstance(x, Tensor) else x
        return Tensor(quantize_activations_pow2_step(data, self.bits))

    def spec(self) -> dict:
        return {"bits": self.bits}

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


def with_activation_quant(model: Sequential, bits: int, after=("ReLU",)) -> Sequential:
    """A new ``Sequential`` with an :class:`ActivationQuantE4` after every layer whose
    class name is in ``after`` (default: every ReLU).

    The layers are shared with ``model``, not copied; the new model's layer indices
    (and so its parameter names) shift by the inserted layers. For evaluation only.
    """
    if not isinstance(model, Sequential):
        raise InputTypeError(f"with_activation_quant needs a Sequential, got {type(model).__name__}")
    check_bits(bits)
    layers = []
    for layer in model:
        layers.append(layer)
        if type(layer).__name__ in after:
            layers.append(ActivationQuantE4(bits))
    return Sequential(*layers)
