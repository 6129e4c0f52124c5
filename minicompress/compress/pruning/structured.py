"""Structured pruning: remove whole channels (neurons of a Linear layer, filters of a Conv2d).

A *channel* is one slice of the parameter along ``dim``: with ``dim=0`` a row of a Linear
weight (out, in) is one output neuron, and ``weight[i]`` of a Conv2d (C_out, C_in, k, k) is
one filter. ``ln_structured`` removes the channels with the smallest L_n norm
``||W[i]||_n = (sum |w|^n)^(1/n)`` over all the other dimensions; ``random_structured`` picks
them at random. Removing whole channels is what lets :func:`.shrink.shrink` build a smaller
*dense* model afterwards.

``amount`` is a fraction (or int count) of the channels *not yet entirely pruned*, as in
PyTorch; the chosen channels are masked in full and ANDed with any existing mask.
"""

from __future__ import annotations

import numbers

import numpy as np

from minicompress.compress.pruning.amount import prune_count
from minicompress.compress.pruning.mask import apply_mask, check_parameter, get_mask
from minicompress.errors import InputError, InputTypeError
from minicompress.nn import Module
from minicompress.rng import as_generator


def _check_dim(dim, ndim):
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise InputTypeError(f"dim must be an int, got {dim!r}")
    if not -ndim <= dim < ndim:
        raise InputError(f"dim={dim} is out of range for a {ndim}-D parameter "
                         f"(allowed: {-ndim} .. {ndim - 1})")
    return int(dim) % ndim


def _channel_norms(w, n, dim):
    if isinstance(n, str):
        if n != "fro":
            raise InputError(f"n must be a positive number, inf, -inf or 'fro', got {n!r}")
        n = 2
    if isinstance(n, bool) or not isinstance(n, numbers.Real) or n == 0 or np.isnan(n):
        raise InputError(f"n must be a positive number, inf, -inf or 'fro', got {n!r}")
    if n < 0 and n != -np.inf:
        raise InputError(f"n must be a positive number, inf, -inf or 'fro', got {n!r}")
    flat = np.moveaxis(np.abs(w.astype(np.float64)), dim, 0).reshape(w.shape[dim], -1)
    if n == np.inf:
        return flat.max(axis=1)
    if n == -np.inf:
        return flat.min(axis=1)
    return (flat**n).sum(axis=1) ** (1.0 / n)


def _prune_channels(module, name, scores, amount, dim, optimizer):
    p = check_parameter(module, name)
    mask = get_mask(module, name)
    alive = np.moveaxis(mask, dim, 0).reshape(p.shape[dim], -1).any(axis=1)
    k = prune_count(amount, int(alive.sum()), p.shape[dim], what="amount (channels)")
    candidates = np.flatnonzero(alive)
    drop = candidates[np.argsort(scores[candidates], kind="stable")[:k]]
    keep = np.ones(p.shape[dim], dtype=bool)
    keep[drop] = False
    shape = [1] * p.ndim
    shape[dim] = p.shape[dim]
    new = np.broadcast_to(keep.reshape(shape), p.shape).copy()
    apply_mask(module, name, new, optimizer)
    return module


def ln_structured(module: Module, name: str, amount, n, dim: int, optimizer=None) -> Module:
    """Prune the ``amount`` channels along ``dim`` with the smallest L_n norm.

    Parameters
    ----------
    module : Module
    name : str
        e.g. ``"weight"``.
    amount : float in [0, 1] or int
        Fraction (or count) of the channels that still have an unpruned entry.
    n : float, ``numpy.inf``, ``-numpy.inf`` or ``"fro"``
        The norm: ``||W[i]||_n = (sum_j |W[i, j]|^n)^(1/n)`` over all dimensions but ``dim``,
        computed on the masked weight.
    dim : int
        The channel dimension: 0 = output neurons of Linear (out, in) / filters of Conv2d
        (C_out, C_in, k, k); 1 = input columns / input channels. Negative counts from the end.
    optimizer : Optimizer, optional
        Its state is zeroed at the pruned positions.
    """
    p = check_parameter(module, name)
    dim = _check_dim(dim, p.ndim)
    scores = _channel_norms(module.effective(name).data, n, dim)
    return _prune_channels(module, name, scores, amount, dim, optimizer)


def random_structured(module: Module, name: str, amount, dim: int, seed=0,
                      optimizer=None) -> Module:
    """Prune ``amount`` of the still-alive channels along ``dim``, chosen uniformly at random."""
    p = check_parameter(module, name)
    dim = _check_dim(dim, p.ndim)
    scores = as_generator(seed).random(p.shape[dim])
    return _prune_channels(module, name, scores, amount, dim, optimizer)


def channel_importance(weight, dim: int = 1, n=2) -> np.ndarray:
    """The L_n norm of every slice of ``weight`` along ``dim`` (over all other dimensions).

    ``dim=1`` gives the importance of each *input* channel of a Linear (out, in) or Conv2d
    (C_out, C_in, kh, kw) weight, ``||W[:, i]||``: the ranking MIT 6.5940's
    ``get_input_channel_importance`` uses (n = 2, the Frobenius norm) to decide which input
    channels (= the previous layer's output channels) to remove. ``dim=0`` is what
    :func:`ln_structured` ranks output channels by.

    Returns
    -------
    ndarray of float64, shape (weight.shape[dim],)
    """
    w = np.asarray(weight)
    if w.ndim < 2:
        raise InputError(f"weight must have at least 2 dimensions (out, in, ...), got shape {w.shape}")
    return _channel_norms(w, n, _check_dim(dim, w.ndim))


def num_channels_to_keep(channels: int, sparsity: float) -> int:
    """How many of ``channels`` survive pruning the fraction ``sparsity`` of them: ``round(channels * (1 - sparsity))``.

    The kept count is rounded (Python's ``round``, half to even), as MIT 6.5940's
    ``get_num_channels_to_keep(channels, prune_ratio)``; :func:`ln_structured` rounds the *pruned*
    count instead, ``channels - round(channels * amount)``, which differs when that ends in .5.
    """
    if isinstance(channels, bool) or not isinstance(channels, numbers.Integral) or channels < 0:
        raise InputError(f"channels must be a non-negative integer, got {channels!r}")
    if not 0.0 <= float(sparsity) <= 1.0:
        raise InputError(f"sparsity must be in [0, 1], got {sparsity}")
    return int(round(int(channels) * (1.0 - float(sparsity))))
