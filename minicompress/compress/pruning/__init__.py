"""Pruning: masks, magnitude/random/structured/global pruning, schedules, shrink, reports.

The names follow ``torch.nn.utils.prune`` so they are familiar:

=================================  ===================================================
``random_unstructured``            remove ``amount`` of the remaining weights at random
``l1_unstructured``                ... the ones with the smallest |w| (magnitude pruning)
``ln_structured``                  remove whole channels (neurons, filters) by L_n norm
``random_structured``              ... whole channels at random
``global_unstructured``            one magnitude ranking across layers; optional per-layer caps
``custom_from_mask``               your own boolean mask
``remove`` / ``is_pruned``         bake a mask into the weight / ask whether anything is masked
=================================  ===================================================

``amount`` is PyTorch's: a fraction in [0, 1] of the weights *still unpruned* (or an int
count of them). ``sparsity`` (the ``*_to_sparsity`` functions, :func:`prune_model`, the
schedules) is an *absolute* target instead: the fraction of all entries that are zero
afterwards. Masks compose by logical AND.

:func:`prune_model` runs any method by name on a whole model (:mod:`.methods`), as
``minicompress.compress.quantization.quantize_model`` does for quantization.

Beyond PyTorch: E3 and E5 from the documents (:mod:`.documents`), AGP / iterative /
lottery-ticket schedules (:mod:`.schedule`), per-layer sensitivity scans
(:mod:`.sensitivity`), physical shrinking of structurally pruned models (:mod:`.shrink`)
and a sparsity report with exact byte counts (:mod:`.report`).
"""

from minicompress.compress.pruning.documents import (
    e3_keep_ratio,
    e3_scale_by_retention,
    e5_random_candidate_model_report,
    e5_random_candidate_report,
)
from minicompress.compress.pruning.global_ import (
    global_unstructured,
    global_unstructured_to_sparsity,
    prunable_parameters,
)
from minicompress.compress.pruning.mask import (
    KeepPruned,
    apply_mask,
    custom_from_mask,
    get_mask,
    is_pruned,
    pruned_parameters,
    remove,
    sync_optimizer,
)
from minicompress.compress.pruning.methods import METHODS, prune_model
from minicompress.compress.pruning.report import format_report, pruned_bytes, sparsity_report
from minicompress.compress.pruning.schedule import (
    AGPPruner,
    RewindCheckpoint,
    agp_sparsity,
    iterative_prune,
    iterative_sparsities,
    rewind,
    snapshot,
)
from minicompress.compress.pruning.sensitivity import (
    format_sensitivity,
    plot_sensitivity,
    sensitivity_scan,
)
from minicompress.compress.pruning.shrink import shrink
from minicompress.compress.pruning.structured import ln_structured, random_structured
from minicompress.compress.pruning.unstructured import (
    l1_unstructured,
    l1_unstructured_to_sparsity,
    random_unstructured,
    random_unstructured_to_sparsity,
)


def remove_all(model):
    """:func:`remove` every mask in ``model`` (weights keep their zeros); returns ``model``."""
    for _, mod, name in list(pruned_parameters(model)):
        remove(mod, name)
    return model


__all__ = [
    "METHODS",
    "AGPPruner",
    "KeepPruned",
    "RewindCheckpoint",
    "agp_sparsity",
    "apply_mask",
    "custom_from_mask",
    "e3_keep_ratio",
    "e3_scale_by_retention",
    "e5_random_candidate_report",
    "e5_random_candidate_model_report",
    "format_report",
    "format_sensitivity",
    "get_mask",
    "global_unstructured",
    "global_unstructured_to_sparsity",
    "is_pruned",
    "iterative_prune",
    "iterative_sparsities",
    "l1_unstructured",
    "l1_unstructured_to_sparsity",
    "ln_structured",
    "plot_sensitivity",
    "prunable_parameters",
    "prune_model",
    "pruned_bytes",
    "pruned_parameters",
    "random_structured",
    "random_unstructured",
    "random_unstructured_to_sparsity",
    "remove",
    "remove_all",
    "rewind",
    "sensitivity_scan",
    "shrink",
    "snapshot",
    "sparsity_report",
    "sync_optimizer",
]
