"""Global pruning: one magnitude threshold across many layers, with optional per-layer caps.

Layer-wise pruning removes the same fraction from every layer. Global pruning ranks *all*
listed weights together and removes the smallest, so a layer with many small weights (the
784x300 first layer of LeNet-300-100) gives up more than a small, important one (the
100x10 output layer). A cap bounds how sparse any one layer may become, so no layer is
emptied.

With caps the choice is greedy in order of increasing score: each tensor ``i`` can give up
at most ``floor(cap_i * size_i)`` minus what is already pruned, and the ``k`` smallest
scores among those allowed candidates are pruned. ``ValueError`` if the caps cannot
accommodate ``k``.
"""

from __future__ import annotations

import numpy as np

from minicompress.compress.pruning.amount import prune_count, target_count
from minicompress.compress.pruning.mask import apply_mask, check_parameter, get_mask
from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Conv2d, Linear, Module
from minicompress.rng import as_generator


def prunable_parameters(model: Module, include_bias: bool = False):
    """``[(module, "weight"), ...]`` for every Linear and Conv2d of ``model`` (and biases if asked)."""
    if not isinstance(model, Module):
        raise InputTypeError(f"model must be a Module, got {type(model).__name__}")
    out = []
    for _, mod in model.named_modules():
        if isinstance(mod, (Linear, Conv2d)):
            out.append((mod, "weight"))
            if include_bias and mod.bias is not None:
                out.append((mod, "bias"))
    return out


def _check_parameters(parameters):
    parameters = list(parameters)
    if not parameters:
        raise InputError("parameters is empty; pass [(module, 'weight'), ...]")
    for item in parameters:
        if not (isinstance(item, tuple) and len(item) == 2):
            raise InputTypeError(f"parameters must be (module, name) pairs, got {item!r}")
        check_parameter(*item)
    return parameters


def _caps(caps, parameters):
    if caps is None:
        return [1.0] * len(parameters)
    if isinstance(caps, (int, float)):
        caps = [float(caps)] * len(parameters)
    caps = list(caps)
    if len(caps) != len(parameters):
        raise InputError(f"caps has {len(caps)} entries for {len(parameters)} parameters")
    for c in caps:
        if not 0.0 <= float(c) <= 1.0:
            raise InputError(f"every cap is a maximum sparsity in [0, 1], got {c}")
    return [float(c) for c in caps]


def _global_prune(parameters, k_of, scores_of, caps, optimizer):
    parameters = _check_parameters(parameters)
    caps = _caps(caps, parameters)
    masks = [get_mask(m, n) for m, n in parameters]
    sizes = [mk.size for mk in masks]
    n_pruned = sum(int(mk.size - mk.sum()) for mk in masks)
    k = k_of(sum(int(mk.sum()) for mk in masks), sum(sizes), n_pruned)
    # each tensor offers its smallest allowed-many unpruned scores; take the k smallest of all
    offers, owners, positions = [], [], []
    for i, ((m, n), mk, cap) in enumerate(zip(parameters, masks, caps)):
        allowed = max(int(np.floor(cap * mk.size + 1e-9)) - int(mk.size - mk.sum()), 0)
        remaining = np.flatnonzero(mk)
        s = scores_of(m, n).reshape(-1)[remaining]
        order = np.argsort(s, kind="stable")[:allowed]
        offers.append(s[order])
        owners.append(np.full(order.size, i))
        positions.append(remaining[order])
    offers, owners, positions = (np.concatenate(a) for a in (offers, owners, positions))
    if k > offers.size:
        raise InputError(f"asked to prune {k} more weights but the caps allow only {offers.size}")
    chosen = np.argsort(offers, kind="stable")[:k]
    for i, ((m, n), mk) in enumerate(zip(parameters, masks)):
        new = mk.reshape(-1).copy()
        new[positions[chosen][owners[chosen] == i]] = False
        apply_mask(m, n, new.reshape(mk.shape), optimizer)
    return parameters


def _scorer(importance, seed):
    if importance == "l1":
        return lambda m, n: np.abs(m.effective(n).data)
    if importance == "random":
        rng = as_generator(seed)
        return lambda m, n: rng.random(m._parameters[n].shape)
    raise InputError(f"importance must be 'l1' or 'random', got {importance!r}")


def global_unstructured(parameters, amount, importance: str = "l1", caps=None, seed=0,
                        optimizer=None):
    """Prune ``amount`` of all listed, still-unpruned entries, ranked together.

    Parameters
    ----------
    parameters : iterable of (Module, str)
        e.g. ``prunable_parameters(model)``.
    amount : float in [0, 1] or int
        Fraction (or count) of the entries that are still unpruned, over all tensors together.
    importance : "l1" or "random"
        Rank by |w| (global magnitude pruning) or at random.
    caps : float or sequence of float in [0, 1], optional
        Per-tensor maximum sparsity (pruned fraction of that tensor's entries).
    seed : int or Generator
        Used by ``importance="random"``.
    optimizer : Optimizer, optional

    Returns
    -------
    list of (Module, str)
    """
    def k_of(n_remaining, size, _):
        return prune_count(amount, n_remaining, size)
    return _global_prune(parameters, k_of, _scorer(importance, seed), caps, optimizer)


def global_unstructured_to_sparsity(parameters, sparsity: float, importance: str = "l1",
                                    caps=None, seed=0, optimizer=None):
    """Global pruning until ``sparsity`` of all listed entries (absolute) are pruned."""
    def k_of(_, size, n_pruned):
        return target_count(sparsity, n_pruned, size)
    return _global_prune(parameters, k_of, _scorer(importance, seed), caps, optimizer)
