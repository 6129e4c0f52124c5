"""Whole-model helpers every technique shares: apply a function to every weight, count float bytes.

* :func:`map_weights` -- a copy of a model whose every Linear/Conv2d weight went through a
  function (how the documents' as-written equations, E1, E2, E5, E6, are applied to a
  whole model);
* :func:`float32_bytes`, :func:`bias_bytes` -- the storage of an uncompressed model, the
  baseline every technique's bytes are compared with. Each technique counts its own
  result's bytes beside it: ``pruning.pruned_bytes``, ``quantization.integer_bytes`` and
  ``quantization.quantized_bytes``, ``IntegerModel.nbytes``, the size of a ``.mcz`` file.
"""

from __future__ import annotations

import numpy as np

from minicompress.io import copy_model
from minicompress.nn import Conv2d, Linear, Module


def map_weights(model: Module, fn) -> Module:
    """A copy of ``model`` whose every Linear/Conv2d weight ``w`` becomes ``fn(w)`` (biases untouched).

    Parameters
    ----------
    model : Module
        Not modified.
    fn : callable(ndarray) -> array_like of the same shape
        Gets the weight as the forward pass sees it (``effective("weight")``: masked weights
        are zero); its result is computed with in float64 and stored in the weight's dtype.

    Returns
    -------
    Module
        The copy (pruning masks are copied too).
    """
    out = copy_model(model)
    for _, layer in out.named_modules():
        if isinstance(layer, (Linear, Conv2d)):
            w = layer.effective("weight").data
            layer.weight.data = np.asarray(fn(w), dtype=np.float64).astype(layer.weight.dtype)
    return out


def float32_bytes(model: Module) -> int:
    """4 bytes per parameter, weights and biases (pruning masks and other buffers are not parameters)."""
    return 4 * int(sum(p.data.size for p in model.parameters()))


def bias_bytes(model: Module) -> int:
    """4 bytes per bias entry: what a technique that leaves the biases as float32 adds to its weights."""
    return 4 * int(sum(p.data.size for name, p in model.named_parameters() if name.endswith("bias")))


__all__ = ["bias_bytes", "float32_bytes", "map_weights"]
