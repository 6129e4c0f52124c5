"""Unstructured pruning: remove individual weights, chosen at random or by magnitude.

``l1_unstructured`` removes the weights with the smallest |w| (Han et al. 2015's magnitude
pruning); ``random_unstructured`` removes weights chosen uniformly at random (the baseline
that shows magnitude matters). Both take PyTorch's ``amount`` (a fraction of the weights
*still unpruned*, or an int count, see :mod:`.amount`); the ``*_to_sparsity`` variants take
an absolute target instead. The new mask is ANDed with any existing one.
"""

from __future__ import annotations

import numpy as np

from minicompress.compress.pruning.amount import prune_count, target_count
from minicompress.compress.pruning.mask import apply_mask, check_parameter, get_mask
from minicompress.errors import InputError
from minicompress.nn import Module
from minicompress.rng import as_generator


def smallest_mask(scores: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """``mask`` with its ``k`` lowest-scoring True entries set False (ties: lowest index first)."""
    remaining = np.flatnonzero(mask)
    order = np.argsort(scores.reshape(-1)[remaining], kind="stable")
    new = mask.copy().reshape(-1)
    new[remaining[order[:k]]] = False
    return new.reshape(mask.shape)


def _magnitude(module, name, importance_scores):
    w = module.effective(name).data
    if importance_scores is None:
        return np.abs(w)
    scores = np.asarray(importance_scores)
    if scores.shape != w.shape:
        raise InputError(f"importance_scores has shape {scores.shape}, the parameter {w.shape}")
    return scores


def l1_unstructured(module: Module, name: str, amount, optimizer=None,
                    importance_scores=None) -> Module:
    """Prune the ``amount`` smallest-magnitude unpruned entries of ``module.<name>``.

    Parameters
    ----------
    module : Module
    name : str
        e.g. ``"weight"``.
    amount : float in [0, 1] or int
        Fraction of the *currently unpruned* entries to prune, or their number. Entries
        with the smallest |w| go first; ties go in index order.
    optimizer : Optimizer, optional
        Its running state is zeroed at the pruned positions (see :mod:`.mask`).
    importance_scores : ndarray, optional
        Scores to rank by instead of |w| (same shape as the parameter).

    Returns
    -------
    Module
        ``module``, with ``<name>_mask`` = old mask AND new.
    """
    p = check_parameter(module, name)
    mask = get_mask(module, name)
    k = prune_count(amount, int(mask.sum()), p.size)
    return _prune_smallest(module, name, _magnitude(module, name, importance_scores), mask, k,
                           optimizer)


def _prune_smallest(module, name, scores, mask, k, optimizer):
    apply_mask(module, name, smallest_mask(scores, mask, k), optimizer)
    return module


def random_unstructured(module: Module, name: str, amount, seed=0, optimizer=None) -> Module:
    """Prune ``amount`` of the unpruned entries of ``module.<name>``, chosen uniformly at random.

    ``amount`` as in :func:`l1_unstructured`; ``seed`` is an int or ``numpy.random.Generator``.
    """
    p = check_parameter(module, name)
    mask = get_mask(module, name)
    k = prune_count(amount, int(mask.sum()), p.size)
    scores = as_generator(seed).random(p.shape)
    return _prune_smallest(module, name, scores, mask, k, optimizer)


def l1_unstructured_to_sparsity(module: Module, name: str, sparsity: float,
                                optimizer=None) -> Module:
    """Magnitude-prune ``module.<name>`` until ``sparsity`` of *all* its entries are pruned.

    Absolute, unlike ``amount``: calling it twice with 0.9 leaves 10 % of the weights, and a
    tensor already sparser than the target is left as it is.
    """
    p = check_parameter(module, name)
    mask = get_mask(module, name)
    k = target_count(sparsity, int(p.size - mask.sum()), p.size)
    return _prune_smallest(module, name, _magnitude(module, name, None), mask, k, optimizer)


def random_unstructured_to_sparsity(module: Module, name: str, sparsity: float, seed=0,
                                    optimizer=None) -> Module:
    """Random pruning of ``module.<name>`` up to an absolute ``sparsity``."""
    p = check_parameter(module, name)
    mask = get_mask(module, name)
    k = target_count(sparsity, int(p.size - mask.sum()), p.size)
    scores = as_generator(seed).random(p.shape)
    return _prune_smallest(module, name, scores, mask, k, optimizer)
