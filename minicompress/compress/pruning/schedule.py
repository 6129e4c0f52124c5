"""When to prune: gradual (AGP), iterative prune-and-fine-tune, and lottery-ticket rewinding.

**AGP** (automated gradual pruning, Zhu & Gupta 2017) raises the sparsity during training
from s_i to s_f over n pruning steps Δt apart, starting at step t₀:

.. math:: s_t = s_f + (s_i - s_f)\\left(1 - \\frac{t - t_0}{n\\,\\Delta t}\\right)^3

fast at first, while there are many redundant weights, and slowly near the end.
:class:`AGPPruner` is a ``fit`` callback that prunes to ``s_t`` (absolute sparsity, by
magnitude) every Δt optimizer steps.

**Iterative pruning** (Han et al. 2015): prune, fine-tune, repeat, with the kept fraction
shrinking geometrically, ``kept_j = (1 − s_f)^(j / rounds)``.

**Lottery ticket** (Frankle & Carbin 2019): train, prune, then *rewind* the surviving
weights to their values at initialisation (or at an early step k, Frankle et al. 2020)
and retrain the sparse network. :class:`RewindCheckpoint` records the step-k weights;
:func:`rewind` resets the weights and keeps the masks.
"""

from __future__ import annotations

import numbers

import numpy as np

from minicompress.compress.pruning.global_ import (
    global_unstructured_to_sparsity,
    prunable_parameters,
)
from minicompress.compress.pruning.mask import pruned_parameters
from minicompress.compress.pruning.unstructured import (
    l1_unstructured_to_sparsity,
    random_unstructured_to_sparsity,
)
from minicompress.errors import InputError
from minicompress.nn import Module
from minicompress.rng import as_generator


def agp_sparsity(t, initial_sparsity: float, sparsity: float, t0: int, n: int, dt: int) -> float:
    """AGP target sparsity at step ``t`` (Zhu & Gupta 2017): s_f + (s_i − s_f)(1 − (t − t₀)/(nΔt))³, clipped.

    s_i is ``initial_sparsity`` and s_f the final ``sparsity``. Before ``t0`` it is s_i;
    after ``t0 + n*dt`` it is s_f. Between, it only changes at the pruning steps
    ``t0 + j*dt`` (``t`` is rounded down to the last one).
    """
    for val, what in ((initial_sparsity, "initial_sparsity"), (sparsity, "sparsity")):
        if not 0.0 <= val <= 1.0:
            raise InputError(f"{what} must be a sparsity in [0, 1], got {val}")
    if sparsity < initial_sparsity:
        raise InputError(f"sparsity ({sparsity}) must be >= initial_sparsity ({initial_sparsity}): "
                         "masks only ever prune more")
    for val, what in ((n, "n"), (dt, "dt")):
        if isinstance(val, bool) or not isinstance(val, numbers.Integral) or val < 1:
            raise InputError(f"{what} must be a positive integer, got {val!r}")
    if t < t0:
        return float(initial_sparsity)
    j = min((t - t0) // dt, n)
    return float(sparsity + (initial_sparsity - sparsity) * (1.0 - j / n) ** 3)


class AGPPruner:
    """``fit`` callback: magnitude-prune to the AGP sparsity every ``dt`` steps.

    Parameters
    ----------
    model : Module
    sparsity : float or sequence of float
        Final sparsity s_f of the pruned weights (absolute); a sequence gives one target per
        parameter (e.g. the output layer pruned less, as a sensitivity scan suggests),
        each following its own AGP curve (``scope="layer"`` only).
    n : int
        Number of pruning steps; the sparsity reaches its final value at step ``t0 + n*dt``.
    dt : int
        Optimizer steps between pruning steps.
    initial_sparsity : float
        Initial sparsity s_i (default 0).
    t0 : int
        First pruning step (default 0: prune at the first step).
    scope : "layer" or "global"
        Every layer to ``s_t`` (default), or one magnitude ranking across layers.
    parameters : list of (Module, str), optional
        What to prune; default every Linear/Conv2d weight (biases kept).
    importance : "l1" or "random"
        Which weights go at each step: smallest |w| (default), or random ones (the baseline
        that shows magnitude matters), drawn from ``seed``.
    seed : int or Generator

    The optimizer whose state is zeroed at pruned positions is the one ``fit`` passes in
    the training state.
    """

    def __init__(self, model: Module, sparsity: float, n: int, dt: int, initial_sparsity: float = 0.0, t0: int = 0,
                 scope: str = "layer", parameters=None, importance: str = "l1", seed=0):
        if scope not in ("layer", "global"):
            raise InputError(f"scope must be 'layer' or 'global', got {scope!r}")
        self.parameters = prunable_parameters(model) if parameters is None else list(parameters)
        if isinstance(sparsity, (int, float)):
            self.targets = [float(sparsity)] * len(self.parameters)
        else:
            self.targets = [float(v) for v in sparsity]
            if len(self.targets) != len(self.parameters):
                raise InputError(f"sparsity has {len(self.targets)} targets for "
                                 f"{len(self.parameters)} parameters")
            if scope == "global":
                raise InputError("per-parameter targets need scope='layer'")
        for target in self.targets:
            agp_sparsity(t0, initial_sparsity, target, t0, n, dt)  # validates the schedule
        if importance not in ("l1", "random"):
            raise InputError(f"importance must be 'l1' or 'random', got {importance!r}")
        self.importance, self.rng = importance, as_generator(seed)
        self.model, self.initial_sparsity, self.sparsity = model, initial_sparsity, sparsity
        self.n, self.dt, self.t0 = n, dt, t0
        self.scope = scope
        self.history: list[tuple[int, float]] = []

    def sparsities_at(self, t: int) -> list[float]:
        """Each tracked parameter's AGP target at step ``t``."""
        return [agp_sparsity(t, self.initial_sparsity, s, self.t0, self.n, self.dt) for s in self.targets]

    def prune_to(self, sparsities, optimizer=None) -> None:
        """Prune each tracked weight to its sparsity (``scope="global"``: all to the first)."""
        if self.scope == "global":
            global_unstructured_to_sparsity(self.parameters, sparsities[0], self.importance,
                                            seed=self.rng, optimizer=optimizer)
            return
        for (mod, name), s in zip(self.parameters, sparsities):
            if self.importance == "random":
                random_unstructured_to_sparsity(mod, name, s, seed=self.rng, optimizer=optimizer)
            else:
                l1_unstructured_to_sparsity(mod, name, s, optimizer=optimizer)

    def on_step(self, state) -> None:
        # state.step counts finished optimizer steps; pruning step t acts after step t.
        t = state.step - 1
        if t < self.t0 or (t - self.t0) % self.dt or (t - self.t0) // self.dt > self.n:
            return
        s = self.sparsities_at(t)
        self.prune_to(s, state.optimizer)
        self.history.append((t, s[0] if len(set(s)) == 1 else s))


def iterative_sparsities(sparsity: float, rounds: int) -> list[float]:
    """Round j's absolute sparsity, ``1 − (1 − sparsity)^(j / rounds)`` for j = 1..rounds."""
    if not 0.0 <= sparsity < 1.0:
        raise InputError(f"sparsity must be in [0, 1), got {sparsity}")
    if isinstance(rounds, bool) or not isinstance(rounds, numbers.Integral) or rounds < 1:
        raise InputError(f"rounds must be a positive integer, got {rounds!r}")
    return [1.0 - (1.0 - sparsity) ** (j / rounds) for j in range(1, rounds + 1)]


def iterative_prune(model: Module, sparsity: float, rounds: int, fine_tune,
                    scope: str = "layer", parameters=None) -> list[dict]:
    """Prune by magnitude to each of :func:`iterative_sparsities`, calling ``fine_tune`` after each.

    Parameters
    ----------
    fine_tune : callable(model, round_index) -> dict or None
        Retrains the pruned model (it should re-apply nothing: masks hold the zeros). Its
        return value is stored in the round's log.

    Returns
    -------
    list of dict
        ``{"round", "sparsity", "fine_tune"}`` per round.
    """
    params = prunable_parameters(model) if parameters is None else list(parameters)
    logs = []
    for j, s in enumerate(iterative_sparsities(sparsity, rounds)):
        if scope == "global":
            global_unstructured_to_sparsity(params, s)
        elif scope == "layer":
            for mod, name in params:
                l1_unstructured_to_sparsity(mod, name, s)
        else:
            raise InputError(f"scope must be 'layer' or 'global', got {scope!r}")
        logs.append({"round": j + 1, "sparsity": s, "fine_tune": fine_tune(model, j)})
    return logs


def snapshot(model: Module) -> dict:
    """Copies of every parameter of ``model`` (name -> array), for a later :func:`rewind`."""
    return {name: p.data.copy() for name, p in model.named_parameters()}


class RewindCheckpoint:
    """``fit`` callback recording the weights after optimizer step ``k`` (``k=0``: call ``take``).

    ``checkpoint.weights`` is the snapshot, ``None`` until step ``k`` has run.
    """

    def __init__(self, k: int):
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
            raise InputError(f"k must be an integer >= 0, got {k!r}")
        self.k = int(k)
        self.weights = None

    def take(self, model: Module) -> None:
        self.weights = snapshot(model)

    def on_step(self, state) -> None:
        if state.step == self.k and self.weights is None:
            self.take(state.model)


def rewind(model: Module, weights: dict, optimizer=None) -> Module:
    """Reset every parameter to ``weights`` (a :func:`snapshot`), keeping the masks.

    Pruned positions are zeroed again so the stored weights stay sparse; the optimizer's
    running state is cleared (the rewound network starts training afresh).
    """
    params = dict(model.named_parameters())
    missing = sorted(set(params) - set(weights))
    if missing:
        raise InputError(f"snapshot has no entry for {missing}")
    for name, p in params.items():
        w = np.asarray(weights[name])
        if w.shape != p.shape:
            raise InputError(f"snapshot {name!r} has shape {w.shape}, the model {p.shape}")
        p.data = w.astype(p.dtype, copy=True)
    for _, mod, pname in pruned_parameters(model):
        mod._parameters[pname].data[~np.asarray(mod._buffers[f"{pname}_mask"], dtype=bool)] = 0
    if optimizer is not None:
        optimizer.state.clear()
    return model
