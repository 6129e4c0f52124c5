"""``amount`` versus target sparsity: the two ways to say how much to prune.

* ``amount`` (PyTorch's meaning) is *relative to what is left*: a float in [0, 1] prunes
  that fraction of the currently *unpruned* entries, an int prunes that many of them.
  Pruning twice with ``amount=0.5`` leaves 25 %, not 0 %.
* ``sparsity`` (the ``*_to_sparsity`` functions) is *absolute*: the fraction of all
  entries that are zero afterwards. Pruning twice to ``sparsity=0.5`` leaves 50 %.

Counts are rounded with Python's ``round`` (half to even), as PyTorch does.
"""

from __future__ import annotations

import numbers

from minicompress.errors import InputError, InputTypeError


def prune_count(amount, n_remaining: int, size: int, what="amount") -> int:
    """How many of ``n_remaining`` unpruned entries ``amount`` asks to prune.

    Parameters
    ----------
    amount : float in [0, 1] (fraction of the remaining entries) or int >= 0 (a count)
    n_remaining : int
        Entries (or channels) not yet pruned.
    size : int
        All entries (or channels) of the tensor.
    """
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise InputTypeError(f"{what} must be a float in [0, 1] or an int count, got {amount!r}")
    if isinstance(amount, numbers.Integral):
        amount = int(amount)
        if amount < 0:
            raise InputError(f"{what} as a count must be >= 0, got {amount}")
        if amount > size:
            raise InputError(f"{what}={amount} is larger than the tensor ({size} entries)")
        if amount > n_remaining:
            raise InputError(f"{what}={amount} but only {n_remaining} of {size} entries "
                             "are still unpruned")
        return amount
    amount = float(amount)
    if not 0.0 <= amount <= 1.0:
        raise InputError(f"{what} as a fraction must be in [0, 1], got {amount}; "
                         "pass an int to prune a count")
    return int(round(amount * n_remaining))


def target_count(sparsity, n_pruned: int, size: int) -> int:
    """How many more entries to prune so that ``sparsity`` of ``size`` are pruned.

    Returns 0 when the tensor is already at least that sparse (masks never un-prune).
    """
    if isinstance(sparsity, bool) or not isinstance(sparsity, numbers.Real):
        raise InputTypeError(f"sparsity must be a float in [0, 1], got {sparsity!r}")
    sparsity = float(sparsity)
    if not 0.0 <= sparsity <= 1.0:
        raise InputError(f"sparsity must be in [0, 1], got {sparsity}")
    return max(int(round(sparsity * size)) - n_pruned, 0)
