"""FitNets hints: teach a student's middle layer to predict a teacher's middle layer.

Romero et al. 2015, "FitNets: hints for thin deep nets" (doc 000 cites it as [4]).
The teacher's output at a *hint* layer h is the target for the student's output at a
*guided* layer g. Their widths differ, so a small learned *adapter* r (the paper's
regressor) maps the student's features to the teacher's shape:

.. math:: L_{hint} = \\frac{1}{M}\\sum \\big(r(g(x)) - h(x)\\big)^2

(the mean over the M elements of the batch of features; FitNets writes ½‖·‖², which
only rescales the learning rate). The adapter is a ``Linear`` for flat features (N, C)
and a 1×1 ``Conv2d`` for feature maps (N, C, H, W) of the same height and width.
Stage 1 (:func:`fit_hints`) trains the student up to layer g, with the adapter, on the
hint loss; stage 2 is ordinary distillation of the whole student
(:func:`minicompress.compress.distill.distill`). The adapter is thrown away after stage 1.

Capturing a middle layer: every model of the zoo is a ``Sequential``, so the output of
layer ``i`` is the input run through layers ``0..i`` (:func:`forward_to`); no hooks.
"""

from __future__ import annotations

import numbers

import numpy as np

from minicompress.engine import Tensor, no_grad
from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Conv2d, Linear, Module, Sequential
from minicompress.nn.losses import mse
from minicompress.optim import Adam
from minicompress.training import fit


def _layer_index(model, index, role="model") -> int:
    if not isinstance(model, Sequential):
        raise InputTypeError(f"the {role} must be a Sequential to tap a middle layer, got {type(model).__name__}")
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise InputTypeError(f"layer index must be an int, got {type(index).__name__}")
    n = len(model)
    if not -n <= index < n:
        raise InputError(f"layer index {index} is out of range for the {role}'s {n} layers (0..{n - 1})")
    return int(index) % n


def forward_to(model: Sequential, x, index: int) -> Tensor:
    """The output of layer ``index`` of a ``Sequential``: x run through layers 0..index.

    Parameters
    ----------
    model : Sequential
    x : Tensor or ndarray, shape (N, ...)
    index : int
        0-based, negative counts from the end (``-1`` is the whole model).

    Returns
    -------
    Tensor, the activation of layer ``index`` (a graph is built unless under ``no_grad``).
    """
    index = _layer_index(model, index)
    out = x if isinstance(x, Tensor) else Tensor(x)
    for layer in list(model)[: index + 1]:
        out = layer(out)
    return out


def layer_outputs(model: Sequential, x: np.ndarray, index: int, batch_size: int = 1000) -> np.ndarray:
    """``forward_to`` for a whole dataset, in eval mode and without a graph: an ndarray (N, ...)."""
    index = _layer_index(model, index)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            parts = [forward_to(model, x[i : i + batch_size], index).data for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    if not parts:
        raise InputError("layer_outputs() got no samples")
    return np.concatenate(parts)


def make_adapter(student_shape, teacher_shape, seed=0) -> Module:
    """The regressor from student features to teacher features.

    Parameters
    ----------
    student_shape, teacher_shape : tuple
        Per-sample feature shapes (without the batch axis): ``(C,)`` or ``(C, H, W)``.
    seed : int or numpy.random.Generator

    Returns
    -------
    Linear(C_s, C_t) for flat features; Conv2d(C_s, C_t, kernel_size=1) for maps of equal H, W.
    """
    s, t = tuple(student_shape), tuple(teacher_shape)
    if len(s) == 1 and len(t) == 1:
        return Linear(s[0], t[0], seed=seed)
    if len(s) == 3 and len(t) == 3:
        if s[1:] != t[1:]:
            raise InputError(
                f"student feature maps are {s[1]}x{s[2]} but the teacher's are {t[1]}x{t[2]}; a 1x1 "
                "adapter keeps height and width, so choose layers whose maps have the same size"
            )
        return Conv2d(s[0], t[0], 1, seed=seed)
    raise InputError(
        f"cannot adapt student features of shape {s} to teacher features of shape {t}; both must be "
        "flat (C,) or both feature maps (C, H, W)"
    )


def hint_loss(student_features, teacher_features, adapter: Module | None = None) -> Tensor:
    """mean((r(g) - h)²): the FitNets hint loss for one batch.

    Parameters
    ----------
    student_features : Tensor, shape (N, C_s) or (N, C_s, H, W)
    teacher_features : ndarray or Tensor, shape (N, C_t) or (N, C_t, H, W); a constant
    adapter : Module or None
        None when the shapes already match.

    Returns
    -------
    Tensor, scalar
    """
    g = student_features if isinstance(student_features, Tensor) else Tensor(student_features)
    h = np.asarray(teacher_features.data if isinstance(teacher_features, Tensor) else teacher_features)
    r = adapter(g) if adapter is not None else g
    if r.shape != h.shape:
        raise InputError(
            f"adapted student features have shape {r.shape} but the teacher's have shape {h.shape}"
            + ("" if adapter is not None else "; pass an adapter (make_adapter) to map one onto the other")
        )
    return mse(r, h.astype(r.dtype))


class _Guided(Module):
    """The student up to its guided layer, followed by the adapter (FitNets stage 1)."""

    def __init__(self, student, index, adapter):
        super().__init__()
        self.student, self.adapter, self.index = student, adapter, index

    def forward(self, x):
        return self.adapter(forward_to(self.student, x, self.index))


def fit_hints(teacher: Sequential, student: Sequential, x: np.ndarray, student_layer: int,
              teacher_layer: int, *, adapter: Module | None = None, epochs: int = 1,
              batch_size: int = 64, lr: float = 1e-3, seed=0, progress=None):
    """FitNets stage 1: train the student's layers 0..student_layer to predict the teacher's layer.

    The teacher's features are computed once (eval mode, no graph). Only the student's
    layers up to ``student_layer`` and the adapter are trained (Adam, ``lr``).

    Parameters
    ----------
    teacher, student : Sequential
    x : ndarray, shape (N, ...)
        Inputs (no labels needed).
    student_layer, teacher_layer : int
        The guided and the hint layer (indices into the two Sequentials).
    adapter : Module, optional
        Default ``make_adapter(student features, teacher features, seed)``.

    Returns
    -------
    (adapter, history)
        The trained adapter and ``fit``'s per-epoch logs (``"loss"`` is the hint loss).
    """
    si = _layer_index(student, student_layer, "student")
    _layer_index(teacher, teacher_layer, "teacher")
    targets = layer_outputs(teacher, x, teacher_layer)
    if adapter is None:
        with no_grad():
            s_shape = forward_to(student, x[:1], si).shape[1:]
        adapter = make_adapter(s_shape, targets.shape[1:], seed=seed)
    guided = _Guided(student, si, adapter)
    params = [p for layer in list(student)[: si + 1] for p in layer.parameters()] + adapter.parameters()
    history = fit(guided, Adam(params, lr=lr), x, targets, epochs=epochs, batch_size=batch_size, seed=seed,
                  loss_fn=lambda out, tb: hint_loss(out, tb), progress=progress)
    for logs in history:
        logs.pop("accuracy", None)  # a regression has no accuracy
    return adapter, history
