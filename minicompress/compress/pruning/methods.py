"""Every pruning method by name, on a whole model: :func:`prune_model`.

``prune_model(model, method, sparsity=...)`` prunes every Linear/Conv2d weight of
``model`` in place (biases are kept) and returns it, as PyTorch's pruning functions do,
so the command line, a tutorial or a script call one function whatever the method:

=================  ==================================================================  =========================
method             what it prunes                                                       how much
=================  ==================================================================  =========================
``l1``             each weight tensor, its smallest |w|                                 ``sparsity`` or ``amount``
``random``         each weight tensor, at random (``seed``)                             ``sparsity`` or ``amount``
``ln-structured``  whole output channels (rows, filters) of the smallest L2 norm,       ``sparsity`` or ``amount``
                   every weighted layer but the last (the classes stay)                 of the channels
``global``         one magnitude ranking across all weights                             ``sparsity`` or ``amount``
``e3``             doc 001 §3.3 E3 as written: every parameter times (1 − r)            ``r`` (nothing removed)
``e5``             doc 000 §3.1 E5: candidates (proportion ``p``) within ``k``·σ of      ``p``, ``k``
                   their mean are removed
=================  ==================================================================  =========================

How much, in one of two words (give one, not both):

* ``sparsity`` is **absolute**: the fraction of each tensor's entries (for ``global``, of
  all listed entries; for ``ln-structured``, of each tensor's channels) that are pruned
  afterwards. Pruning a half-pruned model to ``sparsity=0.5`` changes nothing.
* ``amount`` is **PyTorch's** (``torch.nn.utils.prune``): a fraction of the entries *still
  unpruned*. Pruning a half-pruned model with ``amount=0.5`` leaves it 75 % sparse.
"""

from __future__ import annotations

import numbers

import numpy as np

from minicompress.compress.pruning.documents import e3_scale_by_retention, e5_random_candidate_model_report
from minicompress.compress.pruning.global_ import (
    global_unstructured,
    global_unstructured_to_sparsity,
    prunable_parameters,
)
from minicompress.compress.pruning.mask import get_mask
from minicompress.compress.pruning.structured import ln_structured
from minicompress.compress.pruning.unstructured import (
    l1_unstructured,
    l1_unstructured_to_sparsity,
    random_unstructured,
    random_unstructured_to_sparsity,
)
from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Module

METHODS = ("l1", "random", "ln-structured", "global", "e3", "e5")
_HOW_MUCH = ("l1", "random", "ln-structured", "global")


def _fraction(value, name, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a number in [0, 1], got {value!r}")
    value = float(value)
    if not 0.0 <= value <= 1.0 or (high_open and value == 1.0):
        raise InputError(f"{name} must be in [0, 1{')' if high_open else ']'}, got {value}")
    return value


def _structured_to_sparsity(module, name, sparsity):
    """ln_structured with the count that leaves ``sparsity`` of the rows pruned (absolute)."""
    mask = get_mask(module, name)
    rows = mask.reshape(mask.shape[0], -1)
    dead = int(np.sum(~rows.any(axis=1)))
    return ln_structured(module, name, max(int(round(sparsity * rows.shape[0])) - dead, 0), n=2, dim=0)


def prune_model(model: Module, method: str = "l1", *, sparsity=None, amount=None, r=None, p=None,
                k: float = 1.0, seed=0) -> Module:
    """Prune every Linear/Conv2d weight of ``model`` with ``method``, in place; return ``model``.

    Parameters
    ----------
    model : Module
    method : str
        One of :data:`METHODS` (see the module docstring).
    sparsity : float in [0, 1], optional
        Absolute target (``l1``, ``random``, ``ln-structured``, ``global``).
    amount : float in [0, 1], optional
        PyTorch's fraction of the remaining entries (the same methods). Give ``sparsity``
        or ``amount``.
    r : float in [0, 1]
        E3's retention ratio (``e3`` only).
    p : float in [0, 1]
        E5's candidate proportion (``e5`` only); ``k`` its band in standard deviations.
    seed : int
        ``random`` (layer i draws from ``seed + i``) and ``e5``.

    Returns
    -------
    Module
        ``model``, pruned (masks as ``weight_mask`` buffers; E3 scales and removes nothing).
    """
    if not isinstance(model, Module):
        raise InputTypeError(f"model must be a minicompress Module, got {type(model).__name__}")
    if method not in METHODS:
        raise InputError(f"unknown pruning method {method!r}; choose one of {METHODS}")
    given = {n: v for n, v in (("sparsity", sparsity), ("amount", amount), ("r", r), ("p", p)) if v is not None}
    allowed = {"e3": ("r",), "e5": ("p",)}.get(method, ("sparsity", "amount"))
    wrong = sorted(set(given) - set(allowed))
    if wrong:
        raise InputError(f"method {method!r} takes {' or '.join(allowed)}, not {', '.join(wrong)}")
    if len(given) != 1:
        raise InputError(f"method {method!r} needs exactly one of {', '.join(allowed)}; got "
                         f"{', '.join(given) or 'none'}")
    (what, value), = given.items()
    value = _fraction(value, what)
    params = prunable_parameters(model)
    if not params:
        raise InputError("the model has no Linear or Conv2d layer to prune")
    absolute = what == "sparsity"
    if method == "l1":
        for mod, name in params:
            (l1_unstructured_to_sparsity if absolute else l1_unstructured)(mod, name, value)
    elif method == "random":
        for i, (mod, name) in enumerate(params):
            fn = random_unstructured_to_sparsity if absolute else random_unstructured
            fn(mod, name, value, seed=seed + i)
    elif method == "ln-structured":
        for mod, name in params[:-1]:
            if absolute:
                _structured_to_sparsity(mod, name, value)
            else:
                ln_structured(mod, name, value, n=2, dim=0)
    elif method == "global":
        (global_unstructured_to_sparsity if absolute else global_unstructured)(params, value)
    elif method == "e3":
        e3_scale_by_retention(model, value)
    else:
        e5_random_candidate_model_report(model, value, seed=seed, k=k)
    return model


__all__ = ["METHODS", "prune_model"]
