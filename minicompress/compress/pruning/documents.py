"""The documents' pruning equations E3 and E5, applied to whole models.

The equations themselves live in :mod:`minicompress.equations` (exactly as written, with
their property tests); this file only walks a model's parameters and calls them.

* **E3** (doc 001 §3.3.3, ``docs/documents.md#e3-pruning-by-retention-ratio``), retention ratio r:
  ``Θ̃ = (1 − r)·Θ`` for every weight *and bias*. As written it scales; it removes nothing.
  :func:`e3_scale_by_retention` applies it as written. The prose around it ("keep a fraction
  r of the weights, delete the rest") is magnitude pruning with keep-ratio r:
  :func:`e3_keep_ratio` does that (per layer, or globally), through the same mask interface
  as every other pruning function.
* **E5** (doc 000 §3.1, ``docs/documents.md#e5-random-candidate-pruning``): choose a proportion p of the weights at
  random as candidates, remove the candidates within ``k·σ`` of the candidates' mean μ,
  ``W_pruned = W_original − W_removed``. :func:`e5_random_candidate_report` turns each layer's
  ``W_removed`` into a mask.
"""

from __future__ import annotations

import numpy as np

from minicompress.compress.pruning.global_ import (
    global_unstructured_to_sparsity,
    prunable_parameters,
)
from minicompress.compress.pruning.mask import apply_mask, check_parameter
from minicompress.compress.pruning.unstructured import l1_unstructured_to_sparsity
from minicompress.equations import random_candidate_pruning, scale_by_retention
from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Module
from minicompress.rng import as_generator


def e3_scale_by_retention(model: Module, r: float) -> Module:
    """E3 as written, in place: every parameter (weights and biases) becomes ``(1 − r)·θ``.

    Nothing is pruned: every nonzero weight stays nonzero (for r < 1); r = 1, "retain
    everything", zeroes the whole model. Returns ``model``. Masks, if any, are kept.
    """
    if not isinstance(model, Module):
        raise InputTypeError(f"model must be a Module, got {type(model).__name__}")
    model.load_state_dict(scale_by_retention(model, r))
    return model


def e3_keep_ratio(model: Module, r: float, scope: str = "layer", optimizer=None) -> Module:
    """The reading of E3 that the text describes: keep the fraction ``r`` of each weight tensor.

    Magnitude pruning of every Linear/Conv2d weight to absolute sparsity ``1 − r`` (biases
    are kept). ``scope="layer"`` prunes each layer to ``1 − r``; ``scope="global"`` ranks all
    weights together. Returns ``model``.
    """
    if not isinstance(r, (int, float)) or isinstance(r, bool) or not 0.0 <= r <= 1.0:
        raise InputError(f"r (the retention ratio) must be a number in [0, 1], got {r!r}")
    params = prunable_parameters(model)
    if scope == "layer":
        for mod, name in params:
            l1_unstructured_to_sparsity(mod, name, 1.0 - r, optimizer=optimizer)
    elif scope == "global":
        global_unstructured_to_sparsity(params, 1.0 - r, optimizer=optimizer)
    else:
        raise InputError(f"scope must be 'layer' or 'global', got {scope!r}")
    return model


def e5_random_candidate_report(module: Module, name: str, p: float, seed=0, k: float = 1.0,
                        optimizer=None) -> dict:
    """E5 on one parameter: mask out ``W_removed`` of :func:`minicompress.equations.random_candidate_pruning`.

    The equation runs on the current (masked) weight; the removed positions are masked
    (ANDed with any existing mask), so afterwards the parameter equals ``W_pruned``.

    Returns
    -------
    dict
        ``{"candidates": int, "removed": int, "size": int}``.
    """
    param = check_parameter(module, name)
    w = module.effective(name).data.copy()  # apply_mask zeroes the stored weight in place
    w_pruned, w_removed, candidates = random_candidate_pruning(w, p, seed, k=k)
    removed = candidates & (w_pruned == 0)
    apply_mask(module, name, ~removed, optimizer)
    return {"candidates": int(candidates.sum()), "removed": int((removed & (w != 0)).sum()),
            "size": int(param.size)}


def e5_random_candidate_model_report(model: Module, p: float, seed=0, k: float = 1.0,
                              optimizer=None) -> dict:
    """E5 on every Linear/Conv2d weight of ``model`` (biases kept); one seeded stream for all.

    Returns ``{"layers": [per-parameter dicts], "removed": total, "size": total}``.
    """
    rng = as_generator(seed)
    layers = [e5_random_candidate_report(mod, name, p, rng, k, optimizer)
              for mod, name in prunable_parameters(model)]
    return {"layers": layers, "removed": int(np.sum([d["removed"] for d in layers])),
            "size": int(np.sum([d["size"] for d in layers]))}
