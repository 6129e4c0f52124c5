"""Sensitivity analysis: how much accuracy each layer loses when pruned alone.

For every layer and every sparsity s in a range, a copy of the model has only that layer
magnitude-pruned to s (no fine-tuning) and is evaluated. Layers whose accuracy holds up
to high s can be pruned hard; sensitive ones (often the first and the last) get less. The
curve is the usual way to pick per-layer sparsities (Han et al. 2015, Fig. 6).
"""

from __future__ import annotations

from minicompress.compress.pruning.global_ import prunable_parameters
from minicompress.compress.pruning.unstructured import (
    l1_unstructured_to_sparsity,
    random_unstructured_to_sparsity,
)
from minicompress.errors import InputError
from minicompress.io import copy_model
from minicompress.training import evaluate

DEFAULT_SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def sensitivity_scan(model, x, y, sparsities=DEFAULT_SPARSITIES, method: str = "l1",
                     seed=0) -> list[dict]:
    """Prune each Linear/Conv2d weight alone to each sparsity; measure accuracy on ``(x, y)``.

    Parameters
    ----------
    model : Sequential
        Not modified (each point prunes a copy).
    x, y : ndarray
        Evaluation data, e.g. mnist10k's test split.
    sparsities : sequence of float in [0, 1]
        Absolute sparsities of the one pruned layer.
    method : "l1" or "random"

    Returns
    -------
    list of dict
        One row per (layer, sparsity): ``{"layer", "params", "sparsity", "accuracy"}``.
    """
    if method not in ("l1", "random"):
        raise InputError(f"method must be 'l1' or 'random', got {method!r}")
    sparsities = [float(s) for s in sparsities]
    for s in sparsities:
        if not 0.0 <= s <= 1.0:
            raise InputError(f"sparsities must be in [0, 1], got {s}")
    names = {id(mod): name for name, mod in model.named_modules()}
    table = []
    for index, (mod, pname) in enumerate(prunable_parameters(model)):
        label = f"{names[id(mod)]}.{pname}"
        for s in sparsities:
            clone = copy_model(model)
            cmod, cname = prunable_parameters(clone)[index]
            if method == "l1":
                l1_unstructured_to_sparsity(cmod, cname, s)
            else:
                random_unstructured_to_sparsity(cmod, cname, s, seed=seed)
            table.append({"layer": label, "params": int(mod._parameters[pname].size),
                          "sparsity": s, "accuracy": evaluate(clone, x, y)["accuracy"]})
    return table


def format_sensitivity(table: list[dict]) -> str:
    """Layers as rows, sparsities as columns, accuracy in each cell."""
    layers = list(dict.fromkeys(r["layer"] for r in table))
    sparsities = list(dict.fromkeys(r["sparsity"] for r in table))
    acc = {(r["layer"], r["sparsity"]): r["accuracy"] for r in table}
    lines = [f"{'layer':<12}" + "".join(f"{s:>8.2f}" for s in sparsities)]
    for layer in layers:
        lines.append(f"{layer:<12}" + "".join(f"{acc[layer, s]:>8.4f}" for s in sparsities))
    return "\n".join(lines)


def plot_sensitivity(table: list[dict], path=None):
    """Accuracy against sparsity, one line per layer (matplotlib, Agg); saved if ``path`` given.

    Returns the matplotlib ``Figure``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for layer in dict.fromkeys(r["layer"] for r in table):
        rows = [r for r in table if r["layer"] == layer]
        ax.plot([r["sparsity"] for r in rows], [r["accuracy"] for r in rows], marker="o",
                label=f"{layer} ({rows[0]['params']} weights)")
    ax.set_xlabel("sparsity of the one pruned layer")
    ax.set_ylabel("test accuracy (no fine-tuning)")
    ax.set_title("Per-layer pruning sensitivity")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


__all__ = ["DEFAULT_SPARSITIES", "format_sensitivity", "plot_sensitivity", "sensitivity_scan"]
