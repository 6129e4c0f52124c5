"""The demo's run: its settings, the context its stages share, and :func:`run_demo`.

:func:`run_demo` gets the trained LeNet-300-100 (cached, see ``minicompress.pretrained``),
runs every stage and sweep of :mod:`.stages` in order, times them, and returns the report
(:mod:`.report` describes its schema).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from minicompress.compress.weights import float32_bytes
from minicompress.data import load_mnist10k
from minicompress.demo.stages import HIST_LAYER, MODEL, STAGES, SWEEPS, stage_baseline
from minicompress.pretrained import trained_model
from minicompress.training import evaluate


@dataclass
class DemoSettings:
    """How much work each stage does; :meth:`quick` shrinks it to finish in seconds.

    Attributes
    ----------
    quick : bool
    seed : int
        The trained model's seed (a new seed trains and caches a new model), and the seed of
        every random choice after it (E5's candidates, shuffling, k-means).
    sparsity : float
        Target sparsity (absolute) of magnitude pruning and Deep Compression (Han et al.
        keep 8 % of LeNet-300-100's weights; 0.92 here).
    prune_epochs, qat_epochs, centroid_epochs, distill_epochs : int
        Fine-tuning epochs on the 8,000 training digits (``*_samples`` of them).
    qat_samples : int
        Training digits seen by QAT (fake quantization is the slowest forward pass).
    student_hidden : int
        Width of the distilled student 784-h-10.
    kmeans_bits : int
        Index bits of k-means weight sharing (5 for fully connected layers, the paper's).
    sparsities, bits : tuple
        Points of the accuracy-against-sparsity and accuracy-against-bits sweeps.
    """

    quick: bool = False
    seed: int = 0
    sparsity: float = 0.92
    prune_epochs: int = 3
    qat_epochs: int = 1
    qat_samples: int = 8000
    centroid_epochs: int = 1
    distill_epochs: int = 10
    student_hidden: int = 32
    kmeans_bits: int = 5
    sparsities: tuple = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
    e5_proportions: tuple = (0.25, 0.5, 0.75, 1.0)
    bits: tuple = (1, 2, 3, 4, 5, 6, 7, 8)

    @classmethod
    def quick_settings(cls, seed: int = 0) -> DemoSettings:
        return cls(quick=True, seed=seed, prune_epochs=2, qat_samples=2000, centroid_epochs=1,
                   distill_epochs=5, sparsities=(0.0, 0.5, 0.8, 0.9, 0.95, 0.98), e5_proportions=(0.5, 1.0),
                   bits=(1, 2, 3, 4, 6, 8))


@dataclass
class DemoContext:
    """What the stages share: data, the trained model, and results passed between stages."""

    settings: DemoSettings
    out: Path
    progress: bool
    teacher: object = None
    teacher_info: dict = field(default_factory=dict)
    data: tuple = ()
    float32_bytes: int = 0
    deep_compression: object = None             # the pipeline's result, two stages read it
    weights: dict = field(default_factory=dict)  # HIST_LAYER's weights after each technique
    sweeps: dict = field(default_factory=dict)

    def accuracy(self, model) -> float:
        _, _, x_test, y_test = self.data
        return float(evaluate(model, x_test, y_test)["accuracy"])


# ------------------------------------------------------------------ histograms
def weight_histograms(weights: dict, bins: int = 161) -> dict:
    """Counts of each technique's weights of layer ``HIST_LAYER`` over one set of bin edges."""
    top = float(max(np.abs(w).max() for w in weights.values()))
    edges = np.linspace(-top, top, bins + 1)
    return {"layer": f"{HIST_LAYER}.weight", "edges": edges.tolist(),
            "series": {k: np.histogram(w, edges)[0].tolist() for k, w in weights.items()},
            "distinct_values": {k: int(np.unique(w).size) for k, w in weights.items()}}


# ------------------------------------------------------------------ the run
def _bar(total, enabled):
    from tqdm import tqdm

    return tqdm(total=total, desc="demo", unit="stage", disable=not enabled, dynamic_ncols=True)


def run_demo(settings: DemoSettings, out, progress: bool | None = None) -> dict:
    """Run every stage and sweep; return the report (see :mod:`minicompress.demo.report`).

    Parameters
    ----------
    settings : DemoSettings
    out : path of an existing, writable folder (the packed model file is written there)
    progress : show progress bars; ``None``: only when stderr is a terminal
    """
    if progress is None:
        progress = sys.stderr.isatty()
    ctx = DemoContext(settings=settings, out=Path(out), progress=progress)
    started = time.perf_counter()
    stages, timings = [], {}
    bar = _bar(1 + len(STAGES) + len(SWEEPS), progress)
    try:
        bar.set_description(f"train or load {MODEL}")
        t0 = time.perf_counter()
        ctx.teacher, ctx.teacher_info = trained_model(MODEL, seed=settings.seed, progress=progress)
        ctx.data = load_mnist10k()
        ctx.float32_bytes = float32_bytes(ctx.teacher)
        timings["model"] = time.perf_counter() - t0
        bar.update(1)
        for stage in STAGES:
            bar.set_description(stage.__name__.removeprefix("stage_"))
            t0 = time.perf_counter()
            row = stage(ctx)
            # a stage that shares work with another (Deep Compression's pipeline) times its own share
            row.setdefault("seconds", time.perf_counter() - t0)
            if stage is stage_baseline:
                row["seconds"] += timings["model"]  # getting the trained model is its cost
            row["ratio"] = ctx.float32_bytes / row["bytes"]
            stages.append(row)
            bar.update(1)
        for sweep in SWEEPS:
            bar.set_description(sweep.__name__)
            t0 = time.perf_counter()
            sweep(ctx)
            timings[sweep.__name__] = time.perf_counter() - t0
            bar.update(1)
    finally:
        bar.close()
    info = ctx.teacher_info
    return {
        "stages": stages,
        "model": {"name": MODEL, "parameters": int(sum(p.data.size for p in ctx.teacher.parameters())),
                  "float32_bytes": ctx.float32_bytes, "epochs": info.get("epochs"), "cached": info.get("cached"),
                  "train_seconds": info.get("train_seconds")},
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(settings).items()},
        "sweeps": ctx.sweeps,
        "histograms": weight_histograms(ctx.weights),
        "sweep_seconds": {k: v for k, v in timings.items() if k != "model"},
        "total_seconds": time.perf_counter() - started,
    }
