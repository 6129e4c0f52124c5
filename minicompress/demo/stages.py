"""The demo's stages: each technique on the same trained LeNet-300-100, measured the same way.

Every stage starts from the trained model (never modifying it), calls one technique's
public API, and returns a row: its test accuracy on the 2,000 mnist10k test digits, its
**bytes** and what those bytes count. The bytes are the storage the result actually
needs, each counted by the function that sits beside its technique:

===================  ==================================================================
result               bytes counted
===================  ==================================================================
float weights        4 bytes per parameter (float32), weights and biases
                     (``compress.weights.float32_bytes``)
integer weights      the integers in the smallest NumPy integer type that holds them
(E2, E6 as written)  (int8 here), plus float32 biases (``quantization.integer_bytes``)
pruned               the weights in relative-index CSR (exact bytes of
                     ``RelativeCSR.to_bytes``), plus float32 biases (``pruning.pruned_bytes``)
int8 PTQ             the integer model's int8 weights, int32 biases, float32 scales
                     (``IntegerModel.nbytes``)
4-bit QAT            the 4-bit packed weights with their scales, float32 biases, and one
                     float32 scale + int32 zero point per activation quantizer
                     (``quantization.quantized_bytes``)
Deep Compression     the size of the packed ``.mcz`` file written to the output folder
===================  ==================================================================

``ratio`` is the float32 bytes of the trained model divided by the stage's bytes (how
many times smaller). The as-written stages use the documents' own settings (doc 001 §4:
threshold 0.5, 8 bits, retention 0.5; doc 000 §3: p = 0.5, Q = 8). The magnitude-pruning
and Deep Compression rows are the two halves of one library pipeline,
``minicompress.compress.deep_compression.deep_compress``. The run (settings, the shared
context, ``run_demo``) is :mod:`.run`.
"""

from __future__ import annotations

import os
import time

import numpy as np

from minicompress import equations
from minicompress.compress.deep_compression import deep_compress
from minicompress.compress.distill import distill
from minicompress.compress.packing import pack, unpack
from minicompress.compress.pruning import (
    global_unstructured_to_sparsity,
    prunable_parameters,
    pruned_bytes,
    sparsity_report,
)
from minicompress.compress.quantization import (
    convert,
    integer_bytes,
    prepare_qat,
    quantize_model,
    quantized_bytes,
    static_ptq,
    to_integer,
)
from minicompress.compress.weights import bias_bytes, float32_bytes, map_weights
from minicompress.io import copy_model
from minicompress.models import mlp
from minicompress.nn import Conv2d, Linear
from minicompress.optim import Adam
from minicompress.training import fit

MODEL = "lenet-300-100"
HIST_LAYER = "1"  # LeNet-300-100's first Linear (784 -> 300): 235,200 of its 266,610 parameters


def _layer_weight(model, name=HIST_LAYER) -> np.ndarray:
    return np.array(model.get_submodule(name).effective("weight").data, dtype=np.float32)


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
    model = map_weights(ctx.teacher, lambda w: equations.threshold_clip(w, T, t))
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

    model = map_weights(ctx.teacher, quantize_e2)
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
    return map_weights(ctx.teacher, lambda w: equations.random_candidate_pruning(w, p, rng, k=k)[0])


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

    model = map_weights(ctx.teacher, quantize_e6)
    ctx.weights["E6 as written, Q = 8"] = _layer_weight(model)
    zero = sum(int(np.count_nonzero(k == 0)) for k in ints) / sum(k.size for k in ints)
    return _row(ctx, f"E6 ratio quantization round(W*Q)/Q, Q = {Q:g}", "as written", model,
                sum(integer_bytes(k) for k in ints) + 4 + bias_bytes(model),
                "integers round(W*Q) as int8, Q, float32 biases", "E6", Q=Q,
                integer_range=[int(min(k.min() for k in ints)), int(max(k.max() for k in ints))],
                zero_weight_fraction=zero)


def _deep_compression(ctx):
    """The Deep Compression pipeline, run once: its pruning is the magnitude stage, the rest the next."""
    if ctx.deep_compression is None:
        s = ctx.settings
        x_train, y_train, x_test, y_test = ctx.data
        ctx.deep_compression = deep_compress(
            ctx.teacher, x_train, y_train, sparsity=s.sparsity, schedule="one-shot",
            fine_tune_epochs=s.prune_epochs, lr=5e-4, bits=s.kmeans_bits, centroid_epochs=s.centroid_epochs,
            centroid_lr=1e-4, seed=s.seed, evaluate_on=(x_test, y_test), progress=ctx.progress)
    return ctx.deep_compression


def stage_magnitude(ctx):
    """Global magnitude pruning (Han et al. 2015), then fine-tuning with the masks held: step 1 of Deep Compression."""
    s = ctx.settings
    result = _deep_compression(ctx)
    model = result.pruned
    sparsity = sparsity_report(model)["weights"]["sparsity"]
    ctx.sweeps.setdefault("sparsity", {})["fine_tuned"] = [[sparsity, result.accuracy["pruned"]]]
    row = _row(ctx, f"magnitude pruning to {s.sparsity:.0%} + {s.prune_epochs} epoch fine-tune", "practice",
               result.accuracy["pruned"], pruned_bytes(model), "relative-index CSR weights, float32 biases",
               sparsity=sparsity, accuracy_before_fine_tune=result.accuracy["pruned_before_fine_tune"],
               fine_tune_epochs=s.prune_epochs)
    row["seconds"] = result.seconds["prune"]  # the pipeline's weight sharing is the next stage's time
    return row


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
                quantized_bytes(qmodel), "4-bit packed weights + per-channel scales, float32 biases, activation ranges",
                bits=bits, accuracy_before_qat=before, qat_samples=s.qat_samples, qat_epochs=s.qat_epochs)


def stage_deep_compression(ctx):
    """The pruned model, k-means weight sharing, centroid fine-tuning, Huffman-coded file (Han et al. 2016)."""
    s = ctx.settings
    t0 = time.perf_counter()
    result = _deep_compression(ctx)
    path = ctx.out / f"{MODEL}.mcz"
    nbytes = pack(result.model, path)
    restored = unpack(path)  # the accuracy is that of the file, read back
    if nbytes != os.path.getsize(path):
        raise RuntimeError(f"pack reported {nbytes} bytes but {path} holds {os.path.getsize(path)}")
    ctx.weights["k-means, Deep Compression"] = _layer_weight(restored)
    row = _row(ctx, f"Deep Compression: prune + {s.kmeans_bits}-bit k-means + Huffman", "practice", restored,
               os.path.getsize(path), f"size of the packed file {path.name}", file=path.name,
               stage_bytes=result.stage_bytes(), accuracy_after_clustering=result.accuracy["clustered"],
               centroid_epochs=s.centroid_epochs, kmeans_bits=s.kmeans_bits)
    row["seconds"] = result.seconds["share_weights"] + time.perf_counter() - t0
    return row


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
        out[label] = [[b, ctx.accuracy(quantize_model(ctx.teacher, method, b, per_channel=per_channel))]
                      for b in bits if b >= 2]
    out["E2 as written"] = [[b, ctx.accuracy(quantize_model(ctx.teacher, "e2", b))] for b in bits]
    out["E2, exponent sign flipped (fixed point)"] = [
        [b, ctx.accuracy(quantize_model(ctx.teacher, "fixed-point", b))] for b in bits]


SWEEPS = [sweep_sparsity, sweep_bits]


