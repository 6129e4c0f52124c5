"""Pruning tasks: MIT 6.5940 lab 1's fine-grained and channel pruning helpers, PyTorch's
``torch.nn.utils.prune`` masks (on arrays instead of modules), a global ranking and AGP.

A mask is a bool array of the weight's shape, True = keep. Every reference is the library's
own function (``minicompress.compress.pruning``) behind a thin adapter; the module-based ones
run on a one-parameter module holding a copy of the array.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from minicompress.compress.pruning import (
    agp_sparsity,
    channel_importance,
    custom_from_mask,
    get_mask,
    global_unstructured,
    l1_unstructured,
    ln_structured,
    magnitude_threshold_mask,
    num_channels_to_keep,
)
from minicompress.course.task import Example, Variant, default_compare
from minicompress.course.tasks._common import task_registrar
from minicompress.course.tasks._draw import distinct_magnitudes, grid_arrays, shapes
from minicompress.nn import Module, Parameter

CHAPTER = "pruning"


_task = task_registrar(CHAPTER)


def mask_compare(expected, got):
    """default_compare, except that a 0/1 array stands for a bool mask (MIT's lab returns
    ``torch.zeros_like(tensor)`` / ``ones_like`` at sparsity 1 / 0)."""
    if isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)) and len(expected) == len(got):
        for i, (e, g) in enumerate(zip(expected, got)):
            reason = mask_compare(e, g)
            if reason:
                return f"item {i}: {reason}"
        return None
    if isinstance(expected, np.ndarray) and expected.dtype == bool and isinstance(got, np.ndarray) \
            and got.dtype.kind in "iuf" and np.all((got == 0) | (got == 1)):
        got = got.astype(bool)
    return default_compare(expected, got)


class _Holder(Module):
    """A module with one parameter ``weight``: how the module-based pruning functions see an array."""

    def __init__(self, tensor, mask=None):
        super().__init__()
        self.weight = Parameter(np.array(tensor, dtype=np.float64))
        if mask is not None:
            custom_from_mask(self, "weight", np.asarray(mask, dtype=bool))


_MASKED_GRID = dict(lo=-8, hi=8, step=0.5)  # many equal magnitudes: ties are the rule, not the exception
_SPARSITY = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.6, 0.75, 0.9, 1.0]), st.floats(0.0, 1.0))

# ------------------------------------------------------------------ fine-grained (MIT lab 1)


def _fine_grained_prune(tensor, sparsity):
    mask = magnitude_threshold_mask(tensor, sparsity)
    tensor *= mask
    return mask


def _fgp_variant(how):
    def fn(tensor, sparsity):
        imp = np.abs(tensor) if how != "signed" else tensor
        k = int(sparsity * tensor.size) if how == "truncates" else int(round(sparsity * tensor.size))
        if k == 0:
            mask = np.ones(tensor.shape, dtype=bool)
        elif how == "exact_k":
            order = np.argsort(imp.reshape(-1), kind="stable")
            mask = np.ones(tensor.size, dtype=bool)
            mask[order[:k]] = False
            mask = mask.reshape(tensor.shape)
        else:
            t = np.sort(imp.reshape(-1))[k - 1]
            mask = imp >= t if how == "keeps_ties" else imp > t
        if how != "not_in_place":
            tensor *= mask
        return mask
    return fn


_task(
    "fine_grained_prune", "fine_grained_prune(tensor, sparsity)",
    """Magnitude-prune ``tensor`` IN PLACE to ``sparsity`` and return the mask (MIT 6.5940 lab 1).

    ``k = round(sparsity * tensor.size)`` (Python's ``round``: half to even); the threshold is the
    k-th smallest ``|w|``; ``mask = |w| > threshold``: weights EQUAL to the threshold are pruned too
    (so ties may prune more than k). ``k = 0`` keeps everything.

    Parameters
    ----------
    tensor : ndarray of float, any shape; pruned weights are set to 0 in place
    sparsity : float in [0, 1]

    Returns
    -------
    ndarray of bool, shape of ``tensor`` (True = kept). A 0/1 array is accepted too.
    """,
    _fine_grained_prune,
    st.fixed_dictionaries({"tensor": grid_arrays(max_dims=3, **_MASKED_GRID), "sparsity": _SPARSITY}),
    [Example({"tensor": np.array([[0.5, -2.0], [1.0, -0.5], [3.0, 0.0]]), "sparsity": 0.5},
             np.array([[False, True], [True, False], [True, False]]),
             "k = 3; sorted |w| = 0, 0.5, 0.5, 1, 2, 3: the threshold is 0.5; |w| > 0.5 keeps -2, 1 and 3"),
     Example({"tensor": np.array([2.0, -1.0, 1.0, 3.0]), "sparsity": 0.25},
             np.array([True, False, False, True]),
             "k = 1: threshold = 1; both |w| = 1 are pruned (ties are pruned)")],
    [Variant("keeps_ties", _fgp_variant("keeps_ties"),
             "you keep weights equal to the threshold (|w| >= t); ties are pruned (mask = |w| > t)"),
     Variant("exact_k", _fgp_variant("exact_k"),
             "you prune exactly round(sparsity * n) weights, ties broken by position; this task prunes every "
             "weight whose |w| equals the threshold (the k-th smallest |w|), as MIT's lab does with torch.gt"),
     Variant("signed", _fgp_variant("signed"),
             "you rank by the signed weight; a weight's importance is its magnitude |w|"),
     Variant("truncates", _fgp_variant("truncates"),
             "you truncate sparsity * n (int()); this task rounds it (Python's round, half to even)"),
     Variant("not_in_place", _fgp_variant("not_in_place"),
             "you return the right mask but leave `tensor` unchanged; this task (like MIT's lab) also zeroes "
             "the pruned weights in place (tensor *= mask)")],
    mutates=("tensor",), compare=mask_compare,
)

# ------------------------------------------------------------------ PyTorch's l1_unstructured


def _l1_unstructured(tensor, amount, mask=None):
    m = _Holder(tensor, mask)
    l1_unstructured(m, "weight", amount)
    return get_mask(m, "weight")


def _l1_variant(how):
    def fn(tensor, amount, mask=None):
        old = np.ones(tensor.shape, bool) if mask is None or how == "ignores_mask" else np.asarray(mask, bool)
        remaining = np.flatnonzero(old)
        if isinstance(amount, (int, np.integer)):
            k = int(amount)
        elif how == "of_all":
            k = int(round(amount * tensor.size))
        elif how == "truncates":
            k = int(amount * remaining.size)
        else:
            k = int(round(amount * remaining.size))
        k = min(k, remaining.size)
        order = np.argsort(np.abs(tensor).reshape(-1)[remaining], kind="stable")
        new = old.reshape(-1).copy()
        new[remaining[order[:k]]] = False
        return new.reshape(tensor.shape)
    return fn


@st.composite
def _l1_inputs(draw):
    t = draw(distinct_magnitudes(shapes(max_dims=2)))
    mask = draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=t.size, max_size=t.size).map(
        lambda v: np.array(v, dtype=bool).reshape(t.shape))))
    remaining = t.size if mask is None else int(mask.sum())
    amount = draw(st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.25, 0.5, 1.0]),
                            st.integers(0, remaining)))
    d = {"tensor": t, "amount": amount}
    if mask is not None:
        d["mask"] = mask
    return d


_task(
    "l1_unstructured", "l1_unstructured(tensor, amount, mask=None)",
    """The mask ``torch.nn.utils.prune.l1_unstructured`` leaves: prune ``amount`` of the entries still unpruned.

    ``amount`` is PyTorch's: a float in [0, 1] is a fraction of the entries still unpruned
    (``mask`` True; all of them if ``mask`` is None), ``k = round(amount * remaining)`` (Python's
    ``round``, half to even); an int is a count. The k remaining entries with the smallest ``|w|``
    are pruned (on equal magnitudes the library takes the lower flat index first; the generated
    inputs have no ties, since ``torch.topk`` leaves their order unspecified). The result is the
    old mask AND the new one: a pruned entry stays pruned. Inputs are not changed.

    Parameters
    ----------
    tensor : ndarray of float, any shape
    amount : float in [0, 1] or int
    mask : ndarray of bool, shape of ``tensor``, or None

    Returns
    -------
    ndarray of bool, shape of ``tensor``
    """,
    _l1_unstructured, _l1_inputs(),
    [Example({"tensor": np.array([[0.5, -0.1, 0.3], [-0.2, 0.0, 0.4]]), "amount": 0.5},
             np.array([[True, False, True], [False, False, True]]), "k = round(0.5 * 6) = 3: 0.0, 0.1, 0.2"),
     Example({"tensor": np.array([[0.5, -0.1, 0.3], [-0.2, 9.0, 0.4]]), "amount": 0.5,
              "mask": np.array([[True, True, True], [True, False, True]])},
             np.array([[True, False, True], [False, False, True]]),
             "5 remain: k = round(2.5) = 2 (half to even): 0.1 and 0.2; the masked 9.0 stays pruned")],
    [Variant("of_all_entries", _l1_variant("of_all"),
             "you prune amount * (all entries); PyTorch's amount is a fraction of the entries still unpruned"),
     Variant("ignores_mask", _l1_variant("ignores_mask"),
             "you ignore the existing mask: rank only the unpruned entries and AND the masks "
             "(a pruned entry stays pruned)"),
     Variant("truncates", _l1_variant("truncates"),
             "you truncate amount * remaining (int()); this task rounds it (Python's round, half to even), "
             "as PyTorch")],
    compare=mask_compare,
)

# ------------------------------------------------------------------ ln_structured


def _ln_structured(tensor, amount, n, dim, mask=None):
    m = _Holder(tensor, mask)
    ln_structured(m, "weight", amount, n, dim)
    return get_mask(m, "weight")


def _ln_variant(how):
    def fn(tensor, amount, n, dim, mask=None):
        old = np.ones(tensor.shape, bool) if mask is None else np.asarray(mask, bool)
        w = np.abs(np.moveaxis(tensor * old, dim, 0)).reshape(tensor.shape[dim], -1)
        if how == "l1":
            norms = w.sum(axis=1)
        else:
            p = 2.0 if n == "fro" else float(n)
            norms = w.max(axis=1) if p == np.inf else (w**p).sum(axis=1) ** (1 / p)
        alive = np.moveaxis(old, dim, 0).reshape(tensor.shape[dim], -1).any(axis=1)
        cand = np.flatnonzero(alive)
        if isinstance(amount, (int, np.integer)):
            k = int(amount)
        else:
            k = int(round(amount * (tensor.shape[dim] if how == "of_all" else cand.size)))
        k = min(k, cand.size)
        keep = np.ones(tensor.shape[dim], bool)
        keep[cand[np.argsort(norms[cand], kind="stable")[:k]]] = False
        shape = [1] * tensor.ndim
        shape[dim] = -1
        return old & np.broadcast_to(keep.reshape(shape), tensor.shape)
    return fn


@st.composite
def _ln_inputs(draw):
    t = draw(distinct_magnitudes(shapes(min_dims=2, max_dims=3, max_side=3), exponents=True))
    dim = draw(st.integers(0, t.ndim - 1))
    n = draw(st.sampled_from([1, 2, np.inf, "fro", 3]))
    mask = None
    if draw(st.booleans()):
        dead = draw(st.lists(st.integers(0, t.shape[dim] - 1), max_size=t.shape[dim], unique=True))
        keep = np.ones(t.shape[dim], bool)
        keep[dead] = False
        shape = [1] * t.ndim
        shape[dim] = -1
        mask = np.broadcast_to(keep.reshape(shape), t.shape).copy()
    alive = t.shape[dim] if mask is None else int(np.moveaxis(mask, dim, 0).reshape(t.shape[dim], -1)
                                                  .any(axis=1).sum())
    amount = draw(st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.25, 0.5]), st.integers(0, alive)))
    d = {"tensor": t, "amount": amount, "n": n, "dim": dim}
    if mask is not None:
        d["mask"] = mask
    return d


_task(
    "ln_structured", "ln_structured(tensor, amount, n, dim, mask=None)",
    """The mask ``torch.nn.utils.prune.ln_structured`` leaves: prune whole channels with the smallest L_n norm.

    A channel is a slice ``tensor[i]`` along ``dim`` (dim 0: output neurons / filters). Its norm
    ``||.||_n = (sum |w|^n)^(1/n)`` runs over ALL the other dimensions, on the masked weight;
    n may be a number, ``np.inf`` (max |w|) or ``"fro"`` (= 2). ``amount`` is a fraction of the
    channels still alive (with at least one unpruned entry), ``round`` half to even, or an int
    count (equal norms: the lower channel index goes first; the generated inputs have no ties).
    The chosen channels are masked entirely and the result is ANDed with ``mask``. Inputs are
    not changed.

    Returns
    -------
    ndarray of bool, shape of ``tensor``
    """,
    _ln_structured, _ln_inputs(),
    [Example({"tensor": np.array([[1.0, 1.0], [1.5, 0.0]]), "amount": 1, "n": 2, "dim": 0},
             np.array([[False, False], [True, True]]), "L2 norms: sqrt(2) = 1.41 < 1.5: row 0 goes"),
     Example({"tensor": np.array([[1.0, 1.0], [1.5, 0.0]]), "amount": 0.5, "n": 1, "dim": 1},
             np.array([[True, False], [True, False]]), "L1 norms of the columns: 2.5, 1.0: column 1 goes")],
    [Variant("l1_always", _ln_variant("l1"),
             "you rank channels by the L1 norm whatever n is; use (sum |w|^n)^(1/n) (max |w| for n = inf)"),
     Variant("of_all_channels", _ln_variant("of_all"),
             "you take amount of all channels; PyTorch's amount is a fraction of the channels still alive")],
    compare=mask_compare,
)

# ------------------------------------------------------------------ global pruning


def _global_unstructured(tensors, amount):
    holders = [_Holder(t) for t in tensors]
    global_unstructured([(h, "weight") for h in holders], amount)
    return [get_mask(h, "weight") for h in holders]


def _gu_per_tensor(tensors, amount):
    out = []
    for t in tensors:
        k = int(round(amount * t.size)) if isinstance(amount, float) else min(int(amount), t.size)
        order = np.argsort(np.abs(t).reshape(-1), kind="stable")
        m = np.ones(t.size, bool)
        m[order[:k]] = False
        out.append(m.reshape(t.shape))
    return out


def _gu_signed(tensors, amount):
    flat = np.concatenate([t.reshape(-1) for t in tensors])
    k = int(round(amount * flat.size)) if isinstance(amount, float) else int(amount)
    order = np.argsort(flat, kind="stable")
    m = np.ones(flat.size, bool)
    m[order[:k]] = False
    out, start = [], 0
    for t in tensors:
        out.append(m[start:start + t.size].reshape(t.shape))
        start += t.size
    return out


@st.composite
def _gu_inputs(draw):
    sizes = draw(st.lists(shapes(max_dims=2, max_side=4), min_size=1, max_size=3))
    flat = draw(distinct_magnitudes((sum(int(np.prod(s)) for s in sizes),)))
    ends = np.cumsum([int(np.prod(s)) for s in sizes])
    tensors = [part.reshape(s) for part, s in zip(np.split(flat, ends[:-1]), sizes)]
    total = sum(t.size for t in tensors)
    amount = draw(st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.25, 0.5, 0.75]), st.integers(0, total)))
    return {"tensors": tensors, "amount": amount}


_task(
    "global_unstructured", "global_unstructured(tensors, amount)",
    """Global magnitude pruning: ONE ranking of |w| over all the tensors together.

    ``amount``: a float in [0, 1] prunes ``round(amount * total)`` entries (total = entries of all
    tensors together, Python's ``round``), an int that many; the smallest ``|w|`` overall go first
    (equal magnitudes: earlier tensor, then lower flat index; the generated inputs have no ties). Like
    ``torch.nn.utils.prune.global_unstructured(..., pruning_method=L1Unstructured, amount=...)``.
    Inputs are not changed.

    Parameters
    ----------
    tensors : list of ndarray of float
    amount : float in [0, 1] or int

    Returns
    -------
    list of ndarray of bool, one mask per tensor
    """,
    _global_unstructured, _gu_inputs(),
    [Example({"tensors": [np.array([0.1, -3.0]), np.array([[0.5, 0.2], [-0.05, 2.0]])], "amount": 0.5},
             [np.array([False, True]), np.array([[True, False], [False, True]])],
             "k = 3 of 6: 0.05, 0.1, 0.2 (two in the second tensor, one in the first)")],
    [Variant("per_tensor", _gu_per_tensor,
             "you prune each tensor separately; global pruning ranks all tensors' |w| together, so one "
             "tensor may lose more than another"),
     Variant("signed", _gu_signed, "you rank by the signed weight; rank by |w|")],
    compare=mask_compare,
)

# ------------------------------------------------------------------ channel pruning (MIT lab 1)


def _gici_variant(how):
    def fn(weight):
        w = np.moveaxis(np.asarray(weight, dtype=np.float64), 0 if how == "output" else 1, 0)
        w = w.reshape(w.shape[0], -1)
        if how == "l1":
            return np.abs(w).sum(axis=1)
        if how == "squared":
            return (w**2).sum(axis=1)
        return np.sqrt((w**2).sum(axis=1))
    return fn


_task(
    "get_input_channel_importance", "get_input_channel_importance(weight)",
    """The importance of each INPUT channel of a layer: the Frobenius (L2) norm of ``weight[:, i]`` (MIT lab 1).

    Parameters
    ----------
    weight : ndarray of float, shape (C_out, C_in, kh, kw) or (out, in)

    Returns
    -------
    ndarray of float, shape (C_in,): ``sqrt(sum over o, kh, kw of weight[o, i, ...]^2)``.
    """,
    lambda weight: channel_importance(weight, dim=1, n=2),
    st.fixed_dictionaries({"weight": grid_arrays(shapes(min_dims=2, max_dims=4, max_side=4), lo=-16, hi=16,
                                                 step=0.25)}),
    [Example({"weight": np.array([[3.0, 1.0, 0.0], [4.0, -1.0, 0.0]])}, np.array([5.0, np.sqrt(2.0), 0.0]),
             "columns: sqrt(9 + 16) = 5, sqrt(1 + 1), 0")],
    [Variant("output_channels", _gici_variant("output"),
             "you measure output channels (axis 0); the importance of input channel i is the norm of weight[:, i]"),
     Variant("l1_norm", _gici_variant("l1"), "you sum |w| (L1); this task uses the Frobenius (L2) norm"),
     Variant("squared_norm", _gici_variant("squared"),
             "you return the squared norm (no square root); this task returns the Frobenius norm itself")],
)


_task(
    "get_num_channels_to_keep", "get_num_channels_to_keep(channels, prune_ratio)",
    """How many channels survive pruning a ratio of them: ``round(channels * (1 - prune_ratio))`` (MIT lab 1).

    The KEPT count is rounded, with Python's ``round`` (half to even): 5 channels at ratio 0.5 keep
    ``round(2.5) = 2``.

    Returns
    -------
    int
    """,
    lambda channels, prune_ratio: num_channels_to_keep(channels, prune_ratio),
    st.fixed_dictionaries({"channels": st.integers(0, 512), "prune_ratio": st.one_of(
        st.integers(0, 16).map(lambda k: k / 16), st.floats(0.0, 1.0))}),
    [Example({"channels": 5, "prune_ratio": 0.5}, 2, "round(2.5) = 2 (half to even)"),
     Example({"channels": 64, "prune_ratio": 0.3}, 45, "64 * 0.7 = 44.8 -> 45")],
    [Variant("truncates", lambda channels, prune_ratio: int(channels * (1 - prune_ratio)),
             "you truncate channels * (1 - prune_ratio) (int()); this task rounds it (Python's round)"),
     Variant("rounds_pruned_count", lambda channels, prune_ratio: channels - int(round(channels * prune_ratio)),
             "you round the PRUNED count (channels - round(channels * r)); this task rounds the kept count "
             "round(channels * (1 - r)), as MIT's lab; they differ when channels * r ends in .5"),
     Variant("returns_pruned", lambda channels, prune_ratio: int(round(channels * prune_ratio)),
             "you return how many channels are pruned; this task returns how many are kept")],
)

# ------------------------------------------------------------------ AGP


def _agp_variant(how):
    def fn(t, s_i, s_f, t0, n, dt):
        if t < t0:
            return float(s_i)
        j = (t - t0) / dt if how == "continuous" else (t - t0) // dt
        if how != "no_clip":
            j = min(j, n)
        power = 1 if how == "linear" else 3
        return float(s_f + (s_i - s_f) * (1.0 - j / n) ** power)
    return fn


@st.composite
def _agp_inputs(draw):
    s_i = draw(st.sampled_from([0.0, 0.0, 0.1, 0.25, 0.5]))
    s_f = draw(st.sampled_from([0.5, 0.75, 0.8, 0.9, 0.99, 1.0]).filter(lambda s: s >= s_i))
    t0, n, dt = draw(st.integers(0, 20)), draw(st.integers(1, 10)), draw(st.integers(1, 5))
    return {"t": draw(st.integers(0, 100)), "s_i": s_i, "s_f": s_f, "t0": t0, "n": n, "dt": dt}


_task(
    "agp_sparsity", "agp_sparsity(t, s_i, s_f, t0, n, dt)",
    """Automated gradual pruning's target sparsity at step ``t`` (Zhu & Gupta 2017).

    ``s_t = s_f + (s_i - s_f) (1 - j / n)^3`` with ``j = min((t - t0) // dt, n)``: the sparsity only
    changes at the pruning steps ``t0 + j dt`` (t is rounded down to the last one) and stays at
    ``s_f`` after ``t0 + n dt``; before ``t0`` it is ``s_i``.

    Returns
    -------
    float
    """,
    lambda t, s_i, s_f, t0, n, dt: agp_sparsity(t, s_i, s_f, t0, n, dt),
    _agp_inputs(),
    [Example({"t": 5, "s_i": 0.0, "s_f": 0.8, "t0": 0, "n": 4, "dt": 2}, 0.7,
             "j = 5 // 2 = 2; 0.8 - 0.8 * (1 - 2/4)^3 = 0.8 - 0.1 = 0.7"),
     Example({"t": 50, "s_i": 0.0, "s_f": 0.8, "t0": 0, "n": 4, "dt": 2}, 0.8, "after t0 + n dt: s_f")],
    [Variant("continuous_t", _agp_variant("continuous"),
             "you use t itself; the sparsity only changes at the pruning steps t0 + j dt (j = (t - t0) // dt)"),
     Variant("linear", _agp_variant("linear"), "your schedule is linear; AGP's is cubic: (1 - j / n)^3"),
     Variant("no_clip", _agp_variant("no_clip"),
             "after t0 + n dt your sparsity keeps moving; it stays at s_f (j = min((t - t0) // dt, n))")],
)

__all__ = ["CHAPTER", "mask_compare"]
