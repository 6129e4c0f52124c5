# %% [markdown]
# # 04 · Quantization: the documents' formulas, then the practice
#
# Read along with doc 001 §3.2 "weight quantization" and §3.4 "activation quantization",
# and doc 000 §3.2 "quantization" ([docs/documents.md](../docs/documents.md#e2-weight-quantization),
# E2, E4 and E6). The documents write:
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
# ### Write it yourself, then check it
#
# <!-- exercises:start -->
#
# **quantization**: write these functions (20 tasks)
#
# | task | write | also accepted as |
# |---|---|---|
# | `quantization.get_quantized_range` | `get_quantized_range(bitwidth)`: The signed integer range of a ``bitwidth``-bit quantizer. | – |
# | `quantization.linear_quantize` | `linear_quantize(fp_tensor, bitwidth, scale, zero_point)`: Quantize a float array onto a signed ``bitwidth``-bit grid: ``q = clamp(rint(r / S) + Z, q_min, q_max)``. | – |
# | `quantization.linear_dequantize` | `linear_dequantize(quantized_tensor, scale, zero_point)`: The real values an integer grid stands for: ``r = S (q - Z)``. | `dequantize_int8` (TinyTorch) |
# | `quantization.get_quantization_scale_and_zero_point` | `get_quantization_scale_and_zero_point(fp_tensor, bitwidth)`: Affine (asymmetric) scale and zero point mapping the tensor's range onto signed ``bitwidth`` bits. | – |
# | `quantization.linear_quantize_feature` | `linear_quantize_feature(fp_tensor, bitwidth)`: Quantize an activation tensor with its own affine scale and zero point (MIT lab 2). | – |
# | `quantization.quantize_int8` | `quantize_int8(tensor)`: Affine int8 quantization of a float array with its own min-max range. | – |
# | `quantization.get_quantization_scale_for_weight` | `get_quantization_scale_for_weight(weight, bitwidth)`: Symmetric scale of a weight tensor: ``S = max\|w\| / q_max`` with ``q_max = 2^(b-1) - 1``. | – |
# | `quantization.linear_quantize_weight_per_channel` | `linear_quantize_weight_per_channel(tensor, bitwidth)`: Symmetric per-output-channel weight quantization (MIT lab 2). | – |
# | `quantization.linear_quantize_bias_per_output_channel` | `linear_quantize_bias_per_output_channel(bias, weight_scale, input_scale)`: A bias as int32 in accumulator units: ``q_b = clamp(rint(b / (S_in S_w)), -2^31, 2^31 - 1)`` (MIT lab 2). | – |
# | `quantization.shift_quantized_linear_bias` | `shift_quantized_linear_bias(quantized_bias, quantized_weight, input_zero_point)`: Fold the input zero point into the int32 bias (MIT lab 2): ``b - Z_in * sum(w[c])`` per output channel. | – |
# | `quantization.shift_quantized_conv2d_bias` | `shift_quantized_conv2d_bias(quantized_bias, quantized_weight, input_zero_point)`: Fold the input zero point into the int32 bias (MIT lab 2): ``b - Z_in * sum(w[c])`` per output channel. | – |
# | `quantization.quantized_linear` | `quantized_linear(input, weight, bias, feature_bitwidth, weight_bitwidth, input_zero_point, output_zero_point, input_scale, weight_scale, output_scale)`: An integer fully connected layer: int8 in, int8 out, int32 accumulation (MIT 6.5940 lab 2). | – |
# | `quantization.quantized_conv2d` | `quantized_conv2d(input, weight, bias, feature_bitwidth, weight_bitwidth, input_zero_point, output_zero_point, input_scale, weight_scale, output_scale, stride, padding, dilation, groups)`: An integer 2-D convolution: int8 in, int8 out, int32 accumulation (MIT 6.5940 lab 2). | – |
# | `quantization.quantize_multiplier` | `quantize_multiplier(multiplier)`: A requantization multiplier M > 0 as an int32 mantissa and a power-of-two exponent (TFLite). | – |
# | `quantization.fake_quantize` | `fake_quantize(input, scale, zero_point, quant_min, quant_max)`: Quantize and dequantize in one step (the forward pass of QAT): ``y = (clamp(rint(x / S) + Z, quant_min, quant_max) - Z) * S``. | `fake_quantize_per_tensor_affine` (PyTorch) |
# | `quantization.fake_quantize_backward` | `fake_quantize_backward(input, grad_output, scale, zero_point, quant_min, quant_max)`: The straight-through estimator: the gradient of ``fake_quantize`` with respect to ``input``. | – |
# | `quantization.pack_int4` | `pack_int4(values)`: Pack signed 4-bit integers two per byte. | – |
# | `quantization.unpack_int4` | `unpack_int4(packed, count)`: Inverse of ``pack_int4``: the first ``count`` signed 4-bit values from the packed bytes. | – |
# | `quantization.minmax_observer` | `minmax_observer(batches)`: The range a min-max observer records over calibration batches: (smallest value, largest value) seen. | – |
# | `quantization.moving_average_observer` | `moving_average_observer(batches, averaging_constant=0.01)`: The range a moving-average observer records: an exponential moving average of each batch's min and max. | – |
#
# ```bash
# minicompress exercises --chapter quantization --out my_exercises   # one stub per task
# minicompress check my_exercises/quantization.py --chapter quantization
# python -m pytest -m quantization --candidate my_exercises/quantization.py
# ```
#
# **equations**: write these functions (4 tasks)
#
# | task | write | also accepted as |
# |---|---|---|
# | `equations.quantize_pow2_step` | `quantize_pow2_step(w, bits)`: E2 (doc 001 §3.2.3): w̃ = round(w / 2^(b-1)) · 2^(b-1), round half AWAY from zero. | `E2` (the documents' id E2) |
# | `equations.quantize_activations_pow2_step` | `quantize_activations_pow2_step(a, bits)`: E4 (doc 001 §3.4.3): ã = round(a / 2^(b-1)) · 2^(b-1) on activations, half away from zero. | `E4` (the documents' id E4) |
# | `equations.quantize_by_ratio` | `quantize_by_ratio(w, Q)`: E6 (doc 000 §3.2): W_quantized = round(W · Q), round half away from zero. | `E6` (the documents' id E6) |
# | `equations.dequantize_by_ratio` | `dequantize_by_ratio(w_quantized, Q)`: E6's inverse (doc 000 §3.2): W = W_quantized / Q. | `E6_inverse` (the documents' id E6.inverse) |
#
# ```bash
# minicompress exercises --chapter equations --out my_exercises   # one stub per task
# minicompress check my_exercises/equations.py --chapter equations --task E2 --task E4 --task E6 --task E6_inverse
# python -m pytest -m equations --candidate my_exercises/equations.py -k "quantize_pow2_step or quantize_activations_pow2_step or quantize_by_ratio or dequantize_by_ratio"
# ```
# <!-- exercises:end -->
#
# **A typical mistake**, and what the check prints. TFLite's symmetric weights use the narrow
# range [-127, 127]; this task (like PyTorch's qint8 and MIT's lab) uses the full two's
# complement range [-128, 127]:
#
# ```python
# def get_quantized_range(bitwidth):
#     return -(2 ** (bitwidth - 1) - 1), 2 ** (bitwidth - 1) - 1
# ```
#
# `minicompress check my_exercises/quantization.py --task quantization.get_quantized_range` prints (exit code 1):
#
# ```
# quantization.get_quantized_range  fail  hand-worked example (two's complement int8): item 0: expected -128, got -127; inputs: bitwidth=8; expected: (-128, 127); got: (-127, 127)
#     diagnosis: your range is [-(2^(b-1) - 1), 2^(b-1) - 1], e.g. [-127, 127] (TFLite's symmetric weights); this task uses the full two's complement range [-2^(b-1), 2^(b-1) - 1] = [-128, 127]
#
# quantization:      1 fail
# 0 of 1 tasks pass (1 implemented) in 0.0 s
# ```
#
# Mind the rounding: the documents' E2, E4 and E6 round half *away from zero* (四舍五入), while
# this chapter's quantizers round half to *even* (`np.rint`, as PyTorch does); each task's
# docstring says which, and the check names the other one when you use it.
#
# ### Explore further
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
