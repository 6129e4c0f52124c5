"""Deep Compression (Han, Mao & Dally 2016) as one pipeline: prune, share weights, fine-tune.

:func:`deep_compress` runs the paper's first two stages on a copy of a trained model and
returns a :class:`DeepCompressionResult`; the third stage, Huffman coding, is writing the
result with :func:`minicompress.compress.packing.pack` (``result.stage_bytes()`` counts
every stage as a complete file). The steps, each a public function of its own chapter:

1. **prune** by global magnitude to ``sparsity`` (the fraction of all weights that are
   zero afterwards, biases kept), either at once (``schedule="one-shot"``) or along an AGP
   schedule over ``prune_epochs`` epochs (``schedule="agp"``, :class:`.pruning.AGPPruner`);
   then fine-tune ``fine_tune_epochs`` epochs with Adam, the masks held;
2. **k-means weight sharing** per layer with ``bits``-bit indices
   (:func:`.kmeans.share_weights`, linear initialisation, the zero reserved);
3. **centroid fine-tuning** (:class:`.kmeans.CentroidOptimizer`): a centroid's gradient
   is the sum of its members' gradients.

Every ``fit`` of the pipeline shuffles with ``seed``: the same seed gives the same model.
``tutorials/08_deep_compression.py`` does the same steps one by one, to show each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from minicompress.compress.kmeans import CentroidOptimizer, share_weights
from minicompress.compress.packing import stage_bytes
from minicompress.compress.pruning import (
    AGPPruner,
    KeepPruned,
    global_unstructured_to_sparsity,
    prunable_parameters,
    sparsity_report,
)
from minicompress.errors import InputError
from minicompress.io import copy_model
from minicompress.nn import Module
from minicompress.optim import Adam
from minicompress.training import evaluate, fit

SCHEDULES = ("one-shot", "agp")


@dataclass
class DeepCompressionResult:
    """What :func:`deep_compress` returns.

    Attributes
    ----------
    model : Module
        Pruned (``weight_mask`` buffers), weight-shared and centroid-tuned: at most
        ``2**bits - 1`` distinct nonzero weights per layer, ready for ``packing.pack``.
    pruned : Module
        A copy after step 1 (pruned and fine-tuned, before weight sharing).
    clusterings : dict
        ``{layer name: Clustering}`` from :func:`.kmeans.share_weights`.
    sparsity : float
        Achieved fraction of zero weights (weights only, biases excluded).
    accuracy : dict
        With ``evaluate_on``: test accuracy ``"pruned_before_fine_tune"``, ``"pruned"``,
        ``"clustered"`` (before centroid fine-tuning) and ``"final"``; empty otherwise.
    seconds : dict
        Wall-clock seconds of ``"prune"`` (step 1) and ``"share_weights"`` (steps 2 and 3).
    """

    model: Module
    pruned: Module
    clusterings: dict
    sparsity: float
    accuracy: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def stage_bytes(self, gap_bits=None) -> dict:
        """Bytes of each stage as a packed file (:func:`.packing.stage_bytes` of :attr:`model`)."""
        return stage_bytes(self.model, gap_bits)


def _check_epochs(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise InputError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def deep_compress(model: Module, x_train: np.ndarray, y_train: np.ndarray, *, sparsity: float = 0.92,
                  schedule: str = "one-shot", prune_epochs: int = 0, fine_tune_epochs: int = 3,
                  lr: float = 5e-4, agp_every: int = 25, bits: int = 5, centroid_epochs: int = 1,
                  centroid_lr: float = 1e-4, batch_size: int = 64, seed: int = 0, evaluate_on=None,
                  progress: bool | None = False) -> DeepCompressionResult:
    """Prune, weight-share and fine-tune a copy of ``model`` (``model`` itself is untouched).

    Parameters
    ----------
    model : Module
        A trained model of Linear/Conv2d layers (LeNet-300-100 in the paper's Table 1).
    x_train, y_train : ndarray (N, ...) and int ndarray (N,)
        Fine-tuning data.
    sparsity : float in [0, 1)
        Absolute target: the fraction of all weights that are zero after pruning (Han et al.
        keep 8 % of LeNet-300-100's weights: 0.92).
    schedule : {"one-shot", "agp"}
        Prune to ``sparsity`` at once, or along AGP over ``prune_epochs`` epochs, pruning every
        ``agp_every`` steps and reaching the target one epoch before the end.
    prune_epochs : int
        Epochs of AGP pruning (``schedule="agp"`` only; at least 1 there).
    fine_tune_epochs : int
        Epochs of fine-tuning with the masks held, after pruning.
    lr : float
        Adam learning rate of pruning and fine-tuning.
    bits : int
        k-means index bits per layer (5: the paper's choice for fully connected layers).
    centroid_epochs, centroid_lr :
        Centroid fine-tuning.
    batch_size, seed, progress :
        As in ``minicompress.training.fit``; every fit shuffles with ``seed``.
    evaluate_on : (x_test, y_test), optional
        Measure the accuracy after each step (``result.accuracy``).

    Returns
    -------
    DeepCompressionResult
    """
    if schedule not in SCHEDULES:
        raise InputError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if isinstance(sparsity, bool) or not isinstance(sparsity, (int, float, np.floating)) \
            or not 0.0 <= sparsity < 1.0:
        raise InputError(f"sparsity must be a fraction in [0, 1) of the weights to prune, got {sparsity!r}")
    prune_epochs = _check_epochs(prune_epochs, "prune_epochs")
    fine_tune_epochs = _check_epochs(fine_tune_epochs, "fine_tune_epochs")
    centroid_epochs = _check_epochs(centroid_epochs, "centroid_epochs")
    if schedule == "agp" and prune_epochs < 1:
        raise InputError("schedule='agp' prunes during training: prune_epochs must be >= 1")
    if schedule == "one-shot" and prune_epochs:
        raise InputError("prune_epochs applies to schedule='agp'; one-shot pruning is followed by "
                         "fine_tune_epochs")
    accuracy = {}

    def measure(key, m):
        if evaluate_on is not None:
            accuracy[key] = float(evaluate(m, *evaluate_on)["accuracy"])

    t0 = time.perf_counter()
    pruned = copy_model(model)
    opt = Adam(pruned.parameters(), lr=lr)
    if schedule == "one-shot":
        global_unstructured_to_sparsity(prunable_parameters(pruned), sparsity, optimizer=opt)
    else:
        steps_per_epoch = -(-len(x_train) // batch_size)
        n = max(1, (prune_epochs - 1) * steps_per_epoch // agp_every)
        fit(pruned, opt, x_train, y_train, epochs=prune_epochs, batch_size=batch_size, seed=seed,
            progress=progress,
            callbacks=[AGPPruner(pruned, sparsity=sparsity, n=n, dt=agp_every, scope="global")])
    measure("pruned_before_fine_tune", pruned)
    if fine_tune_epochs:
        fit(pruned, opt, x_train, y_train, epochs=fine_tune_epochs, batch_size=batch_size, seed=seed,
            callbacks=[KeepPruned()], progress=progress)
    measure("pruned", pruned)
    seconds = {"prune": time.perf_counter() - t0}

    t0 = time.perf_counter()
    shared = copy_model(pruned)
    clusterings = share_weights(shared, bits=bits, seed=seed)
    measure("clustered", shared)
    if centroid_epochs:
        fit(shared, CentroidOptimizer(shared, clusterings, lr=centroid_lr), x_train, y_train,
            epochs=centroid_epochs, batch_size=batch_size, seed=seed, progress=progress)
    seconds["share_weights"] = time.perf_counter() - t0
    measure("final", shared)
    return DeepCompressionResult(model=shared, pruned=pruned, clusterings=clusterings,
                                 sparsity=float(sparsity_report(pruned)["weights"]["sparsity"]),
                                 accuracy=accuracy, seconds=seconds)


__all__ = ["SCHEDULES", "DeepCompressionResult", "deep_compress"]
