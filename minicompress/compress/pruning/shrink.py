"""Physical shrink: turn a structurally pruned Sequential into a smaller dense one.

Masks alone make a model neither smaller nor faster: a 300-neuron layer with 150 masked
rows still multiplies 300 rows. :func:`shrink` deletes the dead units for real.

A hidden unit j of a weighted layer A (row j of a Linear, filter j of a Conv2d) is *dead* if

* its weights are all zero (row pruned): its output is the constant ``b_j``, or
* the next weighted layer B reads nothing from it (B's input columns for j are all zero).

A dead unit is removed from A's outputs and from B's inputs. A constant output is not lost:
it passes through the layers between A and B (ReLU, MaxPool2d, Dropout, Flatten map a
constant c to relu(c) or c) and is folded into B's bias,

.. math:: b_B \\leftarrow b_B + \\sum_{\\text{inputs } i \\text{ of unit } j} W_B[:, i]\\,\\phi(b_j)

which is exact for a Linear B and for a Conv2d B without padding (with padding the border
positions see zeros instead of the constant; such a unit must have a zero bias, e.g.
``custom_from_mask(layer, "bias", ...)``, or ``shrink`` raises). The model's outputs (the last
weighted layer's rows) are never removed. Masks that still hold unstructured zeros are
carried over, sliced.

Supported chains: Linear -> Linear, Conv2d -> Conv2d, Conv2d -> Flatten -> Linear, with any
of ReLU, MaxPool2d, Dropout, Flatten between.
"""

from __future__ import annotations

import numpy as np

from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential
from minicompress.nn.layers import LAYER_TYPES

_PASS = (ReLU, MaxPool2d, Dropout, Flatten)


def _mask(layer, name):
    m = layer._buffers.get(f"{name}_mask")
    p = layer._parameters[name]
    return np.ones(p.shape, dtype=bool) if m is None else np.asarray(m, dtype=bool)


def _input_groups(a, b, between):
    """Column index arrays of B's input for each output unit of A."""
    if isinstance(b, Linear):
        if isinstance(a, Linear):
            return [np.array([j]) for j in range(a.out_features)]
        if not any(isinstance(m, Flatten) for m in between):
            raise InputError("a Conv2d followed by a Linear needs a Flatten between them")
        if b.in_features % a.out_channels:
            raise InputError(f"Linear input {b.in_features} is not a multiple of the "
                             f"{a.out_channels} channels before it")
        hw = b.in_features // a.out_channels
        return [np.arange(j * hw, (j + 1) * hw) for j in range(a.out_channels)]
    if isinstance(a, Linear):
        raise InputError("a Linear followed by a Conv2d cannot be shrunk (no reshape layer)")
    return [np.array([j]) for j in range(a.out_channels)]


def _through(between, c):
    for m in between:
        if isinstance(m, ReLU):
            c = max(c, 0.0)
    return c


def shrink(model: Module) -> Sequential:
    """A new, smaller dense ``Sequential`` computing the same function as ``model``.

    Parameters
    ----------
    model : Sequential
        Linear/Conv2d layers with ReLU, MaxPool2d, Dropout, Flatten between them; pruned
        (masked) or with zero rows/filters.

    Returns
    -------
    Sequential
        Fewer units wherever whole rows, filters or input columns were zero; outputs equal
        the masked model's up to float rounding. ``model`` is not modified.
    """
    if not isinstance(model, Sequential):
        raise InputTypeError(f"shrink takes a Sequential, got {type(model).__name__}")
    layers = list(model)
    for i, layer in enumerate(layers):
        if not isinstance(layer, (Linear, Conv2d, *_PASS)):
            raise InputTypeError(f"layer {i} is {type(layer).__name__}; shrink handles Linear, Conv2d, "
                            "ReLU, MaxPool2d, Dropout and Flatten")
    weighted = [i for i, layer in enumerate(layers) if isinstance(layer, (Linear, Conv2d))]
    if not weighted:
        raise InputError("the model has no Linear or Conv2d layer to shrink")
    w = {i: layers[i].effective("weight").data.astype(np.float64) for i in weighted}
    bias = {i: (None if layers[i].bias is None else layers[i].effective("bias").data.astype(np.float64))
            for i in weighted}
    keep_out = {i: np.ones(w[i].shape[0], dtype=bool) for i in weighted}
    keep_in = {weighted[0]: np.arange(w[weighted[0]].shape[1])}
    for ia, ib in zip(weighted[:-1], weighted[1:]):
        a, b, between = layers[ia], layers[ib], layers[ia + 1 : ib]
        groups = _input_groups(a, b, between)
        wa = w[ia].reshape(w[ia].shape[0], -1)
        row_zero = ~wa.any(axis=1)
        col_zero = np.array([not w[ib][:, g].any() for g in groups])
        dead = row_zero | col_zero
        for j in np.flatnonzero(row_zero & ~col_zero):
            c = _through(between, 0.0 if bias[ia] is None else float(bias[ia][j]))
            if c == 0.0:
                continue
            if bias[ib] is None:
                raise InputError(f"layer {ib} has no bias to absorb the constant output of the "
                                 f"removed unit {j} of layer {ia}")
            if isinstance(b, Conv2d) and b.padding:
                raise InputError(f"unit {j} of layer {ia} is pruned but outputs the constant "
                                 f"{c:g}, which the padded Conv2d at layer {ib} cannot absorb "
                                 "exactly; zero that unit's bias first")
            extra = w[ib][:, groups[j]]
            bias[ib] = bias[ib] + extra.reshape(extra.shape[0], -1).sum(axis=1) * c
        keep_out[ia] = ~dead
        keep_in[ib] = np.concatenate([groups[j] for j in np.flatnonzero(~dead)]
                                     or [np.array([], dtype=int)])
    new_layers = []
    for i, layer in enumerate(layers):
        if i not in keep_out:
            new_layers.append(LAYER_TYPES[type(layer).__name__](**layer.spec()))
            continue
        rows, cols = np.flatnonzero(keep_out[i]), keep_in[i]
        if rows.size == 0:
            raise InputError(f"every unit of layer {i} is pruned: the model computes a constant")
        spec = layer.spec()
        if isinstance(layer, Linear):
            spec.update(in_features=int(cols.size), out_features=int(rows.size))
        else:
            spec.update(in_channels=int(cols.size), out_channels=int(rows.size))
        new = type(layer)(**spec)
        dtype = layer.weight.dtype
        new.weight.data = np.ascontiguousarray(w[i][rows][:, cols]).astype(dtype)
        wmask = _mask(layer, "weight")[rows][:, cols]
        if not wmask.all():
            new.register_buffer("weight_mask", wmask)
        if bias[i] is not None:
            new.bias.data = bias[i][rows].astype(layer.bias.dtype)
            bmask = _mask(layer, "bias")[rows]
            if not bmask.all():
                new.register_buffer("bias_mask", bmask)
        new_layers.append(new)
    return Sequential(*new_layers)
