"""E5, weight pruning in four steps, as doc 000 describes it.

Source: doc 000 §3.1 (called 权重裁剪; ``docs/documents.md#e5-random-candidate-pruning``): (1) pick a proportion p
of the weights at random as candidates; (2) compute the candidates' mean μ and
variance σ²; (3) from μ and σ² decide which candidates are kept; (4) put the kept
weights in the new model; then W_pruned = W_original − W_removed.

The document never says how μ and σ² decide. The rule here (a choice, named ``k``):
a candidate is *removed* when ``|w − μ| <= k·σ``, i.e. candidates close to the
candidates' mean (for trained weights μ ≈ 0, so: small weights) go, and outliers stay.
"""

from __future__ import annotations

import numbers

import numpy as np

from minicompress.engine._checks import check_number
from minicompress.equations._checks import as_real_array, check_probability
from minicompress.equations.rounding import round_half_away
from minicompress.errors import InputTypeError


def _generator(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InputTypeError(
            f"seed must be a non-negative integer or a numpy.random.Generator, got {seed!r}"
        )
    return np.random.default_rng(int(seed))


def random_candidate_pruning(w, p, seed, *, k=1.0):
    """E5: the documents' four pruning steps, with an explicit rule for μ and σ².

    1. Choose ``round(p · w.size)`` distinct positions uniformly at random (half away
       from zero) as candidates.
    2. μ = mean of the candidates, σ² = their (population, ddof = 0) variance.
    3. Rule (the document leaves it open): remove a candidate when ``|w − μ| <= k·σ``;
       keep the other candidates and every non-candidate.
    4. ``W_removed`` holds the removed weights in their positions and zeros elsewhere,

    .. math:: W_{pruned} = W_{original} - W_{removed}

    (doc 000 §3.1). Whatever the rule, W_pruned + W_removed =
    W_original exactly, the two have disjoint supports, and only candidates are removed.
    With σ = 0 (one candidate, or all equal) every candidate is removed.

    Parameters
    ----------
    w : array_like, any shape
        Finite weights (float32/float64 kept, integers become float64).
    p : float
        Candidate proportion, ``0 <= p <= 1``.
    seed : int or numpy.random.Generator
        Source of the random candidate choice; the same seed gives the same result.
    k : float, keyword-only
        Width of the removal band in standard deviations, ``k >= 0`` (default 1.0: about
        68 % of normally distributed candidates are removed).

    Returns
    -------
    w_pruned : numpy.ndarray
        Same shape and dtype as ``w``; zero where a weight was removed.
    w_removed : numpy.ndarray
        Same shape and dtype; the removed weights, zero elsewhere.
    candidates : numpy.ndarray of bool
        Same shape; True at the candidate positions of step 1.
    """
    arr = as_real_array(w, "w")
    p = check_probability(p, "p (the candidate proportion)")
    k = check_number(k, "k", low=0.0)
    rng = _generator(seed)
    n_candidates = int(round_half_away(p * arr.size))
    flat = np.zeros(arr.size, dtype=bool)
    flat[rng.choice(arr.size, size=n_candidates, replace=False)] = True
    candidates = flat.reshape(arr.shape)
    values = arr[candidates].astype(np.float64)
    if values.size:
        mu = values.mean()
        sigma = np.sqrt(values.var())
        removed = candidates & (np.abs(arr.astype(np.float64) - mu) <= k * sigma)
    else:
        removed = candidates
    w_removed = np.where(removed, arr, arr.dtype.type(0))
    w_pruned = arr - w_removed  # exact: w - w = 0 where removed, w - 0 = w elsewhere
    return w_pruned, w_removed, candidates
