"""The demo's stages: each technique on the same trained LeNet-300-100, measured the same way.

Every stage starts from the trained model (never modifying it), calls one technique's
public API, and returns its test accuracy on the 2,000 mnist10k test digits, its
**bytes** and what those bytes count. The bytes are the storage the result actually needs:

===================  ==================================================================
result               bytes counted
===================  ==================================================================
float weights        4 bytes per parameter (float32), weights and biases
integer weights      the integers in the smallest NumPy integer type that holds them
(E2, E6 as written)  (int8 here), plus float32 biases
pruned               the weights in relative-index CSR (``sparsity_report``, exact bytes
                     of ``RelativeCSR.to_bytes``), plus float32 biases
int8 PTQ             the integer model's int8 weights, int32 biases, float32 scales
                     (``IntegerModel.nbytes``)
4-bit QAT            the 4-bit packed weights with their scales (``QuantizedTensor.nbytes``),
                     float32 biases, and one float32 scale + int32 zero point per
                     activation quantizer
Deep Compression     the size of the packed ``.mcz`` file written to the output folder
===================  ==================================================================

``ratio`` is the float32 bytes of the trained model divided by the stage's bytes (how
many times smaller). The as-written stages use the documents' own settings (doc 001 §4:
threshold 0.5, 8 bits, retention 0.5; doc 000 §3: p = 0.5, Q = 8).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from minicompress import equations
from minicompress.compress.distill import distill
from minicompress.compress.kmeans import CentroidOptimizer, share_weights
from minicompress.compress.packing import pack, stage_bytes, unpack
from minicompress.compress.pruning import (
    KeepPruned,
    global_unstructured_to_sparsity,
    prunable_parameters,
    sparsity_report,
)
from minicompress.compress.quantization import (
    ActivationFakeQuant,
    QuantizedTensor,
    QuantLinear,
    convert,
    prepare_qat,
    quantize,
    quantize_model,
    static_ptq,
    to_integer,
)
from minicompress.data import load_mnist10k
from minicompress.errors import InputError
from minicompress.io import copy_model
from minicompress.models import mlp
from minicompress.nn import Conv2d, Linear
from minicompress.optim import Adam
from minicompress.pretrained import trained_model
from minicompress.training import evaluate, fit

MODEL = "lenet-300-100"
HIST_LAYER = "1"  # LeNet-300-100's first Linear (784 -> 300): 235,200 of its 266,610 parameters


@dataclass
class DemoSettings:
    """How much work each stage does; :meth:`quick` shrinks it to finish in seconds.

    Attributes
    ----------
    quick : bool
    seed : int
        The trained model's seed (a new seed trains and caches a new model), and the seed of
        every random choice after it (E5's candidates, shuffling, k-means).
    prune_sparsity : float
        Target sparsity of magnitude pruning and Deep Compression (Han et al. keep 8 %
        of LeNet-300-100's weights; 0.92 here).
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
    prune_sparsity: float = 0.92
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
class Context:
    """What the stages share: data, the trained model, and results passed between stages."""

    settings: DemoSettings
    out: Path
    progress: bool
    teacher: object = None
    teacher_info: dict = field(default_factory=dict)
    data: tuple = ()
    float32_bytes: int = 0
    models: dict = field(default_factory=dict)   # results a later stage builds on
    weights: dict = field(default_factory=dict)  # HIST_LAYER's weights after each technique
    sweeps: dict = field(default_factory=dict)

    def accuracy(self, model) -> float:
        _, _, x_test, y_test = self.data
        return float(evaluate(model, x_test, y_test)["accuracy"])


# ------------------------------------------------------------------ byte counts
def float32_bytes(model) -> int:
    """4 bytes per parameter (pruning masks and other buffers are not parameters)."""
    return 4 * int(sum(p.data.size for p in model.parameters()))


def bias_bytes(model) -> int:
    return 4 * int(sum(p.data.size for name, p in model.named_parameters() if name.endswith("bias")))


def integer_bytes(ints: np.ndarray) -> int:
    """Bytes of integer-valued ``ints`` in the smallest signed NumPy integer type holding them."""
    lo, hi = (int(ints.min()), int(ints.max())) if ints.size else (0, 0)
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return int(ints.size * np.dtype(dtype).itemsize)
    raise InputError(f"integers in [{lo}, {hi}] do not fit in int64")


def pruned_bytes(model) -> int:
    """Weights in relative-index CSR (the pruning chapter's exact count) plus float32 biases."""
    return int(sparsity_report(model)["weights"]["csr_bytes"]) + bias_bytes(model)


def qat_bytes(qmodel) -> int:
    """Packed b-bit weights + their float32 scales, float32 biases, activation (scale, zero point)."""
    total = 0
    for _, layer in qmodel.named_modules():
        if isinstance(layer, QuantLinear):
            qp = layer.weight_qparams()
            total += QuantizedTensor(quantize(layer.effective("weight").data, qp), qp).nbytes
            total += 0 if layer.bias is None else 4 * layer.bias.data.size
        elif isinstance(layer, ActivationFakeQuant):
            total += 8
    return int(total)


def _layer_weight(model, name=HIST_LAYER) -> np.ndarray:
    return np.array(model.get_submodule(name).effective("weight").data, dtype=np.float32)


def _map_weights(model, fn):
    """A copy of ``model`` whose every Linear/Conv2d weight ``w`` becomes ``fn(w)`` (biases untouched)."""
    out = copy_model(model)
    for _, layer in out.named_modules():
        if isinstance(layer, (Linear, Conv2d)):
            w = layer.effective("weight").data
            layer.weight.data = np.asarray(fn(w), dtype=np.float64).astype(layer.weight.dtype)
    return out


def _row(ctx, name, kind, model_or_acc, nbytes, bytes_what, equation=None, **details):
    acc = model_or_acc if isinstance(model_or_acc, float) else ctx.accuracy(model_or_acc)
    return {"name": name, "kind": kind, "equation": equation, "test_accuracy": acc, "bytes": int(nbytes),
            "bytes_what": bytes_what, "details": details}


# ------------------------------------------------------------------ the stages
def stage_baseline(ctx):
    """The trained float32 model every other stage starts from."""
    ctx.weights["float32"] = _layer_weight(ctx.teacher)
    return _row(ctx, f"float32 {MODEL}", "baseline", ctx.teacher, ctx.float32_bytes, "float32 weights and biases",
                parameters=int(sum(p.data.size for p in ctx.teacher.parameters())),
                cached=bool(ctx.teacher_info.get("cached")), epochs=ctx.teacher_info.get("epochs"))


def _e1_row(ctx, T, t, why):
    model = _map_weights(ctx.teacher, lambda w: equations.threshold_clip(w, T, t))
    weights = [layer.weight.data for _, layer in ctx.teacher.named_modules() if isinstance(layer, (Linear, Conv2d))]
    replaced = sum(int(np.count_nonzero(np.abs(w) > T)) for w in weights)
    return _row(ctx, f"E1 threshold clip, T = t = {T:.3g} ({why})", "as written", model, float32_bytes(model),
                "float32 (clipping stores nothing smaller)", "E1", T=T, t=t, weights_replaced=replaced,
                weights=sum(w.size for w in weights))


def stage_e1(ctx):
    """E1 (doc 001 §3.1) on every weight: w -> t where |w| > T."""
    # doc 001 §4 clips at 0.5; the specific value t is not given, so t = T.
    return _e1_row(ctx, 0.5, 0.5, "doc 001")


def stage_e1_percentile(ctx):
    """E1 again, with T = t = the 99th percentile of |w|."""
    # The document's 0.5 is above every weight of this model, so E1 is shown once more at a
    # threshold that touches the largest 1 % of the weights.
    weights = [layer.weight.data for _, layer in ctx.teacher.named_modules() if isinstance(layer, (Linear, Conv2d))]
    T = float(np.quantile(np.abs(np.concatenate([w.ravel() for w in weights])), 0.99))
    return _e1_row(ctx, T, T, "top 1 % of |w|")


def stage_e2(ctx):
    """E2 (doc 001 §3.2) on every weight: round(w / 2^(b-1)) * 2^(b-1), b = 8."""
    b = 8  # doc 001 §4: 8-bit quantization
    step = 2.0 ** (b - 1)
    ints = []

    def quantize_e2(w):
        w_q = equations.quantize_pow2_step(w, b)
        ints.append(np.asarray(w_q, dtype=np.float64) / step)  # exact: w_q is a multiple of the step
        return w_q

    model = _map_weights(ctx.teacher, quantize_e2)
    ctx.weights["E2 as written, b = 8"] = _layer_weight(model)
    zero = sum(int(np.count_nonzero(k == 0)) for k in ints) / sum(k.size for k in ints)
    return _row(ctx, f"E2 weights round(w/2^(b-1))*2^(b-1), b = {b}", "as written", model,
                sum(integer_bytes(k) for k in ints) + bias_bytes(model),
                "integers round(w/2^(b-1)) as int8, float32 biases", "E2", bits=b, step=step,
                zero_weight_fraction=zero)


def stage_e4(ctx):
    """E4 (doc 001 §3.4) after every ReLU: round(a / 2^(b-1)) * 2^(b-1), b = 8."""
    b = 8
    model = equations.with_activation_quant(copy_model(ctx.teacher), b)
    return _row(ctx, f"E4 activations round(a/2^(b-1))*2^(b-1), b = {b}", "as written", model,
                float32_bytes(model), "float32 (E4 quantizes activations, not weights)", "E4", bits=b,
                step=2.0 ** (b - 1))


def stage_e3(ctx):
    """E3 (doc 001 §3.3) on every weight and bias: (1 - r) * theta, r = 0.5."""
    r = 0.5  # doc 001 §4: pruning at 0.5
    model = copy_model(ctx.teacher)
    model.load_state_dict(equations.scale_by_retention(model, r))
    return _row(ctx, f"E3 retention scale (1-r)*theta, r = {r}", "as written", model, float32_bytes(model),
                "float32 (scaling removes no weight)", "E3", r=r,
                sparsity=sparsity_report(model)["weights"]["sparsity"])


def _e5_model(ctx, p, k=1.0):
    rng = np.random.default_rng(ctx.settings.seed)
    return _map_weights(ctx.teacher, lambda w: equations.random_candidate_pruning(w, p, rng, k=k)[0])


def stage_e5(ctx):
    """E5 (doc 000 §3.1) on every weight: W_pruned = W - W_removed, candidates p = 0.5, rule |w - mu| <= sigma."""
    p, k = 0.5, 1.0
    model = _e5_model(ctx, p, k)
    sparsity = sparsity_report(model)["weights"]["sparsity"]
    return _row(ctx, f"E5 random candidates, p = {p}, remove |w-mu| <= {k:g} sigma", "as written", model,
                pruned_bytes(model), "relative-index CSR weights, float32 biases", "E5", p=p, k=k, sparsity=sparsity)


def stage_e6(ctx):
    """E6 (doc 000 §3.2) on every weight: round(W * Q), read back as / Q, Q = 8."""
    Q = 8.0  # doc 000 §4: Q = 8
    ints = []

    def quantize_e6(w):
        k = equations.quantize_by_ratio(w, Q)
        ints.append(k)
        return equations.dequantize_by_ratio(k, Q)

    model = _map_weights(ctx.teacher, quantize_e6)
    ctx.weights["E6 as written, Q = 8"] = _layer_weight(model)
    zero = sum(int(np.count_nonzero(k == 0)) for k in ints) / sum(k.size for k in ints)
    return _row(ctx, f"E6 ratio quantization round(W*Q)/Q, Q = {Q:g}", "as written", model,
                sum(integer_bytes(k) for k in ints) + 4 + bias_bytes(model),
                "integers round(W*Q) as int8, Q, float32 biases", "E6", Q=Q,
                integer_range=[int(min(k.min() for k in ints)), int(max(k.max() for k in ints))],
                zero_weight_fraction=zero)


def stage_magnitude(ctx):
    """Global magnitude pruning (Han et al. 2015), then fine-tuning with the masks held."""
    s = ctx.settings
    x_train, y_train, _, _ = ctx.data
    model = copy_model(ctx.teacher)
    opt = Adam(model.parameters(), lr=5e-4)
    global_unstructured_to_sparsity(prunable_parameters(model), s.prune_sparsity, optimizer=opt)
    before = ctx.accuracy(model)
    fit(model, opt, x_train, y_train, epochs=s.prune_epochs, seed=s.seed, callbacks=[KeepPruned()],
        progress=ctx.progress)
    ctx.models["pruned"] = model
    sparsity = sparsity_report(model)["weights"]["sparsity"]
    ctx.sweeps.setdefault("sparsity", {})["fine_tuned"] = [[sparsity, ctx.accuracy(model)]]
    return _row(ctx, f"magnitude pruning to {s.prune_sparsity:.0%} + {s.prune_epochs} epoch fine-tune", "practice",
                model, pruned_bytes(model), "relative-index CSR weights, float32 biases",
                sparsity=sparsity, accuracy_before_fine_tune=before, fine_tune_epochs=s.prune_epochs)


def _calibration(ctx, n_batches=4, size=256):
    x_train = ctx.data[0]
    return [x_train[i * size:(i + 1) * size] for i in range(n_batches)]


def stage_int8(ctx):
    """Static int8 PTQ calibrated on 1,024 training images, run as the integer model."""
    _, _, x_test, y_test = ctx.data
    qmodel = static_ptq(ctx.teacher, _calibration(ctx), 8)
    integer = to_integer(qmodel)
    logits = integer.predict(x_test)
    acc = float(np.mean(logits.argmax(axis=1) == y_test))
    fake = ctx.accuracy(qmodel)
    ctx.weights["int8 PTQ (per-tensor scale)"] = _layer_weight(convert(qmodel))
    ctx.sweeps.setdefault("bits", {})["int8 PTQ, integer kernels"] = [[8, acc]]
    return _row(ctx, "int8 static PTQ, run on the int8 kernels", "practice", acc, integer.nbytes,
                "int8 weights, int32 biases, float32 scales (IntegerModel.nbytes)",
                fake_quantized_accuracy=fake, calibration_images=sum(len(b) for b in _calibration(ctx)))


def stage_qat(ctx):
    """4-bit weights and activations, trained through the straight-through estimator."""
    s = ctx.settings
    x_train, y_train, _, _ = ctx.data
    bits = 4
    qmodel = prepare_qat(ctx.teacher, bits, calibration_batches=_calibration(ctx))
    before = ctx.accuracy(qmodel)
    fit(qmodel, Adam(qmodel.parameters(), lr=1e-4), x_train[:s.qat_samples], y_train[:s.qat_samples],
        epochs=s.qat_epochs, seed=s.seed, progress=ctx.progress)
    acc = ctx.accuracy(qmodel)
    ctx.weights["4-bit QAT (per-channel scales: 15 levels per row)"] = _layer_weight(convert(qmodel))
    ctx.sweeps.setdefault("bits", {})["4-bit QAT"] = [[bits, acc]]
    return _row(ctx, f"{bits}-bit QAT (weights and activations), {s.qat_epochs} epoch", "practice", acc,
                qat_bytes(qmodel), "4-bit packed weights + per-channel scales, float32 biases, activation ranges",
                bits=bits, accuracy_before_qat=before, qat_samples=s.qat_samples, qat_epochs=s.qat_epochs)


def stage_deep_compression(ctx):
    """The pruned model, k-means weight sharing, centroid fine-tuning, Huffman-coded file (Han et al. 2016)."""
    s = ctx.settings
    x_train, y_train, _, _ = ctx.data
    model = copy_model(ctx.models["pruned"])
    clusterings = share_weights(model, bits=s.kmeans_bits, seed=s.seed)
    clustered = ctx.accuracy(model)
    fit(model, CentroidOptimizer(model, clusterings, lr=1e-4), x_train, y_train, epochs=s.centroid_epochs,
        seed=s.seed, progress=ctx.progress)
    path = ctx.out / f"{MODEL}.mcz"
    nbytes = pack(model, path)
    restored = unpack(path)  # the accuracy is that of the file, read back
    if nbytes != os.path.getsize(path):
        raise RuntimeError(f"pack reported {nbytes} bytes but {path} holds {os.path.getsize(path)}")
    ctx.weights["k-means, Deep Compression"] = _layer_weight(restored)
    return _row(ctx, f"Deep Compression: prune + {s.kmeans_bits}-bit k-means + Huffman", "practice", restored,
                os.path.getsize(path), f"size of the packed file {path.name}", file=path.name,
                stage_bytes=stage_bytes(model), accuracy_after_clustering=clustered,
                centroid_epochs=s.centroid_epochs, kmeans_bits=s.kmeans_bits)


def stage_distill(ctx):
    """A 784-h-10 student trained on the teacher's softened outputs alone (Hinton et al. 2015)."""
    s = ctx.settings
    x_train, y_train, _, _ = ctx.data
    student = mlp([784, s.student_hidden, 10], seed=s.seed)
    T = 4.0
    # The transfer set is the training images without their labels: the teacher is the only label.
    distill(ctx.teacher, student, x_train, T=T, epochs=s.distill_epochs, lr=3e-3, seed=s.seed,
            progress=ctx.progress)
    scratch = mlp([784, s.student_hidden, 10], seed=s.seed)  # the same student on hard labels, for comparison
    fit(scratch, Adam(scratch.parameters(), lr=3e-3), x_train, y_train, epochs=s.distill_epochs, seed=s.seed,
        progress=ctx.progress)
    return _row(ctx, f"distilled student 784-{s.student_hidden}-10, T = {T:g}", "practice", student,
                float32_bytes(student), "float32 weights and biases of the student", T=T,
                epochs=s.distill_epochs, parameters=int(sum(p.data.size for p in student.parameters())),
                student_from_scratch_accuracy=ctx.accuracy(scratch))


STAGES = [stage_baseline, stage_e1, stage_e1_percentile, stage_e2, stage_e4, stage_e3, stage_e5, stage_e6,
          stage_magnitude, stage_int8, stage_qat, stage_deep_compression, stage_distill]


# ------------------------------------------------------------------ sweeps (the plots' data)
def sweep_sparsity(ctx):
    """Test accuracy after global pruning (no fine-tuning) at each sparsity, by |w| and at random; E5's points."""
    out = ctx.sweeps.setdefault("sparsity", {})
    for importance, label in (("l1", "magnitude (global |w|), no fine-tune"), ("random", "random, no fine-tune")):
        points = []
        for target in ctx.settings.sparsities:
            model = copy_model(ctx.teacher)
            if target > 0:
                global_unstructured_to_sparsity(prunable_parameters(model), target, importance=importance,
                                                seed=ctx.settings.seed)
            points.append([sparsity_report(model)["weights"]["sparsity"], ctx.accuracy(model)])
        out[label] = points
    ps = ", ".join(f"{p:g}" for p in ctx.settings.e5_proportions)
    out[f"E5 as written (p = {ps}; k = 1)"] = [
        [sparsity_report(m)["weights"]["sparsity"], ctx.accuracy(m)]
        for m in (_e5_model(ctx, p) for p in ctx.settings.e5_proportions)]


def sweep_bits(ctx):
    """Test accuracy against bit width: weight-only PTQ (per tensor, per channel) and E2 as written."""
    out = ctx.sweeps.setdefault("bits", {})
    bits = ctx.settings.bits
    for label, method, per_channel in (("weight-only PTQ, per tensor", "ptq", False),
                                       ("weight-only PTQ, per channel", "ptq", True)):
        out[label] = [[b, ctx.accuracy(quantize_model(ctx.teacher, method, b, per_channel=per_channel)[0])]
                      for b in bits if b >= 2]
    out["E2 as written"] = [[b, ctx.accuracy(quantize_model(ctx.teacher, "e2", b)[0])] for b in bits]
    out["E2, exponent sign flipped (fixed point)"] = [
        [b, ctx.accuracy(quantize_model(ctx.teacher, "fixed-point", b)[0])] for b in bits]


SWEEPS = [sweep_sparsity, sweep_bits]


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
    ctx = Context(settings=settings, out=Path(out), progress=progress)
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
            row["seconds"] = time.perf_counter() - t0
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
