"""The demo's four PNGs, drawn from a ``report.json`` dict alone (matplotlib, Agg backend).

=============================  =============================================================
file                           what it shows
=============================  =============================================================
``accuracy_vs_sparsity.png``   test accuracy against the fraction of zero weights: global
                               magnitude and random pruning without fine-tuning, E5 as
                               written, magnitude pruning after fine-tuning
``weight_histograms.png``      the first layer's weights before and after each quantization
                               (float32, E2 and E6 as written, int8 PTQ, 4-bit QAT, k-means)
``accuracy_vs_bits.png``       test accuracy against bit width: weight-only PTQ, E2 as
                               written and with its exponent's sign flipped, QAT, int8
``bytes_per_stage.png``        every stage's bytes (log scale) with its test accuracy
=============================  =============================================================
"""

from __future__ import annotations

import os
from pathlib import Path

PLOTS = ("accuracy_vs_sparsity.png", "weight_histograms.png", "accuracy_vs_bits.png", "bytes_per_stage.png")
KIND_COLORS = {"baseline": "0.35", "as written": "tab:red", "practice": "tab:blue"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; never needs a screen
    import matplotlib.pyplot as plt

    return plt


def _save(fig, folder: Path, name: str) -> Path:
    from minicompress.io import atomic_write

    path = folder / name
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
    return path


def _model_name(report):
    return report.get("model", {}).get("name", "model")


def _accuracy_axes(fig, ax, report, against, xlabel, legend_loc):
    """The finish both accuracy plots share: labels, 0-100 % range, title, grid, legend."""
    ax.set(xlabel=xlabel, ylabel="test accuracy (%)", ylim=(0, 100),
           title=f"Test accuracy against {against} ({_model_name(report)}, mnist10k)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc=legend_loc)
    return fig


def plot_sparsity(report, plt):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in report["sweeps"].get("sparsity", {}).items():
        s, a = zip(*points)
        s, a = [100 * v for v in s], [100 * v for v in a]
        if label == "fine_tuned":
            ax.plot(s, a, "*", ms=16, color="tab:green", label="magnitude pruning after fine-tuning")
        elif label.startswith("E5"):
            ax.plot(s, a, "s", ms=7, color="tab:red", label=label)
        else:
            ax.plot(s, a, "o-", label=label)
    return _accuracy_axes(fig, ax, report, "sparsity", "sparsity (% of weights that are zero)", "lower left")


def plot_histograms(report, plt):
    import numpy as np

    hist = report["histograms"]
    edges = np.asarray(hist["edges"])
    centers, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    series = list(hist["series"].items())
    ncols = 2 if len(series) > 3 else 1
    nrows = -(-len(series) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 2.2 * nrows), sharex=True, squeeze=False)
    for ax, (label, counts) in zip(axes.flat, series):
        ax.bar(centers, counts, width=width, color="0.4" if label == "float32" else "tab:blue")
        ax.set_yscale("log")
        n = hist["distinct_values"][label]
        ax.set_title(f"{label}: {n:,} distinct value{'s' if n != 1 else ''}", fontsize=9)
        ax.set_ylabel("count", fontsize=8)
    for ax in list(axes.flat)[len(series):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel(f"weight value ({hist['layer']})")
    fig.suptitle(f"Weights of layer {hist['layer']} before and after quantization ({_model_name(report)})")
    fig.tight_layout()
    return fig


def plot_bits(report, plt):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in report["sweeps"].get("bits", {}).items():
        b, a = zip(*points)
        a = [100 * v for v in a]
        if len(points) == 1:
            ax.plot(b, a, "*", ms=15, label=label)
        else:
            ax.plot(b, a, "o--" if label.startswith("E2") else "o-", label=label)
    return _accuracy_axes(fig, ax, report, "bits", "bits per weight", "center right")


def plot_bytes(report, plt):
    stages = report["stages"]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(stages) + 1.2))
    y = range(len(stages))[::-1]
    ax.barh(list(y), [s["bytes"] for s in stages], color=[KIND_COLORS[s["kind"]] for s in stages])
    for yi, s in zip(y, stages):
        ax.text(s["bytes"] * 1.08, yi, f"{s['bytes']:,} B, {100 * s['test_accuracy']:.1f} %", va="center", fontsize=7)
    ax.set_yticks(list(y), [s["name"] for s in stages], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlim(right=max(s["bytes"] for s in stages) * 8)
    ax.set(xlabel="bytes (log scale); label: bytes, test accuracy",
           title=f"Bytes per stage ({_model_name(report)}; grey float32, red as written, blue practice)")
    ax.grid(axis="x", alpha=0.3)
    return fig


def draw_plots(report: dict, folder) -> list[str]:
    """Write the four PNGs of ``report`` into ``folder``; return their file names."""
    plt = _pyplot()
    folder = Path(os.fspath(folder))
    names = []
    for name, draw in zip(PLOTS, (plot_sparsity, plot_histograms, plot_bits, plot_bytes)):
        fig = draw(report, plt)
        try:
            _save(fig, folder, name)
        finally:
            plt.close(fig)
        names.append(name)
    return names
