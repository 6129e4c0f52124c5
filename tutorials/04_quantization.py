# %% [markdown]
# # 04 · Quantization: the documents' formulas, then the practice
#
# Read along with doc 001 (`001_3806f2383fce931b.txt`; the README lists the documents) §3.2 "weight
# quantization" and §3.4 "activation quantization", and doc 000
# (`000_aa1905e934bb7dd4.txt`) §3.2 "quantization". The documents write:
#
# * **E2** (doc 001 §3.2.3): w̃ = round(w / 2^(b−1)) × 2^(b−1)
# * **E4** (doc 001 §3.4.3): ã = round(a / 2^(b−1)) × 2^(b−1), on a layer's outputs
# * **E6** (doc 000 §3.2): W_quantized = round(W × Q), mapped back by W_quantized / Q
#
# We run each one *as written* on a trained network first and measure what it does, then
# build what practice uses: a scaled integer grid (symmetric or affine, per tensor or per
# channel), post-training quantization (PTQ) with calibrated activation ranges,
# quantization-aware training (QAT) through a straight-through estimator, and a model that
# really computes in int8 × int8 → int32.

# %%
import matplotlib.pyplot as plt
import numpy as np
from _common import FAST, savefig

from minicompress import equations
from minicompress.compress.quantization import (
    choose_qparams,
    fake_quantize_array,
    prepare_qat,
    quantize_model,
    quantize_model_with_info,
    quantize_tensor,
    static_ptq,
    to_integer,
)
from minicompress.data import load_mnist10k
from minicompress.optim import Adam
from minicompress.pretrained import trained_model
from minicompress.training import evaluate, fit, predict

x_train, y_train, x_test, y_test = load_mnist10k()
mlp, _ = trained_model("lenet-300-100")
acc = lambda m: evaluate(m, x_test, y_test)["accuracy"]
float_acc = acc(mlp)
print(f"trained LeNet-300-100, float32: {float_acc:.4f}")

# %% [markdown]
# ## E2 as written wipes out a trained network
#
# The step of E2 is 2^(b−1): the *more* bits, the *coarser* the grid. At b = 8 the step is
# 128 and every |w| < 64 rounds to 0. How large are a trained network's weights?

# %%
largest = max(float(np.abs(p.data).max()) for p in mlp.parameters())
print(f"largest |w| in the trained model: {largest:.3f}")
e2, info = quantize_model_with_info(mlp, "e2", 8)        # calls equations.quantize_pow2_step
print(f"E2, b = 8: step {info['step']:.0f}, {info['zero_fraction']:.1%} of the weights become 0, "
      f"accuracy {acc(e2):.4f} (chance is 0.10)")
for b in (1, 2, 4):
    q, info = quantize_model_with_info(mlp, "e2", b)
    print(f"E2, b = {b}: step {info['step']:g}, zero fraction {info['zero_fraction']:.3f}, accuracy {acc(q):.4f}")

# %% [markdown]
# Every weight becomes 0; only the biases are left, so every image gets the same logits and
# the same class. Reading the exponent with the other sign, round(w · 2^(b−1)) / 2^(b−1),
# gives b-bit fixed point, which works at 8 bits because trained weights happen to be below 1.

# %%
fixed = quantize_model(mlp, "fixed-point", 8)
print(f"fixed-point reading, b = 8: {acc(fixed):.4f}")

# %% [markdown]
# ## E4 (activations) and E6 (quantization by ratio)
#
# E4 is the same formula on activations (after every ReLU here); a hidden activation is
# rarely above 64, so the network's signal is cut to 0 after the first layer. E6 multiplies
# by Q and rounds: the step is 1/Q, with no clamp and no link to the weights' range (the
# document mentions taking min and max first, but the formula uses neither).

# %%
e4 = quantize_model(mlp, "e4", 8)
print(f"E4, b = 8 after every ReLU: {acc(e4):.4f}")
for Q in (2, 4, 8, 32, 128):
    q, info = quantize_model_with_info(mlp, "e6", ratio=float(Q))
    print(f"E6, Q = {Q:>3}: step {1 / Q:.4f}, zero fraction {info['zero_fraction']:.3f}, accuracy {acc(q):.4f}")

# %% [markdown]
# ## The scaled integer grid
#
# Practice ties the step to the data: with b bits, symmetric quantization stores
# q = clamp(rint(w / s), −2^(b−1), 2^(b−1) − 1) with s = max|w| / (2^(b−1) − 1), and computes
# with ŵ = q·s. Nothing is clamped, so every error is at most s/2. Affine quantization adds a
# zero point z (q ∈ [0, 2^b − 1], ŵ = (q − z)·s) so a range like [0, 6] uses every level.
# Per-channel quantization gives each output channel its own s.

# %%
w = mlp[1].weight.data
for bits in (8, 4, 2):
    qt = quantize_tensor(w, bits, "symmetric")
    err = np.abs(qt.dequantize() - w).max()
    print(f"{bits}-bit symmetric: s = {float(qt.qparams.scale):.5f}, max error {err:.5f} <= s/2, "
          f"{qt.nbytes} bytes (float32: {w.nbytes})")
pc = choose_qparams(w, 4, "symmetric", axis=0)
print(f"4-bit per-channel: {pc.scale.size} scales from {pc.scale.min():.4f} to {pc.scale.max():.4f}; "
      f"mean |error| {np.abs(fake_quantize_array(w, pc) - w).mean():.5f} vs per-tensor "
      f"{np.abs(fake_quantize_array(w, choose_qparams(w, 4)) - w).mean():.5f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
axes[0].hist(w.ravel(), bins=200, color="tab:blue")
axes[0].set_title("float32 weights, layer 1")
axes[1].hist(quantize_tensor(w, 4).dequantize().ravel(), bins=200, color="tab:green")
axes[1].set_title("4-bit symmetric: 16 levels")
axes[2].hist(equations.quantize_pow2_step(w, 8).ravel(), bins=20, color="tab:red")
axes[2].set_title("E2 as written, b = 8: all zero")
for ax in axes:
    ax.set_xlabel("weight")
savefig(fig, "04_weight_histograms.png")

# %% [markdown]
# ## PTQ: accuracy against bits
#
# Weight-only post-training quantization keeps activations in float. Symmetric per-tensor
# int8 is indistinguishable from float; below 4 bits, per-channel scales help.

# %%
bit_list = [8, 4, 3, 2] if FAST else [8, 6, 5, 4, 3, 2]
curves = {}
for per_channel in (False, True):
    curves[per_channel] = [acc(quantize_model(mlp, "ptq", b, per_channel=per_channel)) for b in bit_list]
int8 = curves[False][0]
print(f"int8 PTQ (symmetric, per-tensor): {int8:.4f}, float {float_acc:.4f} "
      f"({100 * (int8 - float_acc):+.2f} points); E2 as written at b = 8: {acc(e2):.4f}")
for b, a, c in zip(bit_list, curves[False], curves[True]):
    print(f"  {b} bits: per-tensor {a:.4f}, per-channel {c:.4f}")
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.plot(bit_list, curves[False], "o-", label="PTQ per-tensor")
ax.plot(bit_list, curves[True], "s-", label="PTQ per-channel")
ax.axhline(float_acc, color="gray", ls="--", label="float32")
ax.axhline(acc(e2), color="tab:red", ls=":", label="E2 as written, b = 8")
ax.set_xlabel("weight bits")
ax.set_ylabel("test accuracy")
ax.legend()
savefig(fig, "04_accuracy_vs_bits.png")

# %% [markdown]
# ## Static PTQ and the integer model
#
# Static PTQ quantizes activations too. Their range depends on the input, so *observers*
# watch a few calibration batches (min-max here; moving-average and percentile are the
# other choices). `to_integer` then builds a model that never touches a float between the
# input and the logits: uint8 activations, int8 weights, int32 accumulators and biases,
# and a requantization y_q = rint((acc + b_q)·s_x·s_w / s_y) + z_y between layers; Conv2d
# runs as im2col plus one GEMM on the Numba kernels.

# %%
cnn, _ = trained_model("lenet5")
calib = [x_train[i * 256:(i + 1) * 256] for i in range(4)]
q8 = static_ptq(cnn, calib, 8)
fake = predict(q8, x_test).argmax(1)
integer = to_integer(q8)
ints = integer.predict(x_test).argmax(1)
print(f"LeNet-5 float {acc(cnn):.4f}, int8 static PTQ {np.mean(fake == y_test):.4f}, "
      f"integer model {np.mean(ints == y_test):.4f}; the integer model agrees with the "
      f"fake-quantized one on {np.mean(ints == fake):.2%} of the test images")
print(f"int8 weights + int32 biases: {integer.nbytes} bytes vs float32 {4 * cnn.num_parameters()}")

# %% [markdown]
# ## QAT: training through the rounding
#
# At 4 and 2 bits PTQ loses accuracy. QAT trains *through* the quantizer: the forward pass
# uses fake-quantized weights and activations, and the backward pass uses the
# straight-through estimator, ∂ŵ/∂w = 1 inside the clamp range and 0 outside. The float
# weights keep receiving small updates that the rounding would otherwise swallow.

# %%
n = 2000 if FAST else len(x_train)
for bits in (4, 2):
    qat = prepare_qat(cnn, bits, act_bits=bits, calibration_batches=calib[:2])
    before = acc(qat)
    fit(qat, Adam(qat.parameters(), lr=1e-4 if bits == 4 else 3e-4), x_train[:n], y_train[:n], epochs=1,
        seed=0, progress=False)
    print(f"W{bits}A{bits}: quantized without training {before:.4f}, after 1 epoch of QAT on {n} images "
          f"{acc(qat.eval()):.4f} (float {acc(cnn):.4f})")

# %% [markdown]
# The full measurement (more epochs, all keys in JSON) is `python benchmarks/quantization.py`.
#
# ## Exercises
#
# 1. Run this chapter's tests: `pytest -m quantization`. Find the test of the
#    straight-through estimator and change `inside` in `FakeQuantize.forward`
#    (`minicompress/compress/quantization/fake_quant.py`) to let gradients through everywhere:
#    which assertion fails?
# 2. E2 with the *fixed-point* reading at b = 4: what is its step, and how does its accuracy
#    compare with 4-bit symmetric PTQ? Why does PTQ win (hint: the clamp and the scale)?
# 3. Use `quantize_model(cnn, "static-ptq", 8, calibration_batches=calib, per_channel=True)`
#    and a `PercentileObserver`: does either change LeNet-5's int8 accuracy?
# 4. Set `weight_range="minmax"` in `prepare_qat` for 2 bits: how much worse is QAT without
#    the MSE-chosen clipping range?
